package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"github.com/amtkit/amtkit/internal/crlext"
	"time"
)

// Day is 24 hours, the unit of the expiry policy.
const Day = 24 * time.Hour

// Certificate expiry defaults, as amtkit states Configuration Manager's
// behaviour. The 42-day renewal and 7-day check are the defaults of Configuration
// Manager 2007 SP1's "Evaluate Provisioned AMT Computer Certificates" maintenance
// task (Configuration Manager docs, out of band management maintenance tasks);
// the 40/15-day thresholds and the status IDs 7210/7211 are not found in any
// public source, so treat them as amtkit's choice and set ExpiryPolicy where your
// own policy differs.
const (
	DefaultExpiryWarn  = 40 * Day // provisioning certificate: status 7210 at 40 days or less
	DefaultExpiryError = 15 * Day // provisioning certificate: status 7211 below 15 days
	DefaultRenew       = 42 * Day // device certificates: renew at 42 days or less
	DefaultCheckEvery  = 7 * Day  // how often certificates are re-checked
)

// Configuration Manager status message IDs for an expiring provisioning
// certificate. The numbers are amtkit's choice: no public source for them was
// found.
const (
	StatusMessageExpiryWarning = 7210
	StatusMessageExpiryError   = 7211
)

// ExpiryPolicy says when certificates count as expiring. The zero value is
// Configuration Manager's policy: a zero field takes its default, and a negative
// field switches that threshold off.
//
// Thresholds compare the time left, NotAfter − now, with the boundaries written
// the way Configuration Manager states them: a warning when Warn or less remains,
// an error when less than Error remains, renewal when Renew or less remains.
//
// A default (zero field) shrinks with a short certificate: the renewal window
// and the warning are at most a third of the certificate's lifetime, the error
// at most an eighth. Certificates issued for a year keep the fixed defaults;
// one of 47 days (the CA/Browser Forum's coming limit for public TLS
// certificates) warns with 15.7 days left instead of from its seventh day, and
// a 30-day device certificate is renewed with 10 days left instead of at every
// check. A third is what smallstep's step ca renew --daemon and step
// certificate needs-renewal leave by default ("before 2/3 of the validity
// period has elapsed"). A field that is set applies as it is.
type ExpiryPolicy struct {
	Warn  time.Duration // provisioning certificate warning (7210); default 40 days
	Error time.Duration // provisioning certificate error (7211); default 15 days
	Renew time.Duration // device certificate renewal window; default 42 days
	Every time.Duration // re-check interval for a maintenance task; default 7 days
}

// orShare is v, or when v is zero the smaller of d and lifetime/share.
func orShare(v, d, lifetime time.Duration, share int64) time.Duration {
	if v != 0 {
		return v
	}
	if f := lifetime / time.Duration(share); lifetime > 0 && f < d {
		return f
	}
	return d
}

func (p ExpiryPolicy) warn(lifetime time.Duration) time.Duration {
	return orShare(p.Warn, DefaultExpiryWarn, lifetime, 3)
}
func (p ExpiryPolicy) err(lifetime time.Duration) time.Duration {
	return orShare(p.Error, DefaultExpiryError, lifetime, 8)
}
func (p ExpiryPolicy) renew(lifetime time.Duration) time.Duration {
	return orShare(p.Renew, DefaultRenew, lifetime, 3)
}

// Interval returns the re-check interval (Every, or 7 days).
func (p ExpiryPolicy) Interval() time.Duration {
	if p.Every <= 0 {
		return DefaultCheckEvery
	}
	return p.Every
}

// NextCheck returns when a certificate last checked at last should be checked again.
func (p ExpiryPolicy) NextCheck(last time.Time) time.Time { return last.Add(p.Interval()) }

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=ExpiryStatus,RevocationReason -linecomment -output=expiry_string.go

// ExpiryStatus is the outcome of evaluating one certificate at one time. String
// returns "ok", "warning", "error", "renew", "expired" or "not-yet-valid".
type ExpiryStatus int

// Expiry statuses. Provisioning certificates evaluate to OK, Warning, Error,
// Expired or NotYetValid; device certificates to OK, Renew, Expired or NotYetValid.
const (
	// ExpiryOK: nothing to do.
	ExpiryOK ExpiryStatus = iota // ok
	// ExpiryWarning: Warn or less remains (7210).
	ExpiryWarning // warning
	// ExpiryError: less than Error remains (7211).
	ExpiryError // error
	// ExpiryRenew: Renew or less remains; renew now.
	ExpiryRenew // renew
	// ExpiryExpired: NotAfter has passed.
	ExpiryExpired // expired
	// ExpiryNotYetValid: NotBefore is still ahead.
	ExpiryNotYetValid // not-yet-valid
)

