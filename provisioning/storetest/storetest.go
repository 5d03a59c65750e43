package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
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

// Harness tells Run how to use the store under test.
type Harness struct {
	// New returns an empty store for one subtest. Required.
	New func(t *testing.T) provisioning.Store
	// Reopen returns a new handle on the data of s, as a provisioner started
	// after a crash opens it; s is dropped as it is (nothing is closed or
	// released). Nil: the store keeps nothing beyond its handle, and the
	// crash test goes on with s.
	Reopen func(t *testing.T, s provisioning.Store) provisioning.Store
	// Persisted returns every byte the store wrote about its records and
	// leases (rows, values, files), for the plaintext-secret scan. Nil: the
	// store persists nothing, and the scan is reported as skipped.
	Persisted func(t *testing.T, s provisioning.Store) [][]byte
	// Concurrency is how many goroutines the concurrency tests run. Zero: 8.
	Concurrency int
}

// Run runs the conformance suite against the store h builds. Each check is a
// subtest; run it with -race.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: Harness.New is required")
	}
	if h.Concurrency <= 0 {
		h.Concurrency = 8
	}
	t.Run("RoundTripEveryField", h.roundTrip)
	t.Run("ZeroValues", h.zeroValues)
	t.Run("Isolation", h.isolation)
	t.Run("CompareAndSwap", h.compareAndSwap)
	t.Run("Delete", h.delete)
	t.Run("Filters", h.filters)
	t.Run("IterationSavesInLoop", h.iterationSaves)
	t.Run("Leases", h.leases)
	t.Run("LeaseExpiry", h.leaseExpiry)
	t.Run("FencedSave", h.fencedSave)
	t.Run("ConcurrentCompareAndSwap", h.concurrentCAS)
	t.Run("ConcurrentLease", h.concurrentLease)
	t.Run("CrashBetweenSaveAndSend", h.crash)
	t.Run("NoPlaintextSecrets", h.noPlaintext)
	t.Run("ContextCanceled", h.canceled)
}

var bg = context.Background()

func uuidN(n int) amt.UUID {
	var u amt.UUID
	u[0], u[1], u[15] = byte(n>>8), byte(n), 0x42
	return u
}

// t0 is the suite's clock: leases are given times, never read one.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func (h Harness) roundTrip(t *testing.T) {
	s := h.New(t)
	want, err := Fill(uuidN(1), 1)
	require.NoError(t, err)
	zero := zeroFields(reflect.ValueOf(want).Elem(), "DeviceRecord")
	zero = slices.DeleteFunc(zero, func(f string) bool { return f == "DeviceRecord.Version" })
	require.Empty(t, zero, "Fill left fields zero")

	r := want.Clone()
	require.NoError(t, s.Save(bg, r))
	require.Equal(t, uint64(1), r.Version, "Save sets the record's version")
	got, err := s.Load(bg, want.UUID)
	require.NoError(t, err)
	want.Version = r.Version
	equalRecords(t, want, got, "every field round-trips")

	// Secrets come back as they were (the scan below checks they are sealed).
	ws, gs := Secrets(want), Secrets(got)
	require.Len(t, gs, len(ws))
	for i := range ws {
		assert.True(t, ws[i].Equal(gs[i]), "secret %d", i)
	}

	// What Records yields is the same record.
	all, err := provisioning.CollectRecords(s.Records(bg, provisioning.Filter{}))
	require.NoError(t, err)
	require.Len(t, all, 1)
	equalRecords(t, want, all[0])
}

func (h Harness) zeroValues(t *testing.T) {
	s := h.New(t)
	for i, want := range []*provisioning.DeviceRecord{
		{UUID: uuidN(2)},
		{UUID: uuidN(3), Session: &provisioning.SessionRecord{}, Agent: &provisioning.AgentRequest{},
			Users: []provisioning.UserCredential{{}}, Certificates: []provisioning.DeviceCertificate{{}},
			History: []provisioning.StepRecord{{}}},
		{UUID: uuidN(4), History: []provisioning.StepRecord{}, Users: []provisioning.UserCredential{}, DeviceCertPin: []byte{},
			Session: &provisioning.SessionRecord{Certificates: []provisioning.DeviceCertificate{}}},
	} {
		r := want.Clone()
		require.NoError(t, s.Save(bg, r), "record %d", i)
		got, err := s.Load(bg, want.UUID)
		require.NoError(t, err, "record %d", i)
		want.Version = r.Version
		equalRecords(t, want, got, "record %d", i)
	}
}

