package provisioning_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/leakcheck"
	"github.com/amtkit/amtkit/provisioning"
)

// floodRun is one attack on a HelloListener through the public API: the
// listener serves a spoofListener (a real loopback listener plus injected
// connections that report spoofed sources), flood connections carry valid
// hellos marked 0xbd, legitimate ones hellos marked 0xa1 with distinct UUIDs.
type floodRun struct {
	t  *testing.T
	l  *provisioning.HelloListener
	sl *spoofListener

	mu         sync.Mutex
	legit      map[amt.UUID]netip.AddrPort // delivered legitimate hellos and their sources
	floodFrom  map[netip.Prefix]int        // delivered flood hellos by /64
	flood      atomic.Int64                // delivered flood hellos
	events     atomic.Int64                // connection outcomes (one per connection)
	maxSources atomic.Int64                // largest Stats().Sources sampled
}

func startFloodRun(t *testing.T, configure func(*provisioning.HelloListener)) (*floodRun, func() error) {
	r := &floodRun{t: t, legit: make(map[amt.UUID]netip.AddrPort), floodFrom: make(map[netip.Prefix]int)}
	r.l = &provisioning.HelloListener{
		Handler: func(_ context.Context, h provisioning.ReceivedHello) {
			switch h.Hello.UUID[0] {
			case 0xa1:
				r.mu.Lock()
				r.legit[h.Hello.UUID] = h.Source
				r.mu.Unlock()
			case 0xbd:
				r.flood.Add(1)
				p, _ := h.Source.Addr().Prefix(64)
				r.mu.Lock()
				r.floodFrom[p]++
				r.mu.Unlock()
			}
		},
		OnEvent: func(provisioning.ListenerEvent) { r.events.Add(1) },
	}
	if configure != nil {
		configure(r.l)
	}
	r.sl = newSpoofListener(t)
	served := make(chan error, 1)
	go func() { served <- r.l.Serve(context.Background(), r.sl) }()

	sampleCtx, stopSampling := context.WithCancel(context.Background())
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
				if n := r.l.Stats().Sources; n > r.maxSources.Load() {
					r.maxSources.Store(n)
				}
			}
		}
	}()
	stop := func() error {
		stopSampling()
		sampler.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, r.l.Shutdown(ctx))
		return <-served
	}
	return r, stop
}

// waitEvents waits until n connections have ended.
func (r *floodRun) waitEvents(n int64) {
	r.t.Helper()
	require.Eventually(r.t, func() bool { return r.events.Load() >= n }, 2*time.Minute, time.Millisecond,
		"connections finished: want %d", n)
}

func legitUUID(i int) amt.UUID {
	var u amt.UUID
	u[0] = 0xa1
	binary.BigEndian.PutUint32(u[12:], uint32(i))
	return u
}

