package provisioning_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/storetest"
	"github.com/amtkit/amtkit/seal"
)

// plantUnreadable writes, beside the good records of kv, a record that does
// not decode (under a device key) and a key that names no UUID: a damaged
// row, a row changed outside amtkit, or one written by a newer build. The
// walks meet the first before any good record and the second after them.
func plantUnreadable(kv *mapKV) amt.UUID {
	bad := amt.UUID{15: 1} // first in UUID order: before every good record
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.m["device/"+bad.String()] = append([]byte{0, 0, 0, 0, 0, 0, 0, 3}, `{"format":99}`...)
	kv.m["device/not-a-uuid"] = []byte{0, 0, 0, 0, 0, 0, 0, 1, '{', '}'}
	return bad
}

// One unreadable record stopped every walk of the store: the Maintainer
// renewed nothing for the whole fleet, and Resume returned at it. Now the
// record is reported once a run (an event, MaintenanceReport.Unreadable) and
// the rest of the fleet is maintained.
func TestUnreadableRecordDoesNotStopMaintenance(t *testing.T) {
	clock := &fakeClock{}
	h, store, kv := kvHarnessWithKV(t, 1, func(c *provisioning.Config) { c.Now = clock.Now })
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	bad := plantUnreadable(kv)

	_, err := store.Load(h.ctx, bad)
	var re *provisioning.RecordError
	require.ErrorAs(t, err, &re, "Load says the record cannot be read")
	assert.Equal(t, bad, re.Device)
	assert.ErrorIs(t, err, provisioning.ErrRecordFormat)

	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err, "one unreadable record ends the run for the whole fleet")
	assert.Equal(t, 1, rep.Renewed, "the readable device is still maintained")
	assert.Equal(t, 2, rep.Unreadable, "each unreadable record is counted once a run, not once a walk")

	var reported []provisioning.Event
	for _, e := range h.events {
		if errors.As(e.Err, &re) {
			reported = append(reported, e)
		}
	}
	require.Len(t, reported, 2, "each is reported once")
	for _, e := range reported {
		assert.Equal(t, provisioning.ReasonStoreFailed, e.Reason)
		assert.Contains(t, e.Detail, "passed over")
	}
	assert.Equal(t, bad, reported[0].Device)

	require.NoError(t, p.Resume(h.ctx), "Resume stops at the unreadable record")
}

// Reseal seals every readable record again and then says how many it could
// not read, wrapping the first.
func TestResealPassesOverUnreadableRecords(t *testing.T) {
	h, store, kv := kvHarnessWithKV(t, 1, nil)
	_, rec := provisionOne(t, h)
	plantUnreadable(kv)
	before := rec.Version
	n, err := provisioning.Reseal(h.ctx, store)
	assert.Equal(t, 1, n, "the readable record is sealed again")
	var re *provisioning.RecordError
	require.ErrorAs(t, err, &re)
	assert.ErrorContains(t, err, "2 stored records cannot be read")
	got, err := store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Greater(t, got.Version, before)
}

// plantingKV is a mapKV on which someone with write access to the store (or
// a provisioner of a newer build) writes victim's key just before amtkit's
// first compare-and-swap of it: a value at a later version that this build
// cannot read.
type plantingKV struct {
	*mapKV
	victim  string
	planted bool
}

func (k *plantingKV) CompareAndSwap(ctx context.Context, key string, old, new []byte) (bool, error) {
	k.mu.Lock()
	if key == k.victim && !k.planted {
		k.planted = true
		cur := k.m[key]
		next := binary.BigEndian.Uint64(cur) + 1
		k.m[key] = append(binary.BigEndian.AppendUint64(nil, next), `{"format":99}`...)
	}
	k.mu.Unlock()
	return k.mapKV.CompareAndSwap(ctx, key, old, new)
}

// A record made unreadable between Reseal's walk reading it and its save —
// planted by someone with write access to the store, or written by a newer
// build during a rolling upgrade — stopped Reseal there: it returned that
// record's error and left every later record sealed by the retired key. It is
// now passed over and counted like one unreadable from the start.
func TestAttackResealStoppedByRecordMadeUnreadableMidWalk(t *testing.T) {
	ctx := context.Background()
	oldKey := seal.Key{ID: "2025", Secret: bytes.Repeat([]byte{1}, 32)}
	newKey := seal.Key{ID: "2026", Secret: bytes.Repeat([]byte{2}, 32)}
	before, err := seal.NewAESGCM(seal.Keyring{Primary: oldKey})
	require.NoError(t, err)
	kv := &plantingKV{mapKV: &mapKV{m: map[string][]byte{}}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: before})
	require.NoError(t, err)
	victim := amt.UUID{1} // first in the walk
	for i := 1; i <= 3; i++ {
		r, err := storetest.Fill(amt.UUID{byte(i)}, i)
		require.NoError(t, err)
		r.Version = 0
		require.NoError(t, s.Save(ctx, r))
	}
	kv.victim = "device/" + victim.String()

	rotating, err := seal.NewAESGCM(seal.Keyring{Primary: newKey, Previous: []seal.Key{oldKey}})
	require.NoError(t, err)
	s, err = provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: rotating})
	require.NoError(t, err)
	n, err := provisioning.Reseal(ctx, s)
	require.True(t, kv.planted)
	var re *provisioning.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, victim, re.Device)
	assert.ErrorContains(t, err, "1 stored records cannot be read")
	assert.Equal(t, 2, n, "the records after the unreadable one are sealed again")

	after, err := seal.NewAESGCM(seal.Keyring{Primary: newKey})
	require.NoError(t, err)
	s, err = provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: after})
	require.NoError(t, err)
	for i := 2; i <= 3; i++ {
		_, err := s.Load(ctx, amt.UUID{byte(i)})
		assert.NoError(t, err, "device %d opens without the retired key", i)
	}
}
