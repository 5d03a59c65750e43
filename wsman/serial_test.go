package wsman_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serialServer is an AMT-shaped server with digest (401 + Connection: close
// first) counting its connections.
func serialServer(t *testing.T, h http.Handler, tlsOn bool) (*httptest.Server, *wsmantest.ConnCounter) {
	t.Helper()
	var cc wsmantest.ConnCounter
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.ConnState
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &cc
}

func serialClient(t *testing.T, srv *httptest.Server, opts ...wsman.Option) *wsman.Client {
	t.Helper()
	o := append([]wsman.Option{wsman.WithSerialTransport(), wsman.WithDigestAuth("admin", "P@ssw0rd")}, opts...)
	if srv.TLS != nil {
		pin := sha256.Sum256(srv.Certificate().Raw)
		o = append(o, wsman.WithTLS(wsman.PinSHA256(pin)))
	}
	c, err := wsman.New(srv.URL+"/wsman", o...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestSerialTransportReusesOneConnection(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tlsOn], func(t *testing.T) {
			auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return "P@ssw0rd", u == "admin" }}
			srv, cc := serialServer(t, auth.Wrap(wsmantest.Handler(gsAnswer)), tlsOn)
			c := serialClient(t, srv)
			for range 5 {
				resp, err := c.Get(bg, gsURI, nil)
				require.NoError(t, err)
				if tlsOn {
					require.NotNil(t, resp.TLS, "the response carries the connection's TLS state")
					assert.Equal(t, srv.Certificate().Raw, resp.TLS.PeerCertificates[0].Raw)
				}
			}
			assert.Equal(t, int64(2), cc.Opened(), "the challenge's connection (closed by the 401) and one for every call")
		})
	}
}

func TestSerialTransportConnectionClose(t *testing.T) {
	srv, cc := serialServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		wsmantest.Handler(gsAnswer).ServeHTTP(w, r)
	}), false)
	c := serialClient(t, srv)
	for range 3 {
		_, err := c.Get(bg, gsURI, nil)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), cc.Opened(), "a response with Connection: close ends its connection")
}

func TestSerialTransportServerClosedIdleConnection(t *testing.T) {
	var conns atomic.Pointer[net.Conn]
	srv := httptest.NewUnstartedServer(wsmantest.Handler(gsAnswer))
	var cc wsmantest.ConnCounter
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		cc.ConnState(c, s)
		if s == http.StateIdle {
			conns.Store(&c)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithSerialTransport(), wsman.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	// The server closes the idle connection; after a pause (on the client's
	// clock) the client notices before sending, as net/http's reader
	// goroutine would have. (The close reaches the client's socket on
	// loopback before Close returns.)
	require.Eventually(t, func() bool { return conns.Load() != nil }, 5*time.Second, time.Millisecond, "the server's side goes idle")
	(*conns.Load()).Close()
	clock.Add(int64(1100 * time.Millisecond))
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(2), cc.Opened())
}

func TestSerialTransportCancellation(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv, cc := serialServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		wsmantest.Handler(gsAnswer).ServeHTTP(w, r)
	}), false)
	defer close(release)
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithSerialTransport())
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)

	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Get(ctx, gsURI, nil)
	require.ErrorIs(t, err, context.Canceled)
	var te *wsman.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, wsman.PhaseReceive, te.Phase, "the request was written: it may have taken effect")

	ctx, cancel = context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	calls.Store(0)
	_, err = c.Get(ctx, gsURI, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err, "a new connection after the interrupted ones")
	assert.Equal(t, int64(3), cc.Opened())
}

func TestSerialTransportConnectFailure(t *testing.T) {
	dead := httptest.NewUnstartedServer(nil)
	addr := dead.Listener.Addr().String()
	dead.Listener.Close()
	c, err := wsman.New("http://"+addr+"/wsman", wsman.WithSerialTransport())
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrConnect)
	var te *wsman.TransportError
	require.ErrorAs(t, err, &te)
	assert.False(t, te.RequestSent())
}

