package provisioning_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
)

// dripListener accepts one connection that delivers its data one byte per
// Read, and then blocks until closed.
type dripListener struct {
	once   sync.Once
	conn   *dripConn
	closed chan struct{}
}

func (dl *dripListener) Accept() (net.Conn, error) {
	var c net.Conn
	dl.once.Do(func() { c = dl.conn })
	if c != nil {
		return c, nil
	}
	<-dl.closed
	return nil, net.ErrClosed
}

func (dl *dripListener) Close() error {
	select {
	case <-dl.closed:
	default:
		close(dl.closed)
	}
	return nil
}

func (dl *dripListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9971} }

type dripConn struct {
	net.Conn // nil: only the methods below are used
	mu       sync.Mutex
	data     []byte
	sent     int
	closed   bool
}

func (c *dripConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.sent == len(c.data) {
		return 0, net.ErrClosed
	}
	p[0] = c.data[c.sent]
	c.sent++
	return 1, nil
}

func (c *dripConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *dripConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}
func (c *dripConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
}
func (c *dripConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9971} }
func (c *dripConn) SetDeadline(time.Time) error      { return nil }
func (c *dripConn) SetReadDeadline(time.Time) error  { return nil }
func (c *dripConn) SetWriteDeadline(time.Time) error { return nil }

// A sender that starts like an HTTP probe ("GET ") and drips the rest a byte
// at a time made the listener search the whole buffer for the header's end
// after every read: quadratic work, about 0.3 s of CPU for one connection at
// the default size cap and minutes at a 1 MiB one, for bytes that cost the
// sender one segment each. The search now covers only what each read added
// (found by review).
func TestAttackProbeDripIsLinear(t *testing.T) {
	const size = 1 << 20
	for _, tc := range []struct {
		name  string
		data  []byte
		kind  provisioning.ListenerEventKind
		bytes int
	}{
		{"1 MiB without the header's end", append([]byte("GET "), bytes.Repeat([]byte{'\r'}, size)...), provisioning.EventHelloOversize, size + 1},
		{"a probe a byte at a time", []byte("GET / HTTP/1.0\r\n\r\n"), provisioning.EventProbe, 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl := &dripListener{conn: &dripConn{data: tc.data}, closed: make(chan struct{})}
			events := make(chan provisioning.ListenerEvent, 4)
			l := &provisioning.HelloListener{
				Handler:      func(context.Context, provisioning.ReceivedHello) {},
				OnEvent:      func(e provisioning.ListenerEvent) { events <- e },
				MaxHelloSize: size,
				ReadTimeout:  time.Hour,
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Serve(ctx, dl) }()
			defer func() { cancel(); <-done }()
			select {
			case e := <-events:
				assert.Equal(t, tc.kind, e.Kind)
				assert.Equal(t, tc.bytes, e.Bytes)
			case <-time.After(15 * time.Second): // linear: well under a second; quadratic: minutes
				require.Fail(t, "no event within 15 s")
			}
		})
	}
}
