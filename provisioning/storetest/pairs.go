package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// PairHarness tells RunPairStore how to use the pskx.Store under test; its
// fields mean what Harness's do.
type PairHarness struct {
	New         func(t *testing.T) pskx.Store
	Reopen      func(t *testing.T, s pskx.Store) pskx.Store
	Persisted   func(t *testing.T, s pskx.Store) [][]byte
	Concurrency int
}

// RunPairStore runs the conformance suite of pskx.Store: round trip, atomic
// batches, one device per pair under concurrency, iteration in the order
// added (with writes in the loop), durability across a reopen, and no PPS
// or MEBx password in plaintext in what the store persisted.
func RunPairStore(t *testing.T, h PairHarness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: PairHarness.New is required")
	}
	if h.Concurrency <= 0 {
		h.Concurrency = 8
	}
	t.Run("RoundTrip", h.roundTrip)
	t.Run("Batches", h.batches)
	t.Run("MarkUsed", h.markUsed)
	t.Run("ConcurrentMarkUsed", h.concurrentMarkUsed)
	t.Run("Pairs", h.pairs)
	t.Run("Reopen", h.reopen)
	t.Run("NoPlaintextSecrets", h.noPlaintext)
	t.Run("ContextCanceled", h.canceled)
}

func batch(t *testing.T, n int) []pskx.Pair {
	t.Helper()
	out, err := pskx.GenerateBatch(nil, n)
	require.NoError(t, err)
	return out
}

func (h PairHarness) roundTrip(t *testing.T) {
	s := h.New(t)
	pairs := batch(t, 2)
	pairs[1].MEBxPassword = amt.Secret{}
	require.NoError(t, s.Put(bg, pairs...))
	for _, p := range pairs {
		got, err := s.Lookup(bg, p.PID)
		require.NoError(t, err)
		assert.Equal(t, p.PID, got.PID)
		assert.True(t, got.PPS.Equal(p.PPS), "PPS")
		assert.True(t, got.MEBxPassword.Equal(p.MEBxPassword), "MEBx password")
		assert.Equal(t, p.MEBxPassword.IsZero(), got.MEBxPassword.IsZero())
		assert.Equal(t, uint64(1), got.Version)
		assert.False(t, got.Added.IsZero())
		assert.False(t, got.Used)
		assert.True(t, got.UsedAt.IsZero())
		assert.True(t, got.UsedBy.IsZero())
	}
	_, err := s.Lookup(bg, batch(t, 1)[0].PID)
	assert.ErrorIs(t, err, pskx.ErrPairNotFound)
}

func (h PairHarness) batches(t *testing.T) {
	s := h.New(t)
	pairs := batch(t, 3)
	require.NoError(t, s.Put(bg, pairs[0]))
	// A batch with one known PID adds nothing.
	err := s.Put(bg, pairs[1], pairs[0], pairs[2])
	require.ErrorIs(t, err, pskx.ErrDuplicatePID)
	for _, p := range pairs[1:] {
		_, err := s.Lookup(bg, p.PID)
		assert.ErrorIs(t, err, pskx.ErrPairNotFound, "nothing of the refused batch was added")
	}
	require.ErrorIs(t, s.Put(bg, pairs[1], pairs[1]), pskx.ErrDuplicatePID, "a PID twice in one batch")
	assert.Error(t, s.Put(bg, pskx.Pair{}), "a pair without PID and PPS")
	require.NoError(t, s.Put(bg, pairs[1:]...))
	require.NoError(t, s.Put(bg), "an empty batch")
}

func (h PairHarness) markUsed(t *testing.T) {
	s := h.New(t)
	pairs := batch(t, 2)
	require.NoError(t, s.Put(bg, pairs...))
	d1, d2 := amt.UUID{1}, amt.UUID{2}
	require.NoError(t, s.MarkUsed(bg, pairs[0].PID, d1))
	first, err := s.Lookup(bg, pairs[0].PID)
	require.NoError(t, err)
	assert.True(t, first.Used)
	assert.Equal(t, d1, first.UsedBy)
	assert.False(t, first.UsedAt.IsZero())
	assert.Greater(t, first.Version, uint64(1))

	require.NoError(t, s.MarkUsed(bg, pairs[0].PID, d1), "the same device again (a resent hello)")
	again, err := s.Lookup(bg, pairs[0].PID)
	require.NoError(t, err)
	assert.Equal(t, first.Version, again.Version, "marking again changes nothing")
	assert.True(t, first.UsedAt.Equal(again.UsedAt))

	err = s.MarkUsed(bg, pairs[0].PID, d2)
	require.ErrorIs(t, err, pskx.ErrPairUsed, "another device")
	got, err := s.Lookup(bg, pairs[0].PID)
	require.NoError(t, err)
	assert.Equal(t, d1, got.UsedBy)
	require.ErrorIs(t, s.MarkUsed(bg, batch(t, 1)[0].PID, d1), pskx.ErrPairNotFound)
}

