package provisioning

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/wsman"
)

// Maintainer keeps provisioned devices healthy: on a schedule it renews AMT's TLS
// and 802.1X certificates (wired, and each EAP-TLS Wi-Fi profile's) that
// entered the renewal window, has the superseded
// ones revoked (reason Superseded), reports provisioning bundles nearing expiry
// (Configuration Manager statuses 7210 and 7211), and ages out records of
// devices that were discovered but never provisioned. Every action is an
// [Event] to the Provisioner's Observer.
//
// Create it with [Provisioner.Maintainer]; set fields before Run.
type Maintainer struct {
	p *Provisioner

	// Every is how often devices are checked. Zero: ExpiryPolicy's interval
	// (7 days). A certificate that would expire before the next check is
	// renewed at this one, even outside its renewal window (one shorter than
	// Every: a short-lived certificate's), unless ExpiryPolicy.Renew is
	// negative.
	Every time.Duration
	// BundleEvery is how often provisioning bundles are checked. Zero: daily.
	BundleEvery time.Duration
	// Retention is how long a record of a device that was never provisioned is
	// kept after its last hello. Zero: 90 days.
	Retention time.Duration
	// ReconcileEvery, when set, has RunOnce bring every provisioned device in
	// line with its profile ([Provisioner.Reconcile]) when it was last
	// reconciled longer ago than this, or its last reconcile left something
	// undone. Zero: devices are not reconciled by the Maintainer.
	ReconcileEvery time.Duration
	// RetryAfter is how soon [Maintainer.Run] runs again after a run that
	// ended with an error (the store failed): the error is an event, and the
	// run is repeated then instead of after Every. Zero: 15 minutes, or Every
	// when that is shorter.
	RetryAfter time.Duration
	// Concurrency is how many devices [Maintainer.RunOnce] maintains, and
	// reconciles, at once. A device that does not answer holds its slot
	// until the dial and call timeouts end, so a serial run over a large
	// fleet with many devices offline could outlast Every; each device is
	// still worked on under its own lease, one at a time. Zero: 8.
	// Negative: 1 (one device after another). Above 1, the Config's
	// callbacks (Issuer, Observer, Dial, CheckRevocation, …) are called from
	// that many devices at once, as sessions call them. A cancelled run hands
	// out no more devices, and neither does one whose callback panicked: the
	// panic reaches RunOnce's caller once the devices in flight end.
	Concurrency int
}

// DefaultMaintainConcurrency is [Maintainer.Concurrency]'s default.
const DefaultMaintainConcurrency = 8

func (m *Maintainer) concurrency() int {
	switch {
	case m.Concurrency > 0:
		return m.Concurrency
	case m.Concurrency < 0:
		return 1
	}
	return DefaultMaintainConcurrency
}

func (m *Maintainer) retryAfter() time.Duration {
	if m.RetryAfter > 0 {
		return m.RetryAfter
	}
	return min(15*time.Minute, m.every())
}

// Maintainer returns a Maintainer that uses this Provisioner's store, issuer,
// expiry policy, clock, dialer and observer.
func (p *Provisioner) Maintainer() *Maintainer { return &Maintainer{p: p} }

// MaintenanceReport summarises one pass of [Maintainer.RunOnce].
type MaintenanceReport struct {
	Checked      int // provisioned devices whose certificates and settings this run looked at (leased, no session running)
	Renewed      int // certificates renewed
	Revoked      int // certificates revoked: superseded ones, and those Unprovision or Block could not get revoked
	NotRenewable int // certificates due but not renewed now (TLS over wireless only, the Wi-Fi profile in use)
	Failed       int // devices whose renewal failed
	AgedOut      int // discovery records removed
	Removed      int // replaced certificates (with their keys) deleted from devices
	// RemoveFailed counts replaced certificates (or keys) that could not be
	// deleted from their devices this run: each device with some reports an
	// event with the first error, and the next run tries again. They are not
	// Failed (the renewal itself succeeded), but AMT's stores fill if they
	// keep failing (PT_STATUS_MAX_LIMIT_REACHED on a later renewal).
	RemoveFailed int
	// Bundles are the provisioning-bundle findings of the run (CheckBundles).
	Bundles []Event
	// Reconciled counts devices reconciled (ReconcileEvery); Changes the
	// changes their reconciles applied, ReconcileFailed those that failed.
	Reconciled, Changes, ReconcileFailed int
	// Resumed counts the sessions that had ended commit-unconfirmed and were
	// run again to read the device's state (their outcomes are events).
	Resumed int
	// Unreadable counts the stored records the run could not read (each a
	// *RecordError, reported once a run as an event with ReasonStoreFailed)
	// and passed over; the rest of the fleet was maintained. See
	// docs/troubleshooting.md.
	Unreadable int
}

func (m *Maintainer) every() time.Duration {
	if m.Every > 0 {
		return m.Every
	}
	return m.p.cfg.ExpiryPolicy.Interval()
}

func (m *Maintainer) bundleEvery() time.Duration {
	if m.BundleEvery > 0 {
		return m.BundleEvery
	}
	return 24 * time.Hour
}

func (m *Maintainer) retention() time.Duration {
	if m.Retention > 0 {
		return m.Retention
	}
	return 90 * 24 * time.Hour
}

