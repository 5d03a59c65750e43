package provisioning_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A hello naming no system UUID — all zeros (SMBIOS: not present) or all FFh
// (not set) — is rejected before the Authorizer is asked and before anything
// is sent or recorded: devices without a UUID would share one record (found by
// review: such a hello was taken like any other).
func TestHelloWithoutSystemUUIDRejected(t *testing.T) {
	var ones amt.UUID
	for i := range ones {
		ones[i] = 0xff
	}
	for name, u := range map[string]amt.UUID{"zeros": {}, "FFh": ones} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.RecordUnknownDevices = true }})
			d := h.fleet.Devices()[0]
			hello := h.helloFrom(d)
			hello.Hello.UUID = u
			_, err := h.provisioner().Provision(h.ctx, hello)
			require.Error(t, err)
			assert.Equal(t, provisioning.ReasonUnknownDevice, provisioning.ReasonOf(err))
			assert.ErrorIs(t, err, provisioning.ErrRejected)
			assert.Contains(t, err.Error(), "no system UUID")
			_, err = h.store.Load(h.ctx, u)
			assert.ErrorIs(t, err, provisioning.ErrNotFound, "nothing is recorded under it")
			assert.Zero(t, d.Snapshot().Requests, "nothing is sent to the device")
		})
	}
}

// An agent request for the UUID SMBIOS uses for none is refused at once: its
// hello would be.
func TestExpectAgentRequestWithoutSystemUUID(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var ones amt.UUID
	for i := range ones {
		ones[i] = 0xff
	}
	for _, u := range []amt.UUID{{}, ones} {
		err := h.provisioner().ExpectAgentRequest(h.ctx, provisioning.AgentRequest{UUID: u, OTP: amt.NewSecret("Otp-12345"), Expires: time.Now().Add(time.Hour)})
		var ce *provisioning.ConfigError
		require.ErrorAs(t, err, &ce, "%s", u)
		assert.Equal(t, "AgentRequest.UUID", ce.Field)
	}
}
