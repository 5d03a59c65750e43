package provisioning_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// hookKV is a mapKV whose CompareAndSwap can fail or run something first
// (a crash, a transient error of the KV, another process in between).
type hookKV struct {
	*mapKV
	mu     sync.Mutex
	before func(key string, old, new []byte) (fail bool)
}

func (k *hookKV) CompareAndSwap(ctx context.Context, key string, old, new []byte) (bool, error) {
	k.mu.Lock()
	f := k.before
	k.mu.Unlock()
	if f != nil && f(key, old, new) {
		return false, errors.New("kv: injected failure")
	}
	return k.mapKV.CompareAndSwap(ctx, key, old, new)
}

func (k *hookKV) set(f func(key string, old, new []byte) bool) {
	k.mu.Lock()
	k.before = f
	k.mu.Unlock()
}

// A walk purges a tombstone in two swaps. When it removed the device key
// first and the time key's removal failed (the KV, a crash between them), the
// time key stayed with no tombstone: nothing removed it, and it stamped the
// device's next tombstone of that version. A device created
// again starts over at version 1; deleted by an older amtkit (which writes
// no time) at the version of the purged tombstone, its fresh tombstone is
// taken as deleted long ago and purged by the next walk: a writer still
// holding the record it read wins its compare-and-swap.
func TestKVStoreHalfPurgeLeavesNoTime(t *testing.T) {
	ctx := context.Background()
	kv := &hookKV{mapKV: &mapKV{m: map[string][]byte{}}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	s.TombstoneRetention = 24 * time.Hour
	walk := func() {
		_, err := provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
		require.NoError(t, err)
	}
	d := amt.UUID{0xd}

	r := &provisioning.DeviceRecord{UUID: d}
	require.NoError(t, s.Save(ctx, r))
	require.NoError(t, s.Delete(ctx, d, r.Version)) // tombstone 1, deleted/ = (1, t0)

	at = at.Add(25 * time.Hour)
	failed := false
	kv.set(func(key string, _, new []byte) bool {
		if key == "deleted/"+d.String() && new == nil && !failed {
			failed = true
			return true
		}
		return false
	})
	walk() // purges device/d; the removal of deleted/d fails
	require.True(t, failed)
	kv.set(nil)
	walk()
	walk()
	require.NotContains(t, kv.m, "device/"+d.String())
	assert.NotContains(t, kv.m, "deleted/"+d.String(), "the time of a purged tombstone stays for good")

	// Created again (version 1); a writer holds version 1.
	r = &provisioning.DeviceRecord{UUID: d}
	require.NoError(t, s.Save(ctx, r))
	require.EqualValues(t, 1, r.Version)
	stale := *r
	// An older amtkit deletes it: its Delete swaps in the 8-byte tombstone
	// and writes no time.
	ok, err := kv.CompareAndSwap(ctx, "device/"+d.String(), kv.m["device/"+d.String()], binary.BigEndian.AppendUint64(nil, 1))
	require.NoError(t, err)
	require.True(t, ok)

	at = at.Add(time.Minute)
	walk()
	assert.Contains(t, kv.m, "device/"+d.String(), "a tombstone written a minute ago was purged")

	r = &provisioning.DeviceRecord{UUID: d, LastError: "created again"}
	require.NoError(t, s.Save(ctx, r))
	assert.EqualValues(t, 2, r.Version, "a version the device had is given out again")
	stale.LastError = "stale writer"
	err = s.Save(ctx, &stale)
	var conflict *provisioning.ConflictError
	assert.ErrorAs(t, err, &conflict, "a writer holding an older record won its compare-and-swap")
}

// Two walks (two provisioners' Maintainers) pass the same expired tombstone.
// The first reads the tombstone and its time and is delayed (just before its
// first removing swap); the second purges both; the device is created again at version 1 and deleted again at
// version 1 — the same 8 bytes as the purged tombstone. The first walk's
// swap of the device key (old = those 8 bytes) then succeeds and purges the
// fresh tombstone (an ABA): the device starts over at 1 and a writer holding
// version 1 wins. A purge now removes the time first, which the new delete
// changed.
func TestKVStoreConcurrentWalksKeepAFreshTombstone(t *testing.T) {
	ctx := context.Background()
	kv := &hookKV{mapKV: &mapKV{m: map[string][]byte{}}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	var clock sync.Mutex
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { clock.Lock(); defer clock.Unlock(); return at }
	s.TombstoneRetention = 24 * time.Hour
	walk := func() {
		_, err := provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
		require.NoError(t, err)
	}
	d := amt.UUID{0xd}

	r := &provisioning.DeviceRecord{UUID: d}
	require.NoError(t, s.Save(ctx, r))
	require.NoError(t, s.Delete(ctx, d, r.Version))
	clock.Lock()
	at = at.Add(25 * time.Hour)
	clock.Unlock()

	var stale provisioning.DeviceRecord
	fired := false
	kv.set(func(key string, _, new []byte) bool {
		if fired || new != nil || (key != "device/"+d.String() && key != "deleted/"+d.String()) {
			return false
		}
		fired = true
		// Walk A is between reading the time and its swap: walk B runs,
		// then the device is created and deleted again.
		walk()
		r := &provisioning.DeviceRecord{UUID: d}
		require.NoError(t, s.Save(ctx, r))
		stale = *r
		require.NoError(t, s.Delete(ctx, d, r.Version))
		return false
	})
	walk() // walk A
	require.True(t, fired)
	kv.set(nil)

	assert.Contains(t, kv.m, "device/"+d.String(), "the tombstone of a delete made a moment ago was purged")
	r = &provisioning.DeviceRecord{UUID: d, LastError: "created again"}
	require.NoError(t, s.Save(ctx, r))
	assert.Greater(t, r.Version, stale.Version, "version %d given out again", r.Version)
	stale.LastError = "stale writer"
	err = s.Save(ctx, &stale)
	var conflict *provisioning.ConflictError
	assert.ErrorAs(t, err, &conflict, "a writer holding an older record won its compare-and-swap")
}

// An unreleased build (a1c93ec) wrote tombstones of 16 bytes (version +
// time) under the device's key: they are tombstones still, not records that
// never load.
func TestKVStoreSixteenByteTombstone(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	d := amt.UUID{0xd}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	kv.m["device/"+d.String()] = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 3), uint64(at.UnixNano()))

	_, err = s.Load(ctx, d)
	assert.ErrorIs(t, err, provisioning.ErrNotFound, "a deleted record")
	_, err = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	assert.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: d}
	assert.NoError(t, s.Save(ctx, r))
	assert.EqualValues(t, 4, r.Version)
}

