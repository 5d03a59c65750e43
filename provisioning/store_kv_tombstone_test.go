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

// A KVStore's tombstones are removed by a walk once past TombstoneRetention,
// with the device's lease once released; one written without its time (by
// an older amtkit) gets the walk's time first. They were kept for good: one
// value per device ever deleted.
func TestKVStoreTombstoneRetention(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	s.TombstoneRetention = 24 * time.Hour
	keys := func() []string {
		kv.mu.Lock()
		defer kv.mu.Unlock()
		var out []string
		for k := range kv.m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	walk := func() {
		_, err := provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
		require.NoError(t, err)
	}
	a, b, old, live := amt.UUID{0xa}, amt.UUID{0xb}, amt.UUID{0xc}, amt.UUID{0xd}
	for _, u := range []amt.UUID{a, b} {
		l, err := s.AcquireLease(ctx, u, "p1", at, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.ReleaseLease(ctx, l))
		r := &provisioning.DeviceRecord{UUID: u}
		require.NoError(t, s.Save(ctx, r))
		require.NoError(t, s.Save(ctx, r))
		require.NoError(t, s.Delete(ctx, u, r.Version))
	}
	kv.m["device/"+old.String()] = binary.BigEndian.AppendUint64(nil, 5) // an older amtkit's tombstone
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: live}))

	walk()
	at = at.Add(23 * time.Hour)
	// Within the retention a device created again goes on from its tombstone.
	r := &provisioning.DeviceRecord{UUID: b}
	require.NoError(t, s.Save(ctx, r))
	assert.EqualValues(t, 3, r.Version)
	walk()
	assert.Len(t, keys(), 6, "within the retention every tombstone stays")

	at = at.Add(2 * time.Hour) // a's tombstone is 25 h old, old's 25 h since the first walk stamped it
	walk()
	got := strings.Join(keys(), " ")
	assert.NotContains(t, got, a.String(), "a's tombstone and released lease are gone")
	assert.NotContains(t, got, old.String())
	assert.Contains(t, got, "device/"+b.String())
	assert.Contains(t, got, "lease/"+b.String(), "b has a record again: its lease stays")
	assert.Contains(t, got, "device/"+live.String())

	// Past the retention a device created again starts over.
	r = &provisioning.DeviceRecord{UUID: a}
	require.NoError(t, s.Save(ctx, r))
	assert.EqualValues(t, 1, r.Version)
}
