package apf_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
)

// The MPS's side of CIRA is a Session over a StreamTransport, which anyone on
// the network reaches: these tests play a hostile device against it.

// streamPeer is a device on the other end of a StreamTransport that a Session
// serves as the MPS.
type streamPeer struct {
	t  *testing.T
	st *apf.StreamTransport
}

func (p streamPeer) send(ms ...apf.Message) {
	p.t.Helper()
	for _, m := range ms {
		b, err := apf.Encode(m)
		require.NoError(p.t, err)
		require.NoError(p.t, p.st.WriteMessage(context.Background(), b))
	}
}

func (p streamPeer) recv() apf.Message {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := p.st.ReadMessage(ctx)
	require.NoError(p.t, err)
	m, err := apf.Decode(b)
	require.NoError(p.t, err)
	return m
}

type sessionResult struct {
	s   *apf.Session
	err error
}

// mpsSession starts a Session with cfg over a stream whose other end the
// returned peer holds, and reads the session's PROTOCOL_VERSION.
func mpsSession(t *testing.T, cfg apf.Config) (<-chan sessionResult, streamPeer) {
	t.Helper()
	return mpsSessionOver(t, cfg, nil)
}

// mpsSessionOver is mpsSession with the session's end of the stream wrapped.
func mpsSessionOver(t *testing.T, cfg apf.Config, wrap func(net.Conn) net.Conn) (<-chan sessionResult, streamPeer) {
	t.Helper()
	a, b := net.Pipe()
	if wrap != nil {
		a = wrap(a)
	}
	p := streamPeer{t: t, st: apf.NewStreamTransport(b, 0)}
	t.Cleanup(func() { p.st.Close() })
	if cfg.ForwardQuiet == 0 {
		cfg.ForwardQuiet = -1
	}
	res := make(chan sessionResult, 1)
	go func() {
		s, err := apf.NewSession(context.Background(), apf.NewStreamTransport(a, 0), cfg)
		if s != nil {
			// The peer goes first: Close's DISCONNECT would wait a second
			// for a reader on the synchronous pipe.
			t.Cleanup(func() { b.Close(); s.Close() })
		}
		res <- sessionResult{s, err}
	}()
	require.Equal(t, apf.ProtocolVersion{Major: 1}, p.recv())
	return res, p
}

// forwardUp plays a pre-authenticated device A up to a forwarded 16992 and
// returns the session NewSession made.
func forwardUp(t *testing.T, res <-chan sessionResult, p streamPeer) sessionResult {
	t.Helper()
	p.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
		apf.ServiceRequest{Service: apf.ServicePortForwarding})
	require.Equal(t, apf.ServiceAccept{Service: apf.ServicePortForwarding}, p.recv())
	p.st.ExpectRequestSuccess(4)
	p.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 16992})
	r := <-res
	require.NoError(t, r.err)
	p.recv() // the forward's reply
	p.st.ExpectRequestSuccess(0)
	return r
}

// onlyPassword accepts the password "right" for device A.
func onlyPassword(peer apf.ProtocolVersion, r apf.UserAuthRequest) error {
	if peer.UUID != uuidA || !r.Password.Equal(amt.NewSecret("right")) {
		return errors.New("wrong credentials")
	}
	return nil
}

var (
	uuidA = amt.UUID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	uuidB = amt.UUID{0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

func authAs(pw string) apf.UserAuthRequest {
	return apf.UserAuthRequest{User: "dev", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret(pw)}
}

// A Session over a stream answered every USERAUTH_REQUEST with success, as
// LMS does on the LME: an MPS built on it authenticated nobody. It now
// refuses to start without a way to authenticate.
func TestStreamSessionNeedsAnAuthenticator(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	_, err := apf.NewSession(context.Background(), apf.NewStreamTransport(a, 0), apf.Config{})
	require.ErrorIs(t, err, apf.ErrNoAuthentication)
	assert.Contains(t, err.Error(), "Config.Authenticate")
}

func TestStreamSessionChecksCredentials(t *testing.T) {
	t.Run("wrong password refused, right one accepted", func(t *testing.T) {
		res, p := mpsSession(t, apf.Config{Authenticate: onlyPassword})
		p.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
			apf.ServiceRequest{Service: apf.ServiceAuth})
		require.Equal(t, apf.ServiceAccept{Service: apf.ServiceAuth}, p.recv())
		p.send(authAs("anything"))
		require.Equal(t, apf.UserAuthFailure{Methods: apf.MethodPassword}, p.recv())
		p.send(authAs("right"))
		require.Equal(t, apf.UserAuthSuccess{}, p.recv())
		p.send(apf.ServiceRequest{Service: apf.ServicePortForwarding})
		require.Equal(t, apf.ServiceAccept{Service: apf.ServicePortForwarding}, p.recv())
		p.st.ExpectRequestSuccess(4)
		p.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 16992})
		r := <-res
		require.NoError(t, r.err)
		assert.Equal(t, uuidA, r.s.Peer().UUID)
	})
	t.Run("port forwarding before authentication", func(t *testing.T) {
		res, p := mpsSession(t, apf.Config{Authenticate: onlyPassword})
		p.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
			apf.ServiceRequest{Service: apf.ServicePortForwarding})
		assert.Equal(t, apf.Disconnect{Reason: apf.DisconnectNoMoreAuthMethods}, p.recv())
		r := <-res
		require.ErrorIs(t, r.err, apf.ErrProtocol)
	})
	t.Run("a verified client certificate is enough", func(t *testing.T) {
		res, p := mpsSession(t, apf.Config{PreAuthenticated: true})
		p.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
			apf.ServiceRequest{Service: apf.ServicePortForwarding})
		require.Equal(t, apf.ServiceAccept{Service: apf.ServicePortForwarding}, p.recv())
		p.st.ExpectRequestSuccess(4)
		p.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 16993})
		require.NoError(t, (<-res).err)
	})
}

