package amt

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=Realm,AccessPermission -linecomment -output=realm_string.go

// Realm is an AMT access realm: a group of operations a user ACL entry may be
// granted (AMT_AuthorizationService Realms; value map of intel/lms
// AMT_AuthorizationService.h). String returns the realm's name from the value
// map (e.g. "RedirectionRealm"), or "Realm(n)" for an unknown value.
type Realm uint32

// Realm identifiers from the AMT_AuthorizationService value map.
const (
	RealmInvalid   Realm = 0 // InvalidRealm
	RealmReserved0 Realm = 1 // ReservedRealm0
	// RealmRedirection: SOL and IDE-R/USB-R (media redirection).
	RealmRedirection Realm = 2 // RedirectionRealm
	// RealmPTAdministration: security, ACL, setup and network settings.
	RealmPTAdministration Realm = 3 // PTAdministrationRealm
	// RealmHardwareAsset: hardware inventory.
	RealmHardwareAsset Realm = 4 // HardwareAssetRealm
	// RealmRemoteControl: power and boot control.
	RealmRemoteControl Realm = 5 // RemoteControlRealm
	// RealmStorage: third-party data storage.
	RealmStorage Realm = 6 // StorageRealm
	// RealmEventManager: event subscription and filters.
	RealmEventManager Realm = 7 // EventManagerRealm
	// RealmStorageAdmin: third-party storage administration.
	RealmStorageAdmin Realm = 8 // StorageAdminRealm
	// RealmAgentPresenceLocal: local agent presence (watchdog).
	RealmAgentPresenceLocal Realm = 9 // AgentPresenceLocalRealm
	// RealmAgentPresenceRemote: remote agent presence.
	RealmAgentPresenceRemote Realm = 10 // AgentPresenceRemoteRealm
	// RealmCircuitBreaker: system defense / network filters.
	RealmCircuitBreaker Realm = 11 // CircuitBreakerRealm
	// RealmNetworkTime: time synchronisation.
	RealmNetworkTime Realm = 12 // NetworkTimeRealm
	// RealmGeneralInfo: read-only general information.
	RealmGeneralInfo Realm = 13 // GeneralInfoRealm
	// RealmFirmwareUpdate: firmware update.
	RealmFirmwareUpdate Realm = 14 // FirmwareUpdateRealm
	// RealmEIT: embedded instrumentation.
	RealmEIT Realm = 15 // EITRealm
	// RealmLocalUN: local user notification ($$uns).
	RealmLocalUN Realm = 16 // LocalUN
	// RealmEndpointAccessControl: deprecated; not supported from CSME 18.
	RealmEndpointAccessControl Realm = 17 // EndpointAccessControlRealm
	// RealmEndpointAccessControlAdmin: deprecated; not supported from CSME 18.
	RealmEndpointAccessControlAdmin Realm = 18 // EndpointAccessControlAdminRealm
	// RealmEventLogReader: event log reader.
	RealmEventLogReader Realm = 19 // EventLogReaderRealm
	// RealmAuditLog: audit log (R4.0+).
	RealmAuditLog Realm = 20 // AuditLogRealm
	// RealmACL: users edit their own ACL entry (R4.0+).
	RealmACL       Realm = 21 // ACLRealm
	RealmReserved1 Realm = 22 // ReservedRealm1
	// RealmReserved2: "DTRealm" on ME 5.1+.
	RealmReserved2 Realm = 23 // ReservedRealm2
	// RealmLocalSystem: local applications (local time set).
	RealmLocalSystem Realm = 24 // LocalSystemRealm
)

// Assignable reports whether r may be granted to a user ACL entry: it excludes the
// invalid and reserved values and values beyond the known map.
func (r Realm) Assignable() bool {
	switch r {
	case RealmInvalid, RealmReserved0, RealmReserved1, RealmReserved2:
		return false
	}
	return r <= RealmLocalSystem
}

// AccessPermission is where a user ACL entry may be used from. String returns
// "Local", "Network", "Any" or "AccessPermission(n)".
type AccessPermission uint32

// Access permissions of AMT_AuthorizationService.AddUserAclEntryEx.
const (
	// AccessLocal: the host interface (LMS) only.
	AccessLocal AccessPermission = 0 // Local
	// AccessNetwork: the network only.
	AccessNetwork AccessPermission = 1 // Network
	// AccessAny: both.
	AccessAny AccessPermission = 2 // Any
)
