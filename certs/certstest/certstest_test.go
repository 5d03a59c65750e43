package certstest_test

import (
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func TestKeyPool(t *testing.T) {
	var p certstest.KeyPool // zero value works
	seen := map[string]bool{}
	for i := 0; i < certstest.EmbeddedKeys(2048); i++ {
		k, err := p.RSA(2048)
		require.NoError(t, err)
		require.Equal(t, 2048, k.N.BitLen())
		require.NoError(t, k.Validate())
		seen[k.N.String()] = true
	}
	assert.Len(t, seen, 32, "embedded 2048-bit keys are distinct")

	// Two pools hand out the same embedded keys in the same order.
	a, b := certstest.NewKeyPool(), certstest.NewKeyPool()
	ka, kb := a.MustRSA(t, 1024), b.MustRSA(t, 1024)
	assert.True(t, ka.Equal(kb))
	assert.Equal(t, 1024, ka.N.BitLen())

	// Beyond the embedded keys a pool generates (1024 bits: cheap enough here).
	small := certstest.NewKeyPool()
	var keys []*rsa.PrivateKey
	for i := 0; i < certstest.EmbeddedKeys(1024)+1; i++ {
		keys = append(keys, small.MustRSA(t, 1024))
	}
	for i := 0; i < certstest.EmbeddedKeys(1024); i++ {
		assert.False(t, keys[i].Equal(keys[len(keys)-1]), "generated key %d differs from embedded ones", i)
	}

	// Reuse starts over instead of generating.
	re := &certstest.KeyPool{Reuse: true}
	first := re.MustRSA(t, 1024)
	for i := 1; i < certstest.EmbeddedKeys(1024); i++ {
		re.MustRSA(t, 1024)
	}
	assert.True(t, first.Equal(re.MustRSA(t, 1024)))

	// Cycle is round-robin and independent of RSA's position.
	cy := certstest.NewKeyPool()
	c1 := cy.Cycle
	k1, err := c1(3072)
	require.NoError(t, err)
	k2, err := c1(3072)
	require.NoError(t, err)
	k3, err := c1(3072)
	require.NoError(t, err)
	assert.Equal(t, 3072, k1.N.BitLen())
	assert.False(t, k1.Equal(k2))
	assert.True(t, k1.Equal(k3))
	assert.Equal(t, 0, certstest.EmbeddedKeys(4096))

	ec, err := cy.ECDSA()
	require.NoError(t, err)
	assert.Equal(t, "P-256", ec.Curve.Params().Name)
}

func TestKeyPoolConcurrent(t *testing.T) {
	p := certstest.NewKeyPool()
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				k, err := p.RSA(2048)
				if err != nil {
					t.Error(err)
					return
				}
				c, err := p.Cycle(2048)
				if err != nil || c == nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[k.N.String()]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, seen, 32, "32 concurrent takes get 32 different keys")
}

