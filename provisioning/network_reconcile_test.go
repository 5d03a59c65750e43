package provisioning_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func personal(name string, prio int, pass string) provisioning.WiFiNetwork {
	return provisioning.WiFiNetwork{Name: name, SSID: "SSID " + name, Priority: prio, Passphrase: amt.NewSecret(pass)}
}

// setProfile replaces the default profile (of a running provisioner too: it
// reads h.cfg.Profiles, a map shared with the Config it was built from).
func setProfile(h *harness, p provisioning.Profile) {
	h.cfg.Profiles[provisioning.DefaultProfileName] = p
}

func reconcileNetwork(t *testing.T, h *harness, p *provisioning.Provisioner, u amt.UUID) *provisioning.ReconcileReport {
	t.Helper()
	rep, err := p.Reconcile(h.ctx, u, provisioning.ReconcileOptions{Areas: []string{"8021x-wired", "wifi", "ip"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	return rep
}

func profileNames(s amtsim.NetworkSnapshot) []string {
	var out []string
	for _, p := range s.Profiles {
		out = append(out, fmt.Sprintf("%s/%d", p.Name, p.Priority))
	}
	return out
}

// One profile serves laptops and desktops: a device without a wireless
// interface provisions and reconciles with no Wi-Fi change and no failure.
func TestReconcileWiFiOnDeviceWithoutWireless(t *testing.T) {
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Network.NoWireless = true }})
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "first-passphrase-a")}}}})
	p, rec := provisionOne(t, h)
	assert.Empty(t, rec.ReconcileError)
	rep := reconcileNetwork(t, h, p, rec.UUID)
	assert.Empty(t, rep.Changes)
}

// A profile is added a second after the certificates it names, as rpc-go
// and Intel's console leave AMT that long to handle a new certificate; one
// that needs no new certificate waits for nothing.
func TestReconcileWiFiSettlesNewCertificates(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "first-passphrase-a")}}}})
	p, rec := provisionOne(t, h)
	pauses := func() (n int) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, d := range h.slept {
			if d == time.Second {
				n++
			}
		}
		h.slept = nil
		return n
	}
	pauses()
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "second-passphrase-a"),
		{Name: "corp", SSID: "Contoso", Priority: 2, Security: provisioning.WPA2Enterprise,
			IEEE8021X: &provisioning.IEEE8021XConfig{ServerRoot: radiusRoot(t), ServerName: "radius.contoso.com"}},
	}}}})
	reconcileNetwork(t, h, p, rec.UUID)
	assert.Equal(t, 1, pauses(), "one pause: before the EAP-TLS profile that names the new root and client certificate")
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "third-passphrase-a")}}}})
	reconcileNetwork(t, h, p, rec.UUID)
	assert.Zero(t, pauses(), "no certificate was added")
}

// A changed profile reaches a provisioned device: a removed network is
// deleted (and its certificate revoked), priorities are swapped, a changed
// passphrase is sent again; the record keeps the secrets sealed and no event
// shows them.
func TestReconcileWiFiChanges(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	root := radiusRoot(t)
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "first-passphrase-a"), personal("b", 2, "first-passphrase-b"),
		{Name: "corp", SSID: "Contoso", Priority: 3, Security: provisioning.WPA2Enterprise,
			IEEE8021X: &provisioning.IEEE8021XConfig{ServerRoot: root, ServerName: "radius.contoso.com"}},
	}}}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.Empty(t, rec.ReconcileError)
	assert.Equal(t, []string{"a/1", "b/2", "corp/3"}, profileNames(d.NetworkSnapshot()))
	corpCert, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "corp")
	require.True(t, ok)

	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 2, "second-passphrase-a"), personal("b", 1, "first-passphrase-b"),
	}}}})
	rep := reconcileNetwork(t, h, p, d.UUID())
	var lines []string
	for _, c := range rep.Changes {
		lines = append(lines, c.String())
		assert.NotContains(t, c.String(), "passphrase-a")
	}
	t.Logf("changes:\n  %s", strings.Join(lines, "\n  "))
	names := profileNames(d.NetworkSnapshot())
	assert.ElementsMatch(t, []string{"a/2", "b/1"}, names)
	assert.True(t, d.WiFiPassphraseIs("a", amt.NewSecret("second-passphrase-a")))
	assert.True(t, d.WiFiPassphraseIs("b", amt.NewSecret("first-passphrase-b")))
	revoked := false
	for _, r := range h.issuer.revocations() {
		if bytes.Equal(r.Certificate.Raw, corpCert.DER) {
			revoked = true
			assert.Equal(t, certs.RevocationCessationOfOperation, r.Reason, "no longer needed; not replaced")
		}
	}
	assert.True(t, revoked, "the removed profile's certificate is revoked")
	assert.Empty(t, reconcileNetwork(t, h, p, d.UUID()).Changes, "in line")
	for _, e := range h.eventsFor(d.UUID()) {
		assert.NotContains(t, fmt.Sprintf("%v %+v", e, e), "passphrase-")
	}
	got, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Len(t, got.NetworkSecrets, 2, "the passphrases sent, kept to notice a change")
}

