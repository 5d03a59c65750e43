package wsman

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/icholy/digest"
)

// credentials are held only here; nothing formats them.
type credentials struct {
	user, pass string
}

// String never reveals the password.
func (c *credentials) String() string { return "credentials{user=" + c.user + ", password=[REDACTED]}" }

// authLayer is the RoundTripper stack between the client and the base transport.
type authLayer interface {
	http.RoundTripper
	setCredentials(user, pass string)
	reset()
}

// noAuth passes requests through.
type noAuth struct{ base http.RoundTripper }

func (n noAuth) RoundTrip(r *http.Request) (*http.Response, error) { return n.base.RoundTrip(r) }
func (noAuth) setCredentials(string, string)                       {}
func (noAuth) reset()                                              {}

// basicAuth adds an Authorization: Basic header to every request.
type basicAuth struct {
	base  http.RoundTripper
	creds atomic.Pointer[credentials]
}

func (b *basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	c := b.creds.Load()
	r = r.Clone(r.Context())
	r.SetBasicAuth(c.user, c.pass)
	return b.base.RoundTrip(r)
}
func (b *basicAuth) setCredentials(u, p string) { b.creds.Store(&credentials{u, p}) }
func (b *basicAuth) reset()                     {}

// digestAuth wraps github.com/icholy/digest's Transport for AMT:
//
//   - One digest.Transport (hence one challenge cache) per Client, i.e. per
//     endpoint: the library keys its cache by host name only, and a fleet behind
//     a relay or many simulators on 127.0.0.1 must not share nonces.
//   - The library retries any 401 once. A gate below it turns a 401 to a request
//     that already carried credentials into a final answer unless the challenge
//     says stale=true, or the request carried the cached nonce of earlier
//     calls and the server's challenge names another nonce. So a stale nonce
//     is retried exactly once, a wrong password after a fresh challenge costs
//     exactly one failed attempt per call, and at most one retry ever follows
//     a 401. go-wsman-messages (pkg/wsman/client/wsman.go, Target.Post) and
//     MeshCentral re-challenge on any 401 whatever its stale flag; AMT's own
//     challenges always carry stale="false" (schnoddelbotz/amtc issue 2, RPS issue 779), and
//     whether AMT sets stale="true" when a nonce it issued expires is not
//     documented. A cached nonce rejected with a new challenge is therefore
//     retried once as those clients do, and a 401 after a fresh challenge is
//     final (AMT locks accounts out after repeated failures).
//   - A [DigestPolicy] decides which challenges are answered at all: by
//     default qop is required (RFC 2069 challenges without it are refused);
//     the weakest algorithm answered is MD5 unless raised. A refused challenge
//     is never answered, so no credentials derived from it are sent.
//   - After a final 401 or a transport failure the cache is dropped (the device
//     may have restarted and forgotten its nonces); the next call starts with a
//     fresh challenge.
//   - FindChallenge trims the qop list: the library splits qop="auth-int, auth"
//     on "," without trimming, so " auth" never matched and auth-int was chosen.
//   - The cnonce (16 bytes) comes from the client's Rand; the digest uri can be
//     overridden (AMT wants the path, /wsman, also behind relays).
//   - 401 bodies are capped before the library drains them.
type digestAuth struct {
	base   http.RoundTripper
	rand   io.Reader
	uri    string
	policy DigestPolicy
	creds  atomic.Pointer[credentials]
	cur    atomic.Pointer[digestTransport]
}

// digestTransport is one challenge cache. primed is set once a call through it
// succeeded, i.e. once it holds a challenge the server accepted.
type digestTransport struct {
	*digest.Transport
	primed atomic.Bool
}

func newDigestAuth(base http.RoundTripper, rnd io.Reader, uri, user, pass string, policy DigestPolicy) *digestAuth {
	d := &digestAuth{base: base, rand: rnd, uri: uri, policy: policy}
	d.creds.Store(&credentials{user, pass})
	d.cur.Store(d.fresh())
	return d
}

func (d *digestAuth) fresh() *digestTransport {
	c := d.creds.Load()
	return &digestTransport{Transport: &digest.Transport{
		Username:      c.user,
		Password:      c.pass,
		Transport:     gate{base: d.base},
		FindChallenge: d.policy.findChallenge,
		Digest:        d.compute,
	}}
}

func (d *digestAuth) setCredentials(u, p string) {
	d.creds.Store(&credentials{u, p})
	d.cur.Store(d.fresh())
}

func (d *digestAuth) reset() { d.cur.Store(d.fresh()) }

func (d *digestAuth) compute(_ *http.Request, chal *digest.Challenge, o digest.Options) (*digest.Credentials, error) {
	if d.uri != "" {
		o.URI = d.uri
	}
	var b [16]byte
	if _, err := io.ReadFull(d.rand, b[:]); err != nil {
		return nil, fmt.Errorf("wsman: reading random cnonce: %w", err)
	}
	o.Cnonce = hex.EncodeToString(b[:])
	return digest.Digest(chal, o)
}

