package provisioning_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// setHostName changes a provisioned device's host name behind the
// Provisioner's back (someone used another console).
func setHostName(t *testing.T, h *harness, p *provisioning.Provisioner, u amt.UUID, host string) {
	t.Helper()
	dev, err := p.OpenDevice(h.ctx, u)
	require.NoError(t, err)
	defer dev.Close()
	_, err = dev.SetHostName(h.ctx, host, "contoso.com")
	require.NoError(t, err)
}

func TestReconcileNames(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	setHostName(t, h, p, rec.UUID, "someone-else")

	plan, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	require.Len(t, plan.Changes, 1, "%v", plan.Changes)
	c := plan.Changes[0]
	assert.Equal(t, "names", c.Area)
	assert.Equal(t, `names: update host and domain name "someone-else.contoso.com" → "pc-a0.contoso.com"`, c.String())
	assert.Equal(t, "someone-else", h.fleet.Devices()[0].Snapshot().HostName, "a dry run changes nothing")

	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Applied)
	assert.NoError(t, rep.Err())
	assert.Equal(t, "pc-a0", h.fleet.Devices()[0].Snapshot().HostName)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, after.Reconciled.IsZero())
	assert.Empty(t, after.ReconcileError)

	again, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	assert.Empty(t, again.Changes, "in line: nothing to change")
}

func TestReconcileClock(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	clock.Advance(2 * time.Hour) // the device's clock is now two hours behind ours
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"clock"}})
	require.NoError(t, err)
	require.Len(t, rep.Changes, 1)
	assert.Equal(t, "clock", rep.Changes[0].Area)
	assert.Regexp(t, `^2h0m[01]s off$`, rep.Changes[0].From, "the device's clock has whole seconds")
	assert.WithinDuration(t, clock.Now(), h.fleet.Devices()[0].Snapshot().Clock, 10*time.Second)
	again, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"clock"}})
	require.NoError(t, err)
	assert.Empty(t, again.Changes)
}

// Rotating the admin password: recorded before it is sent, read back by
// signing in with it, then current; the old one no longer works.
func TestReconcileRotatesAdminPassword(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	old := rec.AdminPassword
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateAdminPassword: true, Areas: []string{"credentials"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Equal(t, 1, rep.Applied)
	for _, c := range rep.Changes {
		assert.NotContains(t, c.String(), old.Reveal(), "no secret in a change")
	}
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, after.AdminPassword.Equal(old))
	assert.True(t, after.PendingAdminPassword.IsZero())
	assert.True(t, d.AdminPasswordIs(after.AdminPassword))
	assert.False(t, d.AdminPasswordIs(old))
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	defer dev.Close()
	_, err = dev.SetupAndConfiguration(h.ctx)
	require.NoError(t, err, "the record's password signs in")
}

// The Maintainer reconciles devices on its schedule.
func TestMaintainerReconciles(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	setHostName(t, h, p, rec.UUID, "drifted")
	m := p.Maintainer()
	m.ReconcileEvery = 24 * time.Hour
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Reconciled, "never reconciled: due")
	assert.Equal(t, 1, rep.Changes)
	assert.Equal(t, "pc-a0", h.fleet.Devices()[0].Snapshot().HostName)
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Reconciled, "reconciled an hour ago at most: not due")
	clock.Advance(25 * time.Hour) // due again; the device's clock is now a day behind ours
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Reconciled)
	assert.Equal(t, 1, rep.Changes, "the clock, re-synchronised")
}

// A dry run prints the difference, for an operator.
func ExampleProvisioner_Reconcile() {
	ctx := context.Background()
	p, uuid, rename := exampleProvisioned(ctx)
	rename("someone-else")

	plan, _ := p.Reconcile(ctx, uuid, provisioning.ReconcileOptions{DryRun: true})
	for _, c := range plan.Changes {
		fmt.Println("would", c)
	}
	rep, _ := p.Reconcile(ctx, uuid, provisioning.ReconcileOptions{})
	fmt.Println(rep.Applied, "applied;", strings.Count(fmt.Sprint(rep.Changes), "failed"), "failed")
	// Output:
	// would names: update host and domain name "someone-else.contoso.com" → "pc-0042.contoso.com"
	// 1 applied; 0 failed
}

// Rotating the MEBx password: recorded as pending before it is sent, current
// once the device took it. Firmware whose policy allows one change from the
// factory default (the session made it) refuses with PT_STATUS_NOT_PERMITTED:
// the record keeps the password the device still has and nothing is pending.
func TestReconcileRotatesMEBxPassword(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy amtsim.MEBxPolicy
		ok     bool
	}{
		{"firmware allows it", amtsim.MEBxAnytime, true},
		{"firmware allows one change only", amtsim.MEBxDefaultOnly, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.MEBxPolicy = tc.policy }})
			p, rec := provisionOne(t, h)
			d := h.fleet.Devices()[0]
			old := rec.MEBxPassword
			require.False(t, old.IsZero())
			require.True(t, d.MEBxPasswordIs(old), "the session set the MEBx password")

			rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateMEBxPassword: true, Areas: []string{"credentials"}})
			require.NoError(t, err)
			require.Len(t, rep.Changes, 1)
			assert.Equal(t, "MEBx password", rep.Changes[0].Target)
			after, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			assert.True(t, after.PendingMEBxPassword.IsZero(), "nothing is left pending")
			if tc.ok {
				require.NoError(t, rep.Err())
				assert.Equal(t, 1, rep.Applied)
				assert.False(t, after.MEBxPassword.Equal(old))
				assert.True(t, d.MEBxPasswordIs(after.MEBxPassword), "the record holds the device's new password")
				assert.False(t, d.MEBxPasswordIs(old))
				return
			}
			require.ErrorIs(t, rep.Err(), amt.StatusNotPermitted)
			assert.Equal(t, 1, rep.Failed)
			assert.True(t, after.MEBxPassword.Equal(old), "the record keeps the password the device still has")
			assert.True(t, d.MEBxPasswordIs(old))
		})
	}
}

// In client control mode the firmware refuses SetMEBxPassword: a profile's
// fixed MEBx password is not planned at all, and an explicit rotation fails
// with ErrMEBxInCCM before anything is sent. (The simulator is in admin
// control mode: a SetMEBxPassword sent would show as a change it took or
// refused with its own status.)
func TestReconcileLeavesMEBxAloneInCCM(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		t.Run(fmt.Sprintf("rotate=%v", rotate), func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			_, rec := provisionOne(t, h)
			d := h.fleet.Devices()[0]
			stored, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			stored.ControlMode = amt.ControlModeCCM // as host-based client control activation leaves it
			require.NoError(t, h.store.Save(h.ctx, stored))
			fixed := amt.NewSecret("Fixed-MEBx-2026!")
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{MEBxPassword: fixed}
			p := h.provisioner()

			rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateMEBxPassword: rotate, Areas: []string{"credentials"}})
			require.NoError(t, err)
			if rotate {
				require.Len(t, rep.Changes, 1)
				require.ErrorIs(t, rep.Err(), provisioning.ErrMEBxInCCM)
			} else {
				assert.Empty(t, rep.Changes, "a fixed MEBx password does not apply in client control mode")
				require.NoError(t, rep.Err())
			}
			assert.False(t, d.MEBxPasswordIs(fixed))
			assert.True(t, d.MEBxPasswordIs(stored.MEBxPassword), "nothing was sent")
			after, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			assert.True(t, after.MEBxPassword.Equal(stored.MEBxPassword))
			assert.True(t, after.PendingMEBxPassword.IsZero())
		})
	}
}
