package provisioning

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

// docs/state.md says "Agent belongs to ExpectAgentRequest: a verified
// session spends the request only if nobody registered another meanwhile".
// mergeRecord dropped the spend whenever the stored Agent changed in any way
// since the holder's base — also when the only change is an
// impostor's OTP mismatch counted against the very request the session just
// verified (otpMismatch: a lease-free write of Agent.Mismatches), and the
// provisioned record kept the spent OTP as a pending agent request until it
// expired. A new registration still survives the spend.
func TestMergeSpendsAgentRequestDespiteMismatchCount(t *testing.T) {
	u := amt.UUID{7}
	otp := amt.NewSecret("Otp-spent-1234")
	base := &DeviceRecord{UUID: u, Version: 5, State: StateCommitted, Agent: &AgentRequest{UUID: u, OTP: otp}}

	// The verified session commits and spends the request.
	mine := base.Clone()
	mine.State = StateProvisioned
	mine.Done = DoneCommitted
	mine.Agent = nil

	// Meanwhile an impostor answered with another OTP: the same request,
	// its mismatch counted (no new registration).
	cur := base.Clone()
	cur.Version = 6
	cur.Agent.Mismatches = 1

	out, err := mergeRecord(base, mine, cur)
	require.NoError(t, err)
	assert.Nil(t, out.Agent, "the request the session verified is spent; only a new registration survives")

	// Another registration meanwhile (a new OTP): it stays.
	renewed := base.Clone()
	renewed.Version = 6
	renewed.Agent = &AgentRequest{UUID: u, OTP: amt.NewSecret("Otp-new-5678")}
	out, err = mergeRecord(base, mine, renewed)
	require.NoError(t, err)
	require.NotNil(t, out.Agent)
	assert.True(t, out.Agent.OTP.Equal(amt.NewSecret("Otp-new-5678")))
}
