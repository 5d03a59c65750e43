package provisioning_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
)

// A PID/PPS pair is used by one device only (pskx docs: "A pair is used by
// one device only: MarkUsed is a compare-and-swap"). The provisioner only read
// the pair's Used flag at authorize and called MarkUsed after CommitChanges,
// so two devices whose hellos carry the same PID (two copies of a stick
// record, or a rogue holding a copy) were both configured and committed when
// their sessions overlapped. The pair is now reserved as soon as a TLS-PSK
// handshake proves its holder and the device has said who it is (its UUID,
// read over that connection), before anything is written: the second session
// stops there (pid-used), having sent only the reads that identify its device.
func TestAttackOnePSKPairTwoDevices(t *testing.T) {
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	store := &pskx.MemoryStore{}
	require.NoError(t, store.Put(context.Background(), pair))
	h := newHarness(t, harnessOptions{
		n: 2,
		device: func(i int, c *amtsim.Config) {
			c.Version = amt.MustParseVersion("6.2.10")
			c.PSK = &pair
			if i == 0 {
				c.Behavior.Latency = 40 * time.Millisecond // the slower of the two
			}
		},
		config: func(c *provisioning.Config) {
			c.PSK = store
			c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{}, AllowLegacyTLS: true}
		},
	})
	a, b := h.fleet.Devices()[0], h.fleet.Devices()[1]
	p := h.provisioner()
	done := make(chan error, 1)
	go func() {
		_, err := p.Provision(h.ctx, h.helloFrom(a))
		done <- err
	}()
	// A's session has reserved the pair once the store says so.
	require.Eventually(t, func() bool {
		sp, err := store.Lookup(h.ctx, pair.PID)
		return err == nil && sp.Used
	}, 10*time.Second, 5*time.Millisecond)
	stateB := b.Snapshot().ProvisioningState
	_, errB := p.Provision(h.ctx, h.helloFrom(b))
	errA := <-done
	t.Logf("A: %v; B: %v", errA, errB)
	both := a.Snapshot().ProvisioningState == amt.PostProvisioning && b.Snapshot().ProvisioningState == amt.PostProvisioning
	assert.False(t, both, "one PID/PPS pair must not configure and commit two devices")
	assert.NoError(t, errA, "the first holder is provisioned")
	assert.Equal(t, provisioning.ReasonPIDUsed, provisioning.ReasonOf(errB))
	t.Logf("requests to the second holder: %d", b.Snapshot().Requests)
	assert.LessOrEqual(t, b.Snapshot().Requests, 3, "only the reads that identify it reach the second holder")
	assert.Equal(t, stateB, b.Snapshot().ProvisioningState, "nothing is written to the second holder")
}

// The "rotated or not" promise of docs/security.md held only until the
// rotated pair was used. Provisioned with setup.bin pair X, rotated to Y
// (RotatePSK), and re-provisioned with Y (rec.PID = Y): X is still in the
// store, Used by the victim's UUID, so authorizePSK reported it "reserved",
// and checkPSKDevice refused a reserved pair only when it equalled
// a.prior.PID — now Y. A hello with the victim's UUID and X (on every copy
// of the old stick) re-provisioned whatever answered. Only the pair RotatePSK
// last gave the device (DeviceRecord.RotatedPID) re-provisions it now.
func TestAttackOldSetupBinPairAfterRotatedReprovision(t *testing.T) {
	h, pair, _ := newPSKHarness(t, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, AllowLegacyTLS: true})
	victim := h.fleet.Devices()[0]
	stolen := pair // copied from the setup.bin
	rogue := startPSKRogue(t, h, victim, &stolen, "127.0.77.11")
	routeTo(h, rogue)
	p := h.provisioner()
	_, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.NoError(t, err)
	pid, err := p.RotatePSK(h.ctx, victim.UUID())
	require.NoError(t, err)
	dev, err := p.OpenDevice(h.ctx, victim.UUID())
	require.NoError(t, err)
	require.NoError(t, dev.PartialUnprovision(h.ctx))
	dev.Close()
	require.Eventually(t, func() bool { _, err := victim.Hello(0); return err == nil }, 5*time.Second, 5*time.Millisecond)
	second, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.NoError(t, err, "the rotated pair provisions the device")
	require.Equal(t, pid.Compact(), second.PID)

	rogueGetsNothing(t, h, p, rogue, victim, second, "the old setup.bin pair must not re-provision a device provisioned since with its rotated pair")
}
