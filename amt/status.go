package amt

import "strconv"

// Status is an AMT PT_STATUS return code (called AMT_STATUS in Intel's LMS sources).
// AMT_* WS-Management methods return it as ReturnValue, intrinsic operations carry it
// in a fault's "AMT-STATUS n" detail, and PTHI responses carry it in their header.
//
// A non-zero Status is an error. Because Status is a comparable value,
//
//	errors.Is(err, amt.StatusDataMissing)
//
// works for any error chain that contains a Status, and [errors.As] extracts it.
// [StatusSuccess] (0) is not a failure; bindings never return it as an error.
//
// Names come from intel/lms StatusCodeDefinitions.h, cross-checked against
// MeshCentral, go-wsman-messages and RPS (amt/amt.js AmtStatusCodes,
// pkg/wsman/common/constants.go, src/utils/PTStatus.ts). Codes without a public
// name print as "PT_STATUS <n>".
type Status uint32

// PT_STATUS codes. The ones go-wsman-messages and RPS list as WS-Management
// ReturnValues are those WS-Management methods are known to return; the others
// share the numbering on the host interface (PTHI).
const (
	StatusSuccess                        Status = 0    // PT_STATUS_SUCCESS
	StatusInternalError                  Status = 1    // PT_STATUS_INTERNAL_ERROR
	StatusNotReady                       Status = 2    // PT_STATUS_NOT_READY
	StatusInvalidPTMode                  Status = 3    // PT_STATUS_INVALID_PT_MODE
	StatusInvalidMessageLength           Status = 4    // PT_STATUS_INVALID_MESSAGE_LENGTH
	StatusTableFingerprintNotAvailable   Status = 5    // PT_STATUS_TABLE_FINGERPRINT_NOT_AVAILABLE
	StatusIntegrityCheckFailed           Status = 6    // PT_STATUS_INTEGRITY_CHECK_FAILED
	StatusUnsupportedISVSVersion         Status = 7    // PT_STATUS_UNSUPPORTED_ISVS_VERSION
	StatusApplicationNotRegistered       Status = 8    // PT_STATUS_APPLICATION_NOT_REGISTERED
	StatusInvalidRegistrationData        Status = 9    // PT_STATUS_INVALID_REGISTRATION_DATA
	StatusApplicationDoesNotExist        Status = 10   // PT_STATUS_APPLICATION_DOES_NOT_EXIST
	StatusNotEnoughStorage               Status = 11   // PT_STATUS_NOT_ENOUGH_STORAGE
	StatusInvalidName                    Status = 12   // PT_STATUS_INVALID_NAME
	StatusBlockDoesNotExist              Status = 13   // PT_STATUS_BLOCK_DOES_NOT_EXIST
	StatusInvalidByteOffset              Status = 14   // PT_STATUS_INVALID_BYTE_OFFSET
	StatusInvalidByteCount               Status = 15   // PT_STATUS_INVALID_BYTE_COUNT
	StatusNotPermitted                   Status = 16   // PT_STATUS_NOT_PERMITTED
	StatusNotOwner                       Status = 17   // PT_STATUS_NOT_OWNER
	StatusBlockLockedByOther             Status = 18   // PT_STATUS_BLOCK_LOCKED_BY_OTHER
	StatusBlockNotLocked                 Status = 19   // PT_STATUS_BLOCK_NOT_LOCKED
	StatusInvalidGroupPermissions        Status = 20   // PT_STATUS_INVALID_GROUP_PERMISSIONS
	StatusGroupDoesNotExist              Status = 21   // PT_STATUS_GROUP_DOES_NOT_EXIST
	StatusInvalidMemberCount             Status = 22   // PT_STATUS_INVALID_MEMBER_COUNT
	StatusMaxLimitReached                Status = 23   // PT_STATUS_MAX_LIMIT_REACHED
	StatusInvalidAuthType                Status = 24   // PT_STATUS_INVALID_AUTH_TYPE
	StatusAuthenticationFailed           Status = 25   // PT_STATUS_AUTHENTICATION_FAILED
	StatusInvalidDHCPMode                Status = 26   // PT_STATUS_INVALID_DHCP_MODE
	StatusInvalidIPAddress               Status = 27   // PT_STATUS_INVALID_IP_ADDRESS
	StatusInvalidDomainName              Status = 28   // PT_STATUS_INVALID_DOMAIN_NAME
	StatusUnsupportedVersion             Status = 29   // PT_STATUS_UNSUPPORTED_VERSION
	StatusRequestUnexpected              Status = 30   // PT_STATUS_REQUEST_UNEXPECTED
	StatusInvalidTableType               Status = 31   // PT_STATUS_INVALID_TABLE_TYPE
	StatusInvalidProvisioningState       Status = 32   // PT_STATUS_INVALID_PROVISIONING_STATE
	StatusUnsupportedObject              Status = 33   // PT_STATUS_UNSUPPORTED_OBJECT
	StatusInvalidTime                    Status = 34   // PT_STATUS_INVALID_TIME
	StatusInvalidIndex                   Status = 35   // PT_STATUS_INVALID_INDEX
	StatusInvalidParameter               Status = 36   // PT_STATUS_INVALID_PARAMETER
	StatusInvalidNetmask                 Status = 37   // PT_STATUS_INVALID_NETMASK
	StatusFlashWriteLimitExceeded        Status = 38   // PT_STATUS_FLASH_WRITE_LIMIT_EXCEEDED
	StatusInvalidImageLength             Status = 39   // PT_STATUS_INVALID_IMAGE_LENGTH
	StatusInvalidImageSignature          Status = 40   // PT_STATUS_INVALID_IMAGE_SIGNATURE
	StatusProposeAnotherVersion          Status = 41   // PT_STATUS_PROPOSE_ANOTHER_VERSION
	StatusInvalidPIDFormat               Status = 42   // PT_STATUS_INVALID_PID_FORMAT
	StatusInvalidPPSFormat               Status = 43   // PT_STATUS_INVALID_PPS_FORMAT
	StatusBISTCommandBlocked             Status = 44   // PT_STATUS_BIST_COMMAND_BLOCKED
	StatusConnectionFailed               Status = 45   // PT_STATUS_CONNECTION_FAILED
	StatusConnectionTooMany              Status = 46   // PT_STATUS_CONNECTION_TOO_MANY
	StatusRNGGenerationInProgress        Status = 47   // PT_STATUS_RNG_GENERATION_IN_PROGRESS
	StatusRNGNotReady                    Status = 48   // PT_STATUS_RNG_NOT_READY
	StatusCertificateNotReady            Status = 49   // PT_STATUS_CERTIFICATE_NOT_READY
	StatusRemoteAccessNotGranted         Status = 512  // PT_STATUS_REMOTE_ACCESS_NOT_GRANTED
	StatusRemoteAccessHostVPNIsDisabled  Status = 513  // PT_STATUS_REMOTE_ACCESS_HOST_VPN_IS_DISABLED
	StatusRemoteAccessGrantedWithoutDDNS Status = 514  // PT_STATUS_REMOTE_ACCESS_GRANTED_WITHOUT_DDNS
	StatusRemoteAccessGrantedWithDDNS    Status = 515  // PT_STATUS_REMOTE_ACCESS_GRANTED_WITH_DDNS
	StatusDisabledByPolicy               Status = 1024 // PT_STATUS_DISABLED_BY_POLICY
	StatusNetworkIfErrorBase             Status = 2048 // PT_STATUS_NETWORK_IF_ERROR_BASE
	StatusUnsupportedOEMNumber           Status = 2049 // PT_STATUS_UNSUPPORTED_OEM_NUMBER
	StatusUnsupportedBootOption          Status = 2050 // PT_STATUS_UNSUPPORTED_BOOT_OPTION
	StatusInvalidCommand                 Status = 2051 // PT_STATUS_INVALID_COMMAND
	StatusInvalidSpecialCommand          Status = 2052 // PT_STATUS_INVALID_SPECIAL_COMMAND
	StatusInvalidHandle                  Status = 2053 // PT_STATUS_INVALID_HANDLE
	StatusInvalidPassword                Status = 2054 // PT_STATUS_INVALID_PASSWORD
	StatusInvalidRealm                   Status = 2055 // PT_STATUS_INVALID_REALM
	StatusStorageACLEntryInUse           Status = 2056 // PT_STATUS_STORAGE_ACL_ENTRY_IN_USE
	StatusDataMissing                    Status = 2057 // PT_STATUS_DATA_MISSING
	StatusDuplicate                      Status = 2058 // PT_STATUS_DUPLICATE
	StatusEventLogFrozen                 Status = 2059 // PT_STATUS_EVENTLOG_FROZEN
	StatusPKIMissingKeys                 Status = 2060 // PT_STATUS_PKI_MISSING_KEYS
	StatusPKIGeneratingKeys              Status = 2061 // PT_STATUS_PKI_GENERATING_KEYS
	StatusInvalidKey                     Status = 2062 // PT_STATUS_INVALID_KEY
	StatusInvalidCert                    Status = 2063 // PT_STATUS_INVALID_CERT
	StatusCertKeyNotMatch                Status = 2064 // PT_STATUS_CERT_KEY_NOT_MATCH
	StatusMaxKerbDomainReached           Status = 2065 // PT_STATUS_MAX_KERB_DOMAIN_REACHED
	StatusUnsupported                    Status = 2066 // PT_STATUS_UNSUPPORTED
	StatusInvalidPriority                Status = 2067 // PT_STATUS_INVALID_PRIORITY
	StatusNotFound                       Status = 2068 // PT_STATUS_NOT_FOUND
	StatusInvalidCredentials             Status = 2069 // PT_STATUS_INVALID_CREDENTIALS
	StatusInvalidPassphrase              Status = 2070 // PT_STATUS_INVALID_PASSPHRASE
	StatusNoAssociation                  Status = 2072 // PT_STATUS_NO_ASSOCIATION
	StatusAuditFail                      Status = 2075 // PT_STATUS_AUDIT_FAIL
	StatusBlockingComponent              Status = 2076 // PT_STATUS_BLOCKING_COMPONENT
	StatusUserConsentRequired            Status = 2081 // PT_STATUS_USER_CONSENT_REQUIRED
	StatusOperationInProgress            Status = 2082 // PT_STATUS_OPERATION_IN_PROGRESS
	StatusIPv6InterfaceDisabled          Status = 2500 // PT_STATUS_IPV6_INTERFACE_DISABLED
	StatusInterfaceDoesNotExist          Status = 2501 // PT_STATUS_INTERFACE_DOES_NOT_EXIST
)

