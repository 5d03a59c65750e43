package pskx_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &pskx.MemoryStore{Now: func() time.Time { return clock }}
	pairs := testPairs(t)
	require.NoError(t, s.Put(ctx, pairs...))

	got, err := s.Lookup(ctx, pairs[0].PID)
	require.NoError(t, err)
	assert.True(t, got.PPS.Equal(pairs[0].PPS))
	assert.Equal(t, clock, got.Added)
	assert.False(t, got.Used)

	_, err = s.Lookup(ctx, pskx.MustParsePID("ZZZZ-ZZZI"))
	assert.ErrorIs(t, err, pskx.ErrPairNotFound)

	// A batch with one known PID adds nothing.
	extra, err := pskx.GenerateBatch(nil, 2)
	require.NoError(t, err)
	err = s.Put(ctx, extra[0], pairs[1])
	require.ErrorIs(t, err, pskx.ErrDuplicatePID)
	_, err = s.Lookup(ctx, extra[0].PID)
	assert.ErrorIs(t, err, pskx.ErrPairNotFound)
	require.ErrorIs(t, s.Put(ctx, extra[1], extra[1]), pskx.ErrDuplicatePID)
	require.Error(t, s.Put(ctx, pskx.Pair{}))

	dev1 := amt.UUID{1}
	dev2 := amt.UUID{2}
	clock = clock.Add(time.Hour)
	require.NoError(t, s.MarkUsed(ctx, pairs[0].PID, dev1))
	require.NoError(t, s.MarkUsed(ctx, pairs[0].PID, dev1), "a resent hello is not an error")
	require.ErrorIs(t, s.MarkUsed(ctx, pairs[0].PID, dev2), pskx.ErrPairUsed)
	require.ErrorIs(t, s.MarkUsed(ctx, extra[0].PID, dev2), pskx.ErrPairNotFound)
	got, err = s.Lookup(ctx, pairs[0].PID)
	require.NoError(t, err)
	assert.True(t, got.Used)
	assert.Equal(t, dev1, got.UsedBy)
	assert.Equal(t, clock, got.UsedAt)

	unused, err := pskx.CollectPairs(s.Pairs(ctx, pskx.PairFilter{Unused: true}))
	require.NoError(t, err)
	require.Len(t, unused, 1)
	assert.Equal(t, pairs[1].PID, unused[0].PID)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, s.Put(cancelled, extra[0]), context.Canceled)
	_, err = s.Lookup(cancelled, pairs[0].PID)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.MarkUsed(cancelled, pairs[0].PID, dev1), context.Canceled)
	_, err = pskx.CollectPairs(s.Pairs(cancelled, pskx.PairFilter{}))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestMemoryStoreZeroValueAndOrder(t *testing.T) {
	var s pskx.MemoryStore
	ctx := context.Background()
	batch, err := pskx.GenerateBatch(nil, 5)
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, batch[:3]...))
	require.NoError(t, s.Put(ctx, batch[3:]...))
	require.NoError(t, s.MarkUsed(ctx, batch[1].PID, amt.UUID{}))
	unused, err := pskx.CollectPairs(s.Pairs(ctx, pskx.PairFilter{Unused: true}))
	require.NoError(t, err)
	var pids []pskx.PID
	for _, p := range unused {
		pids = append(pids, p.PID)
	}
	assert.Equal(t, []pskx.PID{batch[0].PID, batch[2].PID, batch[3].PID, batch[4].PID}, pids)
}

func TestMemoryStoreConcurrent(t *testing.T) {
	var s pskx.MemoryStore
	ctx := context.Background()
	var wg sync.WaitGroup
	const workers, per = 8, 20
	batches := make([][]pskx.Pair, workers)
	for w := range workers {
		b, err := pskx.GenerateBatch(nil, per)
		require.NoError(t, err)
		batches[w] = b
	}
	errs := make(chan error, workers*per*3)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(ctx, batches[w]...); err != nil {
				errs <- err
				return
			}
			for i, p := range batches[w] {
				if _, err := s.Lookup(ctx, p.PID); err != nil {
					errs <- err
				}
				if i%2 == 0 {
					if err := s.MarkUsed(ctx, p.PID, amt.UUID{byte(w), byte(i)}); err != nil {
						errs <- err
					}
				}
				if _, err := pskx.CollectPairs(s.Pairs(ctx, pskx.PairFilter{Unused: true})); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// Distinct random PIDs may collide across batches only with negligible
		// probability; any error here is a bug.
		t.Error(err)
	}
	unused, err := pskx.CollectPairs(s.Pairs(ctx, pskx.PairFilter{Unused: true}))
	require.NoError(t, err)
	assert.Len(t, unused, workers*per/2, "half of each batch was marked used")
}

// testPairs returns Intel's example pair and a second hand-checked one.
func testPairs(t *testing.T) []pskx.Pair {
	p1, err := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	require.NoError(t, err)
	p2, err := pskx.ParsePPS("AAAF-BBBI-CCCL-DDDO-EEER-FFFU-GGGX-HHH0")
	require.NoError(t, err)
	return []pskx.Pair{
		{PID: pskx.MustParsePID("0000-037M"), PPS: p1, MEBxPassword: amt.NewSecret("P@ssw0rd1")},
		{PID: pskx.MustParsePID("ABCD-EFG8"), PPS: p2, MEBxPassword: amt.NewSecret("Secr3t!pw")},
	}
}
