package seal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/seal"
)

func key(t testing.TB, id string, b byte) seal.Key {
	t.Helper()
	return seal.Key{ID: id, Secret: bytes.Repeat([]byte{b}, seal.KeySize)}
}

func sealer(t testing.TB, primary seal.Key, prev ...seal.Key) *seal.AESGCM {
	t.Helper()
	s, err := seal.NewAESGCM(seal.Keyring{Primary: primary, Previous: prev})
	require.NoError(t, err)
	return s
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := sealer(t, key(t, "k1", 1))
	for _, pt := range [][]byte{nil, {}, []byte("P@ssw0rd!"), bytes.Repeat([]byte{0xff}, 4096)} {
		env, err := s.Seal(ctx, pt, []byte("device/1/AdminPassword"))
		require.NoError(t, err)
		assert.Len(t, env, 2+2+12+len(pt)+16)
		got, err := s.Open(ctx, env, []byte("device/1/AdminPassword"))
		require.NoError(t, err)
		assert.Equal(t, string(pt), string(got))
		id, err := seal.KeyID(env)
		require.NoError(t, err)
		assert.Equal(t, "k1", id)
	}
}

// Two seals of one secret differ (random nonces), and neither holds the secret
// in any common encoding.
func TestNoPlaintextInEnvelope(t *testing.T) {
	ctx := context.Background()
	s := sealer(t, key(t, "k1", 1))
	pt := []byte("Sup3r$ecretPassw0rd")
	a, err := s.Seal(ctx, pt, nil)
	require.NoError(t, err)
	b, err := s.Seal(ctx, pt, nil)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	for _, env := range [][]byte{a, b} {
		for _, form := range []string{string(pt), hex.EncodeToString(pt), base64.StdEncoding.EncodeToString(pt), base64.RawURLEncoding.EncodeToString(pt)} {
			assert.NotContains(t, string(env), form)
			assert.NotContains(t, base64.StdEncoding.EncodeToString(env), form)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	k1 := key(t, "k1", 1)
	s := sealer(t, k1)
	env, err := s.Seal(ctx, []byte("secret"), []byte("rec-A"))
	require.NoError(t, err)

	_, err = s.Open(ctx, env, []byte("rec-B"))
	assert.ErrorIs(t, err, seal.ErrOpen, "another record's additional data")

	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 0x01
		_, err := s.Open(ctx, bad, []byte("rec-A"))
		require.Error(t, err, "flipped byte %d", i)
	}

	other := sealer(t, seal.Key{ID: "k1", Secret: bytes.Repeat([]byte{2}, 32)})
	_, err = other.Open(ctx, env, []byte("rec-A"))
	assert.ErrorIs(t, err, seal.ErrOpen, "same ID, other secret")

	unknown := sealer(t, key(t, "k2", 2))
	_, err = unknown.Open(ctx, env, []byte("rec-A"))
	var uk *seal.UnknownKeyError
	require.ErrorAs(t, err, &uk)
	assert.ErrorIs(t, err, seal.ErrUnknownKey)
	assert.Equal(t, "k1", uk.ID)
	assert.Equal(t, []string{"k2"}, uk.Have)
}

// Every strict prefix of an envelope fails to open, and never panics.
func TestEveryStrictPrefixFails(t *testing.T) {
	ctx := context.Background()
	s := sealer(t, key(t, "key-2026", 1))
	env, err := s.Seal(ctx, []byte("secret"), nil)
	require.NoError(t, err)
	for n := 0; n < len(env); n++ {
		_, err := s.Open(ctx, env[:n], nil)
		require.Error(t, err, "prefix of %d bytes", n)
		_, err = seal.KeyID(env[:n])
		if n < 2+8+12+16 {
			require.ErrorIs(t, err, seal.ErrFormat, "prefix of %d bytes", n)
		}
	}
}

// A rotation: the new key seals, the old one still opens what it sealed.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	old, cur := key(t, "2025", 1), key(t, "2026", 2)
	before := sealer(t, old)
	env, err := before.Seal(ctx, []byte("secret"), nil)
	require.NoError(t, err)

	after := sealer(t, cur, old)
	assert.Equal(t, "2026", after.PrimaryKeyID())
	assert.Equal(t, []string{"2026", "2025"}, after.KeyIDs())
	pt, err := after.Open(ctx, env, nil)
	require.NoError(t, err)
	assert.Equal(t, "secret", string(pt))
	resealed, err := after.Seal(ctx, pt, nil)
	require.NoError(t, err)
	id, _ := seal.KeyID(resealed)
	assert.Equal(t, "2026", id)

	retired := sealer(t, cur)
	_, err = retired.Open(ctx, env, nil)
	assert.ErrorIs(t, err, seal.ErrUnknownKey)
	_, err = retired.Open(ctx, resealed, nil)
	assert.NoError(t, err)
}

