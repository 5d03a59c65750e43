package provisioning_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// A MEBx-password rotation whose reply was lost (the device took the new
// password), then a resend the firmware answers with a transient failure
// (PT_STATUS_INTERNAL_ERROR, not a policy refusal). Before, any status was
// read as "refused: the device kept its password" and the pending password
// was dropped: the record went on claiming the old MEBx password while the
// device held the new one, which no copy kept (found by review, which wrote
// this test). Only a policy refusal (PT_STATUS_NOT_PERMITTED), as in the
// session, drops it now; the next run sends it again and settles.
func TestMEBxRotationTransientStatusKeepsPending(t *testing.T) {
	var fail atomic.Bool
	h, dr := newDropHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.MEBxPolicy = amtsim.MEBxAnytime
		c.Behavior.RefuseFunc = func(method, _ string, _ int) amt.Status {
			if method == "SetMEBxPassword" && fail.CompareAndSwap(true, false) {
				return amt.StatusInternalError
			}
			return amt.StatusSuccess
		}
	}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	mid := rotateMEBxReplyLost(t, h, dr, p, rec.UUID)
	require.False(t, mid.PendingMEBxPassword.IsZero())
	require.True(t, d.MEBxPasswordIs(mid.PendingMEBxPassword), "the first send took")

	fail.Store(true)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
	require.NoError(t, err)
	require.ErrorIs(t, rep.Err(), amt.StatusInternalError, "the resend failed")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.PendingMEBxPassword.Equal(mid.PendingMEBxPassword), "the password the device holds is kept pending")
	assert.True(t, d.MEBxPasswordIs(after.MEBxPassword) || d.MEBxPasswordIs(after.PendingMEBxPassword),
		"the record still holds the device's MEBx password")

	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	settled, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, settled.PendingMEBxPassword.IsZero())
	assert.True(t, d.MEBxPasswordIs(settled.MEBxPassword))
}