// A device that authenticated as A and then sends a PROTOCOL_VERSION naming
// B must not become B (MeshCentral's mpsserver.js fixes the device at
// USERAUTH): the session ends with a protocol error.
func TestSessionKeepsThePeerItAuthenticated(t *testing.T) {
	res, p := mpsSession(t, apf.Config{Authenticate: onlyPassword})
	p.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
		authAs("right"))
	require.Equal(t, apf.UserAuthSuccess{}, p.recv())
	p.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidB})
	assert.Equal(t, apf.Disconnect{Reason: apf.DisconnectProtocolError}, p.recv())
	r := <-res
	require.ErrorIs(t, r.err, apf.ErrProtocol)
	assert.Contains(t, r.err.Error(), "UUID changed")
}

// A peer that goes silent is dropped after Config.IdleTimeout (steps of a
// quarter, on the injected Sleep); halfway the session asks it for a
// keep-alive, which a live device answers (AMT sends its own only at the
// interval an MPS set), and any message resets the count.
func TestSessionIdleTimeout(t *testing.T) {
	const idle = time.Hour
	ticks := make(chan struct{})
	sleep := func(ctx context.Context, d time.Duration) error {
		if d != idle/4 {
			return ctx.Err()
		}
		select {
		case <-ticks:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	res, p := mpsSession(t, apf.Config{PreAuthenticated: true, IdleTimeout: idle, Sleep: sleep})
	r := forwardUp(t, res, p)

	tick := func() {
		select {
		case ticks <- struct{}{}:
		case <-r.s.Done():
			t.Fatalf("the session ended early: %v", r.s.Err())
		}
	}
	// heard makes sure the session has read what the device sent: it
	// answers a keep-alive only after it counted it.
	heard := func(cookie uint32) {
		p.send(apf.KeepAliveRequest{Cookie: cookie})
		require.Equal(t, apf.KeepAliveReply{Cookie: cookie}, p.recv())
	}
	tick() // the window of the handshake's messages
	tick()
	tick() // two quiet quarters: the session asks
	require.Equal(t, apf.KeepAliveRequest{Cookie: 1}, p.recv())
	p.send(apf.KeepAliveReply{Cookie: 1}) // a live device answers
	heard(100)
	tick() // the window with the answer: the count starts again
	for range 3 {
		tick()
	}
	require.Equal(t, apf.KeepAliveRequest{Cookie: 2}, p.recv(), "asked again after two quiet quarters")
	require.Nil(t, r.s.Err(), "three quiet quarters are not the timeout")
	tick() // the device did not answer: four quiet quarters
	assert.Equal(t, apf.Disconnect{Reason: apf.DisconnectConnectionLost}, p.recv())
	<-r.s.Done()
	assert.ErrorIs(t, r.s.Err(), apf.ErrIdle)
}

// A device guessing passwords on one connection gets three tries.
func TestStreamSessionEndsAfterThreeRefusedLogins(t *testing.T) {
	res, p := mpsSession(t, apf.Config{Authenticate: onlyPassword})
	p.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA})
	for range 2 {
		p.send(authAs("guess"))
		require.Equal(t, apf.UserAuthFailure{Methods: apf.MethodPassword}, p.recv())
	}
	p.send(authAs("guess"))
	assert.Equal(t, apf.Disconnect{Reason: apf.DisconnectNoMoreAuthMethods}, p.recv())
	require.ErrorIs(t, (<-res).err, apf.ErrProtocol)
}

