package provisioning_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
)

// A rotation that the firmware did not confirm lost the device's previous
// rotated pair. RotatePSK wrote the new PID to DeviceRecord.RotatedPID before
// it sent SetTLSPSK, and RotatedPID is the only pair a PSK hello re-provisions
// a provisioned device with; when SetTLSPSK then never reached the device (a
// dropped request, a crash between the save and the call) or the firmware
// refused it, the device kept the pair of its previous rotation, and that
// pair's hello — from the device itself — was refused (reprovision-refused)
// for good. The unconfirmed pair is now pending
// (DeviceRecord.PendingRotatedPID) beside the last confirmed one, and either
// re-provisions the device until a rotation is confirmed: both are reserved
// for the device and on no medium.
func TestAttackUnconfirmedRotationLosesPreviousPair(t *testing.T) {
	tests := []struct {
		name string
		fail func(*amtsim.Behavior, *atomic.Bool)
		// newHeld: the firmware took the new pair (its reply was lost).
		newHeld bool
	}{
		{name: "SetTLSPSK request lost", fail: func(b *amtsim.Behavior, armed *atomic.Bool) {
			b.DropFunc = func(op, _ string, _ int) amtsim.Drop {
				if armed.Load() && op == "SetTLSPSK" {
					return amtsim.DropRequest
				}
				return amtsim.DropNone
			}
		}},
		{name: "SetTLSPSK refused", fail: func(b *amtsim.Behavior, armed *atomic.Bool) {
			b.RefuseFunc = func(method, _ string, _ int) amt.Status {
				if armed.Load() && method == "SetTLSPSK" {
					return amt.StatusNotPermitted
				}
				return 0
			}
		}},
		{name: "SetTLSPSK reply lost", newHeld: true, fail: func(b *amtsim.Behavior, armed *atomic.Bool) {
			b.DropFunc = func(op, _ string, _ int) amtsim.Drop {
				if armed.Load() && op == "SetTLSPSK" {
					return amtsim.DropResponse
				}
				return amtsim.DropNone
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := pskx.GeneratePair(nil)
			require.NoError(t, err)
			store := &pskx.MemoryStore{}
			require.NoError(t, store.Put(context.Background(), pair))
			var armed atomic.Bool
			h := newHarness(t, harnessOptions{
				device: func(_ int, c *amtsim.Config) {
					c.Version = amt.MustParseVersion("6.2.10")
					c.PSK = &pair
					tt.fail(&c.Behavior, &armed)
				},
				config: func(c *provisioning.Config) {
					c.PSK = store
					c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, AllowLegacyTLS: true}
				},
			})
			d := h.fleet.Devices()[0]
			p := h.provisioner()
			_, err = p.Provision(h.ctx, h.helloFrom(d))
			require.NoError(t, err)
			first, err := p.RotatePSK(h.ctx, d.UUID())
			require.NoError(t, err, "the first rotation is confirmed")

			armed.Store(true)
			_, err = p.RotatePSK(h.ctx, d.UUID())
			require.Error(t, err, "the second rotation is not confirmed")
			armed.Store(false)
			held := d.PSKPair()
			require.NotNil(t, held)
			if !tt.newHeld {
				require.Equal(t, first, held.PID, "the device kept the pair of the first rotation")
			} else {
				require.NotEqual(t, first, held.PID, "the device took the new pair")
			}

			dev, err := p.OpenDevice(h.ctx, d.UUID())
			require.NoError(t, err)
			require.NoError(t, dev.PartialUnprovision(h.ctx))
			dev.Close()
			require.Eventually(t, func() bool { _, err := d.Hello(0); return err == nil }, 5*time.Second, 5*time.Millisecond)
			rh := h.helloFrom(d)
			require.Equal(t, held.PID.Compact(), rh.Hello.PIDString())
			rec, err := p.Provision(h.ctx, rh)
			require.NoError(t, err, "the device's own hello, with the pair it holds, re-provisions it")
			assert.Equal(t, held.PID.Compact(), rec.PID)
			assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
		})
	}
}

// RotatePSK killed at each of its saves and requests (crash_ops_test.go's
// sweep), after a first rotation that the firmware confirmed: once a new
// process has resumed, the pair the device holds — the first rotation's or the
// new one — still re-provisions it after a PartialUnprovision.
func TestCrashSweepRotatePSK(t *testing.T) {
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	sweepOp(t, opSpec{
		prof: func(e *opEnv) provisioning.Profile {
			store := &pskx.MemoryStore{}
			require.NoError(t, store.Put(context.Background(), pair))
			e.h.cfg.PSK = store
			return provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, AllowLegacyTLS: true}
		},
		dev: func(c *amtsim.Config) { c.Version = amt.MustParseVersion("6.2.10"); c.PSK = &pair },
		before: func(t *testing.T, e *opEnv) {
			_, err := e.h.provisioner().RotatePSK(e.h.ctx, e.rec.UUID)
			require.NoError(t, err)
		},
		op: func(t *testing.T, e *opEnv, p *provisioning.Provisioner) { _, _ = p.RotatePSK(e.h.ctx, e.rec.UUID) },
		check: func(t *testing.T, e *opEnv) []string {
			held := e.d.PSKPair()
			require.NotNil(t, held)
			q := e.h.provisioner()
			dev, err := q.OpenDevice(e.h.ctx, e.rec.UUID)
			require.NoError(t, err)
			require.NoError(t, dev.PartialUnprovision(e.h.ctx))
			dev.Close()
			require.Eventually(t, func() bool { _, err := e.d.Hello(0); return err == nil }, 5*time.Second, 5*time.Millisecond)
			if _, err := q.Provision(e.h.ctx, e.h.helloFrom(e.d)); err != nil {
				return []string{fmt.Sprintf("the device's hello with the pair it holds (%s) is refused: %v", held.PID, err)}
			}
			return nil
		},
	})
}
