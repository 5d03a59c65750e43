package provisioning

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

// hookStore runs before(n) ahead of the n-th Save (1-based) it forwards.
type hookStore struct {
	Store
	mu     sync.Mutex
	n      int
	before func(n int)
}

func (h *hookStore) Save(ctx context.Context, r *DeviceRecord) error {
	h.hook()
	return h.Store.Save(ctx, r)
}

// SaveFenced forwards the engine's fenced saves (as a wrapper must, or the
// engine falls back to Save) after the same hook.
func (h *hookStore) SaveFenced(ctx context.Context, r *DeviceRecord, l Lease) error {
	h.hook()
	return h.Store.(FencedSaver).SaveFenced(ctx, r, l)
}

func (h *hookStore) hook() {
	h.mu.Lock()
	h.n++
	n := h.n
	h.mu.Unlock()
	if h.before != nil {
		h.before(n)
	}
}

type fencingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fencingClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fencingClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func fencingProvisioner(s Store, owner string, clk *fencingClock) *Provisioner {
	return &Provisioner{store: s, now: clk.Now, owner: owner, cfg: Config{LeaseTTL: time.Minute}}
}

// Two writes by others land while one lease holder's save is retrying: the
// second merge is against what the first merged onto, so neither other
// write is taken for the holder's own change (found by review: the base
// read before the first conflict made W1's value overwrite W2's).
func TestSaveMergesAgainstWhatItMergedOnto(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	u := amt.UUID{0xaa, 1}
	clk := &fencingClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	seed := &DeviceRecord{UUID: u, State: StateIdentified, Attempts: 1,
		Inventory: Inventory{UUID: u, Profile: "p0"}, Session: &SessionRecord{}}
	require.NoError(t, mem.Save(ctx, seed))

	hs := &hookStore{Store: mem}
	p := fencingProvisioner(hs, "A", clk)
	h, cur, err := p.acquire(ctx, u, new(int))
	require.NoError(t, err)
	defer p.endLease(h)

	// Lease-free writers W1 and W2 (an integrator's edits, another
	// provisioner's counter) write straight to the store.
	other := func(f func(*DeviceRecord)) {
		r, err := mem.Load(ctx, u)
		require.NoError(t, err)
		f(r)
		require.NoError(t, mem.Save(ctx, r))
	}
	hs.before = func(n int) {
		switch n {
		case 1:
			other(func(r *DeviceRecord) { r.Inventory.Profile = "p1"; r.Attempts++ }) // W1
		case 2:
			other(func(r *DeviceRecord) { r.Inventory.Profile = "p2" }) // W2, later
		}
	}

	mine := cur.Clone()
	mine.State = StateConfigured // the holder's only changes
	mine.Attempts++
	require.NoError(t, p.save(ctx, mine))

	got, err := mem.Load(ctx, u)
	require.NoError(t, err)
	assert.Equal(t, StateConfigured, got.State)
	assert.Equal(t, "p2", got.Inventory.Profile, "W2's later edit must survive: the holder never touched Inventory")
	assert.Equal(t, 3, got.Attempts, "1 + holder's 1 + W1's 1")
}

// A holder stalled past its lease's TTL (GC pause, suspended VM) whose save
// then conflicts with the new holder's write writes nothing: the lease is
// checked again before every merge (found by review: it merged over B).
func TestSaveRefusesAfterTheLeaseWasTaken(t *testing.T) {
	ctx := context.Background()
	u := amt.UUID{0xbb, 2}
	mem, hs, clk, pa, h, cur := leaseHeldByA(t, u)
	defer pa.endLease(h) // ends the renewer, which other tests check for

	var bLease Lease
	hs.before = func(n int) {
		if n != 1 {
			return
		}
		// A stalls after its lease check (GC pause, VM suspend, slow
		// store round trip) for longer than the TTL; B takes the lease
		// and writes.
		clk.Add(2 * time.Minute)
		var err error
		bLease, err = mem.AcquireLease(ctx, u, "B", clk.Now(), time.Minute)
		require.NoError(t, err)
		r, err := mem.Load(ctx, u)
		require.NoError(t, err)
		r.State = StateFailed
		r.LastError = "B's outcome"
		require.NoError(t, mem.Save(ctx, r))
	}
	mine := cur.Clone()
	mine.State = StateConfigured
	mine.LastError = "A's stale outcome"
	err := pa.save(ctx, mine)
	got, _ := mem.Load(ctx, u)
	assert.ErrorIs(t, err, ErrLeaseLost, "A lost its lease (B holds token %d): it must write nothing more", bLease.Token)
	assert.Equal(t, "B's outcome", got.LastError)
}

// A device seen once long ago, for which the integrator registers an agent
// request today: the Maintainer keeps the record while the request is
// pending, and ages it out once it expired (found by review: the request
// was deleted at the next run).
func TestMaintainerKeepsAPendingAgentRequest(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	u := amt.UUID{0xcc, 3}
	clk := &fencingClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	// An unproven hello 100 days ago left a discovery record.
	require.NoError(t, mem.Save(ctx, &DeviceRecord{UUID: u, State: StateNew, Reason: ReasonUnknownDevice,
		FirstSeen: clk.Now().Add(-100 * 24 * time.Hour), LastSeen: clk.Now().Add(-100 * 24 * time.Hour)}))
	p := fencingProvisioner(mem, "A", clk)
	require.NoError(t, p.ExpectAgentRequest(ctx, AgentRequest{UUID: u, OTP: amt.NewSecret("Agent-OTP-1234")}))
	r, err := mem.Load(ctx, u)
	require.NoError(t, err)
	require.NotNil(t, r.Agent)

	m := &Maintainer{p: p}
	rep, err := m.RunOnce(ctx)
	require.NoError(t, err)
	_, err = mem.Load(ctx, u)
	assert.NoError(t, err, "the agent request registered a moment ago (valid 24h) must survive")
	assert.Zero(t, rep.AgedOut)

	clk.Add(25 * time.Hour) // the request expired
	rep, err = m.RunOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.AgedOut)
	_, err = mem.Load(ctx, u)
	assert.ErrorIs(t, err, ErrNotFound)
}

