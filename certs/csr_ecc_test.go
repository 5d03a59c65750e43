package certs_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
)

// AMT 22 generates ECC P-384 TLS keys (amt.Firmware.TLSKeyAlgorithm): a
// request for such a key is built, null-signed with an ECDSA placeholder and
// assembled from an ECDSA signature; algorithms of the other key type are
// refused. Before, every non-RSA key gave ErrPublicKey.
func TestAMTRequestECDSA(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "amt-22.example.com"}}, &k.PublicKey)
	require.NoError(t, err)
	null, err := x509.ParseCertificateRequest(req.NullSigned())
	require.NoError(t, err)
	assert.Equal(t, x509.ECDSAWithSHA384, null.SignatureAlgorithm)
	assert.True(t, k.PublicKey.Equal(null.PublicKey))

	sum := sha512.Sum384(req.Info)
	sig, err := k.Sign(rand.Reader, sum[:], crypto.SHA384)
	require.NoError(t, err)
	der, err := req.Assemble(x509.ECDSAWithSHA384, sig, true)
	require.NoError(t, err)
	csr, err := req.Verify(der)
	require.NoError(t, err)
	assert.Equal(t, "amt-22.example.com", csr.Subject.CommonName)
	_, err = req.Assemble(x509.SHA256WithRSA, sig, false)
	require.ErrorIs(t, err, certs.ErrInvalidOption, "an RSA algorithm for an ECDSA key")
	_, err = req.Assemble(x509.ECDSAWithSHA256, sig, true)
	require.ErrorIs(t, err, certs.ErrSignature, "signed over SHA-384, announced as SHA-256")

	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	require.NoError(t, err)
	_, err = certs.NewAMTRequest(nil, &p521.PublicKey)
	require.ErrorIs(t, err, certs.ErrPublicKey, "AMT makes no P-521 keys")
}
