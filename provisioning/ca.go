package provisioning

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/certs"
)

// DefaultCRLValidity is how long a CRL signed by [CA] stays valid after it
// was signed (NextUpdate − signing time) unless [CAOptions.CRLValidity] says
// otherwise.
const DefaultCRLValidity = 7 * certs.Day

// CRLClockSkew is how long before its signing a CRL signed by [CA] is valid
// from (its ThisUpdate), so that a relying party whose clock is minutes
// behind the CA's (another provisioner, a RADIUS server) does not take it for
// one not yet valid and fail closed. Ten minutes, Microsoft's CA default
// (ClockSkewMinutes; TechNet Wiki "How ThisUpdate, NextUpdate and
// NextCRLPublish are calculated").
const CRLClockSkew = 10 * time.Minute

// Errors of [CA] and the revocation logs. Test with errors.Is.
var (
	// ErrCARequest: the CA refused an issue or revoke request (no template, no
	// public key, no certificate, a template asking for CA powers, or a
	// revocation reason the CA does not record).
	ErrCARequest = errors.New("provisioning: CA refused the request")
	// ErrNotIssuedByCA: Revoke was given a certificate this CA did not sign.
	ErrNotIssuedByCA = errors.New("provisioning: certificate was not issued by this CA")
	// ErrRevocationLogCorrupt: a revocation log file is damaged or truncated;
	// it is never read partially. A [*RevocationLogError] says where.
	ErrRevocationLogCorrupt = errors.New("provisioning: revocation log is corrupt")
	// ErrRevocationLogChanged: a [FileRevocationLog]'s file was replaced by
	// another writer (another process or another FileRevocationLog on the same
	// path) since it was read; nothing was written. Only one CA may use a file.
	ErrRevocationLogChanged = errors.New("provisioning: revocation log file was changed by another writer")
)

// RevocationLogError reports where a revocation log file is damaged. It wraps
// [ErrRevocationLogCorrupt].
type RevocationLogError struct {
	Path    string
	Line    int // 1-based; 0 when the problem is the file as a whole
	Problem string
}

// Error names the file, the line and what was expected there.
func (e *RevocationLogError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%v: %s: %s", ErrRevocationLogCorrupt, e.Path, e.Problem)
	}
	return fmt.Sprintf("%v: %s line %d: %s", ErrRevocationLogCorrupt, e.Path, e.Line, e.Problem)
}

// Unwrap returns [ErrRevocationLogCorrupt].
func (e *RevocationLogError) Unwrap() error { return ErrRevocationLogCorrupt }

// Revocation is one revoked certificate as a [RevocationLog] keeps it.
type Revocation struct {
	// SerialNumber of the revoked certificate (positive).
	SerialNumber *big.Int
	// RevokedAt is the time of revocation, UTC, whole seconds.
	RevokedAt time.Time
	// Reason is the RFC 5280 reason code written to the CRL
	// ([certs.RevocationUnspecified] writes none).
	Reason certs.RevocationReason
}

func (r Revocation) clone() Revocation {
	r.SerialNumber = new(big.Int).Set(r.SerialNumber)
	return r
}

func (r Revocation) check() error {
	if r.SerialNumber == nil || r.SerialNumber.Sign() <= 0 {
		return fmt.Errorf("%w: a revocation needs a positive serial number", ErrCARequest)
	}
	if r.RevokedAt.IsZero() {
		return fmt.Errorf("%w: a revocation needs a time", ErrCARequest)
	}
	if !reasonRecordable(r.Reason) {
		return fmt.Errorf("%w: reason %v cannot be recorded (expected 0–6, 9 or 10)", ErrCARequest, r.Reason)
	}
	return nil
}

// reasonRecordable: a reason code RFC 5280 defines for a CRL entry of a base
// CRL (7 is unused, removeFromCRL belongs to delta CRLs).
func reasonRecordable(r certs.RevocationReason) bool {
	return r >= certs.RevocationUnspecified && r <= certs.RevocationAACompromise &&
		r != 7 && r != certs.RevocationRemoveFromCRL
}

// RevocationLog keeps a CA's revocations. The CA treats it as the truth: every
// CRL lists exactly what All returns. Implementations must be safe for
// concurrent use; one CA (one process) writes a log at a time.
//
// [MemoryRevocationLog] is the default and forgets everything when the process
// exits; [FileRevocationLog] keeps revocations in a file. A database-backed log
// implements these two methods (and [CRLNumberLog] if it can).
type RevocationLog interface {
	// Add records r and returns only once it is durable. Adding a serial number
	// already recorded is not an error and keeps the first record (revocation
	// is idempotent).
	Add(ctx context.Context, r Revocation) error
	// All returns every revocation recorded, oldest first. The caller may
	// modify the result.
	All(ctx context.Context) ([]Revocation, error)
}

