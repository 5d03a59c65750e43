package provisioning_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// A device whose MEBx password was set at the keyboard before amtkit came
// (default policy: no further change). The first attempt's SetMEBxPassword is
// refused and the session records no MEBx password (DoneMEBxPassword, zero
// password). The attempt then dies at the next step (SetAdminAclEntryEx
// applied, its reply lost). The resumed attempt generated a fresh MEBx
// password because the session's was zero, never sent it (DoneMEBxPassword
// is set) and verify made it the record's: the record claimed a MEBx
// password the device never took.
func TestCrashResumeAfterMEBxRefusedRecordsNoMEBxPassword(t *testing.T) {
	user := amt.NewSecret("Set-At-The-Keyboard-1")
	h, dr := newDropHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.MEBxPassword = user }})
	p := h.provisioner()
	d := h.fleet.Devices()[0]

	dr.arm("SetAdminAclEntryEx", amtsim.DropResponse)
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err, "the first attempt dies with the admin password's reply lost")
	mid, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, mid.Session)
	require.True(t, mid.Session.Done.Has(provisioning.DoneMEBxPassword))
	require.True(t, mid.Session.MEBxPassword.IsZero(), "refused: the session records none")

	// A new provisioner on the same store resumes.
	q := h.provisioner()
	rec, err := q.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	require.Equal(t, provisioning.StateProvisioned, rec.State)
	assert.True(t, d.MEBxPasswordIs(user), "the device kept the password set at the keyboard")
	assert.True(t, d.AdminPasswordIs(rec.AdminPassword))
	assert.True(t, rec.MEBxPassword.IsZero() || d.MEBxPasswordIs(rec.MEBxPassword),
		"the record claims a MEBx password the device never took")
}