// Devices race for one pair: exactly one gets it.
func (h PairHarness) concurrentMarkUsed(t *testing.T) {
	s := h.New(t)
	pairs := batch(t, 5)
	require.NoError(t, s.Put(bg, pairs...))
	for _, p := range pairs {
		var wins atomic.Int64
		var winner atomic.Value
		var wg sync.WaitGroup
		for w := 0; w < h.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dev := amt.UUID{byte(w + 1)}
				err := s.MarkUsed(bg, p.PID, dev)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(dev)
				case !errors.Is(err, pskx.ErrPairUsed):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int64(1), wins.Load(), "one device per pair")
		got, err := s.Lookup(bg, p.PID)
		require.NoError(t, err)
		assert.Equal(t, winner.Load(), got.UsedBy)
	}
}

func (h PairHarness) pairs(t *testing.T) {
	s := h.New(t)
	var all []pskx.Pair
	for i := 0; i < 5; i++ { // several batches, enough for pages
		b := batch(t, 50)
		require.NoError(t, s.Put(bg, b...))
		all = append(all, b...)
	}
	got, err := pskx.CollectPairs(s.Pairs(bg, pskx.PairFilter{}))
	require.NoError(t, err)
	require.Len(t, got, len(all))
	for i := range all {
		assert.Equal(t, all[i].PID, got[i].PID, "in the order added")
	}
	// Using pairs inside the loop.
	n := 0
	for p, err := range s.Pairs(bg, pskx.PairFilter{Unused: true}) {
		require.NoError(t, err)
		if n%3 == 0 {
			require.NoError(t, s.MarkUsed(bg, p.PID, amt.UUID{byte(n), byte(n >> 8), 7}))
		}
		n++
	}
	assert.Equal(t, len(all), n)
	unused, err := pskx.CollectPairs(s.Pairs(bg, pskx.PairFilter{Unused: true}))
	require.NoError(t, err)
	assert.Len(t, unused, len(all)-(len(all)+2)/3)
	for _, p := range unused {
		assert.False(t, p.Used)
	}
	// Stopping early.
	k := 0
	for range s.Pairs(bg, pskx.PairFilter{}) {
		k++
		if k == 2 {
			break
		}
	}
	assert.Equal(t, 2, k)
}

func (h PairHarness) reopen(t *testing.T) {
	s := h.New(t)
	pairs := batch(t, 2)
	require.NoError(t, s.Put(bg, pairs...))
	require.NoError(t, s.MarkUsed(bg, pairs[0].PID, amt.UUID{9}))
	if h.Reopen != nil {
		s = h.Reopen(t, s)
	}
	got, err := s.Lookup(bg, pairs[0].PID)
	require.NoError(t, err)
	assert.True(t, got.Used)
	assert.Equal(t, amt.UUID{9}, got.UsedBy)
	assert.True(t, got.PPS.Equal(pairs[0].PPS))
	require.ErrorIs(t, s.MarkUsed(bg, pairs[0].PID, amt.UUID{10}), pskx.ErrPairUsed)
}

func (h PairHarness) noPlaintext(t *testing.T) {
	if h.Persisted == nil {
		t.Skip("the store persists nothing (PairHarness.Persisted is nil): no bytes to scan")
	}
	s := h.New(t)
	pairs := batch(t, 4)
	require.NoError(t, s.Put(bg, pairs...))
	require.NoError(t, s.MarkUsed(bg, pairs[0].PID, amt.UUID{1}))
	var secrets []string
	for _, p := range pairs {
		secrets = append(secrets, p.PPS.Reveal(), p.PPS.RevealGrouped(), p.MEBxPassword.Reveal())
	}
	raw := h.Persisted(t, s)
	require.NotEmpty(t, raw)
	for _, b := range raw {
		for _, sec := range secrets {
			for _, f := range forms(sec) {
				if bytes.Contains(b, []byte(f)) {
					t.Errorf("secret %q is stored in plaintext (as %q)", sec, f)
				}
			}
		}
	}
	// The PIDs are not secret: they are there.
	found := false
	for _, b := range raw {
		found = found || bytes.Contains(b, []byte(pairs[0].PID.Compact()))
	}
	assert.True(t, found, "the scan reads the stored bytes (the PID is found in them)")
}

func (h PairHarness) canceled(t *testing.T) {
	s := h.New(t)
	pairs := batch(t, 2)
	require.NoError(t, s.Put(bg, pairs[0]))
	ctx, cancel := context.WithCancel(bg)
	cancel()
	assert.Error(t, s.Put(ctx, pairs[1]))
	_, err := s.Lookup(ctx, pairs[0].PID)
	assert.Error(t, err)
	assert.Error(t, s.MarkUsed(ctx, pairs[0].PID, amt.UUID{1}))
	n := 0
	for _, err := range s.Pairs(ctx, pskx.PairFilter{}) {
		assert.Error(t, err)
		n++
	}
	assert.Equal(t, 1, n, fmt.Sprintf("Pairs yields the error and stops (%d)", n))
	_, err = s.Lookup(bg, pairs[1].PID)
	assert.ErrorIs(t, err, pskx.ErrPairNotFound)
}
