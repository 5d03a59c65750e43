//go:build interop

package sqlstore_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/pskx"
)

// Two provisioners import the same setup.bin batch at once, one in the file's
// order and one reversed (or two overlapping batches). Each Put is one
// transaction of INSERT … ON CONFLICT DO NOTHING statements: on PostgreSQL
// each waits for the other's uncommitted PIDs, and the server aborts one as
// a deadlock (SQLSTATE 40P01). The contract (pskx.Store.Put): "If any PID is
// already present … nothing is added and the error wraps ErrDuplicatePID";
// SQLite (one writer) does that. Inserting in PID order (or retrying 40P01)
// would.
func TestInteropPutOverlappingBatches(t *testing.T) {
	ctx := context.Background()
	dsn := pgSchema(t)
	a, b := openPostgres(t, dsn).PSK(), openPostgres(t, dsn).PSK()
	for round := 0; round < 5; round++ {
		pairs, err := pskx.GenerateBatch(nil, 200)
		require.NoError(t, err)
		rev := slices.Clone(pairs)
		slices.Reverse(rev)
		errs := make(chan error, 2)
		go func() { errs <- a.Put(ctx, pairs...) }()
		go func() { errs <- b.Put(ctx, rev...) }()
		e1, e2 := <-errs, <-errs
		for _, err := range []error{e1, e2} {
			if err != nil && !errors.Is(err, pskx.ErrDuplicatePID) {
				t.Fatalf("round %d: Put of an overlapping batch: %v (want nil or ErrDuplicatePID); the two Puts returned %v and %v", round, err, e1, e2)
			}
		}
		require.True(t, (e1 == nil) != (e2 == nil), "round %d: exactly one import wins: %v, %v", round, e1, e2)
	}
}

// On PostgreSQL too (length of bytea and text), a pair row whose sealed PPS
// was replaced by 16 MiB is refused without being read, and the other pairs
// still read.
func TestInteropOversizedPairRowRefused(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, pgSchema(t))
	pairs, err := pskx.GenerateBatch(nil, 2)
	require.NoError(t, err)
	require.NoError(t, s.PSK().Put(ctx, pairs...))
	_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET pps = decode(repeat('00', 16*1024*1024), 'hex') WHERE pid = $1`, pairs[0].PID.Compact())
	require.NoError(t, err)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	_, err = s.PSK().Lookup(ctx, pairs[0].PID)
	require.ErrorContains(t, err, "larger than any amtkit writes")
	_, err = pskx.CollectPairs(s.PSK().Pairs(ctx, pskx.PairFilter{}))
	runtime.ReadMemStats(&m1)
	require.ErrorContains(t, err, "larger than any amtkit writes")
	require.Less(t, (m1.TotalAlloc-m0.TotalAlloc)>>20, uint64(8), "MiB allocated to refuse a 16 MiB value twice: it is not read")
	got, err := s.PSK().Lookup(ctx, pairs[1].PID)
	require.NoError(t, err)
	require.Equal(t, pairs[1].PID, got.PID)
}
