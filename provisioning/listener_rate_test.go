package provisioning_test

import (
	"context"
	"math"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
)

// A PerSourceRate that is not a number turned the per-source limit off without
// a word: the bucket's tokens became NaN, which is never below one, so every
// connection passed (found by review). Serve refuses it, as it refuses prefix
// lengths out of range; so an infinite rate, which refills any bucket at once.
func TestHelloListenerRefusesRateNotFinite(t *testing.T) {
	for _, rate := range []float64{math.NaN(), math.Inf(1)} {
		t.Run("rate "+formatFloat(rate), func(t *testing.T) {
			var conns []net.Conn
			for range 3 {
				conns = append(conns, newSpoofConn(ap1, nil))
			}
			sl := &sliceListener{conns: conns, closed: make(chan struct{})}
			l := &provisioning.HelloListener{
				Handler:        func(context.Context, provisioning.ReceivedHello) {},
				PerSourceBurst: 1,
				PerSourceRate:  rate,
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx, sl) }()
			select {
			case err := <-served:
				assert.ErrorContains(t, err, "HelloListener.PerSourceRate")
			case <-time.After(5 * time.Second):
				cancel()
				<-served
				require.Fail(t, "Serve took the rate", "stats %+v", l.Stats())
			}
		})
	}
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	}
	return "finite"
}
