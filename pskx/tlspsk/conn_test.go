package tlspsk_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/tlspsk"
)

var allVersions = []uint16{tlspsk.VersionTLS10, tlspsk.VersionTLS11, tlspsk.VersionTLS12}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func intelPair(t testing.TB) pskx.Pair {
	pps, err := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	require.NoError(t, err)
	return pskx.Pair{PID: pskx.MustParsePID("0000-037M"), PPS: pps}
}

func serverConfigFor(t testing.TB, pairs ...pskx.Pair) *tlspsk.Config {
	var s pskx.MemoryStore
	require.NoError(t, s.Put(context.Background(), pairs...))
	return &tlspsk.Config{GetKey: tlspsk.Derivation{}.KeyLookup(&s)}
}

type result struct {
	conn *tlspsk.Conn
	err  error
}

// handshakePair runs both handshakes concurrently and returns both results.
func handshakePair(t testing.TB, ccfg, scfg *tlspsk.Config) (client, server result) {
	t.Helper()
	cc, sc := tcpPair(t)
	c, s := tlspsk.Client(cc, ccfg), tlspsk.Server(sc, scfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.HandshakeContext(ctx) }()
	cerr := c.HandshakeContext(ctx)
	serr := <-done
	return result{c, cerr}, result{s, serr}
}

func TestHandshakeAllSuitesAndVersions(t *testing.T) {
	pair := intelPair(t)
	for _, vers := range allVersions {
		for _, suite := range tlspsk.DefaultCipherSuites() {
			t.Run(tlspsk.VersionName(vers)+" "+tlspsk.CipherSuiteName(suite), func(t *testing.T) {
				ccfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
				ccfg.MaxVersion = vers
				ccfg.CipherSuites = []uint16{suite}
				c, s := handshakePair(t, ccfg, serverConfigFor(t, pair))
				require.NoError(t, c.err)
				require.NoError(t, s.err)
				for _, st := range []tlspsk.ConnectionState{c.conn.ConnectionState(), s.conn.ConnectionState()} {
					assert.True(t, st.HandshakeComplete)
					assert.Equal(t, vers, st.Version)
					assert.Equal(t, suite, st.CipherSuite)
					assert.Equal(t, "0000037M", string(st.Identity))
					assert.True(t, st.SecureRenegotiation)
				}
				exchange(t, c.conn, s.conn, []byte("ping from the configuration server"), []byte("pong from AMT"))
			})
		}
	}
}

// exchange sends a from client to server and b back, and checks both.
func exchange(t *testing.T, client, server net.Conn, a, b []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, len(a))
		if _, err := io.ReadFull(server, buf); err != nil {
			errc <- err
			return
		}
		if !bytes.Equal(buf, a) {
			errc <- fmt.Errorf("server got %q", buf)
			return
		}
		_, err := server.Write(b)
		errc <- err
	}()
	_, err := client.Write(a)
	require.NoError(t, err)
	buf := make([]byte, len(b))
	_, err = io.ReadFull(client, buf)
	require.NoError(t, err)
	assert.Equal(t, b, buf)
	require.NoError(t, <-errc)
}

func TestServerPrefersItsOwnSuiteOrderAndHighestVersion(t *testing.T) {
	pair := intelPair(t)
	ccfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
	ccfg.CipherSuites = []uint16{tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA, tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA384}
	scfg := serverConfigFor(t, pair)
	scfg.CipherSuites = []uint16{tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA384, tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA}
	scfg.MaxVersion = tlspsk.VersionTLS11
	scfg.IdentityHint = []byte("amtkit hint")
	c, s := handshakePair(t, ccfg, scfg)
	require.NoError(t, c.err)
	require.NoError(t, s.err)
	st := c.conn.ConnectionState()
	assert.Equal(t, tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA384, st.CipherSuite)
	assert.Equal(t, tlspsk.VersionTLS11, st.Version)
	assert.Equal(t, "amtkit hint", string(st.IdentityHint))
}

