package tlspsk

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

var hostileKey = amt.NewSecret("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ")

func hostileClientConfig() *Config { return &Config{Identity: []byte("0000037M"), Key: hostileKey} }

func hostileServerConfig() *Config {
	return &Config{GetKey: func(context.Context, []byte) (amt.Secret, error) { return hostileKey, nil }}
}

// hostileTCP returns both ends of a loopback TCP connection, closed at cleanup.
func hostileTCP(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	cc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	sc := <-ch
	require.NotNil(t, sc)
	t.Cleanup(func() { cc.Close(); sc.Close() })
	return cc, sc
}

// hostilePipePair returns a handshaked client/server pair over net.Pipe (writes
// block until the other side reads, as over a full TCP window).
func hostilePipePair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	cc, sc := net.Pipe()
	c, s := Client(cc, hostileClientConfig()), Server(sc, hostileServerConfig())
	t.Cleanup(func() { cc.Close(); sc.Close() })
	errc := make(chan error, 1)
	go func() { errc <- s.HandshakeContext(context.Background()) }()
	require.NoError(t, c.HandshakeContext(context.Background()))
	require.NoError(t, <-errc)
	return c, s
}

// HandshakeContext's ctx bounds its wait for a handshake another goroutine
// runs (the implicit one of a Read): it armed ctx only after that wait, and
// hung for good against a peer that never answers.
func TestHandshakeContextHonoursCtxWhileAnotherHandshakeRuns(t *testing.T) {
	c := handshakeStuckOnSilentPeer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.HandshakeContext(ctx) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(3 * time.Second):
		t.Fatal("HandshakeContext(ctx with a 100 ms deadline) still blocked after 3 s: ctx is ignored while another handshake holds handshakeMu")
	}
}

// A ctx that is already done closes the connection and the failure sticks,
// as documented ("the underlying connection closed", "A failed handshake
// fails every later call with the same error"): a later Write ran a fresh,
// unbounded handshake.
func TestPreCancelledContextClosesAndSticks(t *testing.T) {
	cc, sc := hostileTCP(t)
	c, s := Client(cc, hostileClientConfig()), Server(sc, hostileServerConfig())
	go func() { _ = s.HandshakeContext(context.Background()); _, _ = io.Copy(io.Discard, s) }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.HandshakeContext(ctx), context.Canceled)

	_, err := c.Write([]byte("after a failed handshake"))
	require.ErrorIs(t, err, context.Canceled, "the failed handshake must stick and the connection must be closed")
}

// Nothing is sent after close_notify (RFC 5246 §7.2.1): a HelloRequest read
// after CloseWrite made Read send a no_renegotiation alert.
func TestNoRecordAfterCloseNotify(t *testing.T) {
	c, s := connectedPair(t, VersionTLS12)
	require.NoError(t, c.CloseWrite())
	_, err := s.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF) // the server saw our close_notify

	writeRecords(t, s, hs(marshalEmpty(typeHelloRequest)), appData("x"))
	buf := make([]byte, 1)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)

	require.NoError(t, s.NetConn().SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	after, _ := io.ReadAll(s.NetConn())
	assert.Empty(t, after, "the client sent %d bytes (record type %v) after its close_notify", len(after), firstByte(after))
}

func firstByte(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b[0]
}

// Read's deadline bounds the no_renegotiation answer it owes a peer that
// asked and then stopped reading: Read blocked in that write for good.
func TestReadDeadlineBoundsRenegotiationAnswer(t *testing.T) {
	c, s := hostilePipePair(t)
	go sendHelloRequest(s) // one; then the peer never reads
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(3 * time.Second):
		t.Fatal("Read with a 200 ms read deadline still blocked after 3 s (writing no_renegotiation to a peer that does not read)")
	}
}

// A CipherSuites list with repeats offers each suite once: 33,000 entries
// overflowed the ClientHello's two-byte length and panicked.
func TestRepeatedCipherSuitesOfferedOnce(t *testing.T) {
	cc, sc := net.Pipe()
	t.Cleanup(func() { cc.Close(); sc.Close() })
	cfg := hostileClientConfig()
	cfg.CipherSuites = make([]uint16, 33000)
	for i := range cfg.CipherSuites {
		cfg.CipherSuites[i] = TLS_PSK_WITH_AES_128_CBC_SHA
	}
	c, s := Client(cc, cfg), Server(sc, hostileServerConfig())
	errc := make(chan error, 1)
	go func() { errc <- s.HandshakeContext(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx))
	require.NoError(t, <-errc)
	assert.Equal(t, TLS_PSK_WITH_AES_128_CBC_SHA, c.ConnectionState().CipherSuite)
}

// A HelloRequest between ServerHelloDone and the server's ChangeCipherSpec is
// ignored, as everywhere else in the handshake (RFC 5246 §7.4.1.1); it ended
// the handshake with unexpected_message.
func TestHelloRequestBeforeServerCCSIgnored(t *testing.T) {
	helloRequest := append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeHelloRequest)...)
	done := append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeServerHelloDone)...)
	var in []byte
	for _, r := range [][]byte{serverHelloRecord(), done, helloRequest} {
		in = append(in, r...)
	}
	c := Client(&fuzzConn{in: bytes.NewReader(in)}, &Config{Identity: []byte("0000037M"), Key: hostileKey, Rand: zeroReader{}})
	err := c.HandshakeContext(context.Background())
	assert.NotErrorIs(t, err, ErrUnexpectedMessage, "the HelloRequest must be ignored; the handshake should end only at EOF")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// A large Write is sent as it is encrypted, and the connection does not keep
// a buffer its size: one 32 MiB Write left 38 MiB behind.
func TestWriteDoesNotKeepWholePayload(t *testing.T) {
	c, s := connectedPair(t, VersionTLS12)
	const size = 32 << 20
	go func() { _, _ = io.CopyN(io.Discard, s, size) }()
	_, err := c.Write(make([]byte, size))
	require.NoError(t, err)
	c.out.Lock()
	retained := cap(c.sendBuf)
	c.out.Unlock()
	assert.Less(t, retained, 1<<20, "after one %d MiB Write the connection keeps a %d MiB send buffer", size>>20, retained>>20)
}

// sendHelloRequest writes one HelloRequest from s, the server.
func sendHelloRequest(s *Conn) {
	s.out.Lock()
	s.appendRecord(recordHandshake, marshalEmpty(typeHelloRequest))
	_ = s.flush()
	s.out.Unlock()
}

// handshakeStuckOnSilentPeer returns a client whose implicit handshake (a
// Read's, under context.Background()) holds the handshake lock, waiting on a
// peer that read the ClientHello and never answers.
func handshakeStuckOnSilentPeer(t *testing.T) *Conn {
	cc, sc := hostileTCP(t)
	helloSent := make(chan struct{})
	go func() {
		b := make([]byte, 1)
		if _, err := sc.Read(b); err == nil {
			close(helloSent)
		}
		_, _ = io.Copy(io.Discard, sc)
	}()
	c := Client(cc, hostileClientConfig())
	go func() { _, _ = c.Read(make([]byte, 1)) }()
	<-helloSent
	return c
}
