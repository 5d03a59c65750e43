package amt

import "strconv"

// Realm is an AMT access realm: a group of operations a user ACL entry may be
// granted (AMT_AuthorizationService Realms; value map of intel/lms
// AMT_AuthorizationService.h).
type Realm uint32

// Realm identifiers from the AMT_AuthorizationService value map.
const (
	RealmInvalid                    Realm = 0
	RealmReserved0                  Realm = 1
	RealmRedirection                Realm = 2  // SOL and IDE-R/USB-R (media redirection)
	RealmPTAdministration           Realm = 3  // security, ACL, setup and network settings
	RealmHardwareAsset              Realm = 4  // hardware inventory
	RealmRemoteControl              Realm = 5  // power and boot control
	RealmStorage                    Realm = 6  // third-party data storage
	RealmEventManager               Realm = 7  // event subscription and filters
	RealmStorageAdmin               Realm = 8  // third-party storage administration
	RealmAgentPresenceLocal         Realm = 9  // local agent presence (watchdog)
	RealmAgentPresenceRemote        Realm = 10 // remote agent presence
	RealmCircuitBreaker             Realm = 11 // system defense / network filters
	RealmNetworkTime                Realm = 12 // time synchronisation
	RealmGeneralInfo                Realm = 13 // read-only general information
	RealmFirmwareUpdate             Realm = 14 // firmware update
	RealmEIT                        Realm = 15 // embedded instrumentation
	RealmLocalUN                    Realm = 16 // local user notification ($$uns)
	RealmEndpointAccessControl      Realm = 17 // deprecated; not supported from CSME 18
	RealmEndpointAccessControlAdmin Realm = 18 // deprecated; not supported from CSME 18
	RealmEventLogReader             Realm = 19 // event log reader
	RealmAuditLog                   Realm = 20 // audit log (R4.0+)
	RealmACL                        Realm = 21 // users edit their own ACL entry (R4.0+)
	RealmReserved1                  Realm = 22
	RealmReserved2                  Realm = 23 // "DTRealm" on ME 5.1+
	RealmLocalSystem                Realm = 24 // local applications (local time set)
)

var realmNames = [...]string{
	"InvalidRealm", "ReservedRealm0", "RedirectionRealm", "PTAdministrationRealm",
	"HardwareAssetRealm", "RemoteControlRealm", "StorageRealm", "EventManagerRealm",
	"StorageAdminRealm", "AgentPresenceLocalRealm", "AgentPresenceRemoteRealm",
	"CircuitBreakerRealm", "NetworkTimeRealm", "GeneralInfoRealm", "FirmwareUpdateRealm",
	"EITRealm", "LocalUN", "EndpointAccessControlRealm", "EndpointAccessControlAdminRealm",
	"EventLogReaderRealm", "AuditLogRealm", "ACLRealm", "ReservedRealm1", "ReservedRealm2",
	"LocalSystemRealm",
}

// String returns the realm's name from the value map (e.g. "RedirectionRealm"), or
// "Realm(n)" for a reserved or unknown value.
func (r Realm) String() string {
	if int(r) < len(realmNames) {
		return realmNames[r]
	}
	return "Realm(" + strconv.FormatUint(uint64(r), 10) + ")"
}

// Assignable reports whether r may be granted to a user ACL entry: it excludes the
// invalid and reserved values and values beyond the known map.
func (r Realm) Assignable() bool {
	switch r {
	case RealmInvalid, RealmReserved0, RealmReserved1, RealmReserved2:
		return false
	}
	return int(r) < len(realmNames)
}

// AccessPermission is where a user ACL entry may be used from.
type AccessPermission uint32

// Access permissions of AMT_AuthorizationService.AddUserAclEntryEx.
const (
	AccessLocal   AccessPermission = 0 // host interface (LMS) only
	AccessNetwork AccessPermission = 1 // network only
	AccessAny     AccessPermission = 2 // both
)

// String returns "Local", "Network", "Any" or "AccessPermission(n)".
func (p AccessPermission) String() string {
	switch p {
	case AccessLocal:
		return "Local"
	case AccessNetwork:
		return "Network"
	case AccessAny:
		return "Any"
	}
	return "AccessPermission(" + strconv.FormatUint(uint64(p), 10) + ")"
}
