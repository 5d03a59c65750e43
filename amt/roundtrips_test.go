package amt_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerVersion(t *testing.T) {
	tests := []struct {
		header string
		want   string // "" = not named
	}{
		{"Intel(R) Active Management Technology 16.1.25.1917", "16.1.25"}, // rps issue 779
		{"Intel(R) Active Management Technology 8.0.3", "8.0.3"},          // amtc issue 2
		{"Intel(R) Active Management Technology 19.0.5", "19.0.5"},
		{"AMT", ""}, // AMT 11 on Skylake and Kaby Lake (nmap pull request 876)
		{"Intel(R) Active Management Technology 16.1", ""},
		{"Intel(R) Active Management Technology ", ""},
		{"Intel(R) Active Management Technology 16.1.x", ""},
		{"Intel(R) Active Management Technology 1.2.3.4.5", ""},
		{"Intel(R) Con. Management Engine 5.0.1", ""},
		{"intel(r) active management technology 16.1.25", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			v, ok := amt.ServerVersion(tt.header)
			if tt.want == "" {
				assert.False(t, ok)
				assert.True(t, v.IsZero())
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.want, v.String())
		})
	}
}

func FuzzServerVersion(f *testing.F) {
	for _, s := range []string{"Intel(R) Active Management Technology 16.1.25.1917", "AMT", "Intel(R) Active Management Technology 8.0.3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := amt.ServerVersion(s)
		if !ok {
			if !v.IsZero() {
				t.Fatalf("%q: not named but version %v", s, v)
			}
			return
		}
		if !strings.HasPrefix(s, "Intel(R) Active Management Technology ") || v.Revision != 0 {
			t.Fatalf("%q gave %v", s, v)
		}
	})
}

// rcfgDevice connects to a simulated device in remote configuration.
func rcfgDevice(t *testing.T, version string) (*amtsim.Device, *amt.Device) {
	t.Helper()
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{Keys: simKeys})
	root := chain.Chain[len(chain.Chain)-1]
	sim := startSim(t, amtsim.Config{
		Version:          amt.MustParseVersion(version),
		TrustedDNSSuffix: "example.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "test root", Hash: certs.RootHash(root, amt.HashSHA256), Active: true}},
	})
	devCert, err := sim.DeviceCertificate()
	require.NoError(t, err)
	raw := make([][]byte, len(chain.Chain))
	for i, x := range chain.Chain {
		raw[i] = x.Raw
	}
	c, err := wsman.New(sim.TLSEndpoint(),
		wsman.WithTLS(wsman.PinSHA256(sha256.Sum256(devCert.Raw))),
		wsman.WithClientCertificate(tls.Certificate{Certificate: raw, PrivateKey: chain.Key}))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return sim, amt.NewDevice(c)
}

func TestGeneralSettingsVersion(t *testing.T) {
	sim, dev := rcfgDevice(t, "16.1.25")
	gs, v, err := dev.GeneralSettingsVersion(context.Background())
	require.NoError(t, err)
	assert.Equal(t, sim.DigestRealm(), gs.DigestRealm)
	assert.Equal(t, "16.1.25", v.String())
	want, err := dev.Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, want, v, "the same version CIM_SoftwareIdentity reports")
	assert.Equal(t, int64(3), sim.Counters().Exchanges, "one exchange, where the enumeration takes two")
}

func TestBindTLSCertificateDirect(t *testing.T) {
	ctx := context.Background()
	sim, dev := rcfgDevice(t, "16.1.25")
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: simKeys})
	issue := func() string {
		keyID, err := dev.GenerateKeyPair(ctx, amt.KeyAlgorithmRSA, 2048)
		require.NoError(t, err)
		kp, err := dev.KeyPair(ctx, keyID)
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "pc.example.com", PublicKey: pub})
		require.NoError(t, err)
		cert, err := ca.IssueCert(tmpl, pub)
		require.NoError(t, err)
		id, err := dev.AddCertificate(ctx, cert)
		require.NoError(t, err)
		return id
	}
	_, err := dev.BindTLSCertificateDirect(ctx, "")
	require.ErrorIs(t, err, amt.ErrInvalidArgument)

	first := issue()
	before := sim.Counters()
	cc, err := dev.BindTLSCertificateDirect(ctx, first)
	require.NoError(t, err)
	assert.Equal(t, int64(1), sim.Counters().Sub(before).Exchanges, "one Create")
	assert.Equal(t, first, cc.CertificateInstanceID())
	name, _ := cc.ElementProvidingContext.Selectors.Get("ElementName")
	assert.True(t, amt.IsTLSCollectionName(name))

	// A context exists: AlreadyExists, then the enumerate-and-Put path.
	second := issue()
	cc, err = dev.BindTLSCertificateDirect(ctx, second)
	require.NoError(t, err)
	assert.Equal(t, second, cc.CertificateInstanceID())
	ccs, err := dev.TLSCredentialContexts(ctx)
	require.NoError(t, err)
	require.Len(t, ccs, 1)
	assert.Equal(t, second, ccs[0].CertificateInstanceID())
}
