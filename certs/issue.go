package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// ParsePublicKey reads a public key the way AMT returns one in
// AMT_PublicPrivateKeyPair.DERKey (after base64 decoding): a PKCS#1 RSAPublicKey
// on some firmware versions, a SubjectPublicKeyInfo on others
// (Intel AMT SDK, detaileddescription161.htm; rpc-go ParseAMTPublicKey tries
// PKCS#1, then PKIX). It returns an *rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey, or an error wrapping [ErrPublicKey]. An RSA key is
// refused unless it has 2048 to [amt.MaxDeviceRSABits] bits and an odd
// exponent of at least 3 ([CheckDeviceKey]).
func ParsePublicKey(der []byte) (crypto.PublicKey, error) {
	k, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		var pk any
		if pk, err = x509.ParsePKIXPublicKey(der); err != nil {
			return nil, fmt.Errorf("%w: neither PKCS#1 RSAPublicKey nor SubjectPublicKeyInfo (%d bytes)", ErrPublicKey, len(der))
		}
		switch pk.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("%w: %T", ErrPublicKey, pk)
		}
		if err := CheckDeviceKey(pk); err != nil {
			return nil, err
		}
		return pk, nil
	}
	if err := CheckDeviceKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// MinDeviceRSABits is the smallest RSA key [CheckDeviceKey] accepts: AMT
// generates 2048- and 3072-bit keys (GenerateKeyPair's KeyLength), and
// firmware that refuses SHA-1 also refuses shorter provisioning keys.
const MinDeviceRSABits = 2048

// CheckDeviceKey refuses, with an error wrapping [ErrPublicKey], a public key
// that no AMT generates and that a certificate must not be issued for: an RSA
// key under [MinDeviceRSABits] bits (factorable or close to it), over
// [amt.MaxDeviceRSABits] (each operation on it costs seconds to minutes of
// CPU that no context interrupts; crypto/tls refuses peers' keys over 8192
// bits for the same reason), or with an even exponent or one under 3 (with
// e = 1 anyone can make a signature verify). [ParsePublicKey],
// [NewAMTRequest] and [LocalCA.Issue] apply it to the key a device supplies.
// ECDSA and Ed25519 keys pass (the parsers accept only named curves).
func CheckDeviceKey(pub crypto.PublicKey) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil
	}
	switch {
	case k == nil || k.N == nil:
		return fmt.Errorf("%w: an empty RSA key", ErrPublicKey)
	case k.N.BitLen() < MinDeviceRSABits:
		return fmt.Errorf("%w: an RSA key of %d bits (at least %d)", ErrPublicKey, k.N.BitLen(), MinDeviceRSABits)
	case k.N.BitLen() > amt.MaxDeviceRSABits:
		return fmt.Errorf("%w: an RSA key of %d bits (at most %d)", ErrPublicKey, k.N.BitLen(), amt.MaxDeviceRSABits)
	case k.E < 3 || k.E%2 == 0:
		return fmt.Errorf("%w: an RSA key with exponent %d (odd and at least 3)", ErrPublicKey, k.E)
	}
	return nil
}

// Issue signs template for pub with issuer's leaf certificate and key, and returns
// the parsed certificate. pub is normally a key that lives in AMT (from
// [ParsePublicKey]); the private half is never needed. The template is not
// modified; a nil SerialNumber is replaced by [RandomSerial] from rnd (nil means
// crypto/rand). Go's CreateCertificate verifies the signature it made, so an HSM
// that returns garbage fails here.
func Issue(template *x509.Certificate, pub crypto.PublicKey, issuer Bundle, rnd io.Reader) (*x509.Certificate, error) {
	parent := issuer.Leaf()
	if parent == nil {
		return nil, fmt.Errorf("certs: issuing: %w", ErrNoCertificates)
	}
	if publicOf(issuer.Key) == nil {
		return nil, fmt.Errorf("certs: issuing: %w", ErrNoKey)
	}
	return create(template, parent, pub, issuer.Key, rnd)
}

