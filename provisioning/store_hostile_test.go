package provisioning_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// Device A's stored value copied under B's key is refused, before any of
// A's secrets is opened.
func TestKVStoreRecordCopiedUnderAnotherKeyRefused(t *testing.T) {
	ctx := context.Background()
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	a, b := amt.UUID{0xa}, amt.UUID{0xb}
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: a, MEBxPassword: amt.NewSecret("A-MEBx-Pa55!")}))
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: b, MEBxPassword: amt.NewSecret("B-MEBx-Pa55!")}))
	kv.m["device/"+b.String()] = kv.m["device/"+a.String()]

	_, err = s.Load(ctx, b)
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	assert.ErrorContains(t, err, "is that of "+a.String())
	_, err = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
}

// Unmarshal bounds what it builds, not only its input: a 4 MiB record of
// empty certificate objects would decode into over a gigabyte (about 300
// times the input). It is refused, with little allocated.
func TestCodecAllocationIsBounded(t *testing.T) {
	ctx := context.Background()
	c := provisioning.RecordCodec{Sealer: testSealer(t)}
	n := (4<<20 - 100) / 3
	in := []byte(`{"format":1,"certificates":[` + strings.Repeat("{},", n-1) + `{}]}`)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	r, err := c.Unmarshal(ctx, in)
	runtime.ReadMemStats(&m1)
	mib := (m1.TotalAlloc - m0.TotalAlloc) >> 20
	assert.Nil(t, r)
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	assert.Less(t, mib, uint64(16), "MiB allocated to refuse a %d-byte record", len(in))
}

// raceKV lets a test act between KVStore.Delete's read and its
// compare-and-swap, and fail reads after that.
type raceKV struct {
	*mapKV
	beforeCAS func()
	failGet   error
}

func (k *raceKV) Get(ctx context.Context, key string) ([]byte, error) {
	if k.failGet != nil {
		return nil, k.failGet
	}
	return k.mapKV.Get(ctx, key)
}

func (k *raceKV) CompareAndSwap(ctx context.Context, key string, old, new []byte) (bool, error) {
	if f := k.beforeCAS; f != nil {
		k.beforeCAS = nil
		f()
	}
	return k.mapKV.CompareAndSwap(ctx, key, old, new)
}

// KVStore.Delete that loses its compare-and-swap and then fails to read the
// value again returns that error, as Save does, not a conflict with "the
// store has none".
func TestKVDeleteReturnsReadErrorAfterLostSwap(t *testing.T) {
	ctx := context.Background()
	kv := &raceKV{mapKV: &mapKV{m: map[string][]byte{}}}
	codec := provisioning.RecordCodec{Sealer: testSealer(t)}
	s, err := provisioning.NewKVStore(kv, codec)
	require.NoError(t, err)
	other, err := provisioning.NewKVStore(kv.mapKV, codec)
	require.NoError(t, err)
	u := amt.UUID{0xe}
	r := &provisioning.DeviceRecord{UUID: u}
	require.NoError(t, s.Save(ctx, r))
	errIO := errors.New("kv: i/o timeout")
	kv.beforeCAS = func() {
		cur, err := other.Load(ctx, u)
		require.NoError(t, err)
		require.NoError(t, other.Save(ctx, cur)) // a concurrent writer: version 2
		kv.failGet = errIO
	}
	err = s.Delete(ctx, u, r.Version)
	require.ErrorIs(t, err, errIO)
	assert.NotErrorIs(t, err, provisioning.ErrConflict)
}

// Bytes after the end of a record are refused, whatever they begin with:
// json.Decoder.More, which the codec asked, reports no more data before a
// closing bracket or brace, so a record extended by "}" or "]" and then
// anything (up to MaxRecordSize of it) loaded as if it ended there. Through
// the codec and through a store's Load, the error is typed (ErrRecordFormat,
// a *RecordError naming the device); white space after a record is still
// read, as JSON allows it.
func TestAttackRecordExtendedPastItsEnd(t *testing.T) {
	ctx := context.Background()
	c := provisioning.RecordCodec{Sealer: testSealer(t)}
	kv := &mapKV{m: map[string][]byte{}}
	s, err := provisioning.NewKVStore(kv, c)
	require.NoError(t, err)
	u := amt.UUID{0xe}
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: u, AdminPassword: amt.NewSecret("Ext-Admin-Pa55!")}))
	stored := bytes.Clone(kv.m["device/"+u.String()])
	rec := stored[8:]
	for name, tail := range map[string]string{
		"brace":             "}",
		"bracket":           "]",
		"brace and data":    `}{"format":2,"uuid":"` + amt.UUID{0xf}.String() + `"}`,
		"bracket and junk":  "]" + strings.Repeat("A", 1000),
		"spaced brace":      " \n}",
		"a second record":   string(rec),
		"a letter":          "x",
		"white space, then": "\n]",
	} {
		_, err := c.UnmarshalFor(ctx, u, 1, append(bytes.Clone(rec), tail...))
		require.ErrorIs(t, err, provisioning.ErrRecordFormat, name)
		kv.m["device/"+u.String()] = append(bytes.Clone(stored), tail...)
		_, err = s.Load(ctx, u)
		var re *provisioning.RecordError
		require.ErrorAs(t, err, &re, name)
		assert.Equal(t, u, re.Device, name)
		assert.NotContains(t, err.Error(), "Ext-Admin-Pa55!", name)
	}
	for _, ws := range []string{"", " ", "\n", "\r\n\t "} {
		got, err := c.UnmarshalFor(ctx, u, 1, append(bytes.Clone(rec), ws...))
		require.NoError(t, err, "%q after the record", ws)
		assert.Equal(t, "Ext-Admin-Pa55!", got.AdminPassword.Reveal())
	}
}
