package provisioning

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/wsman"
)

// Session is one device's provisioning, from hello to Provisioned (or Rejected,
// or Failed). Its steps run in order, each a method written straight through:
// authorize, connect, identify, the OTP check, configure, commit, verify. Before
// each next step the device's record is saved, so a restarted Provisioner can
// report the session and resume it.
type Session struct {
	p       *Provisioner
	hello   ReceivedHello
	rec     *DeviceRecord
	state   State
	shared  atomic.Uint32 // state, for Provisioner.Sessions
	started time.Time

	inv     Inventory
	profile Profile
	bundle  *certs.Bundle
	agent   *AgentRequest
	resumed bool

	// prior is the device's stored record when the session began. Until the
	// device has proven itself (identify: UUID confirmed, provisioning state
	// right), the stored record is not changed except for a history entry: a
	// hello proves nothing, and an impostor's session must not overwrite a real
	// device's credentials or progress.
	prior      *DeviceRecord
	identified bool

	// Provisioning connection.
	tr     *http.Transport
	client *wsman.Client
	dev    *amt.Device
	// peer is what the TLS handshake learnt about the device. The handshake
	// runs on the HTTP transport's dial goroutine, which can still be running
	// when a timed-out session ends, so it writes only there, under its lock;
	// the session reads it through peerInfo.
	peerMu sync.Mutex
	peer   devicePeer

	installed [][]byte   // certificates (DER) installed by this session
	prevMEBx  amt.Secret // MEBx password recorded by an earlier provisioning
	commitErr error      // CommitChanges' transport error when the reply was lost

	// What connect and identify learnt.
	general  *amt.GeneralSettings // as read at connect, reused for the host name Put
	firmware amt.Version
	realm    string
	devState amt.ProvisioningState
}

// State returns where the session stands. It is safe to call from any goroutine.
func (s *Session) State() State { return State(s.shared.Load()) }

// Device returns the UUID of the device the session provisions.
func (s *Session) Device() amt.UUID { return s.hello.Hello.UUID }

// Started returns when the session began.
func (s *Session) Started() time.Time { return s.started }

func (s *Session) setState(st State) {
	s.state = st
	s.shared.Store(uint32(st))
}

// run executes a session and returns the final record.
func (p *Provisioner) run(ctx context.Context, h ReceivedHello) (*DeviceRecord, error) {
	timeout := p.cfg.SessionTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, &SessionError{Step: StepAuthorize, Reason: reasonForCtx(ctx.Err()), Err: ctx.Err()}
	}
	defer func() { <-p.sem }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	s := &Session{p: p, hello: h, state: StateNew, started: p.now()}
	p.track(s)
	defer p.untrack(s)
	err := s.run(ctx)
	s.close()
	return s.rec, err
}

func (s *Session) run(ctx context.Context) error {
	steps := []struct {
		step Step
		next State
		fn   func(context.Context) (string, error)
	}{
		{StepAuthorize, StateAuthorized, s.authorize},
		{StepConnect, StateConnected, s.connect},
		{StepIdentify, StateIdentified, s.identify},
		{StepOTP, StateIdentified, s.checkOTP},
		{StepConfigure, StateConfigured, s.configure},
		{StepCommit, StateCommitted, s.commit},
		{StepVerify, StateProvisioned, s.verify},
	}
	for _, st := range steps {
		if s.skip(st.step) {
			continue
		}
		if err := s.do(ctx, st.step, st.next, st.fn); err != nil {
			return err
		}
	}
	return nil
}

// skip reports whether a resumed session has already passed a step for good.
func (s *Session) skip(step Step) bool {
	if s.rec == nil {
		return false
	}
	switch step {
	case StepConfigure, StepOTP:
		return s.devState == amt.PostProvisioning
	case StepCommit:
		return s.devState == amt.PostProvisioning
	}
	return false
}

