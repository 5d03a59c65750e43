package provisioning_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// Lifecycle of sessions, leases and the listener around the edges an
// integrator hits: a listener stopped under running sessions, a store that
// hangs, a callback that panics, a session that never got a slot, a Config
// shared between provisioners, an accept that fails for a while.

// blockingAuthorizer holds every Authorize call until release is closed or
// its context ends, and records the context's error at that moment.
type blockingAuthorizer struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	ctxErrs []error
}

func newBlockingAuthorizer() *blockingAuthorizer {
	return &blockingAuthorizer{entered: make(chan struct{}), release: make(chan struct{})}
}

func (a *blockingAuthorizer) Authorize(ctx context.Context, _ provisioning.AuthRequest) (provisioning.Inventory, error) {
	a.once.Do(func() { close(a.entered) })
	select {
	case <-a.release:
	case <-ctx.Done():
	}
	a.mu.Lock()
	a.ctxErrs = append(a.ctxErrs, ctx.Err())
	a.mu.Unlock()
	if ctx.Err() != nil {
		return provisioning.Inventory{}, ctx.Err()
	}
	return provisioning.Inventory{}, provisioning.Reject(provisioning.ReasonUnknownDevice, "test")
}

func (a *blockingAuthorizer) errs() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.ctxErrs...)
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// A session started by a listener from Provisioner.Listener outlives the
// listener: stopping the listener (its Shutdown lets Handler calls finish)
// must not cancel the sessions those calls started. It used to: the session
// ran under the connection's context, canceled when Serve returned.
func TestListenerSessionsOutliveTheListener(t *testing.T) {
	auth := newBlockingAuthorizer()
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Authorizer = auth }})
	p := h.provisioner()
	l := p.Listener()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- l.Serve(h.ctx, ln) }()

	_, err = h.fleet.Devices()[0].SendHellos(h.ctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1})
	require.NoError(t, err)
	waitClosed(t, auth.entered, "no session started")

	require.NoError(t, l.Shutdown(h.ctx))
	select {
	case err := <-served:
		assert.ErrorIs(t, err, provisioning.ErrListenerClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	close(auth.release)
	p.Wait()
	assert.Equal(t, []error{nil}, auth.errs(), "the listener's stop canceled the session")
}

// Serve's sessions still end with Serve's context (its documented contract).
func TestServeCancelCancelsSessions(t *testing.T) {
	auth := newBlockingAuthorizer()
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Authorizer = auth }})
	p := h.provisioner()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(h.ctx)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	_, err = h.fleet.Devices()[0].SendHellos(h.ctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1})
	require.NoError(t, err)
	waitClosed(t, auth.entered, "no session started")
	cancel()
	close(auth.release)
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	errs := auth.errs()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)
}

// deadlineStore fails the test's expectations when a store call gets a
// context that can never end: a hung store would hold the session, its slot
// and Shutdown for ever.
type deadlineStore struct {
	provisioning.Store
	unbounded atomic.Int64
}

func (s *deadlineStore) check(ctx context.Context) {
	if _, ok := ctx.Deadline(); !ok {
		s.unbounded.Add(1)
	}
}

func (s *deadlineStore) Load(ctx context.Context, u amt.UUID) (*provisioning.DeviceRecord, error) {
	s.check(ctx)
	return s.Store.Load(ctx, u)
}

func (s *deadlineStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	s.check(ctx)
	return s.Store.Save(ctx, r)
}

// Every store call of a session has a bound, the outcome of a device that has
// not proven itself included (it was saved with a context that could never
// end, so a hung store wedged Shutdown).
func TestStoreCallsOfASessionAreBounded(t *testing.T) {
	var ds *deadlineStore
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		ds = &deadlineStore{Store: c.Store}
		c.Store = ds
		c.RecordUnknownDevices = true
		// connect fails: an outcome saved before the device proves itself
		c.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unreachable") }
	}})
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err, "the outcome was saved")
	assert.Equal(t, provisioning.StateFailed, rec.State)
	assert.Zero(t, ds.unbounded.Load(), "a store call had no deadline")
}

// panicIssuer panics on its first call: an integrator's bug.
type panicIssuer struct {
	provisioning.Issuer
	panicked atomic.Bool
}

func (i *panicIssuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	if i.panicked.CompareAndSwap(false, true) {
		panic("issuer bug")
	}
	return i.Issuer.Issue(ctx, req)
}

// A callback that panics in Provision (recovered by the caller) leaves no
// lease behind: the device's lease was renewed for ever, so no provisioner,
// this one included, could work on the device again.
func TestPanicInACallbackReleasesTheLease(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.cfg.Issuer = &panicIssuer{Issuer: h.issuer}
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	func() {
		defer func() { assert.Equal(t, "issuer bug", recover()) }()
		_, _ = p.Provision(h.ctx, h.helloFrom(d))
		t.Fatal("the Issuer did not panic")
	}()
	l, err := h.store.AcquireLease(h.ctx, d.UUID(), "another provisioner", time.Now(), time.Minute)
	require.NoError(t, err, "the panicked session still holds the device's lease")
	require.NoError(t, h.store.ReleaseLease(h.ctx, l))

	rec, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
}

