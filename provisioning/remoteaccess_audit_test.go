package provisioning_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// The audit findings of remote access and features.
func TestAuditRemoteAccess(t *testing.T) {
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: testKeys()}).RootCertificate()
	ra := func(pw string) *provisioning.RemoteAccessProfile {
		return &provisioning.RemoteAccessProfile{MPS: provisioning.MPSServer{Address: "mps.contoso.com", Password: amt.NewSecret(pw)}, Root: root}
	}
	tests := []struct {
		name string
		p    provisioning.Profile
		want map[amt.FindingCode]amt.Severity
	}{
		{"per-device MPS password", provisioning.Profile{RemoteAccess: ra("")},
			map[amt.FindingCode]amt.Severity{provisioning.AuditCIRAPasswordAuth: amt.SeverityInfo}},
		{"fleet MPS password", provisioning.Profile{RemoteAccess: ra("Fl33t-Mps!pass")},
			map[amt.FindingCode]amt.Severity{provisioning.AuditCIRAPasswordAuth: amt.SeverityWarning, provisioning.AuditCIRAFleetPassword: amt.SeverityWarning}},
		{"MPS certificate authentication, no Issuer", provisioning.Profile{RemoteAccess: &provisioning.RemoteAccessProfile{
			MPS: provisioning.MPSServer{Address: "mps.contoso.com"}, Root: root, AuthMethod: amt.MPSMutualAuth}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditNoIssuer: amt.SeverityError}},
		{"consent off with KVM", provisioning.Profile{Features: &provisioning.FeaturesProfile{KVM: true, UserConsent: provisioning.ConsentNone}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditConsentOff: amt.SeverityWarning}},
		{"consent off, unattended", provisioning.Profile{Features: &provisioning.FeaturesProfile{SOL: true, UserConsent: provisioning.ConsentNone, Unattended: true}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditConsentOff: amt.SeverityInfo}},
		{"KVM-only consent with IDER", provisioning.Profile{Features: &provisioning.FeaturesProfile{IDER: true, UserConsent: provisioning.ConsentKVM}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditConsentOff: amt.SeverityWarning}},
		{"consent for all", provisioning.Profile{Features: &provisioning.FeaturesProfile{KVM: true, SOL: true, IDER: true}}, nil},
		{"consent off, nothing enabled", provisioning.Profile{Features: &provisioning.FeaturesProfile{UserConsent: provisioning.ConsentNone}}, nil},
		{"non-TLS port", provisioning.Profile{TLS: &provisioning.TLSProfile{AllowNonTLS: true}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditNonTLSPort: amt.SeverityWarning, provisioning.AuditNoIssuer: amt.SeverityError}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := provisioning.Audit(context.Background(), provisioning.Config{Profiles: map[string]provisioning.Profile{"p": tc.p}})
			got := map[amt.FindingCode]amt.Severity{}
			for _, f := range fs {
				switch f.Code {
				case provisioning.AuditCIRAPasswordAuth, provisioning.AuditCIRAFleetPassword, provisioning.AuditConsentOff, provisioning.AuditNonTLSPort:
					got[f.Code] = f.Severity
					assert.Equal(t, "profile p", f.Subject)
				case provisioning.AuditNoIssuer:
					got[f.Code] = f.Severity
					assert.NotContains(t, f.Message, "Fl33t-Mps!pass")
				}
			}
			if tc.want == nil {
				tc.want = map[amt.FindingCode]amt.Severity{}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
