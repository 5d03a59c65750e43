package provisioning_test

import (
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

// hookGuardedKV is a hookKV that is also a GuardedKV: the hook runs before
// every swap, guarded or not.
type hookGuardedKV struct{ *hookKV }

func (k hookGuardedKV) CompareAndSwapIf(ctx context.Context, guardKey string, guard []byte, key string, old, new []byte) (bool, error) {
	k.hookKV.mu.Lock()
	f := k.before
	k.hookKV.mu.Unlock()
	if f != nil && f(key, old, new) {
		return false, errors.New("kv: injected failure")
	}
	return guardedMapKV{k.mapKV}.CompareAndSwapIf(ctx, guardKey, guard, key, old, new)
}

// once returns a hook that runs f before the first swap of key.
func once(key string, f func()) func(string, []byte, []byte) bool {
	done := false
	return func(k string, _, _ []byte) bool {
		if k == key && !done {
			done = true
			f()
		}
		return false
	}
}

// A provisioner that stalled past its lease checks it and, before its write
// lands, another takes the device. Over a GuardedKV the lease is part of the
// write's compare-and-swap: nothing is written. Over a plain KV the write
// lands — the window KVStore.SaveFenced documents for a KV without it. The
// holder renewing its own lease in that window changes the lease's bytes but
// not its holder: the save goes on.
func TestKVStoreSaveFencedInTheSwap(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	const ttl = 10 * time.Second
	for _, tc := range []struct {
		name      string
		guarded   bool
		inBetween string // "take": another provisioner takes the lease; "renew": its holder renews it
		wantLost  bool
	}{
		{"guarded, lease taken", true, "take", true},
		{"plain, lease taken", false, "take", false},
		{"guarded, lease renewed", true, "renew", false},
		{"plain, lease renewed", false, "renew", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hookKV{mapKV: &mapKV{m: map[string][]byte{}}}
			var kv provisioning.KV = h
			if tc.guarded {
				kv = hookGuardedKV{h}
			}
			s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
			require.NoError(t, err)
			u := amt.UUID{0xf, 0xe}
			a, err := s.AcquireLease(ctx, u, "stalled", t0, ttl)
			require.NoError(t, err)
			r := &provisioning.DeviceRecord{UUID: u, Attempts: 1}
			require.NoError(t, s.SaveFenced(ctx, r, a))

			h.set(once("device/"+u.String(), func() {
				var err error
				switch tc.inBetween {
				case "take":
					_, err = s.AcquireLease(ctx, u, "next", t0.Add(2*ttl), ttl)
				case "renew":
					_, err = s.RenewLease(ctx, a, t0.Add(ttl/2), ttl)
				}
				require.NoError(t, err)
			}))
			w := r.Clone()
			w.Attempts = 2
			err = s.SaveFenced(ctx, w, a)
			h.set(nil)
			got, lerr := s.Load(ctx, u)
			require.NoError(t, lerr)
			if tc.wantLost {
				require.ErrorIs(t, err, provisioning.ErrLeaseLost)
				assert.Equal(t, 1, got.Attempts, "written under a lease another provisioner took")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 2, got.Attempts)
			assert.Equal(t, w.Version, got.Version)
		})
	}
}

// A save's compare-and-swap lost to a write that left the record's version
// as the writer read it is tried again, not reported as a conflict between
// "none" and "none": a walk purging the tombstone a create read, another
// provisioner creating and deleting the device in between.
func TestKVStoreSaveRetriesASwapThatLeftTheVersion(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		tombstone   bool // the device was deleted before the create
		inBetween   func(t *testing.T, kv *mapKV, s *provisioning.KVStore, u amt.UUID)
		wantVersion uint64
	}{
		{"tombstone purged", true, func(t *testing.T, kv *mapKV, _ *provisioning.KVStore, u amt.UUID) {
			ok, err := kv.CompareAndSwap(ctx, "device/"+u.String(), binary.BigEndian.AppendUint64(nil, 1), nil)
			require.NoError(t, err)
			require.True(t, ok)
		}, 1},
		{"created and deleted", false, func(t *testing.T, _ *mapKV, s *provisioning.KVStore, u amt.UUID) {
			o := &provisioning.DeviceRecord{UUID: u}
			require.NoError(t, s.Save(ctx, o))
			require.NoError(t, s.Delete(ctx, u, o.Version))
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hookKV{mapKV: &mapKV{m: map[string][]byte{}}}
			s, err := provisioning.NewKVStore(h, provisioning.RecordCodec{Sealer: testSealer(t)})
			require.NoError(t, err)
			s.Now = func() time.Time { return at }
			u := amt.UUID{0xf, 0xd}
			if tc.tombstone {
				r := &provisioning.DeviceRecord{UUID: u}
				require.NoError(t, s.Save(ctx, r))
				require.NoError(t, s.Delete(ctx, u, r.Version))
			}
			h.set(once("device/"+u.String(), func() { tc.inBetween(t, h.mapKV, s, u) }))
			r := &provisioning.DeviceRecord{UUID: u, LastError: "created"}
			require.NoError(t, s.Save(ctx, r))
			h.set(nil)
			assert.Equal(t, tc.wantVersion, r.Version)
			got, err := s.Load(ctx, u)
			require.NoError(t, err)
			assert.Equal(t, "created", got.LastError)
		})
	}
}

// Retries are bounded: a holder whose every save loses its swap to a write of
// the lease (here a renewal before each one) gets a ConflictError, not an
// endless loop.
func TestKVStoreSaveRetriesAreBounded(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	h, s, u, a := busyGuardedStore(t, amt.UUID{0xf, 0xc}, t0)
	swaps := 0
	h.set(func(key string, _, _ []byte) bool {
		if key == "device/"+u.String() {
			swaps++
			_, err := s.RenewLease(ctx, a, t0.Add(time.Duration(swaps)*time.Second), time.Minute)
			require.NoError(t, err)
		}
		return false
	})
	err := s.SaveFenced(ctx, &provisioning.DeviceRecord{UUID: u}, a)
	var ce *provisioning.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 17, swaps)
	_, err = s.Load(ctx, u)
	assert.ErrorIs(t, err, provisioning.ErrNotFound)
}

// busyGuardedStore is a KVStore over a hooked GuardedKV whose device u is
// leased to "busy" from t0 for a minute.
func busyGuardedStore(t *testing.T, u amt.UUID, t0 time.Time) (*hookKV, *provisioning.KVStore, amt.UUID, provisioning.Lease) {
	t.Helper()
	h := &hookKV{mapKV: &mapKV{m: map[string][]byte{}}}
	s, err := provisioning.NewKVStore(hookGuardedKV{h}, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	a, err := s.AcquireLease(context.Background(), u, "busy", t0, time.Minute)
	require.NoError(t, err)
	return h, s, u, a
}