// CRLNumberLog is implemented by a [RevocationLog] that also keeps the highest
// CRL number issued, so that a restarted CA continues above it whatever the
// clock says. [FileRevocationLog] implements it.
type CRLNumberLog interface {
	// NextCRLNumber durably records and returns a number that is at least
	// atLeast and greater than every number it returned before.
	NextCRLNumber(ctx context.Context, atLeast *big.Int) (*big.Int, error)
}

// CAOptions configure [NewCA]. The zero value is usable: certificates for a
// year (cut to the CA's own expiry), no CRL distribution point or AIA URL,
// 7-day CRLs re-signed for the handler after 3.5 days, revocations kept in
// memory only, crypto/rand and time.Now.
type CAOptions struct {
	// Log keeps revocations. nil means a new [MemoryRevocationLog], which is
	// NOT durable: a restarted CA publishes CRLs without the certificates it
	// revoked before, and they become valid again. Use [OpenFileRevocationLog]
	// or a database-backed log in production.
	Log RevocationLog
	// Lifetime of issued certificates whose template has no NotAfter; zero
	// means [certs.DefaultLeafLifetime]. NotAfter never passes the CA's own.
	Lifetime time.Duration
	// CRLDistributionPoints are written to every issued certificate (nil: none).
	// Serve [CA.CRLHandler] at this URL. Use http:// (RFC 5280 §4.2.1.13:
	// clients need not follow https for CRLs).
	CRLDistributionPoints []string
	// IssuingCertificateURL are written to every issued certificate's Authority
	// Information Access extension as caIssuers URLs (nil: none). Serve the CA
	// certificate (DER) there.
	IssuingCertificateURL []string
	// CRLValidity is how long every CRL stays valid after it was signed
	// (NextUpdate − signing time; ThisUpdate lies [CRLClockSkew] before the
	// signing); zero means [DefaultCRLValidity] (7 days).
	CRLValidity time.Duration
	// CRLRefresh is how old the CRL served by [CA.CRLHandler] may get before it
	// is signed again (a revocation re-signs it at once); zero means half of
	// CRLValidity. It must not exceed CRLValidity.
	CRLRefresh time.Duration
	// Rand is the source for serial numbers; nil means crypto/rand. It is also
	// passed to the signing calls, which since Go 1.26 ignore it and use a
	// secure source unless GODEBUG=cryptocustomrand=1 is set.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one record per issue and revocation and the handler's
	// errors; nil logs nothing.
	Logger *slog.Logger
}

// CA is a certificate authority for AMT's own certificates (TLS server,
// 802.1X client) that implements [Issuer]: it issues with the integrator's CA
// bundle, whose key may live in an HSM or TPM (any crypto.Signer), records
// revocations in a [RevocationLog] and publishes CRLs ([CA.CRL],
// [CA.CRLHandler]). Make one with [NewCA]; it is safe for concurrent use.
type CA struct {
	// Behind pointers: fmt and slog print a nested pointer as an address,
	// so a CA printed by reflection (inside another value) never shows the
	// key, which an ed25519 key would be, bytes and all.
	bundle *certs.Bundle
	local  *certs.LocalCA
	opts   CAOptions
	log    RevocationLog

	crlLock ctxLock  // serializes CRL numbering and signing
	lastCRL *big.Int // guarded by crlLock
	gen     atomic.Uint64
	cached  atomic.Pointer[signedCRL]
}

var _ Issuer = (*CA)(nil)

type signedCRL struct {
	der        []byte
	number     *big.Int
	thisUpdate time.Time
	gen        uint64
}