// Run checks bundles and devices at once, then on their schedules, until ctx
// is done. It returns ctx's error. It waits with the Provisioner's
// [Config.Sleep] and reads its [Config.Now], so an injected clock drives it.
// A run that ends with an error (RunOnce's: the store failed) is reported as
// an event (step renew, reason store-failed, with the error) and repeated
// after RetryAfter.
func (m *Maintainer) Run(ctx context.Context) error {
	p := m.p
	next := func(now time.Time) time.Time {
		_, err := m.RunOnce(ctx) // checks the bundles too
		if err == nil || ctx.Err() != nil {
			return now.Add(m.every())
		}
		retry := m.retryAfter()
		p.emit(Event{Time: p.now(), Step: StepRenew, Reason: ReasonStoreFailed, Err: err,
			Detail: fmt.Sprintf("the maintenance run ended early; it runs again in %s", retry)})
		return now.Add(retry)
	}
	now := p.now()
	nextDevices, nextBundles := next(now), now.Add(m.bundleEvery())
	for {
		wait := earliest(nextDevices, nextBundles).Sub(p.now())
		if err := p.sleep(ctx, max(wait, 0)); err != nil {
			return err
		}
		now := p.now()
		if !now.Before(nextDevices) {
			nextDevices = next(now)
			nextBundles = now.Add(m.bundleEvery())
		} else if !now.Before(nextBundles) {
			m.CheckBundles(ctx)
			nextBundles = now.Add(m.bundleEvery())
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// CheckBundles evaluates every provisioning bundle against the expiry policy
// and emits a finding event for each in the warning (7210) or error (7211)
// window or expired. It returns the findings.
func (m *Maintainer) CheckBundles(ctx context.Context) []Event {
	p := m.p
	now := p.now()
	var out []Event
	for _, b := range p.cfg.Bundles {
		st := p.cfg.ExpiryPolicy.ProvisioningChain(b.Chain, now)
		var reason Reason
		switch st {
		case certs.ExpiryWarning:
			reason = ReasonBundleExpiryWarning
		case certs.ExpiryError:
			reason = ReasonBundleExpiryError
		case certs.ExpiryExpired:
			reason = ReasonBundleExpired
		default:
			continue
		}
		e := Event{Time: now, Step: StepBundleExpiry, Reason: reason,
			Detail: fmt.Sprintf("%s: %s, expires %s (status %d)", bundleName(b), st, b.NotAfter().Format(time.DateOnly), st.StatusMessageID())}
		p.emit(e)
		out = append(out, e)
	}
	return out
}

// RunOnce walks the store once: it checks the provisioning bundles (the
// same findings as CheckBundles, in the report), settles sessions that ended
// commit-unconfirmed (as Resume does), repeats revocations and
// renewals an earlier run could not finish, renews due certificates of
// provisioned devices, deletes replaced certificates from the devices and ages
// out stale discovery records. No failure is silent: each is an event and is
// counted in the report, and what it left undone is retried by the next run.
func (m *Maintainer) RunOnce(ctx context.Context) (MaintenanceReport, error) {
	var rep MaintenanceReport
	p := m.p
	rep.Bundles = m.CheckBundles(ctx)
	now := p.now()
	// Sessions whose commit was not confirmed: the device may be
	// provisioned and sends no hello, so only a read-back settles it.
	// A record the store cannot read is reported once (its event, Unreadable)
	// and passed over by each walk: the rest of the fleet is still maintained.
	var unreadable map[string]bool // by error text: a key that names no UUID has no Device
	var mu sync.Mutex              // rep, once devices are worked on concurrently (below)
	passOver := func(err error) bool {
		var re *RecordError
		if !errors.As(err, &re) {
			return false
		}
		mu.Lock()
		if unreadable == nil {
			unreadable = make(map[string]bool)
		}
		k := err.Error()
		first := !unreadable[k]
		if first {
			unreadable[k] = true
			rep.Unreadable++
		}
		mu.Unlock()
		if first {
			p.unreadable(err, StepRenew) // the Observer is called without the lock
		}
		return true
	}
	n, err := p.resume(ctx, true, passOver)
	rep.Resumed = n
	if err != nil {
		return rep, err
	}
	// Stale discovery records, then provisioned devices due for maintenance:
	// two more filtered walks, a page at a time, never the fleet in memory.
	for r, err := range p.store.Records(ctx, Filter{Discovery: true, LastSeenBefore: now.Add(-m.retention())}) {
		if err != nil {
			if passOver(err) {
				continue
			}
			return rep, err
		}
		if r.Agent != nil && now.Before(r.Agent.Expires) {
			// A pending agent request keeps the record however old its
			// last hello: the agent may activate the device at any time
			// until the request expires.
			continue
		}
		if !r.discovery() {
			// The store's index may date from an older rule (a SQL row's
			// discovery column is written at each save): the record
			// decides.
			continue
		}
		if err := p.store.Delete(ctx, r.UUID, r.Version); err != nil {
			if !errors.Is(err, ErrConflict) { // a hello arrived meanwhile: the record stays
				m.storeFailed(r, &rep, err, "removing a stale discovery record failed")
			}
			continue
		}
		rep.AgedOut++
		p.emit(Event{Time: now, Device: r.UUID, Step: StepAgeOut, State: r.State,
			Detail: fmt.Sprintf("discovery record removed: last hello %s", r.LastSeen.Format(time.DateOnly))})
	}
	// The devices themselves are worked on Concurrency at a time, each with
	// a report of its own added to the run's when it is done; the walks stay
	// in this goroutine.
	work := newDevicePool(m.concurrency())
	defer work.wg.Wait() // also when the walk panics: no device is left running
	each := func(f func(rep *MaintenanceReport)) bool {
		return work.do(ctx, func() {
			var one MaintenanceReport
			f(&one)
			mu.Lock()
			rep.add(one)
			mu.Unlock()
		})
	}
	walkErr := func() error {
		for r, err := range p.store.Records(ctx, Filter{MaintenanceDue: m.dueBefore(now)}) {
			if err != nil {
				if passOver(err) {
					continue
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err() // the rest of the page waits for the next run
			}
			if r.Session == nil || r.State.Final() { // else a session may be running
				u := r.UUID
				if !each(func(rep *MaintenanceReport) { m.maintainLeased(ctx, u, rep) }) {
					return ctx.Err() // nil after a panic: wait re-raises it
				}
			}
		}
		if m.ReconcileEvery <= 0 {
			return nil
		}
		// A device's renewal ends before its reconcile begins (each takes
		// the device's lease: the reconcile would otherwise be passed over
		// as held).
		work.wait()
		for r, err := range p.store.Records(ctx, Filter{Provisioned: true}) {
			if err != nil {
				if passOver(err) {
					continue
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if r.Blocked || r.Session != nil && !r.State.Final() ||
				(r.ReconcileError == "" && now.Sub(r.Reconciled) < m.ReconcileEvery) {
				continue
			}
			u, state := r.UUID, r.State
			if !each(func(rep *MaintenanceReport) {
				rr, err := p.Reconcile(ctx, u, ReconcileOptions{})
				if err != nil {
					// A device proved back in pre-provisioning had its
					// record settled (and an event): not a failure.
					if !errors.Is(err, ErrLeaseHeld) && !errors.Is(err, ErrNotProvisioned) {
						rep.ReconcileFailed++
						p.emit(Event{Time: p.now(), Device: u, Step: StepReconcile, State: state, Reason: reasonOfCall(ctx, err), Err: err,
							Detail: "reconcile failed; the next run retries"})
					}
					return
				}
				rep.Reconciled++
				rep.Changes += rr.Applied
				rep.ReconcileFailed += rr.Failed
			}) {
				return ctx.Err()
			}
		}
		return nil
	}()
	work.wait()
	if walkErr != nil {
		return rep, walkErr
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

// add adds the counts of o, the report of one device, to rep.
func (rep *MaintenanceReport) add(o MaintenanceReport) {
	rep.Checked += o.Checked
	rep.Renewed += o.Renewed
	rep.Revoked += o.Revoked
	rep.NotRenewable += o.NotRenewable
	rep.Failed += o.Failed
	rep.AgedOut += o.AgedOut
	rep.Removed += o.Removed
	rep.RemoveFailed += o.RemoveFailed
	rep.Bundles = append(rep.Bundles, o.Bundles...)
	rep.Reconciled += o.Reconciled
	rep.Changes += o.Changes
	rep.ReconcileFailed += o.ReconcileFailed
	rep.Resumed += o.Resumed
	rep.Unreadable += o.Unreadable
}

// devicePool runs functions on goroutines, at most n at once. A function
// that panics does not take the process down from its goroutine: wait
// panics with its value in the caller's (a callback's panic reaches the
// caller of RunOnce, as it did when devices were worked on one by one).
type devicePool struct {
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	panic any // the first function's panic, with its stack
}

func newDevicePool(n int) *devicePool { return &devicePool{slots: make(chan struct{}, n)} }

// do runs f on a goroutine of its own once fewer than n run. It runs
// nothing, and reports false, once ctx is done (a slot freed after a cancel
// hands out no more work) or a function has panicked (the rest waits for
// the caller, whom wait panics in, as the first device did when a run was
// serial).
func (w *devicePool) do(ctx context.Context, f func()) bool {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	w.mu.Lock()
	stop := w.panic != nil
	w.mu.Unlock()
	if stop || ctx.Err() != nil {
		<-w.slots
		return false
	}
	w.wg.Add(1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				w.mu.Lock()
				if w.panic == nil {
					// The value as it was (an error stays one for errors.Is
					// and As), with the stack of the goroutine it came from.
					if err, ok := v.(error); ok {
						w.panic = fmt.Errorf("%w\n\ngoroutine of the device pool:\n%s", err, debug.Stack())
					} else {
						w.panic = fmt.Sprintf("%v\n\ngoroutine of the device pool:\n%s", v, debug.Stack())
					}
				}
				w.mu.Unlock()
			}
			<-w.slots
			w.wg.Done()
		}()
		f()
	}()
	return true
}

// wait returns when every f has returned, and panics if one did.
func (w *devicePool) wait() {
	w.wg.Wait()
	w.mu.Lock()
	v := w.panic
	w.mu.Unlock()
	if v != nil {
		panic(v)
	}
}

// dueBefore is the expiry before which a device certificate is renewed now.
func (m *Maintainer) dueBefore(now time.Time) time.Time {
	renew := m.p.cfg.ExpiryPolicy.Renew
	if renew <= 0 {
		renew = certs.DefaultRenew
	}
	// Device renews when Renew or less remains; a certificate that would
	// expire before the next run is renewed too (maintainDevice).
	return now.Add(max(renew, m.every()) + time.Nanosecond)
}

// maintainLeased maintains one device while holding its lease (the next run
// retries a device another provisioner is working on), from its record read
// under the lease: a provisioned device's certificates, or the revocations a
// blocked or unprovisioned device's still need.
func (m *Maintainer) maintainLeased(ctx context.Context, u amt.UUID, rep *MaintenanceReport) {
	p := m.p
	r, release, err := p.leaseDevice(ctx, u)
	if err != nil {
		if !errors.Is(err, ErrLeaseHeld) && !errors.Is(err, ErrNotFound) {
			m.storeFailed(&DeviceRecord{UUID: u}, rep, err, "the device could not be leased for maintenance")
		}
		return
	}
	defer release()
	switch {
	case r.Session != nil && !r.State.Final(): // a session began meanwhile
	case r.retired():
		m.revokeRetired(ctx, r, rep)
	default:
		rep.Checked++
		m.maintainDevice(ctx, r, rep)
	}
}

// revokeRetired revokes the certificates of a blocked or unprovisioned device
// that Block or Unprovision could not get revoked: the Issuer refused or
// could not be reached then. The caller holds the device's lease.
func (m *Maintainer) revokeRetired(ctx context.Context, r *DeviceRecord, rep *MaintenanceReport) {
	p := m.p
	reason := certs.RevocationCessationOfOperation
	if r.Blocked {
		reason = certs.RevocationPrivilegeWithdrawn
	}
	if n := p.revokeAll(ctx, r, reason); n > 0 &&
		m.save(ctx, r, rep, "revocations recorded by the Issuer but not saved") {
		rep.Revoked += n
	}
}

// storeFailed reports a record that could not be saved; the next run retries
// what it records.
func (m *Maintainer) storeFailed(r *DeviceRecord, rep *MaintenanceReport, err error, what string) {
	rep.Failed++
	m.p.emit(Event{Time: m.p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Reason: ReasonStoreFailed, Err: err,
		Detail: what + "; the next run retries"})
}

func (m *Maintainer) save(ctx context.Context, r *DeviceRecord, rep *MaintenanceReport, what string) bool {
	if err := m.p.save(ctx, r); err != nil {
		m.storeFailed(r, rep, err, what)
		return false
	}
	return true
}

func (m *Maintainer) maintainDevice(ctx context.Context, r *DeviceRecord, rep *MaintenanceReport) {
	p := m.p
	now := p.now()
	// Revocations a session or an earlier run could not get from the Issuer
	// (they need no device: first, so that a device offline does not hold
	// them up).
	if n := p.revokeReplaced(ctx, r, nil); n > 0 {
		rep.Revoked += n
	}
	if !m.settleIssued(ctx, r, rep) {
		return
	}
	for _, slot := range certSlots(r) {
		if !r.Provisioned() {
			return // settled as unprovisioned by a renewal's reconcile
		}
		purpose := slot.purpose
		if pending, ok := pendingCertificate(r.Certificates, slot); ok {
			// An earlier renewal (or reconcile) installed it but could not
			// see it in use. If it is gone from the device, the slot is
			// renewed again below.
			if !m.finishRenewal(ctx, r, purpose, pending, rep) {
				continue
			}
		}
		cur, ok := currentCertificateFor(r.Certificates, slot)
		if !ok {
			continue
		}
		c, err := cur.Certificate()
		if err != nil {
			continue
		}
		st := p.cfg.ExpiryPolicy.DeviceCert(c, now)
		if st == certs.ExpiryOK && p.cfg.ExpiryPolicy.Renew >= 0 && !c.NotAfter.After(now.Add(m.every())) {
			// A renewal window shorter than Every (a short-lived
			// certificate's third): the next run would find it expired.
			st = certs.ExpiryRenew
		}
		if st != certs.ExpiryRenew && st != certs.ExpiryExpired && st != certs.ExpiryError && st != certs.ExpiryWarning {
			continue
		}
		if why := m.notRenewable(ctx, r, slot); why != "" {
			rep.NotRenewable++
			p.emit(Event{Time: now, Device: r.UUID, Step: StepRenew, State: r.State, Reason: ReasonNotRenewable,
				Detail: fmt.Sprintf("%s certificate expires %s but %s", slotName(slot), c.NotAfter.Format(time.DateOnly), why)})
			continue
		}
		m.renew(ctx, r, slot, rep)
	}
	if r.Provisioned() {
		m.removeSuperseded(ctx, r, rep)
	}
}

// settleIssued settles the issuances in flight r records (an earlier run or
// reconcile died before it recorded their outcome), before anything else is
// done for the device; false when they could not be.
func (m *Maintainer) settleIssued(ctx context.Context, r *DeviceRecord, rep *MaintenanceReport) bool {
	if !slices.ContainsFunc(r.Certificates, DeviceCertificate.inFlight) {
		return true
	}
	p := m.p
	fail := func(err error) bool {
		rep.Failed++
		p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Err: err, Reason: reasonOfCall(ctx, err),
			Detail: "a certificate issuance an earlier run left unrecorded could not be settled; the next run retries"})
		return false
	}
	dev, err := p.openDevice(ctx, r)
	if err != nil {
		return fail(err)
	}
	n, err := p.settleIssued(ctx, dev.Device, r)
	dev.Close()
	if n > 0 && !m.save(ctx, r, rep, "a settled certificate issuance was not recorded") {
		return false
	}
	if err != nil {
		return fail(err)
	}
	return true
}

// pendingCertificate returns the newest renewal of slot not yet read back in
// use, pointing into list (not an issuance in flight: it has no handle).
func pendingCertificate(list []DeviceCertificate, slot certSlot) (*DeviceCertificate, bool) {
	for i := len(list) - 1; i >= 0; i-- {
		if dc := &list[i]; dc.slot() == slot && dc.Pending && !dc.Revoked && dc.Handle != "" {
			return dc, true
		}
	}
	return nil, false
}

// renew replaces one certificate of a provisioned device: AMT generates a key,
// the Issuer certifies it and AMT stores it — recorded as pending before it is
// bound — then finishRenewal binds it, commits and reads it back.
func (m *Maintainer) renew(ctx context.Context, r *DeviceRecord, slot certSlot, rep *MaintenanceReport) {
	p := m.p
	purpose := slot.purpose
	start := p.now()
	fail := func(err error, what string) {
		rep.Failed++
		e := Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Duration: p.now().Sub(start), Err: err, Reason: ReasonOf(err)}
		if e.Reason == "" {
			e.Reason = ReasonDeviceError
		}
		e.Detail = fmt.Sprintf("renewing the %s certificate failed: %s", slotName(slot), what)
		p.emit(e)
	}
	dev, err := p.openDevice(ctx, r)
	if err != nil {
		fail(err, "the device could not be opened")
		return
	}
	defer dev.Close()
	prof, _ := p.profileFor(r.Inventory)
	if !prof.SkipClockSync {
		// AMT's clock first, as a session sets it before it binds a
		// certificate and MeshCentral on every management connection
		// (amtmanager.js, attemptSyncClock before attemptTlsSync): a clock
		// that lost time while the device was off would take the renewed
		// certificate for one not yet valid.
		if _, err := syncClock(ctx, dev.Device, p.now); err != nil {
			fail(err, "AMT's clock could not be read or set")
			return
		}
	}
	var attempts int
	var delay time.Duration
	if prof.TLS != nil {
		attempts, delay = prof.TLS.KeyAttempts, prof.TLS.KeyRetryDelay
	}
	fw := amt.FirmwareFor(r.Firmware)
	dc, err := p.issueForAMTKey(ctx, dev.Device, &r.Inventory, &fw, purpose, attempts, delay, func(dc *DeviceCertificate) error {
		return p.recordIssuance(ctx, r, dc, slot.profile)
	})
	if err != nil {
		// An issuance in flight stays recorded: the next run settles it.
		fail(err, "no new certificate")
		return
	}
	pc := installedIssuance(r, dc, slot.profile)
	if !m.save(ctx, r, rep, "the renewed certificate was installed but not recorded") {
		return
	}
	dev.Close()
	m.finishRenewal(ctx, r, purpose, pc, rep)
}

// installedIssuance records in r that the issuance in flight of dc's
// certificate ended with AMT storing it: the entry becomes a pending
// renewal, with its handles. It returns the entry, pointing into r.
func installedIssuance(r *DeviceRecord, dc *DeviceCertificate, profile string) *DeviceCertificate {
	e := *dc
	e.Profile, e.Pending = profile, true
	if i := slices.IndexFunc(r.Certificates, func(c DeviceCertificate) bool { return bytes.Equal(c.DER, dc.DER) }); i >= 0 {
		r.Certificates[i] = e
		return &r.Certificates[i]
	}
	r.Certificates = append(r.Certificates, e)
	return &r.Certificates[len(r.Certificates)-1]
}

// finishRenewal binds a pending certificate (again, if an earlier run was cut
// short), commits where AMT needs it, and reads back that the device uses it.
// Only then does the certificate become current and the one it replaced get
// revoked: a lost CommitChanges leaves the old certificate current and
// unrevoked, and the next run tries again.
func (m *Maintainer) finishRenewal(ctx context.Context, r *DeviceRecord, purpose CertificatePurpose, dc *DeviceCertificate, rep *MaintenanceReport) (renewAgain bool) {
	p := m.p
	start := p.now()
	fail := func(err error, what string) {
		rep.Failed++
		e := Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Duration: p.now().Sub(start), Err: err, Reason: ReasonOf(err)}
		if e.Reason == "" {
			e.Reason = ReasonDeviceError
		}
		e.Detail = fmt.Sprintf("renewing the %s certificate: %s; the next run retries", slotName(dc.slot()), what)
		p.emit(e)
	}
	if used, err := m.inUse(ctx, r, purpose, dc, false); err == nil && used {
		m.confirmRenewal(ctx, r, dc, rep, start)
		return false
	}
	if purpose == PurposeMPS {
		m.finishMPSRenewal(ctx, r, dc.DER, rep, start, fail)
		return false
	}
	dev, err := p.openDevice(ctx, r)
	if err != nil {
		fail(err, "the device could not be opened")
		return false
	}
	// The pending certificate's handle must still name it before it is
	// bound: it may have been deleted meanwhile (another tool's pruning of
	// unbound certificates), and AMT reuses handle numbers, so it may name
	// someone else's certificate now.
	switch mine, err := certAt(ctx, dev.Device, dc); {
	case err != nil:
		dev.Close()
		fail(err, "the pending certificate could not be read")
		return false
	case !mine:
		dev.Close()
		return m.pendingGone(ctx, r, dc, rep, start)
	}
	switch purpose {
	case PurposeTLS:
		if _, err := dev.BindTLSCertificate(ctx, dc.Handle); err != nil {
			dev.Close()
			fail(err, "binding failed")
			return false
		}
		// Post-provisioning, CommitChanges applies the new TLS credential; the
		// firmware may restart its network stack and drop the reply.
		if err := dev.CommitChanges(ctx); err != nil {
			var te *wsman.TransportError
			if !errors.As(err, &te) || te.Phase == wsman.PhaseConnect {
				dev.Close()
				fail(err, "CommitChanges failed")
				return false
			}
		}
	case PurposeIEEE8021X:
		if err := m.bind8021X(ctx, dev, r, dc); err != nil {
			dev.Close()
			fail(err, "binding failed")
			return false
		}
	}
	dev.Close()
	used, err := m.inUse(ctx, r, purpose, dc, true)
	if err != nil || !used {
		if err == nil {
			err = errors.New("the device does not use the new certificate")
		}
		fail(err, "not read back in use")
		return false
	}
	m.confirmRenewal(ctx, r, dc, rep, start)
	return false
}

// finishMPSRenewal adds the device's MPS entries again naming the renewed
// client certificate — the reconcile area "cira", which finds the pending
// certificate and uses it — and reports the renewal once they are.
func (m *Maintainer) finishMPSRenewal(ctx context.Context, r *DeviceRecord, der []byte, rep *MaintenanceReport, start time.Time, fail func(error, string)) {
	p := m.p
	revoked := func() (n int) {
		for _, dc := range r.Certificates {
			if dc.Revoked {
				n++
			}
		}
		return n
	}
	before := revoked()
	rr, err := p.reconcile(ctx, r, ReconcileOptions{Areas: []string{"cira"}})
	rep.Revoked += revoked() - before // the replaced certificate, once the entries name the new one
	if errors.Is(err, ErrNotProvisioned) {
		// The reconcile found the device back in pre-provisioning and
		// settled its record (an event says so): nothing to renew.
		return
	}
	if err == nil {
		err = rr.Err()
	}
	if err != nil {
		fail(err, "the MPS entries were not added again with it")
		return
	}
	for i := range r.Certificates {
		if dc := &r.Certificates[i]; bytes.Equal(dc.DER, der) {
			if dc.Revoked {
				return // the profile went back to passwords: reconcile retired it
			}
			if dc.Pending {
				fail(errors.New("the MPS entries do not name it"), "not used")
				return
			}
			m.confirmRenewal(ctx, r, dc, rep, start)
			return
		}
	}
}

// inUse reads back whether the device uses dc: for TLS, a connection pinned to
// it succeeds (retried while the device restarts after the commit, and —
// afterCommit — while it still shows another certificate, up to
// commitSettleReads times: MeshCentral holds 10 s after enabling TLS, rpc-go
// and RPS wait too); for 802.1X, the device's 802.1X credential context
// names it.
func (m *Maintainer) inUse(ctx context.Context, r *DeviceRecord, purpose CertificatePurpose, dc *DeviceCertificate, afterCommit bool) (bool, error) {
	p := m.p
	switch purpose {
	case PurposeTLS:
		acc := p.accessFor(r, nil, false)
		// Pinned to the renewed certificate itself (MeshCentral reconnects to
		// the hash of the certificate it added): the one it replaces is valid
		// for the same name under DeviceRoots too. Its revocation is checked
		// against its own issuer.
		acc.tlsCert, acc.tlsIssuer, acc.exact = dc.DER, dc.IssuerDER, true
		prof, _ := p.profileFor(r.Inventory)
		acc.allowLegacy = prof.AllowLegacyTLS
		attempts, delay := p.cfg.CommitVerifyAttempts, p.cfg.CommitVerifyDelay
		if attempts <= 0 {
			attempts = 12
		}
		if delay <= 0 {
			delay = 5 * time.Second
		}
		var err error
		other := 0
		for i := 0; i < attempts; i++ {
			if i > 0 {
				if werr := p.sleep(ctx, delay); werr != nil {
					return false, werr
				}
			}
			var conn *deviceConn
			conn, _, err = p.dialAdmin(acc)
			if err != nil {
				return false, err
			}
			_, err = conn.dev.SetupAndConfiguration(ctx)
			conn.close()
			if err == nil {
				return true, nil
			}
			if isUntrusted(err) {
				// It serves another certificate: at once before a bind; after
				// a commit, perhaps the old one for a moment longer.
				if other++; !afterCommit || other >= commitSettleReads {
					return false, nil
				}
			}
		}
		return false, err
	case PurposeMPS:
		// The firmware does not say which certificate an MPS entry names;
		// the renewal makes the certificate current once it added the
		// entries again with it.
		return !dc.Pending, nil
	case PurposeIEEE8021X:
		dev, err := p.openDevice(ctx, r)
		if err != nil {
			return false, err
		}
		defer dev.Close()
		if dc.Profile != "" {
			return wifiCertBound(ctx, dev, dc)
		}
		ctxs, err := dev.IEEE8021xCredentialContexts(ctx)
		if err != nil {
			return false, err
		}
		for _, c := range ctxs {
			if c.CertificateInstanceID() == dc.Handle {
				return true, nil
			}
		}
		return false, nil
	}
	return false, nil
}

// pendingGone settles a pending renewal whose certificate is no longer on the
// device: no longer pending (never bound by its old handle) and revoked
// (cessationOfOperation: it served nothing); removeSuperseded then deletes
// its key if the key is still there (it checks what each handle names) and
// leaves the certificate's handle alone. It reports whether the record was
// saved: only then does the caller renew the slot again.
func (m *Maintainer) pendingGone(ctx context.Context, r *DeviceRecord, dc *DeviceCertificate, rep *MaintenanceReport, start time.Time) bool {
	p := m.p
	dc.Pending = false
	revoked := p.revoke(ctx, r.UUID, dc, certs.RevocationCessationOfOperation) == nil
	if !m.save(ctx, r, rep, "a pending renewal whose certificate is gone could not be recorded") {
		return false
	}
	if revoked {
		rep.Revoked++
	}
	p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Duration: p.now().Sub(start),
		Detail: fmt.Sprintf("the pending %s certificate is no longer on the device (its handle names nothing, or another certificate): renewing again", slotName(dc.slot()))})
	return true
}

