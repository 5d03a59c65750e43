package wsman

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// serialTransport is the default transport's lean sibling ([WithSerialTransport]):
// one kept-alive connection, one exchange at a time, the request written and
// the response read by the calling goroutine itself with net/http's own
// request writer and response reader. net/http's Transport runs two goroutines
// per connection (a reader and a writer) and hands every exchange between
// them; for a client that talks to one device one call at a time, that is
// two goroutine stacks and two buffers held per device and a few goroutine
// switches per call. Here an idle connection holds no goroutine and no
// buffer (readers and writers are pooled while an exchange runs).
//
// Everything the default transport guarantees holds: the dial (TLS handshake
// and policy included) is the same; the call's context bounds and cancels
// the exchange, the reading of the response body included; httptrace
// reports the connection, its reuse and the written request, so a
// [TransportError] names the phase that failed; a response with
// "Connection: close", an unread body or a failed exchange closes the
// connection. A connection is checked before it is reused (a server may have
// closed it meanwhile; the default transport's reader goroutine notices that
// at once): its socket is asked without waiting where the platform allows
// (peerClosed), otherwise one idle for more than a second gets a short read;
// one idle for longer than a minute is closed.
type serialTransport struct {
	dial dialFunc // a connection ready for HTTP: TLS and policy done
	tls  bool     // the connections are TLS (for Response.TLS)
	addr string   // host:port of the endpoint

	sem      chan struct{}    // held from the request's write to the end of its response body
	conn     net.Conn         // the kept-alive connection, nil when none (guarded by sem)
	lastUsed time.Time        // when the connection last finished an exchange, by clock (guarded by sem)
	now      func() time.Time // real time, for deadlines
	clock    func() time.Time // the client's clock ([WithClock]), for how long the connection was idle
	first    primed           // the response's first byte, read before a pooled reader is taken (guarded by sem)
}

// primed reads one byte already taken from conn, then conn. An exchange waits
// for its response's first byte into this one-byte buffer and takes a pooled
// reader only once the answer is there: thousands of exchanges waiting on slow
// firmware (tenths of a second each) hold no 4 KB reader.
type primed struct {
	conn net.Conn
	b    [1]byte
	n    int // 1 while b is unread
	// left bounds what the status line and header may take (read counts
	// down from maxResponseHeaderBytes while header is set): the body is
	// bounded by readBody, the header by this.
	header bool
	left   int
}

// maxResponseHeaderBytes bounds a response's status line and header (an AMT
// response's are a few hundred bytes; net/http's server allows 1 MiB).
const maxResponseHeaderBytes = 1 << 20

func (p *primed) Read(q []byte) (int, error) {
	if p.header {
		if p.left <= 0 {
			return 0, fmt.Errorf("%w: response header longer than %d bytes", ErrTooLarge, maxResponseHeaderBytes)
		}
		q = q[:min(len(q), p.left)]
	}
	var n int
	var err error
	if p.n == 0 {
		n, err = p.conn.Read(q)
	} else if len(q) > 0 {
		q[0], p.n = p.b[0], 0
		n = 1
	}
	p.left -= n
	return n, err
}

// Connections idle this long are checked for a close by the server before
// reuse; idle longer than serialIdleTimeout they are closed.
const (
	serialCheckAfter  = time.Second
	serialIdleTimeout = 60 * time.Second
)

// Buffers for one exchange at a time, shared by every serial transport of the
// process (a buffer is reset before and after use, so nothing passes from one
// exchange to another): thousands of idle clients hold none.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

func newSerialTransport(dial dialFunc, isTLS bool, addr string, clock func() time.Time) *serialTransport {
	if clock == nil {
		clock = time.Now
	}
	return &serialTransport{dial: dial, tls: isTLS, addr: addr, sem: make(chan struct{}, 1), now: time.Now, clock: clock}
}

// RoundTrip runs one exchange on the kept-alive connection (dialling one when
// there is none). The connection stays reserved until the response body has
// been read to its end or closed.
func (t *serialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		closeBody(req)
		return nil, ctx.Err()
	}
	resp, err := t.exchange(ctx, req)
	if err != nil {
		<-t.sem
		return nil, err
	}
	return resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// exchange runs with the semaphore held; on success the response body owns
// it.
func (t *serialTransport) exchange(ctx context.Context, req *http.Request) (*http.Response, error) {
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.GetConn != nil {
		trace.GetConn(t.addr)
	}
	reused := t.conn != nil && t.reusable()
	if !reused {
		t.drop()
		conn, err := t.dial(ctx, "tcp", t.addr)
		if err != nil {
			closeBody(req)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		t.conn = conn
	}
	conn := t.conn
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: conn, Reused: reused})
	}
	// The call's context bounds the exchange: its deadline is the
	// connection's, and its end interrupts a read or write in progress.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	fail := func(err error) error {
		stop()
		t.drop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ne net.Error
		if dl, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !t.now().Before(dl) {
			return context.DeadlineExceeded
		}
		return err
	}

	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(conn)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writerPool.Put(bw)
	if trace != nil && trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{Err: err})
	}
	if err != nil {
		return nil, fail(err)
	}

	// Wait for the answer without a buffer (see primed).
	t.first = primed{conn: conn}
	if t.first.n, err = io.ReadAtLeast(conn, t.first.b[:], 1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // as http.ReadResponse reports a response cut before its first line
		}
		t.first = primed{}
		return nil, fail(err)
	}
	br := readerPool.Get().(*bufio.Reader)
	t.first.header, t.first.left = true, maxResponseHeaderBytes
	br.Reset(&t.first)
	resp, err := http.ReadResponse(br, req)
	t.first.header = false // the body is bounded by its reader
	if err != nil {
		br.Reset(nil)
		readerPool.Put(br)
		t.first = primed{}
		return nil, fail(err)
	}
	if t.tls {
		resp.TLS = connState(conn)
	}
	resp.Body = &serialBody{body: resp.Body, t: t, conn: conn, br: br, stop: stop, keep: !resp.Close && !req.Close}
	return resp, nil
}

