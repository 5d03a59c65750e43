package provisioning

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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

	queued atomic.Int64 // sessions started by HandleHello and not yet ended

	mu       sync.Mutex
	active   map[amt.UUID]struct{}
	sessions map[*Session]struct{}
	// running counts sessions started by HandleHello; idle is closed (and
	// replaced) whenever it drops to zero. Unlike a WaitGroup, it allows
	// HandleHello while Wait is waiting.
	running int
	idle    chan struct{}
}

// New checks cfg and returns a Provisioner.
func New(cfg Config) (*Provisioner, error) {
	if cfg.Authorizer == nil {
		return nil, &ConfigError{Field: "Authorizer", Problem: "required"}
	}
	for name, p := range cfg.Profiles {
		if p.Name == "" {
			p.Name = name
			cfg.Profiles[name] = p
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if (p.TLS != nil || p.IEEE8021X != nil) && cfg.Issuer == nil {
			return nil, &ConfigError{Field: "Issuer", Problem: "profile " + name + " needs certificates but no Issuer is set"}
		}
	}
	for i, b := range cfg.Bundles {
		if b.Leaf() == nil || b.Key == nil {
			return nil, &ConfigError{Field: fmt.Sprintf("Bundles[%d]", i), Problem: "needs a chain and a key"}
		}
		if err := b.CheckKey(); err != nil {
			return nil, &ConfigError{Field: fmt.Sprintf("Bundles[%d]", i), Problem: err.Error()}
		}
	}
	p := &Provisioner{
		cfg:      cfg,
		store:    cfg.Store,
		rand:     cfg.Rand,
		now:      cfg.Now,
		sleep:    cfg.Sleep,
		log:      cfg.Logger,
		active:   make(map[amt.UUID]struct{}),
		sessions: make(map[*Session]struct{}),
	}
	if p.store == nil {
		p.store = NewMemoryStore()
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.sleep == nil {
		p.sleep = ctxwait.Sleep
	}
	n := cfg.MaxSessions
	if n <= 0 {
		n = 64
	}
	p.sem = make(chan struct{}, n)
	return p, nil
}

// Store returns the store the Provisioner records sessions in.
func (p *Provisioner) Store() Store { return p.store }

// InSession reports whether a session for uuid is running. Use it as a
// [HelloListener]'s InSession hook so repeated hellos are dropped early.
func (p *Provisioner) InSession(uuid amt.UUID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.active[uuid]
	return ok
}

// ExpectAgentRequest registers an agent-initiated provisioning request: the
// device's next hello is provisioned only if the OTP the device holds equals
// req.OTP. A second request for the same device replaces the first. The request
// is stored in the device's record (it survives a restart) until a session
// uses it: a provisioned device or an OTP mismatch consumes it; an impostor's
// failed session does not.
func (p *Provisioner) ExpectAgentRequest(ctx context.Context, req AgentRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if req.UUID.IsZero() {
		return &ConfigError{Field: "AgentRequest.UUID", Problem: "required"}
	}
	if n := req.OTP.Len(); n < 8 || n > 32 {
		return &ConfigError{Field: "AgentRequest.OTP", Problem: fmt.Sprintf("must be 8 to 32 characters, got %d", n)}
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
	// The request is kept in the device's record, so a restarted provisioner
	// still expects it.
	rec, err := p.store.Load(ctx, req.UUID)
	switch {
	case errors.Is(err, ErrNotFound):
		rec = &DeviceRecord{UUID: req.UUID, FirstSeen: p.now()}
	case err != nil:
		return err
	}
	if rec.Blocked {
		return Reject(ReasonNotApproved, "device %s is blocked", req.UUID)
	}
	r := req
	rec.Agent = &r
	rec.UpdatedAt = p.now()
	return p.store.Save(ctx, rec)
}

// ErrDuplicateSession is returned by Provision when a session for the device is
// already running.
var ErrDuplicateSession = errors.New("provisioning: a session for this device is already running")

// HandleHello starts a session for h in the background and returns at once. It
// drops hellos of devices already in a session. It has the signature of
// [HelloListener].Handler. Wait for background sessions with [Provisioner.Wait].
func (p *Provisioner) HandleHello(ctx context.Context, h ReceivedHello) {
	if !p.claim(h.Hello.UUID) {
		p.emit(Event{Time: p.now(), Device: h.Hello.UUID, Source: h.Source, Step: StepAuthorize, State: StateNew,
			Reason: ReasonDuplicateSession, Detail: "hello ignored: session already running"})
		return
	}
	// Sessions beyond MaxSessions wait for a slot; beyond MaxQueued, hellos
	// are dropped (the device sends another), so a flood of hellos cannot pile
	// up goroutines without bound.
	if n := p.queued.Add(1); n > int64(p.maxQueued()) {
		p.queued.Add(-1)
		p.release(h.Hello.UUID)
		p.emit(Event{Time: p.now(), Device: h.Hello.UUID, Source: h.Source, Step: StepAuthorize, State: StateNew,
			Reason: ReasonOverloaded, Detail: "hello dropped: too many sessions waiting"})
		return
	}
	p.started()
	go func() {
		defer p.ended()
		defer p.release(h.Hello.UUID)
		defer p.queued.Add(-1)
		_, _ = p.run(ctx, h)
	}()
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
// or ErrDuplicateSession.
func (p *Provisioner) Provision(ctx context.Context, h ReceivedHello) (*DeviceRecord, error) {
	if h.Hello == nil {
		return nil, &ConfigError{Field: "ReceivedHello.Hello", Problem: "nil"}
	}
	if !p.claim(h.Hello.UUID) {
		return nil, ErrDuplicateSession
	}
	defer p.release(h.Hello.UUID)
	return p.run(ctx, h)
}

// Wait blocks until every session started by HandleHello has ended.
// It may be called while hellos are still arriving.
func (p *Provisioner) Wait() {
	p.mu.Lock()
	if p.running == 0 {
		p.mu.Unlock()
		return
	}
	ch := p.idle
	p.mu.Unlock()
	<-ch
}

func (p *Provisioner) started() {
	p.mu.Lock()
	if p.running == 0 {
		p.idle = make(chan struct{})
	}
	p.running++
	p.mu.Unlock()
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
// done; then it waits for running sessions (which see ctx canceled).
func (p *Provisioner) Serve(ctx context.Context, ln net.Listener, configure ...func(*HelloListener)) error {
	l := p.Listener()
	for _, f := range configure {
		f(l)
	}
	err := l.Serve(ctx, ln)
	p.Wait()
	return err
}

// Listener returns a HelloListener wired to this Provisioner (Handler,
// InSession, Now, Logger). Adjust its limits before serving.
func (p *Provisioner) Listener() *HelloListener {
	return &HelloListener{Handler: p.HandleHello, InSession: p.InSession, Now: p.cfg.Now, Logger: p.log}
}

// Sessions returns the sessions running now (for progress displays); read each
// one's State, Device and Started.
func (p *Provisioner) Sessions() []*Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Session, 0, len(p.sessions))
	for s := range p.sessions {
		out = append(out, s)
	}
	return out
}

func (p *Provisioner) track(s *Session) {
	p.mu.Lock()
	p.sessions[s] = struct{}{}
	p.mu.Unlock()
}

func (p *Provisioner) untrack(s *Session) {
	p.mu.Lock()
	delete(p.sessions, s)
	p.mu.Unlock()
}

func (p *Provisioner) callTimeout() time.Duration {
	if p.cfg.CallTimeout > 0 {
		return p.cfg.CallTimeout
	}
	return 60 * time.Second
}

func (p *Provisioner) claim(u amt.UUID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.active[u]; ok {
		return false
	}
	p.active[u] = struct{}{}
	return true
}

func (p *Provisioner) release(u amt.UUID) {
	p.mu.Lock()
	delete(p.active, u)
	p.mu.Unlock()
}

// Resume looks for sessions a previous Provisioner left unfinished in the store
// and runs each again (reading the device's state first, so nothing
// non-idempotent is repeated). It reports each through the Observer and
// returns when all have ended.
func (p *Provisioner) Resume(ctx context.Context) error {
	recs, err := p.store.List(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, r := range recs {
		if r.State == StateNew || r.State.Final() || r.Blocked || !r.Source.IsValid() {
			continue
		}
		h := ReceivedHello{
			Hello:    &hello.Message{Version: r.HelloVersion, UUID: r.UUID, Hashes: nil},
			Source:   r.Source,
			Received: p.now(),
		}
		if r.HelloVersion == 0 {
			h.Hello.Version = hello.VersionPKI
		}
		if r.MatchedRoot.Valid() {
			h.Hello.Hashes = []amt.CertHash{r.MatchedRoot}
		}
		if r.PID != "" {
			copy(h.Hello.PID[:], r.PID)
		}
		if !p.claim(r.UUID) {
			continue
		}
		p.emit(Event{Time: p.now(), Device: r.UUID, Source: r.Source, Step: StepAuthorize, State: r.State,
			Detail: "resuming session left in state " + r.State.String()})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.release(h.Hello.UUID)
			_, _ = p.run(ctx, h)
		}()
	}
	wg.Wait()
	return nil
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
