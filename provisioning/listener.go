package provisioning

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
)

// DefaultHelloAddr is where AMT devices send hellos unless configured otherwise.
const DefaultHelloAddr = ":9971"

// ReceivedHello is a decoded hello with where and when it arrived.
type ReceivedHello struct {
	Hello    *hello.Message
	Source   netip.AddrPort // the TCP peer: the device's address, or a relay's
	Received time.Time      // when the connection was closed by the sender
}

// ListenerEventKind classifies what happened to one connection.
type ListenerEventKind int

// Listener event kinds.
const (
	// EventHelloReceived: a well-formed hello was handed to the handler.
	EventHelloReceived ListenerEventKind = iota + 1
	// EventHelloMalformed: the bytes were not a valid hello (Err says why).
	EventHelloMalformed
	// EventHelloDuplicate: a valid hello from a device already in a session.
	EventHelloDuplicate
	// EventHelloOversize: more than hello.MaxSize bytes were sent.
	EventHelloOversize
	// EventHelloTimeout: the sender did not finish within ReadTimeout.
	EventHelloTimeout
	// EventProbe: an HTTP GET was answered with a banner.
	EventProbe
	// EventRateLimited: the source exceeded its per-source rate; the connection
	// was closed unread.
	EventRateLimited
	// EventEvicted: the connection limit was reached and this (oldest unfinished)
	// connection was closed to make room for a new one.
	EventEvicted
	// EventReadError: the connection failed (reset, …) before the sender closed it.
	EventReadError
)

var listenerEventNames = [...]string{"", "hello-received", "hello-malformed", "hello-duplicate", "hello-oversize",
	"hello-timeout", "probe", "rate-limited", "evicted", "read-error"}

// String returns a stable name such as "hello-malformed".
func (k ListenerEventKind) String() string {
	if k > 0 && int(k) < len(listenerEventNames) {
		return listenerEventNames[k]
	}
	return "ListenerEventKind(" + strconv.Itoa(int(k)) + ")"
}

// ListenerEvent reports the outcome of one connection to the hello listener.
type ListenerEvent struct {
	Kind   ListenerEventKind
	Source netip.AddrPort
	Time   time.Time
	UUID   amt.UUID // for received and duplicate hellos
	Bytes  int      // bytes read
	Err    error    // for malformed hellos and read errors
}

// ListenerStats counts listener events since the listener started.
type ListenerStats struct {
	Accepted, Received, Malformed, Duplicate, Oversize, Timeout, Probes, RateLimited, Evicted, ReadErrors uint64
	Active                                                                                                int64
}

// HelloListener accepts hello connections, reads each to EOF within a size cap and
// a deadline, answers HTTP probes with a banner, decodes hellos and hands them to
// Handler. A malformed, oversize, slow or rate-limited connection is counted and
// reported, never blocks others.
//
// Configure the fields before calling [HelloListener.Serve]; the zero value of each
// optional field is documented. A HelloListener serves one listener at a time.
type HelloListener struct {
	// Handler receives each valid hello from a device not already in a session. It
	// runs on the connection's goroutine, after the connection is closed; start
	// long work asynchronously. Required.
	Handler func(ctx context.Context, h ReceivedHello)

	// InSession reports whether a device already has a session; its hellos are
	// then dropped (EventHelloDuplicate). Nil: none are.
	InSession func(amt.UUID) bool

	// OnEvent is called for every connection outcome. Nil: events are only counted
	// (and logged at debug level when Logger is set). It must not block.
	OnEvent func(ListenerEvent)

	// MaxHelloSize caps the bytes read from one connection. Zero: hello.MaxSize (the
	// format's maximum, 65,560 bytes; real devices send under 1 KiB).
	MaxHelloSize int
	// ReadTimeout bounds how long a sender may take from accept to close. Zero: 10 s.
	ReadTimeout time.Duration
	// MaxConns caps connections being read at once; when reached, the oldest
	// unfinished connection is closed to make room (a slow sender cannot starve
	// devices). Zero: 1024.
	MaxConns int
	// PerSourceBurst and PerSourceRate limit connections per source IP with a
	// token bucket: up to PerSourceBurst at once, refilled at PerSourceRate per
	// second. Zero burst: 20; zero rate: 2 per second. A negative burst disables the
	// limit (for relays that carry many devices from one address).
	PerSourceBurst int
	PerSourceRate  float64
	// Banner is the body answered to an HTTP GET probe. Empty: a one-line banner.
	Banner string
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Logger receives debug records of connection outcomes. Nil: no logging.
	Logger *slog.Logger

	mu sync.Mutex
	// conns lists the open connections in accept order (oldest first), so
	// that eviction under a flood takes the oldest in O(1).
	conns   connList
	buckets map[netip.Addr]*bucket
	stats   struct {
		accepted, received, malformed, duplicate, oversize, timeout, probes, ratelimited, evicted, readErrors atomic.Uint64
		active                                                                                                atomic.Int64
	}
	serving atomic.Bool
	scratch sync.Pool // *helloScratch: read buffers and decoders reused across connections
}