func TestHandshakeFailures(t *testing.T) {
	pair := intelPair(t)
	other, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	tests := []struct {
		name        string
		client      func() *tlspsk.Config
		server      func() *tlspsk.Config
		clientAlert tlspsk.Alert // alert the client receives
		serverErr   error        // cause the server reports (with the alert it sent)
	}{
		{"wrong key", func() *tlspsk.Config {
			return &tlspsk.Config{Identity: []byte(pair.PID.Compact()), Key: other.PPS.Secret()}
		}, func() *tlspsk.Config { return serverConfigFor(t, pair) }, tlspsk.AlertBadRecordMAC, tlspsk.ErrBadRecordMAC},
		{"unknown identity", func() *tlspsk.Config {
			return tlspsk.Derivation{}.ClientConfig(other.PID, other.PPS)
		}, func() *tlspsk.Config { return serverConfigFor(t, pair) }, tlspsk.AlertUnknownPSKIdentity, tlspsk.ErrUnknownIdentity},
		{"identity not a PID", func() *tlspsk.Config {
			return &tlspsk.Config{Identity: []byte("device-1"), Key: pair.PPS.Secret()}
		}, func() *tlspsk.Config { return serverConfigFor(t, pair) }, tlspsk.AlertUnknownPSKIdentity, tlspsk.ErrUnknownIdentity},
		{"no common version", func() *tlspsk.Config {
			c := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
			c.MaxVersion = tlspsk.VersionTLS10
			return c
		}, func() *tlspsk.Config {
			c := serverConfigFor(t, pair)
			c.MinVersion = tlspsk.VersionTLS12
			return c
		}, tlspsk.AlertProtocolVersion, tlspsk.ErrVersion},
		{"no common suite", func() *tlspsk.Config {
			c := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
			c.CipherSuites = []uint16{tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA}
			return c
		}, func() *tlspsk.Config {
			c := serverConfigFor(t, pair)
			c.CipherSuites = []uint16{tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA}
			return c
		}, tlspsk.AlertHandshakeFailure, tlspsk.ErrNoCommonSuite},
		{"key store failure", func() *tlspsk.Config {
			return tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
		}, func() *tlspsk.Config {
			return &tlspsk.Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return amt.Secret{}, errors.New("database down") }}
		}, tlspsk.AlertInternalError, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := handshakePair(t, tc.client(), tc.server())
			require.Error(t, c.err)
			var ae *tlspsk.AlertError
			require.ErrorAs(t, c.err, &ae)
			assert.True(t, ae.Remote)
			assert.Equal(t, tc.clientAlert, ae.Alert)
			assert.ErrorIs(t, c.err, tc.clientAlert)

			require.Error(t, s.err)
			require.ErrorAs(t, s.err, &ae)
			assert.False(t, ae.Remote)
			assert.Equal(t, tc.clientAlert, ae.Alert)
			if tc.serverErr != nil {
				assert.ErrorIs(t, s.err, tc.serverErr)
			}
			// Later calls fail with the same error; nothing hangs.
			_, err := c.conn.Write([]byte("x"))
			assert.Equal(t, c.err, err)
			_, err = s.conn.Read(make([]byte, 1))
			assert.Equal(t, s.err, err)
			assert.NotContains(t, c.err.Error()+s.err.Error(), pair.PPS.Reveal())
		})
	}
}

func TestConfigErrors(t *testing.T) {
	pair := intelPair(t)
	for name, cfg := range map[string]*tlspsk.Config{
		"no key":        {Identity: []byte("0000037M")},
		"unknown suite": {Identity: []byte("x"), Key: amt.NewSecret("k"), CipherSuites: []uint16{0x002f}},
		"empty suites":  {Identity: []byte("x"), Key: amt.NewSecret("k"), CipherSuites: []uint16{}},
		"bad versions":  {Identity: []byte("x"), Key: amt.NewSecret("k"), MinVersion: tlspsk.VersionTLS12, MaxVersion: tlspsk.VersionTLS10},
		"SSL 3":         {Identity: []byte("x"), Key: amt.NewSecret("k"), MinVersion: 0x0300},
		"long identity": {Identity: make([]byte, 70000), Key: amt.NewSecret("k")},
	} {
		cc, _ := tcpPair(t)
		err := tlspsk.Client(cc, cfg).HandshakeContext(context.Background())
		assert.Error(t, err, name)
	}
	_, sc := tcpPair(t)
	err := tlspsk.Server(sc, &tlspsk.Config{}).HandshakeContext(context.Background())
	assert.ErrorIs(t, err, tlspsk.ErrNoKey)
	cc, _ := tcpPair(t)
	err = tlspsk.Client(cc, &tlspsk.Config{}).HandshakeContext(context.Background())
	assert.ErrorIs(t, err, tlspsk.ErrNoKey)
	_ = pair
}