// confirmRenewal makes a pending certificate current, records it, and revokes
// the one it replaced.
func (m *Maintainer) confirmRenewal(ctx context.Context, r *DeviceRecord, dc *DeviceCertificate, rep *MaintenanceReport, start time.Time) {
	p := m.p
	dc.Pending = false
	if !m.save(ctx, r, rep, "the renewal was read back but not recorded") {
		return
	}
	rep.Renewed++
	c, _ := dc.Certificate()
	detail := fmt.Sprintf("%s certificate renewed and read back in use", slotName(dc.slot()))
	if c != nil {
		detail = fmt.Sprintf("%s certificate renewed and read back in use: serial %x, expires %s", slotName(dc.slot()), c.SerialNumber, c.NotAfter.Format(time.DateOnly))
	}
	p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Duration: p.now().Sub(start), Detail: detail})
	rep.Revoked += p.revokeReplaced(ctx, r, []DeviceCertificate{*dc})
}

// removeSuperseded deletes from the device the certificates a renewal replaced,
// and their keys, so that AMT's stores do not fill over the years (it answers
// PT_STATUS_MAX_LIMIT_REACHED, 23). It is best effort: a certificate that
// cannot be deleted now (right after a TLS renewal the device may still be
// restarting its network stack) is tried again at the next run. One already
// gone (a full unprovision deletes them) counts as removed.
func (m *Maintainer) removeSuperseded(ctx context.Context, r *DeviceRecord, rep *MaintenanceReport) {
	p := m.p
	var stale []int
	for i, dc := range r.Certificates {
		if dc.Handle == "" || dc.RemovedFromDevice || dc.Pending {
			continue
		}
		if cur, ok := currentCertificateFor(r.Certificates, dc.slot()); ok && bytes.Equal(cur.DER, dc.DER) {
			continue
		}
		stale = append(stale, i)
	}
	if len(stale) == 0 {
		return
	}
	var firstErr error
	failed := 0
	defer func() {
		if failed == 0 {
			return
		}
		// Not silent: the renewal succeeded, but the store fills if this
		// keeps failing.
		rep.RemoveFailed += failed
		reason := ReasonOf(firstErr)
		if reason == "" {
			reason = ReasonDeviceError
		}
		p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State, Err: firstErr, Reason: reason,
			Detail: fmt.Sprintf("%d replaced certificate(s) or key(s) could not be deleted from the device; the next run tries again", failed)})
	}()
	dev, err := p.openDevice(ctx, r)
	if err != nil {
		failed, firstErr = len(stale), err
		return
	}
	defer dev.Close()
	gone := func(err error) bool { return err == nil || errors.Is(err, wsman.ErrInvalidSelectors) }
	fail := func(err error) {
		failed++
		if firstErr == nil {
			firstErr = err
		}
	}
	removed := 0
	for _, i := range stale {
		dc := &r.Certificates[i]
		// A handle is deleted only while it still names this certificate
		// (and its key): AMT reuses handle numbers, and another tool may
		// have deleted ours and added its own since (Intel's console reads
		// what a handle names before deleting it).
		mine, err := certAt(ctx, dev.Device, dc)
		if err != nil {
			fail(err) // unreadable now: the next run tries again
			continue
		}
		if mine {
			if err := dev.DeleteCertificate(ctx, dc.Handle); !gone(err) {
				fail(err)
				continue
			}
		}
		if dc.KeyHandle != "" {
			mine, err := keyAt(ctx, dev.Device, dc)
			if err != nil {
				fail(err)
				continue
			}
			if mine {
				if err := dev.DeleteKeyPair(ctx, dc.KeyHandle); !gone(err) {
					fail(err)
					continue
				}
			}
		}
		dc.RemovedFromDevice = true
		removed++
	}
	if removed == 0 {
		return
	}
	r.Certificates = pruneRetired(r.Certificates)
	if !m.save(ctx, r, rep, "replaced certificates were deleted from the device but the record was not saved") {
		return
	}
	rep.Removed += removed
	p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepRenew, State: r.State,
		Detail: fmt.Sprintf("%d replaced certificate(s) and key(s) deleted from the device", removed)})
}

