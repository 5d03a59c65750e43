package provisioning_test

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A profile switched to mutual TLS on a device whose store refuses the
// client certificates' root (AddTrustedRootCertificate answers
// PT_STATUS_MAX_LIMIT_REACHED): the network interface is not switched to
// mutual authentication. The device holds another trusted root (a RADIUS
// CA's), so the firmware's rule that mutual authentication needs a trusted
// root (go-wsman-messages setupandconfiguration CommitChanges, note 3) does
// not stop the commit, and the device would then ask every client for a
// certificate under a root the engine's is not issued by: the engine locked
// out of the device it manages, with nothing left to reconcile it back
// (found by review).
func TestTLSMutualNotEnabledWithoutClientRoot(t *testing.T) {
	keys := testKeys()
	clientCA := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso Console CA", Keys: keys})
	cert := clientCertFor(t, clientCA, "console.contoso.com")
	radius := radiusRoot(t)
	wifi := &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise,
			IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("peap-password"),
				ServerRoot: radius, ServerName: "radius.contoso.com"}}}}}
	var refuse atomic.Bool
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) {
			c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, Network: wifi}
			c.ClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		},
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.RefuseFunc = func(method, _ string, _ int) amt.Status {
				if refuse.Load() && method == "AddTrustedRootCertificate" {
					return amt.Status(23) // PT_STATUS_MAX_LIMIT_REACHED
				}
				return 0
			}
		}})
	p, rec := provisionOne(t, h)
	require.True(t, rootOnDevice(t, h, p, rec.UUID, radius), "the device holds a trusted root")

	refuse.Store(true)
	setProfile(h, provisioning.Profile{Network: wifi, TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond, MutualAuthentication: true,
		TrustedClientRoots: []*x509.Certificate{clientCA.RootCertificate()}}})
	p = h.provisioner()
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"tls"}})
	require.NoError(t, err)
	assert.ErrorIs(t, rep.Err(), amt.Status(23), "the refused root is reported")
	assert.False(t, h.fleet.Devices()[0].Snapshot().TLSApplied.MutualAuthentication,
		"mutual authentication is not switched on while the client certificates' root is not on the device")
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.GeneralSettings(h.ctx)
	dev.Close()
	require.NoError(t, err, "the engine still reaches the device")

	// Once the store takes the root, the next reconcile completes the switch.
	refuse.Store(false)
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"tls"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.True(t, h.fleet.Devices()[0].Snapshot().TLSApplied.MutualAuthentication)
	dev, err = p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.GeneralSettings(h.ctx)
	dev.Close()
	require.NoError(t, err, "the client certificate is accepted")
}
