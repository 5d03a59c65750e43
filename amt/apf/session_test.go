package apf_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
	"github.com/amtkit/amtkit/amt/pthi"
)

// target is a TCP server on loopback standing for an AMT port.
func target(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// firmware starts fake firmware with ports and a session over it.
func firmware(t *testing.T, fc apftest.Config, sc apf.Config) (*apftest.Device, *apf.Session) {
	t.Helper()
	dev, host := apftest.Start(fc)
	t.Cleanup(dev.Close)
	if sc.MaxMessageLength == 0 {
		sc.MaxMessageLength = host.MaxMessageLength()
	}
	quick(&sc)
	s, err := apf.NewSession(context.Background(), host, sc)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return dev, s
}

func pattern(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// AMT streams more than the window: the channel never holds more than the
// window it gave, the firmware sends more only as the application reads, and
// every byte arrives in order.
func TestReadWindowBoundsBuffer(t *testing.T) {
	data := pattern(256 << 10)
	addr := target(t, func(c net.Conn) { _, _ = c.Write(data) })
	const window = 4096
	dev, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}}, apf.Config{Window: window})
	c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	defer c.Close()

	var got bytes.Buffer
	buf := make([]byte, 1000)
	for got.Len() < len(data) {
		n, err := c.Read(buf)
		require.NoError(t, err)
		got.Write(buf[:n])
		sent := dev.Stats().BytesToHost
		require.LessOrEqual(t, sent, int64(got.Len()+window), "AMT may send at most the window beyond what was read")
	}
	assert.Equal(t, data, got.Bytes())
	// The target closed after writing: AMT closes the channel, the reader
	// sees EOF.
	_, err = c.Read(buf)
	assert.ErrorIs(t, err, io.EOF)
	assert.Positive(t, dev.Stats().AdjustsFromHost)
	assert.NoError(t, dev.Violation())
}

// Writes wait for AMT's window and are cut to the LME's message length; both
// directions run at once on several channels.
func TestWriteRespectsWindowAndMessageLength(t *testing.T) {
	addr := target(t, echo)
	const maxMsg = 512
	dev, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}, MaxMessageLength: maxMsg, Window: 1500}, apf.Config{Window: 3000})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Dial(context.Background(), "tcp", "localhost:16992")
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			data := pattern(64<<10 + i)
			go func() { _, _ = c.Write(data) }()
			got := make([]byte, len(data))
			_, err = io.ReadFull(c, got)
			assert.NoError(t, err)
			assert.Equal(t, data, got)
		}()
	}
	wg.Wait()
	st := dev.Stats()
	assert.NoError(t, dev.Violation(), "the firmware saw no data beyond its window")
	assert.LessOrEqual(t, st.LargestFromHost, maxMsg-apf.ChannelDataHeaderLen)
	assert.Equal(t, int64(3*(64<<10)+3), st.BytesFromHost)
	assert.GreaterOrEqual(t, st.MaxOpen, 2)
}

// Firmware that ignores the window it was given: the host closes the channel
// with ErrWindowExceeded rather than buffering; the session goes on.
func TestWindowOverrunClosesChannel(t *testing.T) {
	data := pattern(64 << 10)
	big := target(t, func(c net.Conn) { _, _ = c.Write(data); time.Sleep(time.Second) })
	small := target(t, func(c net.Conn) { _, _ = c.Write([]byte("hello")) })
	// The firmware's first data message (up to 4087 bytes) already overruns a
	// window of 512.
	dev, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: big, 16993: small}, IgnoreHostWindow: true}, apf.Config{Window: 512})
	c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, c)
	require.ErrorIs(t, err, apf.ErrWindowExceeded)
	assert.LessOrEqual(t, n, int64(512), "nothing beyond the window was delivered")
	c.Close()

	c2, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16993")
	require.NoError(t, err)
	b, err := io.ReadAll(c2)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	assert.NoError(t, s.Err())
	assert.NoError(t, dev.Violation())
}

