package provisioning_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
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
