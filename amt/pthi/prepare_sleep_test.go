package pthi_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

// Prepare polls while the firmware finishes its certificate (intel/lms
// Activate: 20 polls, 30 s apart). The waits go through PrepareOptions.Sleep,
// so that the default cadence is tested without waiting ten minutes, as
// MEIConfig.Sleep and provisioning's HostBasedOptions.Sleep do for theirs.
func TestPrepareWaitsThroughInjectedSleep(t *testing.T) {
	polls := make([]pthitest.Exchange, 0, 20)
	for range 20 {
		polls = append(polls, state(0))
	}
	replay := pthitest.NewReplay(script(version("16.1.25"), state(0), ztc(1), setOTP(),
		pthitest.Fail(pthi.CmdStartConfigurationEx, le32(0), amt.StatusCertificateNotReady), polls)...)
	var waits []time.Duration
	opts := pthi.PrepareOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}}
	start := time.Now()
	_, err := pthi.NewClient(replay).PrepareWith(context.Background(), amt.NewSecret(testOTP), opts)
	require.ErrorIs(t, err, pthi.ErrNotInProvisioning)
	require.NoError(t, replay.Done())
	assert.Len(t, waits, 20)
	for _, d := range waits {
		assert.Equal(t, 30*time.Second, d)
	}
	assert.Less(t, time.Since(start), 10*time.Second, "no real wait")
}
