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
	"syscall"
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

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=ListenerEventKind -linecomment -output=listenereventkind_string.go

// ListenerEventKind classifies what happened to one connection. String returns a
// stable name such as "hello-malformed".
type ListenerEventKind int

// Listener event kinds.
const (
	// EventHelloReceived: a well-formed hello was handed to the handler.
	EventHelloReceived ListenerEventKind = iota + 1 // hello-received
	// EventHelloMalformed: the bytes were not a valid hello (Err says why).
	EventHelloMalformed // hello-malformed
	// EventHelloDuplicate: a valid hello from a device already in a session.
	EventHelloDuplicate // hello-duplicate
	// EventHelloOversize: more than hello.MaxSize bytes were sent.
	EventHelloOversize // hello-oversize
	// EventHelloTimeout: the sender did not finish within ReadTimeout.
	EventHelloTimeout // hello-timeout
	// EventProbe: an HTTP GET was answered with a banner.
	EventProbe // probe
	// EventRateLimited: the source exceeded its per-source rate; the connection
	// was closed unread.
	EventRateLimited // rate-limited
	// EventEvicted: the connection limit was reached and this (oldest unfinished)
	// connection was closed to make room for a new one.
	EventEvicted // evicted
	// EventReadError: the connection failed (reset, …) before the sender closed it,
	// or the listener cut it when it stopped (Err then matches ErrListenerClosed).
	EventReadError // read-error
	// EventAcceptError: accepting a connection failed for a while (the
	// process out of file descriptors, a connection aborted before it was
	// accepted); Err says why. The listener waits (5 ms, doubling to 1 s)
	// and goes on accepting.
	EventAcceptError // accept-error
)

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
	// AcceptErrors counts transient accept failures (EventAcceptError).
	AcceptErrors uint64
	// Active is the number of connections being read or handled now.
	Active int64
	// Sources is the number of sources (prefixes, see
	// HelloListener.IPv6PrefixBits) the per-source limit remembers now; never
	// more than HelloListener.MaxSources.
	Sources int64
	// SourcesForgotten counts sources the per-source limit forgot, least
	// recently seen first, to make room for new ones. It grows only when more
	// than MaxSources sources send within a short time.
	SourcesForgotten uint64
}

