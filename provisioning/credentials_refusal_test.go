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

// A device whose MEBx password was changed before amtkit came (the session
// was refused and recorded none) under the default-only policy: every later
// SetMEBxPassword is refused. A rotation whose refusal is lost and whose
// resend is refused made the record claim the refused password (found by
// review, which wrote this test).
func TestMEBxRotationRefusalLostUnknownPassword(t *testing.T) {
	operator := amt.NewSecret("Operator1!x")
	h, dr := newDropHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.MEBxPolicy = amtsim.MEBxDefaultOnly
		c.MEBxPassword = operator
	}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.Equal(t, amt.ControlModeACM, rec.ControlMode)
	require.True(t, rec.MEBxPassword.IsZero(), "the session was refused: the record knows no MEBx password")

	rotateMEBxReplyLost(t, h, dr, p, rec.UUID) // refused; the refusal is lost

	_, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
	require.NoError(t, err)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.True(t, d.MEBxPasswordIs(operator), "the device kept the operator's password")
	assert.True(t, after.MEBxPassword.IsZero() || d.MEBxPasswordIs(after.MEBxPassword),
		"the record claims a MEBx password the device refused")
}

// A profile that fixes the MEBx password, applied to a device whose MEBx
// password was changed before amtkit came (default-only policy): the session
// is refused and records none, and from then on every reconcile sends the
// password again, is refused again and reports a failed change: it never
// converges. Each run is one more chance for a lost refusal, which (test
// above) makes the record claim the profile's password.
//
// Now only an explicit rotation sends it to such a device (found by review,
// which wrote this test).
func TestFixedMEBxPasswordRefusedConverges(t *testing.T) {
	operator := amt.NewSecret("Operator1!x")
	h, dr := newDropHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.MEBxPolicy = amtsim.MEBxDefaultOnly
		c.MEBxPassword = operator
	}})
	fleet := amt.NewSecret("Mebx-Fleet-9!")
	setProfile(h, provisioning.Profile{MEBxPassword: fleet})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.True(t, rec.MEBxPassword.IsZero(), "refused during provisioning: none recorded")
	for i := range 3 {
		rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
		require.NoError(t, err)
		assert.NoError(t, rep.Err(), "run %d: the refusal the session already saw is reported again (%d changes)", i, len(rep.Changes))
	}
	// And once the refusal's reply is lost, the record adopts the profile's password.
	dr.arm("SetMEBxPassword", amtsim.DropResponse)
	_, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
	require.NoError(t, err)
	_, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
	require.NoError(t, err)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.True(t, d.MEBxPasswordIs(operator))
	assert.False(t, after.MEBxPassword.Equal(fleet), "the record claims the profile's MEBx password, which the device refused")
}

// A user whose per-device random password the record holds; the profile then
// fixes a password, and the firmware refuses the UpdateUserAclEntryEx (a
// refusal the simulator stands in with RefuseFunc). The device keeps the
// random password, but the record had already replaced it with the fixed
// one: the only copy of the password the device has was gone (found by
// review, which wrote this test). A new password is now recorded as being
// sent, and current only once the device took it.
func TestRefusedUserUpdateKeepsDevicePassword(t *testing.T) {
	helpdesk := provisioning.UserAccount{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork}
	var refuse atomic.Bool
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.Behavior.RefuseFunc = func(method, _ string, _ int) amt.Status {
			if method == "UpdateUserAclEntryEx" && refuse.Load() {
				return amt.StatusNotPermitted
			}
			return amt.StatusSuccess
		}
	}})
	setProfile(h, provisioning.Profile{Users: []provisioning.UserAccount{helpdesk}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.Len(t, rec.Users, 1)
	random := rec.Users[0].Password
	require.True(t, d.UserDigestIs("helpdesk", amt.DigestA1("helpdesk", d.DigestRealm(), random)))

	changed := helpdesk
	changed.Password = amt.NewSecret("Help-Desk-Pa55!")
	setProfile(h, provisioning.Profile{Users: []provisioning.UserAccount{changed}})
	refuse.Store(true)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	require.ErrorIs(t, rep.Err(), amt.StatusNotPermitted, "refused by the firmware")

	recorded := func() amt.Secret {
		after, err := h.store.Load(h.ctx, rec.UUID)
		require.NoError(t, err)
		for _, u := range after.Users {
			if u.Name == "helpdesk" {
				return u.Password
			}
		}
		return amt.Secret{}
	}
	require.True(t, d.UserDigestIs("helpdesk", amt.DigestA1("helpdesk", d.DigestRealm(), random)), "the device kept its password")
	assert.True(t, recorded().Equal(random), "the record knows the password the device has")

	refuse.Store(false)
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.True(t, d.UserDigestIs("helpdesk", amt.DigestA1("helpdesk", d.DigestRealm(), changed.Password)))
	assert.True(t, recorded().Equal(changed.Password), "taken once the device took it")
}

// Digest user names are unique on the device (AddUserAclEntryEx answers 2058
// PT_STATUS_DUPLICATE): a profile naming a user twice, or as the admin
// account, would fail every session at its configure step. Validate refuses
// it (found by review).
func TestProfileDuplicateUserNames(t *testing.T) {
	for name, users := range map[string][]provisioning.UserAccount{
		"same name twice": {
			{Name: "bob", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork},
			{Name: "bob", Realms: []amt.Realm{amt.RealmHardwareAsset}, Access: amt.AccessNetwork},
		},
		"admin's name": {{Name: "admin", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork}},
	} {
		t.Run(name, func(t *testing.T) {
			prof := provisioning.Profile{Name: "p", Users: users}
			var ce *provisioning.ConfigError
			require.ErrorAs(t, prof.Validate(), &ce)
			assert.Contains(t, ce.Problem, "unique")
		})
	}
}