// The forwarded ports are bounded: a port that is not a TCP port, and a
// forward beyond the bound, get REQUEST_FAILURE and no memory.
func TestForwardTableBounded(t *testing.T) {
	s, f := handshake(t, apf.Config{})
	addr := strings.Repeat("a", apf.MaxStringLength)
	f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: addr, Port: 70000})
	assert.Equal(t, apf.RequestFailure{}, f.recv())
	for i := range 100 {
		f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: addr, Port: uint32(20000 + i)})
		f.recv()
	}
	require.NoError(t, s.Err())
	assert.LessOrEqual(t, len(s.Ports()), 32)
	f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 16992})
	assertSame(t, apf.TCPForwardSuccess(16992), f.recv()) // one already forwarded is answered as before
}

// net.Conn: Close unblocks a blocked Write, and a deadline applies to pending
// I/O. A Channel.Write blocked in the transport (the peer stopped reading)
// was released by neither, and held its goroutine until the session died.
func TestChannelCloseReleasesABlockedWrite(t *testing.T) {
	for _, how := range []string{"Close", "SetWriteDeadline"} {
		t.Run(how, func(t *testing.T) {
			s, f := handshake(t, apf.Config{})
			t.Cleanup(func() { f.end.Close() })
			dc := make(chan *apf.Channel, 1)
			go func() {
				c, err := s.DialPort(context.Background(), 16992)
				assert.NoError(t, err)
				dc <- c
			}()
			open := f.recv().(apf.ChannelOpen)
			f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 5, Window: 1 << 30})
			ch := <-dc
			require.NotNil(t, ch)
			// The firmware reads nothing from here on.
			wrote := make(chan error, 1)
			go func() {
				_, err := ch.Write(make([]byte, 1<<20))
				wrote <- err
			}()
			require.Eventually(t, func() bool { return f.end.WaitingWriters() == 1 }, 5*time.Second, time.Millisecond, "the write blocks in the transport")
			if how == "Close" {
				require.NoError(t, ch.Close())
			} else {
				require.NoError(t, ch.SetWriteDeadline(time.Now()))
			}
			select {
			case err := <-wrote:
				assert.Error(t, err)
			case <-time.After(5 * time.Second):
				t.Fatalf("Write still blocked 5 s after %s", how)
			}
		})
	}
}

// bigWrites signals when a write of more than 1000 bytes enters the
// connection: a channel's data is in the transport.
type bigWrites struct {
	net.Conn
	entered chan struct{}
}

func (c *bigWrites) Write(b []byte) (int, error) {
	if len(b) > 1000 {
		select {
		case c.entered <- struct{}{}:
		default:
		}
	}
	return c.Conn.Write(b)
}

// Closing one channel while its Write is in the transport (the device is slow
// to read) must not end the tunnel: over a stream a message cut half-sent
// cannot be framed, so Close lets the message go out and the Write return,
// and every other channel goes on.
func TestChannelCloseKeepsTheTunnel(t *testing.T) {
	bw := &bigWrites{entered: make(chan struct{}, 1)}
	res, p := mpsSessionOver(t, apf.Config{PreAuthenticated: true}, func(c net.Conn) net.Conn { bw.Conn = c; return bw })
	r := forwardUp(t, res, p)

	dc := make(chan *apf.Channel, 1)
	go func() {
		c, err := r.s.DialPort(context.Background(), 16992)
		assert.NoError(t, err)
		dc <- c
	}()
	open := p.recv().(apf.ChannelOpen)
	p.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 5, Window: 1 << 30})
	ch := <-dc
	require.NotNil(t, ch)
	wrote := make(chan error, 1)
	go func() { _, err := ch.Write(make([]byte, 8<<10)); wrote <- err }()
	waitClosed(t, bw.entered, "the write did not reach the transport")
	require.NoError(t, ch.Close()) // the device reads nothing yet: the write is in net.Pipe
	// The device reads on: the message in flight, then the close.
	for {
		if _, ok := p.recv().(apf.ChannelClose); ok {
			break
		}
	}
	err := <-wrote
	assert.ErrorIs(t, err, net.ErrClosed, "the rest of the data is not sent")
	require.NoError(t, r.s.Err(), "closing one channel ended the whole session")
	p.send(apf.KeepAliveRequest{Cookie: 5})
	assert.Equal(t, apf.KeepAliveReply{Cookie: 5}, p.recv(), "the tunnel goes on")
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}
