package provisioning_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/provisioning"
)

type listenerHarness struct {
	t      *testing.T
	l      *provisioning.HelloListener
	addr   string
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	hellos []provisioning.ReceivedHello
	events []provisioning.ListenerEvent
	got    chan struct{}
}

func startListener(t *testing.T, configure func(*provisioning.HelloListener)) *listenerHarness {
	t.Helper()
	h := &listenerHarness{t: t, done: make(chan error, 1), got: make(chan struct{}, 1000)}
	h.l = &provisioning.HelloListener{
		Handler: func(ctx context.Context, r provisioning.ReceivedHello) {
			h.mu.Lock()
			h.hellos = append(h.hellos, r)
			h.mu.Unlock()
		},
		OnEvent: func(e provisioning.ListenerEvent) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
			h.got <- struct{}{}
		},
		ReadTimeout: 2 * time.Second,
	}
	if configure != nil {
		configure(h.l)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.l.Serve(ctx, ln) }()
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *listenerHarness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		assert.NoError(h.t, err)
	case <-time.After(5 * time.Second):
		h.t.Error("Serve did not return after cancel")
	}
}

func (h *listenerHarness) send(b []byte) {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	require.NoError(h.t, err)
	_, err = c.Write(b)
	require.NoError(h.t, err)
	require.NoError(h.t, c.Close())
}

// waitEvents waits until n events were reported.
func (h *listenerHarness) waitEvents(n int) []provisioning.ListenerEvent {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		if len(h.events) >= n {
			ev := append([]provisioning.ListenerEvent(nil), h.events...)
			h.mu.Unlock()
			return ev
		}
		h.mu.Unlock()
		select {
		case <-h.got:
		case <-deadline:
			h.t.Fatalf("timed out waiting for %d events", n)
		}
	}
}

func TestListenerReceivesHellos(t *testing.T) {
	h := startListener(t, nil)
	vs := loadHellos(t)
	for _, v := range vs {
		h.send(v.Packet)
	}
	ev := h.waitEvents(len(vs))
	for _, e := range ev {
		assert.Equal(t, provisioning.EventHelloReceived, e.Kind)
		assert.True(t, e.Source.Addr().IsLoopback())
	}
	// The event is reported before the handler runs: wait for the handler
	// too before stopping (stopping first could cut the last one short).
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.hellos) >= len(vs)
	}, 10*time.Second, time.Millisecond, "every hello reaches the handler")
	h.stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Len(t, h.hellos, len(vs))
	seen := map[string]bool{}
	sent := map[string]int{}
	for _, v := range vs {
		sent[string(v.Packet)]++
	}
	for _, r := range h.hellos {
		seen[r.Hello.UUID.String()] = true
		assert.False(t, r.Received.IsZero())
		// Each delivered hello owns its memory: later connections (decoded with
		// the same pooled decoder) have not changed it.
		out, err := r.Hello.AppendBinary(nil)
		require.NoError(t, err)
		assert.Positive(t, sent[string(out)], "delivered hello %s is not one that was sent", r.Hello)
		sent[string(out)]--
	}
	assert.True(t, seen["d2ffc23e-9dd1-412d-860a-54b2039b72ff"])
	st := h.l.Stats()
	assert.Equal(t, uint64(len(vs)), st.Received)
	assert.Equal(t, int64(0), st.Active)
}

