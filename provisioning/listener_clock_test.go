package provisioning_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
)

// deadlineListener records the read deadline the hello listener sets on each
// connection it accepts.
type deadlineListener struct {
	net.Listener
	mu        sync.Mutex
	deadlines []time.Time
}

func (dl *deadlineListener) Accept() (net.Conn, error) {
	c, err := dl.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, dl: dl}, nil
}

type deadlineConn struct {
	net.Conn
	dl *deadlineListener
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.dl.mu.Lock()
	c.dl.deadlines = append(c.dl.deadlines, t)
	c.dl.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// A socket's deadline is on the real clock, whatever clock the listener is
// given (Config.Now is passed to it by Provisioner.Listener and Serve): a
// clock behind real time set every deadline in the past, and every hello timed
// out unread; a clock ahead of it set deadlines the ReadTimeout never reached,
// so a silent connection was held until evicted (found by review).
func TestAttackListenerClockSkewDeadlines(t *testing.T) {
	const readTimeout = 3 * time.Second
	pkt := loadHellos(t)[0].Packet
	for _, tc := range []struct {
		name string
		skew time.Duration
	}{
		{"in step", 0},
		{"an hour behind", -time.Hour},
		{"a day ahead", 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := func() time.Time { return time.Now().Add(tc.skew) }
			events := make(chan provisioning.ListenerEvent, 4)
			got := make(chan provisioning.ReceivedHello, 1)
			l := &provisioning.HelloListener{
				Handler:     func(_ context.Context, r provisioning.ReceivedHello) { got <- r },
				OnEvent:     func(e provisioning.ListenerEvent) { events <- e },
				ReadTimeout: readTimeout,
				Now:         clock,
			}
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			dl := &deadlineListener{Listener: inner}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Serve(ctx, dl) }()
			defer func() { cancel(); <-done }()

			before := time.Now()
			c, err := net.Dial("tcp", inner.Addr().String())
			require.NoError(t, err)
			_, err = c.Write(pkt)
			require.NoError(t, err)
			require.NoError(t, c.Close())

			select {
			case e := <-events:
				require.Equal(t, provisioning.EventHelloReceived, e.Kind, "event %v: %v", e.Kind, e.Err)
			case <-time.After(10 * time.Second):
				t.Fatal("no event")
			}
			r := <-got
			after := time.Now()
			// Event and hello times come from the listener's clock.
			assert.WithinRange(t, r.Received, before.Add(tc.skew), after.Add(tc.skew))

			dl.mu.Lock()
			defer dl.mu.Unlock()
			require.Len(t, dl.deadlines, 1)
			assert.WithinRange(t, dl.deadlines[0], before.Add(readTimeout), after.Add(readTimeout),
				"the read deadline is ReadTimeout after accept on the real clock")
		})
	}
}