// StatusMessageID returns Configuration Manager's status message ID for s: 7210
// for a warning, 7211 for an error, 0 otherwise.
func (s ExpiryStatus) StatusMessageID() int {
	switch s {
	case ExpiryWarning:
		return StatusMessageExpiryWarning
	case ExpiryError:
		return StatusMessageExpiryError
	}
	return 0
}

// validity classifies now against [notBefore, notAfter]; the bounds are inclusive,
// as in X.509.
func validity(notBefore, notAfter, now time.Time) (ExpiryStatus, bool) {
	if now.Before(notBefore) {
		return ExpiryNotYetValid, true
	}
	if now.After(notAfter) {
		return ExpiryExpired, true
	}
	return ExpiryOK, false
}

// Provisioning evaluates a provisioning certificate whose validity ends at
// notAfter ([ExpiryPolicy.ProvisioningChain] takes a whole chain): ExpiryError when less than
// Error remains, ExpiryWarning when Warn or less remains, ExpiryExpired after
// notAfter, and ExpiryNotYetValid before notBefore. Defaults shrink with the
// lifetime notAfter − notBefore (see [ExpiryPolicy]).
func (p ExpiryPolicy) Provisioning(notBefore, notAfter, now time.Time) ExpiryStatus {
	return p.provisioning(notBefore, notAfter, notAfter.Sub(notBefore), now)
}

// ProvisioningChain is [ExpiryPolicy.Provisioning] for a whole chain (leaf
// first, as in [Bundle]): valid while every certificate is, expiring with the
// first to expire, whose own lifetime scales the defaults (an intermediate
// issued after the leaf does not shorten it). An empty chain is
// ExpiryExpired.
func (p ExpiryPolicy) ProvisioningChain(chain []*x509.Certificate, now time.Time) ExpiryStatus {
	if len(chain) == 0 {
		return ExpiryExpired
	}
	b := Bundle{Chain: chain}
	first := chain[firstToExpire(chain)]
	return p.provisioning(b.NotBefore(), b.NotAfter(), first.NotAfter.Sub(first.NotBefore), now)
}

func (p ExpiryPolicy) provisioning(notBefore, notAfter time.Time, lifetime time.Duration, now time.Time) ExpiryStatus {
	if s, done := validity(notBefore, notAfter, now); done {
		return s
	}
	left := notAfter.Sub(now)
	if e := p.err(lifetime); e > 0 && left < e {
		return ExpiryError
	}
	if w := p.warn(lifetime); w > 0 && left <= w {
		return ExpiryWarning
	}
	return ExpiryOK
}

// Device evaluates a device certificate (AMT's TLS or 802.1X certificate):
// ExpiryRenew when Renew or less remains (by default at most a third of the
// lifetime, see [ExpiryPolicy]), ExpiryExpired after notAfter, and
// ExpiryNotYetValid before notBefore.
func (p ExpiryPolicy) Device(notBefore, notAfter, now time.Time) ExpiryStatus {
	if s, done := validity(notBefore, notAfter, now); done {
		return s
	}
	if r := p.renew(notAfter.Sub(notBefore)); r > 0 && notAfter.Sub(now) <= r {
		return ExpiryRenew
	}
	return ExpiryOK
}

// ProvisioningCert is [ExpiryPolicy.Provisioning] for one certificate.
func (p ExpiryPolicy) ProvisioningCert(c *x509.Certificate, now time.Time) ExpiryStatus {
	return p.Provisioning(c.NotBefore, c.NotAfter, now)
}

// DeviceCert is [ExpiryPolicy.Device] for one certificate.
func (p ExpiryPolicy) DeviceCert(c *x509.Certificate, now time.Time) ExpiryStatus {
	return p.Device(c.NotBefore, c.NotAfter, now)
}

// RevocationReason is an RFC 5280 §5.3.1 CRL reason code. String returns the
// RFC 5280 name, such as "superseded".
type RevocationReason int

