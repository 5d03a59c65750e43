package certstest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/certs"
)

// CAOptions describe a throw-away CA. The zero value makes an RSA-2048 CA from
// the embedded keys, valid from an hour ago for ten years, signed with SHA-256.
type CAOptions struct {
	// CommonName defaults to "amtkit Test Root CA" or "amtkit Test Intermediate CA".
	CommonName string
	// Keys supplies the CA key; nil means a new pool (see [KeyPool]).
	Keys *KeyPool
	// Key, when set, is used instead of a key from Keys.
	Key crypto.Signer
	// KeyBits is the RSA key size; default 2048 (1024 for "short key" chains).
	KeyBits int
	// ECDSA gives the CA a P-256 key instead of RSA.
	ECDSA bool
	// SHA1 signs the CA certificate with SHA-1 (RSA keys only).
	SHA1 bool
	// NotBefore and NotAfter default to Now()-1h and ten years later.
	NotBefore, NotAfter time.Time
	// MaxPathLen: 0 (the default) means no path length constraint; a positive
	// value limits it; -1 writes pathLen 0 (signs only leaves).
	MaxPathLen int
	// Now is the clock (also for issued certificates and CRLs); nil means time.Now.
	Now func() time.Time
	// Rand is used for serial numbers; nil means crypto/rand.
	Rand io.Reader
}

// CA is a throw-away certificate authority for tests: it issues certificates for
// any public key (as an integrator's issuer does for keys AMT generated), revokes
// them and produces CRLs. Its Bundle holds its own certificate first, up to the root, and
// its key. A CA is safe for concurrent use.
type CA struct {
	certs.Bundle
	// Lifetime of issued certificates when a template sets no NotAfter; default
	// one year.
	Lifetime time.Duration
	// Now and Rand as in CAOptions.
	Now  func() time.Time
	Rand io.Reader

	keys   *KeyPool
	parent *CA // the CA that issued this one, when made by NewIntermediate

	mu        sync.Mutex
	revoked   []x509.RevocationListEntry
	crlNumber int64
}

func (o CAOptions) key() (crypto.Signer, error) {
	if o.Key != nil {
		return o.Key, nil
	}
	pool := o.Keys
	if pool == nil {
		pool = NewKeyPool()
	}
	if o.ECDSA {
		return pool.ECDSA()
	}
	bits := o.KeyBits
	if bits == 0 {
		bits = 2048
	}
	return pool.RSA(bits)
}

func (o CAOptions) template(defaultCN string) (*x509.Certificate, error) {
	cn := o.CommonName
	if cn == "" {
		cn = defaultCN
	}
	mp := o.MaxPathLen
	if mp == 0 {
		mp = -2 // unlimited below
	} else if mp == -1 {
		mp = 0
	}
	t, err := certs.CATemplate(certs.CATemplateOptions{
		CertOptions: certs.CertOptions{NotBefore: o.NotBefore, NotAfter: o.NotAfter, Rand: o.Rand, Now: o.Now},
		CommonName:  cn,
		Organization: []string{
			"amtkit test CA (TEST ONLY)",
		},
		MaxPathLen: mp,
	})
	if err != nil {
		return nil, err
	}
	if o.SHA1 {
		t.SignatureAlgorithm = x509.SHA1WithRSA
	}
	return t, nil
}

// NewRootCA makes a self-signed root CA.
func NewRootCA(o CAOptions) (*CA, error) {
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	t, err := o.template("amtkit Test Root CA")
	if err != nil {
		return nil, err
	}
	c, err := certs.SelfSign(t, key, o.Rand)
	if err != nil {
		return nil, err
	}
	return &CA{Bundle: certs.Bundle{Chain: []*x509.Certificate{c}, Key: key}, Now: o.Now, Rand: o.Rand, keys: o.Keys}, nil
}

// MustRootCA is [NewRootCA] that fails the test on error (t may be nil: it then panics).
func MustRootCA(t testing.TB, o CAOptions) *CA {
	if t != nil {
		t.Helper()
	}
	ca, err := NewRootCA(o)
	if err != nil {
		fail(t, err)
	}
	return ca
}