// helloScratch is one connection's reusable memory: the read buffer and a decoder.
// Only what the handler receives is allocated per hello (a clone of the decode).
type helloScratch struct {
	buf []byte
	dec hello.Decoder
}

// maxPooledRead bounds the read buffer kept for reuse; larger ones (only an
// oversize or hostile sender grows one) are left to the garbage collector.
const maxPooledRead = 4 << 10

type trackedConn struct {
	net.Conn
	start   time.Time
	evicted atomic.Bool
	// prev and next link the connection into HelloListener.conns (under its
	// mu); listed says whether it is still there.
	prev, next *trackedConn
	listed     bool
}

// connList is a doubly-linked list of connections in accept order.
type connList struct {
	head, tail *trackedConn
	n          int
}

func (cl *connList) pushBack(tc *trackedConn) {
	tc.prev, tc.next, tc.listed = cl.tail, nil, true
	if cl.tail != nil {
		cl.tail.next = tc
	} else {
		cl.head = tc
	}
	cl.tail = tc
	cl.n++
}

func (cl *connList) remove(tc *trackedConn) {
	if !tc.listed {
		return
	}
	if tc.prev != nil {
		tc.prev.next = tc.next
	} else {
		cl.head = tc.next
	}
	if tc.next != nil {
		tc.next.prev = tc.prev
	} else {
		cl.tail = tc.prev
	}
	tc.prev, tc.next, tc.listed = nil, nil, false
	cl.n--
}

type bucket struct {
	tokens float64
	last   time.Time
}

// ErrListenerBusy is returned by Serve when the HelloListener is already serving.
var ErrListenerBusy = errors.New("provisioning: hello listener is already serving")

func (l *HelloListener) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *HelloListener) maxSize() int {
	if l.MaxHelloSize > 0 {
		return l.MaxHelloSize
	}
	return hello.MaxSize
}

func (l *HelloListener) readTimeout() time.Duration {
	if l.ReadTimeout > 0 {
		return l.ReadTimeout
	}
	return 10 * time.Second
}

func (l *HelloListener) maxConns() int {
	if l.MaxConns > 0 {
		return l.MaxConns
	}
	return 1024
}

