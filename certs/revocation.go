package certs

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"
)

// CRLRevocation returns a revocation check of the shape wsman.CheckRevocation
// and provisioning take — func(ctx, cert, issuer) error, nil when cert is in
// good standing — that looks cert up on its issuer's CRL with [CheckCRL]:
//
//   - fetch returns the CRL issuer publishes (from a distribution point, a
//     file, a cache; it is called on every check, so cache inside it). A fetch
//     error fails closed with [ErrCRLMissing] (AllowMissing does not apply: it
//     accepts only a nil CRL, "none published");
//   - the CRL must be issued by issuer and its signature must verify with
//     issuer's key ([ErrCRLIssuer], [ErrCRLSignature]), it must be a complete
//     CRL ([ErrCRLUnsupported] for delta and partial CRLs or unknown critical
//     extensions) and current at opts.Now ([ErrCRLStale]);
//   - a listed certificate gives a [*RevokedError] ([ErrRevoked]).
//
// opts.Issuer is ignored (the issuer comes with each check); AllowMissing and
// AllowStale fail open as in [CheckCRL] and are off by default. A nil cert or
// issuer is an error.
func CRLRevocation(fetch func(ctx context.Context, issuer *x509.Certificate) (*x509.RevocationList, error), opts CRLOptions) func(ctx context.Context, cert, issuer *x509.Certificate) error {
	return func(ctx context.Context, cert, issuer *x509.Certificate) error {
		if cert == nil || issuer == nil {
			return fmt.Errorf("%w: revocation check without a certificate and its issuer", ErrNoCertificates)
		}
		if fetch == nil {
			return fmt.Errorf("%w: no CRL source for %s", ErrCRLMissing, Describe(issuer))
		}
		crl, err := fetch(ctx, issuer)
		if err != nil {
			return fmt.Errorf("%w: fetching the CRL of %s: %w", ErrCRLMissing, Describe(issuer), err)
		}
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		o := opts
		o.Issuer = issuer
		return CheckCRL(cert, crl, now(), o)
	}
}