func TestDialRefusals(t *testing.T) {
	addr := target(t, echo)
	_, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}, Order: []uint32{16992, 623}, MaxChannels: 1},
		apf.Config{PortWait: 200 * time.Millisecond})
	ctx := context.Background()
	for _, tt := range []struct{ network, addr string }{
		{"udp", "127.0.0.1:16992"}, {"tcp", "10.0.0.1:16992"}, {"tcp", "amt.example:16992"}, {"tcp", "127.0.0.1:0"}, {"tcp", "127.0.0.1"},
	} {
		_, err := s.Dial(ctx, tt.network, tt.addr)
		assert.Error(t, err, "%s %s", tt.network, tt.addr)
	}
	_, err := s.Dial(ctx, "tcp", "10.0.0.1:16992")
	assert.ErrorIs(t, err, apf.ErrNotLocal)
	_, err = s.Dial(ctx, "tcp", "[::1]:1234")
	assert.ErrorIs(t, err, apf.ErrPortNotForwarded)

	// 623 is forwarded, but nothing answers behind it.
	_, err = s.Dial(ctx, "tcp", "127.0.0.1:623")
	var oe *apf.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, apf.OpenConnectFailed, oe.Reason)

	// The firmware's pool has one slot.
	c, err := s.Dial(ctx, "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	_, err = s.Dial(ctx, "tcp", "127.0.0.1:16992")
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, apf.OpenResourceShortage, oe.Reason)
	// Closed, the slot is free again once the firmware answered the close.
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool {
		c, err = s.Dial(ctx, "tcp", "127.0.0.1:16992")
		return err == nil
	}, 5*time.Second, time.Millisecond)
	c.Close()
}

func TestHostChannelLimit(t *testing.T) {
	addr := target(t, echo)
	_, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}}, apf.Config{MaxChannels: 2, PortWait: 50 * time.Millisecond})
	var cs []net.Conn
	for range 2 {
		c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
		require.NoError(t, err)
		cs = append(cs, c)
	}
	_, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	assert.ErrorIs(t, err, apf.ErrTooManyChannels)
	for _, c := range cs {
		c.Close()
	}
}

func TestChannelDeadlinesAndClose(t *testing.T) {
	addr := target(t, echo)
	_, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}}, apf.Config{})
	c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	// A deadline set while a Read waits wakes it.
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	done := make(chan error)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	require.NoError(t, c.SetDeadline(time.Now().Add(-time.Second)))
	assert.ErrorIs(t, <-done, os.ErrDeadlineExceeded)

	require.NoError(t, c.SetDeadline(time.Time{}))
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:16992", c.RemoteAddr().String())
	assert.Equal(t, "apf", c.RemoteAddr().Network())
	assert.True(t, strings.HasPrefix(c.LocalAddr().String(), "channel "))
	require.NoError(t, c.Close())
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.NoError(t, c.Close())
}

// A firmware reset of the LME: channels fail with ErrSessionReset, the session
// answers the new handshake, and new channels work.
func TestFirmwareRestart(t *testing.T) {
	addr := target(t, echo)
	dev, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}}, apf.Config{})
	c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	dev.Restart()
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, apf.ErrSessionReset)
	c2, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	_, err = c2.Write([]byte("again"))
	require.NoError(t, err)
	got := make([]byte, 5)
	_, err = io.ReadFull(c2, got)
	require.NoError(t, err)
	assert.Equal(t, "again", string(got))
	assert.NoError(t, dev.Violation())
}

// fw plays firmware by hand on a pipe, for the rules the fake never breaks.
type fw struct {
	t   *testing.T
	end *apftest.End
}

func (f fw) send(m apf.Message) {
	f.t.Helper()
	b, err := apf.Encode(m)
	require.NoError(f.t, err)
	require.NoError(f.t, f.end.WriteMessage(context.Background(), b))
}

