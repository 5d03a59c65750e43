package provisioning_test

import (
	"bytes"
	"crypto/x509"
	"github.com/amtkit/amtkit/amt/amtsim"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A profile that stops asking for wired 802.1X has reconcile switch it off
// on the device. Before, the EAP-TLS client certificate amtkit issued for it
// stayed current and unrevoked in the record, and the Maintainer kept
// renewing it (a new certificate from the CA, bound with SetCertificates)
// for a function the device no longer used. It is now revoked
// (cessationOfOperation), as a removed Wi-Fi network's is (found by review,
// which wrote this test).
func TestWired8021XOffRetiresClientCert(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
		Network: &provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{ServerRoot: radiusRoot(t), ServerName: "radius.contoso.com"}}})
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	wired, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	require.True(t, ok)

	// The profile no longer asks for wired 802.1X.
	setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}})
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"8021x-wired"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Changes, 1)
	assert.Equal(t, "3", h.fleet.Devices()[0].Snapshot().IEEE8021x["Enabled"], "switched off on the device")

	revoked := func() bool {
		for _, r := range h.issuer.revocations() {
			if bytes.Equal(r.Certificate.Raw, wired.DER) {
				return true
			}
		}
		return false
	}
	assert.True(t, revoked(), "the client certificate of the switched-off wired 802.1X is revoked")

	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, stillCurrent := got.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	assert.False(t, stillCurrent, "the record does not keep a wired 802.1X certificate current for 802.1X that is off")

	// Near expiry the Maintainer must not renew a certificate nothing uses.
	clock.Advance(time.Until(wired.NotAfter) - 20*24*time.Hour)
	mrep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	got, err = h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	n := 0
	for _, c := range got.Certificates {
		if c.Purpose == provisioning.PurposeIEEE8021X {
			n++
		}
	}
	assert.Equal(t, 1, n, "no new wired 802.1X certificate issued (maintainer report %+v)", mrep)
	_ = amt.IEEE8021xDisabled
}

// A Wi-Fi profile removal whose Delete reply is lost (the device deleted
// it): before, the profile's passphrase stayed in the record for good — the
// next run found nothing to remove, and only the removal's success path
// forgot the secret — and the record kept claiming a network amtkit put on
// the device (ownedWiFi counts it, which SyncWithOS uses to decide what to
// delete). The next run now forgets it (found by review, which wrote this
// test).
func TestWiFiRemovalReplyLostForgetsSecret(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{})
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "first-passphrase-a"), personal("b", 2, "first-passphrase-b")}}}})
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	d := h.fleet.Devices()[0]

	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "first-passphrase-a")}}}})
	dr.armURI("Delete", "CIM_WiFiEndpointSettings", amtsim.DropResponse)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	require.Error(t, rep.Err(), "the removal's outcome is unknown")
	assert.Equal(t, []string{"a/1"}, profileNames(d.NetworkSnapshot()), "the device did delete it")

	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	var names []string
	for _, s := range got.NetworkSecrets {
		names = append(names, s.Name)
	}
	assert.NotContains(t, names, "wifi:b", "the record still holds the passphrase of a profile the device no longer has")
}

// The same for a Wi-Fi network switched from EAP-TLS to PEAP-MSCHAPv2:
// before, its EAP-TLS client certificate was neither revoked nor retired,
// and the Maintainer renewed it and bound it to the PEAP profile
// (UpdateWiFiSettings with a ClientCredential, which RPS never sends with
// PEAP) indefinitely (found by review, which wrote this test).
func TestWiFiEAPTLSToPEAPRetiresClientCert(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	root := radiusRoot(t)
	corp := func(x *provisioning.IEEE8021XConfig) provisioning.Profile {
		return provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
			Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
				{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise, IEEE8021X: x}}}}}
	}
	setProfile(h, corp(&provisioning.IEEE8021XConfig{ServerRoot: root, ServerName: "radius.contoso.com"}))
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	old, ok := rec.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "corp")
	require.True(t, ok)

	setProfile(h, corp(&provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("peap-password"),
		ServerRoot: root, ServerName: "radius.contoso.com"}))
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())

	clock.Advance(time.Until(old.NotAfter) - 20*24*time.Hour)
	_, err = p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	var issued int
	for _, c := range got.Certificates {
		if c.Purpose == provisioning.PurposeIEEE8021X {
			issued++
		}
	}
	assert.Equal(t, 1, issued, "no EAP-TLS client certificate is renewed for a PEAP network")
	snap := h.fleet.Devices()[0].NetworkSnapshot()
	require.Len(t, snap.Profiles, 1)
	assert.Nil(t, snap.Profiles[0].IEEE8021x.Client, "no client certificate is bound to the PEAP profile")
}

