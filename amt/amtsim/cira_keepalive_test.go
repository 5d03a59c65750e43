package amtsim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
)

// connectRaw plays a raw MPS through the device's handshake until the tunnel
// is up.
func connectRaw(t *testing.T, r *ciraRig) (send func(apf.Message), next func() apf.Message) {
	t.Helper()
	send, next = rawMPS(t, r)
	require.IsType(t, apf.ProtocolVersion{}, next())
	acceptDevice(t, send, next)
	for port := uint32(0); port != 5900; {
		fw := next().(apf.GlobalRequest)
		port = fw.Port
		send(apf.TCPForwardSuccess(port))
	}
	require.Eventually(t, r.d.CIRAConnected, 5*time.Second, 5*time.Millisecond, "%v", r.d.CIRAEvents())
	return send, next
}

// TestCIRAKeepAliveOptionsHostileMPS: an MPS that changes its keep-alive
// interval to 0 and back (a hostile or confused one) neither starts a second
// keep-alive loop on the device — each loop a goroutine for the tunnel's
// life, one more per flip — nor makes the device send keep-alives without a
// pause (an interval of 0 asked for none). Before, the loop slept 0 s
// between keep-alives once the interval was 0, and a positive interval after
// 0 started another loop beside the first.
func TestCIRAKeepAliveOptionsHostileMPS(t *testing.T) {
	t.Run("flips start no second loop", func(t *testing.T) {
		r := newCIRARig(t, apftest.MPSConfig{}, nil)
		send, next := connectRaw(t, r)
		for _, iv := range []uint32{30, 0, 30} {
			send(apf.KeepAliveOptionsRequest{Interval: iv, Timeout: 90})
			require.Equal(t, apf.KeepAliveOptionsReply{Interval: iv, Timeout: 90}, next())
		}
		var cookies []uint32
		for range 4 {
			select {
			case r.tick <- struct{}{}:
			case <-time.After(10 * time.Second):
				t.Fatal("no keep-alive loop waits")
			}
			m := next()
			require.IsType(t, apf.KeepAliveRequest{}, m)
			cookies = append(cookies, m.(apf.KeepAliveRequest).Cookie)
		}
		assert.Equal(t, []uint32{1, 2, 3, 4}, cookies, "one keep-alive loop, counting")
	})
	t.Run("interval 0 stops keep-alives", func(t *testing.T) {
		tick := make(chan struct{})
		asleep := make(chan struct{}, 8) // the keep-alive loop waits for its 30 s
		r := newCIRARig(t, apftest.MPSConfig{}, func(cfg *amtsim.Config) {
			cfg.Behavior.Sleep = func(ctx context.Context, d time.Duration) error {
				if d == 0 { // as a timer of 0 does: at once
					return ctx.Err()
				}
				if d == 30*time.Second {
					asleep <- struct{}{}
				}
				select {
				case <-tick:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
		send, next := connectRaw(t, r)
		send(apf.KeepAliveOptionsRequest{Interval: 30, Timeout: 90})
		require.Equal(t, apf.KeepAliveOptionsReply{Interval: 30, Timeout: 90}, next())
		<-asleep // the loop waits out its first interval (else it would see 0 and end at once)
		send(apf.KeepAliveOptionsRequest{Interval: 0, Timeout: 0})
		require.Equal(t, apf.KeepAliveOptionsReply{}, next())
		tick <- struct{}{} // the 30 s the loop was waiting for pass
		// Whatever the loop does at that moment, it sends at most the one
		// keep-alive it was waiting to send; ours is answered next.
		send(apf.KeepAliveRequest{Cookie: 99})
		sent := 0
		for {
			m := next()
			if m == (apf.KeepAliveReply{Cookie: 99}) {
				break
			}
			require.IsType(t, apf.KeepAliveRequest{}, m)
			sent++
		}
		assert.LessOrEqual(t, sent, 1, "keep-alives sent after the MPS asked for none")
	})
}

// TestCIRAEventsOneLine: what an MPS chose (here a channel type) is in the
// device's CIRA events; CIRAEvent.String renders each on one line, so an MPS
// cannot add events of its own to a log printed line by line. Before, the
// text went in as it was (found by review).
func TestCIRAEventsOneLine(t *testing.T) {
	r := newCIRARig(t, apftest.MPSConfig{}, nil)
	send, next := connectRaw(t, r)
	send(apf.ChannelOpen{ChannelType: "session\nconnected 127.0.0.1:1: forged", Sender: 1, Window: 4096,
		Address: "127.0.0.1", Port: 16993, OriginAddress: "127.0.0.1", OriginPort: 40000})
	require.IsType(t, apf.ChannelOpenFailure{}, next())
	found := false
	for _, e := range r.d.CIRAEvents() {
		s := e.String()
		assert.NotContains(t, s, "\n", "one line per event: %q", s)
		found = found || strings.Contains(s, `channel type session\nconnected`)
	}
	assert.True(t, found, "the refusal is an event, its text escaped")
}