// PEAP-MSCHAPv2, wired and Wi-Fi: the password reaches the device, a changed
// one is sent again (the device never returns it).
func TestReconcilePEAP(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	root := radiusRoot(t)
	peap := func(pw string) *provisioning.IEEE8021XConfig {
		return &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "CONTOSO\\amt", Password: amt.NewSecret(pw),
			ServerRoot: root, ServerName: "radius.contoso.com"}
	}
	prof := func(pw string) provisioning.Profile {
		return provisioning.Profile{Network: &provisioning.NetworkProfile{Wired8021X: peap(pw), WiFi: &provisioning.WiFiConfig{
			Networks: []provisioning.WiFiNetwork{{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise, IEEE8021X: peap(pw)}}}}}
	}
	setProfile(h, prof("Pa55-one"))
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.Empty(t, rec.ReconcileError)
	snap := d.Snapshot()
	assert.Equal(t, "2", snap.IEEE8021x["AuthenticationProtocol"])
	assert.Equal(t, "2", snap.IEEE8021x["Enabled"], "with the server's root bound: EnabledWithCertificates")
	assert.Nil(t, snap.IEEE8021xClient, "no client certificate for PEAP")
	require.NotNil(t, snap.IEEE8021xServer)
	assert.True(t, d.WiFi8021xPasswordIs("corp", amt.NewSecret("Pa55-one")))
	_, hasCert := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	assert.False(t, hasCert)

	setProfile(h, prof("Pa55-two"))
	rep := reconcileNetwork(t, h, p, d.UUID())
	assert.Len(t, rep.Changes, 2, "wired settings and the Wi-Fi profile, for the new password")
	assert.True(t, d.WiFi8021xPasswordIs("corp", amt.NewSecret("Pa55-two")))
	assert.Empty(t, reconcileNetwork(t, h, p, d.UUID()).Changes)

	// Without the server's root: still Enabled 2, as rpc-go (configure8021x)
	// and RPS (put8021xProfile) send it for PEAP (amtkit sent 6).
	unvalidated := prof("Pa55-two")
	unvalidated.Network.Wired8021X.ServerRoot, unvalidated.Network.Wired8021X.ServerName = nil, ""
	unvalidated.Network.WiFi = nil
	setProfile(h, unvalidated)
	reconcileNetwork(t, h, p, d.UUID())
	assert.Equal(t, "2", d.Snapshot().IEEE8021x["Enabled"])
	assert.Empty(t, reconcileNetwork(t, h, p, d.UUID()).Changes)
}

