package wsman

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// Client is a WS-Management client for one endpoint. It is safe for concurrent
// use; by default it runs one call at a time ([WithMaxInFlight]). Create it with
// [New].
type Client struct {
	endpoint string // URL without user info
	url      *url.URL
	to       string
	auth     authLayer
	timeout  time.Duration // the caller's http.Client.Timeout: bounds every call
	callTO   time.Duration // WithCallTimeout: bounds every call; 0: DefaultCallTimeout when the context has no deadline
	rand     io.Reader
	logger   *slog.Logger
	redact   redactors
	maxBytes int64
	maxDepth int
	sem      chan struct{}
	defaults []CallOption
	idle     func()
	// handshake connects and completes a TLS handshake under the client's
	// policy (nil unless the client makes its own https connections).
	handshake func(ctx context.Context) (*tls.ConnectionState, error)
}

// New returns a client for endpoint, e.g. "http://host:16992/wsman" or
// "https://host:16993/wsman" (an empty path means /wsman). User info in the URL
// is refused: pass credentials with [WithDigestAuth] or [WithBasicAuth]. An https
// endpoint needs a TLS policy ([WithTLS]) unless the connections come secured
// from [WithSecureDialer] or the transport is the caller's own
// ([WithRoundTripper], [WithHTTPClient]).
func New(endpoint string, opts ...Option) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		// url.Error quotes the whole input, which may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("wsman: endpoint is not a URL: %w", err)
	}
	if u.User != nil {
		return nil, errors.New("wsman: endpoint URL must not hold user info; use WithDigestAuth or WithBasicAuth")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("wsman: endpoint scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		// Not quoted: a mistyped URL ("https:/admin:pw@host") has no
		// host and no user info, and the password in it.
		return nil, fmt.Errorf("wsman: endpoint has no host (expected %s://host[:port]/wsman)", u.Scheme)
	}
	if u.Path == "" {
		u.Path = "/wsman"
	}
	cfg := config{maxConns: 2, inFlight: 1}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	custom := cfg.httpClient != nil || cfg.roundTripper != nil
	tlsOpts := cfg.tls != nil || cfg.clientCert != nil || cfg.legacyTLS || cfg.rsaKEX || cfg.minTLS != 0 || cfg.maxTLS != 0 || cfg.sessions != nil
	if custom && (tlsOpts || cfg.dial != nil || cfg.secure != nil) {
		// The caller's transport makes its own connections: a policy, pin,
		// client certificate or dialer given here would be silently ignored.
		return nil, ErrTLSWithCustomTransport
	}
	if cfg.secure != nil && (tlsOpts || cfg.dial != nil) {
		return nil, fmt.Errorf("%w (the connections come from %q)", ErrTLSWithSecureDialer, cfg.secure.name)
	}
	if u.Scheme == "https" && !custom && cfg.secure == nil && cfg.tls == nil {
		return nil, ErrNoTLSPolicy
	}
	if cfg.auth == authBasic && u.Scheme == "http" && !cfg.basicOverHTTP && cfg.secure == nil {
		return nil, errors.New("wsman: Basic authentication over plain http sends the password in clear; add AllowBasicOverHTTP to accept that")
	}
	c := &Client{
		endpoint: u.String(),
		url:      u,
		to:       cfg.to,
		rand:     cfg.rand,
		logger:   cfg.logger,
		maxBytes: cfg.maxBytes,
		maxDepth: cfg.maxDepth,
		defaults: cfg.defaults,
		callTO:   cfg.callTO,
	}
	if c.to == "" {
		c.to = u.Path
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.maxBytes == 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	if cfg.inFlight > 0 {
		c.sem = make(chan struct{}, cfg.inFlight)
	}
	c.redact = redactors(cfg.redact)

	if u.Scheme == "https" && !custom && cfg.secure == nil {
		dial := cfg.dial
		if dial == nil {
			dial = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
		}
		td := &tlsDialer{dial: dial, config: cfg.tlsConfig(u.Hostname()), policy: *cfg.tls, now: cfg.now}
		addr := hostPort(u)
		c.handshake = func(ctx context.Context) (*tls.ConnectionState, error) { return td.handshake(ctx, "tcp", addr) }
	}
	var base http.RoundTripper
	switch {
	case cfg.roundTripper != nil:
		base = cfg.roundTripper
	case cfg.httpClient != nil:
		base = cfg.httpClient.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.timeout = cfg.httpClient.Timeout
	case cfg.serial:
		base = cfg.serialTransport(u)
	default:
		base = cfg.transport(u)
	}
	if ci, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.idle = ci.CloseIdleConnections
	}
	switch cfg.auth {
	case authDigest:
		c.auth = newDigestAuth(base, c.rand, cfg.digestURI, cfg.user, cfg.pass, cfg.digestPolicy)
	case authBasic:
		b := &basicAuth{base: base}
		b.setCredentials(cfg.user, cfg.pass)
		c.auth = b
	default:
		c.auth = noAuth{base}
	}
	return c, nil
}

