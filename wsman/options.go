package wsman

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/beevik/etree"
)

// Option configures a [Client] in [New].
type Option func(*config) error

type authKind int

const (
	authNone authKind = iota
	authDigest
	authBasic
)

type config struct {
	auth          authKind
	user, pass    string
	basicOverHTTP bool
	digestURI     string
	digestPolicy  DigestPolicy
	to            string

	tls        *TLSPolicy
	clientCert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	legacyTLS  bool
	rsaKEX     bool
	minTLS     uint16
	maxTLS     uint16
	sessions   tls.ClientSessionCache
	serial     bool
	dial       dialFunc
	secure     *secureDialer
	now        func() time.Time

	httpClient   *http.Client
	roundTripper http.RoundTripper
	maxConns     int

	logger   *slog.Logger
	redact   []Redactor
	rand     io.Reader
	maxBytes int64
	maxDepth int
	inFlight int
	defaults []CallOption
	callTO   time.Duration
}

// WithDigestAuth authenticates with HTTP Digest (RFC 7616: MD5, SHA-256,
// SHA-512-256; qop auth or auth-int), as AMT requires. The challenge of the
// first 401 is reused for later calls (one HTTP exchange per call in steady
// state); a wrong password fails with [ErrUnauthorized] and is never tried
// more than twice in one call (see the package documentation). Which
// challenges are answered: [WithDigestPolicy].
func WithDigestAuth(user, password string) Option {
	return func(c *config) error {
		c.auth, c.user, c.pass = authDigest, user, password
		return nil
	}
}

// WithDigestPolicy sets which digest challenges are answered (see
// [DigestPolicy]; the default requires qop and accepts MD5 and stronger, as
// AMT needs). A challenge outside the policy fails the call with
// [ErrWeakChallenge] before any credentials are sent.
func WithDigestPolicy(p DigestPolicy) Option {
	return func(c *config) error {
		if p.MinAlgorithm != "" && digestStrength(p.MinAlgorithm) == 0 {
			return fmt.Errorf("wsman: WithDigestPolicy: unknown algorithm %q (MD5, SHA-256, SHA-512-256, SHA-512)", p.MinAlgorithm)
		}
		c.digestPolicy = p
		return nil
	}
}

// WithBasicAuth authenticates with HTTP Basic. Over plain http it is refused
// unless [AllowBasicOverHTTP] is also given: the password would travel in clear.
func WithBasicAuth(user, password string) Option {
	return func(c *config) error {
		c.auth, c.user, c.pass = authBasic, user, password
		return nil
	}
}

// AllowBasicOverHTTP permits [WithBasicAuth] on an http:// endpoint.
func AllowBasicOverHTTP() Option {
	return func(c *config) error { c.basicOverHTTP = true; return nil }
}

// WithDigestURI sets the digest "uri" parameter. By default it is the request
// path (/wsman for AMT); set it when a relay's URL path differs from what the
// device checks.
func WithDigestURI(uri string) Option {
	return func(c *config) error { c.digestURI = uri; return nil }
}

// WithTo sets the wsa:To header. The default is the endpoint's path ("/wsman"
// when the path is empty), which AMT accepts; some servers want the full URL.
func WithTo(to string) Option {
	return func(c *config) error { c.to = to; return nil }
}

// WithTLS sets the server verification policy, required for https endpoints
// (unless the transport is the caller's own, or [WithSecureDialer] supplies
// secured connections). See [PinSHA256], [VerifyChain], [VerifyChainAnyHost],
// [VerifyFunc] and [InsecureSkipVerify].
func WithTLS(p TLSPolicy) Option {
	return func(c *config) error {
		if p.verify == nil && !p.insecure {
			return errors.New("wsman: WithTLS: empty TLSPolicy")
		}
		c.tls = &p
		return nil
	}
}

// WithClientCertificate presents cert (its Certificate field holding the chain
// leaf first, root last, and a crypto.Signer as PrivateKey) whenever the server
// asks for a client certificate. It is sent through GetClientCertificate, so it
// goes out even when the server's list of acceptable CAs does not name its
// issuer (AMT's list does not).
func WithClientCertificate(cert tls.Certificate) Option {
	return func(c *config) error {
		if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
			return errors.New("wsman: WithClientCertificate: certificate chain and private key required")
		}
		c.clientCert = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		return nil
	}
}