func TestNewAESGCMRefuses(t *testing.T) {
	good := key(t, "k", 1)
	for name, k := range map[string]seal.Keyring{
		"no primary":       {},
		"short key":        {Primary: seal.Key{ID: "k", Secret: make([]byte, 16)}},
		"id with space":    {Primary: seal.Key{ID: "a b", Secret: good.Secret}},
		"id too long":      {Primary: seal.Key{ID: strings.Repeat("k", 65), Secret: good.Secret}},
		"duplicate id":     {Primary: good, Previous: []seal.Key{good}},
		"bad previous key": {Primary: good, Previous: []seal.Key{{ID: "old", Secret: []byte("short")}}},
	} {
		_, err := seal.NewAESGCM(k)
		assert.Error(t, err, name)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := seal.Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}
	ring := seal.Keyring{Primary: k, Previous: []seal.Key{{ID: "k0", Secret: []byte("fedcba9876543210fedcba9876543210")}}}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "key", k, "ring", ring)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "key", k, "ring", ring, "raw", []seal.Key{k})
	js, err := json.Marshal(ring)
	require.NoError(t, err)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k), fmt.Sprintf("%+v", ring), logged.String(), string(js)} {
		for _, secret := range []string{"0123456789abcdef", "fedcba9876543210"} {
			assert.NotContains(t, out, secret)
			assert.NotContains(t, out, hex.EncodeToString([]byte(secret))[:8])
			assert.NotContains(t, out, base64.StdEncoding.EncodeToString([]byte(secret))[:8])
		}
		assert.Contains(t, out, "k1")
	}
	assert.True(t, k.Equal(seal.Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}))
	assert.False(t, k.Equal(seal.Key{ID: "k1", Secret: make([]byte, 32)}))
}

func TestNewKey(t *testing.T) {
	k, err := seal.NewKey(nil, "k")
	require.NoError(t, err)
	assert.Len(t, k.Secret, seal.KeySize)
	_, err = seal.NewKey(strings.NewReader("short"), "k")
	assert.Error(t, err)
	_, err = seal.NewKey(nil, "")
	assert.Error(t, err)
}

func TestContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := sealer(t, key(t, "k", 1))
	_, err := s.Seal(ctx, []byte("x"), nil)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Open(ctx, nil, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s := sealer(t, key(t, "k", 1))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				aad := []byte(fmt.Sprint(i, j))
				env, err := s.Seal(ctx, aad, aad)
				if err != nil {
					t.Error(err)
					return
				}
				pt, err := s.Open(ctx, env, aad)
				if err != nil || !bytes.Equal(pt, aad) {
					t.Error("round trip", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRandFailure(t *testing.T) {
	s, err := seal.NewAESGCM(seal.Keyring{Primary: key(t, "k", 1), Rand: strings.NewReader("")})
	require.NoError(t, err)
	_, err = s.Seal(context.Background(), []byte("x"), nil)
	assert.Error(t, err)
	assert.False(t, errors.Is(err, seal.ErrOpen))
}

func FuzzOpen(f *testing.F) {
	s := sealer(f, key(f, "k1", 1))
	env, _ := s.Seal(context.Background(), []byte("secret"), []byte("aad"))
	f.Add(env, []byte("aad"))
	f.Add([]byte{1, 2, 'k', '1'}, []byte(nil))
	f.Add([]byte{}, []byte(nil))
	f.Fuzz(func(t *testing.T, b, aad []byte) {
		pt, err := s.Open(context.Background(), b, aad)
		if err == nil {
			// Only a genuine envelope opens.
			if string(pt) != "secret" || string(aad) != "aad" {
				t.Fatalf("forged envelope opened: %q", pt)
			}
		}
		_, _ = seal.KeyID(b)
	})
}

// A fixed or seeded Keyring.Rand repeated every nonce (a seeded source repeats
// them after a restart): with AES-GCM that reveals the XOR of two plaintexts.
// Rand is now mixed into crypto/rand's nonces, and read under a lock.
func TestFixedRandNeverRepeatsNonces(t *testing.T) {
	s, err := seal.NewAESGCM(seal.Keyring{Primary: key(t, "k", 1), Rand: zeros{}})
	require.NoError(t, err)
	seen := map[string]bool{}
	for range 100 {
		env, err := s.Seal(context.Background(), []byte("the same secret"), []byte("aad"))
		require.NoError(t, err)
		nonce := string(env[2+len("k") : 2+len("k")+12])
		require.False(t, seen[nonce], "a nonce repeated")
		seen[nonce] = true
	}
}

// zeros reads zeros for ever: the worst Rand an integrator could set.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