// Endpoint returns the endpoint URL.
func (c *Client) Endpoint() string { return c.endpoint }

// String describes the client without credentials.
func (c *Client) String() string { return "wsman.Client(" + c.endpoint + ")" }

// SetCredentials replaces the user name and password (e.g. after provisioning
// changed the admin password) and drops any cached digest challenge. Calls
// already under way finish with the old credentials.
func (c *Client) SetCredentials(user, password string) { c.auth.setCredentials(user, password) }

// ResetAuth drops the cached digest challenge; the next call starts with a fresh
// one.
func (c *Client) ResetAuth() { c.auth.reset() }

// Handshake connects to the endpoint and completes the TLS handshake under the
// client's policy ([WithTLS], client certificate, versions, dialer), then
// closes the connection without sending a request: what the endpoint presents
// can be checked with nothing sent to it. It returns the connection's state,
// or the error (a [*TLSPolicyError] when the policy refused the server). When
// the handshake itself fails after the server's certificates arrived — a
// server that wants a client certificate the client does not offer, say —
// the state is returned with the error: HandshakeComplete false, and
// PeerCertificates what the server presented, unverified by the policy. The
// call is bounded like any other ([WithCallTimeout]). It needs an https
// endpoint whose connections the client makes itself: with a plain http
// endpoint, [WithSecureDialer] or the caller's own transport it returns
// [ErrNoHandshake].
func (c *Client) Handshake(ctx context.Context) (*tls.ConnectionState, error) {
	if c.handshake == nil {
		return nil, ErrNoHandshake
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	return c.handshake(ctx)
}

// callContext bounds a call: every call has a deadline, so a server that
// never answers does not hold the call, or the in-flight slot, for longer.
// WithCallTimeout bounds every call, also within a longer context deadline
// (a session's); without it the context's deadline is used as it is, or
// DefaultCallTimeout when there is none.
func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); c.callTO > 0 || !ok {
		d := c.callTO
		if d <= 0 {
			d = DefaultCallTimeout
		}
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

// CloseIdleConnections closes kept-alive connections of the base transport.
func (c *Client) CloseIdleConnections() {
	if c.idle != nil {
		c.idle()
	}
}

// Request is a WS-Management request for [Client.Do].
type Request struct {
	Action      string
	ResourceURI string      // optional (Identify has none)
	Selectors   SelectorSet // optional
	Body        *etree.Element
}

// Response is a parsed WS-Management response envelope with its HTTP context.
type Response struct {
	*Envelope
	HTTPStatus int
	HTTPHeader http.Header
	// TLS is the connection state on https endpoints (PeerCertificates for
	// recording or pinning a device certificate), nil otherwise.
	TLS *tls.ConnectionState
	// Raw is the response body as received.
	Raw []byte
}

// Instance returns the first element of the body: the instance of a Get or Put,
// the <Method>_OUTPUT of an Invoke. It fails with [ErrMalformed] on an empty
// body.
func (r *Response) Instance() (*etree.Element, error) {
	el := r.Content()
	if el == nil {
		return nil, fmt.Errorf("%w: response body is empty", ErrMalformed)
	}
	return el, nil
}

// Fields reads the body instance with [Fields].
func (r *Response) Fields() (map[string][]string, error) {
	el, err := r.Instance()
	if err != nil {
		return nil, err
	}
	return Fields(el), nil
}

// Decode reads the body instance into the struct v with [Unmarshal].
func (r *Response) Decode(v any) error {
	el, err := r.Instance()
	if err != nil {
		return err
	}
	return Unmarshal(el, v)
}

// ReturnValue reads the ReturnValue of a method output (the body's first
// element). It fails with [ErrNoReturnValue] when absent.
func (r *Response) ReturnValue() (uint32, error) {
	el, err := r.Instance()
	if err != nil {
		return 0, err
	}
	s, ok := ChildText(el, "", "ReturnValue")
	if !ok {
		return 0, fmt.Errorf("%w in %s", ErrNoReturnValue, describe(el))
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: ReturnValue %q is not a uint32", ErrMalformed, s)
	}
	return uint32(v), nil
}

// ResourceCreated reads the EPR of the instance a Create made (the body's
// wxf:ResourceCreated).
func (r *Response) ResourceCreated() (EPR, error) {
	el := Child(r.Body, NSTransfer, "ResourceCreated")
	if el == nil {
		return EPR{}, fmt.Errorf("%w: no wxf:ResourceCreated in the body", ErrMalformed)
	}
	return ParseEPR(el)
}

// Get reads an instance (WS-Transfer Get).
func (c *Client) Get(ctx context.Context, resourceURI string, sel SelectorSet, opts ...CallOption) (*Response, error) {
	return c.Do(ctx, Request{Action: ActionGet, ResourceURI: resourceURI, Selectors: sel}, opts...)
}

// Put replaces an instance (WS-Transfer Put); body is the full instance (see
// [NewInstance]). The response holds the instance as stored.
func (c *Client) Put(ctx context.Context, resourceURI string, sel SelectorSet, body *etree.Element, opts ...CallOption) (*Response, error) {
	return c.Do(ctx, Request{Action: ActionPut, ResourceURI: resourceURI, Selectors: sel, Body: body}, opts...)
}

// Create makes an instance (WS-Transfer Create); read its EPR with
// [Response.ResourceCreated].
func (c *Client) Create(ctx context.Context, resourceURI string, body *etree.Element, opts ...CallOption) (*Response, error) {
	return c.Do(ctx, Request{Action: ActionCreate, ResourceURI: resourceURI, Body: body}, opts...)
}

// Delete removes an instance (WS-Transfer Delete).
func (c *Client) Delete(ctx context.Context, resourceURI string, sel SelectorSet, opts ...CallOption) (*Response, error) {
	return c.Do(ctx, Request{Action: ActionDelete, ResourceURI: resourceURI, Selectors: sel}, opts...)
}

// Invoke calls the extrinsic method resourceURI/method with input as the body
// (see [NewInput]; nil sends an empty <method>_INPUT). The response's Action
// must be resourceURI/methodResponse. A method that fails usually still answers
// normally with a non-zero [Response.ReturnValue]; interpreting it is the
// caller's business.
func (c *Client) Invoke(ctx context.Context, resourceURI, method string, sel SelectorSet, input *etree.Element, opts ...CallOption) (*Response, error) {
	if input == nil {
		input = NewInput(resourceURI, method)
	}
	req := Request{Action: MethodAction(resourceURI, method), ResourceURI: resourceURI, Selectors: sel, Body: input}
	return c.Do(ctx, req, append(opts[:len(opts):len(opts)], ResponseAction(MethodResponseAction(resourceURI, method)))...)
}

// Do sends req and returns the parsed response. The response's RelatesTo must
// be the request's MessageID and its Action the request's Action + "Response"
// (or [ResponseAction]). Errors:
//   - [*Fault] for a SOAP fault, at any HTTP status;
//   - [*HTTPError] for a non-2xx status without a SOAP fault (401 matches
//     [ErrUnauthorized]);
//   - [*TransportError] when the connection failed; errors.Is with
//     [ErrResponseLost] tells that the request had been sent in full;
//   - [ErrMalformed], [ErrUnsafeXML], [ErrTooLarge], [ErrRelatesTo],
//     [ErrUnexpectedAction] for bad responses;
//   - the context's error if it ends before the call starts.
func (c *Client) Do(ctx context.Context, req Request, opts ...CallOption) (*Response, error) {
	cc := callConfig{}
	cc.apply(c.defaults)
	cc.apply(opts)
	msgID, err := c.messageID()
	if err != nil {
		return nil, err
	}
	buf := envelopes.Get().(*bytes.Buffer)
	writeRequest(buf, &req, &cc, c.to, msgID)
	body := takeEnvelope(buf)
	expect := cc.responseAct
	if expect == "" {
		expect = req.Action + "Response"
	}
	return c.exchange(ctx, req.Action, req.ResourceURI, body, msgID, expect, cc.redact)
}

// transport builds the default transport: kept-alive connections (at most
// maxConns to the endpoint), no proxy, no compression; every new connection
// bounded to connectTimeout; https through tlsDialer (the policy) unless the
// caller's secure dialer supplies the connections.
func (cfg *config) transport(u *url.URL) *http.Transport {
	dial := cfg.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	tr := &http.Transport{
		DialContext:           bounded(dial),
		MaxIdleConns:          cfg.maxConns,
		MaxIdleConnsPerHost:   cfg.maxConns,
		MaxConnsPerHost:       cfg.maxConns,
		IdleConnTimeout:       60 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0, // bounded by the call's deadline
		// The serial transport's bound: net/http's default (10 MB) let a
		// hostile device make every call read and hold ten times as much.
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	switch {
	case cfg.secure != nil:
		sd := cfg.secure
		secured := bounded(func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := sd.dial(ctx, network, addr)
			if err != nil {
				return nil, fmt.Errorf("wsman: %s dialer: %w", sd.name, err)
			}
			return conn, nil
		})
		if u.Scheme == "https" {
			tr.DialTLSContext = secured
		} else {
			tr.DialContext = secured
		}
	case u.Scheme == "https":
		td := &tlsDialer{dial: dial, config: cfg.tlsConfig(u.Hostname()), policy: *cfg.tls, now: cfg.now}
		tr.DialTLSContext = td.dialTLS
	}
	return tr
}

func (c *Client) messageID() (string, error) {
	u, err := uuid.NewRandomFromReader(c.rand)
	if err != nil {
		return "", fmt.Errorf("wsman: generating MessageID: %w", err)
	}
	return "uuid:" + u.String(), nil
}

// exchange sends the request envelope body and interprets the answer. msgID
// "" skips the RelatesTo check and expect "" the Action check (Identify).
// redact adds to the client's redactors for this call's logged envelopes.
func (c *Client) exchange(ctx context.Context, action, resource string, body []byte, msgID, expect string, redact []Redactor) (*Response, error) {
	debug := c.logger != nil && c.logger.Enabled(ctx, slog.LevelDebug)
	if debug {
		c.logRequest(ctx, action, resource, body, redact)
	}
	if c.sem != nil {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-c.sem }()
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	start := time.Now()
	resp, err := c.send(ctx, action, body)
	if err != nil && repeatable(action, err) && ctx.Err() == nil {
		// A kept-alive connection the server closed under the request (an
		// idle timeout racing the reuse): once more, on a new connection.
		resp, err = c.send(ctx, action, body)
	}
	if err != nil {
		if debug {
			c.logFailed(ctx, action, resource, start, err)
		}
		return nil, err
	}
	out, err := c.interpret(resp, msgID, expect)
	if err != nil {
		c.scrub(err, body, redact)
	}
	if debug {
		c.logResponse(ctx, action, resource, start, resp, out, err, redact)
	}
	return out, err
}

// scrub removes from a fault's reason and detail, or an HTTP error's body,
// every secret this call sent (the values of the request's elements the
// redactors match): a device that echoes the offending input ("Invalid value
// for Password: …") must not put a password into errors, records and logs.
//
//go:noinline
func (c *Client) scrub(err error, body []byte, extra []Redactor) {
	var f *Fault
	var he *HTTPError
	if !errors.As(err, &f) && !errors.As(err, &he) {
		return
	}
	depth := c.maxDepth
	if depth <= 0 {
		depth = DefaultMaxDepth
	}
	doc, perr := readXML(body, depth)
	if perr != nil {
		return
	}
	rs := append(append(redactors(nil), c.redact...), extra...)
	// The secrets are the values of the leaf elements the redactors match
	// (Password in SetMEBxPassword_INPUT, whose own name matches too: the
	// names of containers say nothing of their other children, such as
	// SetTLSPSK_INPUT's PID).
	var secrets []string
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, ch := range e.ChildElements() {
			if len(ch.ChildElements()) > 0 {
				walk(ch)
				continue
			}
			if v := strings.TrimSpace(Text(ch)); len(v) >= minScrubbed && rs.match(NamespaceOf(ch), ch.Tag) {
				secrets = append(secrets, v)
			}
		}
	}
	walk(&doc.Element)
	for _, v := range secrets {
		if f != nil {
			f.Reason = scrubText(f.Reason, v)
			f.Detail = scrubText(f.Detail, v)
			scrubElement(f.DetailElement, v)
		}
		if he != nil {
			he.Body = scrubText(he.Body, v)
		}
	}
}