// A session canceled while it waits for a slot (MaxSessions) reports it: it
// used to end without a single event.
func TestQueuedSessionCanceledReportsIt(t *testing.T) {
	auth := newBlockingAuthorizer()
	h := newHarness(t, harnessOptions{n: 2, config: func(c *provisioning.Config) {
		c.Authorizer = auth
		c.MaxSessions = 1
	}})
	p := h.provisioner()
	devs := h.fleet.Devices()
	p.HandleHello(h.ctx, h.helloFrom(devs[0]))
	waitClosed(t, auth.entered, "the first session did not start")

	ctx, cancel := context.WithCancel(h.ctx)
	p.HandleHello(ctx, h.helloFrom(devs[1]))
	cancel()
	require.Eventually(t, func() bool { return len(h.eventsFor(devs[1].UUID())) > 0 }, 10*time.Second, time.Millisecond)
	close(auth.release)
	p.Wait()

	ev := h.eventsFor(devs[1].UUID())
	require.Len(t, ev, 1)
	assert.Equal(t, provisioning.StepAuthorize, ev[0].Step)
	assert.Equal(t, provisioning.ReasonCanceled, ev[0].Reason)
	assert.ErrorIs(t, ev[0].Err, context.Canceled)
	assert.Contains(t, ev[0].Detail, "MaxSessions")
	assert.Len(t, auth.errs(), 1, "the queued session reached the Authorizer")
}

// New never writes the caller's Profiles: it filled in each profile's Name
// there (a data race when one Config is shared).
func TestNewLeavesTheCallersProfilesAlone(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	profiles := h.cfg.Profiles
	require.Empty(t, profiles[provisioning.DefaultProfileName].Name)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := provisioning.New(h.cfg)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Empty(t, profiles[provisioning.DefaultProfileName].Name, "New wrote into the caller's map")
}

// New refuses lease and port values that would crash or never connect.
func TestNewRefusesBadLeaseAndPort(t *testing.T) {
	inv := provisioning.NewInventoryList()
	for _, tc := range []struct {
		name  string
		cfg   provisioning.Config
		field string
	}{
		{"negative lease", provisioning.Config{LeaseTTL: -time.Second}, "LeaseTTL"},
		{"nanosecond lease", provisioning.Config{LeaseTTL: time.Nanosecond}, "LeaseTTL"},
		{"negative port", provisioning.Config{DevicePort: -1}, "DevicePort"},
		{"port too high", provisioning.Config{DevicePort: 70000}, "DevicePort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Authorizer = inv
			_, err := provisioning.New(tc.cfg)
			var ce *provisioning.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.Contains(t, ce.Error(), "zero for")
		})
	}
	_, err := provisioning.New(provisioning.Config{Authorizer: inv, LeaseTTL: time.Millisecond, DevicePort: 65535})
	assert.NoError(t, err)
}

// failingAccepts fails Accept with errs, one per call, then accepts from the
// real listener.
type failingAccepts struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (f *failingAccepts) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", errno)}
}

// A listener goes on through accept errors that pass by themselves (out of
// file descriptors during a flood, a connection aborted before accept): it
// used to stop for good on the first, leaving the server deaf. Any other
// accept error still ends Serve.
func TestListenerSurvivesTransientAcceptErrors(t *testing.T) {
	transient := []error{acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE), acceptErr(syscall.ECONNABORTED)}
	rig := &shutdownRig{served: make(chan error, 1), hellos: make(chan provisioning.ReceivedHello, 16), events: make(chan provisioning.ListenerEvent, 16)}
	rig.l = &provisioning.HelloListener{
		Handler:     func(_ context.Context, h provisioning.ReceivedHello) { rig.hellos <- h },
		OnEvent:     func(e provisioning.ListenerEvent) { rig.events <- e },
		ReadTimeout: time.Minute,
	}
	real, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rig.addr = real.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		rig.served <- rig.l.Serve(ctx, &failingAccepts{Listener: real, errs: append([]error(nil), transient...)})
	}()

	for _, want := range transient {
		e := rig.event(t)
		assert.Equal(t, provisioning.EventAcceptError, e.Kind)
		assert.ErrorIs(t, e.Err, want.(*net.OpError).Err.(*os.SyscallError).Err)
	}
	c, err := net.Dial("tcp", rig.addr)
	require.NoError(t, err)
	_, err = c.Write(loadHellos(t)[2].Packet)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	select {
	case <-rig.hellos:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener stopped accepting")
	}
	assert.Equal(t, uint64(len(transient)), rig.l.Stats().AcceptErrors)
	cancel()
	assert.NoError(t, rig.serveResult(t))

	// A permanent error ends Serve with it.
	boom := errors.New("boom")
	l := &provisioning.HelloListener{Handler: func(context.Context, provisioning.ReceivedHello) {}}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln2.Close()
	err = l.Serve(t.Context(), &failingAccepts{Listener: ln2, errs: []error{fmt.Errorf("accept: %w", boom)}})
	assert.ErrorIs(t, err, boom)
}