func (f fw) sendRaw(b []byte) {
	f.t.Helper()
	require.NoError(f.t, f.end.WriteMessage(context.Background(), b))
}

func (f fw) recv() apf.Message {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := f.end.ReadMessage(ctx)
	require.NoError(f.t, err)
	m, err := apf.Decode(b)
	require.NoError(f.t, err)
	return m
}

// quick shortens the waits of a session whose firmware forwards 16992
// without 623: a quiet period of a millisecond, and the pauses before a
// refused open is tried again taken at once.
func quick(cfg *apf.Config) {
	if cfg.ForwardQuiet == 0 {
		cfg.ForwardQuiet = time.Millisecond
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			if d > time.Second {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
			return ctx.Err()
		}
	}
}

// handshake runs the firmware's side up to a forwarded 16992 and returns the
// session NewSession made (after its quiet period: 623 is not forwarded).
func handshake(t *testing.T, cfg apf.Config) (*apf.Session, fw) {
	t.Helper()
	quick(&cfg)
	host, dev := apftest.Pipe(4096)
	f := fw{t: t, end: dev}
	type result struct {
		s   *apf.Session
		err error
	}
	res := make(chan result, 1)
	go func() {
		s, err := apf.NewSession(context.Background(), host, cfg)
		res <- result{s, err}
	}()
	// AMT sends its version unasked on the LME and LMS answers it; the host
	// sending its own first works as well (rpc-go does, rps PR 929).
	assert.Equal(t, apf.ProtocolVersion{Major: 1}, f.recv(), "the host sends its version without waiting for AMT's")
	f.send(apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: apf.TriggerLME, UUID: testUUID})
	f.send(apf.ServiceRequest{Service: apf.ServiceAuth})
	assert.Equal(t, apf.ServiceAccept{Service: apf.ServiceAuth}, f.recv())
	f.send(apf.UserAuthRequest{User: "", Service: apf.ServicePortForwarding, Method: "none"})
	assert.Equal(t, apf.UserAuthSuccess{}, f.recv())
	f.send(apf.ServiceRequest{Service: apf.ServicePortForwarding})
	assert.Equal(t, apf.ServiceAccept{Service: apf.ServicePortForwarding}, f.recv())
	f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "127.0.0.1", Port: 16992})
	assertSame(t, apf.TCPForwardSuccess(16992), f.recv())
	r := <-res
	require.NoError(t, r.err)
	t.Cleanup(func() { r.s.Close() })
	assert.Equal(t, testUUID, r.s.Peer().UUID)
	return r.s, f
}