// WithGetClientCertificate sets the tls.Config.GetClientCertificate callback
// directly (e.g. to choose a chain by the server's CA list, or to sign with an
// HSM-backed key).
func WithGetClientCertificate(f func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) Option {
	return func(c *config) error { c.clientCert = f; return nil }
}

// WithRSAKeyExchange adds, to Go's default cipher suites, the RSA
// key-exchange suites AMT 11 and 12 need (TLS_RSA_WITH_AES_128_GCM_SHA256,
// TLS_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_AES_256_CBC_SHA: those
// go-wsman-messages' client adds, and Device Management Toolkit console issue
// 445 lists for AMT 11–12), keeping TLS 1.2 as the minimum version. Go has not
// offered them by default since Go 1.22: they have no forward secrecy. Use it
// only for devices that need it.
func WithRSAKeyExchange() Option {
	return func(c *config) error { c.rsaKEX = true; return nil }
}

// WithLegacyTLS opts into the legacy profile of firmware older than AMT 12
// (TLS 1.2 arrived in AMT 12): TLS 1.0 and 1.1 allowed, plus the RSA
// key-exchange suites of [WithRSAKeyExchange]. Go offers neither by default.
// Use it only for devices that need it.
func WithLegacyTLS() Option {
	return func(c *config) error { c.legacyTLS = true; return nil }
}

// WithTLSVersions bounds the TLS versions (tls.VersionTLS12 …; 0 leaves a bound
// at its default). AMT 21 resets some TLS 1.3 connections; a max of TLS 1.2 is
// a known workaround.
func WithTLSVersions(minVersion, maxVersion uint16) Option {
	return func(c *config) error { c.minTLS, c.maxTLS = minVersion, maxVersion; return nil }
}

// WithTLSSessionCache lets the client resume TLS sessions from cache (e.g.
// tls.NewLRUClientSessionCache): a reconnection to a server that resumes is an
// abbreviated handshake without public-key operations. The client's TLSPolicy
// still runs on every connection, resumed ones included, against the
// certificates of the original handshake (crypto/tls keeps them in the
// session). crypto/tls resumes with session tickets (RFC 5077) and TLS 1.3
// PSKs only, not with TLS 1.2 session IDs; a server that does not resume
// answers with a full handshake. Share a cache only between clients of the
// same server and policy.
func WithTLSSessionCache(cache tls.ClientSessionCache) Option {
	return func(c *config) error { c.sessions = cache; return nil }
}

// WithDialer makes the default transport open its TCP connections (or
// whatever stream dial returns) with dial, e.g. a net.Dialer bound to a
// source address, a SOCKS dialer, or a fake network in tests. For https
// endpoints the client still layers TLS on the connection itself, with its
// policy ([WithTLS]) and TLS options, and keeps its own connection handling
// (keep-alive, [WithMaxConnsPerHost]). A new connection — dial, handshake and
// policy — is bounded to 30 s whatever dial does with its context. The
// default dialer is a net.Dialer with a 30 s timeout and 30 s keep-alive.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) error {
		if dial == nil {
			return errors.New("wsman: WithDialer(nil)")
		}
		c.dial = dial
		return nil
	}
}

// secureDialer is the caller's dialer of already-secured connections.
type secureDialer struct {
	name string
	dial dialFunc
}

// WithSecureDialer makes the default transport take its connections from dial,
// which returns a connection the caller has already authenticated and
// encrypted: a TLS-PSK session (package pskx), an APF/CIRA channel, a tunnel.
// The client layers no TLS of its own on it, so an https endpoint needs no TLS
// policy, and TLS options ([WithTLS], [WithClientCertificate],
// [WithGetClientCertificate], [WithLegacyTLS], [WithRSAKeyExchange],
// [WithTLSVersions]) and [WithDialer] are refused next to it
// ([ErrTLSWithSecureDialer]) rather than silently ignored. name says what
// secures the connection (e.g. "tls-psk", "cira"); it appears in dial errors.
// The client still keeps connections alive and bounds each new one to 30 s.
// [Response].TLS is nil unless dial returns a *tls.Conn. Basic authentication
// is allowed over such a connection on an http:// endpoint, as it is
// encrypted.
func WithSecureDialer(name string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) error {
		if dial == nil || name == "" {
			return errors.New("wsman: WithSecureDialer needs a name and a dial function")
		}
		c.secure = &secureDialer{name: name, dial: dial}
		return nil
	}
}