// The Wi-Fi profile AMT is connected by is not updated (the firmware and
// Configuration Manager leave it alone): its certificate is reported not
// renewable, the others are renewed; once AMT is on another link it is
// renewed too. On a wireless-only device the Wi-Fi certificates are renewed
// as well, TLS is not.
func TestMaintainerWiFiRenewalRules(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) { c.Now = clock.Now },
		device: func(_ int, c *amtsim.Config) { c.Network.WirelessOnly = true },
	})
	root := radiusRoot(t)
	tls := func(name string, prio int) provisioning.WiFiNetwork {
		return provisioning.WiFiNetwork{Name: name, SSID: "SSID " + name, Priority: prio, Security: provisioning.WPA2Enterprise,
			IEEE8021X: &provisioning.IEEE8021XConfig{ServerRoot: root, ServerName: "radius.contoso.com"}}
	}
	setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
		Network: &provisioning.NetworkProfile{
			Wired8021X: &provisioning.IEEE8021XConfig{ServerRoot: root, ServerName: "radius.contoso.com"},
			WiFi:       &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{tls("home", 1), tls("office", 2)}}}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.Empty(t, rec.ReconcileError)
	_, wired := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	assert.False(t, wired, "a wireless-only device has no wired 802.1X (IPS_IEEE8021xSettings is unreachable)")
	rec.Inventory.Wireless = true
	require.NoError(t, h.store.Save(h.ctx, rec))
	home, _ := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "home")
	office, _ := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "office")
	require.NoError(t, d.ConnectWiFi("office"))

	clock.Advance(time.Until(home.NotAfter) - 41*24*time.Hour)
	m := p.Maintainer()
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "home")
	assert.Equal(t, 2, rep.NotRenewable, "TLS over wireless only, and office, which AMT is connected by")
	assert.Zero(t, rep.Failed)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ := got.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "home")
	assert.NotEqual(t, home.DER, cur.DER)
	cur, _ = got.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "office")
	assert.Equal(t, office.DER, cur.DER)
	var detail string
	for _, e := range h.eventsFor(rec.UUID) {
		if e.Reason == provisioning.ReasonNotRenewable && strings.Contains(e.Detail, "office") {
			detail = e.Detail
		}
	}
	assert.Contains(t, detail, "connected by Wi-Fi profile")

	require.NoError(t, d.ConnectWiFi("home"))
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "office, now that AMT is connected by home")
	got, err = h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ = got.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "office")
	assert.NotEqual(t, office.DER, cur.DER)
	var net amtsim.NetworkSnapshot = d.NetworkSnapshot()
	assert.Equal(t, cur.DER, net.Profiles[1].IEEE8021x.Client.Certificate.Raw)
}

// A renewal whose UpdateWiFiSettings reply is lost is not confirmed: the old
// certificate stays current and unrevoked until a later run reads the new
// one back bound.
func TestMaintainerWiFiRenewalLostReply(t *testing.T) {
	clock := &fakeClock{}
	var drop bool
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) { c.Now = clock.Now },
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
				if drop && op == "UpdateWiFiSettings" {
					return amtsim.DropRequest
				}
				return amtsim.DropNone
			}
		},
	})
	setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
		Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise, IEEE8021X: &provisioning.IEEE8021XConfig{}}}}}})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "corp")
	require.True(t, ok)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	drop = true
	m := p.Maintainer()
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "TLS only")
	assert.Equal(t, 1, rep.Failed)
	for _, r := range h.issuer.revocations() {
		assert.NotEqual(t, old.DER, r.Certificate.Raw, "the certificate the profile still uses is not revoked")
	}
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ := got.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "corp")
	assert.Equal(t, old.DER, cur.DER)

	drop = false
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "the pending certificate is bound and read back")
	revoked := false
	for _, r := range h.issuer.revocations() {
		revoked = revoked || bytes.Equal(r.Certificate.Raw, old.DER)
	}
	assert.True(t, revoked)
}

