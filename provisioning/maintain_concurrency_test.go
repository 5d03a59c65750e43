package provisioning_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
)

// A Maintainer run works on Concurrency devices at once: six devices due
// for renewal whose connections are held until four are being dialled at
// once (as devices that do not answer hold theirs until the timeouts) all
// renew, and never more than four are dialled at once. Serial (Concurrency
// -1), the first dial would wait for good: a fleet with many devices offline
// outlasted Every.
func TestMaintainerRunsDevicesConcurrently(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{n: 6, config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p := h.provisioner()
	var notAfter time.Time
	for _, d := range h.fleet.Devices() {
		rec, err := p.Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		cur, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
		require.True(t, ok)
		notAfter = cur.NotAfter
	}
	clock.Advance(time.Until(notAfter) - 41*24*time.Hour) // inside the renewal window

	const slots = 4
	var mu sync.Mutex
	inFlight, most := 0, 0
	opened := make(chan struct{})
	once := sync.Once{}
	dial := h.cfg.Dial
	h.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == slots {
			once.Do(func() { close(opened) })
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		select {
		case <-opened:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return dial(ctx, network, addr)
	}
	m := h.provisioner().Maintainer()
	m.Concurrency = slots
	m.ReconcileEvery = time.Hour // the second walk runs on the pool too
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	rep, err := m.RunOnce(ctx)
	require.NoError(t, err, "the first %d dials wait for each other: a run that works on fewer devices at once never ends", slots)
	assert.Equal(t, 6, rep.Checked)
	assert.Equal(t, 6, rep.Renewed)
	assert.Equal(t, 0, rep.Failed)
	assert.Equal(t, 6, rep.Reconciled)
	assert.Equal(t, 0, rep.ReconcileFailed)
	assert.Equal(t, slots, most, "devices dialled at once")
}

// An Issuer that panics while a device is renewed on the pool reaches the
// caller of RunOnce, as it did when devices were worked on one by one: it
// does not take the process down from the pool's goroutine, and the device's
// lease is released.
func TestMaintainerPanicReachesTheCaller(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	_, rec := provisionOne(t, h)
	cur, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	clock.Advance(time.Until(cur.NotAfter) - 41*24*time.Hour)

	h.cfg.Issuer = &panicIssuer{Issuer: h.issuer}
	m := h.provisioner().Maintainer()
	func() {
		defer func() {
			v := recover()
			require.NotNil(t, v, "the Issuer's panic did not reach RunOnce's caller")
			assert.Contains(t, fmt.Sprint(v), "issuer bug")
		}()
		_, _ = m.RunOnce(h.ctx)
	}()
	l, err := h.store.AcquireLease(h.ctx, rec.UUID, "another provisioner", time.Now(), time.Minute)
	require.NoError(t, err, "the panicked renewal still holds the device's lease")
	require.NoError(t, h.store.ReleaseLease(h.ctx, l))
}
