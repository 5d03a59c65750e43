package provisioning_test

import (
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The read-back proves the commit by the provisioning state alone (remote
// configuration always ends in admin control, so the control mode is not
// read): a device still reporting in-provisioning after the commit, here for
// longer than the session reads it, is not recorded as provisioned although
// it reports admin control.
func TestReadBackDecidesByTheProvisioningState(t *testing.T) {
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Behavior.CommitSettleReads = 100 }})
	d := h.fleet.Devices()[0]
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	t.Logf("%v", err)
	assert.Equal(t, amt.ControlModeACM, d.Snapshot().ControlMode, "the device reports admin control")
	if rec != nil {
		assert.NotEqual(t, provisioning.StateProvisioned, rec.State)
	}
	assert.Contains(t, err.Error(), "not in post-provisioning admin control mode: state In")
	assert.Equal(t, provisioning.ReasonVerifyFailed, provisioning.ReasonOf(err))
}