func (h Harness) isolation(t *testing.T) {
	s := h.New(t)
	r, err := Fill(uuidN(5), 5)
	require.NoError(t, err)
	require.NoError(t, s.Save(bg, r))
	// Saved again with the same certificates, as a session saves its record
	// many times.
	require.NoError(t, s.Save(bg, r))
	want := r.Clone()
	// The store keeps its own copy, and hands out copies.
	r.Certificates[0].DER[0] ^= 0xff
	r.Certificates[0].IssuerDER[0] ^= 0xff
	r.Session.Certificates[0].DER[0] ^= 0xff
	r.History[0].Detail = "changed"
	r.Session.Users[0].Name = "changed"
	got, err := s.Load(bg, r.UUID)
	require.NoError(t, err)
	equalRecords(t, want, got)
	got.DeviceCertPin[0] ^= 0xff
	got.Certificates[0].DER[1] ^= 0xff
	got.Session.Certificates[0].DER[1] ^= 0xff
	again, err := s.Load(bg, r.UUID)
	require.NoError(t, err)
	equalRecords(t, want, again)
}

func (h Harness) compareAndSwap(t *testing.T) {
	s := h.New(t)
	u := uuidN(6)
	_, err := s.Load(bg, u)
	require.ErrorIs(t, err, provisioning.ErrNotFound)

	// Saving a version the store does not have: none yet.
	stale := &provisioning.DeviceRecord{UUID: u, Version: 3}
	err = s.Save(bg, stale)
	var ce *provisioning.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, provisioning.ConflictError{Device: u, Expected: 3, Actual: 0}, *ce)
	assert.Equal(t, uint64(3), stale.Version, "a failed save leaves the version")
	_, err = s.Load(bg, u)
	require.ErrorIs(t, err, provisioning.ErrNotFound, "a failed save writes nothing")

	a := &provisioning.DeviceRecord{UUID: u, LastError: "a"}
	require.NoError(t, s.Save(bg, a))
	require.Equal(t, uint64(1), a.Version)
	b, err := s.Load(bg, u)
	require.NoError(t, err)

	// Creating it again loses.
	err = s.Save(bg, &provisioning.DeviceRecord{UUID: u, LastError: "again"})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, provisioning.ConflictError{Device: u, Expected: 0, Actual: 1}, *ce)
	assert.ErrorIs(t, err, provisioning.ErrConflict)

	// a and b both read version 1: the first save wins, the second loses.
	a.LastError = "a2"
	require.NoError(t, s.Save(bg, a))
	assert.Greater(t, a.Version, uint64(1))
	b.LastError = "b2"
	err = s.Save(bg, b)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, provisioning.ConflictError{Device: u, Expected: 1, Actual: a.Version}, *ce)
	assert.Contains(t, err.Error(), u.String())
	got, err := s.Load(bg, u)
	require.NoError(t, err)
	assert.Equal(t, "a2", got.LastError)
	assert.Equal(t, a.Version, got.Version)

	// Reload and re-apply: the second writer's change lands.
	got.LastError = "b2"
	require.NoError(t, s.Save(bg, got))
	assert.Greater(t, got.Version, a.Version)
}

