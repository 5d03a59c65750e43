package provisioning

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/internal/ctxwait"
)

// Provisioner runs one [Session] per device that sends a hello: it is what an
// integrator embeds. Build it with [New]; feed it hellos with
// [Provisioner.HandleHello] (the Handler of a [HelloListener], see
// [Provisioner.Serve]) or run a session synchronously with [Provisioner.Provision].
//
// A Provisioner is safe for concurrent use.
type Provisioner struct {
	cfg   Config
	store Store
	rand  io.Reader
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	log   *slog.Logger
	sem   chan struct{}

	// storeNeverWaits: the store is a *MemoryStore, whose calls take a
	// mutex and touch maps, never waiting on anything (storeContext).
	storeNeverWaits bool

	queued atomic.Int64 // sessions started by HandleHello and not yet ended

	// base is canceled when a Shutdown's context ends before the sessions do.
	base     context.Context
	stopBase context.CancelFunc
	// closing is set, under mu, when Shutdown begins; begin refuses new
	// sessions from then on.
	closing atomic.Bool

	mu        sync.Mutex
	slots     map[amt.UUID]*deviceSlot
	sessions  map[*Session]struct{}
	listeners map[*HelloListener]struct{} // those Serve runs, for Shutdown
	// running counts sessions (HandleHello's, Provision's, Resume's); idle
	// is closed (and replaced) whenever it drops to zero. Unlike a
	// WaitGroup, it allows new sessions while Wait is waiting.
	running int
	idle    chan struct{}

	// devMu serialises read-modify-write of one device's record within this
	// Provisioner (striped by UUID).
	devMu [64]sync.Mutex

	// owner names this Provisioner in device leases; held are the leases it
	// holds (guarded by mu), at most one per device.
	owner string
	held  map[amt.UUID]*heldLease
	// renewStop ends the lease renewer (nil: none runs); see startRenewer.
	renewStop chan struct{}
}

// deviceSlot holds the sessions running for one UUID. Several may run at once
// while none has proven its device (a slow impostor must not hold the UUID
// against the real device); the first to prove itself owns the device, and
// the others stop before they change anything.
type deviceSlot struct {
	sessions []*Session
	owner    *Session
}

// maxUnproven bounds the sessions that may run for one UUID before one of them
// proves its device.
const maxUnproven = 4

// New checks cfg and returns a Provisioner. It refuses a configuration that can
// never work, saying what to fix.
func New(cfg Config) (*Provisioner, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	p := &Provisioner{
		cfg:      cfg,
		store:    cfg.Store,
		rand:     cfg.Rand,
		now:      cfg.Now,
		sleep:    cfg.Sleep,
		log:      cfg.Logger,
		slots:    make(map[amt.UUID]*deviceSlot),
		sessions: make(map[*Session]struct{}),
	}
	p.base, p.stopBase = context.WithCancel(context.Background())
	if p.store == nil {
		p.store = NewMemoryStore()
	}
	_, p.storeNeverWaits = p.store.(*MemoryStore)
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.sleep == nil {
		p.sleep = ctxwait.Sleep
	}
	p.owner = cfg.Owner
	if p.owner == "" {
		o, err := defaultOwner(p.rand)
		if err != nil {
			return nil, err
		}
		p.owner = o
	}
	n := cfg.MaxSessions
	if n <= 0 {
		n = 64
	}
	p.sem = make(chan struct{}, n)
	return p, nil
}