// WithClock sets the client's clock (nil = time.Now): the TLS handshake's
// notion of time (tls.Config.Time), the current time of [VerifyChain] and
// [VerifyChainAnyHost] policies that were given no [CurrentTime], and how
// long [WithSerialTransport]'s connection has been idle. Deadlines stay in
// real time.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { c.now = now; return nil }
}

// WithHTTPClient uses hc's Transport (http.DefaultTransport if nil) as the base
// transport, under the client's authentication. Redirects are never followed;
// hc.Timeout, if set, bounds each call. TLS and dial options do not apply:
// configure hc's transport.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("wsman: WithHTTPClient(nil)")
		}
		c.httpClient = hc
		return nil
	}
}

// WithRoundTripper uses rt as the base transport (LMS, a CIRA/APF channel, a
// relay, a test double). TLS and dial options do not apply. To keep the
// client's own transport and TLS policy over another network, use
// [WithDialer] or [WithSecureDialer] instead.
func WithRoundTripper(rt http.RoundTripper) Option {
	return func(c *config) error {
		if rt == nil {
			return errors.New("wsman: WithRoundTripper(nil)")
		}
		c.roundTripper = rt
		return nil
	}
}

// WithMaxConnsPerHost bounds the connections the default transport opens to the
// endpoint (default 2; AMT serialises work and has few sockets).
func WithMaxConnsPerHost(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("wsman: WithMaxConnsPerHost(%d): must be at least 1", n)
		}
		c.maxConns = n
		return nil
	}
}

// WithSerialTransport makes the client keep one connection to the endpoint
// and run its exchanges one at a time on it, written and read by the calling
// goroutine, instead of through net/http's Transport (which holds a reader and
// a writer goroutine, with their buffers, per connection). An idle client
// holds its connection and nothing else. Dialling, the TLS policy, the call's
// deadline and cancellation, and the phases of a [TransportError] are the
// same. Meant for a client per device that makes one call at a time (the
// default [WithMaxInFlight]), as a provisioning engine holding thousands of
// devices does; calls beyond one wait for the connection.
func WithSerialTransport() Option {
	return func(c *config) error { c.serial = true; return nil }
}

// WithMaxInFlight bounds concurrent calls on the client (default 1, as AMT
// handles one request at a time and digest nonce counts must arrive in order; 0
// means no bound). Waiting callers respect their context.
func WithMaxInFlight(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("wsman: WithMaxInFlight(%d): negative", n)
		}
		c.inFlight = n
		return nil
	}
}

// DefaultCallTimeout bounds a call whose context has no deadline when the
// client has no [WithCallTimeout]: the default wsman:OperationTimeout
// ([DefaultOperationTimeout], 60 s, twice AMT's 30 s minimum) plus 30 s for
// the network, so that a server that honours the OperationTimeout has time to
// answer with its TimedOut fault first. A context with a deadline of its own
// is then used as it is.
const DefaultCallTimeout = DefaultOperationTimeout + 30*time.Second

// WithCallTimeout bounds every call to d, like http.Client.Timeout: the call
// ends at the earlier of d and its context's deadline, so a long deadline (a
// whole provisioning session's) does not let one exchange hang. Without it a
// call is bounded by its context's deadline, or by [DefaultCallTimeout] (90 s)
// when the context has none. Either way a server that never answers cannot
// hold a call, nor the client's in-flight slot ([WithMaxInFlight]), for ever.
// The bound covers one exchange (an [Client.Enumerate] is many) and starts
// when the call has its slot. d must be positive.
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("wsman: WithCallTimeout(%v): must be positive", d)
		}
		c.callTO = d
		return nil
	}
}

