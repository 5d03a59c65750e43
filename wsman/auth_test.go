package wsman_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gsAnswer(r *wsmantest.Request) wsmantest.Reply {
	return wsmantest.GetResponse(r, gsInstance("h"))
}

// authLog records the Authorization header of each request before the digest
// middleware sees it.
type authLog struct {
	mu  sync.Mutex
	hdr []string
}

func (l *authLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.hdr = append(l.hdr, r.Header.Get("Authorization"))
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *authLog) params(t *testing.T, i int) map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	require.Less(t, i, len(l.hdr))
	h := l.hdr[i]
	require.True(t, strings.HasPrefix(h, "Digest "), h)
	p, err := wsmantest.ParseAuthParams(h[7:])
	require.NoError(t, err)
	return p
}

func digestServer(t *testing.T, auth *wsmantest.DigestAuth, log *authLog) (*httptest.Server, *wsmantest.ConnCounter) {
	if auth.Password == nil {
		auth.Password = func(u string) (string, bool) { return testPass, u == testUser }
	}
	var h http.Handler = auth.Wrap(wsmantest.Handler(gsAnswer))
	if log != nil {
		h = log.wrap(h)
	}
	var conns wsmantest.ConnCounter
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = conns.ConnState
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestDigestSteadyStateOneExchange(t *testing.T) {
	for _, qop := range []string{"auth", "auth-int, auth", "auth-int", "none"} {
		for _, alg := range []string{"", "MD5", "SHA-256", "SHA-512-256"} {
			t.Run(qop+"/"+alg, func(t *testing.T) {
				auth := &wsmantest.DigestAuth{QOP: qop, Algorithm: alg}
				srv, conns := digestServer(t, auth, nil)
				opts := []wsman.Option{wsman.WithDigestAuth(testUser, testPass)}
				if qop == "none" {
					opts = append(opts, wsman.WithDigestPolicy(wsman.DigestPolicy{AllowNoQOP: true}))
				}
				c, err := wsman.New(srv.URL+"/wsman", opts...)
				require.NoError(t, err)
				const calls = 10
				for i := 0; i < calls; i++ {
					_, err := c.Get(bg, gsURI, nil)
					require.NoError(t, err)
				}
				st := auth.Stats()
				assert.Equal(t, int64(calls+1), st.Exchanges, "one challenge, then one exchange per call")
				assert.Equal(t, int64(1), st.Challenges)
				assert.Equal(t, int64(calls), st.Authorized)
				assert.Zero(t, st.Rejected)
				assert.LessOrEqual(t, conns.Opened(), int64(2), "the 401 closes its connection; then one is kept alive")
			})
		}
	}
}

func TestDigestAMTChallengeChoosesAuth(t *testing.T) {
	var log authLog
	auth := &wsmantest.DigestAuth{QOP: "auth-int, auth"}
	srv, _ := digestServer(t, auth, &log)
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithDigestAuth(testUser, testPass), wsman.WithRand(zeroReader{}))
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err = c.Get(bg, gsURI, nil)
		require.NoError(t, err)
	}
	for i, nc := range []string{"00000001", "00000002", "00000003"} {
		p := log.params(t, i+1)
		assert.Equal(t, "auth", p["qop"], "auth preferred over auth-int")
		assert.Equal(t, nc, p["nc"])
		assert.Equal(t, strings.Repeat("0", 32), p["cnonce"], "16-byte cnonce from the client's Rand")
		assert.Equal(t, "/wsman", p["uri"])
		assert.Equal(t, auth.RealmName(), p["realm"])
		assert.Equal(t, testUser, p["username"])
	}
	assert.True(t, strings.HasPrefix(auth.RealmName(), "Digest:"))
	assert.Len(t, auth.RealmName(), len("Digest:")+32)
	_, err = hex.DecodeString(strings.TrimPrefix(auth.RealmName(), "Digest:"))
	assert.NoError(t, err)
}

