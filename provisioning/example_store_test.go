package provisioning_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/seal"
)

// kvMap is a whole key-value store for NewKVStore: a map under a mutex, with
// compare-and-swap. etcd, Consul, Redis or bbolt fit the same three methods
// (and the fourth, CompareAndSwapIf, that makes it a GuardedKV).
type kvMap struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *kvMap) Get(_ context.Context, key string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if v, ok := k.m[key]; ok {
		return v, nil
	}
	return nil, provisioning.ErrNotFound
}

func (k *kvMap) CompareAndSwap(_ context.Context, key string, old, new []byte) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur, ok := k.m[key]; ok != (old != nil) || !bytes.Equal(cur, old) {
		return false, nil
	}
	if new == nil {
		delete(k.m, key)
	} else {
		k.m[key] = new
	}
	return true, nil
}

// CompareAndSwapIf makes kvMap a GuardedKV: SaveFenced then checks the
// device's lease in the same step as the record's version. (etcd: one Txn
// comparing both keys; Redis: WATCH both, then MULTI/EXEC.)
func (k *kvMap) CompareAndSwapIf(_ context.Context, guardKey string, guard []byte, key string, old, new []byte) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur, ok := k.m[guardKey]; ok != (guard != nil) || !bytes.Equal(cur, guard) {
		return false, nil
	}
	if cur, ok := k.m[key]; ok != (old != nil) || !bytes.Equal(cur, old) {
		return false, nil
	}
	if new == nil {
		delete(k.m, key)
	} else {
		k.m[key] = new
	}
	return true, nil
}

func (k *kvMap) Keys(_ context.Context, prefix string) iter.Seq2[string, error] {
	k.mu.Lock()
	defer k.mu.Unlock()
	var keys []string
	for key := range k.m {
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return func(yield func(string, error) bool) {
		for _, key := range keys {
			if !yield(key, nil) {
				return
			}
		}
	}
}

// Any key-value store with compare-and-swap backs the engine: NewKVStore adds
// versions, leases and filters, and RecordCodec seals every secret.
func ExampleNewKVStore() {
	ctx := context.Background()
	key := seal.Key{ID: "2026-01", Secret: []byte("an-example-key-of-32-bytes-long!")} // from your secret store
	sealer, _ := seal.NewAESGCM(seal.Keyring{Primary: key})
	kv := &kvMap{m: map[string][]byte{}}
	store, _ := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: sealer})
	store.TombstoneRetention = 7 * 24 * time.Hour // deleted records' versions kept a week (default 30 days)

	u, _ := amt.ParseUUID("8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c")
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateProvisioned, Done: provisioning.DoneCommitted,
		AdminUser: "admin", AdminPassword: amt.NewSecret("Adm1n!Example")}
	if err := store.Save(ctx, r); err != nil {
		panic(err)
	}
	stored := kv.m["device/"+u.String()]
	fmt.Println("version:", r.Version)
	fmt.Println("password in the stored bytes:", bytes.Contains(stored, []byte("Adm1n!Example")))

	// A writer that read the record before the save above loses.
	stale := &provisioning.DeviceRecord{UUID: u}
	fmt.Println(store.Save(ctx, stale))

	got, _ := store.Load(ctx, u)
	fmt.Println("loaded:", got.State, got.AdminPassword.Equal(amt.NewSecret("Adm1n!Example")))
	for rec, err := range store.Records(ctx, provisioning.Filter{Provisioned: true}) {
		if err != nil {
			panic(err)
		}
		fmt.Println("provisioned:", rec.UUID)
	}
	// Output:
	// version: 1
	// password in the stored bytes: false
	// provisioning: record 8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c changed since it was read: expected none, the store has version 1
	// loaded: Provisioned true
	// provisioned: 8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c
}

// A provisioner that stalled past its lease (a suspended VM) cannot write
// over a device another provisioner took. Over a GuardedKV (kvMap is one)
// SaveFenced checks the lease in the compare-and-swap that writes the record,
// so a lease taken between its check and its write is seen too; over a plain
// KV only a lease taken before the check is.
func ExampleGuardedKV() {
	ctx := context.Background()
	sealer, _ := seal.NewAESGCM(seal.Keyring{Primary: seal.Key{ID: "2026-01", Secret: []byte("an-example-key-of-32-bytes-long!")}})
	store, _ := provisioning.NewKVStore(&kvMap{m: map[string][]byte{}}, provisioning.RecordCodec{Sealer: sealer})
	u, _ := amt.ParseUUID("8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c")
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

	mine, _ := store.AcquireLease(ctx, u, "provisioner-a", t0, time.Minute)
	r := &provisioning.DeviceRecord{UUID: u, Attempts: 1}
	fmt.Println("saved under the lease:", store.SaveFenced(ctx, r, mine) == nil)

	// provisioner-a stalls for two minutes; provisioner-b takes the device.
	_, _ = store.AcquireLease(ctx, u, "provisioner-b", t0.Add(2*time.Minute), time.Minute)
	r.Attempts = 2
	err := store.SaveFenced(ctx, r, mine)
	fmt.Println("lease lost:", errors.Is(err, provisioning.ErrLeaseLost))
	// Output:
	// saved under the lease: true
	// lease lost: true
}

