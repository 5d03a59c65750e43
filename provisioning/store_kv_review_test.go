package provisioning_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// getHookKV is a hookGuardedKV whose Gets can run a hook first.
type getHookKV struct {
	hookGuardedKV
	gmu       sync.Mutex
	beforeGet func(key string)
}

func (k *getHookKV) Get(ctx context.Context, key string) ([]byte, error) {
	k.gmu.Lock()
	f := k.beforeGet
	k.gmu.Unlock()
	if f != nil {
		f(key)
	}
	return k.hookGuardedKV.Get(ctx, key)
}

func (k *getHookKV) setGet(f func(key string)) {
	k.gmu.Lock()
	k.beforeGet = f
	k.gmu.Unlock()
}

// A holder stalled past its lease calls SaveFenced over a GuardedKV; between
// its read of the lease and its read of the record, another provisioner takes
// the lease and writes the record. The lease is not the device's any more
// when the save decides: like MemoryStore and sqlstore (which check the
// lease before they name a conflict), SaveFenced reports ErrLeaseLost, not a
// version conflict the holder would merge and retry.
func TestKVStoreSaveFencedLeaseLostBeforeVersionConflict(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	const ttl = 10 * time.Second
	k := &getHookKV{hookGuardedKV: hookGuardedKV{&hookKV{mapKV: &mapKV{m: map[string][]byte{}}}}}
	s, err := provisioning.NewKVStore(k, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	u := amt.UUID{0xf, 0xb}
	a, err := s.AcquireLease(ctx, u, "stalled", t0, ttl)
	require.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: u, Attempts: 1}
	require.NoError(t, s.SaveFenced(ctx, r, a))

	done := false
	k.setGet(func(key string) {
		if key != "device/"+u.String() || done {
			return
		}
		done = true
		b, err := s.AcquireLease(ctx, u, "next", t0.Add(2*ttl), ttl)
		require.NoError(t, err)
		n, err := s.Load(ctx, u)
		require.NoError(t, err)
		n.Attempts = 10
		require.NoError(t, s.SaveFenced(ctx, n, b))
	})
	w := r.Clone()
	w.Attempts = 2
	err = s.SaveFenced(ctx, w, a)
	k.setGet(nil)
	require.True(t, done)
	require.ErrorIs(t, err, provisioning.ErrLeaseLost)
	got, err := s.Load(ctx, u)
	require.NoError(t, err)
	assert.Equal(t, 10, got.Attempts)
}

// A fenced save whose last allowed swap lost to the lease being taken
// reports ErrLeaseLost, not a ConflictError: the bound on retries must not
// turn a lost lease into a conflict.
func TestKVStoreSaveFencedRetriesExhaustedLeaseLost(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	h, s, u, a := busyGuardedStore(t, amt.UUID{0xf, 0xa}, t0)
	swaps := 0
	h.set(func(key string, _, _ []byte) bool {
		if key != "device/"+u.String() {
			return false
		}
		swaps++
		if swaps < 17 {
			_, err := s.RenewLease(ctx, a, t0.Add(time.Duration(swaps)*time.Second), time.Minute)
			require.NoError(t, err)
			return false
		}
		_, err := s.AcquireLease(ctx, u, "next", t0.Add(time.Hour), time.Minute)
		require.NoError(t, err)
		return false
	})
	err := s.SaveFenced(ctx, &provisioning.DeviceRecord{UUID: u}, a)
	h.set(nil)
	assert.Equal(t, 17, swaps)
	require.ErrorIs(t, err, provisioning.ErrLeaseLost)
	_, err = s.Load(ctx, u)
	assert.ErrorIs(t, err, provisioning.ErrNotFound)
}