// The host's own profiles (added over LMS while synchronisation is on) are
// kept with SyncWithOS and removed without it.
func TestReconcileWiFiHostProfiles(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cfg := func(sync bool) provisioning.Profile {
		return provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{SyncWithOS: sync,
			Networks: []provisioning.WiFiNetwork{personal("it", 1, "it-passphrase-123")}}}}
	}
	setProfile(h, cfg(true))
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	d := h.fleet.Devices()[0]
	assert.EqualValues(t, amt.LocalSyncUnrestricted, d.NetworkSnapshot().LocalProfileSync)
	require.NoError(t, addHostProfile(h, d, "cafe"))
	assert.Empty(t, reconcileNetwork(t, h, p, d.UUID()).Changes, "the host's profile is the host's")
	assert.Len(t, d.NetworkSnapshot().Profiles, 2)
	// The host's profile, at the IT profile's priority, holds none of the IT
	// priorities (the firmware keeps them apart): a changed IT profile is
	// updated in place, not removed and added again.
	changed := cfg(true)
	changed.Network.WiFi.Networks[0].Passphrase = amt.NewSecret("it-passphrase-456")
	setProfile(h, changed)
	var got []string
	for _, c := range reconcileNetwork(t, h, p, d.UUID()).Changes {
		got = append(got, c.String())
	}
	require.Len(t, got, 1, "%v", got)
	assert.Contains(t, got[0], `wifi: update Wi-Fi profile "it"`)

	setProfile(h, cfg(false))
	reconcileNetwork(t, h, p, d.UUID())
	s := d.NetworkSnapshot()
	assert.EqualValues(t, amt.LocalSyncDisabled, s.LocalProfileSync)
	assert.Equal(t, []string{"it/1"}, profileNames(s))
}

// addHostProfile adds a user profile the way LMS does: AddWiFiSettings as the
// local system account.
func addHostProfile(h *harness, d *amtsim.Device, name string) error {
	user, pw := d.LocalSystemAccount()
	c, err := amt.NewClient(d.HTTPEndpoint(), wsmanDigest(user, pw.Reveal()))
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	return amt.NewDevice(c).AddWiFiSettings(h.ctx, amt.WiFiSettings{Endpoint: amt.WiFiEndpointSettings{
		ElementName: name, SSID: "Cafe", Priority: 1, AuthenticationMethod: amt.WiFiAuthWPA2PSK,
		EncryptionMethod: amt.WiFiEncryptionCCMP, PSKPassPhrase: amt.NewSecret("cafe-latte-wifi")}})
}

func TestNetworkProfileValidate(t *testing.T) {
	root := radiusRoot(t)
	nine := make([]provisioning.WiFiNetwork, 9)
	for i := range nine {
		nine[i] = personal(fmt.Sprintf("n%d", i), i+1, "long-enough-pass")
	}
	tests := []struct {
		name  string
		n     provisioning.NetworkProfile
		field string
	}{
		{"nine networks", provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: nine}}, "Networks"},
		{"same priority", provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			personal("a", 1, "long-enough-pass"), personal("b", 1, "long-enough-pass")}}}, "Priority"},
		{"same name", provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			personal("a", 1, "long-enough-pass"), personal("A", 2, "long-enough-pass")}}}, "Name"},
		{"name with a dash", provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			personal("a-b", 1, "long-enough-pass")}}}, "Name"},
		{"short passphrase", provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			personal("a", 1, "short")}}}, "Passphrase"},
		{"enterprise without 802.1X", provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "a", SSID: "s", Priority: 1, Security: provisioning.WPA2Enterprise}}}}, "IEEE8021X"},
		{"PEAP without password", provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u"}}, "Wired8021X"},
		{"server name without root", provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{ServerName: "radius"}}, "Wired8021X"},
		{"root that is no CA", provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{ServerRoot: leafOf(t)}}, "Wired8021X"},
		// DMTF CIM_IEEE8021xSettings: for EAP-TLS, Domain "should be null".
		{"EAP-TLS with a domain", provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{Method: provisioning.EAPTLS, Domain: "CORP"}}, "Wired8021X"},
		// 500 ms would be sent as 0 s, which turns the PXE hold off.
		{"sub-second PXE timeout", provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{PxeTimeout: 500 * time.Millisecond}}, "Wired8021X"},
		{"static without addresses", provisioning.NetworkProfile{IP: &provisioning.IPConfig{Mode: provisioning.IPStatic}}, "IP.Static"},
		{"DDNS interval too short", provisioning.NetworkProfile{IP: &provisioning.IPConfig{DDNSInterval: time.Minute}}, "DDNSInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prof := provisioning.Profile{Name: "p", Network: &tc.n}
			err := prof.Validate()
			var ce *provisioning.ConfigError
			require.True(t, errors.As(err, &ce), "%v", err)
			assert.Contains(t, ce.Field, tc.field)
			assert.Contains(t, ce.Field, "Profile p Network.")
		})
	}
	ok := provisioning.Profile{Network: networkProfile(root)}
	assert.NoError(t, ok.Validate())
}