// NewCA returns a CA issuing with bundle: its leaf is the CA certificate (it
// must be a CA with the certSign and cRLSign key usages and a subject key
// identifier), the rest its chain up to the root, and Key its private key. The
// bundle's chain is returned after every issued certificate.
func NewCA(bundle certs.Bundle, opts CAOptions) (*CA, error) {
	if err := bundle.CheckKey(); err != nil {
		return nil, fmt.Errorf("provisioning: NewCA: %w", err)
	}
	leaf := bundle.Leaf()
	switch {
	case !leaf.BasicConstraintsValid || !leaf.IsCA:
		return nil, &ConfigError{Field: "CA bundle", Problem: fmt.Sprintf("%s is not a CA certificate (basic constraints cA=TRUE expected)", certs.Describe(leaf))}
	case leaf.KeyUsage&x509.KeyUsageCertSign == 0 || leaf.KeyUsage&x509.KeyUsageCRLSign == 0:
		return nil, &ConfigError{Field: "CA bundle", Problem: fmt.Sprintf("%s lacks the keyCertSign and cRLSign key usages", certs.Describe(leaf))}
	case len(leaf.SubjectKeyId) == 0:
		return nil, &ConfigError{Field: "CA bundle", Problem: fmt.Sprintf("%s has no subject key identifier (needed to sign CRLs)", certs.Describe(leaf))}
	}
	if opts.Lifetime < 0 {
		return nil, &ConfigError{Field: "CAOptions.Lifetime", Problem: "negative"}
	}
	if opts.CRLValidity < 0 {
		return nil, &ConfigError{Field: "CAOptions.CRLValidity", Problem: "negative"}
	}
	if opts.CRLValidity == 0 {
		opts.CRLValidity = DefaultCRLValidity
	}
	if opts.CRLRefresh < 0 || opts.CRLRefresh > opts.CRLValidity {
		return nil, &ConfigError{Field: "CAOptions.CRLRefresh", Problem: fmt.Sprintf("%s is outside 0 to CRLValidity (%s)", opts.CRLRefresh, opts.CRLValidity)}
	}
	if opts.CRLRefresh == 0 {
		opts.CRLRefresh = opts.CRLValidity / 2
	}
	for _, u := range slices.Concat(opts.CRLDistributionPoints, opts.IssuingCertificateURL) {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			return nil, &ConfigError{Field: "CAOptions URLs", Problem: fmt.Sprintf("%q is not an absolute URL", u)}
		}
	}
	opts.CRLDistributionPoints = slices.Clone(opts.CRLDistributionPoints)
	opts.IssuingCertificateURL = slices.Clone(opts.IssuingCertificateURL)
	if opts.Log == nil {
		opts.Log = new(MemoryRevocationLog)
	}
	bundle.Chain = slices.Clone(bundle.Chain)
	return &CA{
		bundle:  &bundle,
		local:   &certs.LocalCA{CA: bundle, Lifetime: opts.Lifetime, Rand: opts.Rand, Now: opts.Now},
		opts:    opts,
		log:     opts.Log,
		crlLock: newCtxLock(),
	}, nil
}

// String describes the CA by its certificate; the key is never printed.
func (ca *CA) String() string {
	if ca == nil || ca.bundle == nil {
		return "provisioning.CA(<nil>)"
	}
	return "provisioning.CA(" + ca.bundle.String() + ")"
}

// Format prints [CA.String] for every verb, so %v, %+v and %#v show no key.
func (ca *CA) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(ca.String())) }

// LogValue is [CA.String], for log/slog.
func (ca *CA) LogValue() slog.Value { return slog.StringValue(ca.String()) }

// Certificate returns the CA certificate, for [certs.CRLOptions].Issuer and
// the caIssuers URL.
func (ca *CA) Certificate() *x509.Certificate { return ca.bundle.Leaf() }

// Chain returns the CA certificate and its chain up to the root, as appended to
// every issued certificate.
func (ca *CA) Chain() []*x509.Certificate { return slices.Clone(ca.bundle.Chain) }

func (ca *CA) now() time.Time {
	if ca.opts.Now != nil {
		return ca.opts.Now()
	}
	return time.Now()
}

// Extensions only the CA decides on: a template carrying them is refused.
var (
	oidBasicConstraints  = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidCRLDistribution   = asn1.ObjectIdentifier{2, 5, 29, 31}
	oidAuthorityInfo     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	oidAuthorityKeyIDExt = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidKeyUsage          = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidNameConstraints   = asn1.ObjectIdentifier{2, 5, 29, 30}
)