// WithLogger logs each call at debug level (action, resource, status, duration)
// and the envelopes with redacted elements masked ([WithRedaction]).
// Authorization headers are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// WithRedaction adds redactors: elements (and selectors) they match have their
// content replaced by "[REDACTED]" in logged envelopes. [DefaultRedactor] is
// always active; the per-call option [Redact] adds more for one call.
func WithRedaction(r ...Redactor) Option {
	return func(c *config) error { c.redact = append(c.redact, r...); return nil }
}

// WithRand sets the source of randomness for MessageIDs, digest cnonces and
// the TLS handshake (tls.Config.Rand) (default crypto/rand).
func WithRand(r io.Reader) Option {
	return func(c *config) error { c.rand = r; return nil }
}

// DefaultMaxResponseBytes is the default cap on a response body.
const DefaultMaxResponseBytes = 1 << 20

// WithMaxResponseBytes caps response bodies (default 1 MiB); a larger body
// fails with [ErrTooLarge].
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("wsman: WithMaxResponseBytes(%d): must be positive", n)
		}
		c.maxBytes = n
		return nil
	}
}

// WithMaxDepth bounds XML nesting in responses (default [DefaultMaxDepth]).
func WithMaxDepth(n int) Option {
	return func(c *config) error {
		if n < 4 {
			return fmt.Errorf("wsman: WithMaxDepth(%d): must be at least 4", n)
		}
		c.maxDepth = n
		return nil
	}
}

// WithCallDefaults sets call options applied to every call before the call's
// own (e.g. OperationTimeout(30*time.Second) or Locale("en-US")).
func WithCallDefaults(opts ...CallOption) Option {
	return func(c *config) error { c.defaults = append(c.defaults, opts...); return nil }
}

// CallOption adjusts one call (or, through [WithCallDefaults], every call).
type CallOption func(*callConfig)

// DefaultOperationTimeout is the wsman:OperationTimeout sent unless changed.
const DefaultOperationTimeout = 60 * time.Second

// Bounds of one enumeration ([Client.Enumerate], [Client.EnumerateAll]),
// changed per call with [MaxPulls], [MaxEnumerationItems] and
// [MaxEnumerationBytes]. They stop a server that pages without end or pads
// its pages; an AMT enumeration (a few dozen instances, the largest the
// certificate store's) stays far inside them.
const (
	// DefaultMaxPulls bounds the Pull requests of one enumeration.
	DefaultMaxPulls = 100
	// DefaultMaxEnumerationItems bounds the items of one enumeration.
	DefaultMaxEnumerationItems = 10000
	// DefaultMaxEnumerationBytes bounds the memory the items of one
	// enumeration keep (8 MiB), estimated from their text and their number
	// of XML nodes.
	DefaultMaxEnumerationBytes = 8 << 20
)

// DefaultMaxElements is the wsen:MaxElements sent in Pull requests (the value
// AMT clients use by convention).
const DefaultMaxElements = 999

type callConfig struct {
	timeout      time.Duration // <0: omit
	maxEnvelope  int
	locale       string
	optionSet    []OptionValue
	optionMU     bool
	headers      []*etree.Element
	maxElements  int
	maxChars     int
	optimize     bool
	mode         EnumerationMode
	maxPulls     int
	maxItems     int
	maxEnumBytes int64
	responseAct  string
	redact       []Redactor
}

func (c *callConfig) apply(opts []CallOption) {
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
}

// OperationTimeout sets wsman:OperationTimeout (default
// [DefaultOperationTimeout], 60 s); a negative d omits the header. The value is
// sent as given: a server's minimum (AMT's is 30 s; package amt's client
// options respect it) is the caller's to meet. It asks the server to give up;
// the client's own bound on a call is the context or [WithCallTimeout].
func OperationTimeout(d time.Duration) CallOption {
	return func(c *callConfig) { c.timeout = d }
}

// MaxEnvelopeSize sends wsman:MaxEnvelopeSize (mustUnderstand) with n bytes; 0
// omits it (the default). The value is sent as given (AMT refuses one below
// 50000).
func MaxEnvelopeSize(n int) CallOption {
	return func(c *callConfig) { c.maxEnvelope = n }
}

