package provisioning_test

import (
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A device unprovisioned by amtkit whose provisioning installed no
// certificate (a profile without TLS) leaves a record that holds the MEBx
// password the device still has (Unprovision keeps it on purpose), its pin
// and its On-Die verification. That record counts as a "discovery" record
// (DeviceRecord.discovery: no session, not provisioned, no certificates, not
// blocked), so the Maintainer ages it out and deletes it: the only copy of
// the device's MEBx password is lost.
func TestAgeOutKeepsAnUnprovisionedRecordWithItsMEBxPassword(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion("19.0.5") }})
	h.cfg.Now = clock.Now
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{}
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.False(t, rec.MEBxPassword.IsZero())
	require.NoError(t, p.Unprovision(h.ctx, rec.UUID))
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.True(t, after.MEBxPassword.Equal(rec.MEBxPassword), "Unprovision keeps the MEBx password")
	require.True(t, d.MEBxPasswordIs(rec.MEBxPassword), "the device keeps it too")

	clock.Advance(91 * 24 * time.Hour) // the device is left on a shelf
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.AgedOut, "a record holding the device's MEBx password is not a discovery record")
	kept, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err, "the record holding the only copy of the MEBx password was deleted")
	assert.True(t, kept.MEBxPassword.Equal(rec.MEBxPassword))
}