func TestHandshakeContextDeadline(t *testing.T) {
	pair := intelPair(t)
	// A peer that accepts and says nothing.
	cc, sc := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := tlspsk.Client(cc, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)).HandshakeContext(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	_ = sc
	_, sc2 := tcpPair(t)
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	srv := tlspsk.Server(sc2, serverConfigFor(t, pair))
	err = srv.HandshakeContext(ctx2)
	require.ErrorIs(t, err, context.Canceled)
	_, err = srv.Read(make([]byte, 1))
	require.ErrorIs(t, err, context.Canceled, "the failure sticks")

	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	cc2, _ := tcpPair(t)
	require.ErrorIs(t, tlspsk.Client(cc2, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)).HandshakeContext(done), context.Canceled)
}

func TestCompletedHandshakeIgnoresContext(t *testing.T) {
	pair := intelPair(t)
	c, s := handshakePair(t, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS), serverConfigFor(t, pair))
	require.NoError(t, c.err)
	require.NoError(t, s.err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, c.conn.HandshakeContext(ctx))
	exchange(t, c.conn, s.conn, []byte("still"), []byte("open"))
}

// recordingConn records what is written to it and can flip a byte of the next
// write.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
	flipAt  int // flip byte flipAt of the next write when > 0
}

func (r *recordingConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	if r.flipAt > 0 && r.flipAt < len(b) {
		b = bytes.Clone(b)
		b[r.flipAt] ^= 0x01
		r.flipAt = 0
	}
	r.written.Write(b)
	r.mu.Unlock()
	return r.Conn.Write(b)
}

func (r *recordingConn) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := bytes.Clone(r.written.Bytes())
	r.written.Reset()
	return b
}

// recordLengths parses record headers and returns each record's length.
func recordLengths(t *testing.T, b []byte) (types []byte, lens []int, bodies [][]byte) {
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 5)
		n := int(b[3])<<8 | int(b[4])
		types = append(types, b[0])
		lens = append(lens, n)
		bodies = append(bodies, b[5:5+n])
		b = b[5+n:]
	}
	return
}

func TestRecordSplittingAndExplicitIV(t *testing.T) {
	pair := intelPair(t)
	tests := []struct {
		vers  uint16
		suite uint16
		want  []int // by hand: [IV] + data + MAC, padded to 16 with at least one byte
	}{
		// TLS 1.0: 1/n−1 split. 1+20 → 32; 99+20 → 128.
		{tlspsk.VersionTLS10, tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA, []int{32, 128}},
		// SHA-256 MAC: 1+32 → 48; 99+32 → 144.
		{tlspsk.VersionTLS10, tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA256, []int{48, 144}},
		// TLS 1.1/1.2: one record, 16-byte IV + (100+20 → 128).
		{tlspsk.VersionTLS11, tlspsk.TLS_PSK_WITH_AES_128_CBC_SHA, []int{144}},
		{tlspsk.VersionTLS12, tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA, []int{144}},
		// SHA-384 MAC: 16 + (100+48 → 160).
		{tlspsk.VersionTLS12, tlspsk.TLS_PSK_WITH_AES_256_CBC_SHA384, []int{176}},
	}
	for _, tc := range tests {
		t.Run(tlspsk.VersionName(tc.vers)+" "+tlspsk.CipherSuiteName(tc.suite), func(t *testing.T) {
			cc, sc := tcpPair(t)
			rec := &recordingConn{Conn: cc}
			ccfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
			ccfg.MaxVersion, ccfg.CipherSuites = tc.vers, []uint16{tc.suite}
			c, s := tlspsk.Client(rec, ccfg), tlspsk.Server(sc, serverConfigFor(t, pair))
			errc := make(chan error, 1)
			go func() { errc <- s.HandshakeContext(context.Background()) }()
			require.NoError(t, c.HandshakeContext(context.Background()))
			require.NoError(t, <-errc)
			rec.take()

			msg := bytes.Repeat([]byte("A"), 100)
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, 200)
				n, _ := io.ReadAtLeast(s, b, 100)
				got <- b[:n]
			}()
			_, err := c.Write(msg)
			require.NoError(t, err)
			assert.Equal(t, msg, <-got)
			types, lens, bodies := recordLengths(t, rec.take())
			assert.Equal(t, tc.want, lens)
			for _, typ := range types {
				assert.Equal(t, byte(23), typ)
			}
			if tc.vers >= tlspsk.VersionTLS11 {
				// A second write has a different explicit IV.
				go func() { b := make([]byte, 100); _, _ = io.ReadFull(s, b) }()
				_, err := c.Write(msg)
				require.NoError(t, err)
				_, _, bodies2 := recordLengths(t, rec.take())
				assert.NotEqual(t, bodies[0][:16], bodies2[0][:16])
			}
		})
	}
}

