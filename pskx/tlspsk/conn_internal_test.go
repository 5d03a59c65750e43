package tlspsk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

func connectedPair(t testing.TB, vers uint16) (*Conn, *Conn) {
	t.Helper()
	cc, sc := hostileTCP(t)
	key := amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ")
	c := Client(cc, &Config{Identity: []byte("0000037M"), Key: key, MaxVersion: vers})
	s := Server(sc, &Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return key, nil }})
	t.Cleanup(func() { c.Close(); s.Close() })
	errc := make(chan error, 1)
	go func() { errc <- s.HandshakeContext(context.Background()) }()
	require.NoError(t, c.HandshakeContext(context.Background()))
	require.NoError(t, <-errc)
	return c, s
}

// inject writes a handshake message through c's record layer, as a peer that
// wants to renegotiate would.
func inject(t *testing.T, c *Conn, msg []byte) {
	c.out.Lock()
	defer c.out.Unlock()
	c.appendHandshake(msg)
	require.NoError(t, c.flush())
}

func TestRenegotiationIsRefused(t *testing.T) {
	for _, vers := range []uint16{VersionTLS10, VersionTLS12} {
		c, s := connectedPair(t, vers)

		// The server asks for renegotiation: the client answers no_renegotiation
		// (a warning), which the server ignores, and both carry on.
		inject(t, s, marshalEmpty(typeHelloRequest))
		_, err := s.Write([]byte("data after HelloRequest"))
		require.NoError(t, err)
		buf := make([]byte, 23)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		assert.Equal(t, "data after HelloRequest", string(buf))

		// The client sends a new ClientHello: refused the same way.
		hello := (&clientHelloMsg{vers: VersionTLS12, random: make([]byte, 32), sessionID: []byte{}, cipherSuites: []uint16{0x8c}, compressionMethods: []uint8{0}}).marshal()
		inject(t, c, hello)
		_, err = c.Write([]byte("data after ClientHello"))
		require.NoError(t, err)
		buf = make([]byte, 22)
		_, err = io.ReadFull(s, buf)
		require.NoError(t, err)
		assert.Equal(t, "data after ClientHello", string(buf))
		// The server's no_renegotiation reached the client and was ignored there.
		_, err = s.Write([]byte("ok"))
		require.NoError(t, err)
		_, err = io.ReadFull(c, buf[:2])
		require.NoError(t, err)

		// Any other handshake message after the handshake is fatal.
		inject(t, s, (&finishedMsg{verifyData: make([]byte, 12)}).marshal())
		_, err = c.Read(buf)
		require.ErrorIs(t, err, ErrUnexpectedMessage)
		require.ErrorIs(t, err, AlertUnexpectedMessage)
	}
}

func TestTooManyWarningsOrEmptyRecords(t *testing.T) {
	c, s := connectedPair(t, VersionTLS12)
	s.out.Lock()
	for range maxUselessRecords + 1 {
		s.appendRecord(recordApplicationData, nil)
	}
	require.NoError(t, s.flush())
	s.out.Unlock()
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, ErrUnexpectedMessage)
}

func TestFatalAlertFromPeer(t *testing.T) {
	c, s := connectedPair(t, VersionTLS11)
	s.out.Lock()
	_ = s.sendAlertLocked(AlertInternalError)
	s.out.Unlock()
	_, err := c.Read(make([]byte, 1))
	var ae *AlertError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.Remote)
	assert.Equal(t, AlertInternalError, ae.Alert)
	_, err = s.Write([]byte("x"))
	assert.ErrorIs(t, err, AlertInternalError, "a fatal alert ends the writer too")
}

func TestUnexpectedCCSAndEarlyData(t *testing.T) {
	c, s := connectedPair(t, VersionTLS12)
	s.out.Lock()
	s.appendRecord(recordChangeCipherSpec, []byte{1})
	require.NoError(t, s.flush())
	s.out.Unlock()
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, ErrUnexpectedMessage)

	// Application data before the handshake.
	cc, sc := net.Pipe()
	defer cc.Close()
	go func() { _, _ = cc.Write([]byte{23, 3, 1, 0, 1, 'x'}); _, _ = io.Copy(io.Discard, cc) }()
	srv := Server(sc, &Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return amt.NewSecret("k"), nil }})
	err = srv.HandshakeContext(context.Background())
	require.ErrorIs(t, err, ErrUnexpectedMessage)
}

