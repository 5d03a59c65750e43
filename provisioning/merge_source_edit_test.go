package provisioning_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docs/state.md: "An integrator's own edit (Load, change, Save) is a
// lease-free write" and "nothing anyone wrote is lost". The device moved to a
// new DHCP address and the integrator records it (Source is where the
// Maintainer, Reconcile and OpenDevice reach the device by default) while
// a lease holder (here Unprovision) works on the device from its older copy.
// The holder never changed Source; when every holder's Source overrode the
// merge (e097e9a), its merged save put the stale address back and the edit
// was lost silently. Only a proven session's Source overrides now.
func TestHolderMergeKeepsIntegratorSourceEdit(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, rec := provisionOne(t, h)
	moved := netip.MustParseAddrPort("192.0.2.77:40000")
	require.NotEqual(t, moved, rec.Source)

	var once sync.Once
	dial := h.cfg.Dial
	h.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		once.Do(func() {
			// The integrator's edit, while Unprovision holds the lease.
			cur, err := h.store.Load(ctx, rec.UUID)
			require.NoError(t, err)
			cur.Source = moved
			require.NoError(t, h.store.Save(ctx, cur))
		})
		return dial(ctx, network, addr)
	}
	q := h.provisioner()
	require.NoError(t, q.Unprovision(h.ctx, rec.UUID))

	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, moved.String(), after.Source.String(), "the integrator's Source edit, which the holder never changed, must survive the holder's merge")
}