func TestTamperedRecordFailsWithBadRecordMAC(t *testing.T) {
	pair := intelPair(t)
	for _, flipAt := range []int{5 + 16, -1} { // first ciphertext block; last (padding) byte
		cc, sc := tcpPair(t)
		rec := &recordingConn{Conn: cc}
		ccfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
		ccfg.MaxVersion = tlspsk.VersionTLS12
		c, s := tlspsk.Client(rec, ccfg), tlspsk.Server(sc, serverConfigFor(t, pair))
		errc := make(chan error, 1)
		go func() { errc <- s.HandshakeContext(context.Background()) }()
		require.NoError(t, c.HandshakeContext(context.Background()))
		require.NoError(t, <-errc)
		// "hello" in TLS 1.2 with AES-128-SHA: 5 header + 16 IV + 32 = 53 bytes.
		if flipAt < 0 {
			flipAt = 52
		}
		rec.mu.Lock()
		rec.flipAt = flipAt
		rec.mu.Unlock()
		_, err := c.Write([]byte("hello"))
		require.NoError(t, err)
		_, err = s.Read(make([]byte, 10))
		require.ErrorIs(t, err, tlspsk.ErrBadRecordMAC)
		require.ErrorIs(t, err, tlspsk.AlertBadRecordMAC)
		_, err = c.Read(make([]byte, 10))
		var ae *tlspsk.AlertError
		require.ErrorAs(t, err, &ae)
		assert.True(t, ae.Remote)
		assert.Equal(t, tlspsk.AlertBadRecordMAC, ae.Alert)
	}
}

