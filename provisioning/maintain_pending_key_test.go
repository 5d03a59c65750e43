package provisioning_test

import (
	"crypto"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// pendingGone recorded the gone pending certificate RemovedFromDevice, which
// also stopped removeSuperseded from ever deleting its key pair: a cleanup
// tool that prunes unbound certificates (not keys) left the key in AMT's key
// store for good, one per such renewal (the store fills: MAX_LIMIT_REACHED).
// The key is deleted now.
func TestPendingGoneDeletesItsKey(t *testing.T) {
	clock := &fakeClock{}
	h, dr := newDropHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	dr.armURI("Put", "TLSCredentialContext", amtsim.DropRequest)
	m := p.Maintainer()
	_, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	mid, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	var pending provisioning.DeviceCertificate
	for _, dc := range mid.Certificates {
		if dc.Pending && dc.Handle != "" {
			pending = dc
		}
	}
	require.NotEmpty(t, pending.KeyHandle)

	// Out of band: only the unbound certificate is deleted; its key stays.
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.NoError(t, dev.DeleteCertificate(h.ctx, pending.Handle))
	dev.Close()

	for week := 0; week < 4; week++ {
		clock.Advance(7 * 24 * time.Hour)
		_, err := m.RunOnce(h.ctx)
		require.NoError(t, err)
	}
	dev, err = p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	defer dev.Close()
	kp, err := dev.KeyPair(h.ctx, pending.KeyHandle)
	if err != nil {
		return // the key is gone (or its handle names nothing): as it should be
	}
	c, err := pending.Certificate()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	e, ok := c.PublicKey.(interface{ Equal(x crypto.PublicKey) bool })
	require.True(t, ok)
	kps, _ := dev.KeyPairs(h.ctx)
	t.Logf("keys on device: %d", len(kps))
	assert.False(t, e.Equal(pub), "the abandoned renewal's key pair is still on the device after 4 runs: nothing will delete it (RemovedFromDevice)")
}
