package provisioning_test

import (
	"errors"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRotatePSK: a PSK device (AMT 6.2) provisioned with the pair of its
// setup.bin gets a new pair (SetTLSPSK); after a PartialUnprovision its hellos
// carry the new PID, the old pair's TLS-PSK handshake is refused and the new
// one provisions it again.
func TestRotatePSK(t *testing.T) {
	h, pair, store := newPSKHarness(t, provisioning.Profile{TLS: &provisioning.TLSProfile{}, AllowLegacyTLS: true})
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	old := h.helloFrom(d)
	_, err := p.Provision(h.ctx, old)
	require.NoError(t, err)

	pid, err := p.RotatePSK(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.NotEqual(t, pair.PID, pid)
	got := d.PSKPair()
	require.NotNil(t, got)
	assert.Equal(t, pid, got.PID, "the device keeps the new pair")
	sp, err := store.Lookup(h.ctx, pid)
	require.NoError(t, err)
	assert.True(t, sp.Used, "reserved for the device before it was sent")
	assert.Equal(t, d.UUID(), sp.UsedBy)
	assert.True(t, got.PPS.Equal(sp.PPS), "the store holds the PPS the device got")
	var ev *provisioning.Event
	for _, e := range h.eventsFor(d.UUID()) {
		if e.Step == provisioning.StepRotatePSK {
			ev = &e
		}
	}
	require.NotNil(t, ev)
	assert.NoError(t, ev.Err)
	assert.Contains(t, ev.Detail, pid.Compact())
	assert.NotContains(t, ev.Detail, sp.PPS.Reveal())
	t.Log(ev.Detail)

	// PartialUnprovision keeps the TLS-PSK keys for the next provisioning.
	dev, err := p.OpenDevice(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NoError(t, dev.PartialUnprovision(h.ctx))
	dev.Close()
	require.Eventually(t, func() bool { _, err := d.Hello(0); return err == nil }, 5e9, 5e6)
	rh := h.helloFrom(d)
	require.Equal(t, uint16(hello.VersionPSK), rh.Hello.Version)
	assert.Equal(t, pid.Compact(), rh.Hello.PIDString(), "the hello carries the new PID")

	// The old pair no longer provisions the device: its hello is replayed
	// (the store still knows the pair, reserved for this device) and refused
	// before anything is sent — a setup.bin pair is on every copy of the file
	// and proves nothing of the device — where it reached the device before,
	// whose firmware refused its TLS-PSK identity.
	old.Received = rh.Received
	before := d.Snapshot().Requests
	_, err = p.Provision(h.ctx, old)
	require.Error(t, err, "the old pair is refused")
	assert.Equal(t, provisioning.ReasonReprovisionRefused, provisioning.ReasonOf(err), "%v", err)
	assert.Equal(t, before, d.Snapshot().Requests, "nothing was sent")
	assert.NotEqual(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)

	rec, err := p.Provision(h.ctx, rh)
	require.NoError(t, err, "the new pair provisions the device")
	assert.Equal(t, pid.Compact(), rec.PID)
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)

	// The firmware checks what it is given: a PID whose check character is
	// wrong is refused (InvalidParameter) and changes nothing.
	dev, err = p.OpenDevice(h.ctx, d.UUID())
	require.NoError(t, err)
	bad := []byte(pid.Compact())
	bad[7] = map[bool]byte{true: 'A', false: 'B'}[bad[7] != 'A']
	err = dev.SetTLSPSK(h.ctx, string(bad), sp.PPS.Secret())
	dev.Close()
	var rve *amt.ReturnValueError
	require.ErrorAs(t, err, &rve)
	assert.Equal(t, uint32(amt.StatusInvalidParameter), rve.Value)
	assert.Equal(t, pid, d.PSKPair().PID)

	// A full unprovision drops the rotated pair (simulator's choice: back to
	// the device's own, docs/remote-access.md).
	require.NoError(t, p.Unprovision(h.ctx, d.UUID()))
	assert.Equal(t, pair.PID, d.PSKPair().PID)
}

func TestRotatePSKRefusals(t *testing.T) {
	t.Run("no store", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		_, err := h.provisioner().RotatePSK(h.ctx, h.fleet.Devices()[0].UUID())
		assert.ErrorIs(t, err, provisioning.ErrNoPSKStore)
	})
	t.Run("PKI device", func(t *testing.T) {
		store := &pskx.MemoryStore{}
		h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.PSK = store }})
		d := h.fleet.Devices()[0]
		p := h.provisioner()
		_, err := p.RotatePSK(h.ctx, d.UUID())
		assert.ErrorIs(t, err, provisioning.ErrNotFound, "nothing provisioned yet")
		_, err = p.Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		_, err = p.RotatePSK(h.ctx, d.UUID())
		assert.ErrorIs(t, err, provisioning.ErrNotPSKDevice)
		n := 0
		for _, err := range store.Pairs(h.ctx, pskx.PairFilter{}) {
			require.NoError(t, err)
			n++
		}
		assert.Zero(t, n, "no pair is kept for a device that cannot take it")

		// The firmware (AMT 11 and later) has no SetTLSPSK at all.
		dev, err := p.OpenDevice(h.ctx, d.UUID())
		require.NoError(t, err)
		defer dev.Close()
		np, err := pskx.GeneratePair(nil)
		require.NoError(t, err)
		err = dev.SetTLSPSK(h.ctx, np.PID.Compact(), np.PPS.Secret())
		require.Error(t, err)
		var rve *amt.ReturnValueError
		assert.False(t, errors.As(err, &rve), "a fault, not a return value: %v", err)
	})
}

// A second rotation's event names the pair it replaced — the first
// rotation's, which the device held — not the pair the device was
// provisioned with (found by the CIRA review).
func TestRotatePSKTwiceNamesThePairReplaced(t *testing.T) {
	h, pair, _ := newPSKHarness(t, provisioning.Profile{TLS: &provisioning.TLSProfile{}, AllowLegacyTLS: true})
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	first, err := p.RotatePSK(h.ctx, d.UUID())
	require.NoError(t, err)
	second, err := p.RotatePSK(h.ctx, d.UUID())
	require.NoError(t, err)
	var details []string
	for _, e := range h.eventsFor(d.UUID()) {
		if e.Step == provisioning.StepRotatePSK {
			details = append(details, e.Detail)
		}
	}
	require.Len(t, details, 2)
	assert.Contains(t, details[0], "PID "+pair.PID.Compact()+" replaced by "+first.Compact())
	assert.Contains(t, details[1], "PID "+first.Compact()+" replaced by "+second.Compact())
}