// maxRetiredCertificates bounds the certificates of one slot (purpose and
// Wi-Fi profile) a record keeps once they are revoked and deleted from the
// device, when nothing is left to do with them: years of yearly renewals.
const maxRetiredCertificates = 8

// pruneRetired drops from list, oldest first, the entries of each slot beyond
// maxRetiredCertificates that are revoked and removed from the device. Before,
// every one stayed: a device that hides each renewed certificate before it is
// bound (a compromised one, or a relay before one without TLS) had a new one
// issued, revoked and kept at every run, and its record grew without bound
// (found by review).
func pruneRetired(list []DeviceCertificate) []DeviceCertificate {
	retired := func(c DeviceCertificate) bool { return c.Revoked && c.RemovedFromDevice && !c.Pending }
	n := map[certSlot]int{}
	for _, c := range list {
		if retired(c) {
			n[c.slot()]++
		}
	}
	return slices.DeleteFunc(list, func(c DeviceCertificate) bool {
		if !retired(c) || n[c.slot()] <= maxRetiredCertificates {
			return false
		}
		n[c.slot()]--
		return true
	})
}

// ManagedDevice is a provisioned device opened with [Provisioner.OpenDevice]:
// the typed WS-Management calls of [amt.Device], signed in as the admin
// account amtkit set, over a connection whose TLS policy comes from the
// device's record. Close it when done.
type ManagedDevice struct {
	*amt.Device
	// How says how the device is reached and its certificate checked, e.g.
	// "over TLS, certificate verified for pc-0042.contoso.com".
	How  string
	conn *deviceConn
}