// check refuses configurations that can never work.
func (cfg *Config) check() error {
	if cfg.Authorizer == nil {
		return &ConfigError{Field: "Authorizer", Problem: "required: set an InventoryList, an AuthorizerFunc or your own Authorizer"}
	}
	if cfg.LeaseTTL < 0 || cfg.LeaseTTL > 0 && cfg.LeaseTTL < time.Millisecond {
		return &ConfigError{Field: "LeaseTTL", Problem: fmt.Sprintf("%v: set at least a millisecond (in production well above the clock skew between provisioners), or zero for %v", cfg.LeaseTTL, DefaultLeaseTTL)}
	}
	if cfg.DevicePort < 0 || cfg.DevicePort > 65535 {
		return &ConfigError{Field: "DevicePort", Problem: fmt.Sprintf("%d is not a TCP port: set 1 to 65535, or zero for 16993", cfg.DevicePort)}
	}
	def := cfg.defaultProfile()
	if cfg.Profiles != nil {
		if _, ok := cfg.Profiles[def]; !ok {
			names := make([]string, 0, len(cfg.Profiles))
			for n := range cfg.Profiles {
				names = append(names, fmt.Sprintf("%q", n))
			}
			sort.Strings(names)
			return &ConfigError{Field: "DefaultProfile", Problem: fmt.Sprintf("profile %q, used for devices whose inventory names none, is not among Profiles (%v): add it or set DefaultProfile", def, names)}
		}
	}
	for name, p := range cfg.Profiles {
		if p.Name == "" {
			p.Name = name // here only: the caller's map is read, never written (one Config may serve several provisioners)
		}
		if err := p.Validate(); err != nil {
			return err
		}
		if (p.TLS != nil || p.network().needsIssuer()) && cfg.Issuer == nil {
			return &ConfigError{Field: "Issuer", Problem: "profile " + name + " needs certificates but no Issuer is set (provisioning.NewCA makes one from a CA bundle)"}
		}
		if p.RequireOnDie && cfg.OnDieRoots == nil {
			return &ConfigError{Field: "OnDieRoots", Problem: "profile " + name + " requires On-Die verification but no On-Die roots are set: every device would be refused"}
		}
		if p.TLS != nil && p.TLS.MutualAuthentication && cfg.ClientCertificate == nil {
			return &ConfigError{Field: "ClientCertificate", Problem: "profile " + name + " requires mutual TLS: every later connection to its devices must present a client certificate"}
		}
	}
	for i, b := range cfg.Bundles {
		field := fmt.Sprintf("Bundles[%d]", i)
		leaf := b.Leaf()
		if leaf == nil || b.Key == nil {
			return &ConfigError{Field: field, Problem: "needs a chain and a key"}
		}
		if err := b.CheckKey(); err != nil {
			return &ConfigError{Field: field, Problem: err.Error()}
		}
		if _, ok := b.Key.Public().(*rsa.PublicKey); !ok {
			return &ConfigError{Field: field, Problem: fmt.Sprintf("AMT accepts only RSA provisioning keys; the key is %T", b.Key.Public())}
		}
		// Bundle.Root, as certs and host-based activation judge it: a root
		// self-signed with SHA-1 is a root (the factory roots of older
		// fleets; certs.CheckProvisioning's AllowSHA1Root decides about
		// them), which crypto/x509's CheckSignatureFrom refuses outright.
		root := b.Chain[len(b.Chain)-1]
		if b.Root() == nil {
			return &ConfigError{Field: field, Problem: fmt.Sprintf("the chain of %q ends at %q, which is not a self-signed root: AMT matches the hash of the root, so the chain must include it (add the root certificate to the PKCS#12 or PEM file)", leaf.Subject.CommonName, root.Subject.CommonName)}
		}
	}
	return nil
}

func (cfg *Config) defaultProfile() string {
	if cfg.DefaultProfile != "" {
		return cfg.DefaultProfile
	}
	return DefaultProfileName
}

// Store returns the store the Provisioner records sessions in.
func (p *Provisioner) Store() Store { return p.store }

// InSession reports whether a hello for uuid from source would be dropped as a
// duplicate: a session for uuid has proven its device, or one from the same
// source address is running, or the UUID has as many unproven sessions as
// allowed. It is a [HelloListener]'s InSession hook.
func (p *Provisioner) InSession(uuid amt.UUID, source netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.admits(uuid, source)
}

// admits reports whether a session for uuid from source may start; p.mu held.
func (p *Provisioner) admits(uuid amt.UUID, source netip.AddrPort) bool {
	sl := p.slots[uuid]
	if sl == nil {
		return true
	}
	if sl.owner != nil || len(sl.sessions) >= maxUnproven {
		return false
	}
	for _, s := range sl.sessions {
		if s.hello.Source.Addr() == source.Addr() {
			return false
		}
	}
	return true
}

// claim registers s for its UUID if the UUID admits it.
func (p *Provisioner) claim(s *Session) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := s.hello.Hello.UUID
	if !p.admits(u, s.hello.Source) {
		return false
	}
	sl := p.slots[u]
	if sl == nil {
		sl = &deviceSlot{}
		p.slots[u] = sl
	}
	sl.sessions = append(sl.sessions, s)
	p.sessions[s] = struct{}{}
	return true
}

// own makes s the owner of its UUID, unless another session proved first.
func (p *Provisioner) own(s *Session) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sl := p.slots[s.hello.Hello.UUID]
	if sl == nil {
		return false
	}
	if sl.owner == nil {
		sl.owner = s
	}
	return sl.owner == s
}

func (p *Provisioner) release(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sessions, s)
	u := s.hello.Hello.UUID
	sl := p.slots[u]
	if sl == nil {
		return
	}
	for i, x := range sl.sessions {
		if x == s {
			sl.sessions = append(sl.sessions[:i], sl.sessions[i+1:]...)
			break
		}
	}
	if sl.owner == s {
		sl.owner = nil
	}
	if len(sl.sessions) == 0 {
		delete(p.slots, u)
	}
}

