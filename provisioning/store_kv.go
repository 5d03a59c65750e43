package provisioning

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// KV is the small key-value interface [NewKVStore] builds a [Store] on: opaque
// values, keys listed in order, and one conditional write. etcd (a Txn
// comparing the value), Consul (check-and-set), Redis (WATCH/MULTI), DynamoDB
// (a condition expression), bbolt or Badger (a transaction) and a map under a
// mutex all provide it. Implementations must be safe for concurrent use.
type KV interface {
	// Get returns key's value, or an error matching ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// CompareAndSwap sets key to new if its value is old — old nil: only if
	// the key is absent; new nil: delete it — and reports whether it did.
	CompareAndSwap(ctx context.Context, key string, old, new []byte) (bool, error)
	// Keys yields the keys that begin with prefix, in increasing byte order.
	// Between two yields the caller may Get and CompareAndSwap any key
	// (KVStore.Records loads each record, and its caller may Save): Keys
	// must not hold a lock or a read transaction while it yields — with
	// bbolt, say, a write waiting for an open reader would deadlock. Copy a
	// page of keys, release, yield them, and go on after the last.
	Keys(ctx context.Context, prefix string) iter.Seq2[string, error]
}

// KVStore is a [Store] over a [KV]: records encoded by a [RecordCodec]
// (secrets sealed) under "device/<uuid>", leases under "lease/<uuid>", and
// the time of each delete under "deleted/<uuid>". Build it with [NewKVStore].
type KVStore struct {
	kv    KV
	codec RecordCodec

	// TombstoneRetention is how long a deleted record's tombstone (its last
	// version, from which the record goes on if the device is created
	// again, so that a writer still holding an older version loses) is
	// kept. [KVStore.Records] removes the tombstones past it as its walk
	// passes them (the Maintainer walks every run); a device created again
	// after that starts at version 1. Leases stay: a device's lease tokens
	// only grow. It must be longer than any writer holds a record it read.
	// Zero: 30 days. Negative: kept for good (one small value per device
	// ever deleted). Set it before the store is used.
	TombstoneRetention time.Duration
	// Now is the clock of tombstones and of the retention. Nil: time.Now.
	// Set it before the store is used.
	Now func() time.Time
}

var _ Store = (*KVStore)(nil)

// Key prefixes of a KVStore.
const (
	kvDevicePrefix  = "device/"
	kvLeasePrefix   = "lease/"
	kvDeletedPrefix = "deleted/"
)

// NewKVStore returns a Store that keeps records in kv, encoded by codec (whose
// Sealer is required: nothing is stored in plaintext).
func NewKVStore(kv KV, codec RecordCodec) (*KVStore, error) {
	if kv == nil {
		return nil, &ConfigError{Field: "KV", Problem: "required"}
	}
	if codec.Sealer == nil {
		return nil, &ConfigError{Field: "RecordCodec.Sealer", Problem: "required: secrets are never stored in plaintext"}
	}
	return &KVStore{kv: kv, codec: codec}, nil
}

// A stored value is the record's version (8 bytes, big-endian) followed by
// the codec's encoding, so a compare-and-swap of the value is one of the
// version too. A deleted record leaves a tombstone, its last version (8
// bytes), so that a record created again goes on from it: versions never
// repeat within TombstoneRetention. The time of the delete is kept apart,
// under "deleted/<uuid>" with the version it stamps (8 + 8 bytes, Unix
// nanoseconds), so that an amtkit that predates it reads the tombstone as
// before; a tombstone whose time is missing or stamps another version (the
// older amtkit deleted the device again) gets the time of the next walk.
// (A 16-byte value, version and time, is a tombstone too: an unreleased
// build wrote them under the device's key.)
//
// The rule that keeps versions from repeating early: a time key may go at
// any moment (its tombstone is stamped again, later, and kept longer), but
// must never outlive its tombstone (it would stamp the device's next
// tombstone of that version as deleted long ago). So a purge removes the
// time first and the tombstone second, a create over nothing removes a time
// left behind, and a complete walk removes the times whose device has no
// tombstone.
//
// get returns the value and the record's version. For a deleted record it
// returns ErrNotFound with the tombstone's bytes and its version.
func (s *KVStore) get(ctx context.Context, u amt.UUID) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	b, err := s.kv.Get(ctx, kvDevicePrefix+u.String())
	if err != nil {
		return nil, 0, err
	}
	switch {
	case len(b) < 8:
		return nil, 0, &RecordError{Device: u, Err: fmt.Errorf("%w: %d bytes", ErrRecordFormat, len(b))}
	case isKVTombstone(b):
		return b, binary.BigEndian.Uint64(b), fmt.Errorf("%w: %s (deleted)", ErrNotFound, u)
	}
	return b, binary.BigEndian.Uint64(b), nil
}