func wsmanDigest(user, pw string) wsman.Option { return wsman.WithDigestAuth(user, pw) }

// leafOf returns a certificate that is not a CA's.
func leafOf(t *testing.T) *x509.Certificate {
	t.Helper()
	ca, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Leaf CA", Keys: testKeys()})
	require.NoError(t, err)
	k := testKeys().MustRSA(t, 2048)
	c, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "radius.contoso.com"}}, k.Public())
	require.NoError(t, err)
	return c
}

// WPA3 needs AMT 20 (amt.Firmware.WiFiWPA3): on an older device the profile
// fails with the reason, on AMT 20 it is added as SAE / GCMP-256.
func TestReconcileWPA3(t *testing.T) {
	prof := provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		{Name: "home", SSID: "Home", Priority: 1, Security: provisioning.WPA3Personal, Passphrase: amt.NewSecret("a-long-wpa3-passphrase")},
		{Name: "corp", SSID: "Contoso", Priority: 2, Security: provisioning.WPA3Enterprise, IEEE8021X: &provisioning.IEEE8021XConfig{ServerRoot: radiusRoot(t), ServerName: "radius.contoso.com"}},
	}}}}
	t.Run("AMT 16.1", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		setProfile(h, prof)
		_, rec := provisionOne(t, h)
		assert.Contains(t, rec.ReconcileError, "needs firmware with WPA3")
		assert.Empty(t, h.fleet.Devices()[0].NetworkSnapshot().Profiles)
	})
	t.Run("AMT 20", func(t *testing.T) {
		h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) { c.Version = amt.MustParseVersion("20.0.0") }})
		setProfile(h, prof)
		_, rec := provisionOne(t, h)
		require.Empty(t, rec.ReconcileError)
		ps := h.fleet.Devices()[0].NetworkSnapshot().Profiles
		require.Len(t, ps, 2)
		assert.Equal(t, uint32(amt.WiFiAuthWPA3SAE), ps[0].AuthenticationMethod)
		assert.Equal(t, uint32(amt.WiFiEncryptionGCMP256), ps[1].EncryptionMethod)
	})
}

// The profile's FQDN sharing and dynamic DNS reach the device after
// activation, a changed profile is applied by reconcile, and a device in line
// is left alone. The change names the settings before and after.
func TestReconcileFQDNAndDynamicDNS(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{IP: &provisioning.IPConfig{
		DedicatedFQDN: true, DynamicDNS: provisioning.DDNSByAMT, DDNSTTL: 10 * time.Minute, DDNSInterval: 2 * time.Hour}}})
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	read := func() *amt.GeneralSettings {
		t.Helper()
		dev, err := p.OpenDevice(h.ctx, rec.UUID)
		require.NoError(t, err)
		defer dev.Close()
		gs, err := dev.GeneralSettings(h.ctx)
		require.NoError(t, err)
		return gs
	}
	gs := read()
	assert.False(t, gs.SharedFQDN, "a dedicated FQDN")
	assert.True(t, gs.DDNSUpdateEnabled)
	assert.False(t, gs.DDNSUpdateByDHCPServerEnabled)
	assert.Equal(t, uint32(600), gs.DDNSTTL, "seconds")
	assert.Equal(t, uint32(120), gs.DDNSPeriodicUpdateInterval, "minutes")
	assert.Empty(t, reconcileNetwork(t, h, p, rec.UUID).Changes, "in line after activation")

	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{IP: &provisioning.IPConfig{DynamicDNS: provisioning.DDNSOff}}})
	rep := reconcileNetwork(t, h, p, rec.UUID)
	require.Len(t, rep.Changes, 1)
	assert.Equal(t, "ip: update FQDN and dynamic DNS \"dedicated FQDN, DDNS by AMT (TTL 600s, every 120 min)\" → \"shared FQDN, no DDNS\"",
		rep.Changes[0].String())
	gs = read()
	assert.True(t, gs.SharedFQDN)
	assert.False(t, gs.DDNSUpdateEnabled)
	assert.False(t, gs.DDNSUpdateByDHCPServerEnabled)
	assert.Equal(t, uint32(600), gs.DDNSTTL, "a zero TTL in the profile keeps the device's")
	assert.Empty(t, reconcileNetwork(t, h, p, rec.UUID).Changes, "in line")
}

