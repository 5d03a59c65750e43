package provisioning_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// An issuance recorded in flight (a renewal died after its certificate was
// issued and before the outcome was recorded) whose key handle AMT has since
// given to another key — the key was deleted, by another tool or a lost
// delete's retry, and AMT reuses handle numbers. Settling it must not delete
// that other key: the key at the handle is checked against the issued
// certificate first (before, it was deleted by handle alone).
func TestSettleIssuedLeavesAReusedKeyHandleAlone(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	admin := adminDeviceFor(t, d, rec)

	// Another tool's key, at the handle the lost issuance had.
	other, err := admin.GenerateKeyPair(h.ctx, amt.KeyAlgorithmRSA, 2048)
	require.NoError(t, err)
	// The certificate the lost issuance had issued, for a key AMT deleted
	// since (never on the device now).
	lost, err := testKeys().RSA(2048)
	require.NoError(t, err)
	leaf, err := h.issuer.ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: rec.Inventory.FQDN},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}, lost.Public())
	require.NoError(t, err)

	r, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	r.Certificates = append(r.Certificates, provisioning.DeviceCertificate{Purpose: provisioning.PurposeTLS, Pending: true,
		KeyHandle: other, DER: leaf.Raw, NotAfter: leaf.NotAfter})
	require.NoError(t, h.store.Save(h.ctx, r))

	_, err = h.provisioner().Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	kps, err := admin.KeyPairs(h.ctx)
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(kps, func(k amt.KeyPair) bool { return k.InstanceID == other }), "the other key at the reused handle is still on the device")
}
