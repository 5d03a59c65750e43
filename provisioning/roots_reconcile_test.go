package provisioning_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

func rootOnDevice(t *testing.T, h *harness, p *provisioning.Provisioner, u amt.UUID, c *x509.Certificate) bool {
	t.Helper()
	dev, err := p.OpenDevice(h.ctx, u)
	require.NoError(t, err)
	defer dev.Close()
	list, err := dev.Certificates(h.ctx)
	require.NoError(t, err)
	for _, x := range list {
		if x.TrustedRoot && bytes.Equal(x.X509Certificate, c.Raw) {
			return true
		}
	}
	return false
}

// provisionWithCIRA provisions a device whose profile has it call a test
// MPS, returning the harness, the MPS, the provisioner and the record.
func provisionWithCIRA(t *testing.T) (*harness, *mpsRig, *provisioning.Provisioner, *provisioning.DeviceRecord) {
	t.Helper()
	var h *harness
	rig := startMPS(t, func() provisioning.Store { return h.store })
	h = newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
			TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, RemoteAccess: rig.profile()}
	}})
	p, rec := provisionOne(t, h)
	return h, rig, p, rec
}

// Profile.RemoteAccess nil leaves the device's CIRA settings alone: the
// roots area keeps the MPS root an earlier reconcile recorded, which the
// device's MPS entries still need (found by the review of the area, which
// wrote this test; it failed on its first version).
func TestRootsAreaKeepsMPSRootWhenCIRALeftAlone(t *testing.T) {
	h, rig, p, rec := provisionWithCIRA(t)
	d := h.fleet.Devices()[0]
	require.NotEmpty(t, d.CIRA().MPS)
	require.True(t, rootOnDevice(t, h, p, rec.UUID, rig.root))

	// The profile stops managing CIRA: "Nil: the device's CIRA settings are left alone".
	setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}})
	p = h.provisioner()
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	for _, c := range rep.Changes {
		t.Log("change:", c.String())
	}
	require.NotEmpty(t, d.CIRA().MPS, "CIRA left alone: the MPS entry stays")
	assert.True(t, rootOnDevice(t, h, p, rec.UUID, rig.root), "the MPS root the device's MPS entry still needs was deleted")
}

// With Areas limited to "wifi", "roots" runs too, and must not delete the
// old MPS root after an MPS CA rotation: "cira" did not run, so the new root
// is not installed yet (found by review, which wrote this test).
func TestRootsAreaKeepsRootsOfAreasThatDidNotRun(t *testing.T) {
	h, rig, p, rec := provisionWithCIRA(t)
	require.True(t, rootOnDevice(t, h, p, rec.UUID, rig.root))

	ra := rig.profile()
	ra.Root = radiusRoot(t) // the MPS CA rotated in the profile
	setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, RemoteAccess: ra})
	p = h.provisioner()
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	for _, c := range rep.Changes {
		t.Log("change:", c.String())
	}
	old, cur := rootOnDevice(t, h, p, rec.UUID, rig.root), rootOnDevice(t, h, p, rec.UUID, ra.Root)
	assert.True(t, old || cur, "a wifi-only run left the device with no MPS root at all (old deleted=%v, new installed=%v)", !old, cur)
}

// One CA serving as the RADIUS server's root and as the TLS
// mutual-authentication client root. The wifi area installs and records it;
// when the Wi-Fi network went, "roots" deleted it (nothing binds a TLS
// client root) and the engine was locked out of the device (found by
// review, which wrote this test). Roots the profile names for mutual TLS are
// kept, and nothing is deleted while the device runs mutual TLS.
func TestRootsAreaKeepsSharedTLSClientRoot(t *testing.T) {
	keys := testKeys()
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso Enterprise CA", Keys: keys})
	cert := clientCertFor(t, ca, "console.contoso.com")
	tlsProf := &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond, MutualAuthentication: true,
		TrustedClientRoots: []*x509.Certificate{ca.RootCertificate()}, TrustedCN: []string{"console.contoso.com"}}
	withWiFi := provisioning.Profile{TLS: tlsProf,
		Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise,
				IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("peap-password"),
					ServerRoot: ca.RootCertificate(), ServerName: "radius.contoso.com"}}}}}}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = withWiFi
		c.ClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}})
	_, rec := provisionOne(t, h)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.Empty(t, got.ReconcileError)
	t.Logf("recorded roots: %d", len(got.TrustedRoots))

	// The Wi-Fi network goes; mutual TLS with the same CA stays.
	setProfile(h, provisioning.Profile{TLS: tlsProf, Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{}}})
	p := h.provisioner()
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	for _, c := range rep.Changes {
		t.Log("change:", c.String(), c.Err)
	}
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	defer dev.Close()
	_, err = dev.GeneralSettings(h.ctx)
	assert.NoError(t, err, "the engine is locked out: the TLS client root was deleted by the roots area")
}

// A RADIUS root the profile no longer names, on a device that runs mutual
// TLS: nothing is deleted while the device checks the engine's client
// certificate against its trusted roots (the engine's chain may end at any
// of them), even a root the profile does not list for mutual TLS.
func TestRootsAreaDeletesNothingUnderMutualTLS(t *testing.T) {
	keys := testKeys()
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso Enterprise CA", Keys: keys})
	cert := clientCertFor(t, ca, "console.contoso.com")
	radius := radiusRoot(t)
	tlsProf := &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond, MutualAuthentication: true,
		TrustedClientRoots: []*x509.Certificate{ca.RootCertificate()}, TrustedCN: []string{"console.contoso.com"}}
	withWiFi := provisioning.Profile{TLS: tlsProf,
		Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise,
				IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("peap-password"),
					ServerRoot: radius, ServerName: "radius.contoso.com"}}}}}}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = withWiFi
		c.ClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}})
	p, rec := provisionOne(t, h)
	require.True(t, rootOnDevice(t, h, p, rec.UUID, radius))

	setProfile(h, provisioning.Profile{TLS: tlsProf, Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{}}})
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.True(t, rootOnDevice(t, h, p, rec.UUID, radius), "kept while the device runs mutual TLS")
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Len(t, got.TrustedRoots, 1, "still recorded: a later run deletes it once mutual TLS is off")
}

// A full unprovision erases the device's trusted roots: the record forgets
// those amtkit installed, so that a root of the same bytes someone installs
// later is never taken for amtkit's (found by review).
func TestUnprovisionForgetsTrustedRoots(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise,
			IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("peap-password"),
				ServerRoot: radiusRoot(t), ServerName: "radius.contoso.com"}}}}}})
	p, rec := provisionOne(t, h)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.Len(t, got.TrustedRoots, 1)
	require.NoError(t, p.Unprovision(h.ctx, rec.UUID))
	got, err = h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Empty(t, got.TrustedRoots)
}
