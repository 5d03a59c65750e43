package provisioning_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

type fakeHostClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeHostClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeHostClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// On AMT 19+ with TLS enforced, the admin's CommitChanges after host-based
// Setup restarts the firmware's local port stack: the reply is lost and new
// connections are refused for a few seconds. rpc-go (internal/commands/
// activate/local.go, commitActivation) settles this by reading the control
// mode and provisioning state over HECI up to 3 times, 1 s apart. ActivateCCM
// read back once, at once, over WS-Management only, and reported the
// activation unconfirmed although it succeeded; it now reads over the host
// interface first, three times a second apart (on the injected Sleep).
func TestActivateCCMCommitRestartSettledOverPTHI(t *testing.T) {
	clock := &fakeHostClock{now: time.Now()}
	cfg := amtsim.Config{Version: amt.MustParseVersion("19.0.5"), LocalTLSEnforced: true, Keys: amtsim.PoolKeys(testKeys()), Now: clock.Now}
	cfg.Behavior.LatencyModel = &amtsim.LatencyModel{CommitRestart: 5 * time.Second} // amtsim.FirmwareLatency's value
	sim, err := amtsim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, sim.Start(context.Background()))
	t.Cleanup(func() { sim.Close() })
	login := localTLSLogin(t, sim)
	afterCommit := provisioning.LocalSignIn(sim.LocalTLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()))

	err = provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), amt.NewSecret("N3w-Admin-pw"),
		provisioning.HostBasedOptions{SignIn: afterCommit, HostState: sim.Agent(), Sleep: clock.Sleep})
	snap := sim.Snapshot()
	require.Equal(t, amt.PostProvisioning, snap.ProvisioningState, "the commit took effect")
	require.Equal(t, amt.ControlModeCCM, snap.ControlMode)
	assert.NoError(t, err, "the host interface (HostState) shows post-provisioning in CCM; rpc-go reads it over HECI after a dropped commit")
}
