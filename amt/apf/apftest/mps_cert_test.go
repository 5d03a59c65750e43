package apftest

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs/certstest"
)

// A nil key pool means a new one, as certstest's options do (CAOptions.Keys,
// ProvisioningOptions.Keys); it used to panic.
func TestNewMPSCertificateNilKeys(t *testing.T) {
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "MPS Root"})
	c, err := NewMPSCertificate(ca, nil, "mps.contoso.com")
	require.NoError(t, err)
	require.NotEmpty(t, c.Certificate)
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	assert.Equal(t, []string{"mps.contoso.com"}, leaf.DNSNames)
	pool := x509.NewCertPool()
	pool.AddCert(ca.RootCertificate())
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "mps.contoso.com"})
	assert.NoError(t, err)
}
