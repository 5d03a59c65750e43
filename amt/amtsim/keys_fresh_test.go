package amtsim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
)

// Firmware generates every key afresh: a device never hands out a key it
// generated before, also after deleting it — the pooled keys the simulator
// uses would otherwise come round again (found by review: a key generated
// twice confused a crash-recovery test depending on the pool's position).
func TestGenerateKeyPairNeverRepeatsAKey(t *testing.T) {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	// The pool holds 32 keys of this size and cycles: 34 keys go round it.
	_, c := provisioned(t, keys, pc, func(cfg *amtsim.Config) { cfg.Keys = amtsim.PoolKeys(keys) })
	dev := amt.NewDevice(c)
	seen := map[string]bool{}
	for i := range 34 {
		h, err := dev.GenerateKeyPair(ctx, amt.KeyAlgorithmRSA, 2048)
		require.NoError(t, err, "key %d", i)
		kp, err := dev.KeyPair(ctx, h)
		require.NoError(t, err)
		assert.False(t, seen[string(kp.DERKey)], "key %d was generated before", i)
		seen[string(kp.DERKey)] = true
		require.NoError(t, dev.DeleteKeyPair(ctx, h))
	}
}

// selfSignedRoot makes a CA certificate for key, as a RADIUS or MPS root a
// test adds to the device.
func selfSignedRoot(t *testing.T, key *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Contoso RADIUS CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// A key AMT generates is fresh: it is never the key of a certificate the
// device holds, and a trusted root is no key pair's certificate — deleting a
// key pair is not refused because a root happens to share its public key.
// The simulator's pooled keys are shared with the roots tests add: a device
// generated the key of the RADIUS root it trusted, then refused to delete that
// key as in use, which failed a crash-recovery test depending on the pool's
// position (TestCrashSweep8021X, run with other tests).
func TestGenerateKeyPairNotACertificatesKey(t *testing.T) {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	var fixed atomic.Pointer[rsa.PrivateKey]
	src := amtsim.KeySourceFunc(func(bits int) (*rsa.PrivateKey, error) {
		if k := fixed.Load(); k != nil {
			return k, nil
		}
		return keys.Cycle(bits)
	})
	_, c := provisioned(t, keys, pc, func(cfg *amtsim.Config) { cfg.Keys = src })
	dev := amt.NewDevice(c)
	der := func(k *rsa.PrivateKey) []byte {
		b := x509.MarshalPKCS1PublicKey(&k.PublicKey)
		return b
	}

	// The root is on the device; every pooled key is now its key.
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, err = dev.AddTrustedRootCertificate(ctx, selfSignedRoot(t, k1))
	require.NoError(t, err)
	fixed.Store(k1)
	h, err := dev.GenerateKeyPair(ctx, amt.KeyAlgorithmRSA, 2048)
	require.NoError(t, err)
	kp, err := dev.KeyPair(ctx, h)
	require.NoError(t, err)
	assert.NotEqual(t, der(k1), kp.DERKey, "the generated key is a certificate's the device holds")
	require.NoError(t, dev.DeleteKeyPair(ctx, h))

	// The root added after the key: deleting the key is not refused.
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	fixed.Store(k2)
	h, err = dev.GenerateKeyPair(ctx, amt.KeyAlgorithmRSA, 2048)
	require.NoError(t, err)
	fixed.Store(nil)
	kp, err = dev.KeyPair(ctx, h)
	require.NoError(t, err)
	require.Equal(t, der(k2), kp.DERKey)
	root, err := dev.AddTrustedRootCertificate(ctx, selfSignedRoot(t, k2))
	require.NoError(t, err)
	require.NoError(t, dev.SetIEEE8021xCertificates(ctx, root, ""), "the root in use: the RADIUS server's issuer")
	assert.NoError(t, dev.DeleteKeyPair(ctx, h), "a trusted root is not the key pair's certificate")
}
