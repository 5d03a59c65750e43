package provisioning_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// A provisioned device (CSME 16.1+, no On-Die CA) whose remote TLS was
// turned off by someone else (another console, a host-based agent) serves
// its own self-signed certificate again — the very certificate it showed
// in pre-provisioning, with its key — while it is still provisioned with the
// admin password amtkit set. Reconcile must not settle it as unprovisioned:
// that clears the only copy of the admin password the device still uses and
// revokes certificates.
func TestReconcileTLSTurnedOffIsNotUnprovisioned(t *testing.T) {
	h, rec, d := provisionedWithTLSOff(t)
	m := h.provisioner().Maintainer()
	m.ReconcileEvery = time.Nanosecond
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	t.Logf("report: Reconciled %d ReconcileFailed %d", rep.Reconciled, rep.ReconcileFailed)

	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the device is still provisioned")
	assert.True(t, after.Provisioned(), "the record of a device still provisioned must say so (state %s)", after.State)
	assert.True(t, d.AdminPasswordIs(after.AdminPassword), "the admin password the device still uses must stay in the record")
	for _, c := range after.Certificates {
		assert.False(t, c.Revoked, "certificate %q of a device still provisioned must not be revoked", c.Handle)
	}
}

// Unprovision's retry on the same device: the call fails (the device does
// not serve the certificate amtkit installed), and the check that a device
// serving its own certificate is back in pre-provisioning reads its state
// first (it asks for no client certificate), so the record of a device still
// provisioned is not settled as unprovisioned.
func TestUnprovisionTLSTurnedOffIsNotUnprovisioned(t *testing.T) {
	h, rec, d := provisionedWithTLSOff(t)
	err := h.provisioner().Unprovision(h.ctx, rec.UUID)
	require.Error(t, err, "the device was not unprovisioned")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
	assert.True(t, after.Provisioned(), "the record of a device still provisioned says so")
	assert.True(t, d.AdminPasswordIs(after.AdminPassword), "the admin password the device uses stays in the record")
	for _, c := range after.Certificates {
		assert.False(t, c.Revoked, "certificate %q not revoked", c.Handle)
	}
}

// provisionedWithTLSOff provisions a simulated device with a TLS profile, then
// turns its remote TLS off behind the Provisioner's back (another console):
// the device, still provisioned, serves its own certificate again.
func provisionedWithTLSOff(t *testing.T) (*harness, *provisioning.DeviceRecord, *amtsim.Device) {
	t.Helper()
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	s, err := dev.TLSSetting(h.ctx, amt.TLSRemoteInstanceID)
	require.NoError(t, err)
	s.Enabled = false
	_, err = dev.PutTLSSettings(h.ctx, s)
	require.NoError(t, err)
	require.NoError(t, dev.CommitChanges(h.ctx))
	dev.Close()
	require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
	return h, rec, d
}
