package provisioning

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/wsman"
)

// Session is one device's provisioning, from its hello to Provisioned (or
// Rejected, or Failed). Its provision method runs the steps in order, top to
// bottom, in the manner of crypto/tls's handshake: each step is called in
// turn, each failure is turned into a [SessionError] with its [Reason] where
// it happens, and one helper ([Session.record]) emits the step's [Event] and
// saves the device's record.
type Session struct {
	p       *Provisioner
	hello   ReceivedHello
	started time.Time
	state   atomic.Uint32 // State, read by Provisioner.Sessions from other goroutines
	proven  atomic.Bool   // the device proved its identity (see attempt.proven)

	// rec is the record the session reports: once the device has proven
	// itself, the stored record with this session's progress; before, a
	// detached record of the attempt alone (stored only where no record of
	// value exists, see mayWrite).
	rec *DeviceRecord
}

// State returns where the session stands. It is safe to call from any goroutine.
func (s *Session) State() State { return State(s.state.Load()) }

// Device returns the UUID of the device the session provisions.
func (s *Session) Device() amt.UUID { return s.hello.Hello.UUID }

// Source returns the address the session's hello came from.
func (s *Session) Source() netip.AddrPort { return s.hello.Source }

// Started returns when the session began.
func (s *Session) Started() time.Time { return s.started }

// attempt is what one session carries from step to step. Each field is set by
// the step named in its comment and only read after it.
type attempt struct {
	// authorize
	prior       *DeviceRecord  // the stored record when the session began; nil: none
	resumed     bool           // prior holds this device's unfinished session, continued here
	reprovision bool           // prior holds a verified provisioning of the device
	allowed     bool           // Config.Reprovision allowed re-provisioning without proof
	inv         Inventory      // from the Authorizer or the agent request
	profile     Profile        // the profile inv names
	agent       *AgentRequest  // the pending agent request: its OTP must match
	bundle      *certs.Bundle  // PKI: the provisioning certificate chosen
	widerSuffix bool           // … whose name covers the suffix only by MeshCentral's per-TLD rule
	prog        *SessionRecord // this session's progress (continued when resumed)

	// connect
	conn    *deviceConn
	general *amt.GeneralSettings // read at connect, echoed back with the host name (configure), then released
	named   amt.Version          // the firmware version the Server header of that read named (zero: none)
	// issuedCert: the device's remote-configuration certificate is a CA's
	// (On-Die), not self-signed.
	issuedCert bool

	// identify
	firmware amt.Firmware
	devState amt.ProvisioningState
	otp      amt.Secret // the OTP the device holds, read at identify (the OTP check uses it)

	// proven: the device has shown it is the device of the record — by the
	// certificate pinned earlier or an On-Die chain bound to it, by the OTP
	// its agent set, or (approval by UUID alone) by reporting the hello's UUID
	// over the authenticated connection. Until then the session writes
	// nothing over a record of value.
	proven bool

	// commit
	commitErr error // CommitChanges' transport error when its reply was lost
}

// provision runs the session's steps in order. Reading this function top to
// bottom gives every state, transition and side effect of a bare-metal (PKI),
// one-touch (PSK) and agent-initiated (OTP) session.
func (s *Session) provision(ctx context.Context) error {
	a := &attempt{}

	// New → Authorized: is the device expected, with which profile, and which
	// provisioning certificate (or PSK pair) will it accept? Nothing is sent
	// to the device and nothing is stored yet.
	start := s.p.now()
	detail, err := s.authorize(ctx, a)
	if err := s.record(ctx, a, StepAuthorize, start, detail, err); err != nil {
		return err
	}

	// Authorized → Connected: mutual TLS with the provisioning chain (or
	// TLS-PSK); the device's certificate must match what is known of it.
	start = s.p.now()
	detail, err = s.connect(ctx, a)
	if a.conn != nil {
		defer a.conn.close()
	}
	if err := s.record(ctx, a, StepConnect, start, detail, err); err != nil {
		return err
	}

	// Connected → Identified: firmware, provisioning state and UUID, read over
	// that connection. A device that shows who it is becomes the record's
	// owner here (agent-initiated sessions: after their OTP).
	start = s.p.now()
	detail, err = s.identify(ctx, a)
	if err := s.record(ctx, a, StepIdentify, start, detail, err); err != nil {
		return err
	}

	// A resumed session whose commit landed before the restart goes straight
	// to verify: everything before it was done and cannot be repeated.
	if a.devState != amt.PostProvisioning {
		// Identified → Identified: the OTP of agent-initiated sessions.
		start = s.p.now()
		detail, err = s.checkOTP(ctx, a)
		if err := s.record(ctx, a, StepOTP, start, detail, err); err != nil {
			return err
		}

		// Identified → Configured: passwords, admin account, names, clock,
		// TLS, users — each guarded by its Done bit, recorded before the
		// next.
		start = s.p.now()
		detail, err = s.configure(ctx, a)
		if err := s.record(ctx, a, StepConfigure, start, detail, err); err != nil {
			return err
		}

		// Configured → Committed: CommitChanges (AMT 19+ drops the
		// connection while it restarts its network stack).
		start = s.p.now()
		detail, err = s.commit(ctx, a)
		if err := s.record(ctx, a, StepCommit, start, detail, err); err != nil {
			return err
		}
	}

	// Committed → Provisioned: the state is read back as the new admin over a
	// connection authenticated by what this session recorded; only then does
	// the session's progress become the device's record and the certificates
	// it replaced get revoked.
	a.conn.close()
	start = s.p.now()
	detail, err = s.verify(ctx, a)
	if err := s.record(ctx, a, StepVerify, start, detail, err); err != nil {
		return err
	}

	// Provisioned: what firmware takes only once activated (RPS and rpc-go
	// configure 802.1X, Wi-Fi, CIRA and features then) is applied by the
	// reconcile that keeps devices in line later. Its failures are events and
	// the record's ReconcileError; the device is provisioned, and the
	// Maintainer's reconcile retries.
	s.p.reconcileAfterActivation(ctx, s.rec)
	return nil
}

// noSystemUUID reports a UUID SMBIOS uses for none: all zeros (not
// present) or all FFh (not set yet).
func noSystemUUID(u amt.UUID) bool {
	return u.IsZero() || u == amt.UUID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
}

// stateAfter is the state a session is in once a step succeeded.
var stateAfter = map[Step]State{
	StepAuthorize: StateAuthorized,
	StepConnect:   StateConnected,
	StepIdentify:  StateIdentified,
	StepOTP:       StateIdentified,
	StepConfigure: StateConfigured,
	StepCommit:    StateCommitted,
	StepVerify:    StateProvisioned,
}

