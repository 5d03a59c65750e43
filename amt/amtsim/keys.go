package amtsim

import (
	cryptorand "crypto/rand"
	"crypto/rsa"
	"io"

	"github.com/amtkit/amtkit/certs/certstest"
)

// KeySource supplies RSA private keys for simulated devices: their own TLS
// certificate, GenerateKeyPair and the On-Die CA. Keys may repeat between calls
// (a fleet of a thousand devices shares a pool of pre-generated keys); a device
// never holds the same key pair twice.
type KeySource interface {
	RSAKey(bits int) (*rsa.PrivateKey, error)
}

// KeySourceFunc adapts a function to [KeySource].
type KeySourceFunc func(bits int) (*rsa.PrivateKey, error)

// RSAKey calls f.
func (f KeySourceFunc) RSAKey(bits int) (*rsa.PrivateKey, error) { return f(bits) }

// PoolKeys hands out the pre-generated TEST-ONLY keys of p round-robin
// (certstest.KeyPool.Cycle): no key generation, so a fleet starts fast.
func PoolKeys(p *certstest.KeyPool) KeySource {
	return KeySourceFunc(p.Cycle)
}

// DefaultKeys returns the key source a [Config] with nil Keys uses: a new
// certstest key pool cycling through its embedded TEST-ONLY keys. Those keys are
// public; a simulator never protects anything real.
func DefaultKeys() KeySource { return PoolKeys(certstest.NewKeyPool()) }

// GeneratedKeys generates a fresh key on every call (20–250 ms for RSA-2048 on a
// small machine), for tests that need keys nobody else holds. rand is passed to
// rsa.GenerateKey; nil means crypto/rand. Since Go 1.26 rsa.GenerateKey ignores
// it and always uses a secure source unless GODEBUG=cryptocustomrand=1 is set,
// so a seeded rand does not make the keys reproducible
// (testing/cryptotest.SetGlobalRandom does).
func GeneratedKeys(rand io.Reader) KeySource {
	if rand == nil {
		rand = cryptorand.Reader
	}
	return KeySourceFunc(func(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand, bits) })
}