var statusNames = map[Status]string{
	0:    "PT_STATUS_SUCCESS",
	1:    "PT_STATUS_INTERNAL_ERROR",
	2:    "PT_STATUS_NOT_READY",
	3:    "PT_STATUS_INVALID_PT_MODE",
	4:    "PT_STATUS_INVALID_MESSAGE_LENGTH",
	5:    "PT_STATUS_TABLE_FINGERPRINT_NOT_AVAILABLE",
	6:    "PT_STATUS_INTEGRITY_CHECK_FAILED",
	7:    "PT_STATUS_UNSUPPORTED_ISVS_VERSION",
	8:    "PT_STATUS_APPLICATION_NOT_REGISTERED",
	9:    "PT_STATUS_INVALID_REGISTRATION_DATA",
	10:   "PT_STATUS_APPLICATION_DOES_NOT_EXIST",
	11:   "PT_STATUS_NOT_ENOUGH_STORAGE",
	12:   "PT_STATUS_INVALID_NAME",
	13:   "PT_STATUS_BLOCK_DOES_NOT_EXIST",
	14:   "PT_STATUS_INVALID_BYTE_OFFSET",
	15:   "PT_STATUS_INVALID_BYTE_COUNT",
	16:   "PT_STATUS_NOT_PERMITTED",
	17:   "PT_STATUS_NOT_OWNER",
	18:   "PT_STATUS_BLOCK_LOCKED_BY_OTHER",
	19:   "PT_STATUS_BLOCK_NOT_LOCKED",
	20:   "PT_STATUS_INVALID_GROUP_PERMISSIONS",
	21:   "PT_STATUS_GROUP_DOES_NOT_EXIST",
	22:   "PT_STATUS_INVALID_MEMBER_COUNT",
	23:   "PT_STATUS_MAX_LIMIT_REACHED",
	24:   "PT_STATUS_INVALID_AUTH_TYPE",
	25:   "PT_STATUS_AUTHENTICATION_FAILED",
	26:   "PT_STATUS_INVALID_DHCP_MODE",
	27:   "PT_STATUS_INVALID_IP_ADDRESS",
	28:   "PT_STATUS_INVALID_DOMAIN_NAME",
	29:   "PT_STATUS_UNSUPPORTED_VERSION",
	30:   "PT_STATUS_REQUEST_UNEXPECTED",
	31:   "PT_STATUS_INVALID_TABLE_TYPE",
	32:   "PT_STATUS_INVALID_PROVISIONING_STATE",
	33:   "PT_STATUS_UNSUPPORTED_OBJECT",
	34:   "PT_STATUS_INVALID_TIME",
	35:   "PT_STATUS_INVALID_INDEX",
	36:   "PT_STATUS_INVALID_PARAMETER",
	37:   "PT_STATUS_INVALID_NETMASK",
	38:   "PT_STATUS_FLASH_WRITE_LIMIT_EXCEEDED",
	39:   "PT_STATUS_INVALID_IMAGE_LENGTH",
	40:   "PT_STATUS_INVALID_IMAGE_SIGNATURE",
	41:   "PT_STATUS_PROPOSE_ANOTHER_VERSION",
	42:   "PT_STATUS_INVALID_PID_FORMAT",
	43:   "PT_STATUS_INVALID_PPS_FORMAT",
	44:   "PT_STATUS_BIST_COMMAND_BLOCKED",
	45:   "PT_STATUS_CONNECTION_FAILED",
	46:   "PT_STATUS_CONNECTION_TOO_MANY",
	47:   "PT_STATUS_RNG_GENERATION_IN_PROGRESS",
	48:   "PT_STATUS_RNG_NOT_READY",
	49:   "PT_STATUS_CERTIFICATE_NOT_READY",
	512:  "PT_STATUS_REMOTE_ACCESS_NOT_GRANTED",
	513:  "PT_STATUS_REMOTE_ACCESS_HOST_VPN_IS_DISABLED",
	514:  "PT_STATUS_REMOTE_ACCESS_GRANTED_WITHOUT_DDNS",
	515:  "PT_STATUS_REMOTE_ACCESS_GRANTED_WITH_DDNS",
	1024: "PT_STATUS_DISABLED_BY_POLICY",
	2048: "PT_STATUS_NETWORK_IF_ERROR_BASE",
	2049: "PT_STATUS_UNSUPPORTED_OEM_NUMBER",
	2050: "PT_STATUS_UNSUPPORTED_BOOT_OPTION",
	2051: "PT_STATUS_INVALID_COMMAND",
	2052: "PT_STATUS_INVALID_SPECIAL_COMMAND",
	2053: "PT_STATUS_INVALID_HANDLE",
	2054: "PT_STATUS_INVALID_PASSWORD",
	2055: "PT_STATUS_INVALID_REALM",
	2056: "PT_STATUS_STORAGE_ACL_ENTRY_IN_USE",
	2057: "PT_STATUS_DATA_MISSING",
	2058: "PT_STATUS_DUPLICATE",
	2059: "PT_STATUS_EVENTLOG_FROZEN",
	2060: "PT_STATUS_PKI_MISSING_KEYS",
	2061: "PT_STATUS_PKI_GENERATING_KEYS",
	2062: "PT_STATUS_INVALID_KEY",
	2063: "PT_STATUS_INVALID_CERT",
	2064: "PT_STATUS_CERT_KEY_NOT_MATCH",
	2065: "PT_STATUS_MAX_KERB_DOMAIN_REACHED",
	2066: "PT_STATUS_UNSUPPORTED",
	2067: "PT_STATUS_INVALID_PRIORITY",
	2068: "PT_STATUS_NOT_FOUND",
	2069: "PT_STATUS_INVALID_CREDENTIALS",
	2070: "PT_STATUS_INVALID_PASSPHRASE",
	2072: "PT_STATUS_NO_ASSOCIATION",
	2075: "PT_STATUS_AUDIT_FAIL",
	2076: "PT_STATUS_BLOCKING_COMPONENT",
	2081: "PT_STATUS_USER_CONSENT_REQUIRED",
	2082: "PT_STATUS_OPERATION_IN_PROGRESS",
	2500: "PT_STATUS_IPV6_INTERFACE_DISABLED",
	2501: "PT_STATUS_INTERFACE_DOES_NOT_EXIST",
}