func TestListenerSplitWrites(t *testing.T) {
	// MeshCentral's server kept only the first TCP segment; we read to EOF.
	h := startListener(t, nil)
	pkt := loadHellos(t)[2].Packet
	c, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	for i := 0; i < len(pkt); i += 100 {
		_, err := c.Write(pkt[i:min(i+100, len(pkt))])
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	require.NoError(t, c.Close())
	ev := h.waitEvents(1)
	assert.Equal(t, provisioning.EventHelloReceived, ev[0].Kind)
	assert.Equal(t, len(pkt), ev[0].Bytes)
}

func TestListenerBadInput(t *testing.T) {
	h := startListener(t, func(l *provisioning.HelloListener) {
		l.MaxHelloSize = 2000
		l.ReadTimeout = 300 * time.Millisecond
	})
	pkt := loadHellos(t)[2].Packet
	h.send(pkt[:100])                 // truncated
	h.send(make([]byte, 3000))        // oversize
	h.send([]byte("garbage garbage")) // malformed
	// slow: opens and never finishes
	slow, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer slow.Close()
	_, _ = slow.Write(pkt[:10])
	ev := h.waitEvents(4)
	kinds := map[provisioning.ListenerEventKind]int{}
	for _, e := range ev {
		kinds[e.Kind]++
		if e.Kind == provisioning.EventHelloMalformed {
			assert.Error(t, e.Err)
			var he *hello.Error
			assert.True(t, errors.As(e.Err, &he))
		}
	}
	assert.Equal(t, 2, kinds[provisioning.EventHelloMalformed])
	assert.Equal(t, 1, kinds[provisioning.EventHelloOversize])
	assert.Equal(t, 1, kinds[provisioning.EventHelloTimeout])
	// The listener still works.
	h.send(pkt)
	ev = h.waitEvents(5)
	assert.Equal(t, provisioning.EventHelloReceived, ev[4].Kind)
	// The event is emitted before the handler runs.
	assert.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.hellos) == 1
	}, 5*time.Second, time.Millisecond)
}

func TestListenerHTTPProbe(t *testing.T) {
	h := startListener(t, nil)
	resp, err := http.Get("http://" + h.addr + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(body), "hello")
	ev := h.waitEvents(1)
	assert.Equal(t, provisioning.EventProbe, ev[0].Kind)
	// Raw probe too.
	c, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET /x HTTP/1.0\r\nHost: a\r\n\r\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 200 OK\r\n", line)
}

func TestListenerDuplicateAndRateLimit(t *testing.T) {
	inSession := map[amt.UUID]bool{}
	var sources []netip.AddrPort // what InSession was asked about
	var mu sync.Mutex
	h := startListener(t, func(l *provisioning.HelloListener) {
		l.InSession = func(u amt.UUID, src netip.AddrPort) bool {
			mu.Lock()
			defer mu.Unlock()
			sources = append(sources, src)
			return inSession[u]
		}
		l.PerSourceBurst = 3
		l.PerSourceRate = 0.001
	})
	pkt := loadHellos(t)[2].Packet
	hello, _ := hello.Parse(pkt)
	mu.Lock()
	inSession[hello.UUID] = true
	mu.Unlock()
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		_, _ = c.Write(pkt)
		c.Close()
	}
	ev := h.waitEvents(5)
	kinds := map[provisioning.ListenerEventKind]int{}
	for _, e := range ev {
		kinds[e.Kind]++
	}
	assert.Equal(t, 3, kinds[provisioning.EventHelloDuplicate])
	assert.Equal(t, 2, kinds[provisioning.EventRateLimited])
	h.mu.Lock()
	assert.Empty(t, h.hellos)
	h.mu.Unlock()
	// InSession is told where each hello came from.
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, sources, 3)
	for _, src := range sources {
		assert.True(t, src.Addr().IsLoopback(), "source %v", src)
		assert.NotZero(t, src.Port())
	}
}

func TestListenerEvictsOldestUnderFlood(t *testing.T) {
	h := startListener(t, func(l *provisioning.HelloListener) {
		l.MaxConns = 8
		l.PerSourceBurst = -1
		l.ReadTimeout = 30 * time.Second
	})
	var idle []net.Conn
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	h.waitEvents(12) // 20 idle connections, 8 allowed: 12 evictions
	// A legitimate device still gets through.
	h.send(loadHellos(t)[2].Packet)
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.hellos)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "legitimate hello starved")
		time.Sleep(10 * time.Millisecond)
	}
	assert.GreaterOrEqual(t, h.l.Stats().Evicted, uint64(12))
}

func TestListenerStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	h := startListener(t, nil)
	var conns []net.Conn
	for i := 0; i < 10; i++ {
		c, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool { return h.l.Stats().Active == 10 }, 5*time.Second, time.Millisecond, "the listener holds the connections")
	h.stop()
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before+1, "goroutines leaked")
	// Serve on a busy listener is refused; a nil handler is refused.
	l := &provisioning.HelloListener{}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	assert.Error(t, l.Serve(context.Background(), ln))
}

func TestListenerEventKindString(t *testing.T) {
	assert.Equal(t, "hello-malformed", provisioning.EventHelloMalformed.String())
	assert.Equal(t, "ListenerEventKind(99)", provisioning.ListenerEventKind(99).String())
}
