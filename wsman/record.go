package wsman

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Exchange is one HTTP exchange of a recording client ([Client.WithRecorder]):
// every attempt the client makes, digest challenges (401) and retries included,
// as it left the client and as the server answered, after TLS.
//
// The bodies are as sent and received: a request body can hold passwords,
// digest hashes, OTPs or private keys. Only the headers are reduced before a
// [Recorder] sees them: cookies are masked, and the authentication headers
// reduced ([ReduceAuthHeader]): Authorization
// keeps its scheme, username, realm, uri, qop, algorithm, charset and
// userhash; WWW-Authenticate its scheme, realm, domain, qop, algorithm, stale,
// charset and userhash; nonces, client nonces, nonce counts, responses,
// opaque values and Basic credentials never leave the client. A Recorder must
// remove the secrets of the bodies before it keeps anything (package
// wsman/transcript does).
type Exchange struct {
	// Start is when the attempt began; Duration runs until the response body
	// was read (or the attempt failed).
	Start    time.Time
	Duration time.Duration

	// Method and Path are the HTTP method and URL path (never the host: the
	// endpoint is the caller's to describe).
	Method, Path  string
	RequestHeader http.Header
	RequestBody   []byte

	// StatusCode is the HTTP status, 0 when the attempt failed (Err).
	StatusCode     int
	ResponseHeader http.Header
	// ResponseBody holds at most the client's response cap
	// ([WithMaxResponseBytes]); Truncated reports that more followed.
	ResponseBody []byte
	Truncated    bool

	// TLSVersion and TLSCipherSuite describe the connection (zero without
	// TLS, or when the connection came from [WithSecureDialer] or the
	// caller's transport without a tls.ConnectionState).
	TLSVersion, TLSCipherSuite uint16

	// Err is the transport error of a failed attempt (the connection could
	// not be made, or broke before or while the response was read).
	Err error
}

// Recorder receives the exchanges of a recording client. Record is called
// once per HTTP attempt, after the response body was read, from the goroutine
// of the call (concurrently when the client allows concurrent calls), and
// must not block for long: the call waits for it. The Exchange and its slices
// belong to the Recorder.
type Recorder interface {
	Record(x *Exchange)
}

// RecorderFunc adapts a function to [Recorder].
type RecorderFunc func(x *Exchange)

// Record calls f(x).
func (f RecorderFunc) Record(x *Exchange) { f(x) }

// WithRecorder returns a client that hands every HTTP exchange to r. It shares
// c's endpoint, transport — hence its TLS policy, dialer, connections and
// client certificate — options, redaction, call bounds and in-flight slots
// ([WithMaxInFlight] counts the calls of both); it has its own digest
// challenge cache and its own copy of the credentials (a later
// [Client.SetCredentials] on either does not reach the other).
//
// The exchanges are taken between the authentication layer and the
// transport, so they include the digest challenges and the retries an
// authenticated call needs, and they are taken after TLS: a recording client
// verifies the server exactly as c does. r sees request bodies in clear
// (see [Exchange]).
func (c *Client) WithRecorder(r Recorder) *Client {
	if r == nil {
		return c
	}
	cp := *c
	cp.auth = recordingAuth(c.auth, r, c.maxBytes)
	return &cp
}

// recordingAuth rebuilds the authentication layer a over a recording tap of
// its base transport.
func recordingAuth(a authLayer, r Recorder, maxBytes int64) authLayer {
	switch a := a.(type) {
	case *digestAuth:
		cr := a.creds.Load()
		return newDigestAuth(&recordTap{base: a.base, rec: r, maxBytes: maxBytes}, a.rand, a.uri, cr.user, cr.pass, a.policy)
	case *basicAuth:
		b := &basicAuth{base: &recordTap{base: a.base, rec: r, maxBytes: maxBytes}}
		b.creds.Store(a.creds.Load())
		return b
	case noAuth:
		return noAuth{&recordTap{base: a.base, rec: r, maxBytes: maxBytes}}
	}
	// The three layers above are every authLayer New builds.
	panic(fmt.Sprintf("wsman: recording over an unknown authentication layer %T", a))
}

// recordTap is the RoundTripper that records.
type recordTap struct {
	base     http.RoundTripper
	rec      Recorder
	maxBytes int64
}