// fuzzConn serves fuzz input to a handshake: reads return the input, then EOF;
// writes are discarded.
type fuzzConn struct {
	in *bytes.Reader
}

func (f *fuzzConn) Read(b []byte) (int, error)         { return f.in.Read(b) }
func (f *fuzzConn) Write(b []byte) (int, error)        { return len(b), nil }
func (f *fuzzConn) Close() error                       { return nil }
func (f *fuzzConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (f *fuzzConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (f *fuzzConn) SetDeadline(t time.Time) error      { return nil }
func (f *fuzzConn) SetReadDeadline(t time.Time) error  { return nil }
func (f *fuzzConn) SetWriteDeadline(t time.Time) error { return nil }

// serverFlight is a plausible server answer: ServerHello (TLS 1.0, AES128-SHA,
// renegotiation_info) and ServerHelloDone in one record.
func serverFlight() []byte {
	sh := (&serverHelloMsg{vers: VersionTLS10, random: make([]byte, 32), sessionID: []byte{}, cipherSuite: 0x8c, extensions: []extension{{typ: extRenegotiationInfo, data: []byte{0}}}}).marshal()
	msgs := append(sh, marshalEmpty(typeServerHelloDone)...)
	return append([]byte{22, 3, 1, 0, byte(len(msgs))}, msgs...)
}

func clientFlight() []byte {
	ch := (&clientHelloMsg{vers: VersionTLS12, random: make([]byte, 32), sessionID: []byte{}, cipherSuites: []uint16{0x8c, 0xff}, compressionMethods: []uint8{0}}).marshal()
	cke := (&clientKeyExchangeMsg{identity: []byte("0000037M")}).marshal()
	out := append([]byte{22, 3, 1, 0, byte(len(ch))}, ch...)
	out = append(out, 22, 3, 3, 0, byte(len(cke)))
	out = append(out, cke...)
	return append(out, 20, 3, 3, 0, 1, 1)
}

func FuzzClientHandshakeInput(f *testing.F) {
	f.Add(serverFlight())
	f.Add(append(serverFlight(), 20, 3, 1, 0, 1, 1, 22, 3, 1, 0, 16))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := Client(&fuzzConn{in: bytes.NewReader(in)}, &Config{Identity: []byte("0000037M"), Key: amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"), Rand: zeroReader{}})
		err := c.HandshakeContext(context.Background())
		require.Error(t, err, "random bytes cannot complete a handshake with a MAC-checked Finished")
	})
}

func FuzzServerHandshakeInput(f *testing.F) {
	f.Add(clientFlight())
	f.Fuzz(func(t *testing.T, in []byte) {
		s := Server(&fuzzConn{in: bytes.NewReader(in)}, &Config{Rand: zeroReader{}, GetKey: func(_ context.Context, id []byte) (amt.Secret, error) {
			if len(id) == 0 {
				return amt.Secret{}, ErrUnknownIdentity
			}
			return amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"), nil
		}})
		err := s.HandshakeContext(context.Background())
		require.Error(t, err)
		require.False(t, errors.Is(err, context.Canceled))
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestServerClientHelloChecks(t *testing.T) {
	hello := func(vers uint16, suites []uint16, comp []uint8, exts []extension) []byte {
		ch := (&clientHelloMsg{vers: vers, random: make([]byte, 32), sessionID: []byte{}, cipherSuites: suites, compressionMethods: comp, extensions: exts}).marshal()
		return append([]byte{22, 3, 1, byte(len(ch) >> 8), byte(len(ch))}, ch...)
	}
	tests := []struct {
		name  string
		in    []byte
		alert Alert
		err   error
	}{
		{"fallback SCSV below our maximum", hello(VersionTLS11, []uint16{0x8c, scsvFallback}, []uint8{0}, nil), AlertInappropriateFallback, ErrVersion},
		{"SSL 3.0 client", hello(0x0300, []uint16{0x8c}, []uint8{0}, nil), AlertProtocolVersion, ErrVersion},
		{"no null compression", hello(VersionTLS12, []uint16{0x8c}, []uint8{1}, nil), AlertIllegalParameter, nil},
		{"renegotiation_info not empty", hello(VersionTLS12, []uint16{0x8c}, []uint8{0}, []extension{{typ: extRenegotiationInfo, data: []byte{1, 9}}}), AlertHandshakeFailure, ErrRenegotiation},
		{"renegotiation_info malformed", hello(VersionTLS12, []uint16{0x8c}, []uint8{0}, []extension{{typ: extRenegotiationInfo, data: []byte{}}}), AlertDecodeError, nil},
		{"only non-PSK suites", hello(VersionTLS12, []uint16{0x2f, 0x35}, []uint8{0}, nil), AlertHandshakeFailure, ErrNoCommonSuite},
		{"malformed ClientHello", []byte{22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3}, AlertDecodeError, nil},
		{"ServerHelloDone sent to a server", append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeServerHelloDone)...), AlertUnexpectedMessage, ErrUnexpectedMessage},
		{"oversized handshake message", []byte{22, 3, 1, 0, 4, 1, 0x02, 0, 0}, AlertDecodeError, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Server(&fuzzConn{in: bytes.NewReader(tc.in)}, &Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return amt.NewSecret("k"), nil }})
			err := s.HandshakeContext(context.Background())
			var ae *AlertError
			require.ErrorAs(t, err, &ae)
			assert.False(t, ae.Remote)
			assert.Equal(t, tc.alert, ae.Alert)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
			}
		})
	}
}