func (h Harness) delete(t *testing.T) {
	s := h.New(t)
	u := uuidN(7)
	require.NoError(t, s.Delete(bg, u, 0), "deleting nothing")
	r := &provisioning.DeviceRecord{UUID: u}
	require.NoError(t, s.Save(bg, r))
	old := r.Version
	require.NoError(t, s.Save(bg, r))
	err := s.Delete(bg, u, old)
	var ce *provisioning.ConflictError
	require.ErrorAs(t, err, &ce, "deleting a version that was replaced")
	assert.Equal(t, provisioning.ConflictError{Device: u, Expected: old, Actual: r.Version}, *ce)
	_, err = s.Load(bg, u)
	require.NoError(t, err)
	require.NoError(t, s.Delete(bg, u, r.Version))
	_, err = s.Load(bg, u)
	require.ErrorIs(t, err, provisioning.ErrNotFound)
	require.NoError(t, s.Delete(bg, u, r.Version), "deleting again")
	stale := r.Clone() // a writer that read the record before it was deleted
	stale.LastError = "stale writer"
	assert.Error(t, s.Save(bg, stale), "saving a deleted record's version")
	// The device can be created again, and goes on from its last version:
	// versions never repeat, so the stale writer still loses.
	again := &provisioning.DeviceRecord{UUID: u, AdminUser: "admin", AdminPassword: amt.NewSecret("Kept-Across-1")}
	require.NoError(t, s.Save(bg, again))
	assert.Greater(t, again.Version, r.Version, "a record created again after Delete goes on from its last version")
	err = s.Save(bg, stale)
	require.ErrorAs(t, err, &ce, "a writer holding the deleted record's version loses")
	got, err := s.Load(bg, u)
	require.NoError(t, err)
	assert.True(t, got.AdminPassword.Equal(amt.NewSecret("Kept-Across-1")))
	assert.Empty(t, got.LastError)
}

// filterFleet is a small fleet covering every filter: discovery records seen
// at different times, sessions in progress, provisioned devices with
// certificates at different expiries and with certificate work left, blocked
// and failed ones, and unprovisioned ones with certificates to revoke.
func filterFleet() []*provisioning.DeviceRecord {
	day := 24 * time.Hour
	cert := func(p provisioning.CertificatePurpose, der byte, notAfter time.Time) provisioning.DeviceCertificate {
		return provisioning.DeviceCertificate{Purpose: p, DER: []byte{der}, Handle: fmt.Sprintf("cert-%d", der), NotAfter: notAfter}
	}
	prov := func(n int, certs ...provisioning.DeviceCertificate) *provisioning.DeviceRecord {
		return &provisioning.DeviceRecord{UUID: uuidN(n), State: provisioning.StateProvisioned, Done: provisioning.DoneCommitted,
			LastSeen: t0.Add(-time.Duration(n) * day), Certificates: certs}
	}
	var out []*provisioning.DeviceRecord
	for i, seen := range []time.Duration{0, 10 * day, 100 * day, 200 * day} {
		r := &provisioning.DeviceRecord{UUID: uuidN(100 + i), State: provisioning.StateRejected, Reason: provisioning.ReasonNoMatchingRoot}
		if seen > 0 {
			r.LastSeen = t0.Add(-seen)
		}
		out = append(out, r)
	}
	out = append(out,
		&provisioning.DeviceRecord{UUID: uuidN(110), State: provisioning.StateConfigured, LastSeen: t0.Add(-time.Hour), Session: &provisioning.SessionRecord{Done: provisioning.DoneMEBxPassword}},
		&provisioning.DeviceRecord{UUID: uuidN(111), State: provisioning.StateFailed, LastSeen: t0.Add(-200 * day), Session: &provisioning.SessionRecord{}},
		prov(120, cert(provisioning.PurposeTLS, 1, t0.Add(300*day))),
		prov(121, cert(provisioning.PurposeTLS, 2, t0.Add(30*day))),
		prov(122, cert(provisioning.PurposeTLS, 3, t0.Add(300*day)), cert(provisioning.PurposeIEEE8021X, 4, t0.Add(10*day))),
		// A renewal to finish: the new certificate is pending.
		prov(123, cert(provisioning.PurposeTLS, 5, t0.Add(300*day)), func() provisioning.DeviceCertificate {
			c := cert(provisioning.PurposeTLS, 6, t0.Add(700*day))
			c.Pending = true
			return c
		}()),
		// A replaced certificate, revoked but still on the device.
		prov(124, func() provisioning.DeviceCertificate {
			c := cert(provisioning.PurposeTLS, 7, t0.Add(-day))
			c.Revoked = true
			return c
		}(), cert(provisioning.PurposeTLS, 8, t0.Add(400*day))),
		// A replaced certificate, revoked and removed: nothing left to do.
		prov(125, func() provisioning.DeviceCertificate {
			c := cert(provisioning.PurposeTLS, 9, t0.Add(-day))
			c.Revoked, c.RemovedFromDevice = true, true
			return c
		}(), cert(provisioning.PurposeTLS, 10, t0.Add(400*day))),
		// Replaced, not yet revoked.
		prov(126, cert(provisioning.PurposeTLS, 11, t0.Add(5*day)), cert(provisioning.PurposeTLS, 12, t0.Add(400*day))),
		func() *provisioning.DeviceRecord { r := prov(127); r.Blocked = true; return r }(),
		// Re-provisioning in progress on a provisioned device.
		func() *provisioning.DeviceRecord {
			r := prov(128, cert(provisioning.PurposeTLS, 13, t0.Add(20*day)))
			r.Session, r.State = &provisioning.SessionRecord{}, provisioning.StateConnected
			return r
		}(),
		// Unprovisioned, its certificate not revoked yet (the CA refused).
		func() *provisioning.DeviceRecord {
			c := cert(provisioning.PurposeTLS, 14, t0.Add(300*day))
			c.RemovedFromDevice = true
			return &provisioning.DeviceRecord{UUID: uuidN(129), State: provisioning.StateNew, Certificates: []provisioning.DeviceCertificate{c}}
		}(),
		// Unprovisioned, its certificate revoked: nothing left to do.
		func() *provisioning.DeviceRecord {
			c := cert(provisioning.PurposeTLS, 15, t0.Add(10*day))
			c.Revoked, c.RemovedFromDevice = true, true
			return &provisioning.DeviceRecord{UUID: uuidN(130), State: provisioning.StateNew, Certificates: []provisioning.DeviceCertificate{c}}
		}(),
		// Blocked, its certificate not revoked yet.
		func() *provisioning.DeviceRecord {
			r := prov(131, cert(provisioning.PurposeTLS, 16, t0.Add(10*day)))
			r.Blocked = true
			return r
		}(),
	)
	return out
}

