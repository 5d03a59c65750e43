package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A released lease keeps its row with owner ” and its token. The fence in
// SaveFenced (leaseHeld: "owner = ? AND token = ?") then accepts a Lease
// whose Owner is "" and whose Token is the released one, and the write lands
// although no one holds the device. MemoryStore refuses it (l.Owner == "");
// sqlstore only checks that in leaseCurrent, after the write. The contract
// (provisioning.FencedSaver): "writes nothing … when l is no longer the
// device's lease (… or l was released)". Same on PostgreSQL.
func TestSaveFencedRefusesAReleasedLease(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	u := amt.UUID{0xfa, 0x11}
	t0 := time.Unix(1_800_000_000, 0).UTC()
	l, err := s.AcquireLease(ctx, u, "prov-a", t0, time.Minute)
	require.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateIdentified}
	require.NoError(t, s.SaveFenced(ctx, r, l))
	require.NoError(t, s.ReleaseLease(ctx, l))

	// Compare with the reference store.
	m := provisioning.NewMemoryStore()
	ml, err := m.AcquireLease(ctx, u, "prov-a", t0, time.Minute)
	require.NoError(t, err)
	mr := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateIdentified}
	require.NoError(t, m.SaveFenced(ctx, mr, ml))
	require.NoError(t, m.ReleaseLease(ctx, ml))
	require.ErrorIs(t, m.SaveFenced(ctx, mr.Clone(), provisioning.Lease{Device: u, Token: ml.Token}), provisioning.ErrLeaseLost, "MemoryStore")

	stale := r.Clone()
	stale.State = provisioning.StateConfigured
	err = s.SaveFenced(ctx, stale, provisioning.Lease{Device: u, Token: l.Token}) // released: owner ""
	require.ErrorIs(t, err, provisioning.ErrLeaseLost, "a write fenced by a released lease landed (version now %d)", stale.Version)
}
