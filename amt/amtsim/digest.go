package amtsim

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// The simulator verifies HTTP Digest itself rather than with
// wsmantest.DigestAuth: AMT stores only MD5(user:realm:password) — all that
// SetAdminAclEntryEx, AdminSetup and AddUserAclEntryEx deliver — and
// DigestAuth looks passwords up in clear. It shares wsmantest's parser.

const (
	maxNonces      = 256
	maxNCPerNonce  = 4096
	nonceLifetime  = 30 * time.Minute
	logonFailedMsg = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head><title>Intel&reg; Active Management Technology</title></head>
<body>Log on failed. Incorrect user name or password, or user account temporarily locked.</body></html>
`
)

type digestNonce struct {
	issued time.Time
	seen   map[uint64]struct{}
}

type digestState struct {
	d      *Device
	mu     sync.Mutex
	nonces map[string]*digestNonce
	order  []string
}

func (s *digestState) init(d *Device) {
	s.d = d
	s.nonces = map[string]*digestNonce{}
}

func a1(user, realm, password string) []byte {
	h := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return h[:]
}

func secretEqual(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

// challenge writes AMT's 401.
func (s *digestState) challenge(w http.ResponseWriter, stale bool) {
	var b [18]byte
	_, _ = io.ReadFull(s.d.rand, b[:])
	nonce := base64.StdEncoding.EncodeToString(b[:])
	s.mu.Lock()
	if len(s.order) >= maxNonces {
		delete(s.nonces, s.order[0])
		s.order = s.order[1:]
	}
	s.nonces[nonce] = &digestNonce{issued: s.d.now(), seen: map[uint64]struct{}{}}
	s.order = append(s.order, nonce)
	s.mu.Unlock()
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%s",stale="%t",qop="auth"`, s.d.realm, nonce, stale))
	w.Header().Set("Content-Type", "text/html")
	// Real challenges name the firmware too (schnoddelbotz/amtc issue 2, AMT
	// 8.0.3; device-management-toolkit/rps issue 779, AMT 16.1.25).
	w.Header().Set("Server", s.d.serverHeader())
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, logonFailedMsg)
}

// verify checks an Authorization header against lookup (which returns the
// stored A1 of a user). It reports the user, and stale when the response was
// right but the nonce is unknown, expired or its count was used before.
func (s *digestState) verify(r *http.Request, lookup func(user string) ([]byte, bool)) (user string, ok, stale bool) {
	auth := r.Header.Get("Authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "Digest ") {
		return "", false, false
	}
	p, err := wsmantest.ParseAuthParams(auth[7:])
	if err != nil {
		return "", false, false
	}
	user, realm, nonce, uri, resp := p["username"], p["realm"], p["nonce"], p["uri"], p["response"]
	qop, nc, cnonce := p["qop"], p["nc"], p["cnonce"]
	if realm != s.d.realm || uri != r.URL.RequestURI() {
		return user, false, false
	}
	if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return user, false, false
	}
	ha1, known := lookup(user)
	if !known {
		return user, false, false
	}
	h := func(parts ...string) string {
		x := md5.Sum([]byte(strings.Join(parts, ":")))
		return hex.EncodeToString(x[:])
	}
	ha1hex := hex.EncodeToString(ha1)
	var want string
	switch qop {
	case "auth", "auth-int":
		if nc == "" || cnonce == "" {
			return user, false, false
		}
		ha2 := h(r.Method, uri)
		if qop == "auth-int" {
			body, err := io.ReadAll(io.LimitReader(r.Body, wsmantest.DefaultMaxRequestBytes))
			if err != nil {
				return user, false, false
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			hb := md5.Sum(body)
			ha2 = h(r.Method, uri, hex.EncodeToString(hb[:]))
		}
		want = h(ha1hex, nonce, nc, cnonce, qop, ha2)
	case "":
		want = h(ha1hex, nonce, h(r.Method, uri))
	default:
		return user, false, false
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(resp)), []byte(want)) != 1 {
		return user, false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, found := s.nonces[nonce]
	if !found || s.d.now().Sub(st.issued) > nonceLifetime || len(st.seen) >= maxNCPerNonce {
		return user, false, true
	}
	if qop != "" {
		n, err := strconv.ParseUint(nc, 16, 64)
		if err != nil {
			return user, false, false
		}
		if _, dup := st.seen[n]; dup {
			return user, false, true
		}
		st.seen[n] = struct{}{}
	}
	return user, true, false
}

// forget drops every nonce (the firmware restarted its network stack).
func (s *digestState) forget() {
	s.mu.Lock()
	clear(s.nonces)
	s.order = nil
	s.mu.Unlock()
}
