package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// This file runs several provisioners on one store against a simulated fleet
// whose hellos reach all of them: with MemoryStore and SQLite here, with
// PostgreSQL in the interop tests (postgres_interop_test.go).

var (
	keysOnce sync.Once
	keyPool  *certstest.KeyPool
)

func testKeys() *certstest.KeyPool {
	keysOnce.Do(func() { keyPool = &certstest.KeyPool{Reuse: true} })
	return keyPool
}

// errKilled is what a killed provisioner's store answers: its process is gone.
var errKilled = errors.New("the provisioner's process was killed")

// killable wraps one provisioner's handle on the shared store; kill makes
// every later call fail, as the calls of a dead process never arrive. What
// the dead provisioner held in the store (its leases) stays until it expires.
type killable struct {
	provisioning.Store
	dead atomic.Bool

	mu      sync.Mutex
	expires map[amt.UUID]time.Time // the last lease expiry the store granted this provisioner, per device
	saved   map[amt.UUID]bool      // devices this provisioner saved Provisioned
	// onProvisioned, if set, runs after each save of a Provisioned record.
	onProvisioned func()
}

// savedProvisioned reports whether this provisioner's handle saved u's record
// as Provisioned.
func (k *killable) savedProvisioned(u amt.UUID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.saved[u]
}

// granted records a lease the store gave (or renewed).
func (k *killable) granted(l provisioning.Lease, err error) (provisioning.Lease, error) {
	if err == nil {
		k.mu.Lock()
		if k.expires == nil {
			k.expires = map[amt.UUID]time.Time{}
		}
		k.expires[l.Device] = l.Expires
		k.mu.Unlock()
	}
	return l, err
}

// leaseEnd is when the last lease this provisioner was granted on u ends.
func (k *killable) leaseEnd(u amt.UUID) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.expires[u]
}

func (k *killable) alive() error {
	if k.dead.Load() {
		return errKilled
	}
	return nil
}

func (k *killable) Load(ctx context.Context, u amt.UUID) (*provisioning.DeviceRecord, error) {
	if err := k.alive(); err != nil {
		return nil, err
	}
	return k.Store.Load(ctx, u)
}

func (k *killable) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if err := k.alive(); err != nil {
		return err
	}
	err := k.Store.Save(ctx, r)
	if err == nil && r.State == provisioning.StateProvisioned {
		k.mu.Lock()
		if k.saved == nil {
			k.saved = map[amt.UUID]bool{}
		}
		k.saved[r.UUID] = true
		k.mu.Unlock()
		if k.onProvisioned != nil {
			k.onProvisioned()
		}
	}
	return err
}

func (k *killable) Delete(ctx context.Context, u amt.UUID, v uint64) error {
	if err := k.alive(); err != nil {
		return err
	}
	return k.Store.Delete(ctx, u, v)
}

func (k *killable) Records(ctx context.Context, f provisioning.Filter) iter.Seq2[*provisioning.DeviceRecord, error] {
	if err := k.alive(); err != nil {
		return func(yield func(*provisioning.DeviceRecord, error) bool) { yield(nil, err) }
	}
	return k.Store.Records(ctx, f)
}

func (k *killable) AcquireLease(ctx context.Context, u amt.UUID, owner string, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := k.alive(); err != nil {
		return provisioning.Lease{}, err
	}
	return k.granted(k.Store.AcquireLease(ctx, u, owner, now, ttl))
}

func (k *killable) RenewLease(ctx context.Context, l provisioning.Lease, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := k.alive(); err != nil {
		return provisioning.Lease{}, err
	}
	return k.granted(k.Store.RenewLease(ctx, l, now, ttl))
}

func (k *killable) ReleaseLease(ctx context.Context, l provisioning.Lease) error {
	if err := k.alive(); err != nil {
		return err
	}
	return k.Store.ReleaseLease(ctx, l)
}

// fleetRun is one run of several provisioners against one fleet.
type fleetRun struct {
	t        testing.TB
	fleet    *amtsim.Fleet
	provs    []*provisioning.Provisioner
	stores   []*killable
	stops    []context.CancelFunc
	served   []chan error
	addrs    []string
	ttl      time.Duration
	ctx      context.Context
	provOf   map[amt.UUID]int // device → fleet index
	ops      [][]map[string]int
	opsMu    sync.Mutex
	victim   amt.UUID
	blocked  chan struct{} // the victim's owner is stuck in a call
	unblock  chan struct{}
	blockOn  string
	evMu     sync.Mutex
	owning   map[amt.UUID]map[int]bool // devices and the provisioners whose session owns them now
	overlaps []string                  // proofs while another session owned the device under a lease not yet ended
	lapsed   []string                  // proofs after a still-running owner's lease ended
	proved   map[amt.UUID][]provedAt
	done     map[amt.UUID][]int // provisioners that reported the device Provisioned
	events   map[amt.UUID][]string
	killOnce sync.Once
	killed   atomic.Int32 // the provisioner killOnProvisioned killed, -1 before
}

