package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"fmt"
	"io"
	"sync"
	"testing"
)

// The embedded keys are TEST-ONLY: they are public, committed to the repository,
// and must never protect anything. Generated once with `openssl genrsa`.
//
//go:embed testdata/rsa1024.pem testdata/rsa2048.pem testdata/rsa3072.pem
var keyFiles embed.FS

// EmbeddedKeys returns how many pre-generated TEST-ONLY RSA keys of the given size
// ship with the package: 32 of 2048 bits, 4 of 1024 bits (for "short key"
// cases) and 2 of 3072 bits (for "key too long" cases). Other sizes have none.
func EmbeddedKeys(bits int) int {
	switch bits {
	case 1024:
		return 4
	case 2048:
		return 32
	case 3072:
		return 2
	}
	return 0
}

// KeyPool hands out RSA test keys without the 20–250 ms cost of generating them:
// the embedded TEST-ONLY keys first, then, when those are used up, freshly
// generated ones. Each pool parses the embedded keys it hands out on first use
// (about 0.15 ms per key).
//
// The zero value is ready to use. A KeyPool is safe for concurrent use. Two pools
// hand out the same embedded keys; take keys that must differ from one pool.
type KeyPool struct {
	// Rand is passed to rsa.GenerateKey and ecdsa.GenerateKey for keys beyond
	// the embedded ones; nil means crypto/rand. Since Go 1.26 those functions
	// ignore it unless GODEBUG=cryptocustomrand=1 (use
	// testing/cryptotest.SetGlobalRandom for reproducible generated keys).
	Rand io.Reader
	// Reuse makes RSA start over with the first embedded key once all are handed
	// out, instead of generating new ones: for tests that need many keys but not
	// distinct ones beyond the first few dozen.
	Reuse bool

	mu    sync.Mutex
	der   map[int][][]byte          // embedded PKCS#8 keys by size
	keys  map[int][]*rsa.PrivateKey // parsed keys by size (nil until handed out)
	next  map[int]int               // next unused embedded key by size
	cycle map[int]int               // round-robin position by size
}

// NewKeyPool returns an empty pool using crypto/rand for generated keys.
func NewKeyPool() *KeyPool { return &KeyPool{} }

// load reads the embedded keys of one size; p.mu is held.
func (p *KeyPool) load(bits int) error {
	if p.der == nil {
		p.der, p.keys, p.next, p.cycle = map[int][][]byte{}, map[int][]*rsa.PrivateKey{}, map[int]int{}, map[int]int{}
	}
	if _, ok := p.der[bits]; ok || EmbeddedKeys(bits) == 0 {
		return nil
	}
	data, err := keyFiles.ReadFile(fmt.Sprintf("testdata/rsa%d.pem", bits))
	if err != nil {
		return fmt.Errorf("certstest: embedded keys: %w", err)
	}
	var ders [][]byte
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		ders = append(ders, blk.Bytes)
	}
	if len(ders) != EmbeddedKeys(bits) {
		return fmt.Errorf("certstest: expected %d embedded RSA-%d keys, found %d", EmbeddedKeys(bits), bits, len(ders))
	}
	p.der[bits] = ders
	p.keys[bits] = make([]*rsa.PrivateKey, len(ders))
	return nil
}

// parsed returns the i-th embedded key of size bits, parsing it on first use;
// p.mu is held.
func (p *KeyPool) parsed(bits, i int) (*rsa.PrivateKey, error) {
	if k := p.keys[bits][i]; k != nil {
		return k, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(p.der[bits][i])
	if err != nil {
		return nil, fmt.Errorf("certstest: embedded key %d of %d bits: %w", i, bits, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != bits {
		return nil, fmt.Errorf("certstest: embedded key %d is not RSA-%d", i, bits)
	}
	p.keys[bits][i] = rk
	return rk, nil
}

// RSA returns an RSA key of the given size that this pool has not handed out by
// RSA before: an embedded key while any are left, then a generated one (or, with
// Reuse, the embedded keys again in order).
func (p *KeyPool) RSA(bits int) (*rsa.PrivateKey, error) {
	p.mu.Lock()
	if err := p.load(bits); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	if n := len(p.der[bits]); p.Reuse && n > 0 && p.next[bits] >= n {
		p.next[bits] = 0
	}
	if i := p.next[bits]; i < len(p.der[bits]) {
		p.next[bits] = i + 1
		k, err := p.parsed(bits, i)
		p.mu.Unlock()
		return k, err
	}
	r := p.Rand
	p.mu.Unlock()
	if r == nil {
		r = rand.Reader
	}
	k, err := rsa.GenerateKey(r, bits)
	if err != nil {
		return nil, fmt.Errorf("certstest: generating RSA-%d key: %w", bits, err)
	}
	return k, nil
}

// Cycle returns the embedded keys of the given size round-robin, never
// generating: for simulated fleets where keys need not be distinct (a thousand
// simulated devices share 32 keys). For a size without embedded keys it behaves
// like [KeyPool.RSA].
func (p *KeyPool) Cycle(bits int) (*rsa.PrivateKey, error) {
	p.mu.Lock()
	if err := p.load(bits); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	n := len(p.der[bits])
	if n == 0 {
		p.mu.Unlock()
		return p.RSA(bits)
	}
	i := p.cycle[bits] % n
	p.cycle[bits] = i + 1
	k, err := p.parsed(bits, i)
	p.mu.Unlock()
	return k, err
}

// ECDSA returns a fresh P-256 key (cheap to generate), for "key is not RSA" cases.
func (p *KeyPool) ECDSA() (*ecdsa.PrivateKey, error) {
	r := p.Rand
	if r == nil {
		r = rand.Reader
	}
	return ecdsa.GenerateKey(elliptic.P256(), r)
}

// MustRSA is [KeyPool.RSA] that fails the test on error (t may be nil: it then panics).
func (p *KeyPool) MustRSA(t testing.TB, bits int) *rsa.PrivateKey {
	if t != nil {
		t.Helper()
	}
	k, err := p.RSA(bits)
	if err != nil {
		fail(t, err)
	}
	return k
}

// fail ends the test, or panics when there is none (t is nil in examples).
func fail(t testing.TB, err error) {
	if t == nil {
		panic(err)
	}
	t.Helper()
	t.Fatal(err)
}