// ExpectAgentRequest registers an agent-initiated provisioning request: the
// device's next hello is provisioned only if the OTP the device holds equals
// req.OTP. A second request for the same device replaces the first. The request
// is stored in the device's record (it survives a restart) until a session
// provisions the device; a device that answers with another OTP closes its own
// provisioning window and counts against the request, which is locked for
// Config.OTPLockout after Config.OTPMismatchLimit mismatches, but never spends
// it.
func (p *Provisioner) ExpectAgentRequest(ctx context.Context, req AgentRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if req.UUID.IsZero() {
		return &ConfigError{Field: "AgentRequest.UUID", Problem: "required"}
	}
	if noSystemUUID(req.UUID) {
		return &ConfigError{Field: "AgentRequest.UUID", Problem: "all FFh is SMBIOS's UUID not set yet: the device's hello would be rejected"}
	}
	if !agentOTPForm(req.OTP.Reveal()) {
		// What an agent can set over PTHI (amt/pthi, after Intel's LMS,
		// which counts the terminating NUL in 32 bytes).
		return &ConfigError{Field: "AgentRequest.OTP", Problem: fmt.Sprintf("must be 8 to 31 printable ASCII characters, got %d characters", req.OTP.Len())}
	}
	if isZeroOTP([]byte(req.OTP.Reveal())) {
		return &ConfigError{Field: "AgentRequest.OTP", Problem: "must not be all zero"}
	}
	if req.Expires.IsZero() {
		ttl := p.cfg.AgentRequestTTL
		if ttl <= 0 {
			ttl = 24 * time.Hour
		}
		req.Expires = p.now().Add(ttl)
	}
	if now := p.now(); !req.Expires.After(now) || req.Expires.Year() > 9999 {
		return &ConfigError{Field: "AgentRequest.Expires", Problem: fmt.Sprintf("must be after now (%s) and before the year 10000, got %s",
			now.UTC().Format(time.RFC3339), req.Expires.UTC().Format(time.RFC3339))}
	}
	req.Mismatches, req.LockedUntil = 0, time.Time{}
	return p.update(ctx, req.UUID, func(rec *DeviceRecord) error {
		if rec.Blocked {
			return Reject(ReasonNotApproved, "device %s is blocked", req.UUID)
		}
		r := req
		rec.Agent = &r
		return nil
	})
}

// update loads (or creates) a device's record, applies f and saves it, under
// the device's lock. It is the write of a lease-free writer (docs/state.md):
// when the compare-and-swap loses, it reloads the record and applies f
// again, so f must apply only the writer's own change.
func (p *Provisioner) update(ctx context.Context, u amt.UUID, f func(*DeviceRecord) error) error {
	mu := p.devLock(u)
	mu.Lock()
	defer mu.Unlock()
	for attempt := 0; ; attempt++ {
		rec, err := p.store.Load(ctx, u)
		switch {
		case errors.Is(err, ErrNotFound):
			rec = &DeviceRecord{UUID: u, FirstSeen: p.now()}
		case err != nil:
			return err
		}
		if err := f(rec); err != nil {
			return err
		}
		err = p.put(ctx, rec)
		if !errors.Is(err, ErrConflict) || attempt >= maxConflictRetries {
			return err
		}
	}
}

// maxConflictRetries bounds how often one write reloads after losing a
// compare-and-swap (each loss means another write succeeded).
const maxConflictRetries = 16

func (p *Provisioner) devLock(u amt.UUID) *sync.Mutex {
	return &p.devMu[int(u[0]^u[15])%len(p.devMu)]
}

// maxHistory bounds a record's step history (the newest entries are kept).
const maxHistory = 64

// save writes a record of a device this Provisioner holds the lease of: a
// session that owns its device, the Maintainer or Unprovision.
func (p *Provisioner) save(ctx context.Context, r *DeviceRecord) error {
	mu := p.devLock(r.UUID)
	mu.Lock()
	defer mu.Unlock()
	return p.saveLocked(ctx, r)
}

