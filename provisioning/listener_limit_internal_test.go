package provisioning

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recency returns the limiter's sources from most to least recently seen,
// checking the list's back links, the index and the counters on the way.
func (sl *sourceLimiter) recency(t *testing.T) []sourceKey {
	t.Helper()
	var out []sourceKey
	prev := int32(-1)
	for i := sl.head; i >= 0; i = sl.slots[i].next {
		s := &sl.slots[i]
		assert.Equal(t, prev, s.prev)
		j, ok := sl.index[s.key]
		assert.True(t, ok)
		assert.Equal(t, i, j)
		out = append(out, s.key)
		prev = i
		require.LessOrEqual(t, len(out), len(sl.slots), "the list has a cycle")
	}
	assert.Equal(t, prev, sl.tail)
	assert.Len(t, out, len(sl.index))
	assert.Len(t, out, len(sl.slots))
	assert.Equal(t, int64(len(out)), sl.count.Load())
	assert.LessOrEqual(t, len(out), sl.max)
	return out
}

type limiterClock struct{ t time.Time }

func (c *limiterClock) now() time.Time { return c.t }

func newTestLimiter(t *testing.T, configure func(*HelloListener)) (*HelloListener, *sourceLimiter, *limiterClock) {
	clk := &limiterClock{t: time.Unix(1_700_000_000, 0)}
	l := &HelloListener{Now: clk.now}
	if configure != nil {
		configure(l)
	}
	sl, err := l.newSourceLimiter()
	require.NoError(t, err)
	return l, sl, clk
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestListenerSourceLimiterForgetsLeastRecentlySeen(t *testing.T) {
	l, sl, clk := newTestLimiter(t, func(l *HelloListener) {
		l.MaxSources = 3
		l.PerSourceBurst = 2
		l.PerSourceRate = 1
	})
	a, b, c, d := addr("2001:db8:a::1"), addr("2001:db8:b::1"), addr("192.0.2.1"), addr("2001:db8:d::1")
	ka, kb, kc, kd := sl.key(a), sl.key(b), sl.key(c), sl.key(d)
	assert.Empty(t, sl.recency(t))
	assert.True(t, sl.allow(a, clk.now()))
	assert.True(t, sl.allow(b, clk.now()))
	assert.True(t, sl.allow(c, clk.now()))
	assert.Equal(t, []sourceKey{kc, kb, ka}, sl.recency(t))

	// a again, from another address of its /64: it moves to the front.
	assert.True(t, sl.allow(addr("2001:db8:a::ffff:1"), clk.now()))
	assert.Equal(t, []sourceKey{ka, kc, kb}, sl.recency(t))
	assert.False(t, sl.allow(a, clk.now()), "a's burst of 2 is spent")
	assert.Equal(t, []sourceKey{ka, kc, kb}, sl.recency(t))

	// d is new and the table full: b, the least recently seen, is forgotten
	// and its slot reused.
	assert.True(t, sl.allow(d, clk.now()))
	assert.Equal(t, []sourceKey{kd, ka, kc}, sl.recency(t))
	assert.Len(t, sl.slots, 3)
	assert.Equal(t, uint64(1), l.Stats().SourcesForgotten)
	assert.Equal(t, int64(3), l.Stats().Sources)

	// b comes back with a full bucket (the documented trade-off), pushing c out.
	assert.True(t, sl.allow(b, clk.now()))
	assert.True(t, sl.allow(b, clk.now()))
	assert.False(t, sl.allow(b, clk.now()))
	assert.Equal(t, []sourceKey{kb, kd, ka}, sl.recency(t))
	assert.Equal(t, uint64(2), l.Stats().SourcesForgotten)

	// Seen again: the middle one and the head move or stay in front.
	all := true
	for i := 0; i < 3 && all; i++ {
		all = sl.allow(d, clk.now())
	}
	assert.False(t, all, "not three in a row")
	assert.Equal(t, []sourceKey{kd, kb, ka}, sl.recency(t))
	sl.allow(d, clk.now())
	assert.Equal(t, []sourceKey{kd, kb, ka}, sl.recency(t))
	assert.NotContains(t, sl.recency(t), kc)
}

func TestListenerSourceLimiterRefill(t *testing.T) {
	_, sl, clk := newTestLimiter(t, func(l *HelloListener) {
		l.PerSourceBurst = 3
		l.PerSourceRate = 0.5 // one token every 2 s
	})
	a := addr("198.51.100.7")
	for range 3 {
		assert.True(t, sl.allow(a, clk.now()))
	}
	assert.False(t, sl.allow(a, clk.now()))
	clk.t = clk.t.Add(1900 * time.Millisecond)
	assert.False(t, sl.allow(a, clk.now()), "not yet a whole token")
	clk.t = clk.t.Add(100 * time.Millisecond)
	assert.True(t, sl.allow(a, clk.now()))
	assert.False(t, sl.allow(a, clk.now()))

	// Refilling stops at the burst.
	clk.t = clk.t.Add(time.Hour)
	for range 3 {
		assert.True(t, sl.allow(a, clk.now()))
	}
	assert.False(t, sl.allow(a, clk.now()))

	// A clock that goes back neither refills nor drains; time counts again
	// from the earlier reading.
	clk.t = clk.t.Add(-time.Hour)
	assert.False(t, sl.allow(a, clk.now()))
	clk.t = clk.t.Add(2 * time.Second)
	assert.True(t, sl.allow(a, clk.now()), "refills from the reading after the jump")
}

func TestListenerSourceLimiterDefaults(t *testing.T) {
	_, sl, _ := newTestLimiter(t, nil)
	assert.Equal(t, 20.0, sl.burst)
	assert.Equal(t, 2.0, sl.rate)
	assert.Equal(t, 32, sl.v4bits)
	assert.Equal(t, 64, sl.v6bits)
	assert.Equal(t, 65536, sl.max)
	assert.Equal(t, sl.key(addr("2001:db8::1")), sl.key(addr("2001:db8::ffff:ffff:ffff:ffff")))
	assert.NotEqual(t, sl.key(addr("2001:db8::1")), sl.key(addr("2001:db8:0:1::1")))
	assert.Equal(t, sl.key(addr("192.0.2.1")), sl.key(addr("::ffff:192.0.2.1").Unmap()))
	assert.NotEqual(t, sl.key(addr("0.0.0.0")), sl.key(addr("::")), "IPv4 and IPv6 never share")
	assert.Equal(t, sourceKey{}, sl.key(netip.Addr{}))

	l := &HelloListener{PerSourceBurst: -1}
	off, err := l.newSourceLimiter()
	require.NoError(t, err)
	assert.Nil(t, off, "a negative burst turns the limit off")
}

// TestListenerSourceLimiterMemory measures the bound documented on
// HelloListener.MaxSources: the table full at the default size.
func TestListenerSourceLimiterMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 65,536-source table")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, sl, clk := newTestLimiter(t, nil)
	var a [16]byte
	a[0], a[1] = 0x20, 0x01
	for i := range 3 * defaultMaxSources {
		binary.BigEndian.PutUint32(a[4:], uint32(i))
		sl.allow(netip.AddrFrom16(a), clk.now())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Len(t, sl.slots, defaultMaxSources)
	require.Len(t, sl.index, defaultMaxSources)
	per := float64(after.HeapAlloc-before.HeapAlloc) / defaultMaxSources
	t.Logf("per-source table full at %d sources: %.1f MiB, %.0f bytes a source", defaultMaxSources,
		float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), per)
	assert.Less(t, per, 120.0, "bytes a source (HelloListener.MaxSources says about 105)")
	runtime.KeepAlive(sl)
}