// NewIntermediate makes a CA issued by ca. Keys, Now and Rand default to ca's.
// o.SHA1 signs the intermediate's certificate with SHA-1.
func (ca *CA) NewIntermediate(o CAOptions) (*CA, error) {
	if o.Keys == nil {
		o.Keys = ca.keys
	}
	if o.Now == nil {
		o.Now = ca.Now
	}
	if o.Rand == nil {
		o.Rand = ca.Rand
	}
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	t, err := o.template("amtkit Test Intermediate CA")
	if err != nil {
		return nil, err
	}
	if p := ca.Leaf(); t.NotAfter.After(p.NotAfter) {
		t.NotAfter = p.NotAfter
	}
	c, err := certs.Issue(t, key.Public(), ca.Bundle, o.Rand)
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{c}, ca.Chain...)
	return &CA{Bundle: certs.Bundle{Chain: chain, Key: key}, Now: o.Now, Rand: o.Rand, keys: o.Keys, parent: ca}, nil
}

// Certificate returns the CA's own certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.Leaf() }

// RootCertificate returns the root at the top of the CA's chain.
func (ca *CA) RootCertificate() *x509.Certificate { return ca.Chain[len(ca.Chain)-1] }

// RootCA returns the root CA above ca (ca itself for a root). For a CA not made
// by [CA.NewIntermediate] the root's key is unknown: the result then has no key
// and serves only for Pool and RootCertificate.
func (ca *CA) RootCA() *CA {
	for r := ca; r != nil; r = r.parent {
		if len(r.Chain) == 1 {
			return r
		}
	}
	return &CA{Bundle: certs.Bundle{Chain: ca.Chain[len(ca.Chain)-1:]}, Now: ca.Now, Rand: ca.Rand, keys: ca.keys}
}

// Pool returns a CertPool holding the root, for x509.VerifyOptions.Roots or
// tls.Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.RootCertificate())
	return p
}

func (ca *CA) local() certs.LocalCA {
	return certs.LocalCA{CA: ca.Bundle, Lifetime: ca.Lifetime, Rand: ca.Rand, Now: ca.Now}
}

// Issue signs template for pub and returns the certificate followed by the CA's
// chain (root included), with the semantics of [certs.LocalCA.Issue]: a zero
// NotBefore is an hour before the CA's Now, a zero NotAfter Lifetime later.
func (ca *CA) Issue(ctx context.Context, template *x509.Certificate, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	return ca.local().Issue(ctx, template, pub)
}

// IssueCert signs template for pub and returns just the certificate.
func (ca *CA) IssueCert(template *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	chain, err := ca.local().Issue(context.Background(), template, pub)
	if err != nil {
		return nil, err
	}
	return chain[0], nil
}

// Revoke records cert's serial with reason at the
// CA's current time. Revoking a certificate this CA did not issue is an error.
func (ca *CA) Revoke(ctx context.Context, cert *x509.Certificate, reason certs.RevocationReason) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if cert == nil || cert.CheckSignatureFrom(ca.Leaf()) != nil {
		return errors.New("certstest: certificate was not issued by this CA")
	}
	ca.RevokeSerial(cert.SerialNumber, reason, ca.now())
	return nil
}

// RevokeSerial records a revocation by serial number.
func (ca *CA) RevokeSerial(serial *big.Int, reason certs.RevocationReason, at time.Time) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.revoked = append(ca.revoked, x509.RevocationListEntry{
		SerialNumber: new(big.Int).Set(serial), RevocationTime: at.UTC().Truncate(time.Second), ReasonCode: int(reason),
	})
}

// Revoked returns the number of revocations recorded.
func (ca *CA) Revoked() int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return len(ca.revoked)
}

func (ca *CA) now() time.Time {
	if ca.Now != nil {
		return ca.Now()
	}
	return time.Now()
}

// CRL returns a freshly signed CRL of every revocation so far, valid from now for
// validFor (default 7 days), and its DER encoding. Each call increments the CRL
// number.
func (ca *CA) CRL(validFor time.Duration) (*x509.RevocationList, []byte, error) {
	if validFor <= 0 {
		validFor = 7 * certs.Day
	}
	ca.mu.Lock()
	ca.crlNumber++
	entries := append([]x509.RevocationListEntry(nil), ca.revoked...)
	num := ca.crlNumber
	ca.mu.Unlock()
	now := ca.now().UTC().Truncate(time.Second)
	tmpl := &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    big.NewInt(num),
		ThisUpdate:                now,
		NextUpdate:                now.Add(validFor),
	}
	r := ca.Rand
	if r == nil {
		r = rand.Reader
	}
	der, err := x509.CreateRevocationList(r, tmpl, ca.Leaf(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("certstest: creating CRL: %w", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, nil, err
	}
	return crl, der, nil
}

// Name returns the CA certificate's subject.
func (ca *CA) Name() pkix.Name { return ca.Leaf().Subject }
