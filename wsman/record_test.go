package wsman_test

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exchanges collects what a recording client hands over.
type exchanges struct {
	mu sync.Mutex
	xs []*wsman.Exchange
}

func (e *exchanges) Record(x *wsman.Exchange) {
	e.mu.Lock()
	e.xs = append(e.xs, x)
	e.mu.Unlock()
}

func (e *exchanges) all() []*wsman.Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*wsman.Exchange(nil), e.xs...)
}

func gsReply(r *wsmantest.Request) wsmantest.Reply {
	return wsmantest.GetResponse(r, gsInstance("host-a"))
}

// The recording client sees each HTTP attempt below digest authentication:
// the challenge and the answered request, with the credentials' secret parts
// already gone; steady state stays one exchange per call.
func TestRecorderSeesDigestExchanges(t *testing.T) {
	f := newFake(t, gsReply, withDigest(&wsmantest.DigestAuth{}))
	rec := &exchanges{}
	c := f.client().WithRecorder(rec)
	resp, err := c.Get(t.Context(), gsURI, nil)
	require.NoError(t, err)
	xs := rec.all()
	require.Len(t, xs, 2, "challenge and answer")
	assert.Equal(t, http.StatusUnauthorized, xs[0].StatusCode)
	assert.Equal(t, http.StatusOK, xs[1].StatusCode)
	assert.Equal(t, "/wsman", xs[1].Path)
	assert.Equal(t, f.last().Raw, xs[1].RequestBody, "the request body as sent")
	assert.Equal(t, resp.Raw, xs[1].ResponseBody, "the response body as received")
	assert.Positive(t, xs[1].Duration)

	challenge := xs[0].ResponseHeader.Get("WWW-Authenticate")
	assert.Contains(t, challenge, `realm="`+f.auth.RealmName()+`"`)
	assert.Contains(t, challenge, "qop=")
	assert.NotContains(t, challenge, "nonce", "the server nonce never reaches the recorder")
	auth := xs[1].RequestHeader.Get("Authorization")
	assert.True(t, strings.HasPrefix(auth, "Digest "), auth)
	assert.Contains(t, auth, `username="admin"`)
	assert.Contains(t, auth, `uri="/wsman"`)
	for _, p := range []string{"nonce", "cnonce", "response", "nc=", "opaque"} {
		assert.NotContains(t, auth, p, "Authorization keeps no %s", p)
	}

	_, err = c.Get(t.Context(), gsURI, nil)
	require.NoError(t, err)
	assert.Len(t, rec.all(), 3, "the cached challenge still serves: one exchange per call")
}

// The recording client keeps the TLS policy: a device whose certificate does
// not match the pin is refused before any request byte, recording or not.
func TestRecorderKeepsTLSPolicy(t *testing.T) {
	served := 0
	srv := httptest.NewTLSServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		served++
		return gsReply(r)
	}))
	t.Cleanup(srv.Close)
	good := sha256.Sum256(srv.Certificate().Raw)
	bad := good
	bad[0] ^= 1

	rec := &exchanges{}
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithTLS(wsman.PinSHA256(bad)))
	require.NoError(t, err)
	_, err = c.WithRecorder(rec).Get(t.Context(), gsURI, nil)
	var pe *wsman.TLSPolicyError
	require.ErrorAs(t, err, &pe)
	assert.Zero(t, served, "nothing reached the server")
	for _, x := range rec.all() {
		assert.Zero(t, x.StatusCode)
		assert.Error(t, x.Err)
	}

	c, err = wsman.New(srv.URL+"/wsman", wsman.WithTLS(wsman.PinSHA256(good)))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	rec = &exchanges{}
	_, err = c.WithRecorder(rec).Get(t.Context(), gsURI, nil)
	require.NoError(t, err)
	xs := rec.all()
	require.Len(t, xs, 1)
	assert.NotZero(t, xs[0].TLSVersion, "the TLS connection is described")
	assert.NotZero(t, xs[0].TLSCipherSuite)
}

func TestRecorderBasicAndCookies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3cr3t-cookie"})
		wsmantest.Handler(gsReply).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithBasicAuth(testUser, testPass), wsman.AllowBasicOverHTTP())
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	rec := &exchanges{}
	_, err = c.WithRecorder(rec).Get(t.Context(), gsURI, nil)
	require.NoError(t, err)
	xs := rec.all()
	require.Len(t, xs, 1)
	assert.Equal(t, "Basic "+wsman.Redacted, xs[0].RequestHeader.Get("Authorization"))
	assert.Equal(t, wsman.Redacted, xs[0].ResponseHeader.Get("Set-Cookie"))
}

