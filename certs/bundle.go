package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// Bundle is a certificate chain with the private key of its leaf: what a
// provisioning server presents to AMT (TLS client certificate, the chain passed to
// AddNextCertInChain, the key that signs AdminSetup nonces), or what a CA issues
// with.
//
// Chain is ordered leaf first, root last, and for provisioning includes the root
// (AMT hashes it). Key is any crypto.Signer — an *rsa.PrivateKey from a file, or a
// handle to a key in an HSM or TPM; nothing in amtkit needs the key's bytes except
// [EncodePKCS12] and [EncodePEM].
//
// The methods never modify the bundle. A Bundle with an empty Chain returns nil
// from [Bundle.Leaf] and [Bundle.Root].
type Bundle struct {
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// String describes the bundle without its key's material: the leaf's and
// the root's subjects and the key's type, e.g.
// `Bundle(CN=prov.contoso.com … CN=Contoso Root; key *rsa.PrivateKey)`.
func (b Bundle) String() string {
	subject := func(c *x509.Certificate) string {
		if c == nil {
			return "<nil>"
		}
		return c.Subject.String()
	}
	var s strings.Builder
	s.WriteString("Bundle(")
	switch n := len(b.Chain); n {
	case 0:
		s.WriteString("no certificates")
	case 1:
		s.WriteString(subject(b.Chain[0]))
	default:
		s.WriteString(subject(b.Chain[0]) + " … " + subject(b.Chain[n-1]))
	}
	fmt.Fprintf(&s, "; key %T)", b.Key)
	return s.String()
}

// Format prints [Bundle.String] for every verb: fmt never shows the key's
// material (an ed25519 key is a byte slice that %v would print).
func (b Bundle) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(b.String())) }

// LogValue implements [slog.LogValuer] with [Bundle.String].
func (b Bundle) LogValue() slog.Value { return slog.StringValue(b.String()) }

// MarshalJSON writes {"chain": [subjects, leaf first], "key": type}: JSON of
// a Bundle (or of a configuration holding one) never carries the key. A
// bundle is stored as PKCS#12 or PEM ([EncodePKCS12], [EncodePEM]).
func (b Bundle) MarshalJSON() ([]byte, error) {
	subjects := make([]string, len(b.Chain))
	for i, c := range b.Chain {
		if c != nil {
			subjects[i] = c.Subject.String()
		}
	}
	return json.Marshal(struct {
		Chain []string `json:"chain"`
		Key   string   `json:"key,omitempty"`
	}{subjects, keyType(b.Key)})
}

func keyType(k crypto.Signer) string {
	if k == nil {
		return ""
	}
	return fmt.Sprintf("%T", k)
}

// NewBundle orders certs with [OrderChain] and pairs them with key, checking that
// key belongs to the leaf (a nil key is allowed and stays nil).
func NewBundle(certs []*x509.Certificate, key crypto.Signer) (Bundle, error) {
	chain, err := OrderChain(certs)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{Chain: chain, Key: key}
	if key != nil {
		if err := b.CheckKey(); err != nil {
			return Bundle{}, err
		}
	}
	return b, nil
}

// Leaf returns the first certificate of the chain, or nil.
func (b Bundle) Leaf() *x509.Certificate {
	if len(b.Chain) == 0 {
		return nil
	}
	return b.Chain[0]
}

// Root returns the last certificate of the chain when it is self-signed (by name
// and key identifier), otherwise nil: a chain that stops below its root has no
// root to hash.
func (b Bundle) Root() *x509.Certificate {
	if len(b.Chain) == 0 {
		return nil
	}
	if r := b.Chain[len(b.Chain)-1]; selfSigned(r) {
		return r
	}
	return nil
}

// RootHash returns the hash of [Bundle.Root] under alg, as AMT lists it. Without a
// root the Sum is nil and matches nothing.
func (b Bundle) RootHash(alg amt.HashAlgorithm) amt.CertHash {
	r := b.Root()
	if r == nil {
		return amt.CertHash{Alg: alg}
	}
	return RootHash(r, alg)
}

// MatchRoot is [MatchRoot] over the bundle's chain; it never matches a chain
// without its root.
func (b Bundle) MatchRoot(hashes []amt.CertHash) (amt.CertHash, bool) {
	if b.Root() == nil {
		return amt.CertHash{}, false
	}
	return MatchRoot(b.Chain, hashes)
}

