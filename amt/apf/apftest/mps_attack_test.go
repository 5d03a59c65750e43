package apftest

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/certs/certstest"
)

var (
	uuidA = amt.UUID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	uuidB = amt.UUID{0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

func attackMPS(t *testing.T, mod func(*MPSConfig)) *MPS {
	t.Helper()
	keys := certstest.NewKeyPool()
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Attack MPS Root", Keys: keys})
	cert, err := NewMPSCertificate(ca, keys, "127.0.0.1")
	require.NoError(t, err)
	cfg := MPSConfig{Certificate: cert, Session: apf.Config{ForwardQuiet: -1}}
	if mod != nil {
		mod(&cfg)
	}
	m, err := StartMPS(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// rogue is a hostile device speaking raw APF to the MPS.
type rogue struct {
	t  *testing.T
	st *apf.StreamTransport
}

func dialRogue(t *testing.T, m *MPS) *rogue {
	t.Helper()
	c, err := tls.Dial("tcp", m.Addr(), &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	st := apf.NewStreamTransport(c, 0)
	t.Cleanup(func() { st.Close() })
	return &rogue{t: t, st: st}
}

func (r *rogue) send(ms ...apf.Message) {
	r.t.Helper()
	for _, m := range ms {
		b, err := apf.Encode(m)
		require.NoError(r.t, err)
		require.NoError(r.t, r.st.WriteMessage(context.Background(), b))
	}
}

// try sends ms as far as the MPS lets it: a write that fails because the MPS
// already hung up (the defence at work) ends the attempt, not the test.
func (r *rogue) try(ms ...apf.Message) {
	r.t.Helper()
	for _, m := range ms {
		b, err := apf.Encode(m)
		require.NoError(r.t, err)
		if r.st.WriteMessage(context.Background(), b) != nil {
			return
		}
	}
}

func (r *rogue) recv() (apf.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := r.st.ReadMessage(ctx)
	if err != nil {
		return nil, err
	}
	return apf.Decode(b)
}

// recvUntil reads until a message of type want (the MPS's REQUEST_SUCCESS
// carries 4 bytes of port only after tcpip-forward; the rogue sets that).
func (r *rogue) recvUntil(want apf.MessageType) []apf.Message {
	r.t.Helper()
	var seen []apf.Message
	for {
		m, err := r.recv()
		require.NoError(r.t, err, "seen %v", seen)
		seen = append(seen, m)
		if m.Type() == want {
			return seen
		}
	}
}

// An attacker that owns the credentials of one device (A — e.g. its own
// machine) authenticates as A, then sends a second PROTOCOL_VERSION naming
// device B. The session used to adopt B as its peer and the MPS published the
// tunnel as device B; the session now ends it (MeshCentral mpsserver.js fixes
// socket.tag.nodeid at USERAUTH and never from a later PROTOCOL_VERSION).
func TestMPSBindsTheDeviceItAuthenticated(t *testing.T) {
	pwA := amt.NewSecret("P@ssw0rdA1")
	m := attackMPS(t, func(c *MPSConfig) {
		c.Lookup = func(u amt.UUID) (string, amt.Secret, bool) {
			switch u {
			case uuidA:
				return "devA", pwA, true
			case uuidB:
				return "devB", amt.NewSecret("S3cret!B-only"), true
			}
			return "", amt.Secret{}, false
		}
	})
	r := dialRogue(t, m)
	r.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
		apf.ServiceRequest{Service: apf.ServiceAuth},
		apf.UserAuthRequest{User: "devA", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: pwA})
	// The identity switch, and the rest of the attack as far as the MPS lets
	// it go (it hangs up at the switch).
	r.try(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidB},
		apf.ServiceRequest{Service: apf.ServicePortForwarding})
	r.st.ExpectRequestSuccess(4)
	r.try(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 16992},
		apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 623})

	for {
		msg, err := r.recv()
		if err != nil {
			break // the MPS hung up (a reset may swallow its DISCONNECT)
		}
		if d, ok := msg.(apf.Disconnect); ok {
			assert.Equal(t, apf.DisconnectProtocolError, d.Reason)
			break
		}
	}
	require.Eventually(t, func() bool {
		for _, e := range m.Log() {
			if strings.Contains(e, "UUID changed") {
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond, "the MPS logs why it refused the tunnel")
	select {
	case c := <-m.conns:
		t.Fatalf("a tunnel authenticated with device A's credentials was published as device %s", c.Peer.UUID)
	default:
	}
}

// The MPS asks for keep-alives every second and the device then goes silent:
// after three intervals (as MeshCentral's and Open AMT's MPS drop a CIRA
// socket idle for three of their 30 s intervals) the tunnel ends. It used to
// be held, with its goroutines and connection, for ever. The idle steps run
// on the session's injected Sleep.
func TestMPSDropsASilentDevice(t *testing.T) {
	ticks := make(chan struct{})
	m := attackMPS(t, func(c *MPSConfig) {
		c.Username, c.Password = "dev", amt.NewSecret("P@ssw0rd1")
		c.KeepAlive = 1
		c.Session.Sleep = func(ctx context.Context, d time.Duration) error {
			if d != 3*time.Second/4 { // a quarter of three keep-alive intervals
				return ctx.Err()
			}
			select {
			case <-ticks:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	r := dialRogue(t, m)
	r.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
		apf.ServiceRequest{Service: apf.ServiceAuth},
		apf.UserAuthRequest{User: "dev", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret("P@ssw0rd1")},
		apf.ServiceRequest{Service: apf.ServicePortForwarding})
	r.st.ExpectRequestSuccess(4)
	r.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 16992},
		apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 623},
		apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 5900})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := m.Accept(ctx)
	require.NoError(t, err)
	// The MPS has handled all three requests once it has answered them; only
	// then is the device silent (a request handled after the first quarter
	// restarts the count, and the test would need a sixth quarter).
	for range 3 {
		r.recvUntil(apf.TypeRequestSuccess)
	}
	// From now on the device says nothing (it still reads, so TCP does not
	// push back).
	go func() {
		for {
			if _, err := r.st.ReadMessage(context.Background()); err != nil {
				return
			}
		}
	}()
	for i := 0; ; i++ {
		select {
		case ticks <- struct{}{}:
			require.Less(t, i, 5, "a silent device still holds its tunnel after five quarters of the idle timeout")
			continue
		case <-c.Session.Done():
		}
		break
	}
	assert.ErrorIs(t, c.Session.Err(), apf.ErrIdle)
}

// Every accepted tunnel was appended to MPS.all and never removed when it
// ended: a device that reconnects (or a rogue that connects in a loop) grew
// the MPS without bound.
func TestMPSForgetsEndedTunnels(t *testing.T) {
	m := attackMPS(t, func(c *MPSConfig) {
		c.Username, c.Password = "dev", amt.NewSecret("P@ssw0rd1")
	})
	const n = 20
	for i := range n {
		r := dialRogue(t, m)
		r.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
			apf.UserAuthRequest{User: "dev", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret("P@ssw0rd1")},
			apf.ServiceRequest{Service: apf.ServicePortForwarding},
			apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 16992},
			apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 623})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := m.Accept(ctx)
		cancel()
		require.NoError(t, err, "device %d", i)
		r.st.Close()
		select {
		case <-c.Session.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("session %d did not end after its device hung up", i)
		}
	}
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.all) == 0
	}, 5*time.Second, time.Millisecond, "ended tunnels are still held by the MPS")
}