// connState returns conn's TLS state, nil when conn is not TLS. A function of
// its own, so that the state's copy does not widen the frame of exchange,
// which is on the stack while an exchange waits on the device.
//
//go:noinline
func connState(conn net.Conn) *tls.ConnectionState {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	return &cs
}

// reusable reports whether the kept-alive connection can carry the next
// exchange: not idle too long, and not closed by the server while idle.
func (t *serialTransport) reusable() bool {
	idle := t.clock().Sub(t.lastUsed)
	if idle > serialIdleTimeout {
		return false
	}
	// A server may close a connection right after a response without
	// saying so (AMT 20/21 after a password change: rpc-go pull request
	// 1071), and a request written on it is lost: the socket is asked before
	// every reuse, as net/http's reader goroutine would have noticed.
	switch peerState(t.conn) {
	case peerAlive:
		return true
	case peerGone:
		return false
	case peerUnknown:
		if idle < serialCheckAfter {
			return true
		}
	}
	// Bytes wait (a TLS close_notify, or a TLS 1.3 NewSessionTicket a
	// server sent after its response), or the socket could not be asked: a
	// read through the TLS layer that must give up at once times out on a
	// live connection (crypto/tls handling any handshake message on the way)
	// and returns EOF (or a reset, or a TLS close_notify) on one the server
	// closed. crypto/tls treats a timeout as temporary: the connection stays
	// usable.
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(t.conn)
	_ = t.conn.SetReadDeadline(t.now().Add(time.Millisecond))
	_, err := br.Peek(1)
	_ = t.conn.SetReadDeadline(time.Time{})
	buffered := br.Buffered()
	br.Reset(nil)
	readerPool.Put(br)
	var ne net.Error
	return buffered == 0 && errors.As(err, &ne) && ne.Timeout()
}

// drop closes the kept-alive connection, if any (semaphore held).
func (t *serialTransport) drop() {
	if t.conn != nil {
		_ = t.conn.Close()
		t.conn = nil
	}
}

// CloseIdleConnections closes the kept-alive connection unless an exchange
// is using it.
func (t *serialTransport) CloseIdleConnections() {
	select {
	case t.sem <- struct{}{}:
		t.drop()
		<-t.sem
	default:
	}
}

// aLongTimeAgo is a deadline in the past: it interrupts a blocked read or
// write at once.
var aLongTimeAgo = time.Unix(1, 0)

// serialBody releases the transport when the response has been read to its
// end or closed, keeping the connection only after a complete, clean
// response that did not ask to close it.
type serialBody struct {
	body io.ReadCloser
	t    *serialTransport
	conn net.Conn
	br   *bufio.Reader
	stop func() bool
	keep bool
	once sync.Once
	eof  bool
}

func (b *serialBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.eof = true
		b.finish(b.keep)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// Close ends the exchange; a body not read to its end closes the connection
// (what is left of it would be read as the next response).
func (b *serialBody) Close() error {
	err := b.body.Close()
	b.finish(b.eof && b.keep)
	return err
}

func (b *serialBody) finish(keep bool) {
	b.once.Do(func() {
		b.stop()
		t := b.t
		// Nothing may follow a response on a serial connection: bytes
		// buffered beyond it mean the stream is out of step.
		if b.br.Buffered() > 0 {
			keep = false
		}
		b.br.Reset(nil)
		readerPool.Put(b.br)
		t.first = primed{}
		if keep && t.conn == b.conn {
			_ = b.conn.SetDeadline(time.Time{})
			t.lastUsed = t.clock()
		} else if t.conn == b.conn {
			t.drop()
		} else {
			_ = b.conn.Close()
		}
		<-t.sem
	})
}

// serialTransport builds the transport of [WithSerialTransport]: the default
// transport's dialling (bounded, TLS and policy, or the secure dialer) behind
// one serial connection.
func (cfg *config) serialTransport(u *url.URL) *serialTransport {
	dial := cfg.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	addr := hostPort(u)
	switch {
	case cfg.secure != nil:
		sd := cfg.secure
		return newSerialTransport(bounded(func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := sd.dial(ctx, network, addr)
			if err != nil {
				return nil, fmt.Errorf("wsman: %s dialer: %w", sd.name, err)
			}
			return conn, nil
		}), false, addr, cfg.now)
	case u.Scheme == "https":
		td := &tlsDialer{dial: dial, config: cfg.tlsConfig(u.Hostname()), policy: *cfg.tls, now: cfg.now}
		return newSerialTransport(td.dialTLS, true, addr, cfg.now)
	}
	return newSerialTransport(bounded(dial), false, addr, cfg.now)
}

// socketOf returns the socket beneath conn: conn itself, or what a TLS layer
// (or any wrapper with a NetConn method) wraps; nil when there is none.
func socketOf(conn net.Conn) syscall.Conn {
	for range 4 {
		if sc, ok := conn.(syscall.Conn); ok {
			return sc
		}
		w, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		conn = w.NetConn()
	}
	return nil
}

// hostPort is u's host and port, the scheme's default port when u names none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// peer is what asking a kept-alive connection's socket found (peerState).
type peer int8

const (
	peerUnknown peer = iota // no socket to ask
	peerAlive               // nothing to read
	peerGone                // closed or reset by the peer
	peerData                // bytes wait: read them through the TLS layer
)
