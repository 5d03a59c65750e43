package wsmantest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type digestVector struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	User      string `json:"user"`
	Realm     string `json:"realm"`
	Password  string `json:"password"`
	Method    string `json:"method"`
	URI       string `json:"uri"`
	Nonce     string `json:"nonce"`
	NC        string `json:"nc"`
	Cnonce    string `json:"cnonce"`
	QOP       string `json:"qop"`
	Body      string `json:"body"`
	Response  string `json:"response"`
}

func TestDigestResponseVectors(t *testing.T) {
	f := testvectors.Load[digestVector](t, "wsman_digest")
	for _, v := range f.Vectors {
		got, ok := digestResponse(v.Algorithm, v.User, v.Realm, v.Password, v.Method, v.URI, v.Nonce, v.NC, v.Cnonce, v.QOP, []byte(v.Body))
		require.True(t, ok, v.Name)
		assert.Equal(t, v.Response, got, v.Name)
	}
	_, ok := digestResponse("SHA-1", "", "", "", "", "", "", "", "", "", nil)
	assert.False(t, ok)
}

// server with a fixed nonce source so tests can build Authorization headers.
func testServer(t *testing.T, d *DigestAuth) (*httptest.Server, func() string) {
	if d.Password == nil {
		d.Password = func(u string) (string, bool) { return "P@ssw0rd", u == "admin" }
	}
	srv := httptest.NewServer(d.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "ok %s", b)
	})))
	t.Cleanup(srv.Close)
	challenge := func() string {
		resp, err := http.Post(srv.URL+"/wsman", "text/plain", nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 401, resp.StatusCode)
		p, err := ParseAuthParams(strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "Digest "))
		require.NoError(t, err)
		return p["nonce"]
	}
	return srv, challenge
}

func authHeader(d *DigestAuth, pass, uri, nonce, nc, qop, body string) string {
	resp, _ := digestResponse(d.Algorithm, "admin", d.RealmName(), pass, "POST", uri, nonce, nc, "0a4f113b", qop, []byte(body))
	h := fmt.Sprintf(`Digest username="admin", realm="%s", nonce="%s", uri="%s", response="%s"`, d.RealmName(), nonce, uri, resp)
	if qop != "" {
		h += fmt.Sprintf(`, qop=%s, nc=%s, cnonce="0a4f113b"`, qop, nc)
	}
	if d.Algorithm != "" {
		h += ", algorithm=" + d.Algorithm
	}
	return h
}

