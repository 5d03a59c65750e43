package provisioning_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/storetest"
	"github.com/amtkit/amtkit/seal"
)

func codec(t testing.TB) provisioning.RecordCodec {
	return provisioning.RecordCodec{Sealer: testSealer(t)}
}

// Every field of a record, at every depth, survives the codec; the zero
// record too (a zero CertHash, which CertHash.MarshalText refuses, and zero
// secrets, which marshal as "[REDACTED]" through encoding.TextMarshaler).
func TestRecordCodecRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := codec(t)
	full, err := storetest.Fill(amt.UUID{1, 2, 3}, 1)
	require.NoError(t, err)
	full.Version = 42
	for name, r := range map[string]*provisioning.DeviceRecord{
		"every field": full,
		"zero":        {},
		"zero parts":  {Session: &provisioning.SessionRecord{}, Agent: &provisioning.AgentRequest{}, Users: []provisioning.UserCredential{{}}},
		"empty lists": {History: []provisioning.StepRecord{}, Certificates: []provisioning.DeviceCertificate{}, DeviceCertPin: []byte{}},
	} {
		b, err := c.Marshal(ctx, r)
		require.NoError(t, err, name)
		assert.NotContains(t, string(b), amt.Redacted, name)
		got, err := c.Unmarshal(ctx, b)
		require.NoError(t, err, name)
		assert.Equal(t, r, got, name)
	}
}

func TestRecordCodecSealsEverySecret(t *testing.T) {
	ctx := context.Background()
	r, err := storetest.Fill(amt.UUID{9}, 9)
	require.NoError(t, err)
	secrets := storetest.Secrets(r)
	require.Len(t, secrets, 14, "admin, MEBx and two users, established and in the session, the agent's OTP, the pending admin and MEBx passwords of a rotation, two network secrets and the MPS password")
	b, err := codec(t).Marshal(ctx, r)
	require.NoError(t, err)
	for _, s := range secrets {
		assert.NotContains(t, string(b), s.Reveal())
	}
	// The sealed values name their key and nothing else readable.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	assert.NotEmpty(t, raw["adminPassword"])
}

func TestRecordCodecRefuses(t *testing.T) {
	ctx := context.Background()
	c := codec(t)
	r, err := storetest.Fill(amt.UUID{5}, 5)
	require.NoError(t, err)
	b, err := c.Marshal(ctx, r)
	require.NoError(t, err)

	// Another key cannot open it.
	other, err := seal.NewAESGCM(seal.Keyring{Primary: seal.Key{ID: "other", Secret: bytes.Repeat([]byte{1}, 32)}})
	require.NoError(t, err)
	_, err = provisioning.RecordCodec{Sealer: other}.Unmarshal(ctx, b)
	assert.ErrorIs(t, err, seal.ErrUnknownKey)

	// A sealed password moved into another record does not open there.
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v))
	v["uuid"] = amt.UUID{6}.String()
	moved, err := json.Marshal(v)
	require.NoError(t, err)
	_, err = c.Unmarshal(ctx, moved)
	assert.ErrorIs(t, err, seal.ErrOpen)

	// Nor into another field of the same record.
	require.NoError(t, json.Unmarshal(b, &v))
	v["mebxPassword"] = v["adminPassword"]
	swapped, err := json.Marshal(v)
	require.NoError(t, err)
	_, err = c.Unmarshal(ctx, swapped)
	assert.ErrorIs(t, err, seal.ErrOpen)

	// Nor into another version of the same record.
	require.NoError(t, json.Unmarshal(b, &v))
	v["version"] = r.Version + 1
	later, err := json.Marshal(v)
	require.NoError(t, err)
	_, err = c.Unmarshal(ctx, later)
	assert.ErrorIs(t, err, seal.ErrOpen)

	// UnmarshalFor refuses a record stored for another device or version
	// before opening anything.
	_, err = c.UnmarshalFor(ctx, amt.UUID{6}, r.Version, b)
	assert.ErrorIs(t, err, provisioning.ErrRecordFormat)
	_, err = c.UnmarshalFor(ctx, r.UUID, r.Version+1, b)
	assert.ErrorIs(t, err, provisioning.ErrRecordFormat)
	got, err := c.UnmarshalFor(ctx, r.UUID, r.Version, b)
	require.NoError(t, err)
	assert.Equal(t, r, got)

	for name, in := range map[string]string{
		"not JSON":        "hello",
		"other format":    `{"format":3}`,
		"offset time":     `{"format":2,"lastSeen":"9999-12-31T23:59:59-23:59"}`,
		"too many values": `{"format":2,"history":[` + strings.Repeat("{},", 1<<16) + `{}]}`,
		"unknown field":   `{"format":1,"extra":true}`,
		"trailing data":   `{"format":1} {}`,
		"bad state":       `{"format":1,"state":"Sleeping"}`,
		"bad source":      `{"format":1,"source":"not an address"}`,
		"bad time":        `{"format":1,"lastSeen":"yesterday"}`,
		"plain password":  `{"format":1,"adminPassword":"UGxhaW4xIQ=="}`,
	} {
		_, err := c.Unmarshal(ctx, []byte(in))
		assert.Error(t, err, name)
		if name != "bad state" && name != "plain password" {
			assert.ErrorIs(t, err, provisioning.ErrRecordFormat, name)
		}
	}
	_, err = provisioning.RecordCodec{}.Marshal(ctx, r)
	var ce *provisioning.ConfigError
	assert.ErrorAs(t, err, &ce, "no sealer: nothing is stored in plaintext")
	_, err = provisioning.NewKVStore(&mapKV{}, provisioning.RecordCodec{})
	assert.ErrorAs(t, err, &ce)
}