type provedAt struct {
	prov int
	at   time.Time
}

type fleetOptions struct {
	devices int
	stores  []provisioning.Store // one handle per provisioner (they may be the same store)
	ttl     time.Duration
	// kill: the victim device blocks in its first GenerateKeyPair until the
	// test has killed the provisioner that owns it.
	kill bool
	// killOnProvisioned: the first provisioner to save a device Provisioned is
	// killed right after that save, before the verify step saves its history.
	killOnProvisioned bool
}

func startFleetRun(t testing.TB, o fleetOptions) *fleetRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	k := testKeys()
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: k})
	require.NoError(t, err)
	devCA, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: k})
	require.NoError(t, err)
	issuer, err := provisioning.NewCA(devCA.Bundle, provisioning.CAOptions{})
	require.NoError(t, err)
	r := &fleetRun{t: t, ctx: ctx, ttl: o.ttl, provOf: map[amt.UUID]int{}, blocked: make(chan struct{}), unblock: make(chan struct{}),
		blockOn: "GenerateKeyPair", owning: map[amt.UUID]map[int]bool{}, proved: map[amt.UUID][]provedAt{}, done: map[amt.UUID][]int{}, events: map[amt.UUID][]string{}}
	r.killed.Store(-1)
	r.ops = make([][]map[string]int, 1)
	r.ops[0] = make([]map[string]int, o.devices)
	var blockOnce sync.Once
	fleet, err := amtsim.StartFleet(ctx, amtsim.FleetOptions{
		N: o.devices,
		Template: amtsim.Config{
			TrustedDNSSuffix: "contoso.com",
			UserRootHashes:   []amtsim.RootHash{{Name: "Contoso test root", Hash: chain.Bundle.RootHash(amt.HashSHA256), Active: true}},
			Keys:             amtsim.PoolKeys(k),
		},
		Configure: func(i int, c *amtsim.Config) {
			r.ops[0][i] = map[string]int{}
			c.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
				r.opsMu.Lock()
				r.ops[0][i][op]++
				r.opsMu.Unlock()
				if o.kill && i == 0 && op == r.blockOn {
					block := false
					blockOnce.Do(func() { block = true })
					if block {
						close(r.blocked)
						<-r.unblock
						return amtsim.DropRequest
					}
				}
				return amtsim.DropNone
			}
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	r.fleet = fleet
	inv := provisioning.NewInventoryList()
	for i, d := range fleet.Devices() {
		inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: fmt.Sprintf("pc-%04d.contoso.com", i)})
		r.provOf[d.UUID()] = i
	}
	r.victim = fleet.Devices()[0].UUID()
	for i, st := range o.stores {
		ks := &killable{Store: st}
		if o.killOnProvisioned {
			prov := i
			ks.onProvisioned = func() {
				r.killOnce.Do(func() {
					r.killed.Store(int32(prov))
					r.kill(prov)
				})
			}
		}
		cfg := provisioning.Config{
			Bundles:    []certs.Bundle{chain.Bundle},
			Authorizer: inv,
			Profiles: map[string]provisioning.Profile{
				provisioning.DefaultProfileName: {TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}},
			},
			Store:             ks,
			Owner:             fmt.Sprintf("provisioner-%d", i),
			LeaseTTL:          o.ttl,
			Issuer:            issuer,
			Observer:          r.observer(i),
			Dial:              fleet.DialContext,
			DeviceAddress:     r.address,
			CommitVerifyDelay: 20 * time.Millisecond,
			Sleep:             func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
			MaxSessions:       64,
		}
		p, err := provisioning.New(cfg)
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		sctx, stop := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() {
			served <- p.Serve(sctx, ln, func(l *provisioning.HelloListener) { l.PerSourceBurst = -1 })
		}()
		r.provs = append(r.provs, p)
		r.stores = append(r.stores, ks)
		r.stops = append(r.stops, stop)
		r.served = append(r.served, served)
		r.addrs = append(r.addrs, ln.Addr().String())
	}
	return r
}