// saveLocked is save with the device's lock held. It checks the lease first
// (renewing it when due): a holder that lost its lease writes nothing more.
// When the compare-and-swap loses, the record is reloaded and r becomes the
// merge of the two (mergeRecordAs: the holder's changes since it read the
// record, over what others wrote); r is then what the store holds, with its
// new Version.
func (p *Provisioner) saveLocked(ctx context.Context, r *DeviceRecord) error {
	h := p.heldFor(r.UUID)
	if h != nil {
		if err := p.check(h); err != nil {
			return fmt.Errorf("provisioning: not saving %s: %w", r.UUID, err)
		}
	}
	// A record is saved even when the session's context has just ended.
	sctx, cancel := p.storeContext(ctx)
	defer cancel()
	var base *DeviceRecord
	if h != nil {
		h.mu.Lock()
		base = h.base
		h.mu.Unlock()
	}
	for attempt := 0; ; attempt++ {
		var err error
		if h != nil {
			err = p.putFenced(sctx, r, h)
		} else {
			err = p.put(sctx, r)
		}
		if err == nil {
			if h != nil {
				h.mu.Lock()
				h.base = mergeBase(r)
				h.mu.Unlock()
			}
			return nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= maxConflictRetries {
			return err
		}
		if h != nil {
			// Whoever wrote may hold the lease now: a holder that lost it
			// merges nothing.
			if err := p.renew(h); err != nil {
				return fmt.Errorf("provisioning: not saving %s: %w", r.UUID, err)
			}
		}
		cur, err := p.store.Load(sctx, r.UUID)
		switch {
		case errors.Is(err, ErrNotFound):
			cur = nil
		case err != nil:
			return err
		}
		_, proven := holderOf(h).(*Session)
		merged, err := mergeRecordAs(base, r, cur, proven)
		if err != nil {
			return err
		}
		// r now holds cur's writes: the next merge is against cur.
		base = nil
		if cur != nil {
			base = mergeBase(cur)
		}
		if old := r.Session; old != nil && merged.Session != nil {
			// A running session keeps a pointer to its progress (the record's
			// Session) and records each action there: the merge result is
			// copied into that same SessionRecord, so that what the session
			// records after this save still reaches the store.
			*old = *merged.Session
			merged.Session = old
		}
		*r = *merged
	}
}

// put stamps and bounds r and saves it (one compare-and-swap).
func (p *Provisioner) put(ctx context.Context, r *DeviceRecord) error {
	p.stamp(r)
	sctx, cancel := p.storeContext(ctx)
	defer cancel()
	return p.store.Save(sctx, r)
}

func (p *Provisioner) stamp(r *DeviceRecord) {
	r.UpdatedAt = p.now()
	if n := len(r.History); n > maxHistory {
		r.History = append(r.History[:0:0], r.History[n-maxHistory:]...)
	}
	// Error texts quote what devices answered (a fault's reason, a
	// realm): a hostile device must not make a record too large to store.
	r.LastError = clip(r.LastError)
	r.ReconcileError = clip(r.ReconcileError)
	for i := range r.History {
		h := &r.History[i]
		h.Error, h.Detail = clip(h.Error), clip(h.Detail)
	}
}

// maxRecordText bounds each error text and detail a record keeps.
const maxRecordText = 2048

// clip cuts s to at most maxRecordText bytes, at a character boundary.
func clip(s string) string {
	if len(s) <= maxRecordText {
		return s
	}
	const more = " …"
	cut := maxRecordText - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// putFenced is put for the holder of h: with a store that can, the save is
// fenced by the lease (FencedSaver), so that a holder that stalled past its
// lease writes nothing once another provisioner took it. A lost lease is
// remembered: the holder writes nothing more.
func (p *Provisioner) putFenced(ctx context.Context, r *DeviceRecord, h *heldLease) error {
	fs, ok := p.store.(FencedSaver)
	if !ok {
		return p.put(ctx, r)
	}
	h.mu.Lock()
	l := h.lease
	h.mu.Unlock()
	p.stamp(r)
	sctx, cancel := p.storeContext(ctx)
	defer cancel()
	err := fs.SaveFenced(sctx, r, l)
	if errors.Is(err, ErrLeaseLost) {
		h.mu.Lock()
		if h.lost == nil {
			h.lost = err
		}
		h.mu.Unlock()
		return fmt.Errorf("provisioning: not saving %s: %w", r.UUID, err)
	}
	return err
}

// saveIfDiscovery writes the outcome of an unproven session's step, but only
// where the stored record holds nothing of value (see DeviceRecord.discovery).
// It is a lease-free write: on a lost compare-and-swap it reloads and decides
// again.
func (p *Provisioner) saveIfDiscovery(ctx context.Context, r *DeviceRecord) error {
	// The outcome is saved even after a cancel, within storeContext's bound:
	// a store that hangs must not hold the session (its slot, its devLock
	// stripe) for ever.
	ctx, cancel := p.storeContext(ctx)
	defer cancel()
	mu := p.devLock(r.UUID)
	mu.Lock()
	defer mu.Unlock()
	for attempt := 0; ; attempt++ {
		cur, err := p.store.Load(ctx, r.UUID)
		switch {
		case errors.Is(err, ErrNotFound):
			cur = &DeviceRecord{UUID: r.UUID, FirstSeen: r.FirstSeen}
		case err != nil:
			return err
		case !cur.discovery():
			return nil
		}
		last := r.History[len(r.History)-1]
		if last.Step == StepAuthorize {
			cur.Attempts++
		}
		cur.Source, cur.HelloVersion = r.Source, r.HelloVersion
		if r.LastSeen.After(cur.LastSeen) {
			cur.LastSeen = r.LastSeen
		}
		if r.Inventory.FQDN != "" {
			cur.Inventory = r.Inventory
		}
		cur.State, cur.Reason, cur.LastError = r.State, r.Reason, r.LastError
		cur.History = append(cur.History, last)
		err = p.put(ctx, cur)
		if !errors.Is(err, ErrConflict) || attempt >= maxConflictRetries {
			return err
		}
	}
}

// discovery reports whether the record holds only what hellos showed (and,
// perhaps, a pending agent request, whose OTP it never touches): no
// provisioning, no session in progress, no certificate, not blocked, and
// nothing a provisioning left that the device still has or that proves it —
// a password (the MEBx password survives a full unprovision), a network or
// MPS secret, a trusted root, its pin or On-Die verification. Sessions that
// have not proven their device may update such a record's outcome, and the
// Maintainer ages it out; no other.
func (r *DeviceRecord) discovery() bool {
	return r.Session == nil && !r.Provisioned() && len(r.Certificates) == 0 && !r.Blocked &&
		r.MEBxPassword.IsZero() && r.PendingMEBxPassword.IsZero() &&
		r.AdminPassword.IsZero() && r.PendingAdminPassword.IsZero() && len(r.Users) == 0 &&
		len(r.NetworkSecrets) == 0 && r.MPSPassword.IsZero() && len(r.TrustedRoots) == 0 &&
		len(r.DeviceCertPin) == 0 && !r.OnDieVerified
}

// otpMismatch counts a mismatching OTP against the device's pending agent
// request and locks the request at the limit. It reports whether it locked.
func (p *Provisioner) otpMismatch(ctx context.Context, u amt.UUID) (bool, error) {
	locked := false
	ctx, cancel := p.storeContext(ctx) // counted even after a cancel, within a bound
	defer cancel()
	err := p.update(ctx, u, func(rec *DeviceRecord) error {
		if rec.Agent == nil {
			return nil
		}
		rec.Agent.Mismatches++
		if rec.Agent.Mismatches >= p.otpMismatchLimit() {
			rec.Agent.Mismatches = 0
			rec.Agent.LockedUntil = p.now().Add(p.otpLockout())
			locked = true
		}
		return nil
	})
	return locked, err
}

func (p *Provisioner) otpMismatchLimit() int {
	if p.cfg.OTPMismatchLimit > 0 {
		return p.cfg.OTPMismatchLimit
	}
	return 3
}

func (p *Provisioner) otpLockout() time.Duration {
	if p.cfg.OTPLockout > 0 {
		return p.cfg.OTPLockout
	}
	return 15 * time.Minute
}

// ErrDuplicateSession is returned by Provision when a session for the device is
// already running.
var ErrDuplicateSession = errors.New("provisioning: a session for this device is already running")

// ErrShuttingDown is returned by Provision, Resume and Serve after Shutdown
// began.
var ErrShuttingDown = errors.New("provisioning: the provisioner is shutting down")

// HandleHello starts a session for h in the background and returns at once. It
// drops hellos of devices already in a session (see [Provisioner.InSession]).
// It has the signature of [HelloListener].Handler. Wait for background
// sessions with [Provisioner.Wait] or [Provisioner.Shutdown].
func (p *Provisioner) HandleHello(ctx context.Context, h ReceivedHello) {
	p.handleHello(ctx, h, nil)
}

// handleHello is HandleHello; when it starts a session it reports true, and
// the session calls done (when not nil) as it ends.
func (p *Provisioner) handleHello(ctx context.Context, h ReceivedHello, done func()) bool {
	drop := func(r Reason, why string) {
		p.emit(Event{Time: p.now(), Device: h.Hello.UUID, Source: h.Source, Step: StepAuthorize, State: StateNew, Reason: r, Detail: why})
	}
	if !p.begin() {
		drop(ReasonShuttingDown, "hello ignored: shutting down")
		return false
	}
	s := p.newSession(h)
	if !p.claim(s) {
		p.ended()
		drop(ReasonDuplicateSession, "hello ignored: session already running")
		return false
	}
	// Sessions beyond MaxSessions wait for a slot; beyond MaxQueued, hellos
	// are dropped (the device sends another), so a flood of hellos cannot pile
	// up goroutines without bound.
	if n := p.queued.Add(1); n > int64(p.maxQueued()) {
		p.queued.Add(-1)
		p.release(s)
		p.ended()
		drop(ReasonOverloaded, "hello dropped: too many sessions waiting")
		return false
	}
	go func() {
		if done != nil {
			defer done()
		}
		defer p.ended()
		defer p.release(s)
		defer p.queued.Add(-1)
		_, _ = p.runSession(ctx, s)
	}()
	return true
}

func (p *Provisioner) maxQueued() int {
	if p.cfg.MaxQueued > 0 {
		return p.cfg.MaxQueued
	}
	return 1024
}

// Provision runs a session for h to its end and returns the device's record.
// The error is nil when the device was provisioned; otherwise it is a
// *SessionError (errors.Is ErrRejected or ErrFailed; ReasonOf gives the code),
// ErrDuplicateSession or ErrShuttingDown.
func (p *Provisioner) Provision(ctx context.Context, h ReceivedHello) (*DeviceRecord, error) {
	if h.Hello == nil {
		return nil, &ConfigError{Field: "ReceivedHello.Hello", Problem: "nil"}
	}
	if !p.begin() {
		return nil, ErrShuttingDown
	}
	defer p.ended()
	s := p.newSession(h)
	if !p.claim(s) {
		return nil, ErrDuplicateSession
	}
	defer p.release(s)
	return p.runSession(ctx, s)
}

func (p *Provisioner) newSession(h ReceivedHello) *Session {
	return &Session{p: p, hello: h, started: p.now()}
}

// runSession runs s under MaxSessions, SessionTimeout and the Provisioner's
// own stop.
func (p *Provisioner) runSession(ctx context.Context, s *Session) (*DeviceRecord, error) {
	timeout := p.cfg.SessionTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(p.base, cancel)
	defer stop()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		err := &SessionError{Step: StepAuthorize, Reason: reasonForCtx(ctx.Err()), Err: ctx.Err()}
		h := s.hello
		p.emit(Event{Time: p.now(), Device: h.Hello.UUID, Source: h.Source, Step: StepAuthorize, State: StateNew, Reason: err.Reason, Err: err,
			Detail: "the session ended while it waited for a slot (MaxSessions); the device sends another hello"})
		return nil, err
	}
	defer func() { <-p.sem }()
	// The device's lease, taken when the session proved its device, is
	// released however the session ends (a callback's panic included, when
	// the caller recovers it: the lease would be renewed for ever).
	defer p.releaseSession(s)
	err := s.provision(ctx)
	return s.rec, err
}

// Wait blocks until every session — started by HandleHello, Provision or
// Resume — has ended. It may be called while hellos are still arriving.
func (p *Provisioner) Wait() {
	_ = p.WaitIdle(context.Background())
}

// WaitIdle blocks until no session (see [Provisioner.Wait]) is running or
// waiting for a slot, or until ctx ends (returning its error).
func (p *Provisioner) WaitIdle(ctx context.Context) error {
	p.mu.Lock()
	if p.running == 0 {
		p.mu.Unlock()
		return nil
	}
	ch := p.idle
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// begin counts a new session, unless Shutdown has begun: the check and the
// count are one step under mu, so a Shutdown that saw no session running
// never has one start behind it.
func (p *Provisioner) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return false
	}
	if p.running == 0 {
		p.idle = make(chan struct{})
	}
	p.running++
	return true
}