// Issue signs req.Template for req.PublicKey and returns the certificate
// followed by the CA's chain. The CA assigns the serial number (the template's
// is ignored) and sets the CRL distribution points and caIssuers URLs from
// [CAOptions] (a template's own, and any OCSP server, are dropped); the
// validity follows [certs.LocalCA.Issue]: a zero NotBefore is
// [certs.DefaultBackdate] ago (never before the CA's own NotBefore), a zero
// NotAfter Lifetime later, and a NotAfter beyond the CA certificate's is
// cut to it. The signature uses at least req.MinSignatureHash (SHA-384 with
// RSA or ECDSA for AMT 22; the template's algorithm when it is strong
// enough). A request without a template or key, or whose template asks for
// CA powers, is refused with [ErrCARequest]; a CA outside its validity period
// issues nothing ([certs.ErrExpired], [certs.ErrNotYetValid]).
func (ca *CA) Issue(ctx context.Context, req IssueRequest) ([]*x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case req.Template == nil:
		return nil, fmt.Errorf("%w: no certificate template", ErrCARequest)
	case req.PublicKey == nil:
		return nil, fmt.Errorf("%w: no public key to certify", ErrCARequest)
	case req.Template.IsCA || req.Template.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return nil, fmt.Errorf("%w: template %s asks for a CA certificate (cA or keyCertSign/cRLSign); this CA issues end-entity certificates only",
			ErrCARequest, certs.Describe(req.Template))
	}
	for _, e := range req.Template.ExtraExtensions {
		for _, oid := range []asn1.ObjectIdentifier{oidBasicConstraints, oidCRLDistribution, oidAuthorityInfo, oidAuthorityKeyIDExt, oidNameConstraints} {
			if e.Id.Equal(oid) {
				return nil, fmt.Errorf("%w: template carries extension %v, which only the CA sets", ErrCARequest, e.Id)
			}
		}
		// ExtraExtensions override the template's fields: a keyUsage here
		// would grant keyCertSign past the check above.
		if e.Id.Equal(oidKeyUsage) {
			return nil, fmt.Errorf("%w: template carries keyUsage (%v) in ExtraExtensions; set Template.KeyUsage instead", ErrCARequest, e.Id)
		}
	}
	now := ca.now()
	if err := ca.bundle.ValidAt(now); err != nil {
		return nil, fmt.Errorf("provisioning: CA cannot issue: %w", err)
	}
	t := *req.Template
	alg, err := signatureAlgorithmFor(ca.bundle.Key.Public(), req.MinSignatureHash, t.SignatureAlgorithm)
	if err != nil {
		return nil, err
	}
	t.SignatureAlgorithm = alg // at least req.MinSignatureHash (SHA-384 for AMT 22)
	t.SerialNumber = nil       // assigned by certs.Issue from Rand
	t.CRLDistributionPoints = slices.Clone(ca.opts.CRLDistributionPoints)
	t.IssuingCertificateURL = slices.Clone(ca.opts.IssuingCertificateURL)
	t.OCSPServer = nil
	local := *ca.local
	local.Now = func() time.Time { return now }
	chain, err := local.Issue(ctx, &t, req.PublicKey)
	if err != nil {
		return nil, err
	}
	if l := ca.opts.Logger; l != nil {
		l.LogAttrs(ctx, slog.LevelInfo, "CA issued certificate", slog.String("subject", chain[0].Subject.String()),
			slog.String("serial", chain[0].SerialNumber.Text(16)), slog.String("purpose", string(req.Purpose)),
			slog.Time("not_after", chain[0].NotAfter))
	}
	return chain, nil
}

// Revoke records req.Certificate as revoked at the CA's current time with
// req.Reason; the next CRL lists it. The certificate must be signed by this CA
// ([ErrNotIssuedByCA] otherwise). Revoking a certificate again returns nil and
// keeps the first record. Certificate hold (a reversible revocation) and the
// delta-CRL code removeFromCRL are refused with [ErrCARequest]: a revocation
// here is final.
func (ca *CA) Revoke(ctx context.Context, req RevokeRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cert := req.Certificate
	if cert == nil || cert.SerialNumber == nil {
		return fmt.Errorf("%w: no certificate to revoke", ErrCARequest)
	}
	if !reasonRecordable(req.Reason) || req.Reason == certs.RevocationCertificateHold {
		return fmt.Errorf("%w: revocation reason %v is not supported (a revocation is final; use superseded, keyCompromise, cessationOfOperation, …)",
			ErrCARequest, req.Reason)
	}
	leaf := ca.bundle.Leaf()
	if !bytes.Equal(cert.RawIssuer, leaf.RawSubject) {
		return fmt.Errorf("%w: %s serial %s is issued by %q, this CA is %q", ErrNotIssuedByCA, certs.Describe(cert),
			cert.SerialNumber.Text(16), cert.Issuer.String(), leaf.Subject.String())
	}
	if err := cert.CheckSignatureFrom(leaf); err != nil {
		return fmt.Errorf("%w: %s serial %s names this CA as issuer but its signature does not verify with the CA's key: %v",
			ErrNotIssuedByCA, certs.Describe(cert), cert.SerialNumber.Text(16), err)
	}
	r := Revocation{SerialNumber: new(big.Int).Set(cert.SerialNumber), RevokedAt: ca.now().UTC().Truncate(time.Second), Reason: req.Reason}
	err := ca.log.Add(ctx, r)
	ca.gen.Add(1) // the cached CRL may be out of date (even after an error: the log may hold r)
	if err != nil {
		return fmt.Errorf("provisioning: recording the revocation of serial %s: %w", r.SerialNumber.Text(16), err)
	}
	if l := ca.opts.Logger; l != nil {
		l.LogAttrs(ctx, slog.LevelInfo, "CA revoked certificate", slog.String("subject", cert.Subject.String()),
			slog.String("serial", r.SerialNumber.Text(16)), slog.String("reason", r.Reason.String()),
			slog.String("device", req.Device.String()))
	}
	return nil
}

