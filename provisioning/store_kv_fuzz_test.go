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
)

// FuzzKVStoreValues plants arbitrary bytes under a device's three keys — its
// record, the time of its delete and its lease — as someone with write
// access to the KV could. KVStore's decoding of them never panics; Load and
// a walk refuse an unreadable record with a *RecordError (the walk goes on to
// the next device), and what loads is the device's own record.
func FuzzKVStoreValues(f *testing.F) {
	ctx := context.Background()
	sealer := testSealer(f)
	u, next := amt.UUID{1}, amt.UUID{2}
	{
		kv := &mapKV{m: map[string][]byte{}}
		s, _ := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: sealer})
		_ = s.Save(ctx, &provisioning.DeviceRecord{UUID: u, AdminPassword: amt.NewSecret("Seed-Pa55!")})
		_, _ = s.AcquireLease(ctx, u, "p1", time.Unix(1, 0), time.Minute)
		f.Add(kv.m["device/"+u.String()], []byte(nil), kv.m["lease/"+u.String()])
	}
	stamp := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 3), 1)
	f.Add(binary.BigEndian.AppendUint64(nil, 3), stamp, []byte(`{"owner":"x","token":1,"expires":0}`))
	f.Add(stamp, stamp[:8], []byte(`{`))
	f.Add([]byte{0, 0, 0}, []byte{}, []byte(`null`))
	f.Add(append(binary.BigEndian.AppendUint64(nil, 1), `{"format":2,"version":1,"uuid":"01000000-0000-0000-0000-000000000000"}`...), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, record, deleted, lease []byte) {
		kv := &mapKV{m: map[string][]byte{}}
		s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: sealer})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, &provisioning.DeviceRecord{UUID: next}); err != nil {
			t.Fatal(err)
		}
		for key, v := range map[string][]byte{"device/": record, "deleted/": deleted, "lease/": lease} {
			if v != nil {
				kv.m[key+u.String()] = bytes.Clone(v)
			}
		}
		var re *provisioning.RecordError
		r, err := s.Load(ctx, u)
		switch {
		case err == nil:
			if r.UUID != u {
				t.Fatalf("loaded the record of %s for %s", r.UUID, u)
			}
		case errors.Is(err, provisioning.ErrNotFound), errors.As(err, &re):
		default:
			t.Fatalf("Load: an error that does not say the record cannot be read: %v", err)
		}
		sawNext := false
		for r, err := range s.Records(ctx, provisioning.Filter{}) {
			if err != nil {
				if !errors.As(err, &re) {
					t.Fatalf("Records: %v", err)
				}
				continue
			}
			sawNext = sawNext || r.UUID == next
		}
		if !sawNext {
			t.Fatal("the walk did not reach the next device")
		}
		// Writes over what was planted fail or succeed; they never panic.
		_, _ = s.AcquireLease(ctx, u, "p2", time.Unix(2, 0), time.Minute)
		if r != nil {
			_ = s.Save(ctx, r)
			_ = s.Delete(ctx, u, r.Version)
		}
		_ = s.Save(ctx, &provisioning.DeviceRecord{UUID: u})
	})
}

// A tombstone planted with version 0 and a delete time that is not 16 bytes:
// the walk's tidy-up took the malformed time for its own (a version 0 matched
// the 0 reported for it) and sliced it, panicking the walk — and with it the
// Maintainer (found by FuzzKVStoreValues). The time is stamped afresh.
func TestKVStoreWalkPlantedDeleteTime(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	u := amt.UUID{1}
	for _, planted := range [][]byte{{'0'}, make([]byte, 8), make([]byte, 17)} {
		kv.m["device/"+u.String()] = make([]byte, 8) // a tombstone of version 0
		kv.m["deleted/"+u.String()] = bytes.Clone(planted)
		for _, err := range s.Records(ctx, provisioning.Filter{}) {
			_ = err
		}
		assert.Len(t, kv.m["deleted/"+u.String()], 16, "planted %q: the delete time is stamped afresh", planted)
	}
}
