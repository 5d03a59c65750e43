package provisioning_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// Source spoofing for the listener's attack tests and benchmarks, black-box:
// the HelloListener serves an ordinary net.Listener, and these listeners hand
// it connections whose RemoteAddr reports whatever source the test chose. No
// test can bind 200,000 IPv6 addresses on loopback, and none needs to: the
// listener learns a connection's source from RemoteAddr and nothing else.

// spoofConn is a connection whose peer has already written data and closed
// its side: Read returns data, then io.EOF. Writes (a probe's answer) are
// discarded.
type spoofConn struct {
	data   []byte
	off    int
	src    net.Addr
	closed atomic.Bool
}

var spoofLocal = &net.TCPAddr{IP: net.IPv6loopback, Port: 9971}

func newSpoofConn(src netip.AddrPort, data []byte) *spoofConn {
	return &spoofConn{data: data, src: net.TCPAddrFromAddrPort(src)}
}

func (c *spoofConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if c.off >= len(c.data) {
		return 0, io.EOF
	}
	n := copy(p, c.data[c.off:])
	c.off += n
	return n, nil
}

func (c *spoofConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (c *spoofConn) Close() error {
	c.closed.Store(true)
	return nil
}

func (c *spoofConn) LocalAddr() net.Addr              { return spoofLocal }
func (c *spoofConn) RemoteAddr() net.Addr             { return c.src }
func (c *spoofConn) SetDeadline(time.Time) error      { return nil }
func (c *spoofConn) SetReadDeadline(time.Time) error  { return nil }
func (c *spoofConn) SetWriteDeadline(time.Time) error { return nil }

// spoofListener merges a real loopback listener with connections the test
// injects (spoofConns, or anything else): Accept returns whichever comes first.
type spoofListener struct {
	real   net.Listener
	inject chan net.Conn
	conns  chan net.Conn // accepted by pump from real
	closed chan struct{}
	once   sync.Once
	pumped sync.WaitGroup
}

func newSpoofListener(tb testing.TB) *spoofListener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	sl := &spoofListener{real: ln, inject: make(chan net.Conn), conns: make(chan net.Conn), closed: make(chan struct{})}
	sl.pumped.Add(1)
	go sl.pump()
	tb.Cleanup(func() { sl.Close(); sl.pumped.Wait() })
	return sl
}

func (sl *spoofListener) pump() {
	defer sl.pumped.Done()
	for {
		c, err := sl.real.Accept()
		if err != nil {
			return
		}
		select {
		case sl.conns <- c:
		case <-sl.closed:
			c.Close()
			return
		}
	}
}

func (sl *spoofListener) Accept() (net.Conn, error) {
	select {
	case c := <-sl.inject:
		return c, nil
	case c := <-sl.conns:
		return c, nil
	case <-sl.closed:
		return nil, net.ErrClosed
	}
}

// Inject hands c to the next Accept; false when the listener was closed first.
func (sl *spoofListener) Inject(c net.Conn) bool {
	select {
	case sl.inject <- c:
		return true
	case <-sl.closed:
		return false
	}
}

func (sl *spoofListener) Close() error {
	sl.once.Do(func() {
		close(sl.closed)
		sl.real.Close()
	})
	return nil
}

func (sl *spoofListener) Addr() net.Addr { return sl.real.Addr() }

