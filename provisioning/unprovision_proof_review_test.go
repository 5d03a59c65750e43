package provisioning_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/internal/testvectors"
)

// A device lists its root hashes under their own algorithm (SHA-1, SHA-256,
// SHA-384, SHA-512), and the record keeps the one that matched
// (MatchedRoot); Intel's factory table ([amt.DefaultRootHashes]) is SHA-256.
// A factory root recorded by its SHA-384 or SHA-1 hash, with no configured
// bundle ending at it any more (the operator moved to another CA), was taken
// for a user-added root: the TLS 1.2 relay's added CertificateRequest,
// refused for the same root recorded by SHA-256, settled the record of a
// device still provisioned (found by review). A root whose SHA-256 hash is
// not known may be a factory root: nothing less than a completed handshake
// is taken for it.
func TestAttackRelayFactoryRootRecordedByAnotherHash(t *testing.T) {
	root := reviewDigiCertG2(t)
	_, factory := amt.LookupDefaultRootHash(certs.RootHash(root, amt.HashSHA256))
	require.True(t, factory, "DigiCert Global Root G2 is one of Intel's factory hashes")
	for _, alg := range []amt.HashAlgorithm{amt.HashSHA256, amt.HashSHA384, amt.HashSHA1} {
		t.Run(alg.String(), func(t *testing.T) {
			h, rec, d := provisionedWithTLSOff(t)
			got, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			// Provisioned under that factory root; its bundle is no longer
			// configured (the test chain, ending at another root, is).
			got.MatchedRoot = certs.RootHash(root, alg)
			got.Bundle = ""
			require.NoError(t, h.store.Save(h.ctx, got))

			injected := relayBefore(h, d)
			err = h.provisioner().Unprovision(h.ctx, rec.UUID)
			require.Positive(t, injected.Load(), "the relay added a request for a client certificate")
			require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the device is still provisioned")
			require.ErrorContains(t, err, "no configured bundle ends at it")
			after, lerr := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, lerr)
			assert.True(t, after.Provisioned(), "the record of a device still provisioned says so")
			assert.True(t, d.AdminPasswordIs(after.AdminPassword), "the admin password the device uses stays in the record")
			for _, c := range after.Certificates {
				assert.False(t, c.Revoked, "certificate %q not revoked", c.Handle)
			}
		})
	}
}

// The user-added root of the test chain recorded by its SHA-384 hash, its
// bundle configured: the bundle tells its SHA-256 hash, not a factory one, and
// the documented limit applies as with a SHA-256 record (the relay's request
// is believed) — the fix above takes for factory only a root it cannot tell.
func TestAttackRelayUserRootRecordedByAnotherHash(t *testing.T) {
	h, rec, d := provisionedWithTLSOff(t)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	got.MatchedRoot = h.chain.Bundle.RootHash(amt.HashSHA384)
	got.Bundle = ""
	require.NoError(t, h.store.Save(h.ctx, got))
	injected := relayBefore(h, d)
	require.NoError(t, h.provisioner().Unprovision(h.ctx, rec.UUID), "the documented limit: the relay's request is believed")
	require.Positive(t, injected.Load())
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, after.Provisioned())
}

// reviewDigiCertG2 is the public DigiCert Global Root G2 certificate from the
// test vectors.
func reviewDigiCertG2(t *testing.T) *x509.Certificate {
	t.Helper()
	type vector struct {
		Name   string `json:"name"`
		PEM    string `json:"pem"`
		SHA1   string `json:"sha1"`
		SHA256 string `json:"sha256"`
		SHA384 string `json:"sha384"`
		SHA512 string `json:"sha512"`
	}
	v := testvectors.Load[vector](t, "certs_roothash").Vectors[0]
	blk, _ := pem.Decode([]byte(v.PEM))
	require.NotNil(t, blk)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	return c
}