// TestHelloListenerIPv6PrefixFlood is the attack of issue 13: 200,000 hellos,
// each from a distinct IPv6 address of one /64, interleaved with legitimate
// hellos from other sources — IPv6 addresses of other /64s, and (on Linux)
// real loopback TCP connections from 127.88.0.0/16 — with the default limits.
// The /64 must be limited as one source (at most its burst, plus what its
// rate refills while the flood lasts, is delivered), every legitimate hello
// must be delivered, and the per-source bookkeeping must stay within its
// bound. The second case floods from more distinct /64s than the table holds
// while one /64 keeps flooding among them: the table never grows past
// MaxSources, forgets exactly the overflow, keeps the flooding /64 limited
// (it is always among the most recently seen), and lets every legitimate
// hello through. Accepts per second under the same floods:
// BenchmarkHelloListenerIPv6Flood.
func TestHelloListenerIPv6PrefixFlood(t *testing.T) {
	tcpLegit := runtime.GOOS == "linux" && loopbackAliases(t)
	if !tcpLegit {
		t.Log("127/8 is not all loopback here: legitimate hellos are injected only")
	}
	t.Run("200000 sources in one /64", func(t *testing.T) {
		leakcheck.Verify(t, leakcheck.Options{Timeout: 30 * time.Second})
		const (
			floodN     = 200_000
			legitEvery = 400 // an injected legitimate hello after every 400 flood connections
			tcpEvery   = 2000
			burst      = 20 // the defaults
			rate       = 2.0
		)
		r, stop := startFloodRun(t, nil)
		pkt := floodHello(amt.UUID{0xbd})
		var legitSent, tcpSent int
		start := time.Now()
		for i := 0; i < floodN; i++ {
			require.True(t, r.sl.Inject(newSpoofConn(floodSource(i, true), pkt)))
			if i%legitEvery == legitEvery-1 {
				// A device in its own /64: 2001:db8:600d:<n>::a1.
				var a [16]byte
				copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0x60, 0x0d})
				binary.BigEndian.PutUint16(a[6:], uint16(legitSent))
				a[15] = 0xa1
				src := netip.AddrPortFrom(netip.AddrFrom16(a), 50000)
				require.True(t, r.sl.Inject(newSpoofConn(src, floodHello(legitUUID(legitSent)))))
				legitSent++
			}
			if tcpLegit && i%tcpEvery == tcpEvery-1 {
				src := fmt.Sprintf("127.88.%d.%d", tcpSent/250, 1+tcpSent%250)
				require.NoError(t, sendOne(src, r.sl.Addr().String(), floodHello(legitUUID(legitSent))))
				tcpSent++
				legitSent++
			}
		}
		r.waitEvents(int64(floodN + legitSent))
		floodTime := time.Since(start) // every connection has been accepted
		require.ErrorIs(t, stop(), provisioning.ErrListenerClosed)
		st := r.l.Stats()

		r.mu.Lock()
		delivered := len(r.legit)
		floodFrom := len(r.floodFrom)
		for u, src := range r.legit {
			i := int(binary.BigEndian.Uint32(u[12:]))
			require.Less(t, i, legitSent)
			assert.False(t, netip.MustParsePrefix("2001:db8:bad::/48").Contains(src.Addr()), "legitimate hello %d reported from the flood's prefix (%v)", i, src)
		}
		r.mu.Unlock()
		bound := int64(burst + rate*floodTime.Seconds() + 1)
		t.Logf("flood: %d connections from one /64 in %v (%.0f/s, test-driven); delivered %d (bound %d), rate-limited %d",
			floodN, floodTime.Round(time.Millisecond), floodN/floodTime.Seconds(), r.flood.Load(), bound, st.RateLimited)
		t.Logf("legitimate hellos: %d of %d delivered (%d over loopback TCP); sources remembered at most %d, %d at the end, %d forgotten",
			delivered, legitSent, tcpSent, r.maxSources.Load(), st.Sources, st.SourcesForgotten)

		// The /64 is one source.
		assert.LessOrEqual(t, r.flood.Load(), bound, "the /64 must be limited as one source")
		assert.Equal(t, 1, floodFrom, "flood hellos delivered must all count against the same /64")
		assert.GreaterOrEqual(t, int64(st.RateLimited), int64(floodN)-bound)
		// Every legitimate hello got through.
		assert.Equal(t, legitSent, delivered, "legitimate hellos delivered")
		// Bookkeeping: one bucket for the /64, one per legitimate source.
		assert.LessOrEqual(t, r.maxSources.Load(), int64(1+legitSent))
		assert.LessOrEqual(t, st.Sources, int64(1+legitSent))
		assert.Zero(t, st.SourcesForgotten)
		assert.Equal(t, uint64(floodN+legitSent), st.Accepted)
	})

	t.Run("more /64s than the table holds", func(t *testing.T) {
		leakcheck.Verify(t, leakcheck.Options{Timeout: 30 * time.Second})
		const (
			maxSources = 4096
			distinct   = 50_000 // 12 times the table
			hotEvery   = 10     // a connection from the flooding /64 after every 10 others
			legitEvery = 100
			burst      = 5
			rate       = 1.0
		)
		r, stop := startFloodRun(t, func(l *provisioning.HelloListener) {
			l.MaxSources = maxSources
			l.PerSourceBurst = burst
			l.PerSourceRate = rate
			// The scenario is the source table: every connection is read
			// (the churn's garbage too), and on a loaded machine the readers
			// can fall behind the injection; with the default MaxConns the
			// oldest connections — a legitimate hello among them — were then
			// evicted (a flake seen once: 485 of 500 delivered). The
			// connection limit has its own tests.
			l.MaxConns = distinct + distinct/hotEvery + distinct/legitEvery + 1
		})
		churn := []byte("not a hello") // the distinct /64s send garbage: read, reported malformed
		pkt := floodHello(amt.UUID{0xbd})
		var hot, legitSent int
		start := time.Now()
		for i := 0; i < distinct; i++ {
			require.True(t, r.sl.Inject(newSpoofConn(floodSource(i+2, false), churn)))
			if i%hotEvery == 0 {
				require.True(t, r.sl.Inject(newSpoofConn(floodSource(hot, true), pkt)))
				hot++
			}
			if i%legitEvery == legitEvery-1 {
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(legitSent >> 8), byte(legitSent)}), 50000)
				require.True(t, r.sl.Inject(newSpoofConn(src, floodHello(legitUUID(legitSent)))))
				legitSent++
			}
		}
		r.waitEvents(int64(distinct + hot + legitSent))
		floodTime := time.Since(start)
		require.ErrorIs(t, stop(), provisioning.ErrListenerClosed)
		st := r.l.Stats()
		r.mu.Lock()
		delivered := len(r.legit)
		r.mu.Unlock()
		bound := int64(burst + rate*floodTime.Seconds() + 1)
		t.Logf("%d distinct /64s and %d connections from one flooding /64 in %v: sources remembered at most %d (bound %d), %d forgotten; flooding /64 delivered %d (bound %d); legitimate %d of %d",
			distinct, hot, floodTime.Round(time.Millisecond), r.maxSources.Load(), maxSources, st.SourcesForgotten,
			r.flood.Load(), bound, delivered, legitSent)

		assert.LessOrEqual(t, r.maxSources.Load(), int64(maxSources), "the table never grows past MaxSources")
		assert.Equal(t, int64(maxSources), st.Sources)
		// Sources: the distinct /64s, the flooding /64 and the legitimate ones,
		// each new; all but the table's worth were forgotten.
		assert.Equal(t, uint64(distinct+1+legitSent-maxSources), st.SourcesForgotten)
		assert.LessOrEqual(t, r.flood.Load(), bound, "the flooding /64 stays limited while others churn the table")
		assert.Zero(t, st.Evicted, "no connection evicted")
		assert.Equal(t, legitSent, delivered, "legitimate hellos delivered")
		assert.Equal(t, uint64(distinct), st.Malformed)
	})
}