func (h Harness) filters(t *testing.T) {
	s := h.New(t)
	fleet := filterFleet()
	// Saved in reverse order: iteration order is the store's job.
	for i := len(fleet) - 1; i >= 0; i-- {
		require.NoError(t, s.Save(bg, fleet[i].Clone()))
	}
	day := 24 * time.Hour
	filters := map[string]provisioning.Filter{
		"all":                        {},
		"state Provisioned":          {States: []provisioning.State{provisioning.StateProvisioned}},
		"state Rejected or Failed":   {States: []provisioning.State{provisioning.StateRejected, provisioning.StateFailed}},
		"session in progress":        {SessionInProgress: true},
		"provisioned":                {Provisioned: true},
		"discovery":                  {Discovery: true},
		"last seen before 90 days":   {LastSeenBefore: t0.Add(-90 * day)},
		"stale discovery":            {Discovery: true, LastSeenBefore: t0.Add(-90 * day)},
		"certificate expires in 42d": {CertificateExpiresBefore: t0.Add(42 * day)},
		"maintenance due in 42d":     {Provisioned: true, MaintenanceDue: t0.Add(42 * day)},
		"maintenance due now":        {MaintenanceDue: t0},
		"provisioned, in session":    {Provisioned: true, SessionInProgress: true},
		"nothing":                    {States: []provisioning.State{provisioning.StateAuthorized}},
	}
	for name, f := range filters {
		var want []amt.UUID
		for _, r := range fleet {
			if f.Match(r) {
				want = append(want, r.UUID)
			}
		}
		slices.SortFunc(want, func(a, b amt.UUID) int { return bytes.Compare(a[:], b[:]) })
		var got []amt.UUID
		for r, err := range s.Records(bg, f) {
			require.NoError(t, err, name)
			got = append(got, r.UUID)
		}
		assert.Equal(t, want, got, "filter %q (in UUID order)", name)
	}
	// The reference itself selects what the names say.
	count := func(f provisioning.Filter) int {
		n := 0
		for _, r := range fleet {
			if f.Match(r) {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 2, count(filters["stale discovery"]))
	assert.Equal(t, 7, count(filters["maintenance due in 42d"]))     // 121, 122, 123, 124, 126, 128, 131
	assert.Equal(t, 5, count(filters["maintenance due now"]))        // 123, 124, 126, 129, 131 (work left)
	assert.Equal(t, 3, count(filters["certificate expires in 42d"])) // 121, 122, 128 (126's expiring one was replaced; 131 is blocked)

	// Stopping early.
	n := 0
	for _, err := range s.Records(bg, provisioning.Filter{}) {
		require.NoError(t, err)
		n++
		if n == 3 {
			break
		}
	}
	assert.Equal(t, 3, n)
}

// The loop body may write to the store (the Maintainer and Resume do): no
// lock or transaction may be held across a yield. Enough records for several
// pages.
func (h Harness) iterationSaves(t *testing.T) {
	s := h.New(t)
	const n = 450
	for i := 0; i < n; i++ {
		require.NoError(t, s.Save(bg, &provisioning.DeviceRecord{UUID: uuidN(1000 + i), State: provisioning.StateRejected}))
	}
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	seen, last := 0, amt.UUID{}
	for r, err := range s.Records(ctx, provisioning.Filter{States: []provisioning.State{provisioning.StateRejected}}) {
		require.NoError(t, err)
		require.Positive(t, bytes.Compare(r.UUID[:], last[:]), "increasing UUID order")
		last = r.UUID
		seen++
		r.State = provisioning.StateFailed
		require.NoError(t, s.Save(ctx, r), "saving inside the loop")
		if seen%100 == 0 {
			require.NoError(t, s.Delete(ctx, r.UUID, r.Version), "deleting inside the loop")
		}
	}
	assert.Equal(t, n, seen, "each record once")
	left, err := provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{States: []provisioning.State{provisioning.StateFailed}}))
	require.NoError(t, err)
	assert.Len(t, left, n-n/100)
}

