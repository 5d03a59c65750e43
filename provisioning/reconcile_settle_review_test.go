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

// A device unprovisioned locally (its provisioning root a factory hash: the
// device still trusts the provisioning certificate) is reconciled while an
// admin password rotation is due — the profile's admin password changed (the
// Maintainer's run), or RotateAdminPassword. The rotation records the new
// password as pending before it sends anything, the send fails (the device no
// longer serves amtkit's certificate), and the reconcile settles the record
// as unprovisioned. The settled record must hold no admin password: before,
// it kept the pending one, which no device ever took.
func TestReconcileSettleClearsPendingAdminPassword(t *testing.T) {
	for _, maintainer := range []bool{true, false} {
		t.Run(map[bool]string{true: "profile changed, Maintainer", false: "RotateAdminPassword"}[maintainer], func(t *testing.T) {
			h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) {
				c.RootHashes, c.UserRootHashes = c.UserRootHashes, nil
			}})
			p, rec := provisionOne(t, h)
			d := h.fleet.Devices()[0]
			require.NoError(t, adminDeviceFor(t, d, rec).Unprovision(h.ctx))
			require.Eventually(t, func() bool { return d.Snapshot().ProvisioningState == amt.PreProvisioning }, 5*time.Second, 10*time.Millisecond)

			if maintainer {
				prof := h.cfg.Profiles[provisioning.DefaultProfileName]
				prof.AdminPassword = amt.NewSecret("N3w-Admin-Passw0rd!")
				h.cfg.Profiles = map[string]provisioning.Profile{provisioning.DefaultProfileName: prof}
				m := h.provisioner().Maintainer()
				m.ReconcileEvery = time.Nanosecond
				rep, err := m.RunOnce(h.ctx)
				require.NoError(t, err)
				assert.Zero(t, rep.ReconcileFailed)
			} else {
				_, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateAdminPassword: true})
				require.ErrorIs(t, err, provisioning.ErrNotProvisioned, "the device proves it is back in pre-provisioning")
			}
			assert.Contains(t, eventDetails(h.eventsFor(rec.UUID), provisioning.StepUnprovision), "found unprovisioned")
			after, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			require.False(t, after.Provisioned(), "settled")
			assert.True(t, after.AdminPassword.IsZero(), "admin password cleared")
			assert.True(t, after.PendingAdminPassword.IsZero(), "no pending admin password kept for a device that holds none of amtkit's")
		})
	}
}
