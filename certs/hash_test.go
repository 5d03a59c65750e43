package certs_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

func mustHash(t testing.TB, s string) amt.CertHash {
	t.Helper()
	h, err := amt.ParseCertHash(s)
	require.NoError(t, err)
	return h
}

// TestRootHashOpenSSL compares RootHash with the fingerprints OpenSSL printed for
// a public root.
func TestRootHashOpenSSL(t *testing.T) {
	g2, v := digicertG2(t)
	for _, tc := range []struct {
		alg  amt.HashAlgorithm
		want string
	}{
		{amt.HashSHA1, v.SHA1}, {amt.HashSHA256, v.SHA256}, {amt.HashSHA384, v.SHA384}, {amt.HashSHA512, v.SHA512},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			got := certs.RootHash(g2, tc.alg)
			assert.Equal(t, tc.alg, got.Alg)
			assert.Equal(t, strings.ToLower(strings.ReplaceAll(tc.want, ":", "")), got.Hex())
		})
	}
	unknown := certs.RootHash(g2, amt.HashAlgorithm(9))
	assert.Nil(t, unknown.Sum)
	assert.Nil(t, certs.RootHash(nil, amt.HashSHA256).Sum)
}

func TestMatchRoot(t *testing.T) {
	g2, v := digicertG2(t)
	chain := []*x509.Certificate{g2}
	other := mustHash(t, "45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda") // Go Daddy G2
	hex256 := strings.ReplaceAll(v.SHA256, ":", "")
	cases := []struct {
		name   string
		hashes []amt.CertHash
		want   string // hex of the matched hash, "" for no match
	}{
		{"SHA-256 upper case with colons", []amt.CertHash{other, mustHash(t, v.SHA256)}, strings.ToLower(hex256)},
		{"SHA-256 lower case", []amt.CertHash{mustHash(t, strings.ToLower(hex256))}, strings.ToLower(hex256)},
		{"SHA-256 with spaces", []amt.CertHash{mustHash(t, strings.ReplaceAll(v.SHA256, ":", " "))}, strings.ToLower(hex256)},
		{"SHA-1", []amt.CertHash{mustHash(t, v.SHA1)}, strings.ToLower(strings.ReplaceAll(v.SHA1, ":", ""))},
		{"SHA-384", []amt.CertHash{mustHash(t, v.SHA384)}, strings.ToLower(strings.ReplaceAll(v.SHA384, ":", ""))},
		{"SHA-512", []amt.CertHash{mustHash(t, v.SHA512)}, strings.ToLower(strings.ReplaceAll(v.SHA512, ":", ""))},
		{"not in list", []amt.CertHash{other}, ""},
		{"empty list", nil, ""},
		{"right digest, wrong algorithm label", []amt.CertHash{{Alg: amt.HashSHA384, Sum: mustHash(t, v.SHA256).Sum}}, ""},
		{"unknown algorithm skipped", []amt.CertHash{{Alg: 4, Sum: make([]byte, 28)}, mustHash(t, v.SHA256)}, strings.ToLower(hex256)},
		{"truncated digest skipped", []amt.CertHash{{Alg: amt.HashSHA256, Sum: mustHash(t, v.SHA256).Sum[:31]}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := certs.MatchRoot(chain, tc.hashes)
			assert.Equal(t, tc.want != "", ok)
			assert.Equal(t, tc.want, h.Hex())
		})
	}
	_, ok := certs.MatchRoot(nil, []amt.CertHash{mustHash(t, v.SHA256)})
	assert.False(t, ok)
}

func TestIdentifyRoot(t *testing.T) {
	g2, _ := digicertG2(t)
	info, ok := certs.IdentifyRoot(g2)
	require.True(t, ok)
	assert.Equal(t, "DigiCert Global Root G2", info.Label)
	f := newFixture(t)
	_, ok = certs.IdentifyRoot(f.root.RootCertificate())
	assert.False(t, ok)
}