// do runs one step: it times it, records it, emits its event and, on error,
// ends the session in Rejected or Failed.
func (s *Session) do(ctx context.Context, step Step, next State, fn func(context.Context) (string, error)) error {
	start := s.p.now()
	detail, err := fn(ctx)
	dur := s.p.now().Sub(start)
	if err != nil {
		se := s.classify(ctx, step, err)
		if se.Rejected {
			s.setState(StateRejected)
		} else {
			s.setState(StateFailed)
		}
		s.finishRecord(ctx, step, dur, se, detail)
		s.p.emit(Event{Time: s.p.now(), Device: s.hello.Hello.UUID, Source: s.hello.Source, Step: step, State: s.state,
			Duration: dur, Reason: se.Reason, Err: se, Detail: detail})
		return se
	}
	s.setState(next)
	if step == StepIdentify {
		s.identified = true
	}
	if s.rec != nil {
		s.rec.State = next
		s.rec.Reason = ""
		s.rec.LastError = ""
		s.rec.History = append(s.rec.History, StepRecord{Step: step, State: next, At: start, Duration: dur, Detail: detail})
	}
	if s.rec != nil && (s.prior == nil || s.identified) {
		if serr := s.save(ctx); serr != nil {
			se := &SessionError{Step: step, Reason: ReasonStoreFailed, Err: serr}
			s.setState(StateFailed)
			s.p.emit(Event{Time: s.p.now(), Device: s.hello.Hello.UUID, Source: s.hello.Source, Step: step, State: s.state,
				Duration: dur, Reason: se.Reason, Err: se})
			return se
		}
	}
	s.p.emit(Event{Time: s.p.now(), Device: s.hello.Hello.UUID, Source: s.hello.Source, Step: step, State: next,
		Duration: dur, Detail: detail})
	return nil
}

func (s *Session) save(ctx context.Context) error {
	s.rec.UpdatedAt = s.p.now()
	// A record is saved even when the session's context has just ended.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.p.store.Save(sctx, s.rec)
}

func (s *Session) finishRecord(ctx context.Context, step Step, dur time.Duration, se *SessionError, detail string) {
	if s.prior != nil && !s.identified {
		// The device did not prove itself: keep the stored record, noting the
		// attempt.
		s.rec = s.prior
		s.rec.LastSeen = s.hello.Received
		s.rec.History = append(s.rec.History, StepRecord{Step: step, State: s.state, At: s.p.now(), Duration: dur, Reason: se.Reason, Error: se.Error(), Detail: detail})
		_ = s.save(ctx)
		return
	}
	if s.rec == nil && se.Reason == ReasonUnknownDevice && !s.p.cfg.RecordUnknownDevices {
		// Anyone can send hellos with made-up UUIDs: by default they are only
		// reported (the event and the returned record), not stored.
		s.rec = &DeviceRecord{UUID: s.hello.Hello.UUID, FirstSeen: s.hello.Received, LastSeen: s.hello.Received,
			Source: s.hello.Source, HelloVersion: s.hello.Hello.Version, State: s.state, Reason: se.Reason, LastError: se.Error(),
			History: []StepRecord{{Step: step, State: s.state, At: s.p.now(), Duration: dur, Reason: se.Reason, Error: se.Error(), Detail: detail}}}
		return
	}
	if s.rec == nil {
		// Rejected before a record was loaded: keep a discovery record anyway so
		// the integrator can see the device (aged out by the Maintainer).
		if r, err := s.p.store.Load(ctx, s.hello.Hello.UUID); err == nil {
			s.rec = r
		} else {
			s.rec = &DeviceRecord{UUID: s.hello.Hello.UUID, FirstSeen: s.hello.Received}
		}
		s.rec.Source = s.hello.Source
		s.rec.HelloVersion = s.hello.Hello.Version
		s.rec.LastSeen = s.hello.Received
		if s.rec.State == StateProvisioned {
			// A rejected hello does not undo an earlier provisioning record.
			s.rec.History = append(s.rec.History, StepRecord{Step: step, State: s.state, At: s.p.now(), Duration: dur, Reason: se.Reason, Error: se.Error(), Detail: detail})
			_ = s.save(ctx)
			return
		}
	}
	s.rec.State = s.state
	s.rec.Reason = se.Reason
	s.rec.LastError = se.Error()
	s.rec.History = append(s.rec.History, StepRecord{Step: step, State: s.state, At: s.p.now(), Duration: dur, Reason: se.Reason, Error: se.Error(), Detail: detail})
	_ = s.save(ctx)
}