func TestSessionAnswersFirmware(t *testing.T) {
	s, f := handshake(t, apf.Config{})
	f.send(apf.KeepAliveRequest{Cookie: 7})
	assert.Equal(t, apf.KeepAliveReply{Cookie: 7}, f.recv())
	f.send(apf.KeepAliveOptionsRequest{Interval: 30, Timeout: 5})
	assert.Equal(t, apf.KeepAliveOptionsReply{Interval: 30, Timeout: 5}, f.recv())
	f.send(apf.GlobalRequest{Name: apf.RequestUDPSendTo, WantReply: true, Address: "a", Port: 1, OriginAddress: "b", Data: []byte{1}})
	assert.Equal(t, apf.RequestFailure{}, f.recv())
	// AMT opening a channel to the host (event delivery) is refused.
	f.send(apf.ChannelOpen{ChannelType: apf.ChannelDirect, Sender: 9, Window: 100, Address: "10.0.0.1", Port: 80})
	assert.Equal(t, apf.ChannelOpenFailure{Recipient: 9, Reason: apf.OpenAdministrativelyProhibited}, f.recv())
	// Late messages for channels that do not exist are ignored.
	f.send(apf.ChannelData{Recipient: 77, Data: []byte("x")})
	f.send(apf.WindowAdjust{Recipient: 77, Bytes: 1})
	f.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "127.0.0.1", Port: 16993})
	assertSame(t, apf.TCPForwardSuccess(16993), f.recv())
	// The reply is queued before the port is registered (no CHANNEL_OPEN may
	// overtake it); the session reads messages in order, so the answer to a
	// keep-alive sent next says the forward was handled.
	f.send(apf.KeepAliveRequest{Cookie: 8})
	assert.Equal(t, apf.KeepAliveReply{Cookie: 8}, f.recv())
	assert.Equal(t, []uint32{16992, 16993}, s.Ports())
	f.send(apf.GlobalRequest{Name: apf.RequestCancelTCPForward, WantReply: true, Address: "127.0.0.1", Port: 16993})
	assertSame(t, apf.RequestSuccess{}, f.recv())
	assert.Equal(t, []uint32{16992}, s.Ports())

	// A channel, its data and its close as the firmware sees them.
	type dial struct {
		c   net.Conn
		err error
	}
	dc := make(chan dial, 1)
	go func() { c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992"); dc <- dial{c, err} }()
	open, ok := f.recv().(apf.ChannelOpen)
	require.True(t, ok)
	assert.Equal(t, apf.ChannelForwarded, open.ChannelType)
	assert.Equal(t, uint32(16992), open.Port)
	assert.Equal(t, uint32(apf.DefaultWindow), open.Window)
	assert.Equal(t, uint32(0xFFFFFFFF), open.Reserved)
	f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 41, Window: 3})
	d := <-dc
	require.NoError(t, d.err)
	go func() { _, _ = d.c.Write([]byte("hello")) }()
	assert.Equal(t, apf.ChannelData{Recipient: 41, Data: []byte("hel")}, f.recv(), "three bytes: the window")
	f.send(apf.WindowAdjust{Recipient: open.Sender, Bytes: 10})
	assert.Equal(t, apf.ChannelData{Recipient: 41, Data: []byte("lo")}, f.recv())
	f.send(apf.ChannelData{Recipient: open.Sender, Data: []byte("world")})
	got := make([]byte, 5)
	_, err := io.ReadFull(d.c, got)
	require.NoError(t, err)
	assert.Equal(t, "world", string(got))
	f.send(apf.ChannelClose{Recipient: open.Sender})
	assert.Equal(t, apf.ChannelClose{Recipient: 41}, f.recv(), "the host answers AMT's close")
	_, err = d.c.Read(got)
	assert.ErrorIs(t, err, io.EOF)
	_, err = d.c.Write([]byte("x"))
	assert.ErrorIs(t, err, io.ErrClosedPipe)

	// AMT's DISCONNECT ends the session.
	f.send(apf.Disconnect{Reason: apf.DisconnectByApplication})
	<-s.Done()
	var de *apf.DisconnectError
	require.ErrorAs(t, s.Err(), &de)
	assert.Equal(t, apf.DisconnectByApplication, de.Reason)
	_, err = s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	assert.ErrorAs(t, err, &de)
}

