package wsman_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type challengeVector struct {
	Name      string   `json:"name"`
	Header    string   `json:"header"`
	Realm     string   `json:"realm"`
	Nonce     string   `json:"nonce"`
	QOP       []string `json:"qop"`
	Algorithm string   `json:"algorithm"`
	Stale     bool     `json:"stale"`
}

func TestParseDigestChallengeVectors(t *testing.T) {
	f := testvectors.Load[challengeVector](t, "wsman_challenges")
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			c, err := wsman.ParseDigestChallenge(v.Header)
			require.NoError(t, err)
			assert.Equal(t, v.Realm, c.Realm)
			assert.Equal(t, v.Nonce, c.Nonce)
			assert.Equal(t, v.QOP, c.QOP)
			assert.Equal(t, v.Algorithm, c.Algorithm)
			assert.Equal(t, v.Stale, c.Stale)
			he := &wsman.HTTPError{StatusCode: 401, Challenges: []string{`Basic realm="x"`, v.Header}}
			realm, ok := he.DigestRealm()
			assert.True(t, ok)
			assert.Equal(t, v.Realm, realm)
		})
	}
	_, err := wsman.ParseDigestChallenge(`Basic realm="x"`)
	assert.ErrorIs(t, err, wsman.ErrBadChallenge)

	// parameter names are case-insensitive (RFC 7235); the library alone
	// would ignore "Realm"
	c, err := wsman.ParseDigestChallenge(`Digest Realm="Digest:AB", NONCE="n,Q=\"x", Qop="auth"`)
	require.NoError(t, err)
	assert.Equal(t, "Digest:AB", c.Realm)
	assert.Equal(t, `n,Q="x`, c.Nonce, "quoted content untouched")
	assert.Equal(t, []string{"auth"}, c.QOP)
}

// FuzzParseDigestChallenge: never panics; when the digest library's parser and
// wsmantest's independent parser both accept a challenge, they agree on realm
// and nonce.
func FuzzParseDigestChallenge(f *testing.F) {
	f.Add(`Digest realm="Digest:F3EB554784E729164447A89F60B641C5", nonce="q4sLAAAAAAAAAAAAH+5oUrNtfe8xBwZb",stale="false",qop="auth"`)
	f.Add(`Digest realm="Digest:BA870000000000000000000000000000", nonce="x",stale="false",qop="auth-int, auth"`)
	f.Add(`Digest realm="r", charset="UTF-8", algorithm=SHA-256, nonce="6564a3f2:00", qop="auth", stale=true`)
	f.Add(`Digest realm="a\"b", nonce="", opaque="o"`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := wsman.ParseDigestChallenge(s)
		if err != nil {
			return
		}
		for _, q := range c.QOP {
			if q == "" || strings.TrimSpace(q) != q {
				t.Fatalf("untrimmed qop %q", q)
			}
		}
		if len(s) < 7 || !utf8.ValidString(s) { // the library reads runes: invalid bytes become U+FFFD
			return
		}
		p, err := wsmantest.ParseAuthParams(s[7:])
		if err != nil {
			return
		}
		if p["realm"] != c.Realm || p["nonce"] != c.Nonce {
			t.Fatalf("parsers disagree on %q: %q/%q vs %q/%q", s, c.Realm, c.Nonce, p["realm"], p["nonce"])
		}
	})
}

func seedEnvelopes(f *testing.F) {
	for _, dir := range []string{"testdata/responses/*.xml", "testdata/requests/*.xml"} {
		files, _ := filepath.Glob(dir)
		for _, fn := range files {
			b, _ := os.ReadFile(fn)
			f.Add(b)
		}
	}
}

// FuzzParseResponse: parsing any bytes as a response never panics, every
// refusal is ErrMalformed or ErrUnsafeXML, and whatever parses can be read the
// way the client reads it.
func FuzzParseResponse(f *testing.F) {
	seedEnvelopes(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := wsman.ParseEnvelope(b, 0)
		if err != nil {
			if !errors.Is(err, wsman.ErrMalformed) && !errors.Is(err, wsman.ErrUnsafeXML) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		_ = env.Action() + env.RelatesTo() + env.MessageID() + env.ResourceURI() + env.To()
		_, _ = env.Selectors()
		_, _ = env.Fault()
		resp := &wsman.Response{Envelope: env}
		_, _ = resp.Fields()
		_, _ = resp.ReturnValue()
		_, _ = resp.ResourceCreated()
		var v struct {
			A string
			B []int
			C *bool
			D wsman.EPR
			E []byte
		}
		_ = resp.Decode(&v)
		for _, ns := range []string{wsman.NSEnumeration, wsman.NSWSMan} {
			_, _ = wsman.ReadItems(wsman.Find(env.Body, ns, "Items"))
		}
		_ = wsman.RedactEnvelope(b, wsman.RedactElements("A"))
		_ = wsman.Detach(env.Root)
	})
}

// FuzzParseFault: any s:Fault parses without panicking, the fault's
// sentinels and AMT status are consistent with its fields, and its message is
// one line without control characters whatever the device's text.
func FuzzParseFault(f *testing.F) {
	for _, n := range []string{"fault-internalerror.xml", "fault-alreadyexists.xml", "fault-destinationunreachable.xml", "fault-detail-element.xml"} {
		b, _ := os.ReadFile("testdata/responses/" + n)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := wsman.ParseEnvelope(b, 0)
		if err != nil {
			return
		}
		fault, err := env.Fault()
		if err != nil || fault == nil {
			return
		}
		if msg := fault.Error(); strings.ContainsFunc(msg, func(r rune) bool {
			return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
		}) {
			t.Fatalf("Fault.Error is not one line: %q", msg)
		}
		if fault.Subcode.Local == "InternalError" && fault.Subcode.Space == wsman.NSWSMan && !assert.ErrorIs(t, fault, wsman.ErrInternalError) {
			t.Fatal("sentinel mismatch")
		}
	})
}
