package provisioning_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/leakcheck"
	"github.com/amtkit/amtkit/provisioning"
)

// shutdownRig is a HelloListener on loopback whose Handler and OnEvent report
// to channels.
type shutdownRig struct {
	l      *provisioning.HelloListener
	addr   string
	served chan error
	hellos chan provisioning.ReceivedHello
	events chan provisioning.ListenerEvent
}

func startShutdownRig(t *testing.T, ctx context.Context, configure func(*provisioning.HelloListener)) *shutdownRig {
	t.Helper()
	r := &shutdownRig{served: make(chan error, 1), hellos: make(chan provisioning.ReceivedHello, 16),
		events: make(chan provisioning.ListenerEvent, 16)}
	r.l = &provisioning.HelloListener{
		Handler:     func(_ context.Context, h provisioning.ReceivedHello) { r.hellos <- h },
		OnEvent:     func(e provisioning.ListenerEvent) { r.events <- e },
		ReadTimeout: time.Minute,
	}
	if configure != nil {
		configure(r.l)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r.addr = ln.Addr().String()
	go func() { r.served <- r.l.Serve(ctx, ln) }()
	return r
}

func (r *shutdownRig) event(t *testing.T) provisioning.ListenerEvent {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no listener event")
		return provisioning.ListenerEvent{}
	}
}

func (r *shutdownRig) serveResult(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.served:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// dialStarted dials the listener and waits until it has accepted the
// connection (Stats().Active counts it).
func dialStarted(t *testing.T, r *shutdownRig) net.Conn {
	t.Helper()
	before := r.l.Stats().Accepted
	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.l.Stats().Accepted > before }, 10*time.Second, time.Millisecond)
	return c
}