func (d *digestAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	t := d.cur.Load()
	primed := t.primed.Load()
	r = r.WithContext(context.WithValue(r.Context(), attemptKey{}, &attemptState{primed: primed}))
	resp, err := t.RoundTrip(r)
	if err != nil {
		var rej *rejected
		if errors.As(err, &rej) {
			d.cur.CompareAndSwap(t, d.fresh())
			return rej.resp, nil
		}
		d.cur.CompareAndSwap(t, d.fresh())
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		var ce *challengeError
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.primed.Store(true)
		return resp, nil
	}
	d.cur.CompareAndSwap(t, d.fresh())
	// A stale nonce in the answer to a fresh challenge: the device forgot its
	// nonces between challenge and answer (AMT 19+ restarts its network stack
	// on CommitChanges). The library's one retry went to the challenge itself,
	// so this call starts over once from a new challenge. With a cached nonce
	// the library already retried after the first stale, and its answer is final.
	if !primed && r.GetBody != nil && r.Context().Value(staleRetryKey{}) == nil {
		if c, err := findChallenge(resp.Header); err == nil && c.Stale {
			if body, err := r.GetBody(); err == nil {
				resp.Body.Close()
				r2 := r.Clone(context.WithValue(r.Context(), staleRetryKey{}, true))
				r2.Body = body
				return d.RoundTrip(r2)
			}
		}
	}
	return resp, nil
}

// staleRetryKey marks a request already retried after a stale nonce.
type staleRetryKey struct{}

// attemptKey carries an *attemptState through digest.Transport (which clones
// requests with their context) to the gate.
type attemptKey struct{}

// attemptState is what the gate knows of one call: whether the challenge cache
// held a nonce a server had accepted, and how many credentialed attempts the
// gate saw.
type attemptState struct {
	primed       bool
	credentialed atomic.Int32
}

// rejected carries a final 401 through digest.Transport (which returns the
// response and the error of its inner transport as they are).
type rejected struct{ resp *http.Response }

func (*rejected) Error() string { return "wsman: credentials rejected" }

// challengeError is a challenge the library cannot answer.
type challengeError struct{ err error }

func (e *challengeError) Error() string { return "wsman: unusable digest challenge: " + e.err.Error() }
func (e *challengeError) Unwrap() error { return e.err }

// max401Body caps what is read (and drained) of a 401 body.
const max401Body = 16 << 10

// gate sits between digest.Transport and the base transport.
type gate struct{ base http.RoundTripper }

func (g gate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if resp.Request == nil {
		resp.Request = r // the library reads resp.Request.URL
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, max401Body))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return resp, nil // a challenge: let the library answer it
	}
	c, err := findChallenge(resp.Header)
	if err != nil {
		return resp, &rejected{resp: resp}
	}
	if c.Stale {
		return resp, nil // stale nonce: the library retries once with the new one
	}
	// The first attempt of a call carried the cached nonce and the server
	// names another one: the device may have forgotten ours without saying
	// stale (go-wsman-messages and MeshCentral re-challenge on any 401). The
	// library retries once with the new challenge; that answer is final.
	if st, ok := r.Context().Value(attemptKey{}).(*attemptState); ok && st.primed && st.credentialed.Add(1) == 1 {
		if sent, err := digest.ParseCredentials(strings.TrimSpace(auth)); err == nil && sent.Nonce != c.Nonce {
			return resp, nil
		}
	}
	return resp, &rejected{resp: resp}
}

// DigestChallenge is a parsed WWW-Authenticate Digest challenge.
type DigestChallenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string   // "" means MD5
	QOP       []string // offered qop values, trimmed
	Stale     bool
	Charset   string
}

// ParseDigestChallenge parses one WWW-Authenticate value of the Digest scheme
// (with github.com/icholy/digest's parser, its qop list trimmed). It can read
// the realm of an AMT device from a 401 before any credentials are sent.
func ParseDigestChallenge(value string) (DigestChallenge, error) {
	c, err := parseChallenge(value)
	if err != nil {
		return DigestChallenge{}, err
	}
	return DigestChallenge{Realm: c.Realm, Nonce: c.Nonce, Opaque: c.Opaque, Algorithm: c.Algorithm,
		QOP: c.QOP, Stale: c.Stale, Charset: c.Charset}, nil
}

// DigestRealm returns the realm of the first Digest challenge of a 401.
func (e *HTTPError) DigestRealm() (string, bool) {
	for _, v := range e.Challenges {
		if c, err := ParseDigestChallenge(v); err == nil {
			return c.Realm, true
		}
	}
	return "", false
}