// The library caches challenges by host name only; two devices on 127.0.0.1 or
// behind one relay host must not share nonces.
func TestDigestPerEndpointCache(t *testing.T) {
	a1 := &wsmantest.DigestAuth{Realm: "Digest:11111111111111111111111111111111"}
	a2 := &wsmantest.DigestAuth{Realm: "Digest:22222222222222222222222222222222"}
	s1, _ := digestServer(t, a1, nil)
	s2, _ := digestServer(t, a2, nil)
	// a relay: two devices behind one host:port, told apart by path
	r1 := &wsmantest.DigestAuth{Realm: "Digest:33333333333333333333333333333333", Password: func(u string) (string, bool) { return testPass, true }}
	r2 := &wsmantest.DigestAuth{Realm: "Digest:44444444444444444444444444444444", Password: func(u string) (string, bool) { return testPass, true }}
	mux := http.NewServeMux()
	mux.Handle("/dev1/wsman", r1.Wrap(wsmantest.Handler(gsAnswer)))
	mux.Handle("/dev2/wsman", r2.Wrap(wsmantest.Handler(gsAnswer)))
	relay := httptest.NewServer(mux)
	defer relay.Close()

	urls := []string{s1.URL, s2.URL, relay.URL + "/dev1/wsman", relay.URL + "/dev2/wsman"}
	var clients []*wsman.Client
	for _, u := range urls {
		c, err := wsman.New(u, wsman.WithDigestAuth(testUser, testPass))
		require.NoError(t, err)
		clients = append(clients, c)
	}
	const rounds = 5
	for i := 0; i < rounds; i++ {
		for _, c := range clients {
			_, err := c.Get(bg, gsURI, nil)
			require.NoError(t, err)
		}
	}
	for i, a := range []*wsmantest.DigestAuth{a1, a2, r1, r2} {
		st := a.Stats()
		assert.Equal(t, int64(rounds+1), st.Exchanges, "endpoint %d", i)
		assert.Zero(t, st.Rejected)
		assert.Zero(t, st.Stale)
	}
}

// Pins the library quirk the per-client cache works around: one shared
// digest.Transport keyed by host sends one device's nonce to the other, so each
// call costs an extra exchange.
func TestLibraryQuirkHostKeyedCache(t *testing.T) {
	r1 := &wsmantest.DigestAuth{Password: func(string) (string, bool) { return testPass, true }}
	r2 := &wsmantest.DigestAuth{Password: func(string) (string, bool) { return testPass, true }}
	mux := http.NewServeMux()
	mux.Handle("/dev1/wsman", r1.Wrap(wsmantest.Handler(gsAnswer)))
	mux.Handle("/dev2/wsman", r2.Wrap(wsmantest.Handler(gsAnswer)))
	relay := httptest.NewServer(mux)
	defer relay.Close()
	shared := &digest.Transport{Username: testUser, Password: testPass}
	hc := &http.Client{Transport: shared}
	for i := 0; i < 5; i++ {
		for _, p := range []string{"/dev1/wsman", "/dev2/wsman"} {
			resp, err := hc.Post(relay.URL+p, "application/soap+xml", strings.NewReader("<x/>"))
			require.NoError(t, err)
			resp.Body.Close()
		}
	}
	assert.Greater(t, r1.Stats().Exchanges+r2.Stats().Exchanges, int64(10+2), "a shared host-keyed cache costs extra exchanges")
	assert.Positive(t, r1.Stats().Stale+r2.Stats().Stale+r1.Stats().Rejected+r2.Stats().Rejected)
}

func TestDigestWrongPasswordFailsAtOnce(t *testing.T) {
	auth := &wsmantest.DigestAuth{}
	srv, _ := digestServer(t, auth, nil)
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, "wrong-password-123"))
	require.NoError(t, err)
	const calls = 3
	for i := 0; i < calls; i++ {
		_, err := c.Get(bg, gsURI, nil)
		require.Error(t, err)
		assert.ErrorIs(t, err, wsman.ErrUnauthorized)
		var he *wsman.HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 401, he.StatusCode)
		require.NotEmpty(t, he.Challenges)
		assert.Contains(t, he.Challenges[0], auth.RealmName())
		assert.Equal(t, "text/html", he.Header.Get("Content-Type"))
		assert.NotContains(t, err.Error(), "wrong-password-123")
	}
	st := auth.Stats()
	assert.Equal(t, int64(calls), st.Rejected, "exactly one failed attempt per call")
	assert.Equal(t, int64(2*calls), st.Exchanges, "challenge + one attempt per call")
	assert.Zero(t, st.Authorized)
}