func post(t *testing.T, url, auth, body string) *http.Response {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestDigestAuthChallengeShape(t *testing.T) {
	d := &DigestAuth{QOP: "auth-int, auth"}
	srv, _ := testServer(t, d)
	resp, err := http.Post(srv.URL+"/wsman", "application/soap+xml", strings.NewReader("<x/>"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
	assert.True(t, resp.Close, "Connection: close, as AMT")
	assert.Equal(t, "text/html", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(b), "Log on failed")
	h := resp.Header.Get("WWW-Authenticate")
	p, err := ParseAuthParams(strings.TrimPrefix(h, "Digest "))
	require.NoError(t, err)
	assert.Len(t, p["nonce"], 24, "24-character base64 nonce")
	assert.Equal(t, fmt.Sprintf(`Digest realm="%s", nonce="%s",stale="false",qop="auth-int, auth"`, d.RealmName(), p["nonce"]), h)
	assert.Regexp(t, `^Digest:[0-9A-F]{32}$`, d.RealmName())
	assert.Equal(t, int64(1), d.Stats().Challenges)
}

func TestDigestAuthChecks(t *testing.T) {
	d := &DigestAuth{QOP: "auth-int, auth"}
	srv, challenge := testServer(t, d)
	url := srv.URL + "/wsman"
	n := challenge()

	ok := post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000001", "auth", ""), "")
	assert.Equal(t, 200, ok.StatusCode)
	replay := post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000001", "auth", ""), "")
	assert.Equal(t, 401, replay.StatusCode, "nc must increase")
	ok = post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000003", "auth", ""), "")
	assert.Equal(t, 200, ok.StatusCode, "gaps are fine")

	assert.Equal(t, 200, post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000004", "auth-int", "<a/>"), "<a/>").StatusCode)
	assert.Equal(t, 401, post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000005", "auth-int", "<a/>"), "<b/>").StatusCode, "body tampered")
	assert.Equal(t, 401, post(t, url, authHeader(d, "wrong", "/wsman", n, "00000006", "auth", ""), "").StatusCode)
	assert.Equal(t, 401, post(t, url, authHeader(d, "P@ssw0rd", "/other", n, "00000007", "auth", ""), "").StatusCode, "uri must be the request's")
	assert.Equal(t, 401, post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000008", "", ""), "").StatusCode, "qop offered, so required")
	assert.Equal(t, 401, post(t, url, "Digest garbage", "").StatusCode)
	assert.Equal(t, 401, post(t, url, "Basic YWRtaW46UEBzc3cwcmQ=", "").StatusCode)
	bad := strings.Replace(authHeader(d, "P@ssw0rd", "/wsman", n, "00000009", "auth", ""), d.RealmName(), "Digest:00", 1)
	assert.Equal(t, 401, post(t, url, bad, "").StatusCode, "realm must match")

	// unknown nonce with the right password: stale
	resp := post(t, url, authHeader(d, "P@ssw0rd", "/wsman", "AAAAAAAAAAAAAAAAAAAAAAAA", "00000001", "auth", ""), "")
	assert.Equal(t, 401, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `stale="true"`)
	// unknown nonce with a wrong password: not stale
	resp = post(t, url, authHeader(d, "nope", "/wsman", "AAAAAAAAAAAAAAAAAAAAAAAA", "00000001", "auth", ""), "")
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `stale="false"`)

	st := d.Stats()
	assert.Equal(t, int64(3), st.Authorized)
	assert.Equal(t, int64(1), st.Stale)
	assert.Equal(t, int64(8), st.Rejected) // Basic counts as a challenge, not a rejection
}

func TestDigestAuthAlgorithmsAndNoQOP(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256", "SHA-512-256"} {
		d := &DigestAuth{Algorithm: alg}
		srv, challenge := testServer(t, d)
		n := challenge()
		assert.Equal(t, 200, post(t, srv.URL+"/wsman", authHeader(d, "P@ssw0rd", "/wsman", n, "00000001", "auth", ""), "").StatusCode, alg)
	}
	d := &DigestAuth{QOP: "none"}
	srv, challenge := testServer(t, d)
	n := challenge()
	assert.Equal(t, 200, post(t, srv.URL+"/wsman", authHeader(d, "P@ssw0rd", "/wsman", n, "", "", ""), "").StatusCode)
	assert.Equal(t, 401, post(t, srv.URL+"/wsman", authHeader(d, "P@ssw0rd", "/wsman", n, "00000001", "auth", ""), "").StatusCode, "qop not offered")
}

func TestDigestAuthLockout(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := &DigestAuth{LockoutAfter: 2, LockoutFor: time.Minute, Now: func() time.Time { return now }}
	srv, challenge := testServer(t, d)
	url := srv.URL + "/wsman"
	n := challenge()
	post(t, url, authHeader(d, "x", "/wsman", n, "00000001", "auth", ""), "")
	post(t, url, authHeader(d, "y", "/wsman", n, "00000002", "auth", ""), "")
	assert.Equal(t, 401, post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000003", "auth", ""), "").StatusCode, "locked")
	assert.Equal(t, int64(1), d.Stats().Locked)
	now = now.Add(2 * time.Minute)
	assert.Equal(t, 200, post(t, url, authHeader(d, "P@ssw0rd", "/wsman", n, "00000004", "auth", ""), "").StatusCode)
}

func TestParseAuthParams(t *testing.T) {
	p, err := ParseAuthParams(`realm="Digest:AB", nonce="n+/=",stale="false",qop="auth-int, auth"`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"realm": "Digest:AB", "nonce": "n+/=", "stale": "false", "qop": "auth-int, auth"}, p)
	p, err = ParseAuthParams("Realm = \"a\\\"b\" ,\tNC=00000001, algorithm=SHA-256")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"realm": `a"b`, "nc": "00000001", "algorithm": "SHA-256"}, p)
	for _, bad := range []string{`realm`, `realm=`, `realm="x`, `=x`, `a=1 b=2`, `a=1, a=2`} {
		_, err := ParseAuthParams(bad)
		assert.Error(t, err, bad)
	}
}

func FuzzParseAuthParams(f *testing.F) {
	f.Add(`realm="Digest:AB", nonce="n",stale="false",qop="auth-int, auth"`)
	f.Add(`username="a", uri="/wsman", nc=00000001, response="x"`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseAuthParams(s)
		if err != nil {
			return
		}
		for k := range p {
			if k == "" || strings.ToLower(k) != k {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}