// classify turns a step's error into a SessionError with a reason.
func (s *Session) classify(ctx context.Context, step Step, err error) *SessionError {
	var se *SessionError
	if errors.As(err, &se) {
		if se.Step == "" {
			se.Step = step
		}
		return se
	}
	out := &SessionError{Step: step, Err: err}
	var cu *CommitUnconfirmedError
	switch {
	case errors.As(err, &cu):
		out.Reason = ReasonCommitUnconfirmed
	case ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		out.Reason = reasonForCtx(ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		out.Reason = ReasonTimeout
	case s.peerInfo().untrusted != nil && errors.Is(err, wsman.ErrConnect):
		out.Reason, out.Rejected, out.Err = ReasonDeviceUntrusted, true, s.peerInfo().untrusted
	case isRemoteAlert(err):
		out.Reason = ReasonTLSRefused
	case errors.Is(err, wsman.ErrConnect):
		out.Reason = ReasonConnectFailed
	case errors.Is(err, wsman.ErrSend) || errors.Is(err, wsman.ErrResponseLost):
		// Connected, then the connection broke: not an error status of the
		// device. The record says which steps were done; a new hello or Resume
		// reads the device's state before repeating anything.
		out.Reason = ReasonConnectionLost
	case step == StepCommit:
		out.Reason = ReasonCommitFailed
	default:
		out.Reason = ReasonDeviceError
	}
	return out
}

func reasonForCtx(err error) Reason {
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonTimeout
	}
	return ReasonCanceled
}

// isRemoteAlert reports whether the device aborted the TLS handshake with an
// alert (it refused our certificate chain).
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

func (s *Session) close() {
	if s.tr != nil {
		s.tr.CloseIdleConnections()
	}
}

// ---- authorize ----

func (s *Session) authorize(ctx context.Context) (string, error) {
	p, h := s.p, s.hello
	u := h.Hello.UUID
	rec, err := p.store.Load(ctx, u)
	switch {
	case errors.Is(err, ErrNotFound):
		rec = &DeviceRecord{UUID: u, FirstSeen: h.Received}
	case err != nil && ctx.Err() != nil:
		return "", ctx.Err() // classified as canceled or timeout
	case err != nil:
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	default:
		s.prior = rec.Clone()
	}
	if rec.Blocked {
		return "", Reject(ReasonNotApproved, "device %s is blocked", u)
	}
	s.resumed = rec.State != StateNew && !rec.State.Final()

	var agent *AgentRequest
	if rec.Agent != nil {
		if p.now().After(rec.Agent.Expires) {
			return "", Reject(ReasonAgentRequestExpired, "the agent request for %s expired on %s, before its hello", u, rec.Agent.Expires.Format(time.RFC3339))
		}
		a := *rec.Agent
		agent = &a
	}
	s.agent = agent

	var inv Inventory
	if agent != nil && agent.Inventory.FQDN != "" {
		inv = agent.Inventory
		inv.UUID = u
	} else {
		inv, err = p.cfg.Authorizer.Authorize(ctx, AuthRequest{Hello: h.Hello, Source: h.Source, Received: h.Received, Agent: agent})
		if err != nil {
			var se *SessionError
			if errors.As(err, &se) {
				return "", se
			}
			return "", &SessionError{Reason: ReasonInternal, Err: fmt.Errorf("authorizer: %w", err)}
		}
		if inv.UUID.IsZero() {
			inv.UUID = u
		}
	}
	prof, err := p.profileFor(inv)
	if err != nil {
		return "", err
	}
	s.inv, s.profile = inv, prof
	if prof.RequireOTP && agent == nil {
		return "", Reject(ReasonOTPMissing, "profile %q requires an OTP and there is no agent request for %s", prof.Name, u)
	}

	var detail string
	switch h.Hello.Version {
	case hello.VersionPKI:
		b, root, err := s.chooseBundle(ctx, inv)
		if err != nil {
			return "", err
		}
		s.bundle = b
		rec.Bundle = bundleID(*b)
		rec.MatchedRoot = root
		detail = fmt.Sprintf("bundle %s, root %s", b.Leaf().Subject.CommonName, rootName(root))
	case hello.VersionPSK:
		d, err := s.authorizePSK(ctx, rec)
		if err != nil {
			return "", err
		}
		detail = d
	default:
		return "", Reject(ReasonInternal, "hello version %d", h.Hello.Version)
	}

	rec.Inventory = inv
	rec.Source = h.Source
	rec.HelloVersion = h.Hello.Version
	rec.LastSeen = h.Received
	rec.AgentOTP = agent != nil || prof.RequireOTP
	rec.Attempts++
	if rec.State.Final() {
		// A new provisioning of a device seen before: start over, keeping the
		// certificates so the old ones can be revoked once the new ones are in.
		rec.State = StateNew
		rec.Done = 0
		s.prevMEBx = rec.MEBxPassword
		rec.AdminPassword, rec.MEBxPassword = amt.Secret{}, amt.Secret{}
	}
	s.rec = rec
	if s.resumed {
		detail += fmt.Sprintf("; resuming (done: %#x)", uint32(rec.Done))
	}
	return detail, nil
}

