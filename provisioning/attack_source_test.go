package provisioning_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// A rogue's hello arrives first and its session is authorized while the
// record holds nothing; the rogue then stalls its connect-back while the real
// device is provisioned beside it; then it answers (UUID-only approval).
// It must not take over the freshly provisioned record. (Only
// changedSinceAuthorize stops it: with that check removed every other test
// of the package passed.)
func TestAttackSlowRogueWakesAfterRealDeviceProvisioned(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	victim := h.fleet.Devices()[0]
	rogue, err := h.fleet.StartRogue(victim, amtsim.RogueNoOnDie)
	require.NoError(t, err)
	gate := make(chan struct{})
	dial := h.cfg.Dial
	h.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == rogue.TLSAddr() {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return dial(ctx, network, addr)
	}
	p := h.provisioner()
	type result struct {
		rec *provisioning.DeviceRecord
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := p.Provision(h.ctx, h.helloFrom(rogue))
		done <- result{rec, err}
	}()
	require.Eventually(t, func() bool {
		for _, s := range p.Sessions() {
			if s.State() == provisioning.StateAuthorized {
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)

	real, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.NoError(t, err)
	before := snapshotRecord(t, h, victim.UUID())
	issued, revoked := len(h.issuer.issued), len(h.issuer.revocations())

	close(gate)
	r := <-done
	require.Error(t, r.err, "the rogue must not be provisioned over the real device's record")
	assert.NotEqual(t, amt.PostProvisioning, rogue.Snapshot().ProvisioningState)
	assert.Len(t, h.issuer.issued, issued)
	assert.Len(t, h.issuer.revocations(), revoked)
	assertUnchanged(t, h, victim.UUID(), before)
	assert.True(t, victim.AdminPasswordIs(real.AdminPassword))
}

// A rogue's session that began before the real device proved itself ends a
// step (here: its connect-back fails) in the moment between the real
// device's session taking the lease and its first save. The real device's
// save loses the compare-and-swap and is merged over the rogue's discovery
// write: the record kept the rogue's Source, and the read-back after the
// commit went to the rogue's address: the real device was provisioned
// (committed, new admin password) but its session ended failed and the
// record pointed at the rogue. The proven session's Source now stands.
func TestAttackRogueDiscoveryWriteKeepsProvenSource(t *testing.T) {
	var releaseRogue func()
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
			if op == "ExtendProvisioningPeriod" && releaseRogue != nil {
				f := releaseRogue
				releaseRogue = nil
				f()
			}
			return amtsim.DropNone
		}
	}})
	victim := h.fleet.Devices()[0]
	otp := amt.NewSecret("0tp-Agent-31")
	require.NoError(t, victim.StartConfiguration(otp))
	rogue, err := h.fleet.StartRogue(victim, amtsim.RogueNoOnDie)
	require.NoError(t, err)

	gate := make(chan struct{})
	var rogueDials atomic.Int32
	dial := h.cfg.Dial
	h.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == rogue.TLSAddr() && rogueDials.Add(1) == 1 {
			// The rogue's own session: held, then its connect-back fails.
			select {
			case <-gate:
				return nil, &net.OpError{Op: "dial", Net: network, Err: errRefused}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return dial(ctx, network, addr)
	}
	p := h.provisioner()
	require.NoError(t, p.ExpectAgentRequest(h.ctx, provisioning.AgentRequest{UUID: victim.UUID(), OTP: otp}))

	rogueDone := make(chan error, 1)
	go func() {
		_, err := p.Provision(h.ctx, h.helloFrom(rogue))
		rogueDone <- err
	}()
	require.Eventually(t, func() bool {
		for _, s := range p.Sessions() {
			if s.State() == provisioning.StateAuthorized {
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)
	// The real device's session proves itself by its OTP; as it extends its
	// provisioning window (a device round trip), the rogue's stalled
	// connect-back fails and its outcome is written.
	releaseRogue = func() {
		close(gate)
		<-rogueDone
	}

	vh := h.helloFrom(victim)
	rec, err := p.Provision(h.ctx, vh)
	assert.Equal(t, amt.PostProvisioning, victim.Snapshot().ProvisioningState, "the real device took the commit")
	assert.NoError(t, err, "the real device, which proved itself by its OTP, is provisioned")
	assert.Equal(t, vh.Source, rec.Source, "the record points at the device that proved itself")
	assert.Equal(t, int32(1), rogueDials.Load(), "nothing of the real device's session is sent to the rogue's address")
	stored, lerr := h.store.Load(h.ctx, victim.UUID())
	require.NoError(t, lerr)
	assert.Equal(t, vh.Source, stored.Source, "the stored record points at the device that proved itself")
	assert.Equal(t, provisioning.StateProvisioned, stored.State)
}

var errRefused = errorString("connection refused (rogue)")

type errorString string

func (e errorString) Error() string { return string(e) }