// Covers reports whether the leaf's common name covers a device's DNS suffix by the
// firmware's rule ([amt.MatchDNSSuffix]); nil means it does.
func (b Bundle) Covers(dnsSuffix string) error {
	l := b.Leaf()
	if l == nil {
		return ErrNoCertificates
	}
	if cns := commonNames(l.Subject); len(cns) > 1 {
		return fmt.Errorf("certs: the leaf's subject holds %d CNs %q, and which one AMT matches is undocumented", len(cns), cns)
	}
	return amt.MatchDNSSuffix(l.Subject.CommonName, dnsSuffix)
}

// NotBefore returns the latest NotBefore in the chain: the bundle is usable from
// then on. It is the zero time for an empty chain.
func (b Bundle) NotBefore() time.Time {
	var t time.Time
	for _, c := range b.Chain {
		if c.NotBefore.After(t) {
			t = c.NotBefore
		}
	}
	return t
}

// NotAfter returns the earliest NotAfter in the chain: the bundle stops working
// then, whichever certificate expires first. It is the zero time for an empty chain.
func (b Bundle) NotAfter() time.Time {
	var t time.Time
	for i, c := range b.Chain {
		if i == 0 || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// ValidAt returns nil when every certificate of the chain is valid at t
// (NotBefore ≤ t ≤ NotAfter), otherwise a [*ValidityError] for the first one that
// is not, wrapping [ErrNotYetValid] or [ErrExpired]. An empty chain gives
// [ErrNoCertificates].
func (b Bundle) ValidAt(t time.Time) error {
	if len(b.Chain) == 0 {
		return ErrNoCertificates
	}
	for i, c := range b.Chain {
		if err := validAt(c, i, t); err != nil {
			return err
		}
	}
	return nil
}

func validAt(c *x509.Certificate, i int, t time.Time) error {
	if t.Before(c.NotBefore) {
		return &ValidityError{Err: ErrNotYetValid, Index: i, Cert: c, At: t}
	}
	if t.After(c.NotAfter) {
		return &ValidityError{Err: ErrExpired, Index: i, Cert: c, At: t}
	}
	return nil
}

// CheckKey returns nil when Key is present and its public key equals the leaf's;
// otherwise an error wrapping [ErrNoKey], [ErrNoCertificates] or [ErrKeyMismatch].
func (b Bundle) CheckKey() error {
	if publicOf(b.Key) == nil {
		return ErrNoKey
	}
	l := b.Leaf()
	if l == nil {
		return ErrNoCertificates
	}
	if !keyMatches(publicOf(b.Key), l) {
		return fmt.Errorf("%w: private key's public half differs from the public key of %s", ErrKeyMismatch, Describe(l))
	}
	return nil
}

type equalKey interface{ Equal(crypto.PublicKey) bool }

// publicOf returns k.Public(), or nil when k is a typed nil pointer whose Public
// method panics.
func publicOf(k crypto.Signer) (pub crypto.PublicKey) {
	if k == nil {
		return nil
	}
	defer func() {
		if recover() != nil {
			pub = nil
		}
	}()
	return k.Public()
}

func keyMatches(pub crypto.PublicKey, cert *x509.Certificate) bool {
	if pub == nil || cert == nil {
		return false
	}
	if k, ok := pub.(equalKey); ok {
		return k.Equal(cert.PublicKey)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	return err == nil && bytes.Equal(der, cert.RawSubjectPublicKeyInfo)
}

// TLSCertificate returns the bundle as a [tls.Certificate]: every certificate of
// the chain, leaf first and root included — AMT checks the root's hash, and Go
// sends exactly the certificates listed — with Key as the private key and Leaf
// set.
func (b Bundle) TLSCertificate() tls.Certificate {
	der := make([][]byte, len(b.Chain))
	for i, c := range b.Chain {
		der[i] = c.Raw
	}
	return tls.Certificate{Certificate: der, PrivateKey: b.Key, Leaf: b.Leaf()}
}

// GetClientCertificate returns a function for [tls.Config.GetClientCertificate]
// that always presents the bundle. Go's default (Config.Certificates) sends no
// certificate when the server's list of acceptable CAs does not name our issuer;
// AMT's list does not, so a provisioning client must use this hook.
func (b Bundle) GetClientCertificate() func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c := b.TLSCertificate()
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
}

// CertificatesDER returns the DER encoding of each certificate, leaf first, in the
// form AddNextCertInChain takes them (after base64).
func (b Bundle) CertificatesDER() [][]byte {
	out := make([][]byte, len(b.Chain))
	for i, c := range b.Chain {
		out[i] = c.Raw
	}
	return out
}