// CRL signs and returns a new CRL (DER) listing every revocation in the log,
// valid from [CRLClockSkew] ago to [CAOptions.CRLValidity] from now. Its CRL number is greater than
// any this CA issued before: at least the current time in nanoseconds since
// 1970, and, when the log is a [CRLNumberLog], above every number the log
// recorded, so a restarted CA never goes back even if the clock does. The
// CRL satisfies [certs.CheckCRL] and wsman's CRL checking with this CA's
// certificate as issuer.
func (ca *CA) CRL(ctx context.Context) ([]byte, error) {
	if err := ca.crlLock.lock(ctx); err != nil {
		return nil, err
	}
	defer ca.crlLock.unlock()
	c, err := ca.signCRL(ctx)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(c.der), nil
}

// signCRL runs under crlLock.
func (ca *CA) signCRL(ctx context.Context) (*signedCRL, error) {
	gen := ca.gen.Load() // before All: a revocation added later bumps gen
	entries, err := ca.log.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("provisioning: reading the revocation log: %w", err)
	}
	now := ca.now()
	number := big.NewInt(max(now.UnixNano(), 1))
	if ca.lastCRL != nil && ca.lastCRL.Cmp(number) >= 0 {
		number = new(big.Int).Add(ca.lastCRL, big.NewInt(1))
	}
	if nl, ok := ca.log.(CRLNumberLog); ok {
		if number, err = nl.NextCRLNumber(ctx, number); err != nil {
			return nil, fmt.Errorf("provisioning: recording the CRL number: %w", err)
		}
	}
	ca.lastCRL = number
	list := make([]x509.RevocationListEntry, len(entries))
	for i, e := range entries {
		list[i] = x509.RevocationListEntry{SerialNumber: e.SerialNumber, RevocationTime: e.RevokedAt, ReasonCode: int(e.Reason)}
	}
	this := now.UTC().Truncate(time.Second)
	tmpl := &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                this.Add(-CRLClockSkew),
		NextUpdate:                this.Add(ca.opts.CRLValidity),
		RevokedCertificateEntries: list,
	}
	rnd := ca.opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	leaf := ca.bundle.Leaf()
	der, err := x509.CreateRevocationList(rnd, tmpl, leaf, ca.bundle.Key)
	if err != nil {
		return nil, fmt.Errorf("provisioning: signing CRL %s: %w", number, err)
	}
	// An HSM that returns a bad signature is caught here, not by relying parties.
	parsed, err := x509.ParseRevocationList(der)
	if err == nil {
		err = parsed.CheckSignatureFrom(leaf)
	}
	if err != nil {
		return nil, fmt.Errorf("provisioning: CRL %s does not verify with the CA certificate: %w", number, err)
	}
	c := &signedCRL{der: der, number: number, thisUpdate: this, gen: gen}
	ca.cached.Store(c)
	return c, nil
}

// fresh returns the cached CRL if no revocation happened since it was signed
// and it is younger than CRLRefresh.
func (ca *CA) fresh() *signedCRL {
	c := ca.cached.Load()
	if c == nil || c.gen != ca.gen.Load() {
		return nil
	}
	now := ca.now()
	if now.Before(c.thisUpdate) || !now.Before(c.thisUpdate.Add(ca.opts.CRLRefresh)) {
		return nil
	}
	return c
}

func (ca *CA) currentCRL(ctx context.Context) (*signedCRL, error) {
	if c := ca.fresh(); c != nil {
		return c, nil
	}
	if err := ca.crlLock.lock(ctx); err != nil {
		return nil, err
	}
	defer ca.crlLock.unlock()
	if c := ca.fresh(); c != nil { // signed while we waited
		return c, nil
	}
	return ca.signCRL(ctx)
}

// CRLHandler returns an http.Handler that serves the CA's current CRL (DER,
// Content-Type application/pkix-crl) to GET and HEAD; mount it at the URL in
// [CAOptions.CRLDistributionPoints]. The CRL is signed again when a revocation
// was recorded since the last one or the last one is older than
// [CAOptions.CRLRefresh]; otherwise every request gets the same bytes, so a
// flood of requests costs no signatures. Responses carry an ETag (the CRL
// number) and a Cache-Control max-age up to the next scheduled re-signing. When
// the CRL cannot be produced (the log cannot be read, the key refuses to sign)
// the handler answers 503 and logs the error.
func (ca *CA) CRLHandler() http.Handler { return http.HandlerFunc(ca.serveCRL) }

