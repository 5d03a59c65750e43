package tlspsk

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A HelloRequest read after the read deadline passed goes unanswered (the
// answer is optional): answering under that past deadline timed out and
// ended the write side for good.
func TestExpiredReadDeadlineDoesNotKillWrites(t *testing.T) {
	c, s := connectedPair(t, VersionTLS12)
	writeRecords(t, s, appData("x"), hs(marshalEmpty(typeHelloRequest))) // one TCP write: both records arrive together
	buf := make([]byte, 1)
	_, err := c.Read(buf) // "x"; the HelloRequest record stays buffered
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second))) // the caller worked; its read deadline passed
	_, err = c.Read(buf)
	require.Error(t, err) // a read timeout: fine, "a later Read resumes"
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	go func() { _, _ = io.Copy(io.Discard, s) }()
	_, err = c.Write([]byte("still usable?"))
	require.NoError(t, err, "the write side is dead after a read deadline passed")
}

// deadlineConn records the last write deadline set; onWrite runs once, inside the next Write.
type deadlineConn struct {
	net.Conn
	mu      sync.Mutex
	wd      time.Time
	onWrite func()
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.mu.Lock()
	d.wd = t
	d.mu.Unlock()
	return d.Conn.SetWriteDeadline(t)
}
func (d *deadlineConn) Write(b []byte) (int, error) {
	d.mu.Lock()
	f := d.onWrite
	d.onWrite = nil
	d.mu.Unlock()
	if f != nil {
		f()
	}
	return d.Conn.Write(b)
}

// A write deadline another goroutine sets while Read answers a renegotiation
// request is kept (the answer restored the one it had seen before).
func TestConcurrentSetWriteDeadlineNotLost(t *testing.T) {
	cc, sc := hostileTCP(t)
	dc := &deadlineConn{Conn: cc}
	c, srv := Client(dc, hostileClientConfig()), Server(sc, hostileServerConfig())
	go func() { _ = srv.HandshakeContext(t.Context()) }()
	require.NoError(t, c.HandshakeContext(t.Context()))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Hour)))
	want := time.Now().Add(time.Minute)
	set := make(chan struct{})
	dc.mu.Lock()
	dc.onWrite = func() { // another goroutine sets a write deadline while Read sends no_renegotiation
		go func() { _ = c.SetWriteDeadline(want); close(set) }()
	}
	dc.mu.Unlock()
	writeRecords(t, srv, hs(marshalEmpty(typeHelloRequest)), appData("x"))
	_, err := c.Read(make([]byte, 1))
	require.NoError(t, err)
	<-set
	dc.mu.Lock()
	defer dc.mu.Unlock()
	require.True(t, dc.wd.Equal(want), "the underlying write deadline is %v, not the %v the caller set", dc.wd, want)
}

// Read returns at its deadline while a Write blocks the write side: the
// renegotiation answer is skipped rather than waited for.
func TestReadDeadlineBoundsAnswerDuringWrite(t *testing.T) {
	c, s := hostilePipePair(t)
	go func() { _, _ = c.Write(make([]byte, 1<<20)) }() // the peer never reads: Write blocks holding out
	for c.out.TryLock() {                               // until the Write holds the write side
		c.out.Unlock()
		runtime.Gosched()
	}
	go sendHelloRequest(s)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Read with a 200 ms deadline still blocked after 3 s: it waits for out, held by a blocked Write")
	}
}

// After a failed handshake, a call with a context already done gets the
// handshake's own error, not the context's.
func TestFailedHandshakeErrorSticksUnderDoneCtx(t *testing.T) {
	cc, sc := hostileTCP(t)
	sc.Close() // the peer goes away: the handshake fails
	c := Client(cc, hostileClientConfig())
	first := c.HandshakeContext(context.Background())
	require.Error(t, first)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Equal(t, first.Error(), c.HandshakeContext(ctx).Error(), "the failed handshake's error did not stick")
}

// HelloRequests before the server's ChangeCipherSpec count toward the
// handshake's limit of maxHelloRequests.
func TestHelloRequestsBeforeServerCCSCountedAsHelloRequests(t *testing.T) {
	helloRequest := append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeHelloRequest)...)
	in := append(serverHelloRecord(), append([]byte{22, 3, 1, 0, 4}, marshalEmpty(typeServerHelloDone)...)...)
	for range maxHelloRequests + 1 {
		in = append(in, helloRequest...)
	}
	c := Client(&fuzzConn{in: bytes.NewReader(in)}, &Config{Identity: []byte("0000037M"), Key: hostileKey, Rand: zeroReader{}})
	err := c.HandshakeContext(context.Background())
	require.ErrorIs(t, err, ErrUnexpectedMessage, "%d HelloRequests before the server's CCS were all ignored", maxHelloRequests+1)
}