// Shutdown covers every session: Provision's (a caller's own, synchronous
// ones) as well as HandleHello's. It used to return at once with a Provision
// call running, and cancel nothing.
func TestShutdownCoversProvisionSessions(t *testing.T) {
	auth := newBlockingAuthorizer()
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Authorizer = auth }})
	p := h.provisioner()
	provisioned := make(chan error, 1)
	go func() {
		_, err := p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
		provisioned <- err
	}()
	waitClosed(t, auth.entered, "no session started")

	ctx, cancel := context.WithCancel(h.ctx)
	cancel() // no grace: the session is canceled
	assert.ErrorIs(t, p.Shutdown(ctx), context.Canceled, "Shutdown did not wait for the Provision session")
	select {
	case err := <-provisioned:
		assert.Equal(t, provisioning.ReasonCanceled, provisioning.ReasonOf(err))
	case <-time.After(10 * time.Second):
		t.Fatal("Provision was not canceled")
	}
	assert.ErrorIs(t, auth.errs()[0], context.Canceled)
}

// After Shutdown, nothing starts: Provision, Resume and Serve say so, and a
// hello is dropped with an event.
func TestNothingStartsAfterShutdown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := h.provisioner()
	require.NoError(t, p.Shutdown(h.ctx))
	d := h.fleet.Devices()[0]
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	assert.ErrorIs(t, err, provisioning.ErrShuttingDown)
	assert.ErrorIs(t, p.Resume(h.ctx), provisioning.ErrShuttingDown)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	assert.ErrorIs(t, p.Serve(h.ctx, ln), provisioning.ErrShuttingDown)
	p.HandleHello(h.ctx, h.helloFrom(d))
	ev := h.eventsFor(d.UUID())
	require.Len(t, ev, 1)
	assert.Equal(t, provisioning.ReasonShuttingDown, ev[0].Reason)
}

// answersProbe reports whether a hello listener at addr answers an HTTP GET
// (its banner): it is serving.
func answersProbe(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	b := make([]byte, 1)
	n, _ := c.Read(b)
	return n == 1
}

// Shutdown stops every listener Serve runs (an IPv4 and an IPv6 one, say),
// not only the last one started.
func TestShutdownStopsEveryServe(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := h.provisioner()
	served := make(chan error, 2)
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		go func() { served <- p.Serve(h.ctx, ln) }()
	}
	// Both are serving once each answers a probe.
	for _, ln := range lns {
		require.Eventually(t, func() bool { return answersProbe(ln.Addr().String()) }, 10*time.Second, 5*time.Millisecond)
	}
	require.NoError(t, p.Shutdown(h.ctx))
	for range 2 {
		select {
		case err := <-served:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("a Serve did not stop")
		}
	}
}

// Unprovision of a device amtkit holds no admin password for says so, without
// dialing it: it used to dial, fail to sign in and report a device error.
func TestUnprovisionWithoutAdminPassword(t *testing.T) {
	var dials atomic.Int64
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		dial := c.Dial
		c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dial(ctx, network, addr)
		}
	}})
	p, rec := provisionOne(t, h)
	require.NoError(t, p.Unprovision(h.ctx, rec.UUID))

	before := dials.Load()
	err := p.Unprovision(h.ctx, rec.UUID) // again: the record holds no admin password now
	require.ErrorIs(t, err, provisioning.ErrNotProvisioned)
	assert.Contains(t, err.Error(), "no admin password")
	assert.Equal(t, before, dials.Load(), "Unprovision dialed a device it cannot sign in to")

	_, err = p.OpenDevice(h.ctx, rec.UUID)
	assert.ErrorIs(t, err, provisioning.ErrNotProvisioned)
}

// ListenAndServe listens where Config.ListenAddr says (the address Audit
// judges), and says what to fix when it cannot.
func TestListenAndServe(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())

	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.ListenAddr = addr }})
	p := h.provisioner()
	served := make(chan error, 1)
	go func() { served <- p.ListenAndServe(h.ctx) }()
	require.Eventually(t, func() bool { return answersProbe(addr) }, 10*time.Second, 5*time.Millisecond, "nothing answers at Config.ListenAddr")
	require.NoError(t, p.Shutdown(h.ctx))
	select {
	case err := <-served:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}

	h.cfg.ListenAddr = "256.0.0.1:9971"
	err = h.provisioner().ListenAndServe(h.ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.ListenAddr")
}