// Close releases the device's idle connections.
func (d *ManagedDevice) Close() error {
	d.conn.close()
	return nil
}

// ErrNotProvisioned is returned by OpenDevice, Reconcile and RotatePSK for a
// device whose record holds no verified provisioning, by Unprovision for one
// whose record holds no admin password (never provisioned, or unprovisioned
// already), and by Reconcile when it found the device back in
// pre-provisioning and settled its record as unprovisioned (see
// [Provisioner.Reconcile]).
var ErrNotProvisioned = errors.New("provisioning: the device has not been provisioned by amtkit")

// OpenDevice opens a provisioned device from its record: the address it is
// reached at (Config.DeviceAddress, the inventory or its last hello), the admin
// credentials amtkit set, and the TLS policy its provisioning calls for — the
// certificate amtkit had issued, verified against Config.DeviceRoots for the
// inventory FQDN (and Config.CheckRevocation), or pinned to it; on CSME 16.1+
// without one, the device's own certificate pinned when it was provisioned.
// It sends nothing until the first call.
func (p *Provisioner) OpenDevice(ctx context.Context, uuid amt.UUID) (*ManagedDevice, error) {
	r, err := p.store.Load(ctx, uuid)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %s (this Provisioner's Config.Store has no record of it: provisioned by another store, or never)", err, uuid)
	}
	if err != nil {
		return nil, err
	}
	if !r.Provisioned() {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotProvisioned, uuid, r.State)
	}
	return p.openDevice(ctx, r)
}