func (ca *CA) serveCRL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c, err := ca.currentCRL(r.Context())
	if err != nil {
		if l := ca.opts.Logger; l != nil {
			l.LogAttrs(r.Context(), slog.LevelError, "CA cannot serve its CRL", slog.Any("error", err))
		}
		http.Error(w, "CRL temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("ETag", `"`+c.number.Text(16)+`"`)
	maxAge := max(c.thisUpdate.Add(ca.opts.CRLRefresh).Sub(ca.now()), 0)
	h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(int64(maxAge/time.Second), 10))
	// No modification time: CRLs signed within one second must not look alike
	// to If-Modified-Since; the ETag decides.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(c.der))
}

// ctxLock is a mutex whose Lock gives up when the context ends.
type ctxLock chan struct{}

func newCtxLock() ctxLock { return make(ctxLock, 1) }

func (l ctxLock) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l ctxLock) unlock() { <-l }

// MemoryRevocationLog is a [RevocationLog] in memory. It is NOT durable: its
// revocations are lost when the process exits, and a restarted CA would
// publish CRLs without them. It suits tests and CAs that are rebuilt from
// another record at start (Add the revocations back before serving CRLs). The
// zero value is an empty log, safe for concurrent use.
type MemoryRevocationLog struct {
	mu      sync.Mutex
	entries []Revocation
	index   map[string]struct{}
}

// Add records r unless its serial number is already recorded.
func (m *MemoryRevocationLog) Add(ctx context.Context, r Revocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := string(r.SerialNumber.Bytes())
	if _, ok := m.index[key]; ok {
		return nil
	}
	if m.index == nil {
		m.index = map[string]struct{}{}
	}
	m.index[key] = struct{}{}
	m.entries = append(m.entries, r.clone())
	return nil
}

// All returns a copy of every revocation, oldest first.
func (m *MemoryRevocationLog) All(ctx context.Context) ([]Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Revocation, len(m.entries))
	for i, e := range m.entries {
		out[i] = e.clone()
	}
	return out, nil
}

// FileRevocationLog is a durable [RevocationLog] and [CRLNumberLog] in one
// text file. Every change writes the whole log to a temporary file in the same
// directory, syncs it, renames it over the log and syncs the directory, so the
// file is always either the old or the new complete log, never a torn one. The
// file ends with a line holding the number of revocations and a SHA-256 of
// everything before it: a file that was truncated or edited is refused with a
// [*RevocationLogError] rather than read partially.
//
// Each change costs a rewrite proportional to the number of revocations, which
// suits the thousands a fleet makes over years; for far more, or for several CA
// processes, implement RevocationLog over a database. Only one
// FileRevocationLog may use a file at a time; a change made by another writer
// is detected and reported with [ErrRevocationLogChanged]. Safe for concurrent
// use. Make one with [OpenFileRevocationLog].
type FileRevocationLog struct {
	path string
	lock ctxLock // serializes changes (held across the file write)

	// Guarded by lock; entries is also guarded by mu for All, which does not
	// wait for a write in progress.
	mu        sync.RWMutex
	entries   []Revocation
	index     map[string]struct{}
	crlNumber *big.Int    // highest CRL number recorded, 0 if none
	written   os.FileInfo // the file as last read or written
	// writtenSum is the SHA-256 of the file's content as last read or
	// written: a file system that hands a freed inode out again can put
	// another writer's file on the inode written remembers.
	writtenSum [sha256.Size]byte
}

const (
	logHeader = "amtkit revocation log v1"
	// maxLogSize bounds what OpenFileRevocationLog reads (about a million revocations).
	maxLogSize = 128 << 20
)

// OpenFileRevocationLog opens the revocation log at path, creating an empty one
// (and nothing else: the directory must exist) when no file is there. Keep the
// path stable: a CA pointed at a new path starts with no revocations. An
// existing file must be a complete, undamaged log ([ErrRevocationLogCorrupt]).
func OpenFileRevocationLog(path string) (*FileRevocationLog, error) {
	l := &FileRevocationLog{path: path, lock: newCtxLock(), index: map[string]struct{}{}, crlNumber: new(big.Int)}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := l.write(nil, l.crlNumber, true); err != nil {
			return nil, err
		}
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("provisioning: opening revocation log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("provisioning: opening revocation log: %w", err)
	}
	if fi.Size() > maxLogSize {
		return nil, &RevocationLogError{Path: path, Problem: fmt.Sprintf("%d bytes, more than the %d a log may hold", fi.Size(), maxLogSize)}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLogSize+1))
	if err != nil {
		return nil, fmt.Errorf("provisioning: reading revocation log %s: %w", path, err)
	}
	if len(data) > maxLogSize {
		return nil, &RevocationLogError{Path: path, Problem: fmt.Sprintf("more than the %d bytes a log may hold", maxLogSize)}
	}
	if l.entries, l.crlNumber, err = parseRevocationLog(path, data); err != nil {
		return nil, err
	}
	for _, e := range l.entries {
		l.index[string(e.SerialNumber.Bytes())] = struct{}{}
	}
	l.written = fi
	l.writtenSum = sha256.Sum256(data)
	return l, nil
}