func TestRecordLayerLimits(t *testing.T) {
	pair := intelPair(t)
	t.Run("oversized record", func(t *testing.T) {
		c, s := handshakePair(t, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS), serverConfigFor(t, pair))
		require.NoError(t, c.err)
		require.NoError(t, s.err)
		// 16384 + 2048 + 1 bytes announced.
		_, err := c.conn.NetConn().Write([]byte{23, 3, 3, 0x48, 0x01})
		require.NoError(t, err)
		_, err = s.conn.Read(make([]byte, 1))
		require.ErrorIs(t, err, tlspsk.ErrRecordOverflow)
		require.ErrorIs(t, err, tlspsk.AlertRecordOverflow)
	})
	t.Run("wrong record version", func(t *testing.T) {
		c, s := handshakePair(t, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS), serverConfigFor(t, pair))
		require.NoError(t, c.err)
		_, err := c.conn.NetConn().Write([]byte{23, 3, 1, 0, 32})
		require.NoError(t, err)
		_, err = s.conn.Read(make([]byte, 1))
		require.ErrorIs(t, err, tlspsk.ErrVersion)
	})
	t.Run("not TLS", func(t *testing.T) {
		cc, sc := tcpPair(t)
		_, err := cc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		require.NoError(t, err)
		err = tlspsk.Server(sc, serverConfigFor(t, pair)).HandshakeContext(context.Background())
		var rh *tlspsk.RecordHeaderError
		require.ErrorAs(t, err, &rh)
		assert.Equal(t, []byte("GET /"), rh.Header[:])
	})
	t.Run("certificate instead of ServerHelloDone", func(t *testing.T) {
		cc, sc := tcpPair(t)
		go func() {
			buf := make([]byte, 1024)
			_, _ = sc.Read(buf) // the ClientHello
			sh := append([]byte{2, 0, 0, 38, 3, 1}, make([]byte, 32)...)
			sh = append(sh, 0, 0, 0x8c, 0)
			cert := []byte{11, 0, 0, 3, 0, 0, 0}
			msgs := append(sh, cert...)
			_, _ = sc.Write(append([]byte{22, 3, 1, 0, byte(len(msgs))}, msgs...))
			_, _ = sc.Read(buf)
		}()
		err := tlspsk.Client(cc, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)).HandshakeContext(context.Background())
		require.ErrorIs(t, err, tlspsk.ErrUnexpectedMessage)
		require.ErrorIs(t, err, tlspsk.AlertUnexpectedMessage)
		assert.Contains(t, err.Error(), "plain-PSK")
	})
	t.Run("server picks a suite not offered", func(t *testing.T) {
		cc, sc := tcpPair(t)
		go func() {
			buf := make([]byte, 1024)
			_, _ = sc.Read(buf)
			sh := append([]byte{2, 0, 0, 38, 3, 1}, make([]byte, 32)...)
			sh = append(sh, 0, 0, 0x2f, 0)
			_, _ = sc.Write(append([]byte{22, 3, 1, 0, byte(len(sh))}, sh...))
			_, _ = sc.Read(buf)
		}()
		err := tlspsk.Client(cc, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)).HandshakeContext(context.Background())
		require.ErrorIs(t, err, tlspsk.ErrNoCommonSuite)
		require.ErrorIs(t, err, tlspsk.AlertIllegalParameter)
	})
	t.Run("peer closes during handshake", func(t *testing.T) {
		cc, sc := tcpPair(t)
		go func() { buf := make([]byte, 1024); _, _ = sc.Read(buf); sc.Close() }()
		err := tlspsk.Client(cc, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)).HandshakeContext(context.Background())
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

func TestCloseNotifyAndCloseWrite(t *testing.T) {
	pair := intelPair(t)
	c, s := handshakePair(t, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS), serverConfigFor(t, pair))
	require.NoError(t, c.err)
	require.NoError(t, s.err)
	require.NoError(t, c.conn.CloseWrite())
	_, err := s.conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	_, err = c.conn.Write([]byte("x"))
	require.ErrorIs(t, err, tlspsk.ErrClosed)
	// The other direction still works.
	_, err = s.conn.Write([]byte("after"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(c.conn, buf)
	require.NoError(t, err)
	assert.Equal(t, "after", string(buf))
	require.NoError(t, s.conn.Close())
	_, err = c.conn.Read(buf)
	require.ErrorIs(t, err, io.EOF)
	assert.NoError(t, c.conn.Close())
	assert.ErrorIs(t, tlspsk.Client(c.conn.NetConn(), &tlspsk.Config{}).CloseWrite(), tlspsk.ErrHandshakeIncomplete)
}

func TestLargeConcurrentTransfer(t *testing.T) {
	pair := intelPair(t)
	for _, vers := range allVersions {
		ccfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
		ccfg.MaxVersion = vers
		c, s := handshakePair(t, ccfg, serverConfigFor(t, pair))
		require.NoError(t, c.err)
		require.NoError(t, s.err)
		up := make([]byte, 1<<20)
		down := make([]byte, 700_001)
		_, _ = rand.Read(up)
		_, _ = rand.Read(down)
		var wg sync.WaitGroup
		var gotUp, gotDown []byte
		var errUp, errDown error
		wg.Add(4)
		go func() { defer wg.Done(); _, errUp = c.conn.Write(up) }()
		go func() { defer wg.Done(); _, errDown = s.conn.Write(down) }()
		go func() { defer wg.Done(); gotUp = make([]byte, len(up)); _, _ = io.ReadFull(s.conn, gotUp) }()
		go func() { defer wg.Done(); gotDown = make([]byte, len(down)); _, _ = io.ReadFull(c.conn, gotDown) }()
		wg.Wait()
		require.NoError(t, errUp)
		require.NoError(t, errDown)
		assert.True(t, bytes.Equal(up, gotUp), tlspsk.VersionName(vers))
		assert.True(t, bytes.Equal(down, gotDown), tlspsk.VersionName(vers))
	}
}

func TestListenerServesHTTP(t *testing.T) {
	pair := intelPair(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	scfg := serverConfigFor(t, pair)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over TLS-PSK: %s", r.URL.Path)
	})}
	go func() { _ = srv.Serve(tlspsk.NewListener(inner, scfg)) }()
	defer srv.Close()

	ccfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
	var states []tlspsk.ConnectionState
	var mu sync.Mutex
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := tlspsk.Dial(ctx, network, addr, ccfg)
			if err == nil {
				mu.Lock()
				states = append(states, c.ConnectionState())
				mu.Unlock()
			}
			return c, err
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + inner.Addr().String() + "/wsman")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "hello over TLS-PSK: /wsman", string(body))
	require.Len(t, states, 1)
	assert.Equal(t, tlspsk.VersionTLS12, states[0].Version)

	_, err = tlspsk.Dial(context.Background(), "tcp", "127.0.0.1:1", ccfg)
	assert.Error(t, err)
}