// decode opens the value stored under u's key: a value copied from another
// device's key, or an older one written back, fails (UnmarshalFor).
func (s *KVStore) decode(ctx context.Context, u amt.UUID, b []byte) (*DeviceRecord, error) {
	version := binary.BigEndian.Uint64(b)
	r, err := s.codec.UnmarshalFor(ctx, u, version, b[8:])
	if err != nil {
		return nil, err
	}
	r.Version = version
	return r, nil
}

// Load implements [Store].
func (s *KVStore) Load(ctx context.Context, u amt.UUID) (*DeviceRecord, error) {
	b, _, err := s.get(ctx, u)
	if err != nil {
		return nil, err
	}
	return s.decode(ctx, u, b)
}

// GuardedKV is a [KV] that can also make a compare-and-swap conditional on a
// second key's value, in the same step. [KVStore.SaveFenced] uses it, when the
// KV has it, to check the device's lease in the step that writes the record,
// as [MemoryStore] and provisioning/sqlstore do; over a plain KV it reads the
// lease just before its compare-and-swap, and a lease taken in between is not
// seen. etcd (one Txn comparing both values), Redis (WATCH on both keys, then
// MULTI/EXEC), DynamoDB (TransactWriteItems with a ConditionCheck on the
// lease's item), Consul (a transaction checking both keys' ModifyIndex) and
// bbolt or Badger (one read-write transaction) provide it.
type GuardedKV interface {
	KV
	// CompareAndSwapIf is CompareAndSwap of key that writes nothing, and
	// reports false, unless guardKey's value is guard (nil: absent) in the
	// same step.
	CompareAndSwapIf(ctx context.Context, guardKey string, guard []byte, key string, old, new []byte) (bool, error)
}

// SaveFenced implements [FencedSaver]. Over a [GuardedKV] the lease is
// checked in the compare-and-swap that writes the record; over a plain KV it
// is read just before it (a KV has no transaction over two keys, so a lease
// taken in between is not seen).
func (s *KVStore) SaveFenced(ctx context.Context, r *DeviceRecord, l Lease) error {
	return s.save(ctx, r, func() ([]byte, error) {
		b, cur, err := s.lease(ctx, r.UUID)
		if err != nil {
			return nil, err
		}
		if cur.Token != l.Token || cur.Owner != l.Owner || l.Owner == "" {
			return nil, fmt.Errorf("%w: %s's lease %d of %q is not the device's lease (token %d of %q)", ErrLeaseLost, r.UUID, l.Token, l.Owner, cur.Token, cur.Owner)
		}
		return b, nil
	})
}

// Save implements [Store].
func (s *KVStore) Save(ctx context.Context, r *DeviceRecord) error {
	return s.save(ctx, r, nil)
}