func TestDigestPasswordChangedUnderCachedNonce(t *testing.T) {
	var pw atomic.Value
	pw.Store(testPass)
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return pw.Load().(string), u == testUser }}
	srv, _ := digestServer(t, auth, nil)
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	before := auth.Stats()

	pw.Store("N3w-Passw0rd!")
	_, err = c.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	st := auth.Stats()
	assert.Equal(t, before.Exchanges+2, st.Exchanges, "the cached nonce's 401 names a new nonce: one retry with it, then final")
	assert.Equal(t, before.Rejected+2, st.Rejected)

	// The cache was dropped: the next call starts from a fresh challenge, and
	// its 401 is final at once.
	_, err = c.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	st2 := auth.Stats()
	assert.Equal(t, st.Exchanges+2, st2.Exchanges, "challenge + one attempt")
	assert.Equal(t, st.Rejected+1, st2.Rejected)

	c.SetCredentials(testUser, "N3w-Passw0rd!")
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, st2.Exchanges+3, auth.Stats().Exchanges, "fresh challenge, then steady state")
}

func TestDigestLockoutCostsOneAttemptPerCall(t *testing.T) {
	auth := &wsmantest.DigestAuth{LockoutAfter: 3, LockoutFor: time.Hour}
	srv, _ := digestServer(t, auth, nil)
	bad, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, "nope-nope-1"))
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		_, err := bad.Get(bg, gsURI, nil)
		require.ErrorIs(t, err, wsman.ErrUnauthorized)
	}
	good, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = good.Get(bg, gsURI, nil)
	require.NoError(t, err, "two failed calls stay under a lockout threshold of three")
	assert.Zero(t, auth.Stats().Locked)
}

func TestDigestStaleRetriedOnce(t *testing.T) {
	auth := &wsmantest.DigestAuth{}
	srv, _ := digestServer(t, auth, nil)
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	before := auth.Stats()

	auth.ExpireNonces()
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	st := auth.Stats()
	assert.Equal(t, before.Exchanges+2, st.Exchanges)
	assert.Equal(t, before.Stale+1, st.Stale)

	auth.ForgetNonces() // a device restart
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, st.Stale+1, auth.Stats().Stale)
	assert.Equal(t, st.Exchanges+2, auth.Stats().Exchanges)
}

func TestDigestNonceLimits(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	auth := &wsmantest.DigestAuth{NonceUses: 2, NonceTTL: time.Minute, Now: clock}
	srv, _ := digestServer(t, auth, nil)
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err := c.Get(bg, gsURI, nil)
		require.NoError(t, err)
	}
	// uses: 1st call challenge+ok (use 1), 2nd ok (use 2), 3rd stale+ok, 4th ok, 5th stale+ok
	assert.Equal(t, int64(2), auth.Stats().Stale)
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(3), auth.Stats().Stale)
}

// A server that starts answering stale=true every time: a call made with the
// cached nonce is retried once with the new nonce, and that answer is final.
// (A nonce that is stale the moment it is issued is not chased further.)
func TestDigestStaleTwiceIsFinal(t *testing.T) {
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return testPass, true }}
	inner := auth.Wrap(wsmantest.Handler(gsAnswer))
	var alwaysStale atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if alwaysStale.Load() {
			auth.ExpireNonces()
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	before := auth.Stats()
	alwaysStale.Store(true)
	_, err = c.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	st := auth.Stats()
	assert.Equal(t, before.Stale+2, st.Stale, "one retry on stale, no more")
	assert.Equal(t, before.Exchanges+2, st.Exchanges)
	assert.Equal(t, before.Rejected, st.Rejected)
}

func TestDigestCacheDroppedAfterTransportError(t *testing.T) {
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return testPass, true }}
	var drop atomic.Bool
	inner := auth.Wrap(wsmantest.Handler(gsAnswer))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if drop.Swap(false) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	// The kept-alive connection breaks under the Get, which is sent once
	// more on a new connection: with a fresh challenge, not the cached one.
	drop.Store(true)
	before := auth.Stats()
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	st := auth.Stats()
	assert.Equal(t, before.Exchanges+2, st.Exchanges, "a fresh challenge after a transport failure")
	assert.Equal(t, before.Challenges+1, st.Challenges)
}

func TestDigestUnsupportedChallenge(t *testing.T) {
	for _, chal := range []string{
		`Digest realm="r", nonce="n", algorithm=SHA-256-sess, qop="auth"`,
		`Digest realm="r", nonce="n", qop="auth-conf"`,
		`Digest realm="r" nonce="n"`, // missing comma
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", chal)
			w.WriteHeader(401)
		}))
		c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
		require.NoError(t, err)
		_, err = c.Get(bg, gsURI, nil)
		srv.Close()
		require.Error(t, err, chal)
		assert.ErrorIs(t, err, wsman.ErrUnauthorized, chal)
		var he *wsman.HTTPError
		require.ErrorAs(t, err, &he)
		if strings.Contains(chal, "sess") || strings.Contains(chal, "conf") {
			assert.ErrorIs(t, err, wsman.ErrBadChallenge, chal)
		}
	}
}