// scrubText replaces secret in s, also as XML escapes it (a raw body quotes
// it escaped), and a start of it that s ends with (a body cut at its limit).
func scrubText(s, secret string) string {
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(secret)) // &#39; and &#34; for quotes, as encoding/xml writes them
	minimal := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(secret)
	named := strings.NewReplacer("'", "&apos;", `"`, "&quot;").Replace(minimal)
	// Fault texts have their white space collapsed (ParseFault): a secret
	// with a run of spaces appears collapsed too.
	collapsed := strings.Join(strings.Fields(secret), " ")
	for _, v := range []string{secret, esc.String(), minimal, named, collapsed} {
		if len(v) < minScrubbed {
			continue
		}
		s = strings.ReplaceAll(s, v, Redacted)
		for k := len(v) - 1; k >= minScrubbed; k-- {
			if strings.HasSuffix(s, v[:k]) {
				s = s[:len(s)-k] + Redacted
				break
			}
		}
	}
	return s
}

// scrubElement scrubs secret from the text and attribute values of e and its
// descendants (a Fault's DetailElement, which callers reach with errors.As).
func scrubElement(e *etree.Element, secret string) {
	if e == nil {
		return
	}
	for i := range e.Attr {
		e.Attr[i].Value = scrubText(e.Attr[i].Value, secret)
	}
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.CharData:
			t.Data = scrubText(t.Data, secret)
		case *etree.Element:
			scrubElement(t, secret)
		}
	}
}