// Going from MPS certificate authentication back to passwords, the MPS entry
// is deleted and added again with a password, and the client certificate
// "no entry names any more" is revoked — a separate change, which was
// applied even when the entry's replacement failed: with the Delete lost
// (the entry still names the certificate), the certificate the device still
// presents to its MPS was revoked all the same. It now waits for a run whose
// MPS changes all succeed (found by review, which wrote this test).
func TestMPSCertNotRevokedWhileEntryNamesIt(t *testing.T) {
	clock := &fakeClock{}
	h, dr := newDropHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	rig := startCertMPS(t, h.issuer.ca, clock.Now)
	ra := rig.profile()
	ra.AuthMethod = amt.MPSMutualAuth
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: ra}
	_, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	_, cert := mpsCertOf(t, h, rec.UUID)
	require.Contains(t, d.CIRA().MPS[0], "mutual TLS")

	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: rig.profile()}
	p := h.provisioner()
	dr.armURI("Delete", "AMT_ManagementPresenceRemoteSAP", amtsim.DropRequest)
	rr, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.Error(t, rr.Err())
	require.Contains(t, d.CIRA().MPS[0], "mutual TLS", "the entry still names the certificate")
	revoked := false
	for _, r := range h.issuer.revocations() {
		revoked = revoked || bytes.Equal(cert.DER, r.Certificate.Raw)
	}
	assert.False(t, revoked, "the certificate the device's MPS entry still presents was revoked")

	// The next run replaces the entry, then retires the certificate.
	rr, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.NoError(t, rr.Err())
	require.NotContains(t, d.CIRA().MPS[0], "mutual TLS")
	for _, r := range h.issuer.revocations() {
		revoked = revoked || bytes.Equal(cert.DER, r.Certificate.Raw)
	}
	assert.True(t, revoked, "retired once no entry names it")
}

// A RADIUS server root the profile no longer names (the RADIUS CA was
// rotated) stayed installed as a trusted root on the device forever: nothing
// referred to it and nothing deleted it (rpc-go prunes certificates no
// profile uses, internal/certs/utils.go PruneCerts). Each rotation leaked one
// entry of AMT's certificate store, which fills (PT_STATUS_MAX_LIMIT_REACHED;
// the simulator holds 32) and then every later root or client certificate —
// Wi-Fi, wired 802.1X, TLS renewal — failed (found by review, which wrote
// this test). Reconcile's area "roots" now deletes it; a root the device
// held before amtkit came is never deleted.
func TestRotatedRADIUSRootRemoved(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	corp := func(root *x509.Certificate) provisioning.Profile {
		return provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
			Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
				{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise,
					IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("peap-password"),
						ServerRoot: root, ServerName: "radius.contoso.com"}}}}}}
	}
	old := radiusRoot(t)
	foreign := radiusRoot(t) // another console's root, on the device before amtkit
	setProfile(h, corp(old))
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.AddTrustedRootCertificate(h.ctx, foreign)
	require.NoError(t, err)
	dev.Close()

	onDevice := func(c *x509.Certificate) bool { return rootOnDevice(t, h, p, rec.UUID, c) }
	require.True(t, onDevice(old))
	cur := old
	var lastErr error
	rotations := 0
	for ; rotations < 40; rotations++ {
		cur = radiusRoot(t)
		setProfile(h, corp(cur))
		rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
		require.NoError(t, err)
		if lastErr = rep.Err(); lastErr != nil {
			break
		}
	}
	assert.NoError(t, lastErr, "RADIUS CA rotation %d fails", rotations+1)
	assert.False(t, onDevice(old), "the first RADIUS root, which nothing names any more, is still a trusted root on the device")
	assert.True(t, onDevice(cur), "the root the profile names stays")
	assert.True(t, onDevice(foreign), "a root amtkit did not install is never deleted")
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, []provisioning.TrustedRoot{{DER: cur.Raw, Areas: []string{"wifi"}}}, got.TrustedRoots, "the record names the one root amtkit installed that is still in use")
}