// Redact masks, in this call's logged envelopes, the elements and selectors r
// matches, in addition to [DefaultRedactor] and the client's [WithRedaction].
// A binding that knows which of its elements carry secrets passes it on every
// call, so the secrets stay out of logs whatever client it was handed.
func Redact(r ...Redactor) CallOption {
	return func(c *callConfig) { c.redact = append(c.redact[:len(c.redact):len(c.redact)], r...) }
}

// Locale sends wsman:Locale xml:lang=lang with mustUnderstand="false".
func Locale(lang string) CallOption {
	return func(c *callConfig) { c.locale = lang }
}

// OptionValue is one wsman:Option of an OptionSet.
type OptionValue struct {
	Name  string
	Value string
	Type  string // optional xs type, e.g. "xs:boolean"
}

// OptionSet sends wsman:OptionSet with opts. AMT supports no options and faults
// ([ErrMustUnderstand]) on an OptionSet marked mustUnderstand.
func OptionSet(mustUnderstand bool, opts ...OptionValue) CallOption {
	return func(c *callConfig) { c.optionSet, c.optionMU = opts, mustUnderstand }
}

// Header appends a copy of el to the SOAP header (for extensions this package
// does not model).
func Header(el *etree.Element) CallOption {
	return func(c *callConfig) { c.headers = append(c.headers, el.Copy()) }
}

// MaxElements sets how many items one Pull (and an optimized Enumerate) asks
// for (default 999).
func MaxElements(n int) CallOption {
	return func(c *callConfig) { c.maxElements = n }
}

// MaxCharacters sends wsen:MaxCharacters in Pull requests (0 omits it, the
// default).
func MaxCharacters(n int) CallOption {
	return func(c *callConfig) { c.maxChars = n }
}

// OptimizeEnumeration asks the server to return the first items in the
// EnumerateResponse (wsman:OptimizeEnumeration). Off by default: unverified
// on AMT.
func OptimizeEnumeration() CallOption {
	return func(c *callConfig) { c.optimize = true }
}

// EnumerationMode chooses what an enumeration returns; see [EnumerateObjects].
type EnumerationMode int

const (
	// EnumerateObjects returns instances (the default; no EnumerationMode sent).
	EnumerateObjects EnumerationMode = iota
	// EnumerateEPRs returns endpoint references only (EnumerateEPR).
	EnumerateEPRs
	// EnumerateObjectsAndEPRs returns both (EnumerateObjectAndEPR).
	EnumerateObjectsAndEPRs
)

// String returns the wire value ("" for objects).
func (m EnumerationMode) String() string {
	switch m {
	case EnumerateEPRs:
		return "EnumerateEPR"
	case EnumerateObjectsAndEPRs:
		return "EnumerateObjectAndEPR"
	}
	return ""
}

// Mode sets the enumeration mode.
func Mode(m EnumerationMode) CallOption {
	return func(c *callConfig) { c.mode = m }
}

// MaxPulls bounds the Pull requests of one enumeration (default
// [DefaultMaxPulls], 100; n ≤ 0 means the default); past it the iterator
// yields [ErrTooManyPulls] and releases the context.
func MaxPulls(n int) CallOption {
	return func(c *callConfig) { c.maxPulls = n }
}

// MaxEnumerationItems bounds the items of one enumeration (default
// [DefaultMaxEnumerationItems]; n ≤ 0 means the default); past it the iterator
// yields [ErrEnumerationTooLarge] and releases the context.
func MaxEnumerationItems(n int) CallOption {
	return func(c *callConfig) { c.maxItems = n }
}

// MaxEnumerationBytes bounds the memory the items of one enumeration keep
// (default [DefaultMaxEnumerationBytes], 8 MiB; n ≤ 0 means the default),
// estimated as their text plus a fixed cost per element, attribute and text
// node (what an etree tree costs). Past it the iterator yields
// [ErrEnumerationTooLarge] and releases the context. What the pages cost in
// transit is bounded separately: [WithMaxResponseBytes] per page, [MaxPulls]
// pages.
func MaxEnumerationBytes(n int64) CallOption {
	return func(c *callConfig) { c.maxEnumBytes = n }
}

// ResponseAction overrides the expected response Action of [Client.Do] (default:
// the request Action + "Response").
func ResponseAction(action string) CallOption {
	return func(c *callConfig) { c.responseAct = action }
}