// HelloListener accepts hello connections, reads each to EOF within a size cap and
// a deadline, answers HTTP probes with a banner, decodes hellos and hands them to
// Handler. A malformed, oversize, slow or rate-limited connection is counted and
// reported, never blocks others.
//
// Configure the fields before calling [HelloListener.Serve]; the zero value of each
// optional field is documented. A HelloListener serves one listener at a time;
// it stops at once when Serve's context ends, or gracefully with
// [HelloListener.Shutdown].
type HelloListener struct {
	// Handler receives each valid hello from a device not already in a session. It
	// runs on the connection's goroutine, after the connection is closed; start
	// long work asynchronously. Required.
	Handler func(ctx context.Context, h ReceivedHello)

	// InSession reports whether a valid hello for uuid that arrived from source
	// is for a device already in a session; the hello is then dropped
	// (EventHelloDuplicate) and Handler is not called. The source lets the engine
	// be selective: while the first session has not yet proved its device's
	// identity, a hello from another source may be the real device, and a slow
	// impostor must not starve it. It runs on the connection's goroutine and must
	// not block. Nil: no hello is dropped as a duplicate.
	InSession func(uuid amt.UUID, source netip.AddrPort) bool

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
	// PerSourceBurst and PerSourceRate limit connections per source with a
	// token bucket: up to PerSourceBurst at once, refilled at PerSourceRate per
	// second; a connection over the limit is closed unread (EventRateLimited).
	// Zero burst: 20; zero rate: 2 per second. A negative burst disables the
	// limit (for relays that carry many devices from one address). Serve
	// refuses a rate that is NaN or +Inf.
	PerSourceBurst int
	PerSourceRate  float64
	// IPv4PrefixBits and IPv6PrefixBits say what one source is: addresses that
	// share their first IPv4PrefixBits (IPv6PrefixBits) bits share one token
	// bucket. Zero: 32, each IPv4 address on its own, and 64, each IPv6 /64 as
	// one source — the smallest prefix a network is given, so that one host
	// cannot escape its limit by cycling through the 2^64 interface identifiers
	// of its subnet. Use 48 or 56 where sites get a /48 or /56 and the devices
	// sit behind few of them. Serve refuses values above 32 (128) or below zero.
	IPv4PrefixBits int
	IPv6PrefixBits int
	// MaxSources caps the sources the per-source limit remembers: memory for
	// its bookkeeping is bounded (about 105 bytes a source, 7 MB at the
	// default, allocated as sources arrive) and each accepted connection costs
	// O(1) time, however many sources send. When the table is full, a new source takes the place of the
	// least recently seen one, which is forgotten: if it comes back, it starts
	// again with a full bucket. A flooding source stays the most recently seen
	// and is never forgotten while it floods; only a sender with more than
	// MaxSources prefixes (a /48 holds 65,536 /64s) that cycles through them all
	// can get a full burst per prefix per cycle — then the connection cap
	// (MaxConns, oldest evicted first) still keeps the listener serving. A
	// source is never refused because of another source's traffic. Zero: 65,536.
	MaxSources int
	// Banner is the body answered to an HTTP GET probe. Empty: a one-line banner.
	Banner string
	// Now is the clock of events, hellos and the per-source limit. Nil:
	// time.Now. Socket deadlines (ReadTimeout, the probe's answer) are set on
	// the real clock whatever Now returns, since the operating system applies
	// them.
	Now func() time.Time
	// Logger receives debug records of connection outcomes. Nil: no logging.
	Logger *slog.Logger

	mu sync.Mutex
	// conns lists the open connections in accept order (oldest first), so
	// that eviction under a flood takes the oldest in O(1).
	conns connList
	// run is the Serve in progress (nil when none); closed is set for good by
	// Shutdown. Both under mu.
	run    *serveRun
	closed bool
	stats  struct {
		accepted, received, malformed, duplicate, oversize, timeout, probes, ratelimited, evicted, readErrors, acceptErrors atomic.Uint64
		active, sources                                                                                                     atomic.Int64
		sourcesForgotten                                                                                                    atomic.Uint64
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
	start   time.Time // accepted, on the real clock (its read deadline's)
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

// ErrListenerBusy is returned by Serve when the HelloListener is already serving.
var ErrListenerBusy = errors.New("provisioning: hello listener is already serving")

// ErrListenerClosed is returned by Serve and ListenAndServe after
// [HelloListener.Shutdown], like http.ErrServerClosed. A connection the
// listener cut when it stopped is reported as EventReadError with an Err that
// matches it.
var ErrListenerClosed = errors.New("provisioning: hello listener closed")

// serveRun is one Serve call, as Shutdown sees it.
type serveRun struct {
	closeLn func()             // closes the listener, once
	force   context.CancelFunc // cancels the handlers' context: everything left is cut
	done    chan struct{}      // closed when Serve returns
}

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
// is done or [HelloListener.Shutdown] is called; see [HelloListener.Serve].
func (l *HelloListener) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultHelloAddr
	}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrListenerClosed
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return l.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is done or [HelloListener.Shutdown]
// is called, and returns when every connection it accepted is finished (its
// Handler call returned too).
//
// When ctx is done, Serve closes ln and every open connection at once, cancels
// the context passed to running Handler calls, waits for their goroutines and
// returns nil. After Shutdown it returns [ErrListenerClosed] (at once if
// Shutdown came first: a HelloListener that was shut down does not serve
// again). Otherwise it returns the error that stopped accepting.
func (l *HelloListener) Serve(ctx context.Context, ln net.Listener) error {
	if l.Handler == nil {
		ln.Close()
		return errors.New("provisioning: HelloListener.Handler is nil")
	}
	lim, err := l.newSourceLimiter()
	if err != nil {
		ln.Close()
		return err
	}
	if !l.serving.CompareAndSwap(false, true) {
		ln.Close()
		return ErrListenerBusy
	}
	defer l.serving.Store(false)

	// connCtx is what handlers get; it ends with ctx, or when Shutdown's
	// context ends (force), or when Serve returns.
	connCtx, force := context.WithCancel(ctx)
	defer force()
	run := &serveRun{closeLn: sync.OnceFunc(func() { ln.Close() }), force: force, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		run.closeLn()
		return ErrListenerClosed
	}
	l.conns = connList{}
	l.run = run
	l.mu.Unlock()
	l.stats.sources.Store(0)
	defer func() {
		l.mu.Lock()
		l.run = nil
		l.mu.Unlock()
		close(run.done)
	}()

	var wg sync.WaitGroup
	stop := context.AfterFunc(connCtx, run.closeLn)
	defer stop()

	var backoff time.Duration
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if l.shutDown() {
				err = ErrListenerClosed
				break
			}
			if connCtx.Err() != nil {
				break
			}
			if !transientAccept(aerr) {
				err = aerr
				break
			}
			// As net/http's Server.Serve: wait, longer each time, and go
			// on accepting (a flood that used up the file descriptors
			// passes; the listener must not stop for good).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.emit(ListenerEvent{Kind: EventAcceptError, Time: l.now(), Err: aerr})
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-connCtx.Done():
				t.Stop()
			}
			continue
		}
		backoff = 0
		l.stats.accepted.Add(1)
		src := addrPort(c.RemoteAddr())
		if lim != nil && !lim.allow(src.Addr(), l.now()) {
			c.Close()
			l.emit(ListenerEvent{Kind: EventRateLimited, Source: src, Time: l.now()})
			continue
		}
		// Socket deadlines are on the real clock, whatever clock Now is.
		tc := &trackedConn{Conn: c, start: time.Now()}
		l.track(tc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.untrack(tc)
			l.handle(connCtx, tc, src)
		}()
	}
	run.closeLn()
	if err != ErrListenerClosed {
		// Stopped by ctx or by an accept error: cut everything now.
		force()
	}
	// No connection is tracked after the accept loop, so once connCtx ends,
	// one pass closes every connection left.
	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-connCtx.Done():
		l.closeConns()
		<-drained
	}
	return err
}