// Name returns the PT_STATUS_ name of s, or "" when no public source names the code.
func (s Status) Name() string { return statusNames[s] }

// Known reports whether s has a name.
func (s Status) Known() bool { _, ok := statusNames[s]; return ok }

// Error returns, for example, "amt: PT_STATUS_DATA_MISSING (2057)", or
// "amt: PT_STATUS 2071" for a code without a name.
func (s Status) Error() string {
	if n := statusNames[s]; n != "" {
		return "amt: " + n + " (" + strconv.FormatUint(uint64(s), 10) + ")"
	}
	return "amt: PT_STATUS " + strconv.FormatUint(uint64(s), 10)
}

// String is the same as [Status.Error] without the "amt: " prefix.
func (s Status) String() string { return s.Error()[len("amt: "):] }

// CIMVendorBase is added to a PT_STATUS when a CIM_ method reports an AMT error in
// the vendor-specific range of its ReturnValue (Intel AMT SDK,
// errorsandreturnvalues.htm).
const CIMVendorBase = 32768

// StatusFromCIM extracts the PT_STATUS from a CIM method ReturnValue in the vendor
// range (32768 + PT_STATUS). It reports false for values outside that range, whose
// meaning is the method's own.
func StatusFromCIM(returnValue uint32) (Status, bool) {
	if returnValue < CIMVendorBase || returnValue > 0xFFFF {
		return 0, false
	}
	return Status(returnValue - CIMVendorBase), true
}