// The wired interface's addressing follows the profile through every mode
// (RPS's and rpc-go's three rows), read back after each Put; a static address
// the integrator's callback cannot give, or gives as its prefix's network
// address, fails the reconcile with what to fix and leaves the device alone.
func TestReconcileWiredAddressing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	static := func(addr string) func(provisioning.Inventory) (amt.StaticIPv4, error) {
		return func(provisioning.Inventory) (amt.StaticIPv4, error) {
			return amt.StaticIPv4{Address: netip.MustParsePrefix(addr), Gateway: netip.MustParseAddr("10.20.30.1"),
				PrimaryDNS: netip.MustParseAddr("10.20.30.2")}, nil
		}
	}
	ip := func(c provisioning.IPConfig) provisioning.Profile {
		return provisioning.Profile{Network: &provisioning.NetworkProfile{IP: &c}}
	}
	setProfile(h, ip(provisioning.IPConfig{Mode: provisioning.IPStatic, Static: static("10.20.30.40/24")}))
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	d := h.fleet.Devices()[0]
	n := d.NetworkSnapshot()
	assert.False(t, n.WiredDHCP || n.WiredIPSync || n.WiredSharedStatic)

	for _, tc := range []struct {
		mode                   provisioning.IPMode
		dhcp, sync, sharedStat bool
	}{
		{provisioning.IPStaticShared, false, true, true},
		{provisioning.IPDHCP, true, true, false},
	} {
		setProfile(h, ip(provisioning.IPConfig{Mode: tc.mode}))
		rep := reconcileNetwork(t, h, p, rec.UUID)
		require.Len(t, rep.Changes, 1, "%v", tc.mode)
		assert.Equal(t, "wired IPv4 settings", rep.Changes[0].Target)
		assert.Equal(t, tc.mode.String(), rep.Changes[0].To)
		n := d.NetworkSnapshot()
		assert.Equal(t, []bool{tc.dhcp, tc.sync, tc.sharedStat}, []bool{n.WiredDHCP, n.WiredIPSync, n.WiredSharedStatic}, "%v", tc.mode)
		assert.Empty(t, reconcileNetwork(t, h, p, rec.UUID).Changes, "in line")
	}

	for _, tc := range []struct {
		name   string
		static func(provisioning.Inventory) (amt.StaticIPv4, error)
		is     error
		says   string
	}{
		{"the callback fails", func(provisioning.Inventory) (amt.StaticIPv4, error) { return amt.StaticIPv4{}, errNoAddress }, errNoAddress, "no address left"},
		{"a network address", static("10.20.30.0/24"), amt.ErrInvalidArgument, "network or broadcast address"},
		{"a broadcast address", static("10.20.30.255/24"), amt.ErrInvalidArgument, "network or broadcast address"},
	} {
		setProfile(h, ip(provisioning.IPConfig{Mode: provisioning.IPStatic, Static: tc.static}))
		rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"ip"}})
		require.NoError(t, err, "the device was reached; the area failed")
		assert.Equal(t, 1, rep.Failed, tc.name)
		require.Len(t, rep.Changes, 1)
		assert.Equal(t, "planning", rep.Changes[0].Target)
		err = rep.Err()
		require.ErrorIs(t, err, tc.is, tc.name)
		assert.Contains(t, err.Error(), "the static address of pc-a0.contoso.com", tc.name)
		assert.Contains(t, err.Error(), tc.says, tc.name)
		assert.True(t, d.NetworkSnapshot().WiredDHCP, "%s: the device keeps DHCP", tc.name)
	}
}

