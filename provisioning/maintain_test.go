package provisioning_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/provisioning"
)

type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func provisionOne(t *testing.T, h *harness) (*provisioning.Provisioner, *provisioning.DeviceRecord) {
	t.Helper()
	p := h.provisioner()
	rec, err := p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	require.NoError(t, err)
	return p, rec
}

func TestMaintainerRenewsInsideWindow(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	m := p.Maintainer()

	// Outside the window: nothing to do.
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, provisioning.MaintenanceReport{}, rep, "nothing is due: the store's filter does not even yield the device")

	// 41 days before expiry: inside the 42-day renewal window.
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed)
	assert.Equal(t, 1, rep.Revoked)
	assert.Equal(t, 1, rep.Removed, "the replaced certificate and its key are deleted from the device")

	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, ok := got.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	assert.NotEqual(t, old.DER, cur.DER)
	assert.True(t, cur.NotAfter.After(old.NotAfter))
	snap := h.fleet.Devices()[0].Snapshot()
	require.NotNil(t, snap.TLSAppliedCertificate)
	assert.Equal(t, cur.DER, snap.TLSAppliedCertificate.Raw, "the device serves the renewed certificate")
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, certs.RevocationSuperseded, revs[0].Reason)
	assert.Equal(t, old.DER, revs[0].Certificate.Raw)
	for _, c := range snap.Certificates {
		assert.NotEqual(t, old.DER, c.Certificate.Raw, "the old certificate is gone from the device")
	}
	for _, dc := range got.Certificates {
		assert.Equal(t, bytes.Equal(dc.DER, old.DER), dc.RemovedFromDevice, "only the replaced certificate is marked removed")
	}

	// The renewed device is still managed with the new certificate.
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Renewed)
	assert.Equal(t, 0, rep.Failed)
	assert.Equal(t, 0, rep.Removed, "nothing left to delete")
}

func TestMaintainerWirelessNotRenewable(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	rec.Inventory.Wireless = true
	require.NoError(t, h.store.Save(h.ctx, rec))
	clock.Advance(330 * 24 * time.Hour)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.NotRenewable)
	assert.Equal(t, 0, rep.Renewed)
	assert.Empty(t, h.issuer.revocations())
}

func TestUnprovisionAndBlockRevoke(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	// Updating the device's data revokes nothing.
	rec.Inventory.Profile = provisioning.DefaultProfileName
	require.NoError(t, h.store.Save(h.ctx, rec))
	assert.Empty(t, h.issuer.revocations())

	require.NoError(t, p.Unprovision(h.ctx, rec.UUID))
	assert.Equal(t, amt.PreProvisioning, h.fleet.Devices()[0].Snapshot().ProvisioningState)
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, certs.RevocationSuperseded, revs[0].Reason)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateNew, got.State)

	require.NoError(t, p.Block(h.ctx, rec.UUID))
	_, err = p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	assert.Equal(t, provisioning.ReasonNotApproved, provisioning.ReasonOf(err))
}

func TestReprovisionRevokesEarlierCertificate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	first, _ := rec.CurrentCertificate(provisioning.PurposeTLS)
	// The device is unprovisioned locally (MEBx), then sends hellos again.
	d := h.fleet.Devices()[0]
	dev := adminDeviceFor(t, d, rec)
	require.NoError(t, dev.Unprovision(h.ctx))
	require.Eventually(t, func() bool { return d.Snapshot().ProvisioningState == amt.PreProvisioning }, 5*time.Second, 10*time.Millisecond)
	// A full unprovision drops user-added root hashes; the integrator adds its
	// root again (setup.bin) before re-provisioning.
	require.NoError(t, d.AddRootHash(amtsim.RootHash{Name: "Contoso test root", Hash: h.chain.Bundle.RootHash(amt.HashSHA256), Active: true}))
	rec2, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	second, _ := rec2.CurrentCertificate(provisioning.PurposeTLS)
	assert.NotEqual(t, first.DER, second.DER)
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, first.DER, revs[0].Certificate.Raw)
}

func TestMaintainerBundleExpiryAndAgeOut(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{noInventory: true, config: func(c *provisioning.Config) {
		c.Now = clock.Now
		c.RecordUnknownDevices = true
	}})
	p := h.provisioner()
	m := p.Maintainer()
	assert.Empty(t, m.CheckBundles(h.ctx))
	clock.Advance(time.Until(h.chain.Bundle.NotAfter()) - 30*24*time.Hour)
	ev := m.CheckBundles(h.ctx)
	require.Len(t, ev, 1)
	assert.Equal(t, provisioning.ReasonBundleExpiryWarning, ev[0].Reason)
	assert.Contains(t, ev[0].Detail, "7210")
	clock.Advance(20 * 24 * time.Hour)
	ev = m.CheckBundles(h.ctx)
	require.Len(t, ev, 1)
	assert.Equal(t, provisioning.ReasonBundleExpiryError, ev[0].Reason)
	assert.Contains(t, ev[0].Detail, "7211")

	// An unknown device leaves a discovery record, aged out after 90 days.
	_, err := p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	require.Error(t, err)
	_, err = h.store.Load(h.ctx, h.fleet.Devices()[0].UUID())
	require.NoError(t, err)
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.AgedOut)
	clock.Advance(91 * 24 * time.Hour)
	rep, err = m.RunOnce(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.AgedOut)
	_, err = h.store.Load(h.ctx, h.fleet.Devices()[0].UUID())
	assert.ErrorIs(t, err, provisioning.ErrNotFound)
}

// A replaced certificate that cannot be deleted right after the renewal (the
// connection drops, as when AMT restarts its network stack) is deleted at the
// next run.
func TestMaintainerRemovesReplacedCertificateLater(t *testing.T) {
	clock := &fakeClock{}
	var drop atomic.Bool
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) { c.Now = clock.Now; c.CallTimeout = 2 * time.Second },
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.DropFunc = func(op, uri string, _ int) amtsim.Drop {
				if op == "Delete" && strings.HasSuffix(uri, "AMT_PublicKeyCertificate") && drop.CompareAndSwap(true, false) {
					return amtsim.DropRequest
				}
				return amtsim.DropNone
			}
		},
	})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	m := p.Maintainer()
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	drop.Store(true)
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed)
	assert.Equal(t, 0, rep.Removed, "the delete was dropped")

	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Renewed)
	assert.Equal(t, 1, rep.Removed, "tried again at the next run")
	for _, c := range h.fleet.Devices()[0].Snapshot().Certificates {
		assert.NotEqual(t, old.DER, c.Certificate.Raw)
	}
}
