package provisioning_test

import (
	"context"
	"encoding/binary"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A KVStore's tombstones are removed by a walk once past TombstoneRetention;
// one whose time is missing (an older amtkit deleted it) or stamps another
// delete (an older amtkit deleted the device again) gets the walk's time
// first. They were kept for good: one value per device ever deleted. Leases
// stay: their tokens only grow.
func TestKVStoreTombstoneRetention(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	s.TombstoneRetention = 24 * time.Hour
	keys := func() string {
		kv.mu.Lock()
		defer kv.mu.Unlock()
		var out []string
		for k := range kv.m {
			out = append(out, k)
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	walk := func() {
		_, err := provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
		require.NoError(t, err)
	}
	a, b, old, again, live := amt.UUID{0xa}, amt.UUID{0xb}, amt.UUID{0xc}, amt.UUID{0xe}, amt.UUID{0xd}
	for _, u := range []amt.UUID{a, b, again} {
		l, err := s.AcquireLease(ctx, u, "p1", at, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.ReleaseLease(ctx, l))
		r := &provisioning.DeviceRecord{UUID: u}
		require.NoError(t, s.Save(ctx, r))
		require.NoError(t, s.Save(ctx, r))
		require.NoError(t, s.Delete(ctx, u, r.Version))
	}
	tomb := func(u amt.UUID) []byte { return kv.m["device/"+u.String()] }
	assert.Len(t, tomb(a), 8, "a tombstone is read by an older amtkit as before: the version alone")
	kv.m["device/"+old.String()] = binary.BigEndian.AppendUint64(nil, 5) // an older amtkit's tombstone
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: live}))

	walk()
	at = at.Add(23 * time.Hour)
	// Within the retention a device created again goes on from its
	// tombstone, and the time of its delete goes.
	r := &provisioning.DeviceRecord{UUID: b}
	require.NoError(t, s.Save(ctx, r))
	assert.EqualValues(t, 3, r.Version)
	assert.NotContains(t, keys(), "deleted/"+b.String())
	// An older amtkit creates again and deletes again: its tombstone
	// (version 4) is not the delete the stored time stamps (version 2).
	kv.m["device/"+again.String()] = binary.BigEndian.AppendUint64(nil, 4)
	walk()
	assert.Equal(t, 11, strings.Count(keys(), " ")+1, "within the retention every tombstone stays: %s", keys())

	at = at.Add(2 * time.Hour) // a's tombstone is 25 h old, old's 25 h since the first walk stamped it
	walk()
	got := keys()
	assert.NotContains(t, got, "device/"+a.String(), "a's tombstone is gone")
	assert.NotContains(t, got, "deleted/"+a.String())
	assert.Contains(t, got, "lease/"+a.String(), "leases stay: tokens only grow")
	assert.NotContains(t, got, "device/"+old.String())
	assert.NotContains(t, got, "deleted/"+old.String())
	assert.Contains(t, got, "device/"+again.String(), "deleted again 2 h ago: kept a retention from the walk that saw it")
	assert.Contains(t, got, "device/"+b.String())
	assert.Contains(t, got, "device/"+live.String())

	// Past the retention a device created again starts over.
	r = &provisioning.DeviceRecord{UUID: a}
	require.NoError(t, s.Save(ctx, r))
	assert.EqualValues(t, 1, r.Version)

	at = at.Add(23 * time.Hour)
	walk()
	assert.NotContains(t, keys(), "device/"+again.String(), "a retention after the walk that stamped it")
	assert.NotContains(t, keys(), "deleted/"+again.String())
}

// A device's lease tokens keep growing across a purge of its tombstone: a
// session that stalled past its lease never meets its token again, and its
// fenced save loses. Removing the lease with the tombstone (as a1c93ec did)
// handed token 1 out again.
func TestKVStoreLeaseTokensGrowPastAPurge(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	s.TombstoneRetention = 24 * time.Hour
	d := amt.UUID{0xd}

	l, err := s.AcquireLease(ctx, d, "p1", at, time.Minute)
	require.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: d}
	require.NoError(t, s.SaveFenced(ctx, r, l))
	require.NoError(t, s.Delete(ctx, d, r.Version))
	require.NoError(t, s.ReleaseLease(ctx, l))

	at = at.Add(25 * time.Hour)
	stale, err := s.AcquireLease(ctx, d, "p1", at, time.Minute)
	require.NoError(t, err)
	at = at.Add(2 * time.Minute) // the session stalls past its lease
	_, err = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.NoError(t, err)
	_, err = s.Load(ctx, d)
	require.ErrorIs(t, err, provisioning.ErrNotFound)
	require.NotContains(t, kv.m, "device/"+d.String(), "the tombstone was purged")

	for range 3 {
		cur, err := s.AcquireLease(ctx, d, "p2", at, time.Hour)
		require.NoError(t, err)
		assert.Greater(t, cur.Token, stale.Token, "token %d handed out again", cur.Token)
		require.NoError(t, s.ReleaseLease(ctx, cur))
	}
	cur, err := s.AcquireLease(ctx, d, "p2", at, time.Hour)
	require.NoError(t, err)
	err = s.SaveFenced(ctx, &provisioning.DeviceRecord{UUID: d, LastError: "stale writer"}, stale)
	assert.ErrorIs(t, err, provisioning.ErrLeaseLost, "a stale holder's fenced create won over the holder of token %d", cur.Token)
}
