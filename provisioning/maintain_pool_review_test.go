package provisioning_test

import (
	"context"
	"crypto/x509"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// dueFleet provisions n devices and moves the clock inside their TLS
// certificates' renewal window; it returns the devices' UUIDs in the order
// the Maintainer walks them (UUID order) and forgets the provisioning events.
func dueFleet(t *testing.T, n int) (*harness, []amt.UUID) {
	t.Helper()
	return fleetAt(t, n, func(notAfter time.Time) time.Duration { return time.Until(notAfter) - 41*24*time.Hour })
}

// fleetAt provisions n devices and then advances the clock by advance(the
// TLS certificates' NotAfter).
func fleetAt(t *testing.T, n int, advance func(notAfter time.Time) time.Duration) (*harness, []amt.UUID) {
	t.Helper()
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{n: n, config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p := h.provisioner()
	var notAfter time.Time
	var us []amt.UUID
	for _, d := range h.fleet.Devices() {
		rec, err := p.Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		cur, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
		require.True(t, ok)
		notAfter = cur.NotAfter
		us = append(us, rec.UUID)
	}
	clock.Advance(advance(notAfter))
	us = us[:0]
	for r, err := range h.store.Records(h.ctx, provisioning.Filter{}) { // UUID order
		require.NoError(t, err)
		us = append(us, r.UUID)
	}
	h.mu.Lock()
	h.events = nil
	h.mu.Unlock()
	return h, us
}

// waitForBlockedHandOut returns once a goroutine waits in devicePool.do for
// a free slot (the walk has the next device and the pool is full).
func waitForBlockedHandOut(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if (strings.Contains(g, "[chan send") || strings.Contains(g, "[select")) && strings.Contains(g, "provisioning.(*devicePool).do(") {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatal("the walk never waited for a slot")
}

// blockFirstDial makes the first device dialled not answer: its dial lasts
// until the run is cancelled (as an offline device's lasts until the
// timeouts). The channel is closed when that dial begins.
func blockFirstDial(h *harness) <-chan struct{} {
	first := make(chan struct{})
	var once sync.Once
	dial := h.cfg.Dial
	h.cfg.Dial = func(dctx context.Context, network, addr string) (net.Conn, error) {
		blocked := false
		once.Do(func() { blocked = true; close(first) })
		if blocked {
			<-dctx.Done()
			return nil, dctx.Err()
		}
		return dial(dctx, network, addr)
	}
	return first
}

// A run cancelled while the walk waited for a free slot still handed the
// next device out: the device was leased and "checked" with a context that
// had ended, its renewal failed at once, and the run reported a failure (and
// an event) for a device it never worked on.
func TestMaintainerCancelledRunHandsOutNoMoreDevices(t *testing.T) {
	h, us := dueFleet(t, 2)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	first := blockFirstDial(h)
	m := h.provisioner().Maintainer()
	m.Concurrency = 1
	type result struct {
		rep provisioning.MaintenanceReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := m.RunOnce(ctx)
		done <- result{rep, err}
	}()
	<-first
	waitForBlockedHandOut(t) // the second device waits for the first's slot
	cancel()
	res := <-done
	require.ErrorIs(t, res.err, context.Canceled)
	assert.Equal(t, 1, res.rep.Checked, "devices handed out: the second was handed out after the run was cancelled (report %+v)", res.rep)
	assert.Empty(t, h.eventsFor(us[1]), "events for the device the cancelled run never got to")
}

// alwaysPanicIssuer panics on every Issue, counting the calls.
type alwaysPanicIssuer struct {
	provisioning.Issuer
	calls atomic.Int32
}

func (i *alwaysPanicIssuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	i.calls.Add(1)
	panic("issuer bug")
}

// A callback that panics on the pool stops the run, as it did when devices
// were worked on one by one: the walk hands out no more devices. It goes on
// now, with the broken Issuer, over the whole fleet (each device has a key
// generated and an issuance left in flight), and the panic reaches the
// caller only once every due device has been worked on.
func TestMaintainerPanicStopsHandingOutDevices(t *testing.T) {
	h, us := dueFleet(t, 4)
	iss := &alwaysPanicIssuer{Issuer: h.issuer}
	h.cfg.Issuer = iss
	m := h.provisioner().Maintainer()
	m.Concurrency = 1
	func() {
		defer func() {
			v := recover()
			require.NotNil(t, v, "the Issuer's panic did not reach RunOnce's caller")
		}()
		_, _ = m.RunOnce(h.ctx)
	}()
	touched := 0
	for _, u := range us {
		rec, err := h.store.Load(h.ctx, u)
		require.NoError(t, err)
		for _, c := range rec.Certificates {
			if c.Pending && c.Handle == "" { // an issuance in flight
				touched++
				break
			}
		}
	}
	assert.Equal(t, int32(1), iss.calls.Load(), "Issue calls after the first panicked (Concurrency 1)")
	assert.Equal(t, 1, touched, "devices left with an issuance in flight by the panicking Issuer, of %d", len(us))
}

// The same in the reconcile walk: the device handed out after the cancel was
// reconciled with a context that had ended, every area's planning failed,
// and the record was saved anyway (saves outlive the context) with
// ReconcileError "... context canceled" and Reconciled set: the store said a
// reconcile of the device ran and failed when the cancelled run never got to
// it.
func TestMaintainerCancelledRunReconcilesNoMoreDevices(t *testing.T) {
	h, us := fleetAt(t, 2, func(time.Time) time.Duration { return 2 * time.Hour })
	before, err := h.store.Load(h.ctx, us[1])
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	first := blockFirstDial(h)
	m := h.provisioner().Maintainer()
	m.Concurrency = 1
	m.ReconcileEvery = time.Hour
	done := make(chan error, 1)
	go func() {
		_, err := m.RunOnce(ctx)
		done <- err
	}()
	<-first
	waitForBlockedHandOut(t)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	after, err := h.store.Load(h.ctx, us[1])
	require.NoError(t, err)
	assert.Empty(t, after.ReconcileError, "the device the cancelled run never got to is recorded as failing its reconcile")
	assert.Equal(t, before.Reconciled, after.Reconciled, "and as reconciled")
	assert.Equal(t, before.Version, after.Version, "its record was written after the run was cancelled")
}