func (p *Provisioner) ended() {
	p.mu.Lock()
	p.running--
	if p.running == 0 {
		close(p.idle)
	}
	p.mu.Unlock()
}

// Serve runs a [HelloListener] on ln that feeds this Provisioner, until ctx is
// done or [Provisioner.Shutdown] is called. When ctx ends, the sessions it
// started are canceled (they see ctx done) and Serve waits for them; after
// Shutdown, it returns once the listener has stopped and Shutdown drains the
// sessions. Several Serve calls may run at once (an IPv4 and an IPv6
// listener); Shutdown stops them all. A Serve running when Shutdown is called
// returns nil once its listener has stopped; one called after Shutdown
// returns [ErrShuttingDown] at once.
func (p *Provisioner) Serve(ctx context.Context, ln net.Listener, configure ...func(*HelloListener)) error {
	l := p.Listener()
	for _, f := range configure {
		f(l)
	}
	// Sessions run under Serve's own context, not the listener's: a Shutdown
	// stops the listener and lets them finish; canceling ctx cancels them.
	// Serve waits for its own sessions when ctx ends (the listener's Serve
	// returns after its Handler calls, so no Add follows the Wait).
	var sessions sync.WaitGroup
	l.Handler = func(_ context.Context, h ReceivedHello) {
		sessions.Add(1)
		if !p.handleHello(ctx, h, sessions.Done) {
			sessions.Done()
		}
	}
	p.mu.Lock()
	if p.closing.Load() {
		p.mu.Unlock()
		ln.Close() // as the listener would have: Serve owns ln
		return ErrShuttingDown
	}
	if p.listeners == nil {
		p.listeners = make(map[*HelloListener]struct{})
	}
	p.listeners[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, l)
		p.mu.Unlock()
	}()
	err := l.Serve(ctx, ln)
	if ctx.Err() != nil {
		sessions.Wait()
	}
	if errors.Is(err, ErrListenerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on TCP at Config.ListenAddr (":9971", AMT's hello
// port, when empty) and calls [Provisioner.Serve], as http.Server's
// ListenAndServe does.
func (p *Provisioner) ListenAndServe(ctx context.Context, configure ...func(*HelloListener)) error {
	addr := cmp.Or(p.cfg.ListenAddr, DefaultListenAddr)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("provisioning: the hello listener cannot listen on %s (Config.ListenAddr): %w", addr, err)
	}
	return p.Serve(ctx, ln, configure...)
}

// DefaultListenAddr is where ListenAndServe listens when Config.ListenAddr is
// empty: every address, port 9971, where AMT sends its hellos.
const DefaultListenAddr = ":9971"

// Shutdown stops taking hellos — every listener Serve runs stops accepting,
// and HandleHello, Provision, Resume and Serve refuse new work (Provision,
// Resume and Serve return [ErrShuttingDown]) — and waits for every session
// in flight (see [Provisioner.Wait]) to finish, as http.Server.Shutdown does
// for requests. If ctx ends first, the remaining sessions are canceled (they
// end Failed with reason canceled, their records saved and resumable) and
// ctx's error is returned once they have ended: each saves its record within
// a 10-second bound, so Shutdown may return that long after ctx ends. The
// Maintainer's runs and reconciles are not sessions: stop them with their own
// context.
func (p *Provisioner) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing.Store(true)
	ls := make([]*HelloListener, 0, len(p.listeners))
	for l := range p.listeners {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	var lerr error
	for _, l := range ls {
		lerr = cmp.Or(lerr, l.Shutdown(ctx))
	}
	if err := p.WaitIdle(ctx); err != nil {
		p.stopBase()
		p.Wait()
		return err
	}
	return lerr
}

// Listener returns a new HelloListener wired to this Provisioner (Handler,
// InSession, Now, Logger), to serve yourself instead of [Provisioner.Serve]
// (it is not the listener Serve runs). Adjust its limits before serving. Its
// sessions do not end with the connection that brought their hello, nor when
// the listener stops (its Shutdown lets them run): they end by themselves,
// with [Provisioner.Shutdown] or [Config.SessionTimeout]. Wait for them with
// [Provisioner.Wait].
func (p *Provisioner) Listener() *HelloListener {
	handle := func(ctx context.Context, h ReceivedHello) { p.HandleHello(context.WithoutCancel(ctx), h) }
	return &HelloListener{Handler: handle, InSession: p.InSession, Now: p.cfg.Now, Logger: p.log}
}

// Sessions returns the sessions running now (for progress displays); read each
// one's State, Device, Source and Started.
func (p *Provisioner) Sessions() []*Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Session, 0, len(p.sessions))
	for s := range p.sessions {
		out = append(out, s)
	}
	return out
}