func TestSerialTransportHoldsNoGoroutineWhenIdle(t *testing.T) {
	srv, _ := serialServer(t, wsmantest.Handler(gsAnswer), true)
	const n = 50
	clients := make([]*wsman.Client, n)
	for i := range clients {
		clients[i] = serialClient(t, srv)
	}
	before := runtime.NumGoroutine()
	for _, c := range clients {
		_, err := c.Get(bg, gsURI, nil)
		require.NoError(t, err)
	}
	// The server runs one goroutine per connection; the clients none (once
	// the server's per-request goroutines have ended).
	assert.Eventually(t, func() bool { return runtime.NumGoroutine()-before <= n+5 }, 5*time.Second, time.Millisecond,
		"no reader or writer goroutine per client connection")
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}

func TestSerialTransportOneCallAtATime(t *testing.T) {
	var inside, most atomic.Int32
	srv, cc := serialServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inside.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inside.Add(-1)
		wsmantest.Handler(gsAnswer).ServeHTTP(w, r)
	}), false)
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithSerialTransport(), wsman.WithMaxInFlight(0))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.Get(bg, gsURI, nil)
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int32(1), most.Load(), "one exchange at a time")
	assert.Equal(t, int64(1), cc.Opened())
}

// readSizes records the buffer of every Read on a connection and the one in
// progress.
type readSizes struct {
	net.Conn
	mu      sync.Mutex
	pending int   // the buffer of the Read in progress (0: none)
	sizes   []int // every Read's buffer
}

func (r *readSizes) Read(p []byte) (int, error) {
	r.mu.Lock()
	r.pending = len(p)
	r.sizes = append(r.sizes, len(p))
	r.mu.Unlock()
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.pending = 0
	r.mu.Unlock()
	return n, err
}

func (r *readSizes) waiting() int { r.mu.Lock(); defer r.mu.Unlock(); return r.pending }

// An exchange waiting on slow firmware holds no read buffer: it waits for the
// answer's first byte in a buffer of one byte and takes a pooled reader only
// then (thousands of sessions waiting at once would otherwise hold 4 KB each).
func TestSerialTransportWaitsWithoutABuffer(t *testing.T) {
	release := make(chan struct{})
	answer := wsmantest.Handler(gsAnswer)
	srv, _ := serialServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		answer.ServeHTTP(w, r)
	}), false)
	rec := &readSizes{}
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithSerialTransport(),
		wsman.WithDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			rec.Conn = conn
			return rec, err
		}))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)

	done := make(chan error, 1)
	go func() {
		_, err := c.Get(bg, gsURI, nil)
		done <- err
	}()
	require.Eventually(t, func() bool { return rec.waiting() != 0 }, 5*time.Second, time.Millisecond, "the exchange waits for its answer")
	assert.Equal(t, 1, rec.waiting(), "the wait reads into one byte, not a pooled reader")
	close(release)
	require.NoError(t, <-done, "the answer is read whole after its first byte")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Greater(t, len(rec.sizes), 1)
	assert.Greater(t, rec.sizes[1], 1, "the rest is read through the pooled reader")
}

// A connection the server closes before answering fails the call as a cut
// response, as http.ReadResponse reports it.
func TestSerialTransportClosedBeforeAnswer(t *testing.T) {
	srv, _ := serialServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}), false)
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithSerialTransport())
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	var te *wsman.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, wsman.PhaseReceive, te.Phase)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// A body shorter than its Content-Length fails the call in the receive phase
// on either transport, and a body of exactly its length is read whole (the
// serial connection is then kept for the next call).
func TestBodyOfAnnouncedLength(t *testing.T) {
	good := wsmantest.Handler(gsAnswer)
	for _, serial := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "serial"}[serial], func(t *testing.T) {
			var short atomic.Bool
			srv, cc := serialServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !short.Load() {
					good.ServeHTTP(w, r)
					return
				}
				conn, bw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 500\r\n\r\n<a:Envelope")
				_ = bw.Flush()
				_ = conn.Close()
			}), false)
			var opts []wsman.Option
			if serial {
				opts = append(opts, wsman.WithSerialTransport())
			}
			c, err := wsman.New(srv.URL+"/wsman", opts...)
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			for range 2 {
				resp, err := c.Get(bg, gsURI, nil)
				require.NoError(t, err)
				require.NotEmpty(t, resp.Raw)
				assert.Equal(t, resp.Raw[len(resp.Raw)-1], byte('>'), "the body ends where its length says")
			}
			if serial {
				assert.Equal(t, int64(1), cc.Opened(), "a body read to its length keeps the connection")
			}
			short.Store(true)
			_, err = c.Get(bg, gsURI, nil)
			var te *wsman.TransportError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, wsman.PhaseReceive, te.Phase)
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		})
	}
}