// Firmware that breaks the protocol is disconnected with a protocol error.
func TestSessionRefusesProtocolViolations(t *testing.T) {
	for _, tt := range []struct {
		name string
		play func(f fw, id uint32)
	}{
		{"undecodable", func(f fw, _ uint32) { f.sendRaw([]byte{byte(apf.TypeChannelWindowAdjust), 0}) }},
		{"window overflow", func(f fw, id uint32) {
			// Open a channel (window 1), then adjust its window past
			// 2^32-1. One message does it: the session may close the pipe
			// before a second one could be written.
			f.send(apf.WindowAdjust{Recipient: id, Bytes: 0xFFFFFFFF})
		}},
		{"service before version", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s *apf.Session
			var f fw
			if tt.play == nil {
				host, dev := apftest.Pipe(4096)
				f = fw{t: t, end: dev}
				go func() { _, _ = apf.NewSession(context.Background(), host, apf.Config{}) }()
				f.recv()
				f.send(apf.ServiceRequest{Service: apf.ServicePortForwarding})
				assert.Equal(t, apf.Disconnect{Reason: apf.DisconnectProtocolError}, f.recv())
				return
			}
			s, f = handshake(t, apf.Config{})
			dc := make(chan error, 1)
			go func() { _, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992"); dc <- err }()
			open := f.recv().(apf.ChannelOpen)
			f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 5, Window: 1})
			require.NoError(t, <-dc)
			tt.play(f, open.Sender)
			assert.Equal(t, apf.Disconnect{Reason: apf.DisconnectProtocolError}, f.recv())
			<-s.Done()
			assert.ErrorIs(t, s.Err(), apf.ErrProtocol)
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	host, dev := apftest.Pipe(4096)
	f := fw{t: t, end: dev}
	go func() {
		f.recv()
		f.send(apf.ProtocolVersion{Major: 1})
	}()
	_, err := apf.NewSession(context.Background(), host, apf.Config{HandshakeTimeout: 50 * time.Millisecond, ForwardQuiet: time.Millisecond})
	require.ErrorIs(t, err, apf.ErrHandshake)
	assert.Contains(t, err.Error(), "version agreed true, port forwarding false")

	// A firmware speaking APF 2 is disconnected.
	host, dev = apftest.Pipe(4096)
	f = fw{t: t, end: dev}
	go func() {
		f.recv()
		f.send(apf.ProtocolVersion{Major: 2})
	}()
	_, err = apf.NewSession(context.Background(), host, apf.Config{})
	require.ErrorIs(t, err, apf.ErrProtocol)
}

// The Dialer starts a new session when AMT ended the last one.
func TestDialerReopens(t *testing.T) {
	addr := target(t, echo)
	var devs []*apftest.Device
	opens := 0
	d := &apf.Dialer{Open: func(ctx context.Context) (*apf.Session, error) {
		opens++
		dev, host := apftest.Start(apftest.Config{Ports: map[uint32]string{16992: addr}})
		devs = append(devs, dev)
		t.Cleanup(dev.Close)
		return apf.NewSession(ctx, host, apf.Config{ForwardQuiet: time.Millisecond})
	}}
	defer d.Close()
	c, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	c.Close()
	s, err := d.Session(context.Background())
	require.NoError(t, err)
	devs[0].Close() // the firmware side goes away
	<-s.Done()
	c, err = d.DialContext(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	c.Close()
	assert.Equal(t, 2, opens)
	_, err = d.DialContext(context.Background(), "udp", "127.0.0.1:16992")
	assert.ErrorIs(t, err, apf.ErrNotLocal)
	require.NoError(t, d.Close())
	_, err = d.DialContext(context.Background(), "tcp", "127.0.0.1:16992")
	assert.ErrorIs(t, err, apf.ErrSessionClosed)
}

// ChooseLocal takes LMS when it answers and LME/APF otherwise, and says so.
func TestChooseLocal(t *testing.T) {
	lms := target(t, echo)
	_, lmsPort, _ := net.SplitHostPort(lms)
	p, _ := strconv.Atoi(lmsPort)
	closed := closedPort(t)
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	openLME := func(ctx context.Context) (*apf.Session, error) {
		dev, host := apftest.Start(apftest.Config{Ports: map[uint32]string{16992: lms}})
		t.Cleanup(dev.Close)
		return apf.NewSession(ctx, host, apf.Config{ForwardQuiet: time.Millisecond})
	}

	l, err := apf.ChooseLocal(context.Background(), apf.LocalConfig{LMSPorts: []uint32{closed, uint32(p)}, OpenLME: openLME, Logger: logger})
	require.NoError(t, err)
	assert.Equal(t, apf.PathLMS, l.Path)
	assert.Equal(t, "LMS answered on "+lms, l.Reason)
	assert.Contains(t, logged.String(), `msg="local AMT path" path=LMS`)
	// On the LMS path the connection goes to LMS's port.
	c, err := l.DialContext(context.Background(), "tcp", "127.0.0.1:"+lmsPort)
	require.NoError(t, err)
	c.Close()
	s, err := l.Session(context.Background())
	assert.Nil(t, s)
	assert.NoError(t, err)
	require.NoError(t, l.Close())

	logged.Reset()
	l, err = apf.ChooseLocal(context.Background(), apf.LocalConfig{LMSPorts: []uint32{closed}, OpenLME: openLME, Logger: logger})
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, apf.PathLME, l.Path)
	assert.Contains(t, l.Reason, "LMS did not answer on 127.0.0.1:"+strconv.Itoa(int(closed)))
	assert.Contains(t, logged.String(), `path=LME/APF`)
	assert.Equal(t, "http://127.0.0.1:16992/wsman", l.Endpoint(false))
	c, err = l.DialContext(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err)
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(got))
	c.Close()

	// Neither path: both reasons.
	_, err = apf.ChooseLocal(context.Background(), apf.LocalConfig{LMSPorts: []uint32{closed},
		OpenLME: func(context.Context) (*apf.Session, error) { return nil, errors.New("no MEI device") }})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LMS did not answer")
	assert.Contains(t, err.Error(), "no MEI device")
}

