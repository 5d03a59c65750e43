package certs_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// hsmKey stands in for a key held in an HSM or TPM: it signs but cannot be exported.
type hsmKey struct{ k crypto.Signer }

func (h hsmKey) Public() crypto.PublicKey { return h.k.Public() }
func (h hsmKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return h.k.Sign(r, d, o)
}

var pw = amt.NewSecret("correct horse battery staple")

func TestPKCS12RoundTrip(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	for _, enc := range []certs.PKCS12Encoding{certs.PKCS12Modern2023, certs.PKCS12LegacyDES, certs.PKCS12LegacyRC2, certs.PKCS12Modern2026} {
		t.Run(pkcs12Name(enc), func(t *testing.T) {
			der, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{Encoding: enc})
			require.NoError(t, err)
			b, err := certs.LoadPKCS12(der, pw)
			require.NoError(t, err)
			assert.Equal(t, c.Chain, b.Chain)
			assert.True(t, c.Key.(*rsa.PrivateKey).Equal(b.Key))

			_, err = certs.LoadPKCS12(der, amt.NewSecret("wrong"))
			require.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
			assert.NotContains(t, err.Error(), "wrong")
		})
	}
	_, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{Encoding: 99})
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
}

func pkcs12Name(e certs.PKCS12Encoding) string {
	return [...]string{"Modern2023", "LegacyDES", "LegacyRC2", "Modern2026"}[e]
}

// TestPKCS12DefaultIsModern2023 checks the default encoding by its algorithm
// identifiers: PBES2 (1.2.840.113549.1.5.13) with AES-256-CBC
// (2.16.840.1.101.3.4.1.42) and an HMAC-SHA-256 MAC (2.16.840.1.101.3.4.2.1 in
// the MacData), and no PBMAC1 (1.2.840.113549.1.5.14).
func TestPKCS12DefaultIsModern2023(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	der, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{})
	require.NoError(t, err)
	pbes2 := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d}
	aes256 := []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a}
	sha256 := []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
	pbmac1 := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0e}
	assert.True(t, bytes.Contains(der, pbes2))
	assert.True(t, bytes.Contains(der, aes256))
	assert.True(t, bytes.Contains(der, sha256))
	assert.False(t, bytes.Contains(der, pbmac1))
}

func TestLoadPKCS12Order(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	// Root in the first bag, the way some exports come: DecodeChain would call
	// the root the leaf.
	der, err := pkcs12.Modern2023.Encode(c.Key, c.Chain[2], []*x509.Certificate{c.Chain[0], c.Chain[1]}, pw.Reveal())
	require.NoError(t, err)
	b, err := certs.LoadPKCS12(der, pw)
	require.NoError(t, err)
	assert.Equal(t, c.Chain, b.Chain)

	// A key that is not the leaf's.
	other := f.chain(t, certstest.ProvisioningOptions{})
	der, err = pkcs12.Modern2023.Encode(other.Key, c.Chain[0], c.Chain[1:], pw.Reveal())
	require.NoError(t, err)
	_, err = certs.LoadPKCS12(der, pw)
	assert.ErrorIs(t, err, certs.ErrKeyMismatch)

	// ECDSA keys load (the checks then report them).
	ec := f.chain(t, certstest.ProvisioningOptions{LeafECDSA: true})
	der, err = certs.EncodePKCS12(ec.Bundle, pw, certs.PKCS12Options{})
	require.NoError(t, err)
	b, err = certs.LoadPKCS12(der, pw)
	require.NoError(t, err)
	assert.Equal(t, x509.ECDSA, b.Leaf().PublicKeyAlgorithm)
}

func TestPKCS12Errors(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	_, err := certs.EncodePKCS12(certs.Bundle{Chain: c.Chain, Key: hsmKey{c.Key}}, pw, certs.PKCS12Options{})
	assert.ErrorIs(t, err, certs.ErrKeyNotExportable)
	_, err = certs.EncodePKCS12(certs.Bundle{Chain: c.Chain}, pw, certs.PKCS12Options{})
	assert.ErrorIs(t, err, certs.ErrNoKey)
	_, err = certs.EncodePKCS12(certs.Bundle{}, pw, certs.PKCS12Options{})
	assert.ErrorIs(t, err, certs.ErrNoCertificates)

	for _, in := range [][]byte{nil, {}, {0x30}, {0x30, 0x03, 0x02, 0x01, 0x03}, []byte("not a pfx"), make([]byte, certs.MaxFileSize+1)} {
		_, err := certs.LoadPKCS12(in, pw)
		assert.ErrorIs(t, err, certs.ErrMalformed, "%x", in[:min(len(in), 8)])
	}
	// Every strict prefix of a good file fails, none panics.
	der, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{})
	require.NoError(t, err)
	for i := 0; i < len(der); i++ {
		_, err := certs.LoadPKCS12(der[:i], pw)
		require.Error(t, err, "prefix %d of %d", i, len(der))
	}
}

