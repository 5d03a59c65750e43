package provisioning_test

import (
	"testing"

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