// minScrubbed: shorter secret values are not scrubbed from error texts (a
// one-character value would blank every occurrence of that character).
const minScrubbed = 4

// logFailed and logResponse log a call's outcome at debug level. They are
// functions of their own so that exchange's frame stays small: a session
// waits on the device with exchange on its stack, and a goroutine's stack is
// halved only when less than a quarter of it is in use.
//
//go:noinline
func (c *Client) logFailed(ctx context.Context, action, resource string, start time.Time, err error) {
	c.logger.LogAttrs(ctx, slog.LevelDebug, "wsman call failed", slog.String("action", action),
		slog.String("resource", resource), slog.Duration("duration", time.Since(start)), slog.String("error", err.Error()))
}

//go:noinline
func (c *Client) logResponse(ctx context.Context, action, resource string, start time.Time, resp *rawResponse, out *Response, err error, redact []Redactor) {
	attrs := []slog.Attr{slog.String("action", action), slog.String("resource", resource),
		slog.Int("status", resp.status), slog.Int("bytes", len(resp.raw)), slog.Duration("duration", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if out != nil {
		attrs = append(attrs, slog.String("envelope", c.redactedString(out.Doc, redact)))
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "wsman response", attrs...)
}

func (c *Client) redactedString(doc *etree.Document, extra []Redactor) string {
	rs := c.redact
	if len(extra) > 0 {
		rs = append(append(redactors(nil), c.redact...), extra...)
	}
	s, err := redactedCopy(doc, rs).WriteToString()
	if err != nil {
		return "[unprintable]"
	}
	return s
}

// logRequest logs a request envelope at debug level, its secrets redacted: the
// envelope is read back from the bytes sent, so what is logged is what went
// out.
//
//go:noinline
func (c *Client) logRequest(ctx context.Context, action, resource string, body []byte, redact []Redactor) {
	envelope := "[unprintable]"
	// The envelope is our own: no depth bound but its length.
	if doc, err := readXML(body, len(body)); err == nil {
		envelope = c.redactedString(doc, redact)
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "wsman request", slog.String("endpoint", c.endpoint), slog.String("action", action),
		slog.String("resource", resource), slog.String("envelope", envelope))
}

type rawResponse struct {
	status int
	header http.Header
	tls    *tls.ConnectionState
	raw    []byte
}

// attempt tracks, through httptrace, how far the current HTTP attempt got.
type attempt struct {
	traced, connected, wrote, reused atomic.Bool
	conn                             atomic.Pointer[net.Conn]
}

// gotConn records the connection a request got.
func (at *attempt) gotConn(c net.Conn) { at.conn.Store(&c) }

// peerAlert returns the alert a TLS peer sent on the connection of a request
// that failed because net/http had already closed that connection, or nil.
// A server that refuses the client's certificate in TLS 1.3 sends its alert
// after the client's handshake is over; when the alert arrives before the
// request is queued, net/http closes the connection on it and the request
// then fails with "use of closed network connection" — the device's reason
// ("remote error: tls: certificate required") is lost. tls.Conn keeps the
// alert as its read error. The socket is closed first, so the read cannot
// wait.
func (at *attempt) peerAlert(err error) error {
	p := at.conn.Load()
	if p == nil || !errors.Is(err, net.ErrClosed) {
		return nil
	}
	tc, ok := (*p).(*tls.Conn)
	if !ok {
		return nil
	}
	_ = tc.NetConn().Close()
	var b [1]byte
	_, rerr := tc.Read(b[:])
	var op *net.OpError
	if errors.As(rerr, &op) && op.Op == "remote error" {
		return rerr
	}
	return nil
}

func (c *Client) send(ctx context.Context, action string, body []byte) (*rawResponse, error) {
	var at attempt
	trace := &httptrace.ClientTrace{
		GetConn: func(string) {
			at.traced.Store(true)
			at.connected.Store(false)
			at.wrote.Store(false)
		},
		GotConn: func(i httptrace.GotConnInfo) {
			at.connected.Store(true)
			at.reused.Store(i.Reused)
			at.gotConn(i.Conn)
		},
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				at.wrote.Store(true)
			}
		},
	}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("wsman: building HTTP request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	hreq.Header.Set("User-Agent", "amtkit-wsman")
	hresp, err := c.auth.RoundTrip(hreq)
	if err != nil {
		var ce *challengeError
		if errors.As(err, &ce) {
			return nil, &HTTPError{StatusCode: http.StatusUnauthorized, Status: "401 Unauthorized", Err: fmt.Errorf("%w: %w", ErrBadChallenge, ce.err)}
		}
		return nil, c.transportError(action, &at, err)
	}
	defer hresp.Body.Close()
	raw, err := readBody(hresp, c.maxBytes)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		at.traced.Store(true)
		at.connected.Store(true)
		at.wrote.Store(true)
		return nil, c.transportError(action, &at, err)
	}
	return &rawResponse{status: hresp.StatusCode, header: hresp.Header, tls: hresp.TLS, raw: raw}, nil
}

