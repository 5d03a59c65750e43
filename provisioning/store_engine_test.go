package provisioning_test

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

var errDead = errors.New("the provisioner's process is gone")

// deadable is one provisioner's handle on a store; after die, every call
// fails, as a crashed process makes none.
type deadable struct {
	provisioning.Store
	dead atomic.Bool
}

func (d *deadable) err() error {
	if d.dead.Load() {
		return errDead
	}
	return nil
}

func (d *deadable) Load(ctx context.Context, u amt.UUID) (*provisioning.DeviceRecord, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Store.Load(ctx, u)
}

func (d *deadable) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.Store.Save(ctx, r)
}

func (d *deadable) Records(ctx context.Context, f provisioning.Filter) iter.Seq2[*provisioning.DeviceRecord, error] {
	if err := d.err(); err != nil {
		return func(yield func(*provisioning.DeviceRecord, error) bool) { yield(nil, err) }
	}
	return d.Store.Records(ctx, f)
}

func (d *deadable) AcquireLease(ctx context.Context, u amt.UUID, owner string, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := d.err(); err != nil {
		return provisioning.Lease{}, err
	}
	return d.Store.AcquireLease(ctx, u, owner, now, ttl)
}

func (d *deadable) RenewLease(ctx context.Context, l provisioning.Lease, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := d.err(); err != nil {
		return provisioning.Lease{}, err
	}
	return d.Store.RenewLease(ctx, l, now, ttl)
}

func (d *deadable) ReleaseLease(ctx context.Context, l provisioning.Lease) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.Store.ReleaseLease(ctx, l)
}

// countOps counts the WS-Man operations each device serves, and can run a
// hook before one.
type opCounter struct {
	mu     sync.Mutex
	counts map[string]int
	before func(op string)
}

func (c *opCounter) configure(_ int, cfg *amtsim.Config) {
	cfg.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
		c.mu.Lock()
		if c.counts == nil {
			c.counts = map[string]int{}
		}
		c.counts[op]++
		f := c.before
		c.mu.Unlock()
		if f != nil {
			f(op)
		}
		return amtsim.DropNone
	}
}

func (c *opCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// A provisioner dies between sending CommitChanges and recording that it
// did: the commit lands on the device, the record still says "commit sent".
// Restarted with its Owner, it takes its lease back at once, resumes, reads
// the device's state first and verifies — CommitChanges is not sent again.
func TestCrashAfterCommitResumes(t *testing.T) {
	ops := &opCounter{}
	h := newHarness(t, harnessOptions{device: ops.configure})
	d := h.fleet.Devices()[0]
	first := &deadable{Store: h.store}
	h.cfg.Store, h.cfg.Owner = first, "prov-a"
	ops.before = func(op string) {
		if op == "CommitChanges" {
			first.dead.Store(true) // the process dies as the device takes the commit
		}
	}
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	ops.before = nil
	require.Equal(t, 1, ops.count("CommitChanges"))
	require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the commit landed")
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, rec.Session)
	require.True(t, rec.Session.Done.Has(provisioning.DoneCommitSent))
	assert.Equal(t, provisioning.StateConfigured, rec.State, "the last state recorded before the crash")

	h.cfg.Store = h.store // the restarted process, same Owner
	p := h.provisioner()
	require.NoError(t, p.Resume(h.ctx))
	rec, err = h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State, "%s", rec.LastError)
	assert.Nil(t, rec.Session)
	assert.Equal(t, 1, ops.count("CommitChanges"), "CommitChanges is not repeated")
	assert.True(t, d.AdminPasswordIs(rec.AdminPassword))
}

// Another provisioner holds the device's lease: a session for the device is
// refused before it changes anything, naming the holder, and the record is
// left as it was.
func TestLeaseHeldElsewhereRefusesSession(t *testing.T) {
	ops := &opCounter{}
	h := newHarness(t, harnessOptions{device: ops.configure})
	d := h.fleet.Devices()[0]
	_, err := h.store.AcquireLease(h.ctx, d.UUID(), "provisioner-on-host-b", time.Now(), time.Hour)
	require.NoError(t, err)
	_, err = h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	assert.Equal(t, provisioning.ReasonDuplicateSession, provisioning.ReasonOf(err))
	assert.ErrorContains(t, err, "provisioner-on-host-b")
	assert.Zero(t, ops.count("SetMEBxPassword"), "nothing was changed on the device")
	assert.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState)
}