func (p *Provisioner) openDevice(ctx context.Context, r *DeviceRecord) (*ManagedDevice, error) {
	dev, err := p.dialManaged(r)
	if err != nil || r.PendingAdminPassword.IsZero() {
		return dev, err
	}
	// A rotation whose outcome was lost (its reply, or its read-back) left
	// the new admin password pending: the device has one of the two. Sign
	// in to learn which, and record it; before, the pending one was never
	// tried and every later call got 401.
	_, err = dev.SetupAndConfiguration(ctx)
	switch {
	case err == nil: // the current password: the rotation did not take
		r.PendingAdminPassword = amt.Secret{}
	case errors.Is(err, wsman.ErrUnauthorized):
		dev.Close()
		c := r.Clone()
		c.AdminPassword = r.PendingAdminPassword
		if dev, err = p.dialManaged(c); err != nil {
			return nil, err
		}
		if _, err := dev.SetupAndConfiguration(ctx); err != nil {
			dev.Close()
			return nil, fmt.Errorf("provisioning: %s: neither the current nor the pending admin password signs in: %w", r.UUID, err)
		}
		r.AdminPassword, r.PendingAdminPassword = r.PendingAdminPassword, amt.Secret{}
	default:
		dev.Close()
		return nil, err
	}
	if err := p.settleAdminPassword(ctx, r); err != nil {
		dev.Close()
		return nil, err
	}
	return dev, nil
}

func (p *Provisioner) dialManaged(r *DeviceRecord) (*ManagedDevice, error) {
	prof, _ := p.profileFor(r.Inventory)
	conn, how, err := p.dialAdmin(p.accessFor(r, nil, prof.AllowLegacyTLS))
	if err != nil {
		return nil, err
	}
	return &ManagedDevice{Device: conn.dev, How: how, conn: conn}, nil
}

// settleAdminPassword records the admin password openDevice found in use,
// under the device's lease only: there no rotation of another holder can be
// in flight. Without the lease (OpenDevice) nothing is written; the device is
// used with the password that worked, and the next reconcile or Maintainer
// run, which hold the lease, records it.
func (p *Provisioner) settleAdminPassword(ctx context.Context, r *DeviceRecord) error {
	if p.heldFor(r.UUID) == nil {
		return nil
	}
	return p.save(ctx, r)
}

// Unprovision removes a device's provisioning (full unprovision), has every
// certificate amtkit installed on it revoked and marks its record. The device
// returns to pre-provisioning. The revocation reason is cessationOfOperation:
// the certificates are no longer needed and nothing suggests their keys were
// compromised (RFC 5280 section 5.3.1). Configuration Manager's documentation
// says it revokes when provisioning information is removed; the reason it
// gives was not found in a public source. A revocation the Issuer refuses is
// reported as a revoke event with its error; the Maintainer's next run
// retries it (MaintenanceReport.Revoked counts it then).
//
// The record keeps the certificates, marked revoked and removed from the
// device: a full unprovision erases every certificate and key (Intel AMT
// SDK, "Restoring Intel AMT to Factory Mode"), and the AMT handles they had
// may name other objects after the device is provisioned again. It keeps
// the MEBx password too, which a full unprovision leaves on the device.
//
// Its errors: [ErrNotFound] when Config.Store has no record of the device,
// [ErrNotProvisioned] when the record holds no admin password, one matching
// [ErrLeaseHeld] when another provisioner (a [*LeaseHeldError] names it) or
// this one is working on the device — try again later —, and a
// [*SessionError] (errors.Is [ErrFailed]; [ReasonOf] gives timeout,
// connect-failed, device-error, …) when the device was not unprovisioned,
// its record unchanged; or the store's error when the outcome could not be
// saved.
func (p *Provisioner) Unprovision(ctx context.Context, uuid amt.UUID) error {
	// Under the device's lease: no session or renewal runs meanwhile.
	r, release, err := p.leaseDevice(ctx, uuid)
	if err != nil {
		return err
	}
	defer release()
	if r.AdminPassword.IsZero() {
		// Nothing amtkit set up (a rejected or discovered device, or one
		// already unprovisioned): there is no password to sign in with, and
		// dialing would only end in a device error.
		return fmt.Errorf("%w: %s is %s and its record holds no admin password", ErrNotProvisioned, uuid, r.State)
	}
	dev, err := p.openDevice(ctx, r)
	if err != nil {
		return err
	}
	defer dev.Close()
	start := p.now()
	err = dev.Unprovision(ctx)
	how := "unprovisioned"
	if err != nil && (lostReply(err) || isUntrusted(err) || isRemoteAlert(err)) {
		// The reply was lost (the device may have acted, and restarted its
		// network), or a retry finds the device no longer serving the
		// certificate amtkit installed: a device back in pre-provisioning
		// serves its own again, the one pinned when it was provisioned.
		own, what := p.servesOwnCertificate(ctx, r, true)
		switch {
		case own:
			err, how = nil, "unprovisioned (Unprovision: "+firstLine(err)+"; "+what+")"
		case what != "":
			err = fmt.Errorf("%w; not taken for unprovisioned: %s", err, what)
		}
	}
	e := Event{Time: p.now(), Device: uuid, Step: StepUnprovision, Duration: p.now().Sub(start), State: r.State}
	if err != nil {
		e.Err, e.Reason = err, reasonOfCall(ctx, err)
		p.emit(e)
		return &SessionError{Step: StepUnprovision, Reason: e.Reason, Err: err}
	}
	n := p.markUnprovisioned(ctx, r)
	e.State = StateNew
	e.Detail = fmt.Sprintf("%s; %d certificate(s) revoked", how, n)
	p.emit(e)
	return p.save(ctx, r)
}