// save writes r if the store holds its version and, when fence is set, the
// lease fence checks (fence returns the lease's bytes, which a GuardedKV's
// swap requires unchanged). A swap lost to a write that changed neither
// (a walk purging the tombstone it read, the holder renewing its lease, a
// create and delete in between) is tried again: the checks, read afresh,
// name a real conflict.
func (s *KVStore) save(ctx context.Context, r *DeviceRecord, fence func() ([]byte, error)) error {
	gkv, guarded := s.kv.(GuardedKV)
	key := kvDevicePrefix + r.UUID.String()
	var (
		val    []byte // the value written: version and encoding
		valFor uint64 // the version val holds
	)
	for attempt := 0; ; attempt++ {
		old, have, err := s.get(ctx, r.UUID)
		next := have + 1
		switch {
		case errors.Is(err, ErrNotFound):
			// Absent (old nil), or deleted: old is the tombstone, and
			// the record goes on from its last version.
			have = 0
		case err != nil:
			return err
		}
		// The lease is read after the record, and its loss named before a
		// conflict (as MemoryStore and sqlstore do): a record another
		// provisioner wrote under a lease it took is seen with that lease.
		var guard []byte
		if fence != nil {
			if guard, err = fence(); err != nil {
				return err
			}
		}
		if have != r.Version {
			return &ConflictError{Device: r.UUID, Expected: r.Version, Actual: have}
		}
		if val == nil || valFor != next {
			// The encoding binds the version its sealed values are
			// stored at.
			c := *r
			c.Version = next
			enc, err := s.codec.Marshal(ctx, &c)
			if err != nil {
				return err
			}
			val = append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(enc)), next), enc...)
			valFor = next
		}
		var ok bool
		if fence != nil && guarded {
			ok, err = gkv.CompareAndSwapIf(ctx, kvLeasePrefix+r.UUID.String(), guard, key, old, val)
		} else {
			ok, err = s.kv.CompareAndSwap(ctx, key, old, val)
		}
		if err != nil {
			return err
		}
		if ok {
			r.Version = next
			switch {
			case isKVTombstone(old):
				// Created again: the time of the delete goes (if it
				// still stamps that delete; housekeeping, a failure
				// leaves it).
				s.forgetDeleted(ctx, r.UUID, binary.BigEndian.Uint64(old), true)
			case old == nil:
				// Created over nothing: a time left by a purge that
				// stopped half-way, or by a walk that stamped a
				// tombstone another was purging, stamps no delete of
				// this device.
				s.forgetDeleted(ctx, r.UUID, 0, false)
			}
			return nil
		}
		if attempt >= maxConflictRetries {
			_, now, err := s.get(ctx, r.UUID)
			switch {
			case errors.Is(err, ErrNotFound):
				now = 0
			case err != nil:
				return err
			}
			if fence != nil {
				if _, err := fence(); err != nil {
					return err
				}
			}
			return fmt.Errorf("provisioning: %d compare-and-swaps of %s lost to writes that left its version: %w", attempt+1, r.UUID, &ConflictError{Device: r.UUID, Expected: r.Version, Actual: now})
		}
	}
}

// Delete implements [Store].
func (s *KVStore) Delete(ctx context.Context, u amt.UUID, version uint64) error {
	old, have, err := s.get(ctx, u)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case have != version:
		return &ConflictError{Device: u, Expected: version, Actual: have}
	}
	ok, err := s.kv.CompareAndSwap(ctx, kvDevicePrefix+u.String(), old, binary.BigEndian.AppendUint64(nil, have))
	if err != nil {
		return err
	}
	if !ok {
		_, now, err := s.get(ctx, u)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		return &ConflictError{Device: u, Expected: version, Actual: now}
	}
	// The time of the delete: one not written (a failure, a race) is
	// stamped by the next walk, which keeps the tombstone longer, never
	// shorter.
	old, _, err = s.deleted(ctx, u)
	if err == nil {
		stamp := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), have), uint64(s.now().UnixNano()))
		_, _ = s.kv.CompareAndSwap(ctx, kvDeletedPrefix+u.String(), old, stamp)
	}
	return nil
}

// deleted returns the value under u's "deleted/" key (nil if absent) and the
// version it stamps; a value of another length is returned with version 0,
// which stamps no tombstone.
func (s *KVStore) deleted(ctx context.Context, u amt.UUID) ([]byte, uint64, error) {
	b, err := s.kv.Get(ctx, kvDeletedPrefix+u.String())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	case len(b) != 16:
		return b, 0, nil
	}
	return b, binary.BigEndian.Uint64(b), nil
}

// isKVTombstone reports whether a device key's value is a tombstone: the
// version alone, or (an unreleased build) version and time. A record's
// encoding is far longer.
func isKVTombstone(b []byte) bool { return len(b) == 8 || len(b) == 16 }

// forgetDeleted removes the time of u's delete: the one that stamps version
// when only is set, whatever it stamps otherwise.
func (s *KVStore) forgetDeleted(ctx context.Context, u amt.UUID, version uint64, only bool) {
	if b, v, err := s.deleted(ctx, u); err == nil && b != nil && (!only || v == version) {
		_, _ = s.kv.CompareAndSwap(ctx, kvDeletedPrefix+u.String(), b, nil)
	}
}