// A dead provisioner's lease expires: Resume leaves the device alone until
// then, and takes it over afterwards.
func TestResumeWaitsForDeadOwnersLease(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h.cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	h.cfg.LeaseTTL = time.Minute
	first := &deadable{Store: h.store}
	h.cfg.Store, h.cfg.Owner = first, "prov-a"
	h.cfg.Observer = func(e provisioning.Event) {
		if e.Step == provisioning.StepIdentify && e.Err == nil {
			first.dead.Store(true)
		}
	}
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	h.cfg.Observer = nil

	h.cfg.Store, h.cfg.Owner = h.store, "prov-b"
	p := h.provisioner()
	clock.Add(int64(30 * time.Second))
	require.NoError(t, p.Resume(h.ctx))
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.NotEqual(t, provisioning.StateProvisioned, rec.State, "the lease of prov-a still holds")
	assert.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState)

	clock.Add(int64(31 * time.Second))
	require.NoError(t, p.Resume(h.ctx))
	rec, err = h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State, "%s", rec.LastError)
}

// Blocking a device while its session runs stops the session at its next
// save: nothing more is configured or committed.
func TestBlockStopsRunningSession(t *testing.T) {
	ops := &opCounter{}
	h := newHarness(t, harnessOptions{device: ops.configure})
	d := h.fleet.Devices()[0]
	var p *provisioning.Provisioner
	var once sync.Once
	h.cfg.Observer = func(e provisioning.Event) {
		if e.Step == provisioning.StepIdentify && e.Err == nil {
			once.Do(func() { require.NoError(t, p.Block(context.Background(), d.UUID())) })
		}
	}
	p = h.provisioner()
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	assert.ErrorContains(t, err, "blocked")
	assert.Zero(t, ops.count("CommitChanges"))
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.True(t, rec.Blocked)
	_, err = p.Provision(h.ctx, h.helloFrom(d))
	assert.Equal(t, provisioning.ReasonNotApproved, provisioning.ReasonOf(err))
}

// What another writer stores while a session runs is kept: the session's
// later saves lose their compare-and-swap, reload and re-apply only their
// own changes.
func TestOtherWritesDuringSessionAreKept(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	var once sync.Once
	h.cfg.Observer = func(e provisioning.Event) {
		if e.Step == provisioning.StepConfigure && e.Err == nil {
			once.Do(func() {
				// The integrator corrects the inventory's address in the store.
				r, err := h.store.Load(h.ctx, d.UUID())
				require.NoError(t, err)
				r.Inventory.Wireless = true
				r.Inventory.Address = "10.1.2.3:16993"
				require.NoError(t, h.store.Save(h.ctx, r))
			})
		}
	}
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	stored, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, stored.State)
	assert.True(t, stored.Inventory.Wireless, "the integrator's edit survived the session's later saves")
	assert.Equal(t, "10.1.2.3:16993", stored.Inventory.Address)
	assert.Equal(t, rec.Version, stored.Version, "the session's record is what the store holds")
	assert.True(t, d.AdminPasswordIs(stored.AdminPassword))
}

// The Maintainer works on a device only under its lease: a device leased to
// another provisioner is left for the next run.
func TestMaintainerSkipsLeasedDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	// Make the device due: its certificate renewal is pending.
	r, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	_, err = h.store.AcquireLease(h.ctx, d.UUID(), "someone-else", time.Now(), time.Hour)
	require.NoError(t, err)
	r.Certificates[len(r.Certificates)-1].Pending = true
	require.NoError(t, h.store.Save(h.ctx, r))
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Checked, "leased elsewhere: not touched")
	assert.Equal(t, 0, rep.Failed)
}

// renewCounter counts lease renewals.
type renewCounter struct {
	provisioning.Store
	n atomic.Int32
}

func (r *renewCounter) RenewLease(ctx context.Context, l provisioning.Lease, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	r.n.Add(1)
	return r.Store.RenewLease(ctx, l, now, ttl)
}

