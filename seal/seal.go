package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// Sealer seals secrets for storage and opens them again. Implementations must
// be safe for concurrent use. Both calls take a context because a sealer
// backed by a key-management service may call it.
type Sealer interface {
	// Seal encrypts and authenticates plaintext, bound to aad (which is
	// authenticated, not stored), and returns a self-describing envelope.
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// Open authenticates and decrypts an envelope made by Seal with the same
	// aad. It fails (errors.Is ErrOpen) when the envelope was altered, was
	// sealed for other additional data or by another key with the same ID, and
	// with an *UnknownKeyError when no key of that ID is configured.
	Open(ctx context.Context, envelope, aad []byte) ([]byte, error)
}

// Errors returned by [AESGCM].
var (
	// ErrOpen: the envelope does not authenticate (tampered, wrong key, or
	// sealed for other additional data).
	ErrOpen = errors.New("seal: envelope does not authenticate")
	// ErrFormat: the bytes are not an envelope of this format.
	ErrFormat = errors.New("seal: malformed envelope")
	// ErrUnknownKey: the envelope names a key that is not configured.
	ErrUnknownKey = errors.New("seal: unknown key")
)

// UnknownKeyError reports an envelope sealed by a key that is not configured
// (errors.Is ErrUnknownKey): add the key to [Keyring.Previous].
type UnknownKeyError struct {
	ID   string   // the key the envelope names
	Have []string // the key IDs configured
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("seal: the envelope was sealed by key %q, which is not configured (have %q)", e.ID, e.Have)
}

// Is makes errors.Is(err, ErrUnknownKey) hold.
func (e *UnknownKeyError) Is(target error) bool { return target == ErrUnknownKey }

// KeySize is the size of an AES-256 key.
const KeySize = 32

// MaxKeyIDLen bounds a key ID.
const MaxKeyIDLen = 64

// Key is an AES-256 key with the ID that envelopes name it by. IDs are
// 1–64 printable ASCII characters (for example "2026-01" or a KMS key
// version); the secret is 32 bytes from a cryptographically secure source.
type Key struct {
	ID     string
	Secret []byte
}

// NewKey returns a new random key (rand nil: crypto/rand).
func NewKey(rand io.Reader, id string) (Key, error) {
	if rand == nil {
		rand = cryptoRand
	}
	if err := checkKeyID(id); err != nil {
		return Key{}, err
	}
	k := Key{ID: id, Secret: make([]byte, KeySize)}
	if _, err := io.ReadFull(rand, k.Secret); err != nil {
		return Key{}, fmt.Errorf("seal: generating key %q: %w", id, err)
	}
	return k, nil
}

var cryptoRand = rand.Reader

func checkKeyID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return fmt.Errorf("seal: a key ID must be 1 to %d characters, got %d", MaxKeyIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return fmt.Errorf("seal: key ID %q: character %d is not printable ASCII", id, i)
		}
	}
	return nil
}

// Keyring configures [NewAESGCM].
type Keyring struct {
	// Primary seals every new envelope. Required.
	Primary Key
	// Previous open envelopes sealed before a rotation. They never seal.
	Previous []Key
	// Rand, when set, is mixed into every nonce with crypto/rand (XOR), never
	// used alone: it lets a test make sealing fail, and a fixed or seeded
	// source can never repeat nonces (with AES-GCM a repeated nonce under one
	// key reveals the XOR of two plaintexts). It is read under a lock. Nil:
	// crypto/rand alone.
	Rand io.Reader
}

// AESGCM is the default [Sealer]: AES-256-GCM with a random 96-bit nonce per
// envelope. NIST SP 800-38D §8.3 caps random 96-bit nonces at 2^32 envelopes
// per key, whatever their size: every save seals a record's secrets again
// (5–10 of them), so rotate the primary key (Keyring.Previous, then
// provisioning.Reseal) well before a key has sealed 2^32 values — for a fleet
// of 10,000 devices saved a few hundred times a year, decades. It is safe for
// concurrent use.
//
// Envelope format (version 1):
//
//	0x01 | len(id) (1 byte) | id | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// The version byte and key ID are authenticated together with the caller's
// additional data.
type AESGCM struct {
	primary string
	keys    map[string]cipher.AEAD
	ids     []string
	rand    io.Reader // Keyring.Rand, mixed into crypto/rand's nonces; nil: none
	randMu  sync.Mutex
}

var _ Sealer = (*AESGCM)(nil)

const (
	formatV1  = 0x01
	nonceSize = 12
	tagSize   = 16
)

