package provisioning_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// The users area carries profile changes to user accounts to devices
// provisioned earlier: a new user is added with its own password (recorded),
// a fixed password that changed is updated, a user the profile dropped is
// removed, and a device in line plans nothing. Before, only a session set
// users (found by review).
func TestReconcileUsers(t *testing.T) {
	helpdesk := provisioning.UserAccount{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork}
	audit := provisioning.UserAccount{Name: "audit", Realms: []amt.Realm{amt.RealmHardwareAsset}, Access: amt.AccessNetwork}
	h, dr := newDropHarness(t, harnessOptions{})
	setProfile(h, provisioning.Profile{Users: []provisioning.UserAccount{helpdesk}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	digestOK := func(name string) bool {
		r, err := h.store.Load(h.ctx, rec.UUID)
		require.NoError(t, err)
		for _, u := range r.Users {
			if u.Name == name {
				return d.UserDigestIs(name, amt.DigestA1(name, d.DigestRealm(), u.Password))
			}
		}
		return false
	}
	require.True(t, digestOK("helpdesk"))
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes, "in line after provisioning")

	// A user added to the profile; its add's reply lost once.
	setProfile(h, provisioning.Profile{Users: []provisioning.UserAccount{helpdesk, audit}})
	dr.arm("AddUserAclEntryEx", amtsim.DropResponse)
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	require.Error(t, rep.Err())
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Changes, 1, "the unconfirmed password is set again")
	assert.True(t, digestOK("audit"), "the record holds the new user's password")
	assert.True(t, digestOK("helpdesk"))

	// A fixed password for helpdesk.
	fixed := helpdesk
	fixed.Password = amt.NewSecret("Help-Desk-Pa55!")
	setProfile(h, provisioning.Profile{Users: []provisioning.UserAccount{fixed, audit}})
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.True(t, d.UserDigestIs("helpdesk", amt.DigestA1("helpdesk", d.DigestRealm(), fixed.Password)))

	// audit dropped from the profile.
	setProfile(h, provisioning.Profile{Users: []provisioning.UserAccount{fixed}})
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	_, ok := d.UserDigest("audit")
	assert.False(t, ok, "removed from the device")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.Len(t, after.Users, 1)
	assert.Equal(t, "helpdesk", after.Users[0].Name)
	for _, s := range after.NetworkSecrets {
		assert.NotContains(t, s.Name, "audit", "no mark of the removed user left")
		assert.NotContains(t, s.Name, "(sending)", "no send left unconfirmed")
	}

	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes)

	// The fixed password taken out of the profile, as the audit's
	// fixed-user-password finding advises: the device gets a random password
	// of its own. Before, the fleet password the record held was taken for
	// one drawn for this device and kept (found by the CIRA review's
	// suspicion; the MPS password had the same flaw).
	setProfile(h, provisioning.Profile{Users: []provisioning.UserAccount{helpdesk}})
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Changes, 1, "the fleet password is replaced")
	assert.False(t, d.UserDigestIs("helpdesk", amt.DigestA1("helpdesk", d.DigestRealm(), fixed.Password)), "the fleet password no longer works")
	assert.True(t, digestOK("helpdesk"), "the record holds the device's own password")
	random, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.Len(t, random.Users, 1)
	assert.False(t, random.Users[0].Password.Equal(fixed.Password))
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"users"}})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes, "in line: the random password is kept")
}