func parseChallenge(v string) (*digest.Challenge, error) {
	v = strings.TrimLeft(v, " \t")
	if !digest.IsDigest(v) {
		return nil, fmt.Errorf("%w: not a Digest challenge", ErrBadChallenge)
	}
	c, err := digest.ParseChallenge(lowerParamNames(v))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadChallenge, err)
	}
	qop := make([]string, 0, len(c.QOP))
	for _, q := range c.QOP {
		if q = strings.TrimSpace(q); q != "" {
			qop = append(qop, q)
		}
	}
	c.QOP = qop
	return c, nil
}

// lowerParamNames lower-cases the auth-param names of a challenge (outside
// quoted strings): RFC 7235 makes them case-insensitive, but the library
// matches "realm", "nonce" … exactly and would ignore "Realm".
func lowerParamNames(v string) string {
	b := []byte(v)
	inQuote, escaped, inName := false, false, false
	for i := len(digest.Prefix); i < len(b); i++ {
		c := b[i]
		switch {
		case inQuote:
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == ',':
			inName = false
		case c == '=':
			inName = false
		case c != ' ' && c != '\t' && !inName && (i == len(digest.Prefix) || isParamStart(b, i)):
			inName = true
			fallthrough
		default:
			if inName && c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
	}
	return string(b)
}

// isParamStart reports whether b[i] begins a parameter name: only white space
// since the previous comma (or the scheme).
func isParamStart(b []byte, i int) bool {
	for j := i - 1; j >= len(digest.Prefix); j-- {
		switch b[j] {
		case ' ', '\t':
			continue
		case ',':
			return true
		default:
			return false
		}
	}
	return true
}

// findChallenge is digest.FindChallenge with the qop list trimmed, so that
// AMT's qop="auth-int, auth" selects auth. It applies no policy (the gate
// reads stale and the nonce with it).
func findChallenge(h http.Header) (*digest.Challenge, error) {
	return DigestPolicy{AllowNoQOP: true}.findChallenge(h)
}

// findChallenge returns the first challenge of h that the library can answer
// and the policy allows.
func (p DigestPolicy) findChallenge(h http.Header) (*digest.Challenge, error) {
	var last error
	for _, v := range h.Values("WWW-Authenticate") {
		if !digest.IsDigest(strings.TrimLeft(v, " \t")) {
			continue
		}
		c, err := parseChallenge(v)
		if err != nil {
			last = err
			continue
		}
		if !digest.CanDigest(c) {
			last = fmt.Errorf("algorithm %q with qop %q is not supported", c.Algorithm, strings.Join(c.QOP, ","))
			continue
		}
		if err := p.allows(c); err != nil {
			last = err
			continue
		}
		return c, nil
	}
	if last != nil {
		return nil, &challengeError{last}
	}
	return nil, digest.ErrNoChallenge
}

// DigestPolicy bounds the digest challenges a client answers ([WithDigestPolicy]).
// A challenge outside it is never answered: the call fails with an
// [*HTTPError] 401 matching [ErrBadChallenge] and [ErrWeakChallenge], and no
// credentials are sent. The zero value is the default, compatible with AMT
// (which offers MD5 with qop="auth", or "auth-int, auth" on AMT 16.1).
type DigestPolicy struct {
	// AllowNoQOP answers RFC 2069 challenges that offer no qop. Without qop
	// the response carries no client nonce or nonce count, so a server (or
	// anyone who can alter its 401) chooses everything that is hashed with
	// the password, for replay or offline guessing. Off by default.
	AllowNoQOP bool
	// MinAlgorithm is the weakest algorithm answered, from weakest to
	// strongest: "MD5" (the default; "" means MD5), "SHA-256", "SHA-512-256"
	// (which [WithDigestPolicy] treats as SHA-256's equal) and "SHA-512".
	// AMT offers only MD5.
	MinAlgorithm string
}

// digestStrength orders the algorithms the library implements; 0 is unknown.
func digestStrength(alg string) int {
	switch strings.ToUpper(alg) {
	case "", "MD5":
		return 1
	case "SHA-256", "SHA-512-256":
		return 2
	case "SHA-512":
		return 3
	}
	return 0
}

func (p DigestPolicy) allows(c *digest.Challenge) error {
	if len(c.QOP) == 0 && !p.AllowNoQOP {
		return fmt.Errorf("%w: the challenge offers no qop (RFC 2069)", ErrWeakChallenge)
	}
	if digestStrength(c.Algorithm) < digestStrength(p.MinAlgorithm) {
		alg := c.Algorithm
		if alg == "" {
			alg = "MD5"
		}
		return fmt.Errorf("%w: algorithm %s is weaker than the %s required", ErrWeakChallenge, alg, p.MinAlgorithm)
	}
	return nil
}
