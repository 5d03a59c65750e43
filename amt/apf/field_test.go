package apf_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
)

// Tests of what firmware does in the field (rpc-go's hardware reports) and the
// fake firmware does not do by default.

// clock is an injected Config.Sleep: waits of a second or less (the quiet
// period of the tests, the pauses before a refused open is tried again) pass
// at once; longer ones (the default quiet period, the open timeout) pass when
// the test fires them, one wait per fire.
type clock struct {
	mu    sync.Mutex
	waits []time.Duration
	fire  chan struct{}
}

func newClock() *clock { return &clock{fire: make(chan struct{})} }

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	if d <= time.Second {
		return ctx.Err()
	}
	select {
	case <-c.fire:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// between returns the waits asked for in [lo, hi], in order.
func (c *clock) between(lo, hi time.Duration) []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, d := range c.waits {
		if d >= lo && d <= hi {
			out = append(out, d)
		}
	}
	return out
}

// dial starts s.DialPort(ctx, 16992) and returns its result channel.
type dialResult struct {
	c   *apf.Channel
	err error
}

func dial(ctx context.Context, s *apf.Session, port uint32) <-chan dialResult {
	r := make(chan dialResult, 1)
	go func() {
		c, err := s.DialPort(ctx, port)
		r <- dialResult{c, err}
	}()
	return r
}

// settled reports whether r has a result within a few milliseconds.
func settled[T any](r <-chan T) bool {
	select {
	case v := <-r:
		_ = v
		return true
	case <-time.After(5 * time.Millisecond):
		return false
	}
}

// NewSession does not return at the first WS-Management port while AMT is
// still forwarding: it waits for the management port's redirection partner,
// or for a quiet period after the last forward (rpc-go engine.go
// allExpectedSeen; commit 7a279b94: a CHANNEL_OPEN racing the trailing forwards
// lost its OPEN_CONFIRMATION on AMT 18).
func TestNewSessionWaitsForTheForwardPair(t *testing.T) {
	for _, tt := range []struct {
		name    string
		first   uint32
		partner uint32 // 0: none; the quiet period ends the wait
	}{
		{"16992 then 623", 16992, 623},
		{"16993 then 664", 16993, 664},
		{"16992 alone: the quiet period", 16992, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			host, dev := apftest.Pipe(4096)
			f := fw{t: t, end: dev}
			type result struct {
				s   *apf.Session
				err error
			}
			res := make(chan result, 1)
			go func() {
				s, err := apf.NewSession(context.Background(), host, apf.Config{Sleep: clk.Sleep})
				res <- result{s, err}
			}()
			f.recv()
			f.send(apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerLME})
			f.send(apf.ServiceRequest{Service: apf.ServicePortForwarding})
			f.recv()
			f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "127.0.0.1", Port: tt.first})
			assertSame(t, apf.TCPForwardSuccess(tt.first), f.recv())
			require.False(t, settled(res), "NewSession returned while AMT was still forwarding")
			if tt.partner != 0 {
				f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "127.0.0.1", Port: tt.partner})
				assertSame(t, apf.TCPForwardSuccess(tt.partner), f.recv())
			} else {
				require.Eventually(t, func() bool { return len(clk.between(apf.DefaultForwardQuiet, apf.DefaultForwardQuiet)) > 0 },
					5*time.Second, time.Millisecond, "the quiet period runs on Config.Sleep")
				clk.fire <- struct{}{}
			}
			r := <-res
			require.NoError(t, r.err)
			defer r.s.Close()
			assert.Contains(t, r.s.Ports(), tt.first)
		})
	}
}