// repeatable reports whether a failed exchange may be sent once more: a
// kept-alive connection broke under it, and the action changes nothing on
// the server (Get, Enumerate, Identify). MeshCentral re-issues a request
// whose socket closed (amt-wsman-comm.js, up to five times) and RPS retries
// on a connection reset; go-wsman-messages never reuses a connection. Pull
// is not repeated: a Pull the server answered has advanced its enumeration
// context. Neither is a Put, a Create, a Delete or a method.
func repeatable(action string, err error) bool {
	switch action {
	case ActionGet, ActionEnumerate, "Identify":
	default:
		return false
	}
	var te *TransportError
	return errors.As(err, &te) && te.Reused && te.Phase != PhaseConnect
}

func (c *Client) transportError(action string, at *attempt, err error) error {
	if alert := at.peerAlert(err); alert != nil {
		err = fmt.Errorf("%w: %w", alert, err)
	}
	te := &TransportError{Action: action, Endpoint: c.endpoint, Reused: at.reused.Load(), Err: err}
	switch {
	case !at.traced.Load():
		// A transport that reports no httptrace events: we cannot tell, so
		// assume the worst (the request may have been acted on).
		te.Phase = PhaseReceive
	case !at.connected.Load():
		te.Phase = PhaseConnect
	case !at.wrote.Load():
		te.Phase = PhaseSend
	default:
		te.Phase = PhaseReceive
	}
	return te
}