// Records implements [Store]: it walks the device keys and decodes one record
// at a time.
func (s *KVStore) Records(ctx context.Context, f Filter) iter.Seq2[*DeviceRecord, error] {
	return func(yield func(*DeviceRecord, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		for key, err := range s.kv.Keys(ctx, kvDevicePrefix) {
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				yield(nil, err)
				return
			}
			u, err := amt.ParseUUID(strings.TrimPrefix(key, kvDevicePrefix))
			if err != nil {
				if !yield(nil, &RecordError{Err: fmt.Errorf("%w: key %q", ErrRecordFormat, key)}) {
					return
				}
				continue
			}
			b, _, err := s.get(ctx, u)
			if errors.Is(err, ErrNotFound) {
				if b != nil {
					s.tidy(ctx, u, b)
				}
				continue // deleted
			}
			var r *DeviceRecord
			if err == nil {
				r, err = s.decode(ctx, u, b)
			}
			var unreadable *RecordError
			if errors.As(err, &unreadable) {
				// This record only: the walk goes on.
				if !yield(nil, err) {
					return
				}
				continue
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if f.Match(r) && !yield(r, nil) {
				return
			}
		}
		s.sweepDeleted(ctx)
	}
}

// sweepDeleted removes, after a complete walk, the times of deletes whose
// device has no tombstone (a record, or nothing): left by a purge that
// stopped half-way, by a walk that stamped a tombstone another walk was
// purging, or by an older amtkit that created the device again. It is
// housekeeping: a failure leaves them for the next walk.
func (s *KVStore) sweepDeleted(ctx context.Context) {
	if s.TombstoneRetention < 0 {
		return
	}
	for key, err := range s.kv.Keys(ctx, kvDeletedPrefix) {
		if err != nil || ctx.Err() != nil {
			return
		}
		u, err := amt.ParseUUID(strings.TrimPrefix(key, kvDeletedPrefix))
		if err != nil {
			continue
		}
		b, err := s.kv.Get(ctx, kvDevicePrefix+u.String())
		switch {
		case errors.Is(err, ErrNotFound), err == nil && !isKVTombstone(b):
			s.forgetDeleted(ctx, u, 0, false)
		}
	}
}

func (s *KVStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// DefaultTombstoneRetention is how long a store keeps a deleted record's
// tombstone unless told otherwise: [KVStore.TombstoneRetention]'s default,
// and provisioning/sqlstore's.
const DefaultTombstoneRetention = 30 * 24 * time.Hour

// tidy looks after the tombstone b of u as a walk passes it: one without
// the time of its delete (an older amtkit wrote it, or the write of the time
// failed) gets the current one, so that it is removed a retention from now,
// and one past the retention is removed, with its time. Leases stay: a
// device's lease tokens only grow, and its lease is their floor. It is
// housekeeping: a failure (a concurrent write, the KV) leaves it for the
// next walk.
func (s *KVStore) tidy(ctx context.Context, u amt.UUID, b []byte) {
	keep := s.TombstoneRetention
	if keep == 0 {
		keep = DefaultTombstoneRetention
	}
	if keep < 0 {
		return
	}
	now := s.now()
	version := binary.BigEndian.Uint64(b)
	stamp, v, err := s.deleted(ctx, u)
	if err != nil {
		return
	}
	if len(stamp) != 16 || v != version {
		// None, another delete's, or not a time amtkit writes (a planted
		// value: found by fuzzing, it was sliced as one): stamped afresh.
		next := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), version), uint64(now.UnixNano()))
		_, _ = s.kv.CompareAndSwap(ctx, kvDeletedPrefix+u.String(), stamp, next)
		return
	}
	if at := int64(binary.BigEndian.Uint64(stamp[8:])); now.Sub(time.Unix(0, at)) <= keep {
		return
	}
	// The time first: if the tombstone then stays (a failure, a crash, a
	// create or delete in between), it is stamped again and kept longer.
	// And a walk that read this tombstone and its time before another
	// purged them, the device was created and deleted again at the same
	// version, fails here: the new delete has another time (or none).
	if ok, err := s.kv.CompareAndSwap(ctx, kvDeletedPrefix+u.String(), stamp, nil); err != nil || !ok {
		return
	}
	_, _ = s.kv.CompareAndSwap(ctx, kvDevicePrefix+u.String(), b, nil)
}