// Every strict prefix of an encoded record fails to decode.
func TestRecordCodecEveryStrictPrefixFails(t *testing.T) {
	ctx := context.Background()
	c := codec(t)
	r, err := storetest.Fill(amt.UUID{7}, 7)
	require.NoError(t, err)
	b, err := c.Marshal(ctx, r)
	require.NoError(t, err)
	for n := 0; n < len(b); n++ {
		_, err := c.Unmarshal(ctx, b[:n])
		if err == nil {
			t.Fatalf("prefix of %d of %d bytes decoded", n, len(b))
		}
	}
}

func TestReseal(t *testing.T) {
	ctx := context.Background()
	oldKey := seal.Key{ID: "2025", Secret: bytes.Repeat([]byte{1}, 32)}
	newKey := seal.Key{ID: "2026", Secret: bytes.Repeat([]byte{2}, 32)}
	before, err := seal.NewAESGCM(seal.Keyring{Primary: oldKey})
	require.NoError(t, err)
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: before})
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		r, err := storetest.Fill(amt.UUID{byte(i + 1)}, i)
		require.NoError(t, err)
		require.NoError(t, s.Save(ctx, r))
	}
	rotating, err := seal.NewAESGCM(seal.Keyring{Primary: newKey, Previous: []seal.Key{oldKey}})
	require.NoError(t, err)
	s, err = provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: rotating})
	require.NoError(t, err)
	n, err := provisioning.Reseal(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, 5, n)

	after, err := seal.NewAESGCM(seal.Keyring{Primary: newKey})
	require.NoError(t, err)
	s, err = provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: after})
	require.NoError(t, err)
	recs, err := provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.NoError(t, err, "every record opens without the retired key")
	assert.Len(t, recs, 5)
	for _, v := range kv.values() {
		assert.False(t, strings.Contains(string(v), `"2025"`))
	}
}