// A time a record cannot hold (after the year 9999) is refused where it
// comes in and where it is encoded: before, it encoded, never decoded again,
// and every walk over the fleet stopped at that record.
func TestFarFutureTimesRefused(t *testing.T) {
	ctx := context.Background()
	clk := &fencingClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	p := fencingProvisioner(NewMemoryStore(), "A", clk)
	u := amt.UUID{0xdd, 4}
	for _, exp := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), clk.Now().Add(-time.Hour)} {
		err := p.ExpectAgentRequest(ctx, AgentRequest{UUID: u, OTP: amt.NewSecret("Agent-OTP-1234"), Expires: exp})
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "expires %s", exp)
		assert.Equal(t, "AgentRequest.Expires", ce.Field)
	}
	_, err := timeV1{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}.MarshalJSON()
	assert.Error(t, err)
	b, err := timeV1{time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC)}.MarshalJSON()
	require.NoError(t, err)
	var back timeV1
	require.NoError(t, back.UnmarshalJSON(b), "what encodes decodes")
}

// OpenDevice, which holds no lease, writes nothing when it finds which admin
// password works: a rotation of the lease holder may be in flight, and
// clearing its pending password would lose the new one if its reply were
// lost (found by a review of this change).
func TestSettleWritesOnlyUnderTheLease(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	u := amt.UUID{0xbb, 5}
	clk := &fencingClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	old, p1, p2 := amt.NewSecret("Old-Pa55word!"), amt.NewSecret("P1-Pa55word!"), amt.NewSecret("P2-Pa55word!")
	require.NoError(t, mem.Save(ctx, &DeviceRecord{UUID: u, State: StateProvisioned, AdminPassword: old, PendingAdminPassword: p1}))
	loaded, err := mem.Load(ctx, u)
	require.NoError(t, err)
	_, err = mem.AcquireLease(ctx, u, "A", clk.Now(), time.Minute)
	require.NoError(t, err)
	cur, err := mem.Load(ctx, u)
	require.NoError(t, err)
	cur.PendingAdminPassword = p2 // A's next rotation, about to be sent
	require.NoError(t, mem.Save(ctx, cur))

	b := fencingProvisioner(mem, "B", clk)
	loaded.PendingAdminPassword = amt.Secret{} // B found the current password works
	require.NoError(t, b.settleAdminPassword(ctx, loaded))
	after, err := mem.Load(ctx, u)
	require.NoError(t, err)
	assert.True(t, after.PendingAdminPassword.Equal(p2), "A's pending password survives")
}

// A holder that stalls between its lease check (the local clock says the
// lease has time left) and its write, for longer than the lease, while
// another provisioner takes the lease but has not written yet: the fenced
// save refuses the stale write, and the holder writes nothing more. Without
// the fence the version check passed (nobody had moved it) and the stale
// admin password landed under the new holder's lease.
func TestStaleHolderWriteFencedBeforeNewHolderSaves(t *testing.T) {
	ctx := context.Background()
	u := amt.UUID{0xbb, 9}
	mem, hs, clk, pa, h, cur := leaseHeldByA(t, u)
	defer pa.endLease(h)

	hs.before = func(n int) {
		if n != 1 {
			return
		}
		clk.Add(2 * time.Minute) // A stalls past its TTL
		_, err := mem.AcquireLease(ctx, u, "B", clk.Now(), time.Minute)
		require.NoError(t, err) // B now owns the device; it has not written yet
	}
	mine := cur.Clone()
	mine.State = StateConfigured
	mine.AdminPassword = amt.NewSecret("A-Stale-Pa55!")
	err := pa.save(ctx, mine)
	require.ErrorIs(t, err, ErrLeaseLost)
	got, err := mem.Load(ctx, u)
	require.NoError(t, err)
	assert.True(t, got.AdminPassword.IsZero(), "the stale holder's admin password reached the store while B holds the lease")
	assert.Equal(t, StateIdentified, got.State)

	hs.before = nil
	require.ErrorIs(t, pa.save(ctx, mine), ErrLeaseLost, "a holder that lost its lease writes nothing more")
}

// leaseHeldByA stores an identified record for u and has provisioner A, on
// a hooked MemoryStore with a test clock, hold its lease.
func leaseHeldByA(t *testing.T, u amt.UUID) (*MemoryStore, *hookStore, *fencingClock, *Provisioner, *heldLease, *DeviceRecord) {
	ctx := context.Background()
	mem := NewMemoryStore()
	clk := &fencingClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	require.NoError(t, mem.Save(ctx, &DeviceRecord{UUID: u, State: StateIdentified, Session: &SessionRecord{}}))
	hs := &hookStore{Store: mem}
	pa := fencingProvisioner(hs, "A", clk)
	h, cur, err := pa.acquire(ctx, u, new(int))
	require.NoError(t, err)
	return mem, hs, clk, pa, h, cur
}