func (p *Provisioner) callTimeout() time.Duration {
	if p.cfg.CallTimeout > 0 {
		return p.cfg.CallTimeout
	}
	return 60 * time.Second
}

// Resume looks for sessions a previous Provisioner left running in the store
// (a record with a session in progress that had not ended) and runs each again:
// it reads the device's state first, so nothing non-idempotent is repeated. It
// also takes the sessions that ended commit-unconfirmed (CommitChanges sent,
// the device then unreachable for the whole read-back): such a device may be
// provisioned and then sends no hello, so only a read-back settles it; the
// resumed session reads the state and verifies, or commits again if the
// commit never arrived. It walks the store's sessions a page at a time, and
// leaves alone a device whose lease another provisioner holds (a live one
// works on it; a dead one's lease expires, and a later Resume takes the
// device). It reports each session through the Observer and returns when all
// have ended. A record the store cannot read (a *[RecordError]) is reported as
// an event and passed over. The Maintainer's runs settle commit-unconfirmed
// sessions too.
func (p *Provisioner) Resume(ctx context.Context) error {
	if p.closing.Load() {
		return ErrShuttingDown
	}
	_, err := p.resume(ctx, false, nil)
	return err
}

// unreadable reports, as an event of step, a stored record a walk of the store
// could not read and passed over. It returns whether err was one (false: err
// ends the walk).
func (p *Provisioner) unreadable(err error, step Step) bool {
	var re *RecordError
	if !errors.As(err, &re) {
		return false
	}
	p.emit(Event{Time: p.now(), Device: re.Device, Step: step, Reason: ReasonStoreFailed, Err: err,
		Detail: "the stored record cannot be read and was passed over: restore it from a backup, or put its sealing key back (docs/troubleshooting.md)"})
	return true
}