func TestListenerShutdownDeliversHelloInFlight(t *testing.T) {
	leakcheck.Verify(t)
	release := make(chan struct{})
	handlerErrs := make(chan error, 2) // each handler's ctx.Err() when it returns
	r2 := startShutdownRig(t, context.Background(), func(l *provisioning.HelloListener) {
		inner := l.Handler
		l.Handler = func(ctx context.Context, h provisioning.ReceivedHello) {
			inner(ctx, h)
			<-release // a handler still working when Shutdown is called
			handlerErrs <- ctx.Err()
		}
	})

	pkt := floodHello(amt.UUID{0xa1, 1})
	first := dialStarted(t, r2)
	defer first.Close()
	// The first device's hello reaches the handler, which keeps working.
	_, err := first.Write(pkt)
	require.NoError(t, err)
	require.NoError(t, first.(*net.TCPConn).CloseWrite())
	select {
	case h := <-r2.hellos:
		assert.Equal(t, amt.UUID{0xa1, 1}, h.Hello.UUID)
	case <-time.After(10 * time.Second):
		t.Fatal("first hello not delivered")
	}
	assert.Equal(t, provisioning.EventHelloReceived, r2.event(t).Kind)

	// A second device is half-way through its hello.
	second := dialStarted(t, r2)
	defer second.Close()
	_, err = second.Write(pkt[:len(pkt)/2])
	require.NoError(t, err)

	shut := make(chan error, 1)
	go func() { shut <- r2.l.Shutdown(context.Background()) }()
	// Accepting stops at once.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", r2.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, time.Millisecond, "the listener still accepts after Shutdown")

	// The second device finishes: its hello is delivered.
	_, err = second.Write(pkt[len(pkt)/2:])
	require.NoError(t, err)
	require.NoError(t, second.(*net.TCPConn).CloseWrite())
	close(release) // the handlers may return now
	select {
	case h := <-r2.hellos:
		assert.Equal(t, amt.UUID{0xa1, 1}, h.Hello.UUID)
	case <-time.After(10 * time.Second):
		t.Fatal("the hello in flight was not delivered")
	}
	// Dials that got in before the socket closed were empty connections.
	for e := r2.event(t); e.Kind != provisioning.EventHelloReceived; e = r2.event(t) {
		assert.Equal(t, provisioning.EventHelloMalformed, e.Kind)
		assert.Zero(t, e.Bytes)
	}
	select {
	case err := <-shut:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	for range 2 {
		assert.NoError(t, <-handlerErrs, "a graceful shutdown does not cancel handlers")
	}
	assert.ErrorIs(t, r2.serveResult(t), provisioning.ErrListenerClosed)
	st := r2.l.Stats()
	assert.Equal(t, uint64(2), st.Received)
	assert.Equal(t, st.Malformed+2, st.Accepted)
	assert.Zero(t, st.Active)
	assert.Zero(t, st.ReadErrors)

	// Closed for good.
	assert.NoError(t, r2.l.Shutdown(context.Background()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.ErrorIs(t, r2.l.Serve(context.Background(), ln), provisioning.ErrListenerClosed)
	_, err = net.Dial("tcp", ln.Addr().String())
	assert.Error(t, err, "Serve closes the listener it refuses")
	assert.ErrorIs(t, r2.l.ListenAndServe(context.Background(), "127.0.0.1:0"), provisioning.ErrListenerClosed)
}

func TestListenerShutdownWaitsForHandler(t *testing.T) {
	leakcheck.Verify(t)
	release := make(chan struct{})
	r := startShutdownRig(t, context.Background(), func(l *provisioning.HelloListener) {
		inner := l.Handler
		l.Handler = func(ctx context.Context, h provisioning.ReceivedHello) {
			inner(ctx, h)
			<-release
		}
	})
	c := dialStarted(t, r)
	_, err := c.Write(floodHello(amt.UUID{0xa1, 2}))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	<-r.hellos
	shut := make(chan error, 1)
	go func() { shut <- r.l.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a handler runs", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-shut:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the handler did")
	}
	assert.ErrorIs(t, r.serveResult(t), provisioning.ErrListenerClosed)
}

func TestListenerShutdownCutsSlowSender(t *testing.T) {
	leakcheck.Verify(t)
	handlerCanceled := make(chan error, 1)
	r := startShutdownRig(t, context.Background(), func(l *provisioning.HelloListener) {
		inner := l.Handler
		l.Handler = func(ctx context.Context, h provisioning.ReceivedHello) {
			inner(ctx, h)
			<-ctx.Done() // a handler that works until told to stop
			handlerCanceled <- ctx.Err()
		}
	})
	// A handler is busy, and a slow sender never finishes (ReadTimeout is a minute).
	busy := dialStarted(t, r)
	_, err := busy.Write(floodHello(amt.UUID{0xa1, 3}))
	require.NoError(t, err)
	require.NoError(t, busy.Close())
	<-r.hellos
	assert.Equal(t, provisioning.EventHelloReceived, r.event(t).Kind)
	slow := dialStarted(t, r)
	defer slow.Close()
	_, err = slow.Write([]byte{0x00})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = r.l.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)

	// The slow sender was cut, and reported as cut by the stop.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, slow)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the slow connection is still open")
	e := r.event(t)
	assert.Equal(t, provisioning.EventReadError, e.Kind)
	assert.ErrorIs(t, e.Err, provisioning.ErrListenerClosed)
	// The busy handler's context was canceled; then Serve returns.
	select {
	case err := <-handlerCanceled:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the running handler's context was not canceled")
	}
	assert.ErrorIs(t, r.serveResult(t), provisioning.ErrListenerClosed)
	assert.Zero(t, r.l.Stats().Active)
}

func TestListenerShutdownThenCancel(t *testing.T) {
	// Serve's own context still stops everything at once, even during a
	// graceful shutdown.
	leakcheck.Verify(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := startShutdownRig(t, ctx, nil)
	slow := dialStarted(t, r)
	defer slow.Close()
	shut := make(chan error, 1)
	go func() { shut <- r.l.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	assert.ErrorIs(t, r.serveResult(t), provisioning.ErrListenerClosed)
	assert.NoError(t, <-shut, "Serve finished within Shutdown's context")
	assert.ErrorIs(t, r.event(t).Err, provisioning.ErrListenerClosed)
}

func TestListenerShutdownBeforeServe(t *testing.T) {
	leakcheck.Verify(t)
	l := &provisioning.HelloListener{Handler: func(context.Context, provisioning.ReceivedHello) {}}
	assert.NoError(t, l.Shutdown(context.Background()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.ErrorIs(t, l.Serve(context.Background(), ln), provisioning.ErrListenerClosed)
}

func TestListenerCancelStillReusable(t *testing.T) {
	// Stopping by Serve's context (not Shutdown) leaves the listener usable.
	leakcheck.Verify(t)
	l := &provisioning.HelloListener{Handler: func(context.Context, provisioning.ReceivedHello) {}}
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Serve(ctx, ln) }()
		cancel()
		assert.NoError(t, <-done)
	}
}