func (p *Provisioner) profileFor(inv Inventory) (Profile, error) {
	name := inv.Profile
	if name == "" {
		name = DefaultProfileName
	}
	if p.cfg.Profiles == nil {
		return Profile{Name: name}, nil
	}
	prof, ok := p.cfg.Profiles[name]
	if !ok {
		return Profile{}, Reject(ReasonProfile, "no profile %q", name)
	}
	if prof.Name == "" {
		prof.Name = name
	}
	return prof, nil
}

// chooseBundle picks the first bundle whose root hash is in the hello, whose name
// covers the device's DNS suffix and which is valid and not revoked. When none
// fits it rejects with the reason of the closest candidate.
func (s *Session) chooseBundle(ctx context.Context, inv Inventory) (*certs.Bundle, amt.CertHash, error) {
	p := s.p
	suffix := inv.Suffix()
	now := p.now()
	if len(p.cfg.Bundles) == 0 {
		return nil, amt.CertHash{}, Reject(ReasonNoMatchingRoot, "no provisioning certificate is configured")
	}
	best := Reject(ReasonNoMatchingRoot, "no provisioning certificate's root is among the %d hashes the device trusts", len(s.hello.Hello.Hashes))
	rank := 0
	better := func(r int, err error) {
		if r > rank {
			rank, best = r, err
		}
	}
	for i := range p.cfg.Bundles {
		b := &p.cfg.Bundles[i]
		root, ok := b.MatchRoot(s.hello.Hello.Hashes)
		if !ok {
			continue
		}
		if err := b.Covers(suffix); err != nil {
			better(1, Reject(ReasonSuffixMismatch, "bundle %s does not cover DNS suffix %q: %v", b.Leaf().Subject.CommonName, suffix, err))
			continue
		}
		if err := b.ValidAt(now); err != nil {
			reason := ReasonBundleExpired
			if now.Before(b.NotBefore()) {
				reason = ReasonBundleNotYetValid
			}
			better(2, Reject(reason, "bundle %s: %v", b.Leaf().Subject.CommonName, err))
			continue
		}
		if p.cfg.CheckRevocation != nil {
			revoked := false
			for _, c := range b.Chain {
				if err := p.cfg.CheckRevocation(ctx, c); err != nil {
					better(3, Reject(ReasonBundleRevoked, "bundle %s: %s: %v", b.Leaf().Subject.CommonName, certs.Describe(c), err))
					revoked = true
					break
				}
			}
			if revoked {
				continue
			}
		}
		return b, root, nil
	}
	return nil, amt.CertHash{}, best
}

func bundleID(b certs.Bundle) string {
	sum := sha256.Sum256(b.Leaf().Raw)
	return hex.EncodeToString(sum[:])
}

func rootName(h amt.CertHash) string {
	if r, ok := amt.LookupDefaultRootHash(h); ok {
		return r.Label
	}
	return h.Alg.String() + " " + h.Hex()[:16] + "…"
}

// ---- connect ----