// Three provisioners share one store: each takes a device's lease before it
// works on it, and a dead one's lease expires.
func ExampleLeaseStore() {
	ctx := context.Background()
	store := provisioning.NewMemoryStore()
	u, _ := amt.ParseUUID("8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c")
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	a, _ := store.AcquireLease(ctx, u, "provisioner-a", now, time.Minute)
	_, err := store.AcquireLease(ctx, u, "provisioner-b", now.Add(30*time.Second), time.Minute)
	fmt.Println(err)
	// provisioner-a dies without releasing; a minute later the lease is free.
	b, _ := store.AcquireLease(ctx, u, "provisioner-b", now.Add(time.Minute), time.Minute)
	fmt.Println(b.Owner, b.Token > a.Token)
	_, err = store.RenewLease(ctx, a, now.Add(time.Minute), time.Minute)
	fmt.Println(errors.Is(err, provisioning.ErrLeaseLost))
	// Output:
	// provisioning: device 8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c is leased to "provisioner-a" until 2026-01-01T12:01:00Z
	// provisioner-b true
	// true
}

// A provisioner that stalled past its lease cannot write once another took
// the lease: the fenced save checks the lease in the same step as the
// version (the engine saves this way whenever its store is a FencedSaver).
func ExampleFencedSaver() {
	ctx := context.Background()
	store := provisioning.NewMemoryStore()
	u, _ := amt.ParseUUID("8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c")
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	a, _ := store.AcquireLease(ctx, u, "provisioner-a", now, time.Minute)
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateIdentified}
	fmt.Println(store.SaveFenced(ctx, r, a))
	// provisioner-a stalls for two minutes; provisioner-b takes the lease.
	_, _ = store.AcquireLease(ctx, u, "provisioner-b", now.Add(2*time.Minute), time.Minute)
	r.State = provisioning.StateConfigured
	err := store.SaveFenced(ctx, r, a)
	fmt.Println(errors.Is(err, provisioning.ErrLeaseLost))
	got, _ := store.Load(ctx, u)
	fmt.Println(got.State, got.Version)
	// Output:
	// <nil>
	// true
	// Identified 1
}

// A walk of the store passes over a record it cannot read — here one sealed
// with a key the keyring no longer holds — and goes on with the rest; the
// *RecordError names the device.
func ExampleRecordError() {
	ctx := context.Background()
	oldKey := seal.Key{ID: "2025-01", Secret: []byte("an-old-example-key-of-32-bytes!!")}
	newKey := seal.Key{ID: "2026-01", Secret: []byte("an-example-key-of-32-bytes-long!")}
	kv := &kvMap{m: map[string][]byte{}}
	before, _ := seal.NewAESGCM(seal.Keyring{Primary: oldKey})
	old, _ := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: before})
	a, _ := amt.ParseUUID("0a000000-0000-4000-8000-000000000000")
	b, _ := amt.ParseUUID("0b000000-0000-4000-8000-000000000000")
	_ = old.Save(ctx, &provisioning.DeviceRecord{UUID: a, AdminPassword: amt.NewSecret("Adm1n!Example")})

	// The old key was dropped from the keyring too early.
	after, _ := seal.NewAESGCM(seal.Keyring{Primary: newKey})
	store, _ := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: after})
	_ = store.Save(ctx, &provisioning.DeviceRecord{UUID: b, AdminPassword: amt.NewSecret("Adm1n!Example")})

	for rec, err := range store.Records(ctx, provisioning.Filter{}) {
		var unreadable *provisioning.RecordError
		switch {
		case errors.As(err, &unreadable):
			fmt.Println("cannot read:", unreadable.Device, errors.Is(err, seal.ErrUnknownKey))
			continue
		case err != nil:
			panic(err) // the store itself failed: the walk has ended
		}
		fmt.Println("read:", rec.UUID)
	}
	// Output:
	// cannot read: 0a000000-0000-4000-8000-000000000000 true
	// read: 0b000000-0000-4000-8000-000000000000
}