func TestPEM(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	key := c.Key.(*rsa.PrivateKey)
	certPEM := func(i int) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Chain[i].Raw}))
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPKCS8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	keyPKCS1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	ec := f.chain(t, certstest.ProvisioningOptions{LeafECDSA: true})
	ecDER, err := x509.MarshalECPrivateKey(ec.Key.(*ecdsa.PrivateKey))
	require.NoError(t, err)
	keySEC1 := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))
	encrypted := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"
	bagAttrs := "Bag Attributes\n    localKeyID: 01 02 03\nsubject=CN = prov.example.com\n"

	cases := []struct {
		name    string
		in      string
		chain   []*x509.Certificate
		wantKey bool
		err     error
	}{
		{"leaf, chain, PKCS#8 key", certPEM(0) + certPEM(1) + certPEM(2) + keyPKCS8, c.Chain, true, nil},
		{"key first, root first", keyPKCS1 + certPEM(2) + certPEM(1) + certPEM(0), c.Chain, true, nil},
		{"OpenSSL bag attributes and comments", bagAttrs + certPEM(1) + "# comment\n" + bagAttrs + keyPKCS8 + certPEM(0) + certPEM(2), c.Chain, true, nil},
		{"unknown blocks ignored", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n" + certPEM(0) + certPEM(1) + certPEM(2), c.Chain, false, nil},
		{"certificates only", certPEM(2) + certPEM(0) + certPEM(1), c.Chain, false, nil},
		{"SEC 1 EC key", string(certs.EncodeCertificatesPEM(ec.Chain)) + keySEC1, ec.Chain, true, nil},
		{"CRLF line endings", strings.ReplaceAll(certPEM(0)+certPEM(1)+certPEM(2)+keyPKCS8, "\n", "\r\n"), c.Chain, true, nil},
		{"no certificate", keyPKCS8, nil, false, certs.ErrNoCertificates},
		{"empty", "", nil, false, certs.ErrNoCertificates},
		{"two keys", certPEM(0) + keyPKCS8 + keyPKCS1, nil, false, certs.ErrMultipleKeys},
		{"encrypted legacy key", certPEM(0) + encrypted, nil, false, certs.ErrEncryptedKey},
		{"encrypted PKCS#8 key", certPEM(0) + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", nil, false, certs.ErrEncryptedKey},
		{"key of another certificate", certPEM(0) + string(certs.EncodeCertificatesPEM(ec.Chain[1:])) + keySEC1, nil, false, certs.ErrKeyMismatch},
		{"garbage certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", nil, false, certs.ErrMalformed},
		{"garbage key", certPEM(0) + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", nil, false, certs.ErrMalformed},
		{"two leaves", certPEM(0) + string(certs.EncodeCertificatesPEM(ec.Chain[:1])) + certPEM(1), nil, false, certs.ErrMultipleLeaves},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := certs.LoadPEM([]byte(tc.in))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.chain, b.Chain)
			assert.Equal(t, tc.wantKey, b.Key != nil)
			if tc.wantKey {
				assert.NoError(t, b.CheckKey())
			}
		})
	}
	_, err = certs.LoadPEM(make([]byte, certs.MaxFileSize+1))
	assert.ErrorIs(t, err, certs.ErrMalformed)
}

func TestEncodePEM(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	out, err := certs.EncodePEM(c.Bundle)
	require.NoError(t, err)
	// Independent decoding: encoding/pem and x509 only.
	var types []string
	rest := out
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		types = append(types, blk.Type)
		if blk.Type == "CERTIFICATE" {
			assert.Equal(t, c.Chain[len(types)-1].Raw, blk.Bytes)
		} else {
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			require.NoError(t, err)
			assert.True(t, c.Key.(*rsa.PrivateKey).Equal(k))
		}
	}
	assert.Equal(t, []string{"CERTIFICATE", "CERTIFICATE", "CERTIFICATE", "PRIVATE KEY"}, types)
	assert.Empty(t, bytes.TrimSpace(rest))

	_, err = certs.EncodePEM(certs.Bundle{Chain: c.Chain, Key: (*rsa.PrivateKey)(nil)})
	assert.ErrorIs(t, err, certs.ErrNoKey)
	_, err = certs.EncodePKCS12(certs.Bundle{Chain: c.Chain, Key: (*rsa.PrivateKey)(nil)}, pw, certs.PKCS12Options{})
	assert.ErrorIs(t, err, certs.ErrNoKey)
	_, err = certs.EncodePEM(certs.Bundle{Chain: c.Chain, Key: hsmKey{c.Key}})
	assert.ErrorIs(t, err, certs.ErrKeyNotExportable)
	noKey, err := certs.EncodePEM(certs.Bundle{Chain: c.Chain})
	require.NoError(t, err)
	assert.Equal(t, 3, bytes.Count(noKey, []byte("BEGIN CERTIFICATE")))
	assert.NotContains(t, string(noKey), "PRIVATE")
}

func TestLoadAutodetect(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{})
	p12, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{})
	require.NoError(t, err)
	pemData, err := certs.EncodePEM(c.Bundle)
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString(p12)
	wrapped := ""
	for i := 0; i < len(b64); i += 64 {
		wrapped += b64[i:min(i+64, len(b64))] + "\n"
	}
	var ders []byte
	for _, x := range []*x509.Certificate{c.Chain[1], c.Chain[0], c.Chain[2]} {
		ders = append(ders, x.Raw...)
	}
	b, err := certs.Load(ders, pw)
	require.NoError(t, err, "DER certificates (.cer)")
	assert.Equal(t, c.Chain, b.Chain)
	assert.Nil(t, b.Key)
	for name, in := range map[string][]byte{"DER PKCS#12": p12, "PEM": pemData, "base64 PKCS#12": []byte(b64), "wrapped base64": []byte(wrapped)} {
		t.Run(name, func(t *testing.T) {
			b, err := certs.Load(in, pw)
			require.NoError(t, err)
			assert.Equal(t, c.Chain, b.Chain)
			assert.NoError(t, b.CheckKey())
		})
	}
	_, err = certs.Load(p12, amt.NewSecret("nope"))
	assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
	for _, in := range []string{"", "hello", "QUJD", "////"} {
		_, err := certs.Load([]byte(in), pw)
		assert.ErrorIs(t, err, certs.ErrMalformed, "%q", in)
	}
}