func (t *recordTap) RoundTrip(r *http.Request) (*http.Response, error) {
	x := &Exchange{Start: time.Now(), Method: r.Method, Path: r.URL.Path, RequestHeader: reduceHeaders(r.Header)}
	switch {
	case r.GetBody != nil:
		if b, err := r.GetBody(); err == nil {
			x.RequestBody, _ = io.ReadAll(io.LimitReader(b, t.limit()))
			b.Close()
		}
	case r.Body != nil && r.Body != http.NoBody:
		body, err := io.ReadAll(io.LimitReader(r.Body, t.limit()))
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		x.RequestBody = bytes.Clone(body) // the recorder owns its copy; retries send body
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		x.Duration, x.Err = time.Since(x.Start), err
		t.rec.Record(x)
		return nil, err
	}
	x.StatusCode = resp.StatusCode
	x.ResponseHeader = reduceHeaders(resp.Header)
	if resp.TLS != nil {
		x.TLSVersion, x.TLSCipherSuite = resp.TLS.Version, resp.TLS.CipherSuite
	}
	// Read what the client will read (its cap, and one byte to tell that
	// more followed), then hand the client the same bytes and the rest.
	var buf bytes.Buffer
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, t.limit()))
	body := buf.Bytes()
	switch {
	case rerr != nil:
		x.Err = rerr
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), errorReader{rerr}), resp.Body}
	case int64(len(body)) >= t.limit():
		x.Truncated = true
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		body = body[:t.limit()-1]
	default:
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	x.ResponseBody = bytes.Clone(body)
	x.Duration = time.Since(x.Start)
	t.rec.Record(x)
	return resp, nil
}

// limit is the response cap plus one byte (DefaultMaxResponseBytes when the
// client has none).
func (t *recordTap) limit() int64 {
	if t.maxBytes > 0 {
		return t.maxBytes + 1
	}
	return DefaultMaxResponseBytes + 1
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }

// reduceHeaders copies h with the authentication headers reduced
// ([ReduceAuthHeader]) and cookies masked.
func reduceHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		cp := make([]string, len(vs))
		for i, v := range vs {
			switch http.CanonicalHeaderKey(k) {
			case "Authorization", "Www-Authenticate", "Proxy-Authorization", "Proxy-Authenticate":
				v = ReduceAuthHeader(v)
			case "Cookie", "Set-Cookie":
				v = Redacted
			}
			cp[i] = v
		}
		out[k] = cp
	}
	return out
}

// Auth parameters kept by [ReduceAuthHeader], in both directions: none of them
// is derived from the password or chosen to make a response unguessable.
var keptAuthParams = map[string]bool{
	"username": true, "realm": true, "uri": true, "domain": true, "qop": true,
	"algorithm": true, "stale": true, "charset": true, "userhash": true,
}

// ReduceAuthHeader reduces one Authorization or WWW-Authenticate value to what
// can be shown and kept: the scheme and, for schemes with auth-params (Digest,
// Basic challenges), the parameters username, realm, uri, domain, qop,
// algorithm, stale, charset and userhash, in their order and quoting. Nonces,
// client nonces, nonce counts, responses and opaque values are dropped, and a
// credential that is not made of parameters (Basic's base64, a Negotiate
// token) becomes "[REDACTED]". A value that does not parse is reduced to its
// scheme and "[REDACTED]".
func ReduceAuthHeader(v string) string {
	v = strings.TrimSpace(v)
	scheme, rest, _ := strings.Cut(v, " ")
	scheme, rest = strings.TrimSpace(scheme), strings.TrimSpace(rest)
	if rest == "" {
		return scheme
	}
	params, err := splitAuthParams(rest)
	if err != nil {
		return scheme + " " + Redacted
	}
	var kept []string
	for _, p := range params {
		if keptAuthParams[strings.ToLower(p.name)] {
			kept = append(kept, p.raw)
		}
	}
	if len(kept) == 0 {
		return scheme
	}
	return scheme + " " + strings.Join(kept, ", ")
}

type authParam struct {
	name string
	raw  string // name=value as written (value quoted or not)
}

var errAuthParams = errors.New("not an auth-param list")

// splitAuthParams splits `a=b, c="d, e"` into its parameters (RFC 7235
// auth-param: token "=" ( token / quoted-string )).
func splitAuthParams(s string) ([]authParam, error) {
	var out []authParam
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenByte(s[i]) {
			i++
		}
		name := s[start:i]
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if name == "" || i == len(s) || s[i] != '=' {
			return nil, errAuthParams
		}
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					i += 2
					continue
				}
				if s[i] == '"' {
					i++
					closed = true
					break
				}
				i++
			}
			if !closed {
				return nil, errAuthParams
			}
		} else {
			vs := i
			for i < len(s) && isTokenByte(s[i]) {
				i++
			}
			if i == vs {
				return nil, errAuthParams
			}
		}
		out = append(out, authParam{name: name, raw: strings.TrimSpace(s[start:i])})
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return nil, errAuthParams
		}
	}
	return out, nil
}

// isTokenByte reports whether c is an RFC 7230 tchar (token68's "/" and "="
// excluded: a token68 credential is not a parameter list).
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