func TestProvisioningChainOptions(t *testing.T) {
	keys := &certstest.KeyPool{Reuse: true}
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys, Now: fixedNow})
	cases := []struct {
		name  string
		opts  certstest.ProvisioningOptions
		check func(t *testing.T, c *certstest.ProvisioningChain)
		codes []amt.FindingCode
	}{
		{"default", certstest.ProvisioningOptions{}, func(t *testing.T, c *certstest.ProvisioningChain) {
			require.Len(t, c.Chain, 3)
			assert.Equal(t, certstest.DefaultFQDN, c.Leaf().Subject.CommonName)
			assert.Equal(t, c.Root.RootCertificate(), c.Chain[2])
			assert.Equal(t, c.Issuer.Certificate(), c.Chain[1])
		}, nil},
		{"no intermediate", certstest.ProvisioningOptions{NoIntermediate: true}, func(t *testing.T, c *certstest.ProvisioningChain) {
			require.Len(t, c.Chain, 2)
			assert.Same(t, c.Root, c.Issuer)
		}, nil},
		{"three intermediates", certstest.ProvisioningOptions{Intermediates: 3}, func(t *testing.T, c *certstest.ProvisioningChain) {
			require.Len(t, c.Chain, 5)
			ordered, err := certs.OrderChain([]*x509.Certificate{c.Chain[3], c.Chain[0], c.Chain[4], c.Chain[2], c.Chain[1]})
			require.NoError(t, err)
			assert.Equal(t, c.Chain, ordered)
		}, nil},
		{"wildcard", certstest.ProvisioningOptions{FQDN: "*.example.com"}, func(t *testing.T, c *certstest.ProvisioningChain) {
			assert.Equal(t, "*.example.com", c.Leaf().Subject.CommonName)
		}, nil},
		{"OU only", certstest.ProvisioningOptions{Marker: certs.MarkerOU}, nil, []amt.FindingCode{certs.CodeUsageOUOnly}},
		{"no marker", certstest.ProvisioningOptions{Marker: certs.MarkerNone}, nil, []amt.FindingCode{certs.CodeUsageMarkerMissing}},
		{"SHA-1", certstest.ProvisioningOptions{SHA1: true}, func(t *testing.T, c *certstest.ProvisioningChain) {
			assert.Equal(t, x509.SHA1WithRSA, c.Leaf().SignatureAlgorithm)
		}, []amt.FindingCode{certs.CodeWeakSignature}},
		{"short key", certstest.ProvisioningOptions{LeafBits: 1024}, nil, []amt.FindingCode{certs.CodeKeyTooShort}},
		{"ECDSA", certstest.ProvisioningOptions{LeafECDSA: true}, nil, []amt.FindingCode{certs.CodeKeyNotRSA}},
		{"expired", certstest.ProvisioningOptions{Expired: true}, func(t *testing.T, c *certstest.ProvisioningChain) {
			assert.Equal(t, t0.Add(-certs.Day), c.Leaf().NotAfter)
		}, []amt.FindingCode{certs.CodeExpired}},
		{"own root", certstest.ProvisioningOptions{Root: nil, RootOptions: certstest.CAOptions{SHA1: true, KeyBits: 1024}}, func(t *testing.T, c *certstest.ProvisioningChain) {
			assert.NotEqual(t, root.RootCertificate(), c.Chain[2])
		}, []amt.FindingCode{certs.CodeKeyTooShort, certs.CodeWeakRootSignature}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Keys, o.Now = keys, fixedNow
			if tc.name != "own root" {
				o.Root = root
			}
			c := certstest.MustProvisioningChain(t, o)
			require.NoError(t, c.CheckKey())
			if tc.check != nil {
				tc.check(t, c)
			}
			got := certs.CheckProvisioning(c.Chain, c.Key, certs.ProvisioningOptions{Now: fixedNow, DeviceHashes: rootHashes(c)})
			assert.Equal(t, tc.codes, got.Codes(), "%v", got)
		})
	}
}

func rootHashes(c *certstest.ProvisioningChain) []amt.CertHash {
	return []amt.CertHash{c.RootHash(amt.HashSHA256)}
}

func TestCAIssueRevokeCRL(t *testing.T) {
	keys := &certstest.KeyPool{Reuse: true}
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys, Now: fixedNow})
	ca, err := root.NewIntermediate(certstest.CAOptions{})
	require.NoError(t, err)
	assert.Same(t, root, ca.RootCA())
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt.example.com"})
	require.NoError(t, err)
	tmpl.NotBefore, tmpl.NotAfter = time.Time{}, time.Time{}
	amtKey := keys.MustRSA(t, 2048)
	chain, err := ca.Issue(t.Context(), tmpl, amtKey.Public())
	require.NoError(t, err)
	require.Len(t, chain, 3)
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: ca.Pool(), Intermediates: poolOf(chain[1]), CurrentTime: t0, DNSName: "amt.example.com"})
	require.NoError(t, err)
	assert.Equal(t, t0.Add(-certs.DefaultBackdate), chain[0].NotBefore)

	require.NoError(t, ca.Revoke(t.Context(), chain[0], certs.RevocationSuperseded))
	crl, der, err := ca.CRL(0)
	require.NoError(t, err)
	parsed, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.NoError(t, parsed.CheckSignatureFrom(ca.Certificate()))
	require.Len(t, crl.RevokedCertificateEntries, 1)
	assert.Equal(t, chain[0].SerialNumber, crl.RevokedCertificateEntries[0].SerialNumber)
	assert.Equal(t, int(certs.RevocationSuperseded), crl.RevokedCertificateEntries[0].ReasonCode)
	assert.Equal(t, t0.Add(7*certs.Day), crl.NextUpdate)
	crl2, _, err := ca.CRL(time.Hour)
	require.NoError(t, err)
	assert.Equal(t, int64(2), crl2.Number.Int64(), "CRL numbers increase")
	assert.ErrorIs(t, certs.CheckCRL(chain[0], crl, t0, certs.CRLOptions{Issuer: ca.Certificate()}), certs.ErrRevoked)
}

func poolOf(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}
