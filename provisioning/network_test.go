package provisioning_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// radiusRoot is the CA of the RADIUS server's certificate.
func radiusRoot(t *testing.T) *x509.Certificate {
	t.Helper()
	ca, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso RADIUS CA", Keys: testKeys()})
	require.NoError(t, err)
	return ca.RootCertificate()
}

// networkProfile is the scenario: two Wi-Fi networks (one personal,
// one EAP-TLS), wired 802.1X with server validation, a static address.
func networkProfile(root *x509.Certificate) *provisioning.NetworkProfile {
	return &provisioning.NetworkProfile{
		Wired8021X: &provisioning.IEEE8021XConfig{Method: provisioning.EAPTLS, ServerRoot: root, ServerName: "radius.contoso.com"},
		WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "guest", SSID: "Contoso Guest", Priority: 1, Security: provisioning.WPA2Personal, Passphrase: amt.NewSecret("correct-horse-battery")},
			{Name: "corp", SSID: "Contoso", Priority: 2, Security: provisioning.WPA2Enterprise,
				IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.EAPTLS, ServerRoot: root, ServerName: "contoso.com", ServerNameMatch: provisioning.MatchDomainSuffix}},
		}},
		IP: &provisioning.IPConfig{Mode: provisioning.IPStatic, DynamicDNS: provisioning.DDNSByDHCPServer,
			Static: func(inv provisioning.Inventory) (amt.StaticIPv4, error) {
				return amt.StaticIPv4{Address: netip.MustParsePrefix("10.20.30.40/24"), Gateway: netip.MustParseAddr("10.20.30.1"),
					PrimaryDNS: netip.MustParseAddr("10.20.30.2"), SecondaryDNS: netip.MustParseAddr("10.20.30.3")}, nil
			}},
	}
}

// orderedIssuer checks, at each revocation, that the device no longer uses
// the revoked certificate and uses its successor: the old one is revoked only
// after the new one was read back bound.
type orderedIssuer struct {
	*testIssuer
	dev *amtsim.Device
	mu  sync.Mutex
	bad []string
}

func (o *orderedIssuer) Revoke(ctx context.Context, req provisioning.RevokeRequest) error {
	old := req.Certificate.Raw
	snap, net := o.dev.Snapshot(), o.dev.NetworkSnapshot()
	inUse := []*x509.Certificate{snap.TLSAppliedCertificate, snap.TLSCertificate, snap.IEEE8021xClient}
	for _, p := range net.Profiles {
		if p.IEEE8021x != nil && p.IEEE8021x.Client != nil {
			inUse = append(inUse, p.IEEE8021x.Client.Certificate)
		}
	}
	for _, c := range inUse {
		if c != nil && bytes.Equal(c.Raw, old) {
			o.mu.Lock()
			o.bad = append(o.bad, req.Certificate.Subject.CommonName+" revoked while the device still uses it")
			o.mu.Unlock()
		}
	}
	return o.testIssuer.Revoke(ctx, req)
}

