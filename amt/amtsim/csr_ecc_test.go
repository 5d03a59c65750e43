package amtsim_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// certs' request route end to end with AMT 22: GenerateKeyPair makes an ECC
// P-384 key, certs.NewAMTRequest builds and null-signs the request for it,
// GeneratePKCS10RequestEx signs it, and AMTRequest.Verify accepts what comes
// back (the ECC reading of SigningAlgorithm is the simulator's, unverified on
// a device).
func TestAMTRequestForECCKey(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{Leaf: func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }})
	_, c := provisioned384(t, pc, func(cfg *amtsim.Config) { cfg.Version = amt.MustParseVersion("22.0.0") })
	dev := amt.NewDevice(c)
	ctx := t.Context()
	id, err := dev.GenerateKeyPair(ctx, amt.KeyAlgorithmECC384, 384)
	require.NoError(t, err)
	kp, err := dev.KeyPair(ctx, id)
	require.NoError(t, err)
	pub, err := certs.ParsePublicKey(kp.DERKey)
	require.NoError(t, err)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "amt-22.example.com"}}, pub)
	require.NoError(t, err)
	csr, err := dev.GeneratePKCS10RequestEx(ctx, id, amt.CSRSigningSHA384RSA, req.NullSigned())
	require.NoError(t, err)
	got, err := req.Verify(csr.Raw)
	require.NoError(t, err)
	assert.Equal(t, x509.ECDSAWithSHA384, got.SignatureAlgorithm)
	assert.Equal(t, "amt-22.example.com", got.Subject.CommonName)
}