// A session waiting on a slow device keeps its lease: the Provisioner's one
// renewer renews it while the session waits (no goroutine per session), no
// other provisioner can take the device meanwhile, and the renewer ends with
// the last lease. Renewal runs on real timers (it is about other processes'
// clocks), so the test waits for renewals, with a short TTL.
func TestLeaseRenewedWhileDeviceSlow(t *testing.T) {
	ops := &opCounter{}
	h := newHarness(t, harnessOptions{device: ops.configure})
	d := h.fleet.Devices()[0]
	rc := &renewCounter{Store: h.store}
	h.cfg.Store, h.cfg.LeaseTTL = rc, 150*time.Millisecond
	release := make(chan struct{})
	ops.before = func(op string) {
		if op == "CommitChanges" {
			<-release // the firmware is slow to commit
		}
	}
	p := h.provisioner()
	done := make(chan error, 1)
	go func() { _, err := p.Provision(h.ctx, h.helloFrom(d)); done <- err }()

	require.Eventually(t, func() bool { return rc.n.Load() >= 3 }, 10*time.Second, 5*time.Millisecond,
		"the lease is renewed while the session waits")
	_, err := h.store.AcquireLease(h.ctx, d.UUID(), "provisioner-on-host-b", time.Now(), time.Minute)
	var held *provisioning.LeaseHeldError
	require.ErrorAs(t, err, &held, "the waiting session's lease still holds, well past its TTL")
	close(release)
	require.NoError(t, <-done)
	n := rc.n.Load()
	require.Eventually(t, func() bool {
		_, err := h.store.AcquireLease(h.ctx, d.UUID(), "provisioner-on-host-b", time.Now(), time.Minute)
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "released at the session's end")
	require.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "renewLoop")
	}, 5*time.Second, 5*time.Millisecond, "the renewer ended with the last lease")
	assert.Equal(t, n, rc.n.Load(), "nothing renewed after the session ended")
}

// conflictOnce makes the first save of a record with a session in progress
// lose its compare-and-swap: another writer (a hello's discovery outcome, the
// Maintainer) updates the record just before.
type conflictOnce struct {
	provisioning.Store
	done atomic.Bool
}

func (c *conflictOnce) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if r.Session != nil && c.done.CompareAndSwap(false, true) {
		cur, err := c.Store.Load(ctx, r.UUID)
		if err == nil {
			cur.LastSeen = cur.LastSeen.Add(time.Second)
			if err := c.Store.Save(ctx, cur); err != nil {
				return err
			}
		}
	}
	return c.Store.Save(ctx, r)
}

// A session whose save lost a compare-and-swap (and was merged) goes on
// recording its progress: the actions it completes after the merge reach the
// store, so a provisioner that dies at the commit leaves a session another
// can resume. (Before, the merge replaced the record's session with a copy
// and everything recorded afterwards was lost: a resumed session started
// from nothing and refused the device, which by then served the certificate
// the first session had installed.)
func TestSessionProgressSurvivesMerge(t *testing.T) {
	ops := &opCounter{}
	h := newHarness(t, harnessOptions{device: ops.configure})
	d := h.fleet.Devices()[0]
	first := &deadable{Store: &conflictOnce{Store: h.store}}
	h.cfg.Store, h.cfg.Owner = first, "prov-a"
	var atCommit provisioning.Done
	ops.before = func(op string) {
		if op == "CommitChanges" {
			if rec, err := h.store.Load(h.ctx, d.UUID()); err == nil && rec.Session != nil {
				atCommit = rec.Session.Done
			}
			first.dead.Store(true) // the process dies as the device takes the commit
		}
	}
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	ops.before = nil
	require.True(t, first.Store.(*conflictOnce).done.Load(), "a save was merged")
	for _, b := range []provisioning.Done{provisioning.DoneMEBxPassword, provisioning.DoneTLSBound, provisioning.DoneCommitSent} {
		assert.True(t, atCommit.Has(b), "stored progress %#x has %#x", uint32(atCommit), uint32(b))
	}
	require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the commit landed")

	h.cfg.Store, h.cfg.Owner = h.store, "prov-a" // the restarted process
	require.NoError(t, h.provisioner().Resume(h.ctx))
	rec, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State, "%s", rec.LastError)
	assert.Equal(t, 1, ops.count("CommitChanges"), "CommitChanges is not repeated")
}
