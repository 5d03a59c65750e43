package pskx

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// Errors returned by [Store] implementations.
var (
	ErrPairNotFound = errors.New("pskx: no pair with this PID")
	ErrDuplicatePID = errors.New("pskx: PID already in the store")
	ErrPairUsed     = errors.New("pskx: pair already used by another device")
)

// StoredPair is a [Pair] with what the store knows of its use.
type StoredPair struct {
	Pair
	// Version is 1 when the pair is added and grows with each change (its
	// use), so a reader can tell that what it read is still current.
	Version uint64
	Added   time.Time
	Used    bool
	UsedAt  time.Time
	UsedBy  amt.UUID // the device whose hello (or session) used the pair; may be zero
}

// PairFilter selects pairs for [Store.Pairs]; the zero value selects all.
type PairFilter struct {
	// Unused selects the pairs no device has used yet.
	Unused bool
}

// Match reports whether f selects p.
func (f PairFilter) Match(p StoredPair) bool { return !f.Unused || !p.Used }

// Store keeps PID/PPS pairs for a configuration server: it receives a batch when
// a setup.bin is written, answers the PID of a PSK hello with its PPS, and
// records which device used which pair — one device per pair, decided
// atomically (compare-and-swap) even when several provisioners share the
// store. Implementations must be safe for concurrent use, must honour ctx,
// and must never store a PPS or MEBx password in plaintext (an in-memory store
// stores nothing; provisioning/sqlstore seals both).
type Store interface {
	// Put adds a batch. If any PID is already present (or repeated in the batch),
	// nothing is added and the error wraps ErrDuplicatePID.
	Put(ctx context.Context, pairs ...Pair) error
	// Lookup returns the pair for pid, or an error wrapping ErrPairNotFound.
	Lookup(ctx context.Context, pid PID) (StoredPair, error)
	// MarkUsed records that device used the pair, if no other device did: of
	// several devices marking one pair at once, exactly one succeeds. Marking
	// again for the same device is not an error and changes nothing (a device
	// resends its hello); for another device the error wraps ErrPairUsed.
	MarkUsed(ctx context.Context, pid PID, device amt.UUID) error
	// Pairs yields the pairs f selects in the order they were added, a few at
	// a time, holding no lock while the caller's loop runs (it may call
	// MarkUsed). An error ends the sequence.
	Pairs(ctx context.Context, f PairFilter) iter.Seq2[StoredPair, error]
}

// CollectPairs gathers what a Pairs sequence yields (for small stores and
// tests).
func CollectPairs(seq iter.Seq2[StoredPair, error]) ([]StoredPair, error) {
	var out []StoredPair
	for p, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// MemoryStore is an in-memory [Store], safe for concurrent use. The zero value is
// ready to use.
type MemoryStore struct {
	// Now is the clock for Added and UsedAt; nil means time.Now. Set it before
	// first use.
	Now func() time.Time

	mu    sync.RWMutex
	pairs map[PID]*StoredPair
	order []PID
}

var _ Store = (*MemoryStore)(nil)

func (s *MemoryStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Put implements [Store].
func (s *MemoryStore) Put(ctx context.Context, pairs ...Pair) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, p := range pairs {
		if p.PID.IsZero() || p.PPS.IsZero() {
			return fmt.Errorf("pskx: pair %d lacks a PID or PPS", i+1)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pairs == nil {
		s.pairs = make(map[PID]*StoredPair)
	}
	batch := make(map[PID]bool, len(pairs))
	for _, p := range pairs {
		if _, dup := s.pairs[p.PID]; dup || batch[p.PID] {
			return fmt.Errorf("%w: %v", ErrDuplicatePID, p.PID)
		}
		batch[p.PID] = true
	}
	now := s.now()
	for _, p := range pairs {
		s.pairs[p.PID] = &StoredPair{Pair: p, Version: 1, Added: now}
		s.order = append(s.order, p.PID)
	}
	return nil
}

// Lookup implements [Store].
func (s *MemoryStore) Lookup(ctx context.Context, pid PID) (StoredPair, error) {
	if err := ctx.Err(); err != nil {
		return StoredPair{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.pairs[pid]
	if !ok {
		return StoredPair{}, fmt.Errorf("%w: %v", ErrPairNotFound, pid)
	}
	return *p, nil
}

// MarkUsed implements [Store].
func (s *MemoryStore) MarkUsed(ctx context.Context, pid PID, device amt.UUID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pairs[pid]
	if !ok {
		return fmt.Errorf("%w: %v", ErrPairNotFound, pid)
	}
	if p.Used {
		if p.UsedBy == device {
			return nil
		}
		return fmt.Errorf("%w: %v was used by %v", ErrPairUsed, pid, p.UsedBy)
	}
	p.Used, p.UsedAt, p.UsedBy = true, s.now(), device
	p.Version++
	return nil
}

// Pairs implements [Store]. It copies the PIDs in order, then the pairs
// one at a time.
func (s *MemoryStore) Pairs(ctx context.Context, f PairFilter) iter.Seq2[StoredPair, error] {
	return func(yield func(StoredPair, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(StoredPair{}, err)
			return
		}
		s.mu.RLock()
		order := slices.Clone(s.order)
		s.mu.RUnlock()
		for _, pid := range order {
			if err := ctx.Err(); err != nil {
				yield(StoredPair{}, err)
				return
			}
			s.mu.RLock()
			p := *s.pairs[pid]
			s.mu.RUnlock()
			if f.Match(p) && !yield(p, nil) {
				return
			}
		}
	}
}