func TestBundle(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{NotAfter: t0.Add(100 * certs.Day)})
	b := c.Bundle
	assert.Equal(t, c.Chain[0], b.Leaf())
	assert.Equal(t, c.Chain[2], b.Root())
	assert.Nil(t, certs.Bundle{Chain: c.Chain[:2]}.Root(), "a chain without its root has none")
	assert.Nil(t, certs.Bundle{}.Leaf())
	assert.Nil(t, certs.Bundle{}.Root())

	// Validity window: latest NotBefore, earliest NotAfter.
	assert.Equal(t, t0.Add(-certs.DefaultBackdate), b.NotBefore())
	assert.Equal(t, t0.Add(100*certs.Day), b.NotAfter())
	require.NoError(t, b.ValidAt(t0))
	err := b.ValidAt(t0.Add(101 * certs.Day))
	require.ErrorIs(t, err, certs.ErrExpired)
	var ve *certs.ValidityError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, 0, ve.Index)
	assert.Contains(t, err.Error(), "CN=prov.example.com")
	require.ErrorIs(t, b.ValidAt(t0.Add(-certs.DefaultBackdate-time.Hour)), certs.ErrNotYetValid)
	require.ErrorIs(t, certs.Bundle{}.ValidAt(t0), certs.ErrNoCertificates)

	// Root hashes and matching.
	_, v := digicertG2(t)
	h := b.RootHash(amt.HashSHA256)
	want := sha256.Sum256(c.Root.RootCertificate().Raw)
	assert.Equal(t, amt.CertHash{Alg: amt.HashSHA256, Sum: want[:]}, h)
	m, ok := b.MatchRoot([]amt.CertHash{mustHash(t, v.SHA256), h})
	assert.True(t, ok)
	assert.True(t, m.Equal(h))
	top := sha256.Sum256(c.Chain[1].Raw)
	_, ok = certs.Bundle{Chain: c.Chain[:2]}.MatchRoot([]amt.CertHash{{Alg: amt.HashSHA256, Sum: top[:]}})
	assert.False(t, ok, "a chain without root never matches, even by its top certificate")
	assert.Nil(t, certs.Bundle{Chain: c.Chain[:2]}.RootHash(amt.HashSHA256).Sum)

	// DNS suffix coverage.
	assert.NoError(t, b.Covers("sales.example.com"))
	assert.ErrorIs(t, b.Covers("fabrikam.com"), amt.ErrSuffixMismatch)
	assert.ErrorIs(t, certs.Bundle{}.Covers("example.com"), certs.ErrNoCertificates)

	// Keys.
	require.NoError(t, b.CheckKey())
	other := f.chain(t, certstest.ProvisioningOptions{})
	assert.ErrorIs(t, certs.Bundle{Chain: b.Chain, Key: other.Key}.CheckKey(), certs.ErrKeyMismatch)
	assert.ErrorIs(t, certs.Bundle{Chain: b.Chain}.CheckKey(), certs.ErrNoKey)
	_, err = certs.NewBundle([]*x509.Certificate{b.Chain[2], b.Chain[0], b.Chain[1]}, other.Key)
	assert.ErrorIs(t, err, certs.ErrKeyMismatch)
	nb, err := certs.NewBundle([]*x509.Certificate{b.Chain[2], b.Chain[0], b.Chain[1]}, b.Key)
	require.NoError(t, err)
	assert.Equal(t, b.Chain, nb.Chain)

	// TLS: whole chain, root included, leaf first.
	tc := b.TLSCertificate()
	require.Len(t, tc.Certificate, 3)
	for i := range b.Chain {
		assert.Equal(t, b.Chain[i].Raw, tc.Certificate[i])
	}
	assert.Equal(t, b.Key, tc.PrivateKey)
	assert.Equal(t, b.Leaf(), tc.Leaf)
	get := b.GetClientCertificate()
	got, err := get(&tls.CertificateRequestInfo{AcceptableCAs: [][]byte{[]byte("unrelated")}})
	require.NoError(t, err)
	assert.Equal(t, tc.Certificate, got.Certificate)
	assert.Equal(t, tc.Certificate, b.CertificatesDER())
}
