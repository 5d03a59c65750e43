package provisioning_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
)

// A connection read to its end is no longer unfinished: the connection cap
// evicts only connections being read. A connection whose hello was delivered
// and whose Handler still runs was taken as the oldest unfinished one — the
// hello reported received and then evicted (two events for one connection),
// Stats().Evicted counting it, and the eviction spent on it instead of on a
// connection still held open (found by review).
func TestAttackListenerEvictsOnlyUnfinishedConnections(t *testing.T) {
	release := make(chan struct{})
	h := startListener(t, func(l *provisioning.HelloListener) {
		l.MaxConns = 1
		l.PerSourceBurst = -1
		l.Handler = func(context.Context, provisioning.ReceivedHello) { <-release }
	})
	defer close(release)
	pkt := loadHellos(t)[2].Packet

	// The first device's hello is delivered; its Handler call waits.
	h.send(pkt)
	ev := h.waitEvents(1)
	require.Equal(t, provisioning.EventHelloReceived, ev[0].Kind)

	// A sender holds a connection open; then a second device says hello.
	idle, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer idle.Close()
	require.Eventually(t, func() bool { return h.l.Stats().Accepted == 2 }, 5*time.Second, time.Millisecond)
	h.send(pkt)

	// The held connection is the one evicted; both hellos are received.
	ev = h.waitEvents(3)
	kinds := map[provisioning.ListenerEventKind]int{}
	for _, e := range ev {
		kinds[e.Kind]++
	}
	assert.Equal(t, map[provisioning.ListenerEventKind]int{
		provisioning.EventHelloReceived: 2, provisioning.EventEvicted: 1,
	}, kinds, "events %v", ev)
	for _, e := range ev {
		if e.Kind == provisioning.EventEvicted {
			assert.Equal(t, idle.LocalAddr().String(), e.Source.String(), "the held connection is evicted")
		}
	}
	assert.Equal(t, uint64(1), h.l.Stats().Evicted)
}