// A complete walk removes the times of deletes whose device has no
// tombstone: one left with nothing (a walk that stamped a tombstone another
// walk was purging) and one beside a record (an older amtkit created the
// device again). Either would stamp the device's next tombstone of that
// version as deleted long ago. A walk stopped early sweeps nothing.
func TestKVStoreWalkSweepsTimesWithoutTombstone(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	stamp := func(v uint64) []byte {
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, v), uint64(at.Add(-40*24*time.Hour).UnixNano()))
	}
	gone, live, tomb := amt.UUID{0x1}, amt.UUID{0x2}, amt.UUID{0x3}
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: live}))
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: tomb}))
	require.NoError(t, s.Delete(ctx, tomb, 1))
	kv.m["deleted/"+gone.String()] = stamp(1)
	kv.m["deleted/"+live.String()] = stamp(1)

	for range s.Records(ctx, provisioning.Filter{}) {
		break // stopped early
	}
	assert.Contains(t, kv.m, "deleted/"+gone.String(), "a walk stopped early sweeps nothing")

	_, err = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.NoError(t, err)
	assert.NotContains(t, kv.m, "deleted/"+gone.String())
	assert.NotContains(t, kv.m, "deleted/"+live.String())
	assert.Contains(t, kv.m, "deleted/"+tomb.String(), "the time of a tombstone stays")
	assert.Contains(t, kv.m, "device/"+tomb.String(), "deleted just now: kept")
}

// A device created over nothing forgets a time a half-done purge left, so
// that its first delete is stamped afresh.
func TestKVStoreCreateForgetsALeftTime(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	d := amt.UUID{0xd}
	kv.m["deleted/"+d.String()] = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 1), 1)
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: d}))
	assert.NotContains(t, kv.m, "deleted/"+d.String())
}