// record ends a step: it sets the session's state, writes the step into the
// record's history and saves it where the session may, and emits the step's
// event. On error the session ends Rejected or Failed with the reason the step
// assigned. A verify step whose history entry cannot be saved is a finding,
// not a failure: verify already saved the record Provisioned. It returns the
// error the session ends with, if any.
func (s *Session) record(ctx context.Context, a *attempt, step Step, start time.Time, detail string, err error) error {
	now := s.p.now()
	dur := now.Sub(start)
	var se *SessionError
	if err != nil {
		if !errors.As(err, &se) {
			// Every step assigns a reason where it fails; reaching this is a bug.
			se = &SessionError{Reason: ReasonInternal, Err: err}
		}
		if se.Step == "" {
			se.Step = step
		}
	}
	st := stateAfter[step]
	if se != nil {
		st = StateFailed
		if se.Rejected {
			st = StateRejected
		}
	}
	s.state.Store(uint32(st))
	entry := StepRecord{Step: step, State: st, At: start, Duration: dur, Detail: detail}
	if se != nil {
		entry.Reason, entry.Error = se.Reason, se.Error()
	}
	var storeErr *SessionError
	if serr := s.saveOutcome(ctx, a, st, entry); serr != nil && se == nil {
		storeErr = &SessionError{Step: step, Reason: ReasonStoreFailed, Err: serr}
		// verify saved the provisioned record with its merge: the device is
		// provisioned, in the Store too, and only this step's history entry
		// is lost. The session does not report a failure the record
		// contradicts; the lost entry is a finding.
		if step != StepVerify {
			se, st = storeErr, StateFailed
			s.state.Store(uint32(st))
		}
	}
	ev := Event{Time: s.p.now(), Device: s.hello.Hello.UUID, Source: s.hello.Source, Step: step, State: st,
		Duration: dur, Detail: detail}
	if why := cmp.Or(se, storeErr); why != nil {
		ev.Reason, ev.Err = why.Reason, why
	}
	s.p.emit(ev)
	if se != nil {
		return se
	}
	return nil
}

// saveOutcome writes a step's outcome into the session's record and, where the
// session may write, into the Store.
func (s *Session) saveOutcome(ctx context.Context, a *attempt, st State, entry StepRecord) error {
	if s.rec == nil {
		s.rec = s.detachedRecord()
	}
	r := s.rec
	r.State = st
	r.Reason, r.LastError = entry.Reason, entry.Error
	r.History = append(r.History, entry)
	if !a.proven {
		// Before the device proved itself, a record is written only where none of
		// value exists: no record yet (unknown devices only with
		// RecordUnknownDevices), or one that holds nothing but earlier
		// outcomes. A hello for a provisioned device, one with a session in
		// progress or a pending agent request changes nothing of it.
		if noSystemUUID(r.UUID) || !s.p.cfg.RecordUnknownDevices && (entry.Reason == ReasonUnknownDevice || a.prior == nil && a.inv.UUID.IsZero()) {
			// Nor does a hello the Authorizer refused (whatever its reason) or
			// could not judge, for a UUID with no record: made-up UUIDs must
			// not grow the Store. A hello naming no system UUID is never
			// recorded: devices without one would share the record.
			return nil
		}
		return s.p.saveIfDiscovery(ctx, r)
	}
	return s.p.save(ctx, r)
}

// detachedRecord is the record of an attempt by a device that has not proven
// itself: only what this hello and session showed.
func (s *Session) detachedRecord() *DeviceRecord {
	h := s.hello
	return &DeviceRecord{UUID: h.Hello.UUID, Source: h.Source, HelloVersion: h.Hello.Version,
		FirstSeen: h.Received, LastSeen: h.Received, Attempts: 1}
}

func reasonForCtx(err error) Reason {
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonTimeout
	}
	return ReasonCanceled
}

// ---- New → Authorized ----

func (s *Session) authorize(ctx context.Context, a *attempt) (string, error) {
	p, h := s.p, s.hello
	u := h.Hello.UUID
	if noSystemUUID(u) {
		// SMBIOS (DMTF DSP0134, System UUID): all zeros means no UUID, all
		// FFh one not set yet. Devices without one cannot be told apart:
		// they would share one record.
		return "", Reject(ReasonUnknownDevice, "the hello names no system UUID (%s: SMBIOS's \"not present\" or \"not set\"); set one in the platform's firmware", u)
	}
	prior, err := p.store.Load(ctx, u)
	switch {
	case errors.Is(err, ErrNotFound):
		prior = nil
	case err != nil && ctx.Err() != nil:
		return "", &SessionError{Reason: reasonForCtx(ctx.Err()), Err: ctx.Err()}
	case err != nil:
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	a.prior = prior
	if prior != nil {
		if prior.Blocked {
			return "", Reject(ReasonNotApproved, "device %s is blocked", u)
		}
		a.resumed = prior.Session != nil
		a.reprovision = prior.Provisioned()
		if prior.Agent != nil {
			ag := *prior.Agent
			switch {
			case p.now().After(ag.Expires):
				return "", Reject(ReasonAgentRequestExpired, "the agent request for %s expired on %s, before its hello", u, ag.Expires.Format(time.RFC3339))
			case p.now().Before(ag.LockedUntil):
				return "", Reject(ReasonOTPLocked, "the agent request for %s is locked until %s after %d OTP mismatches", u, ag.LockedUntil.Format(time.RFC3339), ag.Mismatches)
			}
			a.agent = &ag
		}
	}

	if a.agent != nil && a.agent.Inventory.FQDN != "" {
		a.inv = a.agent.Inventory
		a.inv.UUID = u
	} else {
		inv, err := p.cfg.Authorizer.Authorize(ctx, AuthRequest{Hello: h.Hello, Source: h.Source, Received: h.Received, Agent: a.agent})
		if err != nil {
			var se *SessionError
			if errors.As(err, &se) {
				return "", se
			}
			if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
				// It gave up because the session ended (Shutdown, SessionTimeout).
				return "", &SessionError{Reason: reasonForCtx(cerr), Err: fmt.Errorf("authorizer: %w", err)}
			}
			return "", &SessionError{Reason: ReasonInternal, Err: fmt.Errorf("authorizer: %w", err)}
		}
		if inv.UUID.IsZero() {
			inv.UUID = u
		}
		a.inv = inv
	}
	prof, err := p.profileFor(a.inv)
	if err != nil {
		return "", err
	}
	a.profile = prof
	if prof.RequireOTP && a.agent == nil {
		return "", Reject(ReasonOTPMissing, "profile %q requires an OTP and there is no agent request for %s", prof.Name, u)
	}
	if a.reprovision && p.cfg.Reprovision != nil {
		a.allowed = p.cfg.Reprovision(ctx, prior.Clone(), h) == nil
	}

	if a.resumed {
		a.prog = prior.Session.Clone()
	} else {
		a.prog = &SessionRecord{Started: s.started}
	}
	a.prog.AgentOTP = a.agent != nil
	var detail string
	switch h.Hello.Version {
	case hello.VersionPKI:
		b, root, wider, err := s.chooseBundle(ctx, a.inv)
		if err != nil {
			return "", err
		}
		a.bundle, a.widerSuffix = b, wider
		a.prog.Bundle, a.prog.MatchedRoot = bundleID(*b), root
		detail = fmt.Sprintf("bundle %s, root %s", b.Leaf().Subject.CommonName, rootName(root))
		if wider {
			detail += fmt.Sprintf("; its name covers DNS suffix %q only by MeshCentral's per-TLD rule, which no Intel document confirms: the device may refuse it", a.inv.Suffix())
		}
	case hello.VersionPSK:
		pid, reserved, err := s.authorizePSK(ctx)
		if err != nil {
			return "", err
		}
		if err := s.checkPSKDevice(a, pid, reserved); err != nil {
			return "", err
		}
		a.prog.PID = pid.Compact()
		detail = "PSK pair " + pid.String()
	default:
		return "", Reject(ReasonInternal, "hello version %d", h.Hello.Version)
	}
	switch {
	case a.resumed:
		detail += fmt.Sprintf("; resuming (done: %#x)", uint32(a.prog.Done))
	case a.reprovision && a.allowed:
		detail += "; re-provisioning allowed by Config.Reprovision"
	case a.reprovision:
		detail += "; already provisioned: the device must show the certificate seen then"
	}
	return detail, nil
}