// commitUnsettled reports whether r's session ended commit-unconfirmed: the
// commit was sent, and whether it took effect is unknown.
func (r *DeviceRecord) commitUnsettled() bool {
	return r.Session != nil && r.State == StateFailed && r.Reason == ReasonCommitUnconfirmed && r.Session.Done.Has(DoneCommitSent)
}

// resume runs the sessions Resume describes; with onlyUnsettled, only those
// that ended commit-unconfirmed (the Maintainer's part). It reports how many
// it ran. A record the store cannot read is reported (unreadable) and passed
// over; seen, when not nil, is told of it first and decides whether it is
// reported (the Maintainer reports each device once a run).
func (p *Provisioner) resume(ctx context.Context, onlyUnsettled bool, seen func(error) bool) (int, error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	n := 0
	for r, err := range p.store.Records(ctx, Filter{SessionInProgress: true}) {
		if err != nil {
			if seen != nil && seen(err) || seen == nil && p.unreadable(err, StepAuthorize) {
				continue
			}
			return n, err
		}
		unsettled := r.commitUnsettled()
		if (r.State.Final() && !unsettled) || (onlyUnsettled && !unsettled) || r.Blocked || !r.Source.IsValid() {
			continue
		}
		h := ReceivedHello{
			Hello:    &hello.Message{Version: r.HelloVersion, UUID: r.UUID},
			Source:   r.Source,
			Received: p.now(),
		}
		if r.HelloVersion == 0 {
			h.Hello.Version = hello.VersionPKI
		}
		if r.Session.MatchedRoot.Valid() {
			h.Hello.Hashes = []amt.CertHash{r.Session.MatchedRoot}
		}
		if r.Session.PID != "" {
			copy(h.Hello.PID[:], r.Session.PID)
		}
		if !p.begin() {
			if onlyUnsettled {
				// The Maintainer's settling: the rest of its run (age-out,
				// renewals) goes on; the next run settles these.
				return n, nil
			}
			return n, ErrShuttingDown
		}
		s := p.newSession(h)
		if !p.claim(s) {
			p.ended()
			continue
		}
		if !p.leaseFree(ctx, r.UUID) {
			p.release(s)
			p.ended()
			continue
		}
		detail := "resuming session left in state " + r.State.String()
		if unsettled {
			detail = "resuming the session whose commit was not confirmed, to read the device's state"
		}
		p.emit(Event{Time: p.now(), Device: r.UUID, Source: r.Source, Step: StepAuthorize, State: r.State, Detail: detail})
		wg.Add(1)
		n++
		go func() {
			defer wg.Done()
			defer p.ended()
			defer p.release(s)
			_, _ = p.runSession(ctx, s)
		}()
	}
	return n, nil
}

