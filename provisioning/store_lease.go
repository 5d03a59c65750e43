package provisioning

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// DefaultLeaseTTL is the lease TTL when Config.LeaseTTL is zero.
const DefaultLeaseTTL = time.Minute

// heldLease is a device lease this Provisioner holds: for one session (from
// the moment it proved its device to its end), for the Maintainer working on
// the device, or for Unprovision. The Provisioner's renewer renews it when a
// third of the TTL has passed, and it is checked before each save; base is
// the record as last read or written under it, for merging after a lost
// compare-and-swap.
type heldLease struct {
	holder any // the *Session, or a token of the Maintainer or Unprovision

	mu    sync.Mutex
	lease Lease
	lost  error
	ended bool // released: the renewer leaves it alone
	base  *DeviceRecord
}

func (p *Provisioner) leaseTTL() time.Duration {
	if p.cfg.LeaseTTL > 0 {
		return p.cfg.LeaseTTL
	}
	return DefaultLeaseTTL
}

// defaultOwner names a Provisioner that was given no Owner: the host name and
// 8 random bytes.
func defaultOwner(rand io.Reader) (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "amtkit"
	}
	var b [8]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("provisioning: naming the provisioner's leases: %w", err)
	}
	return host + "-" + hex.EncodeToString(b[:]), nil
}

// Owner returns the name this Provisioner takes device leases under
// (Config.Owner, or the random name it chose).
func (p *Provisioner) Owner() string { return p.owner }

// acquire takes u's lease for holder: refused when a holder of this
// Provisioner has it (ReasonDuplicateSession) or another provisioner does
// (ErrLeaseHeld); then it reads the record under the lease (nil: none) and
// starts renewing.
func (p *Provisioner) acquire(ctx context.Context, u amt.UUID, holder any) (*heldLease, *DeviceRecord, error) {
	p.mu.Lock()
	if p.held == nil {
		p.held = make(map[amt.UUID]*heldLease)
	}
	if _, busy := p.held[u]; busy {
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: this provisioner is working on %s", ErrLeaseHeld, u)
	}
	h := &heldLease{holder: holder}
	p.held[u] = h
	p.mu.Unlock()

	sctx, cancel := p.storeContext(ctx)
	defer cancel()
	l, err := p.store.AcquireLease(sctx, u, p.owner, p.now(), p.leaseTTL())
	if err != nil {
		h.mu.Lock()
		h.ended = true
		h.mu.Unlock()
		p.forget(u, h)
		return nil, nil, err
	}
	h.mu.Lock()
	h.lease = l
	h.mu.Unlock()
	p.startRenewer()
	cur, err := p.store.Load(sctx, u)
	switch {
	case errors.Is(err, ErrNotFound):
		cur = nil
	case err != nil:
		p.endLease(h)
		return nil, nil, err
	}
	if cur != nil {
		h.base = mergeBase(cur)
	}
	return h, cur, nil
}

// storeContext bounds a store call that must happen even when the caller's
// context has just ended (a record is saved, a lease released). A
// MemoryStore's calls never wait, so the bound could never fire: its calls
// get the caller's values without its cancellation and no timer (a timer
// context cost four allocations and a timer started and stopped, about 40
// times per provisioned device).
func (p *Provisioner) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.storeNeverWaits {
		return context.WithoutCancel(ctx), func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

func (p *Provisioner) forget(u amt.UUID, h *heldLease) {
	p.mu.Lock()
	if p.held[u] == h {
		delete(p.held, u)
	}
	if len(p.held) == 0 && p.renewStop != nil {
		close(p.renewStop) // the renewer ends with the last lease
		p.renewStop = nil
	}
	p.mu.Unlock()
}

// heldFor returns the lease this Provisioner holds for u, if any.
func (p *Provisioner) heldFor(u amt.UUID) *heldLease {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[u]
}

// renewConcurrency bounds the renewals one round of the renewer runs at
// once (a store round trip each).
const renewConcurrency = 8

// startRenewer starts the Provisioner's lease renewer unless it runs. One
// goroutine renews every lease the Provisioner holds — not one per session,
// which cost a goroutine stack per device in flight (docs/PERFORMANCE.md) —
// and ends with the last lease.
func (p *Provisioner) startRenewer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.renewStop != nil || len(p.held) == 0 {
		return
	}
	stop := make(chan struct{})
	p.renewStop = stop
	go p.renewLoop(stop)
}