func (r *fleetRun) address(h provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
	d, ok := r.fleet.Lookup(net.TCPAddrFromAddrPort(h.Source))
	if !ok {
		d, ok = r.fleet.Device(h.Hello.UUID)
	}
	if !ok {
		return ""
	}
	if port == 16992 {
		return d.HTTPAddr()
	}
	return d.TLSAddr()
}

// observer tracks, per device, which provisioners' sessions own it (from
// their proof — the identify step succeeding — to their final event), and
// records any moment when two do.
func (r *fleetRun) observer(prov int) provisioning.Observer {
	return func(e provisioning.Event) {
		r.evMu.Lock()
		defer r.evMu.Unlock()
		u := e.Device
		r.events[u] = append(r.events[u], fmt.Sprintf("%s p%d %s %s %s %s %v", e.Time.Format(time.StampMilli), prov, e.Step, e.State, e.Reason, e.Detail, e.Err))
		if r.owning[u] == nil {
			r.owning[u] = map[int]bool{}
		}
		if e.Step == provisioning.StepIdentify && e.Err == nil {
			for other, on := range r.owning[u] {
				if !on || other == prov {
					continue
				}
				// What a lease promises: no one proves the device before
				// the owner's lease, as the store last granted it, ends.
				// A session that stalled past its lease (the race
				// detector on two loaded cores stalls sessions for
				// seconds; the kill tests use a 2 s TTL) is taken over
				// and can write nothing more (FencedSaver): that is the
				// lease doing its job, logged, not an overlap.
				if end := r.stores[other].leaseEnd(u); e.Time.Before(end) {
					r.overlaps = append(r.overlaps, fmt.Sprintf("%s: provisioner %d proved at %s while %d's session owned it under a lease granted until %s",
						u, prov, e.Time.Format(time.StampMilli), other, end.Format(time.StampMilli)))
				} else {
					r.lapsed = append(r.lapsed, fmt.Sprintf("%s: provisioner %d proved at %s after %d's lease ended (%s) while its session still ran",
						u, prov, e.Time.Format(time.StampMilli), other, end.Format(time.StampMilli)))
				}
			}
			r.owning[u][prov] = true
			r.proved[u] = append(r.proved[u], provedAt{prov, e.Time})
		}
		if e.State.Final() && r.owning[u][prov] {
			r.owning[u][prov] = false
		}
		if e.State == provisioning.StateProvisioned {
			r.done[u] = append(r.done[u], prov)
		}
	}
}

// sendHellos has every device send one hello to each provisioner, at once.
func (r *fleetRun) sendHellos() {
	var wg sync.WaitGroup
	for _, addr := range r.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.fleet.SendHellos(r.ctx, amtsim.HelloOptions{Addr: addr, MaxHellos: 1})
		}()
	}
	wg.Wait()
}

// kill kills provisioner i: its store calls fail from now on and its
// sessions are canceled; nothing it held is released.
func (r *fleetRun) kill(i int) {
	r.stores[i].dead.Store(true)
	r.stops[i]()
}

// owner returns the provisioner whose session owns u now, or -1.
func (r *fleetRun) owner(u amt.UUID) int {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	for p, on := range r.owning[u] {
		if on {
			return p
		}
	}
	return -1
}

// provisioned counts devices whose record in st says Provisioned.
func provisionedIn(ctx context.Context, st provisioning.Store) (int, error) {
	n := 0
	for _, err := range st.Records(ctx, provisioning.Filter{States: []provisioning.State{provisioning.StateProvisioned}}) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// finish waits until every device is provisioned in the store seen by
// provisioner via (resuming abandoned sessions with the live provisioners
// and resending hellos as real devices do), then stops the provisioners.
func (r *fleetRun) finish(via int, live []int, timeout time.Duration) {
	t := r.t
	deadline := time.Now().Add(timeout)
	n := len(r.fleet.Devices())
	for {
		got, err := provisionedIn(r.ctx, r.stores[via])
		require.NoError(t, err)
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			r.dump(r.stores[via])
			t.Fatalf("%d of %d devices provisioned after %s", got, n, timeout)
		}
		// Abandoned sessions (their owner died) are taken over once their lease expires.
		var wg sync.WaitGroup
		for _, i := range live {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = r.provs[i].Resume(r.ctx)
			}()
		}
		wg.Wait()
		// A device whose session died before anything of it was stored (its
		// owner killed between contacting it and saving its proof) has
		// nothing to resume. A contacted device sends no more hellos: its
		// local agent starts configuration again (what an operator does).
		// Either way it then sends a hello to a live provisioner, as a device
		// in its hello cycle resends until contacted: a hello that arrived
		// while a live provisioner still had a session for the device was
		// dropped as a duplicate.
		for _, d := range r.fleet.Devices() {
			rec, err := r.stores[via].Load(r.ctx, d.UUID())
			if err == nil && (rec.State == provisioning.StateProvisioned || rec.Session != nil) {
				continue // done, or resumable
			}
			snap := d.Snapshot()
			if snap.ProvisioningState != amt.InProvisioning {
				continue
			}
			if snap.Contacted && d.StartConfiguration(amt.Secret{}) != nil {
				continue
			}
			_, _ = d.SendHellos(r.ctx, amtsim.HelloOptions{Addr: r.addrs[live[0]], MaxHellos: 1})
		}
		time.Sleep(r.ttl / 4)
	}
	for _, i := range live {
		r.stops[i]()
		require.NoError(t, <-r.served[i])
	}
}