func (s *Session) connect(ctx context.Context) (string, error) {
	addr := s.p.deviceAddr(s.hello, s.inv, s.p.tlsPort())
	legacy := false
	lost := 0
	for {
		if err := s.dialProvisioning(addr, legacy); err != nil {
			return "", err
		}
		gs, err := s.dev.GeneralSettings(ctx)
		peer := s.peerInfo()
		if peer.pin != nil {
			s.rec.DeviceCertPin = peer.pin
			s.rec.OnDieVerified = peer.onDie
		}
		if err == nil {
			s.general = gs
			s.realm = gs.DigestRealm
			s.rec.DigestRealm = gs.DigestRealm
			mode := "TLS 1.2+"
			if legacy {
				mode = "legacy TLS"
			}
			if s.psk() {
				mode = "TLS-PSK"
			}
			return fmt.Sprintf("%s to %s, realm %s", mode, addr, gs.DigestRealm), nil
		}
		// AMT 21 drops the first request after a TLS 1.3 handshake or a
		// listener re-arm (reference/wsman.md §2.5, rpc-go PRs 1381 and 1385).
		// This Get changes nothing: send it again, twice at most.
		if errors.Is(err, wsman.ErrResponseLost) && lost < 2 && peer.untrusted == nil {
			lost++
			s.close()
			if werr := s.p.sleep(ctx, time.Duration(lost)*500*time.Millisecond); werr != nil {
				return "", werr
			}
			continue
		}
		// Firmware before AMT 12 refuses TLS 1.2 (a protocol_version alert);
		// retry once with the legacy profile when the profile allows it.
		if !legacy && s.profile.AllowLegacyTLS && !s.psk() && errors.Is(err, wsman.ErrConnect) && peer.untrusted == nil {
			s.close()
			legacy = true
			continue
		}
		return "", err
	}
}

func (s *Session) psk() bool { return s.hello.Hello.Version == hello.VersionPSK }

func (s *Session) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.p.cfg.Dial != nil {
		return s.p.cfg.Dial
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return d.DialContext
}

// dialProvisioning builds the mutual-TLS (or TLS-PSK) client for the
// provisioning session.
func (s *Session) dialProvisioning(addr string, legacy bool) error {
	dial := s.dialer()
	s.tr = &http.Transport{
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	if s.psk() {
		s.tr.DialTLSContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			return s.dialPSK(ctx, dial, network, a)
		}
	} else {
		b := s.bundle
		tc := &tls.Config{
			Rand:                 s.p.rand,
			Time:                 s.p.now,
			MinVersion:           tls.VersionTLS12,
			GetClientCertificate: b.GetClientCertificate(),
			// The device's certificate is self-signed or On-Die-CA issued without
			// a host name; VerifyConnection applies the session's policy.
			InsecureSkipVerify: true,
			VerifyConnection:   s.verifyDevice,
		}
		if legacy {
			tc.MinVersion = tls.VersionTLS10
			tc.CipherSuites = legacyCipherSuites()
		}
		s.tr.DialTLSContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			raw, err := dial(ctx, network, a)
			if err != nil {
				return nil, err
			}
			c := tls.Client(raw, tc)
			if err := c.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return c, nil
		}
	}
	// AMT trusts the client certificate during remote configuration; if it
	// still challenges, answer with the MEBx default account, or with the new
	// admin account once it is set (AMT 20/21 may close connections after a
	// password change and want the new credentials: reference/wsman.md §2.5).
	user, password := "admin", "admin"
	if s.rec.Done.Has(DoneAdminACL) && s.rec.AdminUser != "" {
		user, password = s.rec.AdminUser, s.rec.AdminPassword.Reveal()
	}
	opts := []wsman.Option{
		wsman.WithHTTPClient(&http.Client{Transport: s.tr, Timeout: s.p.callTimeout()}),
		wsman.WithDigestAuth(user, password),
		wsman.WithRand(s.p.rand),
	}
	if s.p.log != nil {
		opts = append(opts, wsman.WithLogger(s.p.log))
	}
	c, err := wsman.New("https://"+addr+"/wsman", opts...)
	if err != nil {
		return &SessionError{Reason: ReasonInternal, Err: err}
	}
	s.client = c
	s.dev = amt.NewDevice(c)
	return nil
}

// devicePeer is what verifyDevice learnt about the device's certificate.
type devicePeer struct {
	pin       []byte // SHA-256 of the leaf
	onDie     bool   // the chain verified against the On-Die roots and names the UUID
	untrusted error  // set when the certificate failed our policy
}

func (s *Session) peerInfo() devicePeer {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	return s.peer
}

