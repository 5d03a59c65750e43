package wsmantest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DigestAuth is HTTP Digest middleware shaped like AMT's: realm "Digest:" + 32
// hex digits, a 24-character base64 nonce, stale="false"/"true", qop "auth" or
// AMT 16's "auth-int, auth", a text/html 401 page with Connection: close. It
// verifies responses with its own hashing (MD5, SHA-256, SHA-512-256; qop auth,
// auth-int or none), checks realm, uri, algorithm, qop and that nc increases per
// nonce, and answers a correct response on an expired or unknown nonce with
// stale="true". It counts exchanges, challenges, successes, rejections and stale
// answers so tests can assert, e.g., one HTTP exchange per call.
//
// Set the fields before serving; the methods are safe for concurrent use.
type DigestAuth struct {
	// Realm; "" picks "Digest:" + 32 upper-case hex digits from Rand.
	Realm string
	// Password returns the password of user, false for an unknown user.
	Password func(user string) (string, bool)
	// QOP is the qop value offered, verbatim ("" = "auth"; "none" offers no
	// qop, RFC 2069 style; AMT 16.1 sends "auth-int, auth").
	QOP string
	// Algorithm is sent when non-empty ("MD5", "SHA-256", "SHA-512-256");
	// empty means MD5 without an algorithm parameter, as AMT does.
	Algorithm string
	// NonceUses makes a nonce stale after that many successful uses (0 = no
	// limit); NonceTTL after that long (0 = no limit).
	NonceUses int
	NonceTTL  time.Duration
	// LockoutAfter locks every account for LockoutFor after that many
	// consecutive rejected attempts (0 = never), like AMT's anti-hammering.
	LockoutAfter int
	LockoutFor   time.Duration
	// Now and Rand default to time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader

	once   sync.Once
	realm  string
	mu     sync.Mutex
	nonces map[string]*nonceState
	fails  int
	locked time.Time

	exchanges, challenges, authorized, rejected, stale, locks atomic.Int64
}

type nonceState struct {
	issued time.Time
	uses   int
	lastNC uint64
	dead   bool
}

// DigestStats counts what the middleware saw.
type DigestStats struct {
	Exchanges  int64 // HTTP requests received
	Challenges int64 // 401s to requests without (usable) credentials
	Authorized int64 // requests passed to the wrapped handler
	Rejected   int64 // 401s to wrong credentials
	Stale      int64 // 401s with stale="true"
	Locked     int64 // 401s because of lockout
}

// Stats returns the counters.
func (d *DigestAuth) Stats() DigestStats {
	return DigestStats{
		Exchanges: d.exchanges.Load(), Challenges: d.challenges.Load(), Authorized: d.authorized.Load(),
		Rejected: d.rejected.Load(), Stale: d.stale.Load(), Locked: d.locks.Load(),
	}
}

// RealmName returns the realm in use.
func (d *DigestAuth) RealmName() string {
	d.init()
	return d.realm
}

// ExpireNonces makes every nonce issued so far stale.
func (d *DigestAuth) ExpireNonces() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.nonces {
		n.dead = true
	}
}

// ForgetNonces drops every nonce issued so far, as a device does when it
// restarts: a later use is answered as unknown (stale if the hash is right).
func (d *DigestAuth) ForgetNonces() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.nonces)
}

func (d *DigestAuth) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *DigestAuth) rnd() io.Reader {
	if d.Rand != nil {
		return d.Rand
	}
	return rand.Reader
}

func (d *DigestAuth) init() {
	d.once.Do(func() {
		d.realm = d.Realm
		if d.realm == "" {
			var b [16]byte
			_, _ = io.ReadFull(d.rnd(), b[:])
			d.realm = "Digest:" + strings.ToUpper(hex.EncodeToString(b[:]))
		}
		d.nonces = map[string]*nonceState{}
	})
}

// Wrap returns next behind digest authentication.
func (d *DigestAuth) Wrap(next http.Handler) http.Handler {
	d.init()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.exchanges.Add(1)
		ok, stale := d.check(r)
		if ok {
			d.authorized.Add(1)
			next.ServeHTTP(w, r)
			return
		}
		d.challenge(w, stale)
	})
}

const logonFailed = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head><title>Intel&reg; Active Management Technology</title></head>
<body>Log on failed. Incorrect user name or password, or user account temporarily locked.</body></html>
`

func (d *DigestAuth) challenge(w http.ResponseWriter, stale bool) {
	nonce := d.newNonce()
	qop := d.QOP
	if qop == "" {
		qop = "auth"
	}
	h := fmt.Sprintf(`Digest realm="%s", nonce="%s",stale="%t"`, d.realm, nonce, stale)
	if d.Algorithm != "" {
		h += ",algorithm=" + d.Algorithm
	}
	if qop != "none" {
		h += `,qop="` + qop + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, logonFailed)
}

func (d *DigestAuth) newNonce() string {
	var b [18]byte
	_, _ = io.ReadFull(d.rnd(), b[:])
	n := base64.StdEncoding.EncodeToString(b[:])
	d.mu.Lock()
	d.nonces[n] = &nonceState{issued: d.now()}
	d.mu.Unlock()
	return n
}

