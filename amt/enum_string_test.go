package amt_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
)

// TestEnumStrings pins what String prints for every value of each enumeration
// from 0 to one past its last: the names, and the form of the unknown values
// between and after them. It was written against the hand-written methods
// before they were replaced by generated ones (go generate, stringer), so the
// generated methods print the same.
func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		str  func(int) string
		want []string // String of 0, 1, 2, …
	}{
		{"ProvisioningState", func(i int) string { return amt.ProvisioningState(i).String() },
			[]string{"Pre", "In", "Post", "ProvisioningState(3)"}},
		{"ControlMode", func(i int) string { return amt.ControlMode(i).String() },
			[]string{"None", "CCM", "ACM", "ControlMode(3)"}},
		{"ProvisioningMode", func(i int) string { return amt.ProvisioningMode(i).String() },
			[]string{"ProvisioningMode(0)", "Admin", "ProvisioningMode(2)", "ProvisioningMode(3)", "Client", "ProvisioningMode(5)"}},
		{"CertChainStatus", func(i int) string { return amt.CertChainStatus(i).String() },
			[]string{"NotStarted", "InProgress", "Complete", "CertChainStatus(3)"}},
		{"HashAlgorithm", func(i int) string { return amt.HashAlgorithm(i).String() },
			[]string{"HashAlgorithm(0)", "SHA-1", "SHA-256", "SHA-384", "HashAlgorithm(4)", "SHA-512", "HashAlgorithm(6)"}},
		{"Realm", func(i int) string { return amt.Realm(i).String() },
			[]string{"InvalidRealm", "ReservedRealm0", "RedirectionRealm", "PTAdministrationRealm", "HardwareAssetRealm", "RemoteControlRealm", "StorageRealm", "EventManagerRealm", "StorageAdminRealm", "AgentPresenceLocalRealm", "AgentPresenceRemoteRealm", "CircuitBreakerRealm", "NetworkTimeRealm", "GeneralInfoRealm", "FirmwareUpdateRealm", "EITRealm", "LocalUN", "EndpointAccessControlRealm", "EndpointAccessControlAdminRealm", "EventLogReaderRealm", "AuditLogRealm", "ACLRealm", "ReservedRealm1", "ReservedRealm2", "LocalSystemRealm", "Realm(25)"}},
		{"AccessPermission", func(i int) string { return amt.AccessPermission(i).String() },
			[]string{"Local", "Network", "Any", "AccessPermission(3)"}},
		{"IEEE8021xEnabled", func(i int) string { return amt.IEEE8021xEnabled(i).String() },
			[]string{"IEEE8021xEnabled(0)", "IEEE8021xEnabled(1)", "EnabledWithCertificates", "Disabled", "IEEE8021xEnabled(4)", "IEEE8021xEnabled(5)", "EnabledWithoutCertificates", "IEEE8021xEnabled(7)"}},
		{"Platforms", func(i int) string { return amt.Platforms(i).String() },
			[]string{"none", "some platforms", "all platforms", "Platforms(3)"}},
		{"Confidence", func(i int) string { return amt.Confidence(i).String() },
			[]string{"unsourced", "inferred", "peer code", "device report", "vendor", "Confidence(5)"}},
		{"OptInState", func(i int) string { return amt.OptInState(i).String() },
			[]string{"NotStarted", "Requested", "Displayed", "Received", "InSession", "OptInState(5)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, w := range tc.want {
				assert.Equal(t, w, tc.str(i), "%s(%d)", tc.name, i)
			}
		})
	}
}