// leaseFree reports whether this Provisioner could take u's lease now (it
// takes and releases it; the session takes it again when it proves the
// device).
func (p *Provisioner) leaseFree(ctx context.Context, u amt.UUID) bool {
	h, _, err := p.acquire(ctx, u, new(int))
	if err != nil {
		return false
	}
	p.endLease(h)
	return true
}

func (p *Provisioner) emit(e Event) {
	if p.log != nil {
		attrs := []any{"device", e.Device.String(), "step", string(e.Step), "state", e.State.String(), "duration", e.Duration}
		if e.Reason != "" {
			attrs = append(attrs, "reason", string(e.Reason))
		}
		if e.Err != nil {
			attrs = append(attrs, "error", e.Err.Error())
		}
		if e.Detail != "" {
			attrs = append(attrs, "detail", e.Detail)
		}
		level := slog.LevelInfo
		if e.Err != nil {
			level = slog.LevelWarn
		}
		p.log.Log(context.Background(), level, "provisioning", attrs...)
	}
	if p.cfg.Observer != nil {
		p.cfg.Observer(e)
	}
}

func (p *Provisioner) deviceAddr(h ReceivedHello, inv Inventory, port int) string {
	if p.cfg.DeviceAddress != nil {
		if a := p.cfg.DeviceAddress(h, inv, port); a != "" {
			return a
		}
	}
	if inv.Address != "" && port == p.tlsPort() {
		return inv.Address
	}
	ip := h.Source.Addr()
	if !ip.IsValid() {
		ip = netip.IPv6Loopback()
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(port))
}

func (p *Provisioner) tlsPort() int {
	if p.cfg.DevicePort > 0 {
		return p.cfg.DevicePort
	}
	return 16993
}

func (p *Provisioner) httpPort() int {
	if p.cfg.DeviceHTTPPort > 0 {
		return p.cfg.DeviceHTTPPort
	}
	return 16992
}

func isZeroOTP(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// agentOTPForm reports whether otp is an OTP an agent can set: 8 to 31
// printable ASCII characters.
func agentOTPForm(otp string) bool {
	if len(otp) < 8 || len(otp) > 31 {
		return false
	}
	for i := 0; i < len(otp); i++ {
		if c := otp[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// holderOf is h's holder (nil when h is).
func holderOf(h *heldLease) any {
	if h == nil {
		return nil
	}
	return h.holder
}