// A CHANNEL_OPEN AMT never answers fails the Dial after Config.OpenTimeout
// (18 s, rpc-go's LMEChannelOpenTimeout) and frees its slot; AMT's late
// confirmation is answered with a CHANNEL_CLOSE, so AMT frees its slot too.
func TestOpenTimeoutFreesTheSlot(t *testing.T) {
	clk := newClock()
	s, f := handshake(t, apf.Config{Sleep: clk.Sleep, MaxChannels: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := dial(ctx, s, 16992)
	lost := f.recv().(apf.ChannelOpen)
	require.Eventually(t, func() bool { return len(clk.between(apf.DefaultOpenTimeout, apf.DefaultOpenTimeout)) > 0 },
		5*time.Second, time.Millisecond, "the open timer runs on Config.Sleep, 18 s by default")
	clk.fire <- struct{}{}
	d := <-r
	require.ErrorIs(t, d.err, apf.ErrOpenTimeout)

	// The slot is free: the one-channel session opens another channel.
	r = dial(ctx, s, 16992)
	open := f.recv().(apf.ChannelOpen)
	assert.NotEqual(t, lost.Sender, open.Sender)
	f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 3, Window: 10})
	d = <-r
	require.NoError(t, d.err)
	defer d.c.Close()

	// AMT's late answer to the lost open: closed at once.
	f.send(apf.ChannelOpenConfirmation{Recipient: lost.Sender, Sender: 4, Window: 10})
	assert.Equal(t, apf.ChannelClose{Recipient: 4}, f.recv())
	f.send(apf.ChannelClose{Recipient: lost.Sender})
	f.send(apf.KeepAliveRequest{Cookie: 1})
	assert.Equal(t, apf.KeepAliveReply{Cookie: 1}, f.recv(), "the session goes on")
	require.NoError(t, s.Err())

	// A Dial that gave up (its context) frees the slot at the open timeout too.
	require.NoError(t, d.c.Close())
	assert.Equal(t, apf.ChannelClose{Recipient: 3}, f.recv())
	f.send(apf.ChannelClose{Recipient: open.Sender})
	short, cancelShort := context.WithCancel(context.Background())
	r = dial(short, s, 16992)
	gone := f.recv().(apf.ChannelOpen)
	cancelShort()
	require.ErrorIs(t, (<-r).err, context.Canceled)
	clk.fire <- struct{}{}
	r = dial(ctx, s, 16992)
	open = f.recv().(apf.ChannelOpen)
	assert.NotEqual(t, gone.Sender, open.Sender)
	f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 5, Window: 10})
	require.NoError(t, (<-r).err)
}

// AMT replays stale CHANNEL_CLOSE frames after an MEI reinit (rpc-go
// internal/lm/engine.go); one naming a channel still opening is ignored, not a
// protocol violation, and the open's answer is handled as usual.
func TestCloseBeforeConfirmationIgnored(t *testing.T) {
	s, f := handshake(t, apf.Config{})
	r := dial(context.Background(), s, 16992)
	open := f.recv().(apf.ChannelOpen)
	f.send(apf.ChannelClose{Recipient: open.Sender})
	f.send(apf.KeepAliveRequest{Cookie: 2})
	assert.Equal(t, apf.KeepAliveReply{Cookie: 2}, f.recv(), "no DISCONNECT")
	f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 8, Window: 10})
	d := <-r
	require.NoError(t, d.err)
	_, err := d.c.Write([]byte("hi"))
	require.NoError(t, err)
	assert.Equal(t, apf.ChannelData{Recipient: 8, Data: []byte("hi")}, f.recv())
	require.NoError(t, s.Err())
}

// Each session numbers its channels from a seed of its own (Config.Rand), so
// that a number of the previous session, over the previous MEI connection,
// names no channel of the next one.
func TestChannelNumbersSeeded(t *testing.T) {
	firstOpen := func(cfg apf.Config) uint32 {
		s, f := handshake(t, cfg)
		r := dial(context.Background(), s, 16992)
		open := f.recv().(apf.ChannelOpen)
		f.send(apf.ChannelOpenFailure{Recipient: open.Sender, Reason: apf.OpenConnectFailed})
		<-r
		return open.Sender
	}
	a, b := firstOpen(apf.Config{}), firstOpen(apf.Config{})
	assert.NotEqual(t, a, b, "two sessions start from different channel numbers")
	assert.Equal(t, uint32(0x1001), firstOpen(apf.Config{Rand: bytes.NewReader([]byte{0, 0, 0x10, 0})}))
	assert.Equal(t, uint32(0x1), firstOpen(apf.Config{Rand: bytes.NewReader([]byte{0x80, 0, 0, 0})}), "below 2^31, never 0")
}

