package provisioning_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
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

// The engine's own client certificate (Config.ClientCertificate) is checked
// against the profile before mutual authentication is switched on: one whose
// CN the profile's TrustedCN does not list, or that no TrustedClientRoot
// issued, would be refused by the device once the commit applies the mode,
// and the engine could never reach the device again to switch it back (found
// by review). The change fails instead and the device keeps server
// authentication.
func TestTLSMutualNotEnabledForAnUnacceptedClientCertificate(t *testing.T) {
	keys := testKeys()
	clientCA := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso Console CA", Keys: keys})
	otherCA := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Fabrikam CA", Keys: keys})
	good := clientCertFor(t, clientCA, "console.contoso.com")
	tests := []struct {
		name string
		cert *tls.Certificate
	}{
		{"a CN TrustedCN does not list", clientCertFor(t, clientCA, "other.contoso.com")},
		{"issued under another root", clientCertFor(t, otherCA, "console.contoso.com")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var use atomic.Pointer[tls.Certificate]
			use.Store(tc.cert)
			h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
				c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}}
				c.ClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
					// As an integrator's callback that picks among several.
					if c := use.Load(); c != good || cri.SupportsCertificate(c) == nil {
						return c, nil
					}
					return nil, errors.New("no certificate the device accepts")
				}
			}})
			_, rec := provisionOne(t, h)
			setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond, MutualAuthentication: true,
				TrustedClientRoots: []*x509.Certificate{clientCA.RootCertificate()}, TrustedCN: []string{"console.contoso.com"}}})
			p := h.provisioner()
			rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"tls"}})
			require.NoError(t, err)
			assert.ErrorIs(t, rep.Err(), provisioning.ErrClientCertificateRefused)
			assert.False(t, h.fleet.Devices()[0].Snapshot().TLSApplied.MutualAuthentication, "server authentication kept")
			dev, err := p.OpenDevice(h.ctx, rec.UUID)
			require.NoError(t, err)
			_, err = dev.GeneralSettings(h.ctx)
			dev.Close()
			require.NoError(t, err, "the engine still reaches the device")

			use.Store(good)
			rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"tls"}})
			require.NoError(t, err)
			require.NoError(t, rep.Err())
			assert.True(t, h.fleet.Devices()[0].Snapshot().TLSApplied.MutualAuthentication)
		})
	}
}