// ListenAndServe listens on addr (DefaultHelloAddr when empty) and serves until ctx
// is done.
func (l *HelloListener) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultHelloAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return l.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is done, then closes ln and every open
// connection and waits for their goroutines. It returns nil when stopped by ctx,
// or the error that stopped accepting.
func (l *HelloListener) Serve(ctx context.Context, ln net.Listener) error {
	if l.Handler == nil {
		ln.Close()
		return errors.New("provisioning: HelloListener.Handler is nil")
	}
	if !l.serving.CompareAndSwap(false, true) {
		ln.Close()
		return ErrListenerBusy
	}
	defer l.serving.Store(false)
	l.mu.Lock()
	l.conns = connList{}
	l.buckets = make(map[netip.Addr]*bucket)
	l.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			err = aerr
			break
		}
		l.stats.accepted.Add(1)
		src := addrPort(c.RemoteAddr())
		if !l.allow(src.Addr()) {
			c.Close()
			l.emit(ListenerEvent{Kind: EventRateLimited, Source: src, Time: l.now()})
			continue
		}
		tc := &trackedConn{Conn: c, start: l.now()}
		l.track(tc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.untrack(tc)
			l.handle(ctx, tc, src)
		}()
	}
	cancel()
	l.mu.Lock()
	for tc := l.conns.head; tc != nil; tc = tc.next {
		tc.Close()
	}
	l.mu.Unlock()
	wg.Wait()
	return err
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// allow applies the per-source token bucket.
func (l *HelloListener) allow(ip netip.Addr) bool {
	burst := l.PerSourceBurst
	if burst < 0 {
		return true
	}
	if burst == 0 {
		burst = 20
	}
	rate := l.PerSourceRate
	if rate <= 0 {
		rate = 2
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= 65536 {
			l.pruneBuckets(now, float64(burst), rate)
		}
		b = &bucket{tokens: float64(burst), last: now}
		l.buckets[ip] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * rate
	if b.tokens > float64(burst) {
		b.tokens = float64(burst)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// pruneBuckets drops buckets that have refilled completely. Called with l.mu held.
func (l *HelloListener) pruneBuckets(now time.Time, burst, rate float64) {
	for ip, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*rate >= burst {
			delete(l.buckets, ip)
		}
	}
}

// track registers a connection, evicting the oldest one when at the limit.
func (l *HelloListener) track(tc *trackedConn) {
	l.mu.Lock()
	var oldest *trackedConn
	if l.conns.n >= l.maxConns() {
		oldest = l.conns.head // accepted first: the longest unfinished
		l.conns.remove(oldest)
		oldest.evicted.Store(true)
	}
	l.conns.pushBack(tc)
	l.mu.Unlock()
	l.stats.active.Add(1)
	if oldest != nil {
		oldest.Close()
		l.emit(ListenerEvent{Kind: EventEvicted, Source: addrPort(oldest.RemoteAddr()), Time: l.now()})
	}
}

func (l *HelloListener) untrack(tc *trackedConn) {
	l.mu.Lock()
	l.conns.remove(tc)
	l.mu.Unlock()
	l.stats.active.Add(-1)
	tc.Close()
}

var httpGet = []byte("GET ")

func (l *HelloListener) handle(ctx context.Context, tc *trackedConn, src netip.AddrPort) {
	max := l.maxSize()
	_ = tc.SetReadDeadline(tc.start.Add(l.readTimeout()))
	sc, _ := l.scratch.Get().(*helloScratch)
	if sc == nil {
		sc = &helloScratch{buf: make([]byte, 0, 1024)}
	}
	release := func() {
		if sc != nil && cap(sc.buf) <= maxPooledRead {
			l.scratch.Put(sc)
		}
		sc = nil
	}
	defer release()
	buf := sc.buf[:0]
	var rerr error
	for {
		if len(buf) == cap(buf) {
			if cap(buf) > max {
				break
			}
			nb := make([]byte, len(buf), min(2*cap(buf), max+1))
			copy(nb, buf)
			buf = nb
			sc.buf = nb
		}
		n, err := tc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) >= 4 && bytes.HasPrefix(buf, httpGet) {
			if bytes.Contains(buf, []byte("\r\n\r\n")) {
				l.answerProbe(tc)
				l.emit(ListenerEvent{Kind: EventProbe, Source: src, Time: l.now(), Bytes: len(buf)})
				return
			}
		}
		if len(buf) > max {
			l.emit(ListenerEvent{Kind: EventHelloOversize, Source: src, Time: l.now(), Bytes: len(buf)})
			return
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	received := l.now()
	if tc.evicted.Load() {
		return // already reported as EventEvicted
	}
	if rerr != nil {
		kind := EventReadError
		var ne net.Error
		if errors.As(rerr, &ne) && ne.Timeout() {
			kind = EventHelloTimeout
		}
		l.emit(ListenerEvent{Kind: kind, Source: src, Time: received, Bytes: len(buf), Err: rerr})
		return
	}
	tc.Close()
	h, err := sc.dec.Decode(buf)
	if err != nil {
		l.emit(ListenerEvent{Kind: EventHelloMalformed, Source: src, Time: received, Bytes: len(buf), Err: err})
		return
	}
	if l.InSession != nil && l.InSession(h.UUID) {
		l.emit(ListenerEvent{Kind: EventHelloDuplicate, Source: src, Time: received, UUID: h.UUID, Bytes: len(buf)})
		return
	}
	l.emit(ListenerEvent{Kind: EventHelloReceived, Source: src, Time: received, UUID: h.UUID, Bytes: len(buf)})
	if ctx.Err() != nil {
		return
	}
	// The decoder's result is reused by the next connection; the handler gets a
	// copy it owns, and the scratch goes back to the pool before the handler
	// runs (a handler may wait a long time for a session slot).
	rh := ReceivedHello{Hello: h.Clone(), Source: src, Received: received}
	release()
	l.Handler(ctx, rh)
}

func (l *HelloListener) answerProbe(c net.Conn) {
	body := l.Banner
	if body == "" {
		body = "amtkit provisioning server: Intel AMT devices send hello messages to this port.\n"
	}
	_ = c.SetWriteDeadline(l.now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
}

func (l *HelloListener) emit(e ListenerEvent) {
	switch e.Kind {
	case EventHelloReceived:
		l.stats.received.Add(1)
	case EventHelloMalformed:
		l.stats.malformed.Add(1)
	case EventHelloDuplicate:
		l.stats.duplicate.Add(1)
	case EventHelloOversize:
		l.stats.oversize.Add(1)
	case EventHelloTimeout:
		l.stats.timeout.Add(1)
	case EventProbe:
		l.stats.probes.Add(1)
	case EventRateLimited:
		l.stats.ratelimited.Add(1)
	case EventEvicted:
		l.stats.evicted.Add(1)
	case EventReadError:
		l.stats.readErrors.Add(1)
	}
	if l.Logger != nil {
		attrs := []any{"event", e.Kind.String(), "source", e.Source.String(), "bytes", e.Bytes}
		if !e.UUID.IsZero() {
			attrs = append(attrs, "uuid", e.UUID.String())
		}
		if e.Err != nil {
			attrs = append(attrs, "error", e.Err.Error())
		}
		l.Logger.Debug("hello listener", attrs...)
	}
	if l.OnEvent != nil {
		l.OnEvent(e)
	}
}

// Stats returns the listener's counters.
func (l *HelloListener) Stats() ListenerStats {
	return ListenerStats{
		Accepted: l.stats.accepted.Load(), Received: l.stats.received.Load(), Malformed: l.stats.malformed.Load(),
		Duplicate: l.stats.duplicate.Load(), Oversize: l.stats.oversize.Load(), Timeout: l.stats.timeout.Load(),
		Probes: l.stats.probes.Load(), RateLimited: l.stats.ratelimited.Load(), Evicted: l.stats.evicted.Load(),
		ReadErrors: l.stats.readErrors.Load(), Active: l.stats.active.Load(),
	}
}