func TestNetworkProfilesEndToEnd(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	d := h.fleet.Devices()[0]
	issuer := &orderedIssuer{testIssuer: h.issuer, dev: d}
	h.cfg.Issuer = issuer
	root := radiusRoot(t)
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
		TLS:     &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
		Network: networkProfile(root),
	}
	p := h.provisioner()
	rec, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	require.Empty(t, rec.ReconcileError, "the settings applied after activation")
	var applied []string
	for _, e := range h.eventsFor(d.UUID()) {
		if e.Step == provisioning.StepReconcile {
			require.NoError(t, e.Err, e.Detail)
			applied = append(applied, e.Detail)
		}
	}
	t.Logf("applied after activation:\n%s", joinLines(applied))

	// Read back from the device through the SDK's own bindings.
	dev, err := p.OpenDevice(h.ctx, d.UUID())
	require.NoError(t, err)
	defer dev.Close()
	ieee, err := dev.IEEE8021xSettings(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.IEEE8021xEnabledWithCertificates, ieee.Enabled)
	assert.Equal(t, amt.EAPTLS, ieee.AuthenticationProtocol)
	assert.Equal(t, "radius.contoso.com", ieee.ServerCertificateName)
	assert.Equal(t, uint16(amt.ServerNameFullName), ieee.ServerCertificateNameComparison)
	assert.Equal(t, "pc-a0.contoso.com", ieee.Username)
	profiles, err := dev.WiFiProfiles(h.ctx)
	require.NoError(t, err)
	require.Len(t, profiles, 2)
	byName := map[string]amt.WiFiEndpointSettings{}
	for _, pr := range profiles {
		byName[pr.ElementName] = pr
	}
	assert.Equal(t, amt.WiFiAuthWPA2PSK, byName["guest"].AuthenticationMethod)
	assert.Equal(t, uint32(1), byName["guest"].Priority)
	assert.Equal(t, amt.WiFiAuthWPA2IEEE8021X, byName["corp"].AuthenticationMethod)
	assert.Equal(t, amt.WiFiEncryptionCCMP, byName["corp"].EncryptionMethod)
	assert.Equal(t, "Contoso", byName["corp"].SSID)
	wifiIEEE, err := dev.WiFiIEEE8021xSettings(h.ctx)
	require.NoError(t, err)
	require.Len(t, wifiIEEE, 1)
	assert.Equal(t, "corp", wifiIEEE[0].ElementName)
	assert.Equal(t, amt.ServerNameDomainSuffix, wifiIEEE[0].ServerCertificateNameComparison)
	port, err := dev.WiFiPort(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.WiFiEnabledS0SxAC, port.EnabledState)
	wired, err := dev.EthernetPort(h.ctx, amt.WiredPortSettingsID)
	require.NoError(t, err)
	static, ok := wired.Static()
	require.True(t, ok, "AMT's own static address")
	assert.Equal(t, netip.MustParsePrefix("10.20.30.40/24"), static.Address)
	assert.Equal(t, "10.20.30.1", static.Gateway.String())
	gs, err := dev.GeneralSettings(h.ctx)
	require.NoError(t, err)
	assert.True(t, gs.SharedFQDN)
	assert.True(t, gs.DDNSUpdateByDHCPServerEnabled)
	assert.False(t, gs.DDNSUpdateEnabled)

	// The simulator's own view: the certificates the record names are the
	// ones bound, the RADIUS root is trusted and bound as the issuer.
	snap, net := d.Snapshot(), d.NetworkSnapshot()
	wiredCert, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	require.True(t, ok)
	corpCert, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "corp")
	require.True(t, ok)
	tlsCert, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	require.NotNil(t, snap.IEEE8021xClient)
	assert.Equal(t, wiredCert.DER, snap.IEEE8021xClient.Raw)
	require.NotNil(t, snap.IEEE8021xServer)
	assert.Equal(t, root.Raw, snap.IEEE8021xServer.Raw)
	require.Len(t, net.Profiles, 2)
	corp := net.Profiles[1]
	require.Equal(t, "corp", corp.Name)
	require.NotNil(t, corp.IEEE8021x)
	require.NotNil(t, corp.IEEE8021x.Client)
	assert.Equal(t, corpCert.DER, corp.IEEE8021x.Client.Certificate.Raw)
	require.NotNil(t, corp.IEEE8021x.CA)
	assert.Equal(t, root.Raw, corp.IEEE8021x.CA.Certificate.Raw)
	assert.True(t, d.WiFiPassphraseIs("guest", amt.NewSecret("correct-horse-battery")))
	assert.False(t, net.WiredDHCP || net.WiredIPSync)
	roots := 0
	for _, c := range snap.Certificates {
		if c.TrustedRoot && bytes.Equal(c.Certificate.Raw, root.Raw) {
			roots++
		}
	}
	assert.Equal(t, 1, roots, "the RADIUS root is installed once, shared by wired and Wi-Fi")
	assert.NotEqual(t, wiredCert.DER, corpCert.DER, "one client certificate per profile")

	// In line: a second reconcile changes nothing.
	rep, err := p.Reconcile(h.ctx, d.UUID(), provisioning.ReconcileOptions{})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes, "in line after activation")

	// The Maintainer renews every certificate inside the renewal window:
	// TLS, the wired 802.1X one and the Wi-Fi profile's.
	clock.Advance(time.Until(tlsCert.NotAfter) - 41*24*time.Hour)
	m := p.Maintainer()
	mrep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, mrep.Renewed, "TLS, wired 802.1X, Wi-Fi corp")
	assert.Equal(t, 3, mrep.Revoked)
	assert.Zero(t, mrep.Failed)
	assert.Empty(t, issuer.bad, "every old certificate was revoked after its successor was read back bound")
	got, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	snap, net = d.Snapshot(), d.NetworkSnapshot()
	for _, c := range []struct {
		purpose provisioning.CertificatePurpose
		profile string
		old     []byte
		bound   *x509.Certificate
	}{
		{provisioning.PurposeTLS, "", tlsCert.DER, snap.TLSAppliedCertificate},
		{provisioning.PurposeIEEE8021X, "", wiredCert.DER, snap.IEEE8021xClient},
		{provisioning.PurposeIEEE8021X, "corp", corpCert.DER, net.Profiles[1].IEEE8021x.Client.Certificate},
	} {
		cur, ok := got.CurrentCertificateFor(c.purpose, c.profile)
		require.True(t, ok)
		assert.NotEqual(t, c.old, cur.DER, "%s %s renewed", c.purpose, c.profile)
		require.NotNil(t, c.bound)
		assert.Equal(t, cur.DER, c.bound.Raw, "%s %s: the device uses the renewed certificate", c.purpose, c.profile)
		revoked := false
		for _, r := range h.issuer.revocations() {
			revoked = revoked || bytes.Equal(r.Certificate.Raw, c.old)
		}
		assert.True(t, revoked, "%s %s: the old certificate is revoked", c.purpose, c.profile)
	}
	rep, err = p.Reconcile(h.ctx, d.UUID(), provisioning.ReconcileOptions{Areas: []string{"8021x-wired", "wifi", "ip"}})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes, "the network still in line after the renewals")
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for _, l := range s {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

func TestAuditNetworkFindings(t *testing.T) {
	root := radiusRoot(t)
	tests := []struct {
		name    string
		prof    provisioning.Profile
		want    map[amt.FindingCode]amt.Severity
		subject string
	}{
		{"validated 802.1X and a long passphrase", provisioning.Profile{Network: networkProfile(root)}, nil, ""},
		{"short WPA2 passphrase", provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "home", SSID: "h", Priority: 1, Passphrase: amt.NewSecret("12345678")}}}}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditWeakWiFiPassphrase: amt.SeverityWarning}, `profile default Wi-Fi "home"`},
		{"short WPA3 passphrase", provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "home", SSID: "h", Priority: 1, Security: provisioning.WPA3Personal, Passphrase: amt.NewSecret("12345678")}}}}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditWeakWiFiPassphrase: amt.SeverityInfo}, `profile default Wi-Fi "home"`},
		{"wired EAP-TLS without a server name", provisioning.Profile{Network: &provisioning.NetworkProfile{
			Wired8021X: &provisioning.IEEE8021XConfig{ServerRoot: root}}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditNoServerValidation: amt.SeverityWarning}, "profile default wired 802.1X"},
		{"the deprecated IEEE8021X", provisioning.Profile{IEEE8021X: &provisioning.IEEE8021XProfile{}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditNoServerValidation: amt.SeverityWarning}, "profile default wired 802.1X"},
		{"Wi-Fi PEAP without validation", provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "corp", SSID: "c", Priority: 1, Security: provisioning.WPA2Enterprise,
				IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("p")}}}}}},
			map[amt.FindingCode]amt.Severity{provisioning.AuditNoServerValidation: amt.SeverityError}, `profile default Wi-Fi "corp"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := provisioning.Config{Profiles: map[string]provisioning.Profile{"default": tc.prof}}
			got := map[amt.FindingCode]amt.Severity{}
			for _, f := range provisioning.Audit(t.Context(), cfg) {
				if f.Code == provisioning.AuditWeakWiFiPassphrase || f.Code == provisioning.AuditNoServerValidation {
					got[f.Code] = f.Severity
					assert.Equal(t, tc.subject, f.Subject)
					assert.NotContains(t, f.Message, "12345678", "a finding never shows the passphrase")
				}
				assert.NotEqual(t, provisioning.AuditProfileInvalid, f.Code, "%v", f)
			}
			if tc.want == nil {
				tc.want = map[amt.FindingCode]amt.Severity{}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
