package provisioning_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// Unprovision, Reconcile and RotatePSK of a device the store has no record of
// name the device and where its record was looked for, as OpenDevice does:
// the bare "no record for device" said neither which device nor what to
// check (found by an integrator's console).
func TestNoRecordErrorNamesTheDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := h.provisioner()
	u, err := amt.ParseUUID("8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c")
	require.NoError(t, err)

	err = p.Unprovision(h.ctx, u)
	require.ErrorIs(t, err, provisioning.ErrNotFound)
	assert.Contains(t, err.Error(), u.String())
	assert.Contains(t, err.Error(), "Config.Store")

	_, err = p.Reconcile(h.ctx, u, provisioning.ReconcileOptions{})
	require.ErrorIs(t, err, provisioning.ErrNotFound)
	assert.Contains(t, err.Error(), u.String())
}

// An Unprovision that cannot reach the device fails with the reason of what
// happened (a timeout, a refused connection), as Reconcile's events do, not
// device-error, which says the device answered with an error status (found
// by an integrator's console).
func TestUnprovisionUnreachableReason(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 2})
	p := h.provisioner()
	var recs []*provisioning.DeviceRecord
	for _, d := range h.fleet.Devices() {
		rec, err := p.Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	hung, gone := h.fleet.Devices()[0], h.fleet.Devices()[1]
	hung.SetUnresponsive(true)
	defer hung.SetUnresponsive(false)
	require.NoError(t, gone.Close())

	ctx, cancel := context.WithTimeout(h.ctx, 500*time.Millisecond)
	defer cancel()
	err := p.Unprovision(ctx, recs[0].UUID)
	require.ErrorIs(t, err, provisioning.ErrFailed)
	assert.Equal(t, provisioning.ReasonTimeout, provisioning.ReasonOf(err), "%v", err)

	err = p.Unprovision(h.ctx, recs[1].UUID)
	require.ErrorIs(t, err, provisioning.ErrFailed)
	assert.Equal(t, provisioning.ReasonConnectFailed, provisioning.ReasonOf(err), "%v", err)

	for _, rec := range recs {
		for _, e := range h.eventsFor(rec.UUID) {
			if e.Step == provisioning.StepUnprovision {
				assert.NotEqual(t, provisioning.ReasonDeviceError, e.Reason, "%v", e.Err)
			}
		}
	}
}