// Path returns the log file's path.
func (l *FileRevocationLog) Path() string { return l.path }

func (l *FileRevocationLog) opened() error {
	if l == nil || l.lock == nil {
		return errors.New("provisioning: FileRevocationLog used without OpenFileRevocationLog")
	}
	return nil
}

// Add records r durably unless its serial number is already recorded.
func (l *FileRevocationLog) Add(ctx context.Context, r Revocation) error {
	if err := l.opened(); err != nil {
		return err
	}
	if err := r.check(); err != nil {
		return err
	}
	if err := l.lock.lock(ctx); err != nil {
		return err
	}
	defer l.lock.unlock()
	key := string(r.SerialNumber.Bytes())
	if _, ok := l.index[key]; ok {
		return nil
	}
	r = r.clone()
	r.RevokedAt = r.RevokedAt.UTC().Truncate(time.Second)
	entries := append(slices.Clip(l.entries), r)
	err := l.write(entries, l.crlNumber, false)
	if err != nil && !errors.Is(err, errDirSync) {
		return err
	}
	// The file holds r now (its durability is in doubt only on errDirSync):
	// later writes must keep it.
	l.mu.Lock()
	l.entries = entries
	l.index[key] = struct{}{}
	l.mu.Unlock()
	return err
}

// All returns every revocation, oldest first.
func (l *FileRevocationLog) All(ctx context.Context) ([]Revocation, error) {
	if err := l.opened(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Revocation, len(l.entries))
	for i, e := range l.entries {
		out[i] = e.clone()
	}
	return out, nil
}

// NextCRLNumber records and returns max(atLeast, last+1).
func (l *FileRevocationLog) NextCRLNumber(ctx context.Context, atLeast *big.Int) (*big.Int, error) {
	if err := l.opened(); err != nil {
		return nil, err
	}
	if err := l.lock.lock(ctx); err != nil {
		return nil, err
	}
	defer l.lock.unlock()
	n := new(big.Int).Add(l.crlNumber, big.NewInt(1))
	if atLeast != nil && atLeast.Cmp(n) > 0 {
		n.Set(atLeast)
	}
	l.mu.RLock()
	entries := l.entries
	l.mu.RUnlock()
	err := l.write(entries, n, false)
	if err != nil && !errors.Is(err, errDirSync) {
		return nil, err
	}
	l.crlNumber = n // in the file now: never hand it out again
	if err != nil {
		return nil, err
	}
	return new(big.Int).Set(n), nil
}

// errDirSync: the new file was renamed into place but the directory could not
// be synced, so the rename may not survive a power cut.
var errDirSync = errors.New("syncing the directory after the rename")

// write replaces the file with a log of entries and crlNumber. It runs under
// lock (or before the log is shared). An error wrapping errDirSync means the
// file was replaced.
func (l *FileRevocationLog) write(entries []Revocation, crlNumber *big.Int, create bool) (err error) {
	fail := func(err error) error { return fmt.Errorf("provisioning: writing revocation log %s: %w", l.path, err) }
	cur, statErr := os.Stat(l.path)
	switch {
	case create && statErr == nil:
		return fmt.Errorf("%w: %s appeared while it was being created", ErrRevocationLogChanged, l.path)
	case create && !errors.Is(statErr, os.ErrNotExist):
		return fail(statErr)
	case !create && (statErr != nil || l.written == nil || !os.SameFile(cur, l.written) || !l.unchanged()):
		return fmt.Errorf("%w: %s is not the file this log last read or wrote; reopen it (only one CA may use a log file)",
			ErrRevocationLogChanged, l.path)
	}
	data := encodeRevocationLog(entries, crlNumber)
	dir, base := filepath.Split(l.path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fail(err)
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fail(err)
	}
	if err = tmp.Sync(); err != nil {
		return fail(err)
	}
	if err = tmp.Close(); err != nil {
		return fail(err)
	}
	if err = os.Rename(tmp.Name(), l.path); err != nil {
		return fail(err)
	}
	renamed = true
	l.writtenSum = sha256.Sum256(data)
	if fi, statErr := os.Stat(l.path); statErr == nil {
		l.written = fi
	}
	if err = syncDir(dir); err != nil {
		// The rename happened; only its durability is in doubt. The next
		// write syncs the directory again.
		return fail(fmt.Errorf("%w: %w", errDirSync, err))
	}
	return nil
}

