package amt_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testvectors"
)

type uuidVector struct {
	Wire      testvectors.Hex `json:"wire"`
	Canonical string          `json:"canonical"`
}

func TestUUIDVectors(t *testing.T) {
	f := testvectors.Load[uuidVector](t, "uuid")
	for _, v := range f.Vectors {
		t.Run(v.Canonical, func(t *testing.T) {
			u, err := amt.UUIDFromWire(v.Wire)
			require.NoError(t, err)
			assert.Equal(t, v.Canonical, u.String())
			w := u.Wire()
			assert.Equal(t, []byte(v.Wire), w[:])
			p, err := amt.ParseUUID(v.Canonical)
			require.NoError(t, err)
			assert.Equal(t, u, p)
			// The RFC 4122 reading of the wire bytes is a different identity unless
			// the first 8 bytes are palindromic per field.
			std, err := uuid.FromBytes(v.Wire)
			require.NoError(t, err)
			if v.Canonical != "00000000-0000-0000-0000-000000000000" && v.Canonical != "ffffffff-ffff-ffff-ffff-ffffffffffff" {
				assert.NotEqual(t, v.Canonical, std.String(), "uuid.FromBytes on wire bytes must differ")
			}
		})
	}
}

func TestParseUUIDForms(t *testing.T) {
	want := "d2ffc23e-9dd1-412d-860a-54b2039b72ff"
	for _, s := range []string{
		want,
		"D2FFC23E-9DD1-412D-860A-54B2039B72FF",
		"{d2ffc23e-9dd1-412d-860a-54b2039b72ff}",
		"urn:uuid:d2ffc23e-9dd1-412d-860a-54b2039b72ff",
		"d2ffc23e9dd1412d860a54b2039b72ff",
	} {
		u, err := amt.ParseUUID(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, u.String(), s)
	}
	for _, s := range []string{
		"", "d2ffc23e-9dd1-412d-860a-54b2039b72f", "d2ffc23e-9dd1-412d-860a-54b2039b72fff",
		"d2ffc23e_9dd1-412d-860a-54b2039b72ff", "g2ffc23e-9dd1-412d-860a-54b2039b72ff",
		"{d2ffc23e-9dd1-412d-860a-54b2039b72ff", "d2ffc23e9dd1412d860a54b2039b72fg",
	} {
		_, err := amt.ParseUUID(s)
		assert.ErrorIs(t, err, amt.ErrUUIDFormat, s)
	}
}

func TestUUIDFromWireLength(t *testing.T) {
	for _, n := range []int{0, 15, 17} {
		_, err := amt.UUIDFromWire(make([]byte, n))
		require.Error(t, err)
		assert.True(t, errors.Is(err, amt.ErrUUIDFormat))
	}
}

func TestUUIDText(t *testing.T) {
	var u amt.UUID
	require.NoError(t, u.UnmarshalText([]byte("4b529b93-d413-181d-e487-1c697a6b7a2b")))
	b, err := u.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "4b529b93-d413-181d-e487-1c697a6b7a2b", string(b))
	w := u.Wire()
	assert.Equal(t, "939b524b13d41d18e4871c697a6b7a2b", hex.EncodeToString(w[:]))
	assert.False(t, u.IsZero())
	assert.True(t, amt.UUID{}.IsZero())
	assert.Error(t, u.UnmarshalText([]byte("nope")))
}

func FuzzParseUUID(f *testing.F) {
	f.Add("d2ffc23e-9dd1-412d-860a-54b2039b72ff")
	f.Add("{d2ffc23e-9dd1-412d-860a-54b2039b72ff}")
	f.Add("urn:uuid:d2ffc23e-9dd1-412d-860a-54b2039b72ff")
	f.Add("d2ffc23e9dd1412d860a54b2039b72ff")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := amt.ParseUUID(s)
		if err != nil {
			return
		}
		back, err := amt.ParseUUID(u.String())
		if err != nil || back != u {
			t.Fatalf("round trip of %q: %v %v", s, back, err)
		}
		w := u.Wire()
		again, err := amt.UUIDFromWire(w[:])
		if err != nil || again != u {
			t.Fatalf("wire round trip of %q failed", s)
		}
	})
}