func (p *Provisioner) profileFor(inv Inventory) (Profile, error) {
	name := inv.Profile
	if name == "" {
		name = p.cfg.defaultProfile()
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
//
// A bundle whose name covers the suffix only by MeshCentral's per-TLD rule
// (amt.ErrSuffixUndocumented) is taken when no bundle covers it by the
// documented rule; wider reports that. Refusing it would lose every device of
// a fleet whose certificate and DHCP suffix differ below a .org, .de or .co.uk
// domain, which MeshCentral activates; trying it costs a device that refuses
// it one handshake.
func (s *Session) chooseBundle(ctx context.Context, inv Inventory) (_ *certs.Bundle, _ amt.CertHash, wider bool, _ error) {
	p := s.p
	suffix := inv.Suffix()
	now := p.now()
	if len(p.cfg.Bundles) == 0 {
		return nil, amt.CertHash{}, false, Reject(ReasonNoMatchingRoot, "no provisioning certificate is configured")
	}
	var fallback *certs.Bundle
	var fallbackRoot amt.CertHash
	best := Reject(ReasonNoMatchingRoot, "no provisioning certificate's root is among the %d hashes the device trusts", len(s.hello.Hello.Hashes))
	rank := 0
	better := func(r int, err error) {
		if r > rank {
			rank, best = r, err
		}
	}
	for i := range p.cfg.Bundles {
		b := &p.cfg.Bundles[i]
		// New refused every chain that does not end at a self-signed root,
		// so the root's signature is not checked again in every session
		// (Bundle.MatchRoot would).
		root, ok := certs.MatchRoot(b.Chain, s.hello.Hello.Hashes)
		if !ok {
			continue
		}
		err := b.Covers(suffix)
		undocumented := errors.Is(err, amt.ErrSuffixUndocumented)
		if err != nil && !undocumented {
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
		if err := p.checkChainRevocation(ctx, b.Chain); err != nil {
			better(3, Reject(ReasonBundleRevoked, "bundle %s: %v", b.Leaf().Subject.CommonName, err))
			continue
		}
		if undocumented {
			if fallback == nil {
				fallback, fallbackRoot = b, root
			}
			continue
		}
		return b, root, false, nil
	}
	if fallback != nil {
		return fallback, fallbackRoot, true, nil
	}
	return nil, amt.CertHash{}, false, best
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

// ---- Authorized → Connected ----

// maxDigestRealm bounds the digest realm a device may report.
const maxDigestRealm = 256

func (s *Session) connect(ctx context.Context, a *attempt) (string, error) {
	addr := s.p.deviceAddr(s.hello, a.inv, s.p.tlsPort())
	legacy, lost := false, 0
	for {
		conn, err := s.p.dialProvisioning(ctx, provisioningDial{
			addr:   addr,
			bundle: a.bundle,
			pid:    a.prog.PID,
			legacy: legacy,
			check:  func(chain []*x509.Certificate) (devicePeer, *untrustedPeer) { return s.checkDevice(a, chain) },
			// AMT trusts the client certificate during remote configuration; if it
			// still challenges, answer with the MEBx default account, or with the
			// new admin account once a resumed session has set it (AMT 20/21 may
			// want the new credentials after a password change).
			user: "admin", password: "admin",
			newAdmin: a.prog.Done.Has(DoneAdminACL), adminUser: a.prog.AdminUser, adminPassword: a.prog.AdminPassword,
		})
		if err != nil {
			return "", &SessionError{Reason: ReasonInternal, Err: err}
		}
		a.conn = conn
		// The response's Server header names the firmware version on most
		// firmware (amt.ServerVersion): identify then needs no enumeration.
		gs, named, err := conn.dev.GeneralSettingsVersion(ctx)
		if err == nil && len(gs.DigestRealm) > maxDigestRealm {
			// AMT's realm is "Digest:" and 32 hex digits (go-wsman-messages'
			// recorded AMT_GeneralSettings); it goes into the record.
			conn.close()
			return "", &SessionError{Reason: ReasonDeviceError, Err: fmt.Errorf("device reports a digest realm of %d bytes (AMT's has 39)", len(gs.DigestRealm))}
		}
		if err == nil {
			a.named = named
			peer := conn.peer()
			a.prog.DeviceCertPin, a.prog.OnDieVerified = peer.pin, peer.onDie
			a.issuedCert = len(peer.pin) > 0 && !peer.selfSigned
			a.general = gs
			a.prog.DigestRealm = gs.DigestRealm
			mode := "TLS 1.2+"
			switch {
			case a.prog.PID != "":
				mode = "TLS-PSK"
			case legacy:
				mode = "legacy TLS"
			}
			return fmt.Sprintf("%s to %s, realm %s; %s", mode, addr, gs.DigestRealm, peer.how), nil
		}
		if untrusted := conn.untrusted(); untrusted != nil {
			return "", &SessionError{Reason: untrusted.reason, Rejected: !untrusted.failure, Err: untrusted.err}
		}
		conn.close()
		// AMT 21 drops the first request after a TLS 1.3 handshake or a
		// listener re-arm (rpc-go PRs 1381 and 1385). This Get changes
		// nothing: send it again, twice at most.
		if errors.Is(err, wsman.ErrResponseLost) && lost < 2 {
			lost++
			if werr := s.p.sleep(ctx, time.Duration(lost)*500*time.Millisecond); werr != nil {
				return "", &SessionError{Reason: reasonForCtx(werr), Err: werr}
			}
			continue
		}
		// Firmware before AMT 12 refuses TLS 1.2 (a protocol_version alert);
		// retry once with the legacy profile when the profile allows it.
		if !legacy && a.profile.AllowLegacyTLS && a.prog.PID == "" && errors.Is(err, wsman.ErrConnect) {
			legacy = true
			continue
		}
		se := callFailed(ctx, err)
		if se.Reason == ReasonTLSRefused && a.widerSuffix {
			se.Err = fmt.Errorf("%w (the provisioning certificate covers the device's DNS suffix only by MeshCentral's per-TLD rule, which this firmware may not follow: use one whose name covers it by amt.MatchDNSSuffix)", se.Err)
		}
		return "", se
	}
}

// devicePeer is what the check of the device's certificate found.
type devicePeer struct {
	pin        []byte // SHA-256 of the leaf
	onDie      bool   // the chain verified against the On-Die roots and is bound to the device
	selfSigned bool   // the leaf names itself as its issuer (not an On-Die CA's)
	how        string // for the step's detail
}

// untrustedPeer is why a device's certificate was refused.
type untrustedPeer struct {
	reason Reason
	err    error
	// failure: the outcome is a failure of ours (the pair store), not a
	// refusal of the device.
	failure bool
}

// checkDevice applies the trust policy to the device's certificate chain
// (chain[0] is its leaf): an On-Die CA chain is verified and bound to the
// device when roots are configured; otherwise the leaf is pinned. A device
// that was seen before must show what it showed then: the pin of a resumed
// session or of a verified provisioning, and an On-Die chain once one was
// verified. A re-provisioning the integrator did not allow
// ([Config.Reprovision]) needs that proof.
func (s *Session) checkDevice(a *attempt, chain []*x509.Certificate) (devicePeer, *untrustedPeer) {
	leaf := chain[0]
	sum := sha256.Sum256(leaf.Raw)
	peer := devicePeer{pin: sum[:], how: "device certificate pinned",
		// Issuer = subject: enough to tell a self-signed certificate from a
		// CA's, without a public-key operation on every session's path.
		selfSigned: bytes.Equal(leaf.RawIssuer, leaf.RawSubject)}
	untrusted := func(r Reason, format string, args ...any) (devicePeer, *untrustedPeer) {
		return peer, &untrustedPeer{reason: r, err: fmt.Errorf(format, args...)}
	}
	if roots := s.p.cfg.OnDieRoots; roots != nil {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: s.p.now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil {
			bind := s.p.cfg.OnDieBinding
			if bind == nil {
				bind = BindOnDieUUID
			}
			if berr := bind(chain, s.hello.Hello, a.inv); berr != nil {
				return untrusted(ReasonDeviceUntrusted, "On-Die certificate not bound to device %s: %w", s.hello.Hello.UUID, berr)
			}
			peer.onDie, peer.how = true, "On-Die certificate verified"
		}
	}
	name := leaf.Subject.CommonName
	if a.resumed && a.prog.Done.Has(DoneCommitSent) && containsCert(a.prog.Certificates, leaf.Raw) {
		// The commit of this session landed before a restart: the device now
		// serves the TLS certificate this session installed, whose key AMT
		// generated and never let out — it is the device. The identity the
		// session began with is kept.
		return devicePeer{pin: a.prog.DeviceCertPin, onDie: a.prog.OnDieVerified,
			how: "the TLS certificate this session installed (its commit landed before the restart)"}, nil
	}
	switch {
	case a.resumed && a.prog.OnDieVerified && !peer.onDie:
		return untrusted(ReasonDeviceUntrusted, "device certificate %q is not the On-Die certificate the session began with", name)
	case a.resumed && !peer.onDie && len(a.prog.DeviceCertPin) > 0 && !bytes.Equal(a.prog.DeviceCertPin, peer.pin):
		return untrusted(ReasonDeviceUntrusted, "device certificate %q differs from the one pinned when the session began", name)
	case a.prior != nil && a.prior.OnDieVerified && !peer.onDie:
		// Once verified by On-Die, a device is never accepted without it.
		return untrusted(ReasonDeviceUntrusted, "device %s was verified by its On-Die certificate before; %q is not one", s.hello.Hello.UUID, name)
	case a.profile.RequireOnDie && !peer.onDie:
		return untrusted(ReasonDeviceUntrusted, "device certificate %q does not chain to a configured On-Die CA root", name)
	case a.reprovision && !a.resumed && !a.allowed && !peer.onDie &&
		(len(a.prior.DeviceCertPin) == 0 || !bytes.Equal(a.prior.DeviceCertPin, peer.pin)):
		return untrusted(ReasonReprovisionRefused, "device %s is provisioned and certificate %q is not the one it showed then (allow re-provisioning with Config.Reprovision)", s.hello.Hello.UUID, name)
	}
	if a.reprovision && !a.allowed {
		peer.how += "; the same device as the provisioned record"
	}
	return peer, nil
}

// checkPSKDevice is checkDevice for a PSK hello, before anything is sent: a
// TLS-PSK connection proves only that the peer holds the pair, and it shows no
// certificate. The pair of a setup.bin is a bearer secret (on every copy of
// the file), so it cannot re-provision a provisioned device — not even the
// pair that device was provisioned with — unless Config.Reprovision allows it.
// A pair RotatePSK gave the device (reserved for it, and never on any medium:
// only the store and the device hold it) can — the last confirmed one, or one
// whose SetTLSPSK the firmware has not confirmed: it is what rotation is for. No
// pair stands in for a device verified by On-Die or a profile that requires
// On-Die, or continues a session in progress that began otherwise than over
// this same pair.
func (s *Session) checkPSKDevice(a *attempt, pid pskx.PID, reserved bool) error {
	u := s.hello.Hello.UUID
	switch {
	case a.resumed && a.prog.PID != pid.Compact():
		began := "over PKI"
		if a.prog.PID != "" {
			began = "with PSK pair " + a.prog.PID
		}
		return Reject(ReasonDeviceUntrusted, "the session in progress for %s began %s; a hello with PSK pair %s cannot continue it", u, began, pid)
	case a.prior != nil && a.prior.OnDieVerified:
		return Reject(ReasonDeviceUntrusted, "device %s was verified by its On-Die certificate before; a TLS-PSK connection shows no certificate", u)
	case a.profile.RequireOnDie:
		return Reject(ReasonDeviceUntrusted, "profile %q requires an On-Die certificate; a TLS-PSK connection shows none", a.profile.Name)
	case a.reprovision && !a.resumed && !a.allowed && (!reserved || !rotatedPair(a.prior, pid.Compact()) || pid.Compact() == a.prior.PID):
		return Reject(ReasonReprovisionRefused, "device %s is provisioned, and PSK pair %s is not the one RotatePSK last gave it: a setup.bin pair proves only that its holder has a copy of it, not which device it is (allow re-provisioning with Config.Reprovision)", u, pid)
	}
	return nil
}

// rotatedPair reports whether pid is a pair RotatePSK gave the device that it
// may hold: the last confirmed one or the pending one.
func rotatedPair(r *DeviceRecord, pid string) bool {
	return pid != "" && (pid == r.RotatedPID || pid == r.PendingRotatedPID)
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
func BindOnDieUUID(chain []*x509.Certificate, h *hello.Message, _ Inventory) error {
	if len(chain) == 0 || h == nil {
		return errors.New("no certificate or no hello")
	}
	leaf, want := chain[0], h.UUID.String()
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

// ---- Connected → Identified ----

func (s *Session) identify(ctx context.Context, a *attempt) (string, error) {
	dev := a.conn.dev
	v := a.named
	if v.IsZero() {
		// AMT 11 names no version in its Server header (amt.ServerVersion):
		// read CIM_SoftwareIdentity.
		var err error
		if v, err = dev.Version(ctx); err != nil {
			return "", callFailed(ctx, err)
		}
	}
	a.firmware = amt.FirmwareFor(v)
	a.prog.Firmware = v
	if err := checkFirmware(a.firmware, a.agent != nil, a.prog.PID != ""); err != nil {
		return "", err
	}
	if a.profile.TLS != nil && !a.firmware.GenerateKeyPair {
		return "", Reject(ReasonProfile, "AMT %s cannot generate a key pair for TLS (from 6.2): use a profile without TLS", v)
	}
	sc, err := dev.SetupAndConfiguration(ctx)
	if err != nil {
		return "", callFailed(ctx, err)
	}
	a.devState, a.otp = sc.ProvisioningState, sc.OTP
	u, err := dev.UUID(ctx)
	if err != nil {
		return "", callFailed(ctx, err)
	}
	if u != s.hello.Hello.UUID {
		return "", Reject(ReasonUUIDMismatch, "the device reports UUID %s but its hello said %s", u, s.hello.Hello.UUID)
	}
	if a.prog.PID != "" {
		// Reads only so far: the pair is reserved for the device that
		// proved it holds it, before anything is written.
		if err := s.reservePSKPair(ctx, a.prog.PID, u); err != nil {
			return "", err
		}
	}
	switch sc.ProvisioningState {
	case amt.InProvisioning:
	case amt.PostProvisioning:
		if !a.resumed || !a.prog.Done.Has(DoneCommitSent) {
			return "", Reject(ReasonWrongState, "the device is already provisioned")
		}
	default:
		return "", Reject(ReasonWrongState, "the device is in %s-provisioning, expected In", sc.ProvisioningState)
	}
	if a.profile.TLS == nil && a.firmware.DefaultTLSCertificate && a.issuedCert {
		// Provisioned without a TLS certificate, CSME 16.1+ serves 16993
		// with a self-signed certificate of its own — not the
		// CA-issued (On-Die) remote-configuration certificate it shows now
		// (rpc-go lmsTls.go HandleAMTTransition; RPS TLSTunnelManager; the
		// Intel AMT SDK: "the self-signed certificate will be set as the TLS
		// Server certificate"). Nothing could verify it: the read-back and
		// every later connection would have to trust whoever answers.
		// MeshCentral always configures TLS in this flow.
		return "", Reject(ReasonProfile, "AMT %s, provisioned without a TLS profile, would serve a self-signed certificate nothing can verify "+
			"(its remote-configuration certificate is CA-issued): give the profile a TLS configuration (Profile.TLS)", v)
	}
	detail := fmt.Sprintf("AMT %s, %s-provisioning, UUID confirmed", v, sc.ProvisioningState)
	if a.agent != nil && sc.ProvisioningState != amt.PostProvisioning {
		// The OTP is this device's proof; the session takes the record after it.
		return detail + "; OTP to check", nil
	}
	if err := s.prove(ctx, a); err != nil {
		return "", err
	}
	return detail, nil
}

// checkFirmware refuses firmware below the remote-configuration minimums of
// the kind of session (amt.Firmware cites each rule's source).
func checkFirmware(fw amt.Firmware, agent, psk bool) error {
	tooOld := func(why string) error { return Reject(ReasonFirmwareTooOld, "AMT %s: %s", fw.Version, why) }
	switch {
	case psk && !fw.PSK:
		return tooOld("PSK provisioning was removed in AMT 11")
	case psk:
		return nil
	case !fw.AgentInitiatedRemoteConfig:
		return tooOld("remote configuration needs AMT 2.2 from build 20, 2.6, or 3.0 and later")
	case !agent && !fw.BareMetalRemoteConfig:
		return tooOld("bare-metal remote configuration needs AMT 3.2.1 or later (earlier firmware supports only agent-initiated remote configuration: announce it with ExpectAgentRequest)")
	}
	return nil
}

// prove makes the session the owner of the device's record: the device has
// shown it is the device (see attempt.proven). Another session of this
// provisioner that proved first keeps the device.
func (s *Session) prove(ctx context.Context, a *attempt) error {
	p := s.p
	if !p.own(s) {
		return Reject(ReasonDuplicateSession, "another session for %s already holds the device", s.hello.Hello.UUID)
	}
	// The device's lease (exactly one provisioner works on it), and its record
	// read under the lease with this session's history so far and attempt
	// counted; refused if another session changed it since authorize.
	rec, err := p.leaseSession(ctx, s, a)
	if err != nil {
		return err
	}
	a.proven = true
	s.proven.Store(true)
	rec.Inventory = a.inv
	rec.Source = s.hello.Source
	rec.HelloVersion = s.hello.Hello.Version
	rec.LastSeen = s.hello.Received
	rec.Session = a.prog
	s.rec = rec
	return nil
}

// ---- Identified: the OTP ----

func (s *Session) checkOTP(ctx context.Context, a *attempt) (string, error) {
	if a.agent == nil {
		return "OTP not required", nil
	}
	dev := a.conn.dev
	// The instance identify read moments ago on this connection holds the
	// OTP (ProvisioningServerOTP); nothing sent since changes it.
	have := a.otp
	if have.IsZero() || isZeroOTP([]byte(have.Reveal())) {
		return "", Reject(ReasonOTPMissing, "the device holds no OTP")
	}
	if !have.Equal(a.agent.OTP) {
		// The device that answered is not the one the agent prepared (or the
		// OTP was mistyped): amtkit asks it to end its provisioning window
		// (ExtendProvisioningPeriod 0, whose effect firmware does not
		// document). The pending request stays for the real device; repeated
		// mismatches lock it.
		detail := "asked the device to end its provisioning window (ExtendProvisioningPeriod 0)"
		if werr := dev.ExtendProvisioningPeriod(ctx, 0); werr != nil {
			detail = "asking the device to end its provisioning window failed: " + werr.Error()
		}
		locked, err := s.p.otpMismatch(ctx, s.hello.Hello.UUID)
		if err != nil {
			return detail, &SessionError{Reason: ReasonStoreFailed, Err: err}
		}
		if locked {
			detail += "; the agent request is locked for " + s.p.otpLockout().String()
		}
		return detail, Reject(ReasonOTPMismatch, "the device's OTP differs from the agent's")
	}
	if err := s.prove(ctx, a); err != nil {
		return "", err
	}
	hours := uint32((a.profile.window() + time.Hour - 1) / time.Hour)
	if err := dev.ExtendProvisioningPeriod(ctx, hours); err != nil {
		return "", callFailed(ctx, err)
	}
	a.prog.Done |= DoneOTPExtended
	return fmt.Sprintf("OTP verified; provisioning window extended by %dh", hours), nil
}

// ---- Identified → Configured ----

func (s *Session) configure(ctx context.Context, a *attempt) (string, error) {
	prog, prof, dev := a.prog, a.profile, a.conn.dev
	// Secrets are generated and recorded before they are sent, so a session that
	// dies after the device took them still knows them.
	var err error
	// Not once the step is done: a refused send leaves none (the device's
	// password is not amtkit's), and a resumed session must not then record
	// one it never sends.
	if prog.MEBxPassword.IsZero() && !prog.Done.Has(DoneMEBxPassword) {
		if prog.MEBxPassword, err = s.secret(prof.MEBxPassword); err != nil {
			return "", err
		}
	}
	if prog.AdminPassword.IsZero() {
		if prog.AdminPassword, err = s.secret(prof.AdminPassword); err != nil {
			return "", err
		}
	}
	prog.AdminUser = prof.adminUser()
	if prog.Users, err = s.userCredentials(prof, prog.Users); err != nil {
		return "", err
	}
	// Whether an earlier attempt sent the MEBx password, before this one
	// records that it sends it (with the secrets, in one save).
	mebxSentBefore := a.resumed && prog.Done.Has(DoneMEBxSent)
	// A device whose MEBx password amtkit set before (a re-provisioning)
	// was not at its default: under each of the firmware's three policies
	// (intel/lms) a refusal of the resend is a refusal of both.
	mebxKnown := a.prior != nil && !a.prior.MEBxPassword.IsZero()
	sending := !prog.Done.Has(DoneMEBxPassword) && !mebxSentBefore
	if sending {
		prog.Done |= DoneMEBxSent
	}
	if err := s.p.save(ctx, s.rec); err != nil {
		if sending {
			prog.Done &^= DoneMEBxSent // nothing was sent
		}
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	var did []string
	mark := func(d Done, what string) error {
		prog.Done |= d
		did = append(did, what)
		if err := s.p.save(ctx, s.rec); err != nil {
			return &SessionError{Reason: ReasonStoreFailed, Err: err}
		}
		return nil
	}
	failed := func(what string, err error) (string, error) {
		return strings.Join(did, ", "), callFailed(ctx, fmt.Errorf("%s: %w", what, err))
	}

	if !prog.Done.Has(DoneMEBxPassword) {
		what := "MEBx password"
		err := dev.SetMEBxPassword(ctx, prog.MEBxPassword)
		switch {
		case err == nil:
		case errors.Is(err, amt.StatusNotPermitted) && mebxSentBefore && !mebxKnown:
			// An earlier attempt of this session sent it and its answer was
			// lost: that send set it (the default policy allows one change
			// from the factory default), and the recorded password is the
			// one. (Had the device refused that send too, its password was
			// changed before amtkit came; nothing tells the two apart.)
			what = "MEBx password (set by the earlier attempt)"
		case errors.Is(err, amt.StatusNotPermitted):
			// The MEBx password is no longer the factory default (set in MEBx,
			// by setup.bin or an earlier provisioning) and the policy allows no
			// change. CommitChanges only needs it changed from the default.
			// An earlier attempt that never sent it (it ended before) changes
			// nothing here.
			prog.MEBxPassword = amt.Secret{}
			if a.prior != nil {
				prog.MEBxPassword = a.prior.MEBxPassword
			}
			what = "MEBx password already changed from the default; left as it is"
		default:
			return failed("SetMEBxPassword", err)
		}
		if err := mark(DoneMEBxPassword, what); err != nil {
			return "", err
		}
	}
	if !prog.Done.Has(DoneAdminACL) {
		if err := dev.SetAdminACLEntryEx(ctx, prog.AdminUser, prog.AdminPassword, prog.DigestRealm); err != nil {
			return failed("SetAdminAclEntryEx", err)
		}
		// Any later challenge in this session is for the new account.
		dev.Client().SetCredentials(prog.AdminUser, prog.AdminPassword.Reveal())
		if err := mark(DoneAdminACL, "admin account"); err != nil {
			return "", err
		}
	}
	if host, domain := a.inv.HostDomain(); !prof.SkipHostName && host != "" && !prog.Done.Has(DoneHostName) {
		// The settings read at connect are echoed back with the new names (one
		// exchange instead of SetHostName's Get and Put).
		gs := *a.general
		gs.HostName, gs.DomainName = host, domain
		if _, err := dev.PutGeneralSettings(ctx, &gs); err != nil {
			return failed("host name", err)
		}
		if err := mark(DoneHostName, "host name "+a.inv.FQDN); err != nil {
			return "", err
		}
	}
	// Nothing after this reads the settings: a session waiting seconds on key
	// generation, the commit and the restart does not hold them.
	a.general = nil
	if !prof.SkipClockSync {
		// Idempotent: repeated on resume.
		what, err := syncClock(ctx, dev, s.p.now)
		if err != nil {
			return failed("clock", err)
		}
		if err := mark(DoneClock, what); err != nil {
			return "", err
		}
	}
	if prof.TLS != nil {
		if !prog.Done.Has(DoneTLSCertificate) {
			found, err := s.settlePendingCertificate(ctx, a, dev, PurposeTLS)
			if err != nil {
				return strings.Join(did, ", "), err
			}
			what := "TLS certificate (found on the device: installed by an earlier attempt)"
			if !found {
				if _, err := s.issueForAMTKey(ctx, a, dev, PurposeTLS); err != nil {
					return strings.Join(did, ", "), err
				}
				what = "TLS certificate"
			}
			if err := mark(DoneKeyPair|DoneTLSCertificate, what); err != nil {
				return "", err
			}
		}
		if !prog.Done.Has(DoneTLSBound) {
			cur, ok := currentCertificate(prog.Certificates, PurposeTLS)
			if !ok {
				return strings.Join(did, ", "), &SessionError{Reason: ReasonInternal, Err: errors.New("no TLS certificate recorded")}
			}
			bind := dev.BindTLSCertificate
			if !a.resumed && !a.firmware.Version.AtLeast(amt.Version{Major: 22}) {
				// A device in provisioning has no TLS credential context: one
				// Create with the collection reference MeshCentral and
				// go-wsman-messages send (amt.TLSCollectionEPR), instead of
				// enumerating the contexts and the collection. AMT 22 refused a
				// hand-built reference (RPS amtCertificatePolicy.ts): there the
				// device's own is echoed.
				bind = dev.BindTLSCertificateDirect
			}
			if _, err := bind(ctx, cur.Handle); err != nil {
				return failed("binding the TLS certificate", err)
			}
			if err := mark(DoneTLSBound, "TLS bound"); err != nil {
				return "", err
			}
		}
		if !prog.Done.Has(DoneTLSEnabled) {
			if err := enableRemoteTLS(ctx, dev, prof.TLS); err != nil {
				return strings.Join(did, ", "), err
			}
			if err := mark(DoneTLSEnabled, "TLS enabled"); err != nil {
				return "", err
			}
		}
	}
	if len(prog.Users) > 0 && !prog.Done.Has(DoneUsers) {
		if err := configureUsers(ctx, dev, prof, prog); err != nil {
			return strings.Join(did, ", "), err
		}
		if err := mark(DoneUsers, fmt.Sprintf("%d user accounts", len(prog.Users))); err != nil {
			return "", err
		}
	}
	// 802.1X (Profile.Network, and the deprecated Profile.IEEE8021X) is not
	// configured here: the firmware takes it after activation, the RADIUS
	// server's root first (RPS wiredNetworkConfiguration.ts), so it is the
	// "8021x-wired" area of the reconcile a session runs once provisioned.
	return strings.Join(did, ", "), nil
}

// secret returns a profile's fixed secret, or a new random password.
func (s *Session) secret(fixed amt.Secret) (amt.Secret, error) {
	if !fixed.IsZero() {
		return fixed, nil
	}
	pw, err := amt.GeneratePassword(s.p.rand)
	if err != nil {
		return amt.Secret{}, &SessionError{Reason: ReasonInternal, Err: err}
	}
	return pw, nil
}

// userCredentials gives each of the profile's users a password: the one the
// profile fixes (an audited opt-in), the one generated earlier in this
// session, or a new random one, so that no secret that works on one device is
// given to another.
func (s *Session) userCredentials(prof Profile, have []UserCredential) ([]UserCredential, error) {
	if len(prof.Users) == 0 {
		return nil, nil
	}
	out := make([]UserCredential, 0, len(prof.Users))
	for _, u := range prof.Users {
		c := UserCredential{Name: u.Name}
		for _, h := range have {
			if h.Name == u.Name {
				c.Password = h.Password
			}
		}
		if c.Password.IsZero() {
			pw, err := s.secret(u.Password)
			if err != nil {
				return nil, err
			}
			c.Password = pw
		}
		out = append(out, c)
	}
	return out, nil
}

// enableRemoteTLS turns TLS on for AMT's network interface only: during remote
// configuration the firmware accepts a commit that also enables TLS on the
// local (LMS) interface but ignores it, leaving the device In-provisioning
// (MeshCentral's bare-metal provisioning server, amtprovisioningserver.js).
// Local TLS is configured after provisioning, as RPS does.
//
// The remote instance is read by its InstanceID (one Get, as go-wsman-messages'
// amt/tls SettingData.Get does) rather than by enumerating both.
func enableRemoteTLS(ctx context.Context, dev *amt.Device, prof *TLSProfile) error {
	st, err := dev.TLSSetting(ctx, amt.TLSRemoteInstanceID)
	if err != nil {
		return callFailed(ctx, fmt.Errorf("enabling TLS: %w", err))
	}
	st.Enabled = true
	st.MutualAuthentication = false
	st.AcceptNonSecureConnections = prof.AllowNonTLS
	if _, err := dev.PutTLSSettings(ctx, st); err != nil {
		return callFailed(ctx, fmt.Errorf("enabling TLS (%s): %w", st.InstanceID, err))
	}
	return nil
}

// configureUsers adds (or updates) the profile's digest accounts.
func configureUsers(ctx context.Context, dev *amt.Device, prof Profile, prog *SessionRecord) error {
	existing, err := dev.UserACLEntries(ctx)
	if err != nil {
		return callFailed(ctx, err)
	}
	byName := make(map[string]uint32, len(existing))
	for _, e := range existing {
		byName[e.Username] = e.Handle
	}
	for i, u := range prof.Users {
		req := amt.UserACLEntryRequest{Username: u.Name, Password: prog.Users[i].Password, DigestRealm: prog.DigestRealm, Access: u.Access, Realms: u.Realms}
		if h, ok := byName[u.Name]; ok {
			if err := dev.UpdateUserACLEntryEx(ctx, h, req); err != nil {
				return callFailed(ctx, fmt.Errorf("user %s: %w", u.Name, err))
			}
			continue
		}
		if _, err := dev.AddUserACLEntryEx(ctx, req); err != nil {
			return callFailed(ctx, fmt.Errorf("user %s: %w", u.Name, err))
		}
	}
	return nil
}

// issueForAMTKey has AMT generate a key, the Issuer certify it, and AMT store
// the certificate; the certificate is recorded in the session's progress.
func (s *Session) issueForAMTKey(ctx context.Context, a *attempt, dev *amt.Device, purpose CertificatePurpose) (*DeviceCertificate, error) {
	keyAttempts, keyDelay := 0, time.Duration(0)
	if t := a.profile.TLS; t != nil {
		keyAttempts, keyDelay = t.KeyAttempts, t.KeyRetryDelay
	}
	// The entry is recorded, pending, once the key exists and again once the
	// certificate is issued: an attempt that dies before the outcome is
	// saved leaves its successor what to look for (settlePendingCertificate).
	at := -1
	dc, err := s.p.issueForAMTKey(ctx, dev, &a.inv, &a.firmware, purpose, keyAttempts, keyDelay, func(dc *DeviceCertificate) error {
		switch {
		case dc.RemovedFromDevice && at < 0:
			return nil // never recorded
		case dc.RemovedFromDevice && len(dc.DER) == 0:
			// Its key was deleted again and nothing was issued.
			a.prog.Certificates = slices.Delete(a.prog.Certificates, at, at+1)
			at = -1
		case dc.RemovedFromDevice:
			// Issued and never installed: revoked once replaced, as
			// settlePendingCertificate leaves it.
			e := *dc
			e.Pending, e.KeyHandle = false, ""
			a.prog.Certificates[at] = e
		case at < 0:
			a.prog.Certificates = append(a.prog.Certificates, *dc)
			at = len(a.prog.Certificates) - 1
		default:
			a.prog.Certificates[at] = *dc
		}
		return s.p.save(ctx, s.rec)
	})
	if err != nil {
		// The pending entry stays, whatever failed: the next attempt looks
		// for its certificate on the device and deletes its key if the
		// certificate is not there (a discarded key is gone already, and the
		// fault its delete gets is ignored). Dropping it here lost the entry
		// of a certificate whose AddCertificate reply was lost while the
		// device could not be asked (found by review).
		return nil, err
	}
	a.prog.Certificates[at] = *dc
	return dc, nil
}

// settlePendingCertificate settles, in a resumed attempt, a certificate an
// earlier attempt recorded as pending (its key generated, perhaps its
// certificate issued and sent) and then died before it recorded the outcome:
// found on the device by its bytes, it is the one (true); not found, its key
// is deleted and, if it was issued, it stays in the record as never
// installed, to be revoked as replaced once the session's own certificate is
// read back. Before, the resumed attempt installed a second key pair and
// certificate and left the first on the device in no record.
func (s *Session) settlePendingCertificate(ctx context.Context, a *attempt, dev *amt.Device, purpose CertificatePurpose) (bool, error) {
	at := slices.IndexFunc(a.prog.Certificates, func(c DeviceCertificate) bool { return c.Purpose == purpose && c.Pending })
	if at < 0 {
		return false, nil
	}
	dc := &a.prog.Certificates[at]
	h, err := issuanceOnDevice(ctx, dev, dc, a.prog.Certificates)
	if err != nil {
		return false, callFailed(ctx, err) // the next attempt tries again
	}
	if h != "" {
		dc.Handle, dc.Pending = h, false
		return true, nil
	}
	if len(dc.DER) == 0 {
		a.prog.Certificates = slices.Delete(a.prog.Certificates, at, at+1)
	} else {
		dc.Pending, dc.RemovedFromDevice, dc.KeyHandle = false, true, ""
	}
	return false, s.p.save(ctx, s.rec)
}

// ---- Configured → Committed ----

func (s *Session) commit(ctx context.Context, a *attempt) (string, error) {
	a.prog.Done |= DoneCommitSent
	if err := s.p.save(ctx, s.rec); err != nil {
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	err := a.conn.dev.CommitChanges(ctx)
	if err == nil {
		return "CommitChanges succeeded", nil
	}
	var te *wsman.TransportError
	if errors.As(err, &te) && te.Phase != wsman.PhaseConnect {
		// AMT 19+ restarts its network stack on commit and the reply is lost;
		// verify decides whether the commit landed.
		a.commitErr = err
		return "CommitChanges sent; connection dropped (firmware restarting its network stack)", nil
	}
	if se := callFailed(ctx, err); se.Reason != ReasonDeviceError {
		return "", se
	}
	return "", &SessionError{Reason: ReasonCommitFailed, Err: err}
}

// ---- Committed → Provisioned ----

func (s *Session) verify(ctx context.Context, a *attempt) (string, error) {
	attempts, delay := s.p.cfg.CommitVerifyAttempts, s.p.cfg.CommitVerifyDelay
	if attempts <= 0 {
		attempts = 12
	}
	if delay <= 0 {
		delay = 5 * time.Second
	}
	access := s.p.accessFor(s.rec, a.prog, a.profile.AllowLegacyTLS)
	var how string
	var err error
	notYet := 0 // answers that the commit has not (yet) taken effect
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if werr := s.p.sleep(ctx, delay); werr != nil {
				err = errors.Join(err, werr)
				break
			}
		}
		how, err = s.p.readBack(ctx, access)
		if err == nil || isUntrusted(err) {
			break
		}
		if errors.Is(err, wsman.ErrUnauthorized) || errors.Is(err, errNotProvisioned) {
			// Still in provisioning, or the new admin not yet accepted: a
			// device that is still reloading after the commit may answer so
			// (Intel: "allow sufficient time for Intel AMT to reload"); rpc-go
			// reads the state three times after a commit, RPS waits 15 s.
			// The third such answer is final.
			if notYet++; notYet >= commitSettleReads {
				break
			}
		}
	}
	switch {
	case isUntrusted(err):
		// The device answered with a certificate other than the one recorded:
		// whatever answered is not the device that was configured.
		return "", &SessionError{Reason: ReasonDeviceUntrusted, Rejected: true, Err: err}
	case errors.Is(err, errNotProvisioned), errors.Is(err, wsman.ErrUnauthorized):
		return "", &SessionError{Reason: ReasonVerifyFailed, Err: err}
	case err != nil:
		// The state could not be read at all (the device still restarting, or
		// gone): whether the commit took effect is unknown.
		return "", &SessionError{Reason: ReasonCommitUnconfirmed, Err: &CommitUnconfirmedError{CommitErr: a.commitErr, VerifyErr: err}}
	}

	// The device is provisioned as this session configured it: its progress
	// becomes the device's record.
	rec := s.rec
	prog := a.prog
	replaced := rec.Certificates
	rec.Done = prog.Done | DoneCommitted
	rec.Bundle, rec.MatchedRoot, rec.PID, rec.AgentOTP = prog.Bundle, prog.MatchedRoot, prog.PID, prog.AgentOTP
	rec.Firmware, rec.DigestRealm, rec.ControlMode = prog.Firmware, prog.DigestRealm, amt.ControlModeACM
	rec.DeviceCertPin, rec.OnDieVerified = prog.DeviceCertPin, prog.OnDieVerified || rec.OnDieVerified
	rec.AdminUser, rec.AdminPassword, rec.MEBxPassword, rec.Users = prog.AdminUser, prog.AdminPassword, prog.MEBxPassword, prog.Users
	rec.Certificates = append(retiredFromDevice(cloneCerts(replaced, nil)), prog.Certificates...)
	rec.TrustedRoots = nil // the device was unprovisioned since: its roots went with it
	rec.Session = nil
	rec.Agent = nil
	// The outcome is saved with the merge: a crash before the step's own
	// save must not leave a verified record that says Committed.
	rec.State, rec.Reason, rec.LastError = StateProvisioned, "", ""
	if err := s.p.markPSKUsed(ctx, prog.PID, rec.UUID); err != nil {
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	if err := s.p.save(ctx, rec); err != nil {
		return "", &SessionError{Reason: ReasonStoreFailed, Err: err}
	}
	// Only now, with the new certificates read back in use, are the ones they
	// replaced revoked.
	if n := s.p.revokeReplaced(ctx, rec, prog.Certificates); n > 0 {
		how += fmt.Sprintf("; %d superseded certificate(s) revoked", n)
	}
	return how, nil
}

var errNotProvisioned = errors.New("device is not in post-provisioning admin control mode")

// commitSettleReads is how many read-backs that find the commit not in effect
// (in provisioning, or the new admin refused) verify makes before it gives up:
// rpc-go's commitPortRestartAttempts (internal/commands/activate/local.go).
const commitSettleReads = 3

// readBack connects as the new admin and reads the post-provisioning state.
func (p *Provisioner) readBack(ctx context.Context, access *deviceAccess) (string, error) {
	conn, how, err := p.dialAdmin(access)
	if err != nil {
		return "", err
	}
	defer conn.close()
	// The provisioning state is the proof: a device that halted
	// mid-activation reports a control mode while still in provisioning
	// (rpc-go internal/commands/activate/local.go, issue 1461). The control
	// mode needs no read of its own here: remote configuration, which this
	// session ran, always ends in admin control ("By default, the host-based
	// configuration method puts the device in the Client Control mode. All
	// other configuration methods automatically put the device in the Admin
	// Control mode": Intel SCS User Guide, "Control Modes").
	sc, err := conn.dev.SetupAndConfiguration(ctx)
	if err != nil {
		return "", err
	}
	if sc.ProvisioningState != amt.PostProvisioning {
		return "", fmt.Errorf("%w: state %s", errNotProvisioned, sc.ProvisioningState)
	}
	return "Post-provisioning (admin control, by remote configuration), read back " + how, nil
}

// callFailed gives the reason of a failed WS-Management call, where it failed:
// the session's deadline or cancellation, a connection that could not be
// opened or broke, a handshake the device aborted, or an error status of the
// device.
func callFailed(ctx context.Context, err error) *SessionError {
	var se *SessionError
	if errors.As(err, &se) {
		return se
	}
	out := &SessionError{Err: err}
	switch {
	case ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		out.Reason = reasonForCtx(ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		out.Reason = ReasonTimeout
	case isRemoteAlert(err):
		out.Reason = ReasonTLSRefused
	case errors.Is(err, wsman.ErrConnect):
		out.Reason = ReasonConnectFailed
	case errors.Is(err, wsman.ErrSend) || errors.Is(err, wsman.ErrResponseLost):
		// Connected, then the connection broke: the request may have taken
		// effect. The record says which steps were done; a new hello or Resume
		// reads the device's state before repeating anything.
		out.Reason = ReasonConnectionLost
	default:
		out.Reason = ReasonDeviceError
	}
	return out
}