// TestHelloListenerSourcePrefixes: which addresses share a bucket, by the
// configured prefix lengths, seen through the public API.
func TestHelloListenerSourcePrefixes(t *testing.T) {
	pkt := floodHello(amt.UUID{0xbd})
	ap := func(s string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(s), 1234) }
	tests := []struct {
		name      string
		configure func(*provisioning.HelloListener)
		sources   []netip.AddrPort
		sources2  int64  // sources remembered at the end
		limited   uint64 // connections refused (burst 1, no refill)
	}{
		{"IPv6 default /64", nil,
			[]netip.AddrPort{ap("2001:db8:1:2::1"), ap("2001:db8:1:2:ffff::9"), ap("2001:db8:1:3::1"), ap("2001:db8:1:3::2%eth0")},
			2, 2},
		{"IPv6 /48", func(l *provisioning.HelloListener) { l.IPv6PrefixBits = 48 },
			[]netip.AddrPort{ap("2001:db8:1:2::1"), ap("2001:db8:1:3::1"), ap("2001:db8:2::1")},
			2, 1},
		{"IPv4 default /32", nil,
			[]netip.AddrPort{ap("192.0.2.1"), ap("192.0.2.1"), ap("192.0.2.2"), ap("::ffff:192.0.2.2")},
			2, 2},
		{"IPv4 /24", func(l *provisioning.HelloListener) { l.IPv4PrefixBits = 24 },
			[]netip.AddrPort{ap("192.0.2.1"), ap("192.0.2.200"), ap("192.0.3.1")},
			2, 1},
		{"IPv4 is not IPv6", func(l *provisioning.HelloListener) { l.IPv6PrefixBits = 128 },
			[]netip.AddrPort{ap("0.0.0.1"), ap("::1")},
			2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got atomic.Int64
			l := &provisioning.HelloListener{
				Handler:        func(context.Context, provisioning.ReceivedHello) {},
				OnEvent:        func(provisioning.ListenerEvent) { got.Add(1) },
				PerSourceBurst: 1,
				PerSourceRate:  1e-9,
			}
			if tt.configure != nil {
				tt.configure(l)
			}
			sl := newSpoofListener(t)
			served := make(chan error, 1)
			go func() { served <- l.Serve(context.Background(), sl) }()
			for _, src := range tt.sources {
				require.True(t, sl.Inject(newSpoofConn(src, pkt)))
			}
			require.Eventually(t, func() bool { return got.Load() == int64(len(tt.sources)) }, 10*time.Second, time.Millisecond)
			require.NoError(t, l.Shutdown(context.Background()))
			assert.ErrorIs(t, <-served, provisioning.ErrListenerClosed)
			st := l.Stats()
			assert.Equal(t, tt.limited, st.RateLimited)
			assert.Equal(t, tt.sources2, st.Sources)
		})
	}
}

func TestHelloListenerRefusesBadPrefixes(t *testing.T) {
	for _, configure := range []func(*provisioning.HelloListener){
		func(l *provisioning.HelloListener) { l.IPv4PrefixBits = 33 },
		func(l *provisioning.HelloListener) { l.IPv4PrefixBits = -1 },
		func(l *provisioning.HelloListener) { l.IPv6PrefixBits = 129 },
		func(l *provisioning.HelloListener) { l.MaxSources = -1 },
	} {
		l := &provisioning.HelloListener{Handler: func(context.Context, provisioning.ReceivedHello) {}}
		configure(l)
		sl := newSpoofListener(t)
		err := l.Serve(context.Background(), sl)
		assert.ErrorContains(t, err, "HelloListener.")
		assert.False(t, sl.Inject(newSpoofConn(ap1, nil)), "the listener is closed")
	}
}

var ap1 = netip.MustParseAddrPort("192.0.2.1:1")