// An LMS port that times out has a listener that does not accept: LMS is
// restarting. The agent stays on the LMS path instead of competing with it for
// the MEI (rpc-go pull request 1466, lmsUpButUnready); a refused port still
// means no LMS.
func TestChooseLocalLMSRestarting(t *testing.T) {
	opened := false
	openLME := func(context.Context) (*apf.Session, error) {
		opened = true
		return nil, errors.New("MEI busy: LMS holds it")
	}
	probe := func(ctx context.Context, _, addr string) (net.Conn, error) {
		if strings.HasSuffix(addr, ":16993") {
			<-ctx.Done() // a listener whose backlog is full
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	l, err := apf.ChooseLocal(context.Background(), apf.LocalConfig{ProbeDial: probe, ProbeTimeout: time.Millisecond, OpenLME: openLME})
	require.NoError(t, err)
	assert.Equal(t, apf.PathLMS, l.Path)
	assert.Contains(t, l.Reason, "LMS restarting")
	assert.False(t, opened, "the LME is not opened beside LMS")
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) uint32 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, ps, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	p, _ := strconv.Atoi(ps)
	return uint32(p)
}

// The fake firmware reports the forwards the host accepted, in port order, and
// describes itself for test failures.
func TestFakeFirmwareReportsForwards(t *testing.T) {
	addr := target(t, echo)
	dev, s := firmware(t, apftest.Config{Ports: map[uint32]string{16992: addr}, Order: []uint32{16993, 623, 16992}}, apf.Config{})
	c, err := s.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	require.NoError(t, err) // the 16992 forward, the last asked, was accepted before its channel opened
	defer c.Close()
	assert.Equal(t, s.Ports(), dev.Forwarded())
	assert.Contains(t, dev.Forwarded(), uint32(16992))
	assert.Contains(t, dev.String(), "apftest.Device(")
	assert.Contains(t, dev.String(), "1 channels")
	require.NoError(t, dev.Violation())
}

// NewLMEDialer opens its session over the MEI device it is given; a device
// that is not there fails the dial with pthi's ErrNoDevice, naming the path.
func TestLMEDialerWithoutMEI(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the MEI device path is Linux's; Windows finds the HECI interface itself")
	}
	path := filepath.Join(t.TempDir(), "mei0")
	d := apf.NewLMEDialer(apf.LMEConfig{Device: path})
	defer d.Close()
	_, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:16992")
	require.ErrorIs(t, err, pthi.ErrNoDevice)
	assert.Contains(t, err.Error(), path)
	_, err = d.Session(context.Background())
	require.ErrorIs(t, err, pthi.ErrNoDevice, "every attempt opens the device again")
}