// verifyDevice applies the trust policy to the device's TLS certificate: an
// On-Die CA chain is verified and bound to the UUID when roots are configured;
// otherwise the leaf's hash is recorded for pinning later connections. It runs
// on the transport's dial goroutine and touches only s.peer.
func (s *Session) verifyDevice(cs tls.ConnectionState) error {
	peer := s.checkDevice(cs)
	s.peerMu.Lock()
	s.peer = peer
	s.peerMu.Unlock()
	return peer.untrusted
}

func (s *Session) checkDevice(cs tls.ConnectionState) devicePeer {
	if len(cs.PeerCertificates) == 0 {
		return devicePeer{untrusted: errors.New("device presented no certificate")}
	}
	leaf := cs.PeerCertificates[0]
	pin := sha256.Sum256(leaf.Raw)
	peer := devicePeer{pin: pin[:]}
	if roots := s.p.cfg.OnDieRoots; roots != nil {
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: s.p.now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil {
			bind := s.p.cfg.OnDieBinding
			if bind == nil {
				bind = BindOnDieUUID
			}
			if berr := bind(cs.PeerCertificates, s.hello.Hello, s.inv); berr != nil {
				peer.untrusted = fmt.Errorf("On-Die certificate not bound to device %s: %w", s.hello.Hello.UUID, berr)
				return peer
			}
			peer.onDie = true
		}
	}
	// A resumed session talks to the device it started with: without an On-Die
	// chain, the certificate must be the one pinned then.
	if !peer.onDie && s.resumed && s.prior != nil && len(s.prior.DeviceCertPin) > 0 && !bytes.Equal(s.prior.DeviceCertPin, peer.pin) {
		peer.untrusted = fmt.Errorf("device certificate %q differs from the one pinned when the session began", leaf.Subject.CommonName)
		return peer
	}
	if s.profile.RequireOnDie && !peer.onDie {
		peer.untrusted = fmt.Errorf("device certificate %q does not chain to a configured On-Die CA root", leaf.Subject.CommonName)
	}
	return peer
}

// OnDieBinder decides whether a device certificate chain, already verified
// against [Config.OnDieRoots] (chain[0] is the device's certificate, the rest as
// the device sent them), belongs to the device the session is for: the one
// whose hello and inventory record are given. It returns nil to accept.
type OnDieBinder func(chain []*x509.Certificate, hello *hello.Message, inv Inventory) error

// BindOnDieUUID is the default [OnDieBinder]: the device's certificate must name
// the hello's UUID, as a URI SAN "urn:uuid:<uuid>" or as the subject
// serialNumber (how amtsim and integrator CAs that know the UUID bind a
// certificate). A certificate that names another UUID, or none, is refused.
// Intel's real On-Die certificates name none: see [Config.OnDieBinding].
func BindOnDieUUID(chain []*x509.Certificate, hello *hello.Message, _ Inventory) error {
	if len(chain) == 0 || hello == nil {
		return errors.New("no certificate or no hello")
	}
	leaf, want := chain[0], hello.UUID.String()
	named := ""
	for _, uri := range leaf.URIs {
		if uri.Scheme == "urn" && strings.HasPrefix(strings.ToLower(uri.Opaque), "uuid:") {
			if strings.EqualFold(uri.Opaque[len("uuid:"):], want) {
				return nil
			}
			named = uri.Opaque[len("uuid:"):]
		}
	}
	if sn := leaf.Subject.SerialNumber; sn != "" {
		if strings.EqualFold(sn, want) {
			return nil
		}
		if named == "" {
			named = sn
		}
	}
	if named != "" {
		return fmt.Errorf("the certificate names %q, not %s", named, want)
	}
	return errors.New("the certificate names no UUID (Intel's On-Die certificates do not: set Config.OnDieBinding)")
}

// TrustAnyOnDieDevice is an [OnDieBinder] that accepts every chain that verified
// against the On-Die roots: it proves the peer is genuine Intel firmware, not
// which platform it is. The session still requires the UUID the firmware
// reports over that connection to equal the hello's. Use it only where no
// platform identity (such as the UPID) is available to bind to.
func TrustAnyOnDieDevice(chain []*x509.Certificate, _ *hello.Message, _ Inventory) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	return nil
}

func legacyCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
}