// writeRecords plays a hostile peer: it writes the given records through p's
// record layer (protected with p's keys) exactly as listed, one record each.
func writeRecords(t *testing.T, p *Conn, recs ...rawRecord) {
	t.Helper()
	p.out.Lock()
	defer p.out.Unlock()
	for _, r := range recs {
		p.appendRecord(r.typ, r.data)
	}
	require.NoError(t, p.flush())
}

type rawRecord struct {
	typ  recordType
	data []byte
}

func hs(b []byte) rawRecord      { return rawRecord{recordHandshake, b} }
func appData(s string) rawRecord { return rawRecord{recordApplicationData, []byte(s)} }

// Issue 15 (i): application data interleaved with the fragments of a
// post-handshake message (RFC 5246 §6.2.1 allows records of different types to
// interleave) is delivered, in order, on both sides.
func TestDataInterleavedWithFragmentedPostHandshakeMessage(t *testing.T) {
	const want = "one two three four"
	hello := (&clientHelloMsg{vers: VersionTLS12, random: make([]byte, 32), sessionID: []byte{}, cipherSuites: []uint16{0x8c}, compressionMethods: []uint8{0}}).marshal()
	for _, vers := range []uint16{VersionTLS10, VersionTLS12} {
		t.Run(VersionName(vers)+" HelloRequest to the client", func(t *testing.T) {
			c, s := connectedPair(t, vers)
			writeRecords(t, s,
				hs([]byte{typeHelloRequest}), appData("one "), appData("two "),
				hs([]byte{0, 0}), appData("three "), hs([]byte{0}), appData("four"))
			require.NoError(t, s.CloseWrite())
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			assert.Equal(t, want, string(got))
			// The client declined with a no_renegotiation warning, which the
			// server ignores; then close_notify.
			require.NoError(t, c.CloseWrite())
			got, err = io.ReadAll(s)
			require.NoError(t, err)
			assert.Empty(t, got)
		})
		t.Run(VersionName(vers)+" ClientHello to the server", func(t *testing.T) {
			c, s := connectedPair(t, vers)
			writeRecords(t, c,
				hs(hello[:3]), appData("one "), appData("two "),
				hs(hello[3:10]), appData("three "), hs(hello[10:]), appData("four"))
			require.NoError(t, c.CloseWrite())
			got, err := io.ReadAll(s)
			require.NoError(t, err)
			assert.Equal(t, want, string(got))
		})
	}
}