var errNoAddress = errors.New("no address left in the pool")

// failingRevoker is an Issuer whose CA cannot revoke until it is back.
type failingRevoker struct {
	*testIssuer
	down bool
}

func (f *failingRevoker) Revoke(ctx context.Context, req provisioning.RevokeRequest) error {
	if f.down {
		return errors.New("the CA is unreachable")
	}
	return f.testIssuer.Revoke(ctx, req)
}

// A Wi-Fi profile removed while the CA cannot revoke: the removal reports the
// failed revocation (so the record's ReconcileError makes the Maintainer's
// reconcile due), and the next reconcile revokes the orphaned client
// certificate once the CA is back — before, it stayed valid and unrevoked for
// ever, and the reconcile reported success.
func TestReconcileRetriesRevocationOfRemovedProfile(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	root := radiusRoot(t)
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "first-passphrase-a"),
		{Name: "corp", SSID: "Contoso", Priority: 3, Security: provisioning.WPA2Enterprise,
			IEEE8021X: &provisioning.IEEE8021XConfig{ServerRoot: root, ServerName: "radius.contoso.com"}},
	}}}})
	_, rec := provisionOne(t, h)
	corp, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "corp")
	require.True(t, ok)
	ca := &failingRevoker{testIssuer: h.issuer, down: true}
	h.cfg.Issuer = ca
	p := h.provisioner()
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "first-passphrase-a")}}}})

	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	require.Error(t, rep.Err())
	assert.Contains(t, rep.Err().Error(), "revoking its client certificate failed")
	assert.Equal(t, []string{"a/1"}, profileNames(h.fleet.Devices()[0].NetworkSnapshot()), "the profile is gone from the device")
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.NotEmpty(t, got.ReconcileError, "the Maintainer's reconcile is due again")

	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	require.Error(t, rep.Err(), "still down: still reported")

	ca.down = false
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Changes, 2, "%v", rep.Changes)
	assert.Equal(t, `client certificate of the removed Wi-Fi profile "corp"`, rep.Changes[0].Target)
	assert.Equal(t, "roots", rep.Changes[1].Area, "and, once every area succeeded, the RADIUS root nothing names any more")
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, corp.DER, revs[0].Certificate.Raw)
	assert.Equal(t, certs.RevocationCessationOfOperation, revs[0].Reason)
	assert.Empty(t, reconcileNetwork(t, h, p, rec.UUID).Changes, "in line")
}

// NoPxe sends PxeTimeout 0 (go-wsman-messages: "a value of 0 disables the
// feature"; RPS accepts 0); a zero PxeTimeout alone still means 120 s. The
// next reconcile finds nothing to change either way.
func TestWiredNoPxe(t *testing.T) {
	for _, tc := range []struct {
		noPxe bool
		want  string
	}{{false, "120"}, {true, "0"}} {
		t.Run(fmt.Sprintf("NoPxe=%v", tc.noPxe), func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
				Network: &provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{ServerRoot: radiusRoot(t), ServerName: "radius.contoso.com", NoPxe: tc.noPxe}}})
			p, rec := provisionOne(t, h)
			require.Empty(t, rec.ReconcileError)
			assert.Equal(t, tc.want, h.fleet.Devices()[0].Snapshot().IEEE8021x["PxeTimeout"])
			rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"8021x-wired"}})
			require.NoError(t, err)
			assert.Empty(t, rep.Changes)
		})
	}
	err := (&provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{NoPxe: true, PxeTimeout: time.Minute}}).Validate()
	var ce *provisioning.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Problem, "NoPxe")
}