// dump logs each device that is not provisioned in st, with the events of
// its sessions.
func (r *fleetRun) dump(st provisioning.Store) {
	t := r.t
	for _, d := range r.fleet.Devices() {
		rec, err := st.Load(r.ctx, d.UUID())
		switch {
		case err != nil:
			t.Logf("%s: %v; device %s", d.UUID(), err, d.Snapshot().ProvisioningState)
		case rec.State != provisioning.StateProvisioned:
			t.Logf("%s: %s %s %q session=%v; device %s", d.UUID(), rec.State, rec.Reason, rec.LastError, rec.Session != nil, d.Snapshot().ProvisioningState)
		default:
			continue
		}
		r.evMu.Lock()
		for _, e := range r.events[d.UUID()] {
			t.Logf("    %s", e)
		}
		r.evMu.Unlock()
	}
}

// check asserts what several provisioners on one store promise: every device
// provisioned exactly once on the device and in the store, no two sessions
// owning a device at once, one Provisioned outcome per device.
func (r *fleetRun) check(st provisioning.Store) {
	t := r.t
	r.evMu.Lock()
	overlaps := append([]string(nil), r.overlaps...)
	for _, l := range r.lapsed {
		t.Logf("lease lapsed and taken over: %s", l)
	}
	r.evMu.Unlock()
	assert.Empty(t, overlaps, "no two sessions own a device at once")
	r.opsMu.Lock()
	defer r.opsMu.Unlock()
	for i, d := range r.fleet.Devices() {
		snap := d.Snapshot()
		assert.Equal(t, amt.PostProvisioning, snap.ProvisioningState, "device %d", i)
		assert.Equal(t, 1, r.ops[0][i]["CommitChanges"], "device %d is committed exactly once", i)
		rec, err := st.Load(r.ctx, d.UUID())
		require.NoError(t, err)
		assert.Equal(t, provisioning.StateProvisioned, rec.State, "device %d: %s", i, rec.LastError)
		assert.Nil(t, rec.Session)
		assert.True(t, d.AdminPasswordIs(rec.AdminPassword), "device %d: the stored admin password is the device's", i)
		r.evMu.Lock()
		assert.Len(t, r.done[d.UUID()], 1, "device %d: one session reports it provisioned", i)
		r.evMu.Unlock()
	}
}

// Three provisioners on one store; every device's hello reaches all three.
func runThreeProvisioners(t *testing.T, stores []provisioning.Store, devices int) {
	// No provisioner dies here: a lease lost to a stall (the race detector
	// on two loaded cores stalled sessions for more than 5 s) would show as
	// an overlap although the lease did its job, so the TTL is long.
	r := startFleetRun(t, fleetOptions{devices: devices, stores: stores, ttl: 20 * time.Second})
	start := time.Now()
	r.sendHellos()
	r.finish(0, []int{0, 1, 2}, 3*time.Minute)
	t.Logf("%d devices, 3 provisioners: %.1f devices/s", devices, float64(devices)/time.Since(start).Seconds())
	r.check(stores[0])
	wins := map[int]int{}
	r.evMu.Lock()
	for _, ps := range r.done {
		wins[ps[0]]++
	}
	r.evMu.Unlock()
	t.Logf("devices provisioned per provisioner: %v", wins)
}

