package provisioning_test

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// Divergence 6: AMT 22 binds only a SHA-384-signed leaf over an ECC P-384 key
// to its TLS. The engine asks the Issuer for SHA-384 (IssueRequest.
// MinSignatureHash) and refuses an Issuer's SHA-256-signed leaf before it
// reaches the device, with a message that says why; provisioning.CA honours
// the request and the device provisions.
func TestEngineAMT22TLSCertificateHash(t *testing.T) {
	opts := harnessOptions{
		template: func(c *amtsim.Config) { c.Version = amt.MustParseVersion("22.0.0") },
		chain:    certstest.ProvisioningOptions{Leaf: func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }},
	}
	t.Run("an Issuer that signs with SHA-256", func(t *testing.T) {
		h := newHarness(t, opts)
		d := h.fleet.Devices()[0]
		_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
		require.Error(t, err)
		assert.Equal(t, provisioning.ReasonIssueFailed, provisioning.ReasonOf(err))
		assert.Contains(t, err.Error(), "SHA256-RSA")
		assert.Contains(t, err.Error(), "SHA-384")
		assert.Empty(t, d.Snapshot().Certificates, "nothing was added to the device")
	})
	t.Run("provisioning.CA", func(t *testing.T) {
		h := newHarness(t, opts)
		ca, err := provisioning.NewCA(h.issuer.ca.Bundle, provisioning.CAOptions{})
		require.NoError(t, err)
		h.cfg.Issuer = ca
		d := h.fleet.Devices()[0]
		rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		assert.Equal(t, provisioning.StateProvisioned, rec.State)
		snap := d.Snapshot()
		require.NotNil(t, snap.TLSAppliedCertificate)
		assert.Equal(t, x509.SHA384WithRSA, snap.TLSAppliedCertificate.SignatureAlgorithm)
		assert.Equal(t, x509.KeyUsageDigitalSignature, snap.TLSAppliedCertificate.KeyUsage, "no keyEncipherment on AMT 22's EC key")
	})
}
