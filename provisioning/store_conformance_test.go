package provisioning_test

import (
	"bytes"
	"context"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/storetest"
	"github.com/amtkit/amtkit/seal"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(*testing.T) provisioning.Store { return provisioning.NewMemoryStore() },
		// In memory: a crash loses everything, so the crash test runs on the
		// same handle, and nothing is persisted to scan.
	})
}

// mapKV is the smallest KV: a map under a mutex.
type mapKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *mapKV) Get(_ context.Context, key string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	if !ok {
		return nil, provisioning.ErrNotFound
	}
	return v, nil
}

func (k *mapKV) CompareAndSwap(_ context.Context, key string, old, new []byte) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.swapLocked(key, old, new), nil
}

func (k *mapKV) holdsLocked(key string, val []byte) bool {
	cur, ok := k.m[key]
	return ok == (val != nil) && bytes.Equal(cur, val)
}

func (k *mapKV) swapLocked(key string, old, new []byte) bool {
	if !k.holdsLocked(key, old) {
		return false
	}
	if new == nil {
		delete(k.m, key)
	} else {
		k.m[key] = new
	}
	return true
}

// guardedMapKV is a mapKV that is also a GuardedKV: both keys are compared
// under its mutex.
type guardedMapKV struct{ *mapKV }

var _ provisioning.GuardedKV = guardedMapKV{}

func (k guardedMapKV) CompareAndSwapIf(_ context.Context, guardKey string, guard []byte, key string, old, new []byte) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.holdsLocked(guardKey, guard) && k.swapLocked(key, old, new), nil
}

func (k *mapKV) Keys(_ context.Context, prefix string) iter.Seq2[string, error] {
	k.mu.Lock()
	var keys []string
	for key := range k.m {
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	k.mu.Unlock()
	slices.Sort(keys)
	return func(yield func(string, error) bool) {
		for _, key := range keys {
			if !yield(key, nil) {
				return
			}
		}
	}
}

func (k *mapKV) values() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out [][]byte
	for key, v := range k.m {
		out = append(out, []byte(key), v)
	}
	return out
}

func testSealer(t testing.TB) *seal.AESGCM {
	s, err := seal.NewAESGCM(seal.Keyring{Primary: seal.Key{ID: "test", Secret: bytes.Repeat([]byte{7}, seal.KeySize)}})
	require.NoError(t, err)
	return s
}

func TestKVStoreConformance(t *testing.T) {
	for _, guarded := range []bool{false, true} {
		name := "KV"
		if guarded {
			name = "GuardedKV"
		}
		t.Run(name, func(t *testing.T) {
			kvOf := map[provisioning.Store]*mapKV{}
			var mu sync.Mutex
			open := func(t *testing.T, m *mapKV) provisioning.Store {
				var kv provisioning.KV = m
				if guarded {
					kv = guardedMapKV{m}
				}
				s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
				require.NoError(t, err)
				mu.Lock()
				kvOf[s] = m
				mu.Unlock()
				return s
			}
			kv := func(s provisioning.Store) *mapKV {
				mu.Lock()
				defer mu.Unlock()
				return kvOf[s]
			}
			storetest.Run(t, storetest.Harness{
				New:       func(t *testing.T) provisioning.Store { return open(t, &mapKV{m: map[string][]byte{}}) },
				Reopen:    func(t *testing.T, s provisioning.Store) provisioning.Store { return open(t, kv(s)) },
				Persisted: func(_ *testing.T, s provisioning.Store) [][]byte { return kv(s).values() },
			})
		})
	}
}