func (h Harness) leases(t *testing.T) {
	s := h.New(t)
	u, v := uuidN(20), uuidN(21)
	ttl := time.Minute

	a, err := s.AcquireLease(bg, u, "prov-a", t0, ttl)
	require.NoError(t, err)
	assert.Equal(t, u, a.Device)
	assert.Equal(t, "prov-a", a.Owner)
	assert.Positive(t, a.Token)
	assert.True(t, a.Expires.Equal(t0.Add(ttl)), "expires %s", a.Expires)

	// Another owner is refused while it lasts, and told who holds it.
	_, err = s.AcquireLease(bg, u, "prov-b", t0.Add(ttl-time.Nanosecond), ttl)
	var held *provisioning.LeaseHeldError
	require.ErrorAs(t, err, &held)
	assert.ErrorIs(t, err, provisioning.ErrLeaseHeld)
	assert.Equal(t, "prov-a", held.Owner)
	assert.True(t, held.Expires.Equal(a.Expires))

	// Leases are per device; no record is needed.
	b, err := s.AcquireLease(bg, v, "prov-b", t0, ttl)
	require.NoError(t, err)

	// Renewal extends; the other owner is still refused.
	a2, err := s.RenewLease(bg, a, t0.Add(30*time.Second), ttl)
	require.NoError(t, err)
	assert.Equal(t, a.Token, a2.Token)
	assert.True(t, a2.Expires.Equal(t0.Add(30*time.Second+ttl)))
	_, err = s.AcquireLease(bg, u, "prov-b", t0.Add(ttl+time.Second), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseHeld, "the renewed lease outlives the first expiry")

	// The same owner takes its lease back at once (a restart), with a new token;
	// the old lease is then lost.
	a3, err := s.AcquireLease(bg, u, "prov-a", t0.Add(time.Second), ttl)
	require.NoError(t, err)
	assert.Greater(t, a3.Token, a2.Token)
	_, err = s.RenewLease(bg, a2, t0.Add(2*time.Second), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseLost)

	// Release frees it for others at once; releasing again, or an old lease, is harmless.
	require.NoError(t, s.ReleaseLease(bg, a3))
	require.NoError(t, s.ReleaseLease(bg, a3))
	require.NoError(t, s.ReleaseLease(bg, a2))
	_, err = s.RenewLease(bg, a3, t0.Add(3*time.Second), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseLost, "a released lease is not renewed")
	c, err := s.AcquireLease(bg, u, "prov-c", t0.Add(3*time.Second), ttl)
	require.NoError(t, err)
	assert.Greater(t, c.Token, a3.Token, "tokens only grow, also across a release")
	require.NoError(t, s.ReleaseLease(bg, a3), "an old lease's release leaves the new one")
	_, err = s.AcquireLease(bg, u, "prov-d", t0.Add(4*time.Second), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseHeld)

	// Refused arguments.
	_, err = s.AcquireLease(bg, u, "", t0, ttl)
	assert.Error(t, err, "an empty owner")
	_, err = s.AcquireLease(bg, uuidN(22), "prov-a", t0, 0)
	assert.Error(t, err, "a zero TTL")
	require.NoError(t, s.ReleaseLease(bg, b))
}