func FuzzRecordCodec(f *testing.F) {
	ctx := context.Background()
	c := codec(f)
	r, _ := storetest.Fill(amt.UUID{3}, 3)
	b, _ := c.Marshal(ctx, r)
	f.Add(b)
	zero, _ := c.Marshal(ctx, &provisioning.DeviceRecord{})
	f.Add(zero)
	f.Add([]byte(`{"format":1,"session":{},"agent":{},"users":[{}]}`))
	// Within the limits as written, not as Marshal would write it back.
	f.Add([]byte(`{"format":2,"certificates":[{}` + strings.Repeat(`,{}`, 19_999) + `]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := c.Unmarshal(ctx, in)
		if err != nil {
			if r != nil {
				t.Fatal("a record with an error")
			}
			return
		}
		// What decodes encodes again to the same record.
		out, err := c.Marshal(ctx, r)
		if err != nil {
			if errors.Is(err, seal.ErrOpen) {
				return
			}
			t.Fatalf("re-encoding: %v", err)
		}
		again, err := c.Unmarshal(ctx, out)
		if err != nil {
			t.Fatalf("decoding the re-encoding: %v", err)
		}
		if !assert.ObjectsAreEqual(r, again) {
			t.Fatalf("re-encoding changed the record")
		}
	})
}

// racingStore changes or deletes a record behind Reseal's back, right before
// Reseal's first save of it, as another provisioner would.
type racingStore struct {
	*provisioning.MemoryStore
	t       *testing.T
	change  amt.UUID
	remove  amt.UUID
	raced   map[amt.UUID]bool
	retries int
}

func (s *racingStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if s.raced[r.UUID] {
		s.retries++
	} else if r.UUID == s.change || r.UUID == s.remove {
		s.raced[r.UUID] = true
		other, err := s.MemoryStore.Load(ctx, r.UUID)
		require.NoError(s.t, err)
		if r.UUID == s.remove {
			require.NoError(s.t, s.MemoryStore.Delete(ctx, r.UUID, other.Version))
		} else {
			other.Inventory.FQDN = "changed-meanwhile.contoso.com"
			require.NoError(s.t, s.MemoryStore.Save(ctx, other))
		}
	}
	return s.MemoryStore.Save(ctx, r)
}

// Reseal loses nothing to a record that changes while it runs: it saves the
// record again from what is stored now, and passes over one deleted meanwhile.
func TestResealRacesOtherWriters(t *testing.T) {
	ctx := context.Background()
	s := &racingStore{MemoryStore: provisioning.NewMemoryStore(), t: t, change: amt.UUID{2}, remove: amt.UUID{4}, raced: map[amt.UUID]bool{}}
	for i := 1; i <= 5; i++ {
		r, err := storetest.Fill(amt.UUID{byte(i)}, i)
		require.NoError(t, err)
		require.NoError(t, s.MemoryStore.Save(ctx, r))
	}
	n, err := provisioning.Reseal(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "every record but the deleted one saved")
	assert.Equal(t, 1, s.retries, "the changed record saved again, once")
	got, err := s.Load(ctx, amt.UUID{2})
	require.NoError(t, err)
	assert.Equal(t, "changed-meanwhile.contoso.com", got.Inventory.FQDN, "the other writer's change is kept")
	_, err = s.Load(ctx, amt.UUID{4})
	require.ErrorIs(t, err, provisioning.ErrNotFound, "a deleted record is not brought back")
}

// tooLargeStore refuses to write back one device's record as too large, as
// a store does after a key rotation lengthened the envelopes of a record at
// the size limit.
type tooLargeStore struct {
	*provisioning.MemoryStore
	big amt.UUID
}

func (s tooLargeStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if r.UUID == s.big {
		return fmt.Errorf("%w: record %s", provisioning.ErrRecordTooLarge, r.UUID)
	}
	return s.MemoryStore.Save(ctx, r)
}

// Reseal passes over a record that is too large to write back and seals the
// rest; its error counts it.
func TestResealPassesOverRecordTooLargeToWriteBack(t *testing.T) {
	ctx := context.Background()
	ms := provisioning.NewMemoryStore()
	for i := 1; i <= 3; i++ {
		require.NoError(t, ms.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i)}}))
	}
	n, err := provisioning.Reseal(ctx, tooLargeStore{ms, amt.UUID{2}})
	assert.Equal(t, 2, n)
	require.ErrorIs(t, err, provisioning.ErrRecordTooLarge)
	assert.ErrorContains(t, err, "1 records were too large to write back")
}
