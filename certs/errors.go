package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Functions return them wrapped (often inside one of the typed
// errors below), so test with errors.Is.
var (
	// ErrNoCertificates: the input holds no certificate.
	ErrNoCertificates = errors.New("certs: no certificates")
	// ErrTooManyCertificates: more certificates than a chain can sensibly hold
	// (see MaxChainCertificates).
	ErrTooManyCertificates = errors.New("certs: too many certificates")
	// ErrMultipleLeaves: two or more certificates could each be the end of the
	// chain (none of them issued any other certificate in the set).
	ErrMultipleLeaves = errors.New("certs: more than one leaf certificate")
	// ErrChainGap: a certificate's issuer is missing while other certificates,
	// which must sit above the gap, are present.
	ErrChainGap = errors.New("certs: gap in certificate chain")
	// ErrChainCycle: every certificate issued another one, so there is no leaf.
	ErrChainCycle = errors.New("certs: certificates issue each other in a cycle")

	// ErrMalformed: the input is not a well-formed PEM, PKCS#12, DER or ASN.1 value.
	ErrMalformed = errors.New("certs: malformed input")
	// ErrNoKey: a private key was required but the input has none.
	ErrNoKey = errors.New("certs: no private key")
	// ErrMultipleKeys: the input holds more than one private key.
	ErrMultipleKeys = errors.New("certs: more than one private key")
	// ErrEncryptedKey: a PEM private key is encrypted; decrypt it first (or use PKCS#12).
	ErrEncryptedKey = errors.New("certs: encrypted PEM private keys are not supported")
	// ErrKeyType: the key is of a type this package cannot use.
	ErrKeyType = errors.New("certs: unsupported key type")
	// ErrKeyNotExportable: the crypto.Signer is not an in-memory key (for example
	// it lives in an HSM), so it cannot be written to a file.
	ErrKeyNotExportable = errors.New("certs: private key cannot be exported")
	// ErrKeyMismatch: the private key does not belong to the leaf certificate, or a
	// signed request carries another public key than expected.
	ErrKeyMismatch = errors.New("certs: key does not match the certificate")

	// ErrNotYetValid: a certificate's NotBefore is after the time of the check.
	ErrNotYetValid = errors.New("certs: certificate not yet valid")
	// ErrExpired: a certificate's NotAfter is before the time of the check.
	ErrExpired = errors.New("certs: certificate expired")

	// ErrRevoked: the certificate is on the CRL.
	ErrRevoked = errors.New("certs: certificate revoked")
	// ErrCRLMissing: revocation checking is on and no CRL was available.
	ErrCRLMissing = errors.New("certs: CRL missing")
	// ErrCRLStale: the CRL's NextUpdate has passed (or ThisUpdate is in the future).
	ErrCRLStale = errors.New("certs: CRL out of date")
	// ErrCRLIssuer: the CRL was issued by another CA than the certificate.
	ErrCRLIssuer = errors.New("certs: CRL issuer does not match the certificate issuer")
	// ErrCRLSignature: the CRL's signature does not verify with the issuer's key.
	ErrCRLSignature = errors.New("certs: CRL signature invalid")
	// ErrCRLUnsupported: the CRL may not list every revoked certificate (a delta
	// CRL, a partial CRL with an issuing distribution point, or an unknown
	// critical extension), so it cannot clear one.
	ErrCRLUnsupported = errors.New("certs: CRL cannot be relied on")

	// ErrSignature: a signature (of a request) does not verify.
	ErrSignature = errors.New("certs: signature does not verify")
	// ErrPublicKey: a public key is neither PKCS#1 RSAPublicKey nor SPKI DER, or
	// is of an unsupported type.
	ErrPublicKey = errors.New("certs: unsupported or malformed public key")
	// ErrTemplateExtension: a Microsoft template extension is malformed.
	ErrTemplateExtension = errors.New("certs: malformed certificate template extension")
	// ErrInvalidOption: an option or template value is out of range.
	ErrInvalidOption = errors.New("certs: invalid option")
)

// ChainError reports why a set of certificates could not be ordered into a chain.
// Err is ErrNoCertificates, ErrTooManyCertificates, ErrMultipleLeaves,
// ErrChainGap or ErrChainCycle.
type ChainError struct {
	Err error
	// Certs are the certificates the error is about: the competing leaves, or the
	// certificate whose issuer is missing followed by the certificates left over
	// above the gap.
	Certs []*x509.Certificate
}

// Error describes the problem and the certificates involved.
func (e *ChainError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	switch {
	case errors.Is(e.Err, ErrMultipleLeaves):
		b.WriteString(": expected exactly one end-entity certificate, found ")
		b.WriteString(describeList(e.Certs))
	case errors.Is(e.Err, ErrChainGap) && len(e.Certs) > 0:
		fmt.Fprintf(&b, ": expected the issuer %q of %s, found only unrelated %s",
			e.Certs[0].Issuer.String(), Describe(e.Certs[0]), describeList(e.Certs[1:]))
	case len(e.Certs) > 0:
		b.WriteString(": ")
		b.WriteString(describeList(e.Certs))
	}
	return b.String()
}

// Unwrap returns Err.
func (e *ChainError) Unwrap() error { return e.Err }

// ValidityError reports a certificate outside its validity period. Err is
// ErrNotYetValid or ErrExpired.
type ValidityError struct {
	Err   error
	Index int // position in the chain, leaf = 0
	Cert  *x509.Certificate
	At    time.Time // the time of the check
}

// Error names the certificate, its validity bound and the time checked.
func (e *ValidityError) Error() string {
	if errors.Is(e.Err, ErrNotYetValid) {
		return fmt.Sprintf("%v: certificate %d %s is valid from %s, checked at %s",
			e.Err, e.Index, Describe(e.Cert), e.Cert.NotBefore.UTC().Format(time.RFC3339), e.At.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%v: certificate %d %s was valid until %s, checked at %s",
		e.Err, e.Index, Describe(e.Cert), e.Cert.NotAfter.UTC().Format(time.RFC3339), e.At.UTC().Format(time.RFC3339))
}

// Unwrap returns Err.
func (e *ValidityError) Unwrap() error { return e.Err }

// RevokedError reports a certificate found on a CRL. It wraps ErrRevoked.
type RevokedError struct {
	Cert      *x509.Certificate
	Reason    RevocationReason
	RevokedAt time.Time
}

// Error names the certificate, its serial, the revocation time and reason.
func (e *RevokedError) Error() string {
	if e.Cert == nil || e.Cert.SerialNumber == nil {
		return fmt.Sprintf("%v at %s, reason %v", ErrRevoked, e.RevokedAt.UTC().Format(time.RFC3339), e.Reason)
	}
	return fmt.Sprintf("%v: %s serial %s revoked at %s, reason %v", ErrRevoked, Describe(e.Cert),
		e.Cert.SerialNumber.Text(16), e.RevokedAt.UTC().Format(time.RFC3339), e.Reason)
}

// Unwrap returns ErrRevoked.
func (e *RevokedError) Unwrap() error { return ErrRevoked }

// Describe names a certificate for messages: its subject in RFC 2253 form, or its
// serial number when the subject is empty.
func Describe(c *x509.Certificate) string {
	if c == nil {
		return "<nil>"
	}
	if s := c.Subject.String(); s != "" {
		return "(" + s + ")"
	}
	if c.SerialNumber != nil {
		return "(serial " + c.SerialNumber.Text(16) + ")"
	}
	return "(no subject)"
}

func describeList(cs []*x509.Certificate) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = Describe(c)
	}
	return strings.Join(parts, ", ")
}