// envelopes are the buffers requests are written into and chunked responses
// read into, shared by every client of the process; an exchange keeps exact
// copies (see takeEnvelope and readBody).
var envelopes = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serialize writes doc into a pooled buffer and returns takeEnvelope's copy.
func serialize(doc *etree.Document) []byte {
	buf := envelopes.Get().(*bytes.Buffer)
	// Each token writes straight into buf: Document.WriteTo would add a 4 KB
	// bufio.Writer per call in front of a writer that is already a buffer.
	for _, t := range doc.Child {
		t.WriteTo(buf, &doc.WriteSettings)
	}
	return takeEnvelope(buf)
}

// takeEnvelope returns a copy of exactly the size of the envelope written into
// buf, a buffer of the envelopes pool, and puts buf back: the request holds
// the copy for the whole exchange (a digest challenge sends it again), and a
// waiting session should not hold a buffer grown by doubling. The pooled
// buffer is wiped before reuse, since requests carry secrets.
func takeEnvelope(buf *bytes.Buffer) []byte {
	body := bytes.Clone(buf.Bytes())
	release(buf)
	return body
}

// release wipes buf, a buffer of the envelopes pool, and puts it back unless
// it grew past 64 KB.
func release(buf *bytes.Buffer) {
	clear(buf.Bytes())
	buf.Reset()
	if buf.Cap() <= 64<<10 {
		envelopes.Put(buf)
	}
}

