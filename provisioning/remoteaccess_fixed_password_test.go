package provisioning_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A profile that gave every device the same MPS password (the audit's
// cira-fleet-password finding) and is then changed as the audit advises —
// the password left empty for a random one per device — gives each device a
// new random password. Before, the fleet password the record held was taken
// for the device's own random one: reconcile found it in line and kept it,
// so that one device still exposed the credentials of all (found by
// review).
func TestReconcileMPSFixedPasswordToRandom(t *testing.T) {
	var h *harness
	rig := startMPS(t, func() provisioning.Store { return h.store })
	fleet := amt.NewSecret("Fl33t-Mps!pass")
	fixed := rig.profile()
	fixed.MPS.Username, fixed.MPS.Password = "fleet", fleet
	h = newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: fixed}
	}})
	_, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	conn := rig.accept(t, h.ctx, d)
	assert.Equal(t, "fleet", conn.User)
	before, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.True(t, before.MPSPassword.Equal(fleet))

	random := rig.profile()
	random.MPS.Username = "fleet" // the password alone changes
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: random}
	p := h.provisioner()
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.NotEmpty(t, rep.Changes, "the MPS entry is made again with a new password")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, after.MPSPassword.Equal(fleet), "the fleet password is no longer the device's")
	assert.Equal(t, 16, after.MPSPassword.Len(), "a random 16-character password")
	again := rig.accept(t, h.ctx, d) // the MPS checks the recorded password
	assert.Equal(t, "fleet", again.User)

	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes, "in line")
	last, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, last.MPSPassword.Equal(after.MPSPassword), "the random password is kept")
}