func (h Harness) leaseExpiry(t *testing.T) {
	s := h.New(t)
	u := uuidN(23)
	ttl := 10 * time.Second
	a, err := s.AcquireLease(bg, u, "dead", t0, ttl)
	require.NoError(t, err)
	_, err = s.AcquireLease(bg, u, "alive", t0.Add(ttl-time.Millisecond), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseHeld, "before it expires")
	b, err := s.AcquireLease(bg, u, "alive", t0.Add(ttl), ttl)
	require.NoError(t, err, "at its expiry the lease is free")
	assert.Greater(t, b.Token, a.Token)
	_, err = s.RenewLease(bg, a, t0.Add(ttl), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseLost, "the dead owner's lease is gone")
	require.NoError(t, s.ReleaseLease(bg, a))
	_, err = s.AcquireLease(bg, u, "third", t0.Add(ttl+time.Second), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseHeld, "the dead owner's release does not free the new lease")

	// An expired lease nobody took is still its owner's to renew.
	v := uuidN(24)
	c, err := s.AcquireLease(bg, v, "slow", t0, ttl)
	require.NoError(t, err)
	c2, err := s.RenewLease(bg, c, t0.Add(3*ttl), ttl)
	require.NoError(t, err)
	assert.Equal(t, c.Token, c2.Token)
	_, err = s.AcquireLease(bg, v, "other", t0.Add(3*ttl+time.Second), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseHeld)
}

// A store that implements provisioning.FencedSaver refuses a save under a
// lease that is no longer the device's (taken by another owner after it
// expired, or released), writing nothing, and takes one under the current
// lease, also an expired lease nobody took since. Skipped for a store
// without it.
func (h Harness) fencedSave(t *testing.T) {
	s := h.New(t)
	fs, ok := s.(provisioning.FencedSaver)
	if !ok {
		t.Skip("the store does not implement provisioning.FencedSaver")
	}
	u := uuidN(25)
	ttl := 10 * time.Second
	a, err := s.AcquireLease(bg, u, "stalled", t0, ttl)
	require.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: u, Attempts: 1}
	require.NoError(t, fs.SaveFenced(bg, r, a), "a new record under the current lease")
	r.Attempts = 2
	require.NoError(t, fs.SaveFenced(bg, r, a), "under the current lease, expired or not")

	b, err := s.AcquireLease(bg, u, "next", t0.Add(2*ttl), ttl)
	require.NoError(t, err)
	stale := r.Clone()
	stale.Attempts = 99
	err = fs.SaveFenced(bg, stale, a)
	require.ErrorIs(t, err, provisioning.ErrLeaseLost, "the stalled owner's lease was taken")
	got, err := s.Load(bg, u)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Attempts, "nothing written under the lost lease")
	assert.Equal(t, r.Version, got.Version)

	got.Attempts = 3
	require.NoError(t, fs.SaveFenced(bg, got, b), "the new owner writes")
	stale.Version = got.Version
	require.ErrorIs(t, fs.SaveFenced(bg, stale, a), provisioning.ErrLeaseLost, "not even at the current version")
	old := got.Clone()
	old.Version--
	var ce *provisioning.ConflictError
	require.ErrorAs(t, fs.SaveFenced(bg, old, b), &ce, "the current lease does not lift the version check")

	require.NoError(t, s.ReleaseLease(bg, b))
	require.ErrorIs(t, fs.SaveFenced(bg, got, b), provisioning.ErrLeaseLost, "a released lease")

	v := uuidN(26)
	c, err := s.AcquireLease(bg, v, "one", t0, ttl)
	require.NoError(t, err)
	_, err = s.AcquireLease(bg, v, "two", t0.Add(2*ttl), ttl)
	require.NoError(t, err)
	require.ErrorIs(t, fs.SaveFenced(bg, &provisioning.DeviceRecord{UUID: v}, c), provisioning.ErrLeaseLost, "no record created under a lost lease")
	_, err = s.Load(bg, v)
	require.ErrorIs(t, err, provisioning.ErrNotFound)
}