func TestDigestURIOverrideBehindRelay(t *testing.T) {
	var log authLog
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return testPass, true }}
	device := auth.Wrap(wsmantest.Handler(gsAnswer))
	// the relay forwards /relay/dev7/wsman to the device's /wsman
	srv := httptest.NewServer(log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/relay/dev7")
		r.RequestURI = r.URL.Path
		device.ServeHTTP(w, r)
	})))
	defer srv.Close()
	c, err := wsman.New(srv.URL+"/relay/dev7/wsman", wsman.WithDigestAuth(testUser, testPass), wsman.WithDigestURI("/wsman"))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, "/wsman", log.params(t, 1)["uri"])

	plain, err := wsman.New(srv.URL+"/relay/dev7/wsman", wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = plain.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized, "the device checks the uri it sees")
}

func TestBasicAuth(t *testing.T) {
	var seen atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		seen.Store(fmt.Sprint(u, ":", p, ":", ok))
		if p != testPass {
			w.WriteHeader(401)
			return
		}
		wsmantest.Handler(gsAnswer).ServeHTTP(w, r)
	}))
	defer srv.Close()
	_, err := wsman.New(srv.URL, wsman.WithBasicAuth(testUser, testPass))
	require.Error(t, err, "Basic over http needs AllowBasicOverHTTP")
	c, err := wsman.New(srv.URL, wsman.WithBasicAuth(testUser, testPass), wsman.AllowBasicOverHTTP())
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, testUser+":"+testPass+":true", seen.Load())
	c.SetCredentials(testUser, "bad")
	_, err = c.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	assert.NotContains(t, err.Error(), "bad")
}