// NewAESGCM returns an AESGCM sealer for k. It refuses keys that are not 32
// bytes, malformed or duplicate IDs, and two keys with one ID.
func NewAESGCM(k Keyring) (*AESGCM, error) {
	a := &AESGCM{primary: k.Primary.ID, keys: map[string]cipher.AEAD{}, rand: k.Rand}
	for i, key := range append([]Key{k.Primary}, k.Previous...) {
		what := "Primary"
		if i > 0 {
			what = fmt.Sprintf("Previous[%d]", i-1)
		}
		if err := checkKeyID(key.ID); err != nil {
			return nil, fmt.Errorf("seal: %s: %w", what, err)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("seal: %s (%q): an AES-256 key is %d bytes, got %d", what, key.ID, KeySize, len(key.Secret))
		}
		if _, dup := a.keys[key.ID]; dup {
			return nil, fmt.Errorf("seal: %s: key ID %q is used twice", what, key.ID)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		a.keys[key.ID] = aead
		a.ids = append(a.ids, key.ID)
	}
	return a, nil
}

// PrimaryKeyID returns the ID of the key that seals.
func (a *AESGCM) PrimaryKeyID() string { return a.primary }

// KeyIDs returns the IDs of every configured key, the primary first.
func (a *AESGCM) KeyIDs() []string { return append([]string(nil), a.ids...) }

// Seal implements [Sealer].
func (a *AESGCM) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := a.primary
	hdr := 2 + len(id)
	out := make([]byte, hdr+nonceSize, hdr+nonceSize+len(plaintext)+tagSize)
	out[0], out[1] = formatV1, byte(len(id))
	copy(out[2:], id)
	nonce := out[hdr : hdr+nonceSize]
	if _, err := io.ReadFull(cryptoRand, nonce); err != nil {
		return nil, fmt.Errorf("seal: reading a nonce: %w", err)
	}
	if a.rand != nil {
		var mix [nonceSize]byte
		a.randMu.Lock()
		_, err := io.ReadFull(a.rand, mix[:])
		a.randMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("seal: reading a nonce: %w", err)
		}
		for i := range nonce {
			nonce[i] ^= mix[i]
		}
	}
	return a.keys[id].Seal(out, out[hdr:hdr+nonceSize], plaintext, additional(out[:hdr], aad)), nil
}

// Open implements [Sealer].
func (a *AESGCM) Open(ctx context.Context, envelope, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id, hdr, err := parseHeader(envelope)
	if err != nil {
		return nil, err
	}
	aead, ok := a.keys[id]
	if !ok {
		return nil, &UnknownKeyError{ID: id, Have: a.KeyIDs()}
	}
	nonce := envelope[hdr : hdr+nonceSize]
	pt, err := aead.Open(nil, nonce, envelope[hdr+nonceSize:], additional(envelope[:hdr], aad))
	if err != nil {
		return nil, fmt.Errorf("%w (key %q)", ErrOpen, id)
	}
	return pt, nil
}

// KeyID returns the ID of the key that sealed an [AESGCM] envelope, without
// opening it (to find envelopes still sealed by a retired key).
func KeyID(envelope []byte) (string, error) {
	id, _, err := parseHeader(envelope)
	return id, err
}

// parseHeader reads the version and key ID and checks that a nonce and a tag
// follow; it returns the key ID and the header length.
func parseHeader(b []byte) (string, int, error) {
	if len(b) < 2 {
		return "", 0, fmt.Errorf("%w: %d bytes, shorter than a header", ErrFormat, len(b))
	}
	if b[0] != formatV1 {
		return "", 0, fmt.Errorf("%w: version %#x, expected %#x", ErrFormat, b[0], formatV1)
	}
	n := int(b[1])
	if n == 0 || n > MaxKeyIDLen {
		return "", 0, fmt.Errorf("%w: key ID length %d, expected 1 to %d", ErrFormat, n, MaxKeyIDLen)
	}
	hdr := 2 + n
	if len(b) < hdr+nonceSize+tagSize {
		return "", 0, fmt.Errorf("%w: %d bytes, expected at least %d for key ID, nonce and tag", ErrFormat, len(b), hdr+nonceSize+tagSize)
	}
	id := string(b[2:hdr])
	if checkKeyID(id) != nil {
		return "", 0, fmt.Errorf("%w: the key ID is not printable ASCII", ErrFormat)
	}
	return id, hdr, nil
}

// additional is what GCM authenticates besides the ciphertext: the envelope's
// header, then the caller's data, length-prefixed so the split is unambiguous.
func additional(hdr, aad []byte) []byte {
	out := make([]byte, 0, len(hdr)+8+len(aad))
	n := uint64(len(hdr))
	out = append(out, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	out = append(out, hdr...)
	return append(out, aad...)
}

// Equal reports whether two keys are the same, in constant time for the
// secret.
func (k Key) Equal(o Key) bool {
	return k.ID == o.ID && subtle.ConstantTimeCompare(k.Secret, o.Secret) == 1
}

// String names the key without its secret.
func (k Key) String() string { return "seal.Key(" + k.ID + ")" }

// GoString names the key without its secret.
func (k Key) GoString() string { return k.String() }

// Format prints the key's ID only, for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue implements [slog.LogValuer]: the key's ID only.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText writes the key's ID only ("seal.Key(id)"), so that JSON and other
// text encodings of a Key or [Keyring] (slog's JSON handler among them) never
// show the secret. A key is not stored this way: keep Secret in your key store.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// LogValue implements [slog.LogValuer]: the keys' IDs only.
func (r Keyring) LogValue() slog.Value {
	ids := make([]string, 0, 1+len(r.Previous))
	for _, k := range append([]Key{r.Primary}, r.Previous...) {
		ids = append(ids, k.ID)
	}
	return slog.GroupValue(slog.String("primary", r.Primary.ID), slog.Any("previous", ids[1:]))
}