// sliceListener returns prepared connections as fast as Accept is called, then
// blocks until closed: the accept path alone, for benchmarks.
type sliceListener struct {
	conns  []net.Conn
	next   atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func (sl *sliceListener) Accept() (net.Conn, error) {
	if i := sl.next.Add(1) - 1; i < int64(len(sl.conns)) {
		c := sl.conns[i]
		sl.conns[i] = nil
		return c, nil
	}
	<-sl.closed
	return nil, net.ErrClosed
}

func (sl *sliceListener) Close() error {
	sl.once.Do(func() { close(sl.closed) })
	return nil
}

func (sl *sliceListener) Addr() net.Addr { return spoofLocal }

// floodSource returns the i-th source of a flood: with samePrefix, distinct
// interface identifiers in 2001:db8:bad:1::/64; otherwise one address in each
// of distinct /64s (2001:db8:bad:<i>::1 and up, spread over the /32).
func floodSource(i int, samePrefix bool) netip.AddrPort {
	var a [16]byte
	copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad})
	if samePrefix {
		a[7] = 1
		binary.BigEndian.PutUint64(a[8:], 0x5eed_0000_0000_0000|uint64(i)*0x9e37_79b9+1)
	} else {
		binary.BigEndian.PutUint32(a[4:], 0x0bad_0000+uint32(i)) // 2001:db8:bad:<i>::1, carrying into the /32
		a[15] = 1
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a), uint16(40000+i%20000))
}

// BenchmarkHelloListenerIPv6Flood: connections accepted per second while
// every connection comes from a distinct IPv6 source, through the public API
// (a HelloListener serving a listener of prepared connections, so that the
// accept path is measured rather than loopback TCP). In "one-/64" all
// sources share 2001:db8:bad:1::/64 and all but the first burst are refused
// at accept; in "distinct-/64s" each source is its own /64, so each passes,
// is read and delivered, and the per-source table stays full and forgets a
// source per connection. "default" is the default limit (burst 20, 2 a
// second); "strict" allows a burst of 5 and one hello every 10 s, under which
// a source's bucket takes 10 s to refill. Metrics: accepts/s over the run, and
// tail-accepts/s over its second half (the steady state once the per-source
// table is full). Run with
// -benchtime=200000x to cross the per-source table's capacity (65,536 sources
// by default).
func BenchmarkHelloListenerIPv6Flood(b *testing.B) {
	pkt := floodHello(amt.UUID{0xbd})
	for _, src := range []struct {
		name       string
		samePrefix bool
	}{{"one-/64", true}, {"distinct-/64s", false}} {
		for _, lim := range []struct {
			name  string
			burst int
			rate  float64
		}{{"default", 0, 0}, {"strict", 5, 0.1}} {
			b.Run(src.name+"/"+lim.name, func(b *testing.B) {
				benchFlood(b, pkt, src.samePrefix, lim.burst, lim.rate)
			})
		}
	}
}

func benchFlood(b *testing.B, pkt []byte, samePrefix bool, burst int, rate float64) {
	conns := make([]net.Conn, b.N)
	for i := range conns {
		conns[i] = newSpoofConn(floodSource(i, samePrefix), pkt)
	}
	sl := &sliceListener{conns: conns, closed: make(chan struct{})}
	var events atomic.Int64
	var half atomic.Int64 // time.Now().UnixNano() when half the connections were done
	all := make(chan struct{})
	l := &provisioning.HelloListener{
		Handler:        func(context.Context, provisioning.ReceivedHello) {},
		PerSourceBurst: burst,
		PerSourceRate:  rate,
		// Every connection ends in exactly one event.
		OnEvent: func(provisioning.ListenerEvent) {
			switch events.Add(1) {
			case int64(b.N) / 2:
				half.Store(time.Now().UnixNano())
			case int64(b.N):
				close(all)
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() { done <- l.Serve(ctx, sl) }()
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d connections finished", events.Load(), b.N)
	}
	end := time.Now()
	elapsed := end.Sub(start)
	b.StopTimer()
	cancel()
	<-done
	st := l.Stats()
	b.ReportMetric(float64(st.Accepted)/elapsed.Seconds(), "accepts/s")
	if h := half.Load(); h > 0 && end.UnixNano() > h {
		// The second half alone: the steady state once the table is full.
		b.ReportMetric(float64(b.N-b.N/2)/(float64(end.UnixNano()-h)/1e9), "tail-accepts/s")
	}
	b.ReportMetric(float64(st.RateLimited), "rate-limited")
}