// renewLoop wakes every sixth of the TTL and renews the leases of which a
// third of the TTL has passed, so each is renewed between a third and a half
// of its TTL. It waits on a real timer: renewal is about other processes'
// clocks, not the injected Sleep of retry loops.
func (p *Provisioner) renewLoop(stop chan struct{}) {
	t := time.NewTicker(p.leaseTTL() / 6)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		due := make([]*heldLease, 0, len(p.held))
		for _, h := range p.held {
			due = append(due, h)
		}
		p.mu.Unlock()
		work := newDevicePool(renewConcurrency)
		for _, h := range due {
			h.mu.Lock()
			skip := h.ended || h.lost != nil || h.lease.Owner == "" || h.lease.Expires.Sub(p.now()) > p.leaseTTL()*2/3
			h.mu.Unlock()
			if skip {
				continue
			}
			work.do(context.Background(), func() {
				_ = p.renew(h) // a lost lease is recorded in h; others are retried next round
			})
		}
		work.wait()
	}
}

func (p *Provisioner) renew(h *heldLease) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost != nil {
		return h.lost
	}
	if h.ended {
		return nil
	}
	ctx, cancel := p.storeContext(context.Background())
	defer cancel()
	l, err := p.store.RenewLease(ctx, h.lease, p.now(), p.leaseTTL())
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			h.lost = err
		}
		return err
	}
	h.lease = l
	return nil
}

// check is the lease check before a save: it fails once the lease is lost,
// and renews it when less than two thirds of the TTL remain (so that a
// holder whose background renewals failed finds out before it writes).
func (p *Provisioner) check(h *heldLease) error {
	h.mu.Lock()
	lost, expires := h.lost, h.lease.Expires
	h.mu.Unlock()
	if lost != nil {
		return lost
	}
	if expires.Sub(p.now()) > p.leaseTTL()*2/3 {
		return nil
	}
	return p.renew(h)
}

// endLease stops renewing h and releases it. A renewal in flight finishes
// first (it holds h.mu).
func (p *Provisioner) endLease(h *heldLease) {
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return // ended already
	}
	h.ended = true
	l, lost := h.lease, h.lost
	h.mu.Unlock()
	if lost == nil && l.Owner != "" {
		ctx, cancel := p.storeContext(context.Background())
		if err := p.store.ReleaseLease(ctx, l); err != nil && p.log != nil {
			p.log.Warn("provisioning: releasing a device lease failed; it expires on its own", "device", l.Device.String(), "error", err.Error())
		}
		cancel()
	}
	p.forget(l.Device, h)
}

// leaseDevice is the Maintainer's and Unprovision's way to work on a device:
// its lease, and its record read under it. The returned function releases
// the lease.
func (p *Provisioner) leaseDevice(ctx context.Context, u amt.UUID) (*DeviceRecord, func(), error) {
	h, cur, err := p.acquire(ctx, u, new(int))
	if err != nil {
		return nil, nil, err
	}
	if cur == nil {
		p.endLease(h)
		return nil, nil, fmt.Errorf("%w: %s (this Provisioner's Config.Store has no record of it: provisioned by another store, or never)", ErrNotFound, u)
	}
	return cur, func() { p.endLease(h) }, nil
}

