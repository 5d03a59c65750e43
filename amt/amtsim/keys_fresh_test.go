package amtsim_test

import (
	"context"
	"testing"

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