// SelfSign signs template with key for key's own public key (a root CA, or a
// self-signed device certificate) and returns the parsed certificate.
func SelfSign(template *x509.Certificate, key crypto.Signer, rnd io.Reader) (*x509.Certificate, error) {
	if publicOf(key) == nil {
		return nil, fmt.Errorf("certs: self-signing: %w", ErrNoKey)
	}
	return create(template, nil, key.Public(), key, rnd)
}

func create(template, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer, rnd io.Reader) (*x509.Certificate, error) {
	if template == nil {
		return nil, fmt.Errorf("%w: nil template", ErrInvalidOption)
	}
	t := *template
	if t.SerialNumber == nil {
		s, err := RandomSerial(rnd)
		if err != nil {
			return nil, err
		}
		t.SerialNumber = s
	}
	if parent == nil {
		parent = &t
	}
	der, err := x509.CreateCertificate(randOrDefault(rnd), &t, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("certs: creating certificate %s: %w", Describe(&t), err)
	}
	return x509.ParseCertificate(der)
}

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// LocalCA signs certificates with a CA bundle held by the caller, the way RPS and
// rpc-go issue AMT's TLS certificate from their own CA. Its Issue method has the
// shape an integrator's issuer callback needs (template and AMT's public key in,
// chain out). It keeps no state and is safe for concurrent use when CA.Key is.
type LocalCA struct {
	// CA is the issuing certificate (leaf of the bundle), its chain up to the
	// root, and its key.
	CA Bundle
	// Lifetime of issued certificates when the template has no NotAfter;
	// default DefaultLeafLifetime.
	Lifetime time.Duration
	// Rand for serial numbers; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Issue signs template (normally from [DeviceTLSTemplate] or [IEEE8021XTemplate])
// for pub (normally AMT's key from [ParsePublicKey]). A zero NotBefore becomes now minus
// [DefaultBackdate], a zero NotAfter NotBefore plus Lifetime; a NotAfter beyond the
// CA's own is cut to the CA's. A CA outside its validity period issues nothing
// ([ErrExpired], [ErrNotYetValid]). The chain returned is the new certificate
// followed by the CA bundle's chain.
func (ca LocalCA) Issue(ctx context.Context, template *x509.Certificate, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if template == nil || pub == nil {
		return nil, fmt.Errorf("%w: issuing needs a template and a public key", ErrInvalidOption)
	}
	if err := CheckDeviceKey(pub); err != nil {
		return nil, fmt.Errorf("certs: LocalCA will not issue: %w", err)
	}
	parent := ca.CA.Leaf()
	if parent == nil {
		return nil, fmt.Errorf("certs: LocalCA: %w", ErrNoCertificates)
	}
	t := *template
	now := time.Now
	if ca.Now != nil {
		now = ca.Now
	}
	// A lapsed (or not yet valid) CA would sign a certificate whose NotAfter,
	// cut to the CA's, comes before its NotBefore: one never valid, which
	// AMT would then fail every handshake with.
	if err := ca.CA.ValidAt(now()); err != nil {
		return nil, fmt.Errorf("certs: LocalCA cannot issue: %w", err)
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = now().Add(-DefaultBackdate).UTC().Truncate(time.Second)
	}
	if t.NotBefore.Before(parent.NotBefore) {
		t.NotBefore = parent.NotBefore // back-dated, but not before the CA could issue
	}
	if t.NotAfter.IsZero() {
		life := ca.Lifetime
		if life <= 0 {
			life = DefaultLeafLifetime
		}
		t.NotAfter = t.NotBefore.Add(life)
	}
	if t.NotAfter.After(parent.NotAfter) {
		t.NotAfter = parent.NotAfter
	}
	if !t.NotAfter.After(t.NotBefore) {
		return nil, fmt.Errorf("%w: validity %s to %s is empty", ErrInvalidOption, t.NotBefore.UTC().Format(time.RFC3339), t.NotAfter.UTC().Format(time.RFC3339))
	}
	c, err := Issue(&t, pub, ca.CA, ca.Rand)
	if err != nil {
		return nil, err
	}
	return append([]*x509.Certificate{c}, ca.CA.Chain...), nil
}
