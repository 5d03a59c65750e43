//go:build interop

package sqlstore_test

import (
	"context"
	"errors"
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