// N writers increment one record's counter through compare-and-swap, each
// reloading after a lost swap: no increment is lost.
func (h Harness) concurrentCAS(t *testing.T) {
	s := h.New(t)
	u := uuidN(30)
	require.NoError(t, s.Save(bg, &provisioning.DeviceRecord{UUID: u}))
	const each = 10
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < h.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					r, err := s.Load(bg, u)
					if err != nil {
						t.Error(err)
						return
					}
					r.Attempts++
					r.History = append(r.History, provisioning.StepRecord{Step: provisioning.StepRenew, Detail: fmt.Sprint(w, i)})
					err = s.Save(bg, r)
					if err == nil {
						break
					}
					if !errors.Is(err, provisioning.ErrConflict) {
						t.Error(err)
						return
					}
					conflicts.Add(1)
				}
			}
		}()
	}
	// Readers and other writers at the same time.
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.Save(bg, &provisioning.DeviceRecord{UUID: uuidN(31 + i%5)})
			for _, err := range s.Records(bg, provisioning.Filter{}) {
				if err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	side.Wait()
	r, err := s.Load(bg, u)
	require.NoError(t, err)
	assert.Equal(t, h.Concurrency*each, r.Attempts, "no lost update (%d swaps lost and retried)", conflicts.Load())
	assert.Len(t, r.History, h.Concurrency*each)
	assert.Equal(t, uint64(1+h.Concurrency*each), r.Version)
}

// N owners race for one free lease: exactly one wins, every round.
func (h Harness) concurrentLease(t *testing.T) {
	s := h.New(t)
	u := uuidN(40)
	ttl := time.Minute
	var prev uint64
	for round := 0; round < 5; round++ {
		now := t0.Add(time.Duration(round) * 2 * ttl) // the previous round's lease has expired
		var wins atomic.Int64
		var won Lease
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := 0; w < h.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := s.AcquireLease(bg, u, fmt.Sprintf("owner-%d", w), now, ttl)
				switch {
				case err == nil:
					wins.Add(1)
					mu.Lock()
					won = l
					mu.Unlock()
				case !errors.Is(err, provisioning.ErrLeaseHeld):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int64(1), wins.Load(), "round %d: exactly one owner", round)
		assert.Greater(t, won.Token, prev)
		prev = won.Token
	}
}

// Lease is provisioning.Lease, short.
type Lease = provisioning.Lease