// kvLease is a lease as a KVStore keeps it.
type kvLease struct {
	Owner   string `json:"owner"`
	Token   uint64 `json:"token"`
	Expires int64  `json:"expires"` // Unix nanoseconds; 0 once released
}

func (s *KVStore) lease(ctx context.Context, u amt.UUID) ([]byte, kvLease, error) {
	if err := ctx.Err(); err != nil {
		return nil, kvLease{}, err
	}
	b, err := s.kv.Get(ctx, kvLeasePrefix+u.String())
	if errors.Is(err, ErrNotFound) {
		return nil, kvLease{}, nil
	}
	if err != nil {
		return nil, kvLease{}, err
	}
	var l kvLease
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, kvLease{}, fmt.Errorf("provisioning: lease of %s: %w", u, err)
	}
	return b, l, nil
}

// swapLease writes next over old with one compare-and-swap and reports
// whether it won.
func (s *KVStore) swapLease(ctx context.Context, u amt.UUID, old []byte, next kvLease) (bool, error) {
	b, err := json.Marshal(next)
	if err != nil {
		return false, err
	}
	return s.kv.CompareAndSwap(ctx, kvLeasePrefix+u.String(), old, b)
}

func (l kvLease) lease(u amt.UUID) Lease {
	out := Lease{Device: u, Owner: l.Owner, Token: l.Token}
	if l.Expires != 0 {
		out.Expires = time.Unix(0, l.Expires).UTC()
	}
	return out
}

// AcquireLease implements [Store].
func (s *KVStore) AcquireLease(ctx context.Context, u amt.UUID, owner string, now time.Time, ttl time.Duration) (Lease, error) {
	if err := CheckLeaseArgs(owner, ttl); err != nil {
		return Lease{}, err
	}
	for attempt := 0; ; attempt++ {
		old, cur, err := s.lease(ctx, u)
		if err != nil {
			return Lease{}, err
		}
		if cur.Owner != "" && cur.Owner != owner && now.UnixNano() < cur.Expires {
			return Lease{}, &LeaseHeldError{Device: u, Owner: cur.Owner, Expires: cur.lease(u).Expires}
		}
		next := kvLease{Owner: owner, Token: cur.Token + 1, Expires: now.Add(ttl).UnixNano()}
		ok, err := s.swapLease(ctx, u, old, next)
		if err != nil {
			return Lease{}, err
		}
		if ok {
			return next.lease(u), nil
		}
		if attempt >= maxConflictRetries {
			return Lease{}, fmt.Errorf("provisioning: lease of %s: %w", u, ErrConflict)
		}
	}
}

// RenewLease implements [Store].
func (s *KVStore) RenewLease(ctx context.Context, l Lease, now time.Time, ttl time.Duration) (Lease, error) {
	if err := CheckLeaseArgs(l.Owner, ttl); err != nil {
		return Lease{}, err
	}
	old, cur, err := s.lease(ctx, l.Device)
	if err != nil {
		return Lease{}, err
	}
	if cur.Token != l.Token || cur.Owner != l.Owner || old == nil {
		return Lease{}, fmt.Errorf("%w: %s's lease %d of %q", ErrLeaseLost, l.Device, l.Token, l.Owner)
	}
	next := kvLease{Owner: l.Owner, Token: l.Token, Expires: now.Add(ttl).UnixNano()}
	ok, err := s.swapLease(ctx, l.Device, old, next)
	if err != nil {
		return Lease{}, err
	}
	if !ok {
		return Lease{}, fmt.Errorf("%w: %s's lease %d of %q changed while it was renewed", ErrLeaseLost, l.Device, l.Token, l.Owner)
	}
	return next.lease(l.Device), nil
}

// ReleaseLease implements [Store].
func (s *KVStore) ReleaseLease(ctx context.Context, l Lease) error {
	old, cur, err := s.lease(ctx, l.Device)
	if err != nil {
		return err
	}
	if old == nil || cur.Token != l.Token || cur.Owner != l.Owner {
		return nil
	}
	// The token stays, so the next lease's is greater.
	_, err = s.swapLease(ctx, l.Device, old, kvLease{Token: cur.Token})
	return err
}
