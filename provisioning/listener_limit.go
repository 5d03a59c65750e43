package provisioning

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// Per-source limits of the hello listener: a token bucket per source, where a
// source is an IPv4 or IPv6 prefix (HelloListener.IPv4PrefixBits and
// IPv6PrefixBits). The buckets live in a table of at most MaxSources slots,
// allocated as sources arrive and then reused: a map from source to slot, and
// the slots on a list from most to least recently seen (linked by index, like
// connList by pointer). Each connection costs one map lookup and a few index
// updates; a new source with the table full takes the least recently seen
// slot. Nothing in the table holds a pointer, so the garbage collector does not
// scan it.

// Defaults of the per-source limit.
const (
	defaultSourceBurst = 20
	defaultSourceRate  = 2 // per second
	defaultIPv4Bits    = 32
	defaultIPv6Bits    = 64
	defaultMaxSources  = 65536
)

// sourceKey is a source prefix: the masked address in 16 bytes (IPv4 in its
// IPv4-mapped form) and whether it is IPv4, so that no IPv6 prefix can share
// an IPv4 source's bucket.
type sourceKey struct {
	addr [16]byte
	v4   bool
}

// sourceSlot is one source's token bucket and its place on the recency list.
type sourceSlot struct {
	key        sourceKey
	tokens     float64
	last       int64 // nanoseconds since the limiter's epoch
	prev, next int32 // towards the most / least recently seen; -1 at the ends
}

// sourceLimiter is the per-source table of one Serve call. Only Serve's accept
// loop uses it; Stats reads the counters it keeps in the listener.
type sourceLimiter struct {
	burst, rate    float64
	v4bits, v6bits int
	max            int
	epoch          time.Time
	index          map[sourceKey]int32
	slots          []sourceSlot
	head, tail     int32 // most and least recently seen; -1 when empty

	count     *atomic.Int64  // HelloListener stats: sources remembered
	forgotten *atomic.Uint64 // and sources forgotten
}

// newSourceLimiter checks the limit's settings and returns a fresh table, or
// nil when the limit is off.
func (l *HelloListener) newSourceLimiter() (*sourceLimiter, error) {
	v4, v6 := l.IPv4PrefixBits, l.IPv6PrefixBits
	if v4 < 0 || v4 > 32 {
		return nil, errors.New("provisioning: HelloListener.IPv4PrefixBits is " + strconv.Itoa(v4) + ", want 0 to 32")
	}
	if v6 < 0 || v6 > 128 {
		return nil, errors.New("provisioning: HelloListener.IPv6PrefixBits is " + strconv.Itoa(v6) + ", want 0 to 128")
	}
	if l.MaxSources < 0 || l.MaxSources > 1<<30 {
		return nil, errors.New("provisioning: HelloListener.MaxSources is " + strconv.Itoa(l.MaxSources) + ", want 0 to 2^30")
	}
	if r := l.PerSourceRate; math.IsNaN(r) || math.IsInf(r, 1) {
		// NaN tokens are never below one: the limit would be off unsaid.
		return nil, errors.New("provisioning: HelloListener.PerSourceRate is " + strconv.FormatFloat(r, 'g', -1, 64) + ", want a finite number")
	}
	if l.PerSourceBurst < 0 {
		return nil, nil
	}
	sl := &sourceLimiter{
		burst: float64(l.PerSourceBurst), rate: l.PerSourceRate,
		v4bits: v4, v6bits: v6, max: l.MaxSources,
		epoch: l.now(), head: -1, tail: -1,
		count: &l.stats.sources, forgotten: &l.stats.sourcesForgotten,
	}
	if sl.burst == 0 {
		sl.burst = defaultSourceBurst
	}
	if sl.rate <= 0 {
		sl.rate = defaultSourceRate
	}
	if sl.v4bits == 0 {
		sl.v4bits = defaultIPv4Bits
	}
	if sl.v6bits == 0 {
		sl.v6bits = defaultIPv6Bits
	}
	if sl.max == 0 {
		sl.max = defaultMaxSources
	}
	sl.index = make(map[sourceKey]int32, min(sl.max, 1024))
	return sl, nil
}

// key returns the source prefix ip belongs to. An invalid address (a
// listener whose connections report no IP) is one source.
func (sl *sourceLimiter) key(ip netip.Addr) sourceKey {
	switch {
	case ip.Is4():
		p, _ := ip.Prefix(sl.v4bits)
		return sourceKey{addr: p.Addr().As16(), v4: true}
	case ip.Is6():
		p, _ := ip.Prefix(sl.v6bits)
		return sourceKey{addr: p.Addr().As16()}
	}
	return sourceKey{}
}

// allow takes a token from ip's source at now, reporting false when it has none.
func (sl *sourceLimiter) allow(ip netip.Addr, now time.Time) bool {
	k := sl.key(ip)
	t := now.Sub(sl.epoch).Nanoseconds()
	i, ok := sl.index[k]
	if !ok {
		i = sl.slotFor(k, t)
	} else if i != sl.head {
		sl.unlink(i)
		sl.pushFront(i)
	}
	s := &sl.slots[i]
	if t > s.last {
		s.tokens = min(sl.burst, s.tokens+float64(t-s.last)*sl.rate/1e9)
	}
	s.last = t // a clock that went back neither refills nor drains the bucket
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// slotFor gives the new source k a full bucket in a fresh slot, or in the
// least recently seen one when the table is full.
func (sl *sourceLimiter) slotFor(k sourceKey, t int64) int32 {
	var i int32
	if len(sl.slots) < sl.max {
		sl.slots = append(sl.slots, sourceSlot{})
		i = int32(len(sl.slots) - 1)
		sl.count.Add(1)
	} else {
		i = sl.tail
		sl.unlink(i)
		delete(sl.index, sl.slots[i].key)
		sl.forgotten.Add(1)
	}
	sl.slots[i] = sourceSlot{key: k, tokens: sl.burst, last: t}
	sl.index[k] = i
	sl.pushFront(i)
	return i
}

func (sl *sourceLimiter) pushFront(i int32) {
	s := &sl.slots[i]
	s.prev, s.next = -1, sl.head
	if sl.head >= 0 {
		sl.slots[sl.head].prev = i
	} else {
		sl.tail = i
	}
	sl.head = i
}

func (sl *sourceLimiter) unlink(i int32) {
	s := &sl.slots[i]
	if s.prev >= 0 {
		sl.slots[s.prev].next = s.next
	} else {
		sl.head = s.next
	}
	if s.next >= 0 {
		sl.slots[s.next].prev = s.prev
	} else {
		sl.tail = s.prev
	}
	s.prev, s.next = -1, -1
}