// floodConn answers every Read with whole copies of rec (after an optional
// prefix) until it is closed, and discards writes: a peer that never stops
// sending.
type floodConn struct {
	fuzzConn
	prefix []byte
	rec    []byte
	served int // copies of rec handed out
	buf    []byte
	closed atomic.Bool
}

func (f *floodConn) Close() error { f.closed.Store(true); return nil }

func (f *floodConn) Read(b []byte) (int, error) {
	if f.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(f.buf) == 0 {
		if f.prefix != nil {
			f.buf, f.prefix = f.prefix, nil
		} else {
			f.buf = f.rec
			f.served++
		}
	}
	n := copy(b, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

// Issue 15 (ii): a HelloRequest during the handshake is ignored (RFC 5246
// §7.4.1.1), but a flood of them ends the handshake with unexpected_message
// after a few instead of reading until the context ends. A server never
// accepts one.
func TestHelloRequestFloodDuringHandshake(t *testing.T) {
	helloRequest := append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeHelloRequest)...)
	key := amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ")
	tests := []struct {
		name   string
		client bool
		prefix []byte
	}{
		{"client, before ServerHello", true, nil},
		{"client, after ServerHello", true, serverHelloRecord()},
		{"server, before ClientHello", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &floodConn{prefix: tt.prefix, rec: helloRequest}
			var c *Conn
			if tt.client {
				c = Client(f, &Config{Identity: []byte("0000037M"), Key: key, Rand: zeroReader{}})
			} else {
				c = Server(f, &Config{Rand: zeroReader{}, GetKey: func(context.Context, []byte) (amt.Secret, error) { return key, nil }})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := c.HandshakeContext(ctx)
			require.Error(t, err)
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "the flood must end the handshake, not the context (%d HelloRequests read)", f.served)
			assert.ErrorIs(t, err, ErrUnexpectedMessage)
			assert.ErrorIs(t, err, AlertUnexpectedMessage)
			assert.Less(t, f.served, 10)
		})
	}
}

func serverHelloRecord() []byte {
	sh := (&serverHelloMsg{vers: VersionTLS10, random: make([]byte, 32), sessionID: []byte{}, cipherSuite: 0x8c}).marshal()
	return append([]byte{22, 3, 1, 0, byte(len(sh))}, sh...)
}

// A HelloRequest during the handshake is ignored: with one before the
// ServerHello and one before the ServerHelloDone, the client goes on to send its
// Finished and then meets the end of the input.
func TestHelloRequestDuringHandshakeIsIgnored(t *testing.T) {
	helloRequest := append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeHelloRequest)...)
	done := append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeServerHelloDone)...)
	var in []byte
	for _, r := range [][]byte{helloRequest, serverHelloRecord(), helloRequest, done} {
		in = append(in, r...)
	}
	c := Client(&fuzzConn{in: bytes.NewReader(in)}, &Config{Identity: []byte("0000037M"), Key: amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"), Rand: zeroReader{}})
	err := c.HandshakeContext(context.Background())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.NotErrorIs(t, err, ErrUnexpectedMessage)
}

// After the handshake, each refused renegotiation counts as a useless record:
// a peer that keeps asking ends the connection instead of keeping Read busy
// (before, every handshake record reset the count).
func TestHelloRequestFloodAfterHandshake(t *testing.T) {
	c, s := connectedPair(t, VersionTLS12)
	recs := make([]rawRecord, maxUselessRecords+1)
	for i := range recs {
		recs[i] = hs(marshalEmpty(typeHelloRequest))
	}
	writeRecords(t, s, recs...)
	require.NoError(t, s.CloseWrite())
	_, err := io.ReadAll(c)
	require.ErrorIs(t, err, ErrUnexpectedMessage)
	require.ErrorIs(t, err, AlertUnexpectedMessage)
}