// leaseSession is the lease hook of [Session.prove]: the session takes its
// device's lease and reads the record under it. The record must still be
// what authorize saw in every respect that shaped the session — the session
// it resumes (or none), a verified provisioning and the device certificate
// pinned for it, the agent request it verified, not blocked — otherwise
// another session got there first and this one stops (the device's next
// hello, or Resume, starts from the record as it is). It returns the record
// the session continues with: a copy of the stored one (or a new one) with
// the session's history so far and its attempt counted once.
func (p *Provisioner) leaseSession(ctx context.Context, s *Session, a *attempt) (*DeviceRecord, error) {
	cur, err := p.leaseSessionRecord(ctx, s, a)
	if err != nil {
		return nil, err
	}
	var rec *DeviceRecord
	if cur == nil {
		rec = &DeviceRecord{UUID: s.hello.Hello.UUID, FirstSeen: s.hello.Received}
	} else {
		rec = cur.Clone()
	}
	counted := false // an unproven step of this session stored its attempt already
	if s.rec != nil && len(s.rec.History) > 0 {
		first := s.rec.History[0]
		for _, e := range rec.History {
			if e.Step == first.Step && e.At.Equal(first.At) && e.State == first.State {
				counted = true
			}
		}
		rec.History = mergeHistory(rec.History, s.rec.History)
	}
	if !counted {
		rec.Attempts++
	}
	return rec, nil
}

func (p *Provisioner) leaseSessionRecord(ctx context.Context, s *Session, a *attempt) (*DeviceRecord, error) {
	u := s.hello.Hello.UUID
	h, cur, err := p.acquire(ctx, u, s)
	if err != nil {
		var held *LeaseHeldError
		switch {
		case errors.As(err, &held):
			return nil, Reject(ReasonDuplicateSession, "provisioner %q is working on %s (its lease ends %s unless renewed)", held.Owner, u, held.Expires.Format(time.RFC3339))
		case errors.Is(err, ErrLeaseHeld):
			return nil, Reject(ReasonDuplicateSession, "%v", err)
		case ctx.Err() != nil:
			return nil, &SessionError{Reason: reasonForCtx(ctx.Err()), Err: ctx.Err()}
		}
		return nil, &SessionError{Reason: ReasonStoreFailed, Err: fmt.Errorf("taking the device's lease: %w", err)}
	}
	if why := changedSinceAuthorize(a, cur); why != "" {
		p.endLease(h)
		if cur != nil && cur.Blocked {
			return nil, Reject(ReasonNotApproved, "device %s was blocked", u)
		}
		return nil, Reject(ReasonDuplicateSession, "another session changed %s's record since this one began (%s); the next hello or Resume continues from it", u, why)
	}
	return cur, nil
}

// changedSinceAuthorize says what of the record (now: cur) differs from what
// authorize read (a.prior) in a way that matters to the session, or "".
func changedSinceAuthorize(a *attempt, cur *DeviceRecord) string {
	prior := a.prior
	if prior == nil {
		prior = &DeviceRecord{}
	}
	if cur == nil {
		cur = &DeviceRecord{}
	}
	agentOf := func(r *DeviceRecord) (amt.Secret, string) {
		if r.Agent == nil {
			return amt.Secret{}, ""
		}
		return r.Agent.OTP, r.Agent.Expires.String()
	}
	po, pe := agentOf(prior)
	co, ce := agentOf(cur)
	switch {
	case cur.Blocked:
		return "blocked"
	case !reflect.DeepEqual(prior.Session, cur.Session):
		return "its session in progress"
	case prior.Provisioned() != cur.Provisioned():
		return "its provisioning"
	case !bytes.Equal(prior.DeviceCertPin, cur.DeviceCertPin) || prior.OnDieVerified != cur.OnDieVerified:
		return "the device certificate it is known by"
	case !po.Equal(co) || pe != ce:
		return "its agent request"
	}
	return ""
}

// releaseSession ends the lease s holds, if any: called when the session ends.
func (p *Provisioner) releaseSession(s *Session) {
	if h := p.heldFor(s.hello.Hello.UUID); h != nil && h.holder == s {
		p.endLease(h)
	}
}