// AMT refuses opens transiently (rpc-go localTransport.go
// isTransientLMEError; go-wsman-messages ErrChannelOpenFailure; PR 1466):
// administratively prohibited and resource shortage are tried again after
// 250 ms, 500 ms and 1 s, each time with a new channel number; other
// reasons are returned at once.
func TestTransientRefusalTriedAgain(t *testing.T) {
	for _, tt := range []struct {
		name    string
		reason  apf.OpenFailureReason
		refusal int // opens refused before one is confirmed
		opens   int
		waits   []time.Duration
		fail    bool
	}{
		{"prohibited once", apf.OpenAdministrativelyProhibited, 1, 2, []time.Duration{250 * time.Millisecond}, false},
		{"shortage twice", apf.OpenResourceShortage, 2, 3, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, false},
		{"shortage four times", apf.OpenResourceShortage, 4, 4, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}, true},
		{"connect failed", apf.OpenConnectFailed, 1, 1, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, f := handshake(t, apf.Config{Sleep: clk.Sleep})
			r := dial(context.Background(), s, 16992)
			seen := map[uint32]bool{}
			for i := range tt.opens {
				open := f.recv().(apf.ChannelOpen)
				assert.False(t, seen[open.Sender], "a new channel number each time")
				seen[open.Sender] = true
				if i < tt.refusal {
					f.send(apf.ChannelOpenFailure{Recipient: open.Sender, Reason: tt.reason})
				} else {
					f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 1, Window: 10})
				}
			}
			d := <-r
			if tt.fail {
				var oe *apf.OpenError
				require.ErrorAs(t, d.err, &oe)
				assert.Equal(t, tt.reason, oe.Reason)
			} else {
				require.NoError(t, d.err)
			}
			assert.Equal(t, tt.waits, clk.between(100*time.Millisecond, time.Second))
		})
	}
}

// The fake firmware's transient refusals and stale closes, end to end.
func TestFakeFirmwareTransients(t *testing.T) {
	addr := target(t, echo)
	dev, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}, RefuseOpens: 2, StaleClose: true}, apf.Config{})
	c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(got))
	assert.Equal(t, 2, dev.Stats().Refused)
	assert.NoError(t, dev.Violation())
	assert.NoError(t, s.Err())
}

// Bytes after a complete message from the MEI are ignored, as every peer that
// runs on hardware ignores them (LMS LMEConnection::_doRX, go-wsman-messages
// validator.go, MeshCentral amt-lme.js check minimum lengths only).
func TestTrailingBytesIgnoredOnTheLME(t *testing.T) {
	s, f := handshake(t, apf.Config{})
	r := dial(context.Background(), s, 16992)
	open := f.recv().(apf.ChannelOpen)
	conf, err := apf.Encode(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 6, Window: 0})
	require.NoError(t, err)
	f.sendRaw(append(conf, 0, 0))
	d := <-r
	require.NoError(t, d.err)
	adj, err := apf.Encode(apf.WindowAdjust{Recipient: open.Sender, Bytes: 5})
	require.NoError(t, err)
	f.sendRaw(append(adj, 0))
	_, err = d.c.Write([]byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, apf.ChannelData{Recipient: 6, Data: []byte("hello")}, f.recv(), "the padded adjust credited the window")
	require.NoError(t, s.Err())
}

// Only a global request that wants a reply gets REQUEST_FAILURE (RFC 4254
// section 4; LMS ignores names it does not know); tcpip-forward is answered
// whatever want-reply says.
func TestUnknownGlobalRequestAnsweredOnlyWhenAsked(t *testing.T) {
	s, f := handshake(t, apf.Config{})
	f.send(apf.GlobalRequest{Name: "x-unknown@amt.intel.com"})
	f.send(apf.KeepAliveRequest{Cookie: 3})
	assert.Equal(t, apf.KeepAliveReply{Cookie: 3}, f.recv(), "no reply to a request that wants none")
	f.send(apf.GlobalRequest{Name: "x-unknown@amt.intel.com", WantReply: true})
	assert.Equal(t, apf.RequestFailure{}, f.recv())
	f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, Address: "127.0.0.1", Port: 16993})
	assertSame(t, apf.TCPForwardSuccess(16993), f.recv())
	require.NoError(t, s.Err())
}

var _ net.Conn = (*apf.Channel)(nil)