func TestRecorderTransportErrorAndTruncation(t *testing.T) {
	t.Run("hang-up", func(t *testing.T) {
		f := newFake(t, func(*wsmantest.Request) wsmantest.Reply { return wsmantest.Hangup() })
		rec := &exchanges{}
		_, err := f.client().WithRecorder(rec).Get(t.Context(), gsURI, nil)
		require.ErrorIs(t, err, wsman.ErrResponseLost)
		xs := rec.all()
		require.NotEmpty(t, xs)
		assert.Error(t, xs[len(xs)-1].Err)
		assert.NotEmpty(t, xs[len(xs)-1].RequestBody)
	})
	t.Run("body cut short", func(t *testing.T) {
		// Headers announce more than the server sends before it hangs up: the
		// recording keeps what arrived and the error, and the client sees the
		// same failure it would see unrecorded.
		good := fixture(t, "get-abc-prefixes.xml")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/soap+xml")
			w.Header().Set("Content-Length", strconv.Itoa(len(good)))
			_, _ = w.Write(good[:100])
			w.(http.Flusher).Flush()
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
				}
			}
		}))
		defer srv.Close()
		c, err := wsman.New(srv.URL+"/wsman", wsman.WithRand(zeroReader{}))
		require.NoError(t, err)
		defer c.CloseIdleConnections()
		_, plain := c.Get(t.Context(), gsURI, nil)
		require.ErrorIs(t, plain, wsman.ErrResponseLost)
		rec := &exchanges{}
		_, err = c.WithRecorder(rec).Get(t.Context(), gsURI, nil)
		require.ErrorIs(t, err, wsman.ErrResponseLost)
		xs := rec.all()
		require.Len(t, xs, 1)
		require.Error(t, xs[0].Err)
		assert.Equal(t, good[:100], xs[0].ResponseBody, "what arrived is recorded")
	})
	t.Run("too large", func(t *testing.T) {
		big := strings.Repeat("x", 4096)
		f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, gsInstance(big)) })
		rec := &exchanges{}
		c := f.client(wsman.WithMaxResponseBytes(1024))
		_, err := c.WithRecorder(rec).Get(t.Context(), gsURI, nil)
		require.ErrorIs(t, err, wsman.ErrTooLarge, "the client's cap still applies")
		xs := rec.all()
		require.Len(t, xs, 1)
		assert.True(t, xs[0].Truncated)
		assert.Len(t, xs[0].ResponseBody, 1024)
	})
}

// The recording client has its own credentials and challenge cache.
func TestRecorderCredentialsAreSeparate(t *testing.T) {
	f := newFake(t, gsReply, withDigest(&wsmantest.DigestAuth{}))
	c := f.client()
	rc := c.WithRecorder(&exchanges{})
	c.SetCredentials(testUser, "wrong-password-1A!")
	_, err := c.Get(t.Context(), gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	_, err = rc.Get(t.Context(), gsURI, nil)
	require.NoError(t, err, "the recording client kept the password it was made with")
	assert.Same(t, c, c.WithRecorder(nil), "a nil recorder records nothing")
}

func TestRecorderFunc(t *testing.T) {
	f := newFake(t, gsReply)
	n := 0
	_, err := f.client().WithRecorder(wsman.RecorderFunc(func(*wsman.Exchange) { n++ })).Get(t.Context(), gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestReduceAuthHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{`Digest realm="Digest:0123", nonce="abc", stale="false", qop="auth-int, auth"`, `Digest realm="Digest:0123", stale="false", qop="auth-int, auth"`},
		{`Digest username="admin", realm="r", nonce="n", uri="/wsman", cnonce="c", nc=00000001, qop=auth, response="0123abcd", opaque="o", algorithm=MD5`,
			`Digest username="admin", realm="r", uri="/wsman", qop=auth, algorithm=MD5`},
		{`Digest Realm="R, with comma", NONCE="x"`, `Digest Realm="R, with comma"`},
		{`Digest realm="a\"b", nonce="x"`, `Digest realm="a\"b"`},
		{"Basic YWRtaW46cGFzcw==", "Basic " + wsman.Redacted},
		{"Basic YWRtaW46cGFzc3dvcmQ", "Basic " + wsman.Redacted},
		{`Basic realm="AMT"`, `Basic realm="AMT"`},
		{"Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggSQYYIEjDCCBIig", "Negotiate " + wsman.Redacted},
		{`Digest realm="unterminated`, "Digest " + wsman.Redacted},
		{`Digest nonce="only"`, "Digest"},
		{"Digest", "Digest"},
		{"", ""},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, wsman.ReduceAuthHeader(tc.in), tc.in)
	}
}

// FuzzReduceAuthHeader: never panics; a value given to nonce, cnonce,
// response or opaque never survives; reducing twice changes nothing.
func FuzzReduceAuthHeader(f *testing.F) {
	f.Add(`Digest username="admin", realm="r", nonce="n0nceVALUE", uri="/wsman", response="RESPONSEVALUE"`, "n0nceVALUE")
	f.Add(`Digest realm="x", nonce="SECRETNONCE", qop="auth"`, "SECRETNONCE")
	f.Add("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
	f.Fuzz(func(t *testing.T, header, secret string) {
		out := wsman.ReduceAuthHeader(header)
		assert.Equal(t, out, wsman.ReduceAuthHeader(out))
		if len(secret) < 6 || strings.ContainsAny(secret, `"\, =`) {
			return
		}
		for _, p := range []string{"nonce", "cnonce", "response", "opaque", "NONCE"} {
			h := `Digest realm="r", ` + p + `="` + secret + `", qop=auth`
			assert.NotContains(t, wsman.ReduceAuthHeader(h), secret)
		}
	})
}