func TestCredentialsNeverInErrors(t *testing.T) {
	const secret = "S3cr3t-Pa55word!"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Digest realm="Digest:AA", nonce="abc", qop="auth"`)
		w.WriteHeader(401)
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, secret))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.Error(t, err)
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), fmt.Sprint(c)} {
		assert.NotContains(t, s, secret)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = c.Get(ctx, gsURI, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.True(t, errors.Is(err, context.Canceled))
}

// A device that forgets its nonces between its challenge and our answer (AMT 19+
// restarting its network stack after CommitChanges): the first call of a fresh
// client starts over once from a new challenge instead of failing.
func TestDigestStaleOnFreshChallengeStartsOver(t *testing.T) {
	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return testPass, true }}
	inner := auth.Wrap(wsmantest.Handler(gsAnswer))
	var expireOnce atomic.Bool
	expireOnce.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" && expireOnce.CompareAndSwap(true, false) {
			auth.ExpireNonces()
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	st := auth.Stats()
	assert.Equal(t, int64(1), st.Stale)
	assert.Equal(t, int64(0), st.Rejected)
	// A server that never accepts: still bounded, never a loop.
	bad := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return testPass, true }}
	badInner := bad.Wrap(wsmantest.Handler(gsAnswer))
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			bad.ExpireNonces()
		}
		badInner.ServeHTTP(w, r)
	}))
	defer srv2.Close()
	c2, err := wsman.New(srv2.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c2.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	assert.Equal(t, int64(2), bad.Stats().Stale)
}

// staleFalse rewrites stale="true" to stale="false" in 401 challenges: a device
// that forgets a nonce and says nothing about it, which go-wsman-messages and
// MeshCentral cope with by re-challenging on any 401.
func staleFalse(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&staleFalseWriter{ResponseWriter: w}, r)
	})
}

type staleFalseWriter struct{ http.ResponseWriter }

func (w *staleFalseWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		vs := w.Header().Values("WWW-Authenticate")
		w.Header().Del("WWW-Authenticate")
		for _, v := range vs {
			w.Header().Add("WWW-Authenticate", strings.ReplaceAll(v, `stale="true"`, `stale="false"`))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Issue 16 item 4: a device that forgot the cached nonce (a restart) and
// answers 401 with a new nonce but without stale=true. The call is retried
// once with the new challenge, as go-wsman-messages does, and succeeds; a
// wrong password is still tried at most twice in such a call and once in the
// calls after it.
func TestDigestCachedNonceRejectedWithoutStale(t *testing.T) {
	auth := &wsmantest.DigestAuth{}
	auth.Password = func(u string) (string, bool) { return testPass, u == testUser }
	srv := httptest.NewServer(staleFalse(auth.Wrap(wsmantest.Handler(gsAnswer))))
	t.Cleanup(srv.Close)
	c, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	before := auth.Stats()

	auth.ForgetNonces() // a device restart; its 401 says stale="false"
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err, "retried once with the new challenge")
	st := auth.Stats()
	assert.Equal(t, before.Exchanges+2, st.Exchanges)

	// A fresh client whose first answer is refused gets no retry: after a fresh
	// challenge a 401 is final (a wrong password, AMT's lockout).
	auth.ForgetNonces()
	wrong, err := wsman.New(srv.URL, wsman.WithDigestAuth(testUser, "Wr0ng-passw0rd!"))
	require.NoError(t, err)
	for range 3 {
		_, err = wrong.Get(bg, gsURI, nil)
		require.ErrorIs(t, err, wsman.ErrUnauthorized)
	}
	assert.Equal(t, st.Rejected+3, auth.Stats().Rejected, "one failed attempt per call")
}

// A hostile server offering an RFC 2069 challenge (no qop, MD5) gets no
// credentials by default; a minimum algorithm refuses MD5 the same way.
func TestDigestPolicyRefusesWeakChallenges(t *testing.T) {
	var authorized atomic.Int32
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			authorized.Add(1)
		}
		w.Header().Set("WWW-Authenticate", `Digest realm="Digest:F3EB554784E729164447A89F60B641C5", nonce="chosen-by-the-server"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(hostile.Close)
	c, err := wsman.New(hostile.URL, wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrWeakChallenge)
	require.ErrorIs(t, err, wsman.ErrBadChallenge)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	assert.Zero(t, authorized.Load(), "no credentials were sent to the no-qop challenge")

	// Opting in answers it (the wsmantest server checks the RFC 2069 response).
	none := &wsmantest.DigestAuth{QOP: "none"}
	noneSrv, _ := digestServer(t, none, nil)
	_, err = getDigest(t, noneSrv.URL, wsman.WithDigestPolicy(wsman.DigestPolicy{AllowNoQOP: true}))
	require.NoError(t, err)
	_, err = getDigest(t, noneSrv.URL)
	require.ErrorIs(t, err, wsman.ErrWeakChallenge)

	// A minimum algorithm: AMT's MD5 is refused when SHA-256 is required.
	md5 := &wsmantest.DigestAuth{}
	md5Srv, _ := digestServer(t, md5, nil)
	sha256Only := wsman.WithDigestPolicy(wsman.DigestPolicy{MinAlgorithm: "SHA-256"})
	_, err = getDigest(t, md5Srv.URL, sha256Only)
	require.ErrorIs(t, err, wsman.ErrWeakChallenge)
	assert.Zero(t, md5.Stats().Rejected+md5.Stats().Authorized, "nothing answered")
	_, err = getDigest(t, md5Srv.URL)
	require.NoError(t, err, "the default accepts AMT's MD5 with qop=auth")
	sha := &wsmantest.DigestAuth{Algorithm: "SHA-256"}
	shaSrv, _ := digestServer(t, sha, nil)
	_, err = getDigest(t, shaSrv.URL, sha256Only)
	require.NoError(t, err)

	_, err = wsman.New(hostile.URL, wsman.WithDigestPolicy(wsman.DigestPolicy{MinAlgorithm: "SHA-1"}))
	require.Error(t, err)
}

func getDigest(t *testing.T, url string, opts ...wsman.Option) (*wsman.Response, error) {
	t.Helper()
	c, err := wsman.New(url, append([]wsman.Option{wsman.WithDigestAuth(testUser, testPass)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c.Get(bg, gsURI, nil)
}

// ResetAuth drops the cached challenge: the next call is challenged again,
// and later calls reuse the new one.
func TestResetAuthDropsTheChallenge(t *testing.T) {
	auth := &wsmantest.DigestAuth{}
	srv, _ := digestServer(t, auth, nil)
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithDigestAuth(testUser, testPass))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	get := func() {
		t.Helper()
		_, err := c.Get(bg, gsURI, nil)
		require.NoError(t, err)
	}
	get()
	get()
	assert.Equal(t, int64(1), auth.Stats().Challenges, "the challenge is cached")
	c.ResetAuth()
	get()
	assert.Equal(t, int64(2), auth.Stats().Challenges, "challenged again after ResetAuth")
	get()
	st := auth.Stats()
	assert.Equal(t, int64(2), st.Challenges, "the new challenge is cached")
	assert.Equal(t, int64(4), st.Authorized)
	assert.Zero(t, st.Rejected)
}