// MeshCentral (mpsserver.js) and Open AMT's MPS (src/amt/APFProcessor.ts
// globalRequest) answer the 5900 tcpip-forward with REQUEST_SUCCESS and only
// then send KEEPALIVE_OPTIONS_REQUEST. apftest.MPS wrote the options request
// from the transport's read path, before the session had even seen the
// forward.
func TestMPSAsksForKeepAlivesAfterTheForwardReply(t *testing.T) {
	m := attackMPS(t, func(c *MPSConfig) {
		c.Username, c.Password = "dev", amt.NewSecret("P@ssw0rd1")
		c.KeepAlive = 30
	})
	r := dialRogue(t, m)
	r.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: uuidA},
		apf.UserAuthRequest{User: "dev", Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: amt.NewSecret("P@ssw0rd1")},
		apf.ServiceRequest{Service: apf.ServicePortForwarding})
	r.recvUntil(apf.TypeServiceAccept)
	r.st.ExpectRequestSuccess(4)
	r.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "x", Port: 5900})
	var got []apf.MessageType
	for len(got) < 2 {
		msg, err := r.recv()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		if msg.Type() == apf.TypeProtocolVersion || msg.Type() == apf.TypeUserAuthSuccess {
			continue
		}
		got = append(got, msg.Type())
	}
	require.Equal(t, []apf.MessageType{apf.TypeRequestSuccess, apf.TypeKeepAliveOptionsRequest}, got)
}