// unchanged reports whether the file still holds what this log last read or
// wrote.
func (l *FileRevocationLog) unchanged() bool {
	f, err := os.Open(l.path)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxLogSize+1)); err != nil {
		return false
	}
	return [sha256.Size]byte(h.Sum(nil)) == l.writtenSum
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; NTFS journals the rename
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// The file format, one record a line:
//
//	amtkit revocation log v1
//	crl-number <decimal, highest CRL number issued, 0 for none>
//	revoked <serial, lower-case hex> <RFC 3339 UTC time> <reason code>
//	...
//	end <number of revoked lines> <SHA-256, hex, of every byte before this line>
func encodeRevocationLog(entries []Revocation, crlNumber *big.Int) []byte {
	var b bytes.Buffer
	b.WriteString(logHeader + "\n")
	fmt.Fprintf(&b, "crl-number %s\n", crlNumber.Text(10))
	for _, e := range entries {
		fmt.Fprintf(&b, "revoked %s %s %d\n", e.SerialNumber.Text(16), e.RevokedAt.UTC().Format(time.RFC3339), int(e.Reason))
	}
	sum := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, "end %d %s\n", len(entries), hex.EncodeToString(sum[:]))
	return b.Bytes()
}

func parseRevocationLog(path string, data []byte) ([]Revocation, *big.Int, error) {
	bad := func(line int, format string, args ...any) error {
		return &RevocationLogError{Path: path, Line: line, Problem: fmt.Sprintf(format, args...)}
	}
	if len(data) == 0 {
		return nil, nil, bad(0, "empty file (expected at least the %q header and an end line)", logHeader)
	}
	if data[len(data)-1] != '\n' {
		return nil, nil, bad(0, "truncated: the last line has no line end")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != logHeader {
		return nil, nil, bad(1, "expected the header %q, found %.40q", logHeader, lines[0])
	}
	if len(lines) < 2 {
		return nil, nil, bad(0, "truncated after the header (expected crl-number and end lines)")
	}
	num, ok := strings.CutPrefix(lines[1], "crl-number ")
	crlNumber, ok2 := new(big.Int).SetString(num, 10)
	if !ok || !ok2 || crlNumber.Sign() < 0 || crlNumber.Text(10) != num {
		return nil, nil, bad(2, "expected \"crl-number <decimal>\", found %.60q", lines[1])
	}
	var entries []Revocation
	seen := map[string]int{}
	offset := len(lines[0]) + 1 + len(lines[1]) + 1
	for i := 2; i < len(lines); i++ {
		line, n := lines[i], i+1
		if rest, ok := strings.CutPrefix(line, "end "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || strings.Join(f, " ") != rest {
				return nil, nil, bad(n, "expected \"end <count> <sha256>\", found %.100q", line)
			}
			if f[0] != strconv.Itoa(len(entries)) {
				return nil, nil, bad(n, "end line counts %s revocations, the file holds %d", f[0], len(entries))
			}
			sum := sha256.Sum256(data[:offset])
			if f[1] != hex.EncodeToString(sum[:]) {
				return nil, nil, bad(n, "checksum mismatch: the lines before were changed (expected SHA-256 %s, they hash to %x)", f[1], sum)
			}
			if i != len(lines)-1 {
				return nil, nil, bad(n+1, "%d lines after the end line", len(lines)-1-i)
			}
			return entries, crlNumber, nil
		}
		rest, ok := strings.CutPrefix(line, "revoked ")
		f := strings.Fields(rest)
		if !ok || len(f) != 3 || strings.Join(f, " ") != rest {
			return nil, nil, bad(n, "expected \"revoked <serial> <time> <reason>\" or the end line, found %.100q", line)
		}
		serial, ok := new(big.Int).SetString(f[0], 16)
		if !ok || serial.Sign() <= 0 || serial.Text(16) != f[0] {
			return nil, nil, bad(n, "serial %.60q is not a positive lower-case hexadecimal number", f[0])
		}
		at, err := time.Parse(time.RFC3339, f[1])
		if err != nil || at.Location() != time.UTC || at.Format(time.RFC3339) != f[1] {
			return nil, nil, bad(n, "time %.40q is not an RFC 3339 UTC time in whole seconds", f[1])
		}
		reason, err := strconv.Atoi(f[2])
		if err != nil || !reasonRecordable(certs.RevocationReason(reason)) || strconv.Itoa(reason) != f[2] {
			return nil, nil, bad(n, "reason %.20q is not a CRL reason code (0–6, 9, 10)", f[2])
		}
		if first, dup := seen[f[0]]; dup {
			return nil, nil, bad(n, "serial %s already revoked on line %d", f[0], first)
		}
		seen[f[0]] = n
		entries = append(entries, Revocation{SerialNumber: serial, RevokedAt: at, Reason: certs.RevocationReason(reason)})
		offset += len(line) + 1
	}
	return nil, nil, bad(0, "truncated: no end line after %d revocations (expected \"end <count> <sha256>\")", len(entries))
}