// RFC 5280 reason codes. A renewer revokes the certificate it replaced with
// RevocationSuperseded; Configuration Manager also revokes AMT's certificate when
// provisioning data is removed.
const (
	RevocationUnspecified          RevocationReason = 0  // unspecified
	RevocationKeyCompromise        RevocationReason = 1  // keyCompromise
	RevocationCACompromise         RevocationReason = 2  // cACompromise
	RevocationAffiliationChanged   RevocationReason = 3  // affiliationChanged
	RevocationSuperseded           RevocationReason = 4  // superseded
	RevocationCessationOfOperation RevocationReason = 5  // cessationOfOperation
	RevocationCertificateHold      RevocationReason = 6  // certificateHold
	RevocationRemoveFromCRL        RevocationReason = 8  // removeFromCRL
	RevocationPrivilegeWithdrawn   RevocationReason = 9  // privilegeWithdrawn
	RevocationAACompromise         RevocationReason = 10 // aACompromise
)

// CRLOptions tunes [CheckCRL]. The zero value fails closed: a missing or stale CRL
// is an error.
type CRLOptions struct {
	// Issuer, when set, is the CA that issued the certificate: the CRL's
	// signature is verified with its key, and its subject must be the CRL's issuer.
	// Without it only the names are compared. Set it whenever the CRL came over
	// the network.
	Issuer *x509.Certificate
	// AllowMissing accepts a nil CRL (fail open).
	AllowMissing bool
	// AllowStale accepts a CRL whose NextUpdate has passed (fail open).
	AllowStale bool
	// Now is the clock of [CRLRevocation] (nil = time.Now); [CheckCRL] takes
	// the time as an argument instead.
	Now func() time.Time
}

// CheckCRL reports whether cert is revoked according to crl at time now. It
// returns nil when the certificate is not listed, a [*RevokedError] (wrapping
// [ErrRevoked]) when it is, and otherwise an error wrapping [ErrCRLMissing],
// [ErrCRLStale], [ErrCRLIssuer] or [ErrCRLSignature] — a CRL that cannot be
// trusted never lets a certificate pass unless opts allows it explicitly.
func CheckCRL(cert *x509.Certificate, crl *x509.RevocationList, now time.Time, opts CRLOptions) error {
	if cert == nil {
		return ErrNoCertificates
	}
	if crl == nil {
		if opts.AllowMissing {
			return nil
		}
		return fmt.Errorf("%w: no CRL for %s", ErrCRLMissing, Describe(cert))
	}
	if !bytes.Equal(crl.RawIssuer, cert.RawIssuer) {
		return fmt.Errorf("%w: CRL issued by %q, certificate %s issued by %q", ErrCRLIssuer,
			crl.Issuer.String(), Describe(cert), cert.Issuer.String())
	}
	if err := crlext.Check(crl, cert); err != nil {
		return fmt.Errorf("%w: CRL from %q is %v", ErrCRLUnsupported, crl.Issuer.String(), err)
	}
	if opts.Issuer != nil {
		if !bytes.Equal(opts.Issuer.RawSubject, crl.RawIssuer) {
			return fmt.Errorf("%w: CRL issued by %q, expected %q", ErrCRLIssuer, crl.Issuer.String(), opts.Issuer.Subject.String())
		}
		if err := crl.CheckSignatureFrom(opts.Issuer); err != nil {
			return fmt.Errorf("%w: %v", ErrCRLSignature, err)
		}
	}
	// A CRL without nextUpdate (RFC 5280 §5.1.2.5 requires one) would be
	// current for ever: an old one replayed from an http distribution point
	// would clear a certificate revoked since. It counts as out of date.
	stale := now.Before(crl.ThisUpdate) || crl.NextUpdate.IsZero() || now.After(crl.NextUpdate)
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			if RevocationReason(e.ReasonCode) == RevocationRemoveFromCRL {
				continue // a delta-CRL entry lifting a hold
			}
			return &RevokedError{Cert: cert, Reason: RevocationReason(e.ReasonCode), RevokedAt: e.RevocationTime}
		}
	}
	if stale && !opts.AllowStale {
		if crl.NextUpdate.IsZero() {
			return fmt.Errorf("%w: CRL from %q of %s has no nextUpdate", ErrCRLStale, crl.Issuer.String(), crl.ThisUpdate.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("%w: CRL from %q valid %s to %s, checked at %s", ErrCRLStale, crl.Issuer.String(),
			crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}
