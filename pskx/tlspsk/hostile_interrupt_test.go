package tlspsk

import (
	"context"
	"github.com/stretchr/testify/require"
	"net"
	"testing"
	"time"
)

// Read answers a HelloRequest with no read deadline set and the peer does not
// read (net.Pipe: the alert write blocks). The usual way to abort a blocked
// Read — SetDeadline in the past from another goroutine, as wsman's serial
// transport does when the call's context ends — returns at once and makes
// Read return (it blocked while the answer held the deadlines' lock).
func TestSetDeadlineInterruptsRenegotiationAnswer(t *testing.T) {
	cc, sc := net.Pipe()
	t.Cleanup(func() { cc.Close(); sc.Close() })
	writing := &writeSignal{Conn: cc, started: make(chan struct{}, 64)}
	c, s := Client(writing, hostileClientConfig()), Server(sc, hostileServerConfig())
	errc := make(chan error, 1)
	go func() { errc <- s.HandshakeContext(context.Background()) }()
	require.NoError(t, c.HandshakeContext(context.Background()))
	require.NoError(t, <-errc)
	for len(writing.started) > 0 {
		<-writing.started // the handshake's writes
	}
	go sendHelloRequest(s) // the peer asks for renegotiation, then stops reading
	readDone := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); readDone <- err }()
	<-writing.started // Read writes no_renegotiation into the pipe nobody reads

	setDone := make(chan struct{})
	go func() { _ = c.SetDeadline(time.Unix(1, 0)); close(setDone) }()
	select {
	case <-setDone:
	case <-time.After(2 * time.Second):
		t.Fatal("SetDeadline blocked for 2 s: alertFromRead holds deadlineMu during an unbounded write")
	}
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
		t.Fatal("Read not interrupted by SetDeadline in the past")
	}
}

// HandshakeContext with a ctx already cancelled, while another goroutine's
// (implicit) handshake runs: the ctx closes the connection and so fails that
// handshake, and the answer is the context's error (errors.Is
// context.Canceled), not the closed connection's.
func TestPreCancelledCtxDuringOtherHandshakeReportsCtx(t *testing.T) {
	c := handshakeStuckOnSilentPeer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.HandshakeContext(ctx)
	require.ErrorIs(t, err, context.Canceled, "got %v", err)
}

// writeSignal reports each Write on the connection as it starts.
type writeSignal struct {
	net.Conn
	started chan struct{}
}

func (w *writeSignal) Write(b []byte) (int, error) {
	w.started <- struct{}{}
	return w.Conn.Write(b)
}