// Shutdown stops the listener gracefully, like http.Server.Shutdown: it closes
// the listening socket at once, then waits for the connections being read to
// finish (each still bounded by ReadTimeout) and for their Handler calls to
// return. If ctx ends first, Shutdown closes the connections that remain,
// cancels the context of running Handler calls and returns ctx's error without
// waiting further; Serve returns once those calls have returned. Otherwise it
// returns nil once Serve has finished.
//
// Serve returns [ErrListenerClosed] after Shutdown, and the HelloListener does
// not serve again. Shutdown before Serve, or after Serve returned, marks it
// closed and returns nil. Cancelling Serve's own context still stops at once.
func (l *HelloListener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	run := l.run
	l.mu.Unlock()
	if run == nil {
		return nil
	}
	run.closeLn()
	select {
	case <-run.done:
		return nil
	case <-ctx.Done():
		run.force()
		l.closeConns()
		return ctx.Err()
	}
}

func (l *HelloListener) shutDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// closeConns closes every tracked connection; their goroutines then finish.
func (l *HelloListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for tc := l.conns.head; tc != nil; tc = tc.next {
		tc.Close()
	}
}

// transientAccept reports whether an Accept error passes by itself: a
// timeout, the process or system out of file descriptors or buffers, or a
// connection aborted or reset before it was accepted.
func transientAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	// Another listener's address type: only its text is known. An
	// IPv4-mapped address is unmapped as above, or every IPv4 peer would
	// share the bucket of ::/64.
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
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
	l.unlist(tc)
	l.stats.active.Add(-1)
	tc.Close()
}

// unlist takes tc off the list of unfinished connections, so that it can no
// longer be evicted, and reports whether it was evicted before (its one event,
// EventEvicted, is then already reported).
func (l *HelloListener) unlist(tc *trackedConn) (evicted bool) {
	l.mu.Lock()
	l.conns.remove(tc)
	l.mu.Unlock()
	return tc.evicted.Load()
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
	scanned := 0 // the probe's header end is not in buf[:scanned+3]
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
			// Only what this read added is searched (with the 3 bytes
			// before it): a sender dripping a byte at a time must not make
			// the search quadratic.
			found := bytes.Contains(buf[scanned:], []byte("\r\n\r\n"))
			if scanned = len(buf) - 3; scanned < 0 {
				scanned = 0
			}
			if found {
				l.answerProbe(tc)
				if !l.unlist(tc) {
					l.emit(ListenerEvent{Kind: EventProbe, Source: src, Time: l.now(), Bytes: len(buf)})
				}
				return
			}
		}
		if len(buf) > max {
			if !l.unlist(tc) {
				l.emit(ListenerEvent{Kind: EventHelloOversize, Source: src, Time: l.now(), Bytes: len(buf)})
			}
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
	// Read to its end: from now on the connection is not unfinished, and the
	// connection cap does not evict it while its hello is decoded and handled.
	if l.unlist(tc) {
		return // already reported as EventEvicted
	}
	if rerr != nil {
		kind := EventReadError
		var ne net.Error
		if ctx.Err() != nil {
			rerr = &stoppedError{rerr} // cut by the listener stopping
		} else if errors.As(rerr, &ne) && ne.Timeout() {
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
	if l.InSession != nil && l.InSession(h.UUID, src) {
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

// stoppedError is a read error on a connection the listener cut when it
// stopped: it matches ErrListenerClosed and unwraps to the read error.
type stoppedError struct{ err error }

func (e *stoppedError) Error() string {
	return "provisioning: hello listener stopped: " + e.err.Error()
}

func (e *stoppedError) Unwrap() []error { return []error{ErrListenerClosed, e.err} }

func (l *HelloListener) answerProbe(c net.Conn) {
	body := l.Banner
	if body == "" {
		body = "amtkit provisioning server: Intel AMT devices send hello messages to this port.\n"
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second)) // the real clock, as the read deadline
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
	case EventAcceptError:
		l.stats.acceptErrors.Add(1)
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
		ReadErrors: l.stats.readErrors.Load(), AcceptErrors: l.stats.acceptErrors.Load(), Active: l.stats.active.Load(),
		Sources: l.stats.sources.Load(), SourcesForgotten: l.stats.sourcesForgotten.Load(),
	}
}
