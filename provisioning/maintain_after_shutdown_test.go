package provisioning_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// After Provisioner.Shutdown, a Maintainer run (documented as not a session,
// "stop them with their own context") that met a commit-unconfirmed record
// got ErrShuttingDown from resume(): RunOnce returned before age-out and
// renewals, and Run reported a store failure every 15 minutes. The settling
// is skipped now and the run goes on.
func TestMaintainerRunsOnAfterShutdown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := h.provisioner()
	u := amt.UUID{0xde, 0xad, 1}
	rec := &provisioning.DeviceRecord{UUID: u, Source: netip.MustParseAddrPort("127.0.0.1:40000"),
		State: provisioning.StateFailed, Reason: provisioning.ReasonCommitUnconfirmed,
		Session: &provisioning.SessionRecord{Done: provisioning.DoneCommitSent}}
	require.NoError(t, h.store.Save(context.Background(), rec))
	require.NoError(t, p.Shutdown(context.Background()))
	_, err := p.Maintainer().RunOnce(context.Background())
	assert.NoError(t, err, "a maintenance run after Shutdown fails as a whole")
}