// A provisioner records that it is about to send a non-idempotent request
// (CommitChanges), then dies before sending it. Its successor must find that
// progress in the store, wait for the dead owner's lease, and the dead
// owner's late writes must lose.
func (h Harness) crash(t *testing.T) {
	s := h.New(t)
	u := uuidN(50)
	ttl := 30 * time.Second
	lease, err := s.AcquireLease(bg, u, "prov-1", t0, ttl)
	require.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateConfigured, Session: &provisioning.SessionRecord{
		Started: t0, Done: provisioning.DoneMEBxPassword | provisioning.DoneAdminACL,
		AdminUser: "admin", AdminPassword: amt.NewSecret("Crash#Test1"), MEBxPassword: amt.NewSecret("Crash#Mebx1")}}
	require.NoError(t, s.Save(bg, r))
	r.Session.Done |= provisioning.DoneCommitSent
	require.NoError(t, s.Save(bg, r)) // ... and here the process dies, before CommitChanges.
	stale := r.Clone()

	if h.Reopen != nil {
		s = h.Reopen(t, s)
	}
	got, err := s.Load(bg, u)
	require.NoError(t, err)
	require.NotNil(t, got.Session)
	assert.True(t, got.Session.Done.Has(provisioning.DoneCommitSent), "the progress saved before the crash is there")
	assert.Equal(t, "Crash#Test1", got.Session.AdminPassword.Reveal())
	in, err := provisioning.CollectRecords(s.Records(bg, provisioning.Filter{SessionInProgress: true}))
	require.NoError(t, err)
	require.Len(t, in, 1, "Resume finds it")

	_, err = s.AcquireLease(bg, u, "prov-2", t0.Add(ttl/2), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseHeld, "the dead owner's lease holds until it expires")
	next, err := s.AcquireLease(bg, u, "prov-2", t0.Add(ttl), ttl)
	require.NoError(t, err)
	assert.Greater(t, next.Token, lease.Token)

	got.State = provisioning.StateCommitted
	require.NoError(t, s.Save(bg, got))

	// The first owner, had it only stalled, finds out before it writes.
	_, err = s.RenewLease(bg, lease, t0.Add(ttl), ttl)
	require.ErrorIs(t, err, provisioning.ErrLeaseLost)
	stale.State = provisioning.StateFailed
	require.ErrorIs(t, s.Save(bg, stale), provisioning.ErrConflict)
	final, err := s.Load(bg, u)
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateCommitted, final.State)
}

// forms returns the ways a secret could show up in stored bytes.
func forms(secret string) []string {
	b := []byte(secret)
	return []string{
		secret,
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
	}
}

func (h Harness) noPlaintext(t *testing.T) {
	if h.Persisted == nil {
		t.Skip("the store persists nothing (Harness.Persisted is nil): no bytes to scan")
	}
	s := h.New(t)
	var secrets []string
	for i := 0; i < 3; i++ {
		r, err := Fill(uuidN(60+i), 60+i)
		require.NoError(t, err)
		for _, sec := range Secrets(r) {
			secrets = append(secrets, sec.Reveal())
		}
		require.NoError(t, s.Save(bg, r))
		r.State = provisioning.StateProvisioned
		require.NoError(t, s.Save(bg, r)) // an update too
		_, err = s.AcquireLease(bg, r.UUID, "prov", t0, time.Minute)
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, len(secrets), 3*8, "every kind of secret is covered")
	raw := h.Persisted(t, s)
	require.NotEmpty(t, raw, "the store persisted something")
	total := 0
	for _, b := range raw {
		total += len(b)
		for _, sec := range secrets {
			for _, f := range forms(sec) {
				if bytes.Contains(b, []byte(f)) {
					t.Errorf("secret %q is stored in plaintext (as %q)", sec, f)
				}
			}
		}
	}
	t.Logf("scanned %d bytes in %d pieces for %d secrets in %d forms each", total, len(raw), len(secrets), len(forms("x")))
	// They are stored all the same: sealed.
	got, err := s.Load(bg, uuidN(60))
	require.NoError(t, err)
	assert.Len(t, Secrets(got), len(secrets)/3)
}

func (h Harness) canceled(t *testing.T) {
	s := h.New(t)
	require.NoError(t, s.Save(bg, &provisioning.DeviceRecord{UUID: uuidN(70)}))
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err := s.Load(ctx, uuidN(70))
	assert.Error(t, err, "Load")
	assert.Error(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: uuidN(71)}), "Save")
	assert.Error(t, s.Delete(ctx, uuidN(70), 1), "Delete")
	_, err = s.AcquireLease(ctx, uuidN(70), "p", t0, time.Minute)
	assert.Error(t, err, "AcquireLease")
	n := 0
	for _, err := range s.Records(ctx, provisioning.Filter{}) {
		assert.Error(t, err, "Records")
		n++
	}
	assert.Equal(t, 1, n, "Records yields the error and stops")
	_, err = s.Load(bg, uuidN(71))
	assert.ErrorIs(t, err, provisioning.ErrNotFound, "the canceled save wrote nothing")
}