func readBody(resp *http.Response, max int64) ([]byte, error) {
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d", ErrTooLarge, resp.ContentLength, max)
	}
	if resp.ContentLength >= 0 {
		// The length is known: read exactly that (bytes.Buffer.ReadFrom
		// would double its buffer before it saw the end). net/http's body
		// reports a short body as io.ErrUnexpectedEOF and stops at the
		// length; the empty read after it sees its end, so a serial
		// connection is kept.
		raw := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, raw); err != nil {
			return nil, err
		}
		if _, err := resp.Body.Read(nil); err != nil && err != io.EOF {
			return nil, err
		}
		return raw, nil
	}
	// Chunked, as AMT answers: read into a pooled buffer and keep a copy of
	// exactly the body's size (a buffer grown by doubling would be up to
	// twice that, and allocated anew for every response). The buffer is wiped
	// before reuse, since responses carry secrets too.
	buf := envelopes.Get().(*bytes.Buffer)
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, max+1))
	if err == nil && n > max {
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	var raw []byte
	if err == nil {
		raw = bytes.Clone(buf.Bytes())
	}
	release(buf)
	return raw, err
}

func (c *Client) interpret(r *rawResponse, msgID, expect string) (*Response, error) {
	ok2xx := r.status >= 200 && r.status < 300
	if r.status == http.StatusUnauthorized {
		return nil, httpError(r)
	}
	env, perr := ParseEnvelope(r.raw, c.maxDepth)
	if perr != nil {
		if !ok2xx {
			return nil, httpError(r)
		}
		return nil, perr
	}
	resp := &Response{Envelope: env, HTTPStatus: r.status, HTTPHeader: r.header, TLS: r.tls, Raw: r.raw}
	fault, ferr := env.Fault()
	if ferr != nil {
		return nil, ferr
	}
	if fault != nil {
		fault.HTTPStatus = r.status
		if rel := env.RelatesTo(); msgID != "" && rel != "" && rel != msgID {
			return nil, fmt.Errorf("%w: fault relates to %q, expected %q", ErrRelatesTo, rel, msgID)
		}
		return nil, fault
	}
	if !ok2xx {
		return nil, httpError(r)
	}
	if msgID != "" {
		if rel := env.RelatesTo(); rel != msgID {
			return nil, fmt.Errorf("%w: expected RelatesTo %q, got %q", ErrRelatesTo, msgID, rel)
		}
	}
	if expect != "" {
		if a := env.Action(); a != expect {
			return nil, fmt.Errorf("%w: expected %q, got %q", ErrUnexpectedAction, expect, a)
		}
	}
	return resp, nil
}

func httpError(r *rawResponse) *HTTPError {
	e := &HTTPError{StatusCode: r.status, Status: strconv.Itoa(r.status) + " " + http.StatusText(r.status),
		ContentType: r.header.Get("Content-Type"), Header: r.header}
	if r.status == http.StatusUnauthorized {
		e.Challenges = r.header.Values("WWW-Authenticate")
	}
	b := r.raw
	if len(b) > 512 {
		b = b[:512]
	}
	e.Body = strings.ToValidUTF8(string(b), "\uFFFD")
	return e
}