func TestKeyLogAndLogValue(t *testing.T) {
	pair := intelPair(t)
	var clog, slogBuf bytes.Buffer
	ccfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
	ccfg.KeyLogWriter = &clog
	scfg := serverConfigFor(t, pair)
	var skl bytes.Buffer
	scfg.KeyLogWriter = &skl
	c, s := handshakePair(t, ccfg, scfg)
	require.NoError(t, c.err)
	require.NoError(t, s.err)
	assert.Regexp(t, regexp.MustCompile(`^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}\n$`), clog.String())
	assert.Equal(t, clog.String(), skl.String(), "both sides derive the same master secret")

	slog.New(slog.NewTextHandler(&slogBuf, nil)).Info("connected", "tls", c.conn.ConnectionState())
	assert.Contains(t, slogBuf.String(), "tls.version=\"TLS 1.2\" tls.cipher_suite=TLS_PSK_WITH_AES_128_CBC_SHA tls.identity=0000037M")
	assert.NotContains(t, slogBuf.String(), pair.PPS.Reveal())
}

func TestDerivation(t *testing.T) {
	pair := intelPair(t)
	d := tlspsk.Derivation{}
	assert.Equal(t, []byte("0000037M"), d.IdentityFor(pair.PID))
	assert.Equal(t, "NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ", d.KeyFor(pair.PPS).Reveal())
	// A different convention on both sides still agrees.
	custom := tlspsk.Derivation{
		Identity:      func(p pskx.PID) []byte { return []byte(p.String()) },
		Key:           func(p pskx.PPS) amt.Secret { return amt.NewSecret(p.RevealGrouped()) },
		ParseIdentity: func(b []byte) (pskx.PID, error) { return pskx.ParsePID(string(b)) },
	}
	var st pskx.MemoryStore
	require.NoError(t, st.Put(context.Background(), pair))
	c, s := handshakePair(t, custom.ClientConfig(pair.PID, pair.PPS), &tlspsk.Config{GetKey: custom.KeyLookup(&st)})
	require.NoError(t, c.err)
	require.NoError(t, s.err)
	assert.Equal(t, "0000-037M", string(s.conn.ConnectionState().Identity))
	// Mixing conventions fails cleanly.
	c, s = handshakePair(t, custom.ClientConfig(pair.PID, pair.PPS), serverConfigFor(t, pair))
	require.Error(t, c.err)
	require.Error(t, s.err)
}

func TestReadDeadlineIsNotFatal(t *testing.T) {
	pair := intelPair(t)
	c, s := handshakePair(t, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS), serverConfigFor(t, pair))
	require.NoError(t, c.err)
	require.NoError(t, s.err)
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := c.conn.Read(make([]byte, 4))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.NoError(t, c.conn.SetReadDeadline(time.Time{}))
	exchange(t, c.conn, s.conn, []byte("after a timeout"), []byte("still fine"))
}

// Close ends a Write that is blocked because the peer stopped reading, instead
// of waiting for it (a close_notify would queue behind it).
func TestCloseDuringBlockedWrite(t *testing.T) {
	pair := intelPair(t)
	cc, sc := net.Pipe()
	c := tlspsk.Client(cc, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS))
	s := tlspsk.Server(sc, serverConfigFor(t, pair))
	done := make(chan error, 1)
	go func() { done <- s.HandshakeContext(context.Background()) }()
	require.NoError(t, c.HandshakeContext(context.Background()))
	require.NoError(t, <-done)
	defer s.Close()

	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 1000)) // net.Pipe: blocks until the server reads, which it never does
		wrote <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the Write block
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked behind a Write the peer never reads")
	}
	select {
	case err := <-wrote:
		assert.Error(t, err, "the blocked Write ends with an error")
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked Write did not end when the connection closed")
	}
}

// A server that leaves renegotiation_info out, as AMT's does (MeshCommander
// issues 120, 126), is accepted by the client, which then reports no secure
// renegotiation; the server still knows the client signalled it.
func TestServerWithoutRenegotiationInfo(t *testing.T) {
	pair := intelPair(t)
	scfg := serverConfigFor(t, pair)
	scfg.NoRenegotiationInfo = true
	c, s := handshakePair(t, tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS), scfg)
	require.NoError(t, c.err)
	require.NoError(t, s.err)
	assert.False(t, c.conn.ConnectionState().SecureRenegotiation)
	assert.True(t, s.conn.ConnectionState().SecureRenegotiation)
	exchange(t, c.conn, s.conn, []byte("ping"), []byte("pong"))
}