// check verifies the Authorization header. stale reports a correct response on
// a nonce that is no longer (or never was) valid.
func (d *DigestAuth) check(r *http.Request) (ok, stale bool) {
	auth := r.Header.Get("Authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "Digest ") {
		d.challenges.Add(1)
		return false, false
	}
	d.mu.Lock()
	if d.LockoutAfter > 0 && d.now().Before(d.locked) {
		d.mu.Unlock()
		d.locks.Add(1)
		return false, false
	}
	d.mu.Unlock()
	p, err := ParseAuthParams(auth[7:])
	if err != nil {
		d.reject()
		return false, false
	}
	user, realm, nonce, uri, resp := p["username"], p["realm"], p["nonce"], p["uri"], p["response"]
	qop, nc, cnonce, alg := p["qop"], p["nc"], p["cnonce"], p["algorithm"]
	if d.Password == nil {
		d.reject()
		return false, false
	}
	pass, known := d.Password(user)
	if !known || realm != d.realm || uri != r.URL.RequestURI() || !strings.EqualFold(alg, d.Algorithm) && !(alg == "" && strings.EqualFold(d.Algorithm, "MD5")) {
		d.reject()
		return false, false
	}
	offered := d.QOP
	if offered == "" {
		offered = "auth"
	}
	var body []byte
	switch qop {
	case "":
		if offered != "none" {
			d.reject()
			return false, false
		}
	case "auth", "auth-int":
		if !offers(offered, qop) || cnonce == "" || nc == "" {
			d.reject()
			return false, false
		}
		if qop == "auth-int" {
			body, err = io.ReadAll(io.LimitReader(r.Body, DefaultMaxRequestBytes))
			if err != nil {
				d.reject()
				return false, false
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
	default:
		d.reject()
		return false, false
	}
	want, ok := digestResponse(d.Algorithm, user, d.realm, pass, r.Method, uri, nonce, nc, cnonce, qop, body)
	if !ok || subtle.ConstantTimeCompare([]byte(strings.ToLower(resp)), []byte(want)) != 1 {
		d.reject()
		return false, false
	}
	// The password is right; now the nonce.
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fails = 0
	st, ok := d.nonces[nonce]
	if !ok || st.dead || (d.NonceTTL > 0 && d.now().Sub(st.issued) > d.NonceTTL) || (d.NonceUses > 0 && st.uses >= d.NonceUses) {
		if ok {
			st.dead = true
		}
		d.stale.Add(1)
		return false, true
	}
	if qop != "" {
		n, err := strconv.ParseUint(nc, 16, 64)
		if err != nil || n <= st.lastNC {
			d.rejected.Add(1)
			return false, false
		}
		st.lastNC = n
	}
	st.uses++
	return true, false
}

func (d *DigestAuth) reject() {
	d.rejected.Add(1)
	if d.LockoutAfter <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fails++
	if d.fails >= d.LockoutAfter {
		d.locked = d.now().Add(d.LockoutFor)
		d.fails = 0
	}
}

// digestResponse computes the expected "response" parameter (RFC 7616 §3.4.1;
// RFC 2069 form when qop is empty). ok is false for an unknown algorithm.
func digestResponse(alg, user, realm, pass, method, uri, nonce, nc, cnonce, qop string, body []byte) (string, bool) {
	newHash := hashFor(alg)
	if newHash == nil {
		return "", false
	}
	h := func(parts ...string) string {
		x := newHash()
		x.Write([]byte(strings.Join(parts, ":")))
		return hex.EncodeToString(x.Sum(nil))
	}
	ha1 := h(user, realm, pass)
	ha2 := h(method, uri)
	if qop == "auth-int" {
		hb := newHash()
		hb.Write(body)
		ha2 = h(method, uri, hex.EncodeToString(hb.Sum(nil)))
	}
	if qop == "" {
		return h(ha1, nonce, ha2), true
	}
	return h(ha1, nonce, nc, cnonce, qop, ha2), true
}

func offers(list, qop string) bool {
	for _, q := range strings.Split(list, ",") {
		if strings.TrimSpace(q) == qop {
			return true
		}
	}
	return false
}

func hashFor(alg string) func() hash.Hash {
	switch strings.ToUpper(alg) {
	case "", "MD5":
		return md5.New
	case "SHA-256":
		return sha256.New
	case "SHA-512-256":
		return sha512.New512_256
	}
	return nil
}

// ParseAuthParams parses the comma-separated auth-params of an Authorization or
// WWW-Authenticate value (after the scheme): token=token or token="quoted
// string", names case-insensitive (returned lower-case), optional white space.
// It is written independently of the client's digest library so that the fake
// server checks it rather than mirrors it.
func ParseAuthParams(s string) (map[string]string, error) {
	out := map[string]string{}
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skip()
		for i < len(s) && s[i] == ',' {
			i++
			skip()
		}
		if i >= len(s) {
			return out, nil
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("wsmantest: auth-param name expected at %d", start)
		}
		name := strings.ToLower(s[start:i])
		skip()
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("wsmantest: '=' expected after %q", name)
		}
		i++
		skip()
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					b.WriteByte(s[i])
					i++
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("wsmantest: unterminated quoted value for %q", name)
			}
			val = b.String()
		} else {
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			if i == start {
				return nil, fmt.Errorf("wsmantest: value expected for %q", name)
			}
			val = s[start:i]
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("wsmantest: duplicate auth-param %q", name)
		}
		out[name] = val
		skip()
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("wsmantest: ',' expected after %q", name)
		}
	}
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/:", c) >= 0
}

// ConnCounter counts connections opened to a server; install its ConnState as
// http.Server.ConnState (httptest.Server.Config.ConnState) to check that
// clients reuse connections.
type ConnCounter struct{ opened atomic.Int64 }

// ConnState is an http.Server.ConnState hook.
func (c *ConnCounter) ConnState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.opened.Add(1)
	}
}

// Opened returns the number of connections accepted so far.
func (c *ConnCounter) Opened() int64 { return c.opened.Load() }