// markUnprovisioned records in r (not saved) that its device was fully
// unprovisioned, and has its certificates revoked; it returns how many were.
func (p *Provisioner) markUnprovisioned(ctx context.Context, r *DeviceRecord) int {
	n := p.revokeAll(ctx, r, certs.RevocationCessationOfOperation)
	r.Certificates = retiredFromDevice(r.Certificates)
	r.TrustedRoots = nil // a full unprovision erased them too: a root of the same bytes installed since is not amtkit's
	r.State = StateNew
	r.Done = 0
	// A full unprovision keeps the MEBx password ("The MEBx password is not
	// restored to the default": Intel AMT Implementation and Reference
	// Guide, "Restoring Intel AMT to Factory Mode"): the record keeps it too.
	// An admin password a reconcile's rotation recorded as pending goes with
	// the current one (found by review: a reconcile that settled the record
	// after its rotation failed kept it).
	r.AdminPassword, r.PendingAdminPassword, r.Users = amt.Secret{}, amt.Secret{}, nil
	r.ControlMode = amt.ControlModeNone
	return n
}

// Block marks a device as blocked: its hellos are rejected from now on and every
// certificate amtkit installed on it is revoked, with reason privilegeWithdrawn
// (the device is no longer trusted; RFC 5280 section 5.3.1). Where a key is
// known to be compromised, revoke the certificates at the CA with
// keyCompromise as well. A revocation the Issuer refuses is reported as a
// revoke event with its error; the Maintainer's next run, or calling Block
// again, retries the certificates not revoked yet.
//
// It needs no lease: the block is recorded first (a session or renewal
// running for the device stops at its next save), then the certificates are
// revoked and their revocation recorded, each a compare-and-swap that
// re-applies only its own change when another write got in first.
func (p *Provisioner) Block(ctx context.Context, uuid amt.UUID) error {
	var r *DeviceRecord
	err := p.update(ctx, uuid, func(rec *DeviceRecord) error {
		rec.Blocked = true
		r = rec
		return nil
	})
	if err != nil {
		return err
	}
	n := p.revokeAll(ctx, r, certs.RevocationPrivilegeWithdrawn)
	if n > 0 {
		var revoked []DeviceCertificate
		for _, c := range r.Certificates {
			if c.Revoked {
				revoked = append(revoked, c)
			}
		}
		err := p.update(ctx, uuid, func(rec *DeviceRecord) error {
			for i := range rec.Certificates {
				if len(rec.Certificates[i].DER) > 0 && containsCert(revoked, rec.Certificates[i].DER) {
					rec.Certificates[i].Revoked = true
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	p.emit(Event{Time: p.now(), Device: uuid, Step: StepRevoke, Reason: ReasonNotApproved,
		Detail: fmt.Sprintf("device blocked; %d certificate(s) revoked", n)})
	return nil
}

// revokeAll revokes every certificate of r not revoked yet, for reason.
func (p *Provisioner) revokeAll(ctx context.Context, r *DeviceRecord, reason certs.RevocationReason) int {
	if p.cfg.Issuer == nil {
		return 0
	}
	n := 0
	for i := range r.Certificates {
		if r.Certificates[i].Revoked {
			continue
		}
		if len(r.Certificates[i].DER) == 0 {
			r.Certificates[i].Revoked = true // never certified: nothing to revoke
			continue
		}
		if err := p.revoke(ctx, r.UUID, &r.Certificates[i], reason); err == nil {
			n++
		}
	}
	return n
}

// certAt reports whether dc's handle still names dc's certificate on the
// device (false when the handle names nothing or another certificate).
func certAt(ctx context.Context, dev *amt.Device, dc *DeviceCertificate) (bool, error) {
	pc, err := dev.Certificate(ctx, dc.Handle)
	if err != nil {
		return false, nothingAt(err)
	}
	return bytes.Equal(pc.X509Certificate, dc.DER), nil
}

// keyAt reports whether dc's key handle still names the key of dc's
// certificate.
func keyAt(ctx context.Context, dev *amt.Device, dc *DeviceCertificate) (bool, error) {
	kp, err := dev.KeyPair(ctx, dc.KeyHandle)
	if err != nil {
		return false, nothingAt(err)
	}
	c, err := dc.Certificate()
	if err != nil {
		return false, nil // not ours to judge: leave the key
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return false, nil
	}
	eq, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(pub), nil
}

// nothingAt turns the answer that a handle names nothing into no error.
func nothingAt(err error) error {
	if errors.Is(err, wsman.ErrInvalidSelectors) || errors.Is(err, amt.ErrNotFound) {
		return nil
	}
	return err
}

// servesOwnCertificate reports whether the device at r's address now serves
// the certificate it showed before amtkit provisioned it (r.DeviceCertPin),
// as a device back in pre-provisioning does after a full unprovision, rather
// than the TLS certificate amtkit installed. Only a TLS handshake is made,
// nothing is sent (wsman's Client.Handshake). A device in pre-provisioning
// asks for a client certificate (remote configuration); what proves that
// request came from the device, and not from a relay that added it:
//
//   - a completed handshake in which the device took the provisioning
//     certificate r's device was provisioned with (proofBundle): the
//     request is part of the transcript both Finished messages cover. That
//     certificate goes out in a second handshake, only to a server that
//     served the pinned certificate and asked for one in the first;
//   - TLS 1.3: the request comes before the server's CertificateVerify and
//     Finished, both checked before the client's certificate is chosen;
//   - over TLS 1.2, only when the provisioning root is known not to be one
//     of Intel's factory hashes (proofBundle; a full unprovision erases a
//     user-added root, so the device refuses that certificate): the request
//     after a signed key exchange. The server proved it holds the
//     certificate's key — an impostor replaying the device's certificate
//     cannot — but the request itself is not authenticated before Finished:
//     a relay in front of a provisioned device whose TLS was turned off could
//     add one and make Unprovision's retry settle the record of a device
//     still provisioned (the known limit docs/security.md describes). With a
//     factory root no such fallback is taken: a device that does not
//     complete the handshake with the provisioning certificate is not
//     settled.
//
// False when the record pinned none, the device serves another, or nothing
// above proved the request (then with why, when the device asked); and, when
// the device did not ask for a client
// certificate, when a read of its state as the recorded admin over a
// connection pinned to that certificate fails or reports post-provisioning
// (stateOverPin).
//
// weak allows the third proof: only an operator's [Provisioner.Unprovision]
// takes it, never the Maintainer's reconcile, which nobody asked to wipe a
// record.
func (p *Provisioner) servesOwnCertificate(ctx context.Context, r *DeviceRecord, weak bool) (bool, string) {
	// Only a device that served a certificate amtkit installed can be told
	// apart this way: one provisioned without a TLS profile may serve the
	// very certificate it showed before (CSME 16.1+'s own), provisioned or
	// not (found by review).
	if len(r.DeviceCertPin) == 0 || p.accessFor(r, nil, false).tlsCert == nil {
		return false, ""
	}
	bundle, factory := p.proofBundle(r)
	addr := p.deviceAddr(ReceivedHello{Source: r.Source}, r.Inventory, p.tlsPort())
	pinned := func(cs *tls.ConnectionState) bool {
		if cs == nil || len(cs.PeerCertificates) == 0 {
			return false
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		return bytes.Equal(sum[:], r.DeviceCertPin)
	}
	// First a handshake that offers no certificate: whether the server
	// serves the pinned certificate, proves its key and asks for a client
	// certificate. The provisioning certificate goes only to one that does
	// (another device at the address, in pre-provisioning, would otherwise
	// complete a remote-configuration handshake with it at every check).
	cs, asked, herr := p.probeHandshake(ctx, addr, nil)
	if !pinned(cs) {
		return false, ""
	}
	if asked {
		// In pre-provisioning the device asks for a provisioning
		// certificate (remote configuration).
		const what = "the device serves the certificate it showed before it was provisioned, holds its key, and asks for a provisioning certificate"
		switch {
		case cs.Version == tls.VersionTLS13:
			// The client's side of a TLS 1.3 handshake completes before the
			// server judges its certificate: the version is what proves it.
			return true, what + " (TLS 1.3): it is in pre-provisioning"
		case herr == nil:
			// Both Finished messages cover the request.
			return true, what + " (the handshake completed): it is in pre-provisioning"
		}
		// TLS 1.2: the request is authenticated only by a handshake that
		// completes, with the certificate it asks for.
		if bundle != nil {
			cs2, asked2, herr2 := p.probeHandshake(ctx, addr, bundle)
			if herr2 == nil && asked2 && pinned(cs2) {
				return true, what + " (the handshake with the provisioning certificate completed): it is in pre-provisioning"
			}
			if herr2 != nil {
				herr = herr2
			}
		}
		switch {
		case !factory && weak && cs.CurveID != 0:
			// The server's signed key exchange is checked: the curve is set
			// only once its signature verified. Go's TLS 1.2 client asks
			// for the client certificate even when no ServerKeyExchange
			// came, so the suite alone proves nothing (found by review);
			// with RSA key exchange only the server's Finished proves the
			// key.
			return true, what + ": it is in pre-provisioning"
		case !factory && !weak:
			return false, ""
		case bundle == nil && factory:
			return false, "the device asks for a provisioning certificate over TLS 1.2, which proves nothing before Finished; its provisioning root is a factory root (or known by no SHA-256 hash, so it may be one) and no configured bundle ends at it: configure that bundle so that the handshake can complete"
		case bundle == nil:
			return false, "the device asks for a provisioning certificate over TLS 1.2 without a signed key exchange, which proves nothing before Finished, and no configured bundle ends at its provisioning root: configure that bundle so that the handshake can complete"
		}
		return false, fmt.Sprintf("the device asks for a provisioning certificate over TLS 1.2 but the handshake with it did not complete (%s): the request is not proved to come from the device", firstLine(herr))
	}
	if herr != nil {
		return false, ""
	}
	// A provisioned device whose TLS was turned off serves that certificate
	// too (CSME 16.1 and later serve their own then), without asking for a
	// client certificate: its state is read, with the recorded admin
	// password, over a connection pinned to that certificate (found by
	// review: the record of such a device was settled as unprovisioned).
	st, err := p.stateOverPin(ctx, r, addr)
	if err == nil && st != amt.PostProvisioning {
		return true, fmt.Sprintf("the device serves the certificate it showed before it was provisioned, holds its key, and reports %s", st)
	}
	// Still provisioned, or its state unread (a refused password included:
	// someone else may manage it now): nothing is settled.
	return false, ""
}

// probeHandshake makes one TLS handshake with the device at addr and sends
// nothing else (wsman's Client.Handshake). When the device asks for a client
// certificate it is given offer's chain, or none when offer is nil; asked
// reports whether it asked. The server's certificate is not checked here: the
// caller checks the state returned (also when err says the handshake did not
// complete).
func (p *Provisioner) probeHandshake(ctx context.Context, addr string, offer *certs.Bundle) (cs *tls.ConnectionState, asked bool, err error) {
	var mu sync.Mutex
	c, err := amt.NewClient("https://"+addr+"/wsman", wsman.WithDialer(p.dialer()), wsman.WithCallTimeout(p.callTimeout()),
		wsman.WithRand(p.rand), wsman.WithClock(p.now), wsman.WithRSAKeyExchange(),
		wsman.WithGetClientCertificate(func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			mu.Lock()
			asked = true
			mu.Unlock()
			if offer == nil {
				return &tls.Certificate{}, nil
			}
			return offer.GetClientCertificate()(cri)
		}),
		wsman.WithTLS(wsman.VerifyFunc(func(context.Context, tls.ConnectionState) error { return nil })))
	if err != nil {
		return nil, false, err
	}
	cs, err = c.Handshake(ctx)
	mu.Lock()
	defer mu.Unlock()
	return cs, asked, err
}

// proofBundle returns the provisioning bundle r's device was provisioned with
// (r.Bundle), or else one configured that ends at the same root, and whether
// that root is one of Intel's factory hashes ([amt.DefaultRootHashes]), which
// a full unprovision leaves trusted. Nil when neither is configured. A root
// whose SHA-256 hash is not known — recorded by another algorithm's hash (a
// device lists SHA-1, SHA-384 or SHA-512 hashes too) with no configured
// bundle ending at it — is taken for a factory root: it may be one (found by
// review: such a factory root was taken for a user-added one).
func (p *Provisioner) proofBundle(r *DeviceRecord) (*certs.Bundle, bool) {
	_, factory := amt.LookupDefaultRootHash(r.MatchedRoot)
	known := r.MatchedRoot.Valid() && r.MatchedRoot.Alg == amt.HashSHA256
	var same *certs.Bundle
	for i := range p.cfg.Bundles {
		b := &p.cfg.Bundles[i]
		if r.Bundle != "" && bundleID(*b) == r.Bundle {
			same = b
			break
		}
		if same == nil && r.MatchedRoot.Valid() && b.RootHash(r.MatchedRoot.Alg).Equal(r.MatchedRoot) {
			same = b
		}
	}
	if same != nil {
		_, f := amt.LookupDefaultRootHash(same.RootHash(amt.HashSHA256))
		factory = factory || f
		known = known || !r.MatchedRoot.Valid() || same.RootHash(r.MatchedRoot.Alg).Equal(r.MatchedRoot)
	}
	return same, factory || !known
}

// stateOverPin reads the provisioning state of r's device at addr as r's
// admin, over TLS pinned to the certificate r pinned before provisioning.
func (p *Provisioner) stateOverPin(ctx context.Context, r *DeviceRecord, addr string) (amt.ProvisioningState, error) {
	var pin [32]byte
	copy(pin[:], r.DeviceCertPin)
	user := r.AdminUser
	if user == "" {
		user = "admin"
	}
	c, err := amt.NewClient("https://"+addr+"/wsman", wsman.WithDialer(p.dialer()), wsman.WithCallTimeout(p.callTimeout()),
		wsman.WithRand(p.rand), wsman.WithClock(p.now), wsman.WithRSAKeyExchange(),
		wsman.WithDigestAuth(user, r.AdminPassword.Reveal()), wsman.WithTLS(wsman.PinSHA256(pin)))
	if err != nil {
		return 0, err
	}
	defer c.CloseIdleConnections()
	sc, err := amt.NewDevice(c).SetupAndConfiguration(ctx)
	if err != nil {
		return 0, err
	}
	return sc.ProvisioningState, nil
}

// firstLine is err's message up to its first line break.
func firstLine(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i]
	}
	return msg
}