// One of three provisioners is killed while it holds devices; the others take
// them over once their leases expire, and never before.
func runKillOne(t *testing.T, stores []provisioning.Store, devices int) {
	ttl := 2 * time.Second
	r := startFleetRun(t, fleetOptions{devices: devices, stores: stores, ttl: ttl, kill: true})
	go r.sendHellos()
	select {
	case <-r.blocked:
	case <-time.After(2 * time.Minute):
		t.Fatal("the victim's session never reached " + r.blockOn)
	}
	dead := -1
	require.Eventually(t, func() bool { dead = r.owner(r.victim); return dead >= 0 }, 10*time.Second, time.Millisecond)
	r.evMu.Lock()
	victimProved := r.proved[r.victim][len(r.proved[r.victim])-1].at
	r.evMu.Unlock()
	r.kill(dead)
	killedAt := time.Now()
	leaseEnd := r.stores[dead].leaseEnd(r.victim) // no grant reaches the dead provisioner after this
	close(r.unblock)
	var live []int
	for i := range r.provs {
		if i != dead {
			live = append(live, i)
		}
	}
	r.finish(live[0], live, 3*time.Minute)
	r.check(stores[live[0]])

	r.evMu.Lock()
	defer r.evMu.Unlock()
	var after []provedAt
	for _, p := range r.proved[r.victim] {
		if p.prov != dead {
			after = append(after, p)
		}
	}
	require.NotEmpty(t, after, "another provisioner took the victim over")
	taken := after[len(after)-1]
	require.False(t, leaseEnd.IsZero(), "the dead provisioner held a lease on the victim")
	assert.False(t, leaseEnd.Before(victimProved), "its lease outlived its proof")
	// The lease is taken when it is acquired, before the proof is reported:
	// the bound is the expiry the store granted, not the proof plus the TTL.
	assert.False(t, taken.at.Before(leaseEnd), "taken over at %s, before the dead owner's lease (granted until %s, TTL %s) expired",
		taken.at.Format(time.StampMilli), leaseEnd.Format(time.StampMilli), ttl)
	assert.Equal(t, []int{taken.prov}, r.done[r.victim])
	t.Logf("provisioner %d killed; device %s taken over by %d %.1fs after the kill", dead, r.victim, taken.prov, taken.at.Sub(killedAt).Seconds())
}

// The first provisioner to save a device Provisioned is killed right after
// that save, before its verify step saves the step's history. The device is
// provisioned by it and by no one else, and its session reports so (the lost
// history entry is a finding); the live provisioners finish the rest.
func runKillOnProvisioned(t *testing.T, stores []provisioning.Store, devices int) {
	r := startFleetRun(t, fleetOptions{devices: devices, stores: stores, ttl: 2 * time.Second, killOnProvisioned: true})
	r.sendHellos()
	require.Eventually(t, func() bool { return r.killed.Load() >= 0 }, 2*time.Minute, time.Millisecond, "a device was provisioned")
	dead := int(r.killed.Load())
	var live []int
	for i := range r.provs {
		if i != dead {
			live = append(live, i)
		}
	}
	r.finish(live[0], live, 3*time.Minute)
	r.check(r.stores[live[0]])
	var first []amt.UUID
	for _, d := range r.fleet.Devices() {
		if r.stores[dead].savedProvisioned(d.UUID()) {
			first = append(first, d.UUID())
		}
	}
	require.NotEmpty(t, first, "the killed provisioner saved a device Provisioned")
	for _, u := range first {
		r.evMu.Lock()
		assert.Equal(t, []int{dead}, r.done[u], "%s: the killed provisioner, and only it, reports it provisioned", u)
		r.evMu.Unlock()
	}
}

func TestKillOnProvisionedMemoryStore(t *testing.T) {
	s := provisioning.NewMemoryStore()
	runKillOnProvisioned(t, []provisioning.Store{s, s, s}, 12)
}

func TestThreeProvisionersMemoryStore(t *testing.T) {
	s := provisioning.NewMemoryStore()
	runThreeProvisioners(t, []provisioning.Store{s, s, s}, 24)
}

func TestKillOneProvisionerMemoryStore(t *testing.T) {
	s := provisioning.NewMemoryStore()
	runKillOne(t, []provisioning.Store{s, s, s}, 12)
}

// sqliteStores opens n stores, each with its own connection pool, on one
// SQLite file.
func sqliteStores(t *testing.T, n int) []provisioning.Store {
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores []provisioning.Store
	for i := 0; i < n; i++ {
		stores = append(stores, openSQLite(t, path))
	}
	return stores
}

func TestThreeProvisionersSQLite(t *testing.T) {
	runThreeProvisioners(t, sqliteStores(t, 3), 24)
}

func TestKillOnProvisionedSQLite(t *testing.T) {
	runKillOnProvisioned(t, sqliteStores(t, 3), 12)
}