// A server that closes a kept-alive connection right after a response,
// without "Connection: close" (AMT 20/21 after a password change: rpc-go pull
// request 1071), must not cost the next call: a non-repeatable one (an
// Invoke) written on the dead connection failed with a cut response before,
// because the transport trusted a connection idle for less than a second.
// net/http's reader goroutine notices such a close at once; the serial
// transport now asks the socket before every reuse.
func TestSerialTransportServerClosedRightAfterAResponse(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tlsOn], func(t *testing.T) {
			closed := make(chan struct{}, 4)
			var calls atomic.Int32
			h := wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
				calls.Add(1)
				return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
			})
			var cc wsmantest.ConnCounter
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
				cc.ConnState(c, s)
				if s == http.StateIdle && calls.Load() == 1 {
					// The first call's connection: closed as soon as it
					// goes idle, with nothing said.
					_ = c.Close()
					closed <- struct{}{}
				}
			}
			if tlsOn {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			opts := []wsman.Option{wsman.WithSerialTransport()}
			if tlsOn {
				pin := sha256.Sum256(srv.Certificate().Raw)
				opts = append(opts, wsman.WithTLS(wsman.PinSHA256(pin)))
			}
			c, err := wsman.New(srv.URL+"/wsman", opts...)
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			const svc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
			_, err = c.Invoke(bg, svc, "SetAdminAclEntryEx", nil, nil)
			require.NoError(t, err)
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the server never closed the connection")
			}
			_, err = c.Invoke(bg, svc, "SetAdminAclEntryEx", nil, nil)
			require.NoError(t, err, "the next call goes out on a new connection")
			assert.Equal(t, int32(2), calls.Load())
			assert.Equal(t, int64(2), cc.Opened())
		})
	}
}

// Handshake completes the TLS handshake under the client's policy and sends
// nothing: the server sees a connection and no request.
func TestHandshake(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	pin := sha256.Sum256(srv.Certificate().Raw)
	for _, serial := range []bool{false, true} {
		opts := []wsman.Option{wsman.WithTLS(wsman.PinSHA256(pin))}
		if serial {
			opts = append(opts, wsman.WithSerialTransport())
		}
		c, err := wsman.New(srv.URL+"/wsman", opts...)
		require.NoError(t, err)
		cs, err := c.Handshake(bg)
		require.NoError(t, err)
		require.NotEmpty(t, cs.PeerCertificates)
		assert.Equal(t, srv.Certificate().Raw, cs.PeerCertificates[0].Raw)
		assert.True(t, cs.HandshakeComplete)
	}
	wrong, err := wsman.New(srv.URL+"/wsman", wsman.WithTLS(wsman.PinSHA256([32]byte{1})))
	require.NoError(t, err)
	_, err = wrong.Handshake(bg)
	var pe *wsman.TLSPolicyError
	require.ErrorAs(t, err, &pe, "the policy refused the server")
	plain, err := wsman.New("http://127.0.0.1:1/wsman")
	require.NoError(t, err)
	_, err = plain.Handshake(bg)
	require.ErrorIs(t, err, wsman.ErrNoHandshake)
	assert.Zero(t, requests.Load(), "nothing was sent")
}
