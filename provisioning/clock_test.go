package provisioning_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The session's clock step, as MeshCentral's bare-metal server takes it
// (amtprovisioningserver.js, attemptSyncClockEx): AMT's clock is read, set
// only when it is more than 10 s off, and a device that refuses the set does
// not stop the provisioning (nor does it in rpc-go's TLS configuration).
func TestSessionClock(t *testing.T) {
	for _, tc := range []struct {
		name     string
		offset   time.Duration
		refusals int
		detail   string // in the configure step's record
		set      bool   // the device's clock is ours afterwards
		calls    int    // SetHighAccuracyTimeSynch requests
	}{
		{name: "within 10 s", offset: -3 * time.Second, detail: `clock within 10s`, calls: 0},
		{name: "two hours behind", offset: -2 * time.Hour, detail: `clock set (was 2h0m0s off)`, set: true, calls: 1},
		{name: "a day ahead", offset: 24 * time.Hour, detail: `clock set (was 24h0m0s off)`, set: true, calls: 1},
		{name: "refused", offset: -2 * time.Hour, refusals: 1,
			detail: `clock 2h0m0s off, left as it is: the device refused the set (PT_STATUS_INVALID_PARAMETER (36))`, calls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The device and the provisioner read one clock that stands
			// still on a whole second: the drift measured is the offset,
			// exactly. On the real clock it was the offset plus the time
			// between the device's reading (whole seconds) and the
			// provisioner's; past half a second on a loaded machine the
			// detail read 2h0m2s or 23h59m58s.
			now := time.Now().Truncate(time.Second)
			clock := func() time.Time { return now }
			var calls atomic.Int32
			h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock }, device: func(_ int, c *amtsim.Config) {
				c.Now = clock
				c.ClockOffset = tc.offset
				c.Behavior.TimeSyncRefusals = tc.refusals
				c.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
					if op == "SetHighAccuracyTimeSynch" {
						calls.Add(1)
					}
					return amtsim.DropNone
				}
			}})
			p := h.provisioner()
			d := h.fleet.Devices()[0]
			rec, err := p.Provision(h.ctx, h.helloFrom(d))
			require.NoError(t, err)
			require.Equal(t, provisioning.StateProvisioned, rec.State)
			var detail string
			for _, s := range rec.History {
				if s.Step == provisioning.StepConfigure {
					detail = s.Detail
				}
			}
			assert.Contains(t, detail, tc.detail)
			assert.Equal(t, tc.calls, int(calls.Load()), "SetHighAccuracyTimeSynch requests")
			want := now
			if !tc.set {
				want = want.Add(tc.offset)
			}
			assert.Equal(t, want.Unix(), d.Snapshot().Clock.Unix(), "the device's clock")
		})
	}
}

// The Maintainer sets AMT's clock before it renews a certificate, as a
// session does before it binds one and as MeshCentral does on every
// management connection (amtmanager.js: attemptSyncClock, then
// attemptTlsSync): a device whose clock lost time while it was off would
// take the renewed certificate as not yet valid. Here the provisioner's
// clock moves eleven months on and the device's stays behind. A profile
// with SkipClockSync leaves the clock alone here too.
func TestMaintainerSetsClockBeforeRenewal(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("SkipClockSync=%v", skip), func(t *testing.T) {
			clock := &fakeClock{}
			h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
				c.Now = clock.Now
				for name, prof := range c.Profiles {
					prof.SkipClockSync = skip
					c.Profiles[name] = prof
				}
			}})
			p, rec := provisionOne(t, h)
			old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			d := h.fleet.Devices()[0]

			clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
			rep, err := p.Maintainer().RunOnce(h.ctx)
			require.NoError(t, err)
			require.Equal(t, 1, rep.Renewed)
			want := clock.Now()
			if skip {
				want = time.Now()
			}
			assert.WithinDuration(t, want, d.Snapshot().Clock, 10*time.Second)
		})
	}
}

// Before it is provisioned AMT checks the provisioning certificate's
// validity against its own clock, which nobody can set yet (the time
// synchronisation service needs the admin account): a clock days behind
// takes a recently issued certificate for one not yet valid, a clock a year
// ahead an expiring one for one expired. The device aborts the handshake,
// and the session fails with tls-refused (docs/troubleshooting.md names the
// device's clock among the causes). Within the bundle's validity the session
// provisions and then sets the clock.
func TestRemoteConfigurationByTheDeviceClock(t *testing.T) {
	// The test chain's leaf is valid from two days ago for a year.
	for _, tc := range []struct {
		name   string
		offset time.Duration
		reason provisioning.Reason // empty: provisioned
	}{
		{name: "a day behind", offset: -24 * time.Hour},
		{name: "three days behind", offset: -72 * time.Hour, reason: provisioning.ReasonTLSRefused},
		{name: "a month ahead", offset: 30 * 24 * time.Hour},
		{name: "thirteen months ahead", offset: 400 * 24 * time.Hour, reason: provisioning.ReasonTLSRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.ClockOffset = tc.offset }})
			d := h.fleet.Devices()[0]
			rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			if tc.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, provisioning.StateProvisioned, rec.State)
				assert.WithinDuration(t, time.Now(), d.Snapshot().Clock, 10*time.Second, "the session set the clock")
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.reason, provisioning.ReasonOf(err))
			assert.Equal(t, provisioning.StateFailed, rec.State)
		})
	}
}
