package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/oneline"
)

// Reconcile brings a provisioned device in line with its profile: it reads
// what the device has, computes the difference ([Change]s) and changes only
// that. A session runs it right after the device is provisioned — the
// settings firmware takes only after activation (RPS and rpc-go configure
// networks, 802.1X, CIRA and features then) are applied here — and the
// Maintainer runs it on a schedule ([Maintainer.ReconcileEvery]) so that a
// changed profile reaches devices provisioned earlier. With
// [ReconcileOptions.DryRun] it only reports the difference.
//
// Each change is an [Event] (step "reconcile"); the record is saved after
// every change that alters it (a rotated password is recorded before it is
// sent). Reconcile is idempotent: what is in line produces no change, so an
// interrupted run is resumed by running it again. It holds the device's lease
// while it works.
//
// A device that no longer serves the TLS certificate amtkit installed but the
// one it showed before it was provisioned, and proves it is back in
// pre-provisioning — it completes a handshake with the provisioning
// certificate it was provisioned with (a factory root, which a full
// unprovision keeps), asks for one over TLS 1.3, or reports a state other
// than post-provisioning when read with the recorded admin password over a
// connection pinned to that certificate — is settled as
// [Provisioner.Unprovision] settles it (certificates retired and revoked,
// admin password and users cleared, the MEBx password kept): an Unprovision
// whose outcome was never recorded, or a local unprovision (MEBx, an agent).
// An event of step "unprovision" says so, and Reconcile returns an error
// wrapping [ErrNotProvisioned]. The weaker sign Unprovision's retry also takes
// (over TLS 1.2, a request for a client certificate after a signed key
// exchange, which a relay can add) is not enough here: call Unprovision.
//
// A change that fails, or an area whose planning fails (the device cannot
// be reached, say), does not end the run and is not Reconcile's error: it is
// in the report (Change.Err, ReconcileReport.Failed; ReconcileReport.Err
// joins them, so errors.Is(rep.Err(), ErrNoKVM) works) and, unless DryRun,
// in the record's ReconcileError. Reconcile's error says why it did not run or could not
// record its outcome: [ErrNotFound] (no record), [ErrNotProvisioned] (the
// record holds no verified provisioning, or the case above), one matching
// [ErrLeaseHeld] (another provisioner or this one is working on the device:
// try again later), a rejection with [ReasonProfile] (the inventory names a
// profile Config.Profiles lacks), or a [*SessionError] with
// [ReasonStoreFailed].
func (p *Provisioner) Reconcile(ctx context.Context, uuid amt.UUID, opts ReconcileOptions) (*ReconcileReport, error) {
	r, release, err := p.leaseDevice(ctx, uuid)
	if err != nil {
		return nil, err
	}
	defer release()
	if !r.Provisioned() {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotProvisioned, uuid, r.State)
	}
	return p.reconcile(ctx, r, opts)
}

// ReconcileOptions tune [Provisioner.Reconcile]. The zero value applies every
// difference between the device and its profile.
type ReconcileOptions struct {
	// DryRun computes and reports the changes without applying any.
	DryRun bool
	// Areas limits the run to these areas (e.g. "names", "clock"); empty:
	// all. "roots" also runs with "8021x-wired", "wifi" or "cira", and
	// deletes only roots of an area that ran and succeeded.
	Areas []string
	// RotateAdminPassword and RotateMEBxPassword set new random passwords
	// (recorded before they are sent) even where nothing else differs.
	RotateAdminPassword bool
	RotateMEBxPassword  bool

	activation bool // a session's run right after provisioning: activation areas only
}

// ChangeAction says what a [Change] does.
type ChangeAction string

// Change actions.
const (
	ChangeAdd    ChangeAction = "add"
	ChangeUpdate ChangeAction = "update"
	ChangeRemove ChangeAction = "remove"
	ChangeRotate ChangeAction = "rotate"
	ChangeSync   ChangeAction = "sync"
)

// Change is one difference between a device and its profile, and what
// reconcile does about it. From and To describe the values for people and
// logs; they never hold secrets.
type Change struct {
	Area   string       // e.g. "names", "clock", "credentials", "users", "8021x-wired", "wifi", "ip", "cira", "features", "roots", "tls"
	Action ChangeAction // what is done
	Target string       // what it concerns, e.g. `wifi profile "corp"`
	From   string       // what the device has ("" for an add)
	To     string       // what the profile wants ("" for a remove)
	// Err is why applying it failed (nil when applied, or in a dry run).
	Err error

	apply func(ctx context.Context) error
}

// String renders a change as one line, e.g. `names: update host name "pc-1" → "pc-0042"`.
// Target and Err may hold what a device answered (an MPS address, a policy
// name, a fault's reason): their control characters are escaped, so that a
// device cannot add lines to a plan or report printed line by line.
func (c Change) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s", c.Area, c.Action, oneline.Escape(c.Target))
	switch {
	case c.From != "" && c.To != "":
		fmt.Fprintf(&b, " %q → %q", c.From, c.To)
	case c.To != "":
		fmt.Fprintf(&b, " %q", c.To)
	case c.From != "":
		fmt.Fprintf(&b, " (was %q)", c.From)
	}
	if c.Err != nil {
		fmt.Fprintf(&b, ": failed: %s", oneline.Escape(c.Err.Error()))
	}
	return b.String()
}

// ReconcileReport is the outcome of one reconcile of one device.
type ReconcileReport struct {
	Device  amt.UUID
	DryRun  bool
	Changes []Change // in the order they were (or would be) applied
	Applied int
	Failed  int
}

// Err returns an error joining the failed changes' errors, or nil: one line
// per failed change, its Target and error text escaped as [Change.String]
// escapes them, each unwrapping to the change's Err.
func (r *ReconcileReport) Err() error {
	var errs []error
	for _, c := range r.Changes {
		if c.Err != nil {
			errs = append(errs, &changeError{area: c.Area, action: c.Action, target: c.Target, err: c.Err})
		}
	}
	return errors.Join(errs...)
}

// changeError is a failed change in ReconcileReport.Err. Target and the
// error may quote what a device answered (an MPS address, a fault's reason):
// before, their line breaks went into Err as they were, and a device could
// add what read as another area's failed change to the record's
// ReconcileError and the Maintainer's events (found by review).
type changeError struct {
	area   string
	action ChangeAction
	target string
	err    error
}

func (e *changeError) Error() string {
	return fmt.Sprintf("%s %s %s: %s", e.area, e.action, oneline.Escape(e.target), oneline.Escape(e.err.Error()))
}

func (e *changeError) Unwrap() error { return e.err }

// reconcileContext is what an area's planner works with.
type reconcileContext struct {
	p       *Provisioner
	rec     *DeviceRecord // the device's record, read under its lease; planners change it and call save
	profile Profile
	dev     *ManagedDevice
	fw      amt.Firmware
	opts    ReconcileOptions
	ok      map[string]bool // the areas that ran in this run and succeeded (planned, and every change applied)
	// dryRoots: in a dry run, the trusted roots an earlier area's plan adds
	// (a run applies them before the next area plans, which then finds
	// them on the device).
	dryRoots map[string]bool
}

// addsRoot reports whether an area's plan, which finds der missing from the
// device, adds it: always in a run; in a dry run, unless an earlier area's
// plan of the same run adds it already.
func (rc *reconcileContext) addsRoot(der []byte) bool {
	if !rc.opts.DryRun {
		return true
	}
	if rc.dryRoots[string(der)] {
		return false
	}
	if rc.dryRoots == nil {
		rc.dryRoots = map[string]bool{}
	}
	rc.dryRoots[string(der)] = true
	return true
}

// save writes the record (after a change that altered it).
func (rc *reconcileContext) save(ctx context.Context) error {
	return rc.p.save(ctx, rc.rec)
}

// area is one part of a device's configuration a profile describes: plan
// reads what the device has and returns the changes that bring it in line.
// A change's apply makes the change and records it.
type area struct {
	name string
	// activation: a session applies this area right after the device is
	// provisioned (what firmware takes only once activated). The other areas
	// the session's configure step already did.
	activation bool
	// configured reports whether a profile asks anything of this area (an
	// activation area a profile leaves alone costs a session no exchange).
	configured func(Profile) bool
	plan       func(ctx context.Context, rc *reconcileContext) ([]Change, error)
	// with: the area also runs when one of these is asked for
	// (ReconcileOptions.Areas).
	with []string
}

// areas lists what reconcile keeps in line, in the order it is applied:
// names and clock first (TLS needs the clock), credentials, then what each
// capability adds.
func (p *Provisioner) areas() []area {
	return []area{
		{name: "names", plan: planNames},
		{name: "clock", plan: planClock},
		{name: "credentials", plan: planCredentials},
		{name: "users", plan: planUsers}, // users_reconcile.go; a session sets them itself
		{name: "8021x-wired", activation: true, configured: func(p Profile) bool { return p.wired8021X() != nil }, plan: planWired8021X},
		{name: "wifi", activation: true, configured: func(p Profile) bool { return p.wifi() != nil }, plan: planWiFi},
		{name: "ip", activation: true, configured: func(p Profile) bool { return p.ipConfig() != nil }, plan: planIP},
		{name: "cira", activation: true, configured: func(p Profile) bool { return p.RemoteAccess != nil }, plan: planCIRA},     // remoteaccess.go
		{name: "features", activation: true, configured: func(p Profile) bool { return p.Features != nil }, plan: planFeatures}, // features.go
		{name: "roots", plan: planRoots, with: []string{"8021x-wired", "wifi", "cira"}},                                         // roots_reconcile.go; what the areas before it no longer need
		{name: "tls", activation: true, configured: tlsReconciled, plan: planTLS},                                               // remoteaccess_tls.go; last: its commit may drop the connection
	}
}

// hasActivationAreas reports whether prof configures anything applied after
// activation, so a session opens no connection for nothing.
func (p *Provisioner) hasActivationAreas(prof Profile) bool {
	for _, ar := range p.areas() {
		if ar.activation && (ar.configured == nil || ar.configured(prof)) {
			return true
		}
	}
	return false
}

// reconcile plans and applies the areas for r (held under its lease).
func (p *Provisioner) reconcile(ctx context.Context, r *DeviceRecord, opts ReconcileOptions) (*ReconcileReport, error) {
	prof, err := p.profileFor(r.Inventory)
	if err != nil {
		return nil, err
	}
	dev, err := p.openDevice(ctx, r)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	rc := &reconcileContext{p: p, rec: r, profile: prof, dev: dev, fw: amt.FirmwareFor(r.Firmware), opts: opts, ok: map[string]bool{}}
	if opts.activation && !p.hasActivationAreas(prof) {
		return &ReconcileReport{Device: r.UUID}, nil
	}
	rep := &ReconcileReport{Device: r.UUID, DryRun: opts.DryRun}
	if !opts.DryRun && slices.ContainsFunc(r.Certificates, DeviceCertificate.inFlight) {
		// An issuance an earlier run left unrecorded is settled first: its
		// certificate found on the device is the pending one the areas use.
		n, err := p.settleIssued(ctx, dev.Device, r)
		if n > 0 {
			if serr := p.save(ctx, r); serr != nil {
				return rep, &SessionError{Step: StepReconcile, Reason: ReasonStoreFailed, Err: serr}
			}
		}
		if err != nil {
			return rep, fmt.Errorf("settling a certificate issuance an earlier run left unrecorded: %w", err)
		}
	}
	for _, ar := range p.areas() {
		asked := len(opts.Areas) == 0 || slices.Contains(opts.Areas, ar.name) ||
			slices.ContainsFunc(ar.with, func(n string) bool { return slices.Contains(opts.Areas, n) })
		if !asked || opts.activation && !ar.activation {
			continue
		}
		start := p.now()
		changes, err := ar.plan(ctx, rc)
		if err == nil && len(changes) > maxAreaChanges {
			// Each change is a call the device may answer as slowly as
			// the call timeout allows, and the device's own lists drive
			// the plan (up to the 10,000 items an enumeration keeps).
			err = fmt.Errorf("the device's answers call for %d changes, more than any configuration needs (%d): it is not taken at its word", len(changes), maxAreaChanges)
		}
		if err != nil {
			rep.Failed++
			// Planning reads the device and works out the profile's values
			// for it (a static address from the integrator's callback): either
			// can fail; the error says which.
			rep.Changes = append(rep.Changes, Change{Area: ar.name, Action: ChangeSync, Target: "planning", Err: err})
			p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepReconcile, State: r.State, Duration: p.now().Sub(start),
				Reason: reasonOfCall(ctx, err), Err: err, Detail: ar.name + ": planning the changes failed; nothing in this area was changed"})
			continue
		}
		failed := rep.Failed
		for _, c := range changes {
			if opts.DryRun {
				rep.Changes = append(rep.Changes, c)
				p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepReconcile, State: r.State, Detail: "would " + c.String()})
				continue
			}
			start := p.now()
			c.Err = c.apply(ctx)
			e := Event{Time: p.now(), Device: r.UUID, Step: StepReconcile, State: r.State, Duration: p.now().Sub(start), Detail: c.String()}
			if c.Err != nil {
				rep.Failed++
				e.Err, e.Reason = c.Err, reasonOfCall(ctx, c.Err)
			} else {
				rep.Applied++
			}
			rep.Changes = append(rep.Changes, c)
			p.emit(e)
		}
		rc.ok[ar.name] = !opts.DryRun && rep.Failed == failed
	}
	if !opts.DryRun && !opts.activation && rep.Applied == 0 && slices.ContainsFunc(rep.Changes, func(c Change) bool {
		return c.Err != nil && (isUntrusted(c.Err) || isRemoteAlert(c.Err))
	}) {
		// The device no longer serves the certificate amtkit installed: if
		// it proves it is back in pre-provisioning, the record is settled
		// instead of failing every run. Not in a session's run after
		// activation: the session reports the device it verified
		// provisioned, and the Maintainer's reconcile finds what it became.
		if own, what := p.servesOwnCertificate(ctx, r, false); own {
			n := p.markUnprovisioned(ctx, r)
			p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepUnprovision, State: StateNew,
				Detail: fmt.Sprintf("found unprovisioned (%s); the record is settled; %d certificate(s) revoked", what, n)})
			if err := p.save(ctx, r); err != nil {
				return rep, &SessionError{Step: StepReconcile, Reason: ReasonStoreFailed, Err: err}
			}
			return rep, fmt.Errorf("%w: %s was found back in pre-provisioning (%s); its record is settled as unprovisioned", ErrNotProvisioned, r.UUID, what)
		}
	}
	if !opts.DryRun {
		r.Reconciled = p.now()
		r.ReconcileError = ""
		if err := rep.Err(); err != nil {
			r.ReconcileError = err.Error()
		}
		if err := p.save(ctx, r); err != nil {
			return rep, &SessionError{Step: StepReconcile, Reason: ReasonStoreFailed, Err: err}
		}
	}
	return rep, nil
}

// maxAreaChanges bounds the changes one area's plan may make. The plans of
// real devices need a few dozen at most; before, a device that listed
// thousands of MPS entries, policies or Wi-Fi profiles had reconcile send a
// call for each, holding a Maintainer run for as many call timeouts (found
// by review).
const maxAreaChanges = 256

// reasonOfCall is the reason of a failed call outside a session.
func reasonOfCall(ctx context.Context, err error) Reason {
	if r := ReasonOf(err); r != "" {
		return r
	}
	return callFailed(ctx, err).Reason
}

// planNames keeps AMT's host and domain name equal to the inventory FQDN
// (rpc-go's maintenance "syncdeviceinfo"/host name re-sync).
func planNames(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	host, domain := rc.rec.Inventory.HostDomain()
	if rc.profile.SkipHostName || host == "" {
		return nil, nil
	}
	gs, err := rc.dev.GeneralSettings(ctx)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(gs.HostName, host) && strings.EqualFold(gs.DomainName, domain) {
		return nil, nil
	}
	from := gs.HostName
	if gs.DomainName != "" {
		from += "." + gs.DomainName
	}
	return []Change{{Area: "names", Action: ChangeUpdate, Target: "host and domain name", From: from, To: rc.rec.Inventory.FQDN,
		apply: func(ctx context.Context) error {
			gs.HostName, gs.DomainName = host, domain
			_, err := rc.dev.PutGeneralSettings(ctx, gs)
			return err
		}}}, nil
}

// clockTolerance is the drift of AMT's clock that provisioning and reconcile
// leave alone: MeshCentral sets the clock only when it is more than 10 s off,
// both in its bare-metal provisioning server and in device management
// (amtprovisioningserver.js and amtmanager.js, attemptSyncClockEx). AMT's
// clock must be right for certificate validity; ten seconds do not matter
// to it.
const clockTolerance = 10 * time.Second

// syncClock reads AMT's clock and sets it when it is more than clockTolerance
// off, returning what it did for the session's record. A device that answers
// the set with a status (it refused the values) does not fail the session:
// MeshCentral's bare-metal server does not check the set's ReturnValue, and
// rpc-go carries on after a failed synchronisation ("Time synchronization
// failed, continuing", internal/commands/configure/tls.go). A set that got no
// answer is an error, as in MeshCentral.
func syncClock(ctx context.Context, dev *amt.Device, now func() time.Time) (string, error) {
	ta0, err := dev.LowAccuracyTimeSynch(ctx)
	if err != nil {
		return "", err
	}
	t := now()
	drift := ta0.Sub(t).Abs().Round(time.Second)
	if drift <= clockTolerance {
		return "clock within " + clockTolerance.String(), nil
	}
	err = dev.SetHighAccuracyTimeSynch(ctx, ta0, t, t)
	var st amt.Status
	switch {
	case err == nil:
		return fmt.Sprintf("clock set (was %s off)", drift), nil
	case errors.As(err, &st):
		return fmt.Sprintf("clock %s off, left as it is: the device refused the set (%s)", drift, st.String()), nil
	}
	return "", err
}

// planClock re-synchronises AMT's clock when it drifted.
func planClock(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	if rc.profile.SkipClockSync {
		return nil, nil
	}
	t, err := rc.dev.LowAccuracyTimeSynch(ctx)
	if err != nil {
		return nil, err
	}
	drift := t.Sub(rc.p.now())
	if drift < 0 {
		drift = -drift
	}
	if drift <= clockTolerance {
		return nil, nil
	}
	return []Change{{Area: "clock", Action: ChangeSync, Target: "clock",
		From: fmt.Sprintf("%s off", drift.Round(time.Second)), To: "synchronised",
		apply: func(ctx context.Context) error {
			_, err := rc.dev.SyncClock(ctx, rc.p.now)
			return err
		}}}, nil
}

// planCredentials rotates the admin and MEBx passwords when asked, and sets a
// fixed one the profile changed. A new password is recorded (as the next
// one) before it is sent; once the device took it, it becomes the current one.
func planCredentials(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	var out []Change
	rec, prof := rc.rec, rc.profile
	wantAdmin := !prof.AdminPassword.IsZero() && !prof.AdminPassword.Equal(rec.AdminPassword)
	if rc.opts.RotateAdminPassword || wantAdmin {
		out = append(out, Change{Area: "credentials", Action: ChangeRotate, Target: "admin password of " + rec.AdminUser,
			apply: func(ctx context.Context) error { return rc.rotateAdmin(ctx) }})
	}
	// Client control mode: firmware refuses SetMEBxPassword (rpc-go's
	// "configure mebx" refuses outside admin control mode), so a profile's
	// fixed MEBx password does not apply and an explicit rotation fails
	// before anything is sent.
	ccm := rec.ControlMode == amt.ControlModeCCM
	// A record with no MEBx password (ACM) is a device whose policy refused
	// the session's set: it refuses a fixed one too, so only an explicit
	// rotation tries (before, every run sent it and failed).
	wantMEBx := !ccm && !rec.MEBxPassword.IsZero() && !prof.MEBxPassword.IsZero() && !prof.MEBxPassword.Equal(rec.MEBxPassword)
	// A pending MEBx password is an earlier rotation whose outcome was lost:
	// it is sent again until the device's answer settles it.
	wantMEBx = wantMEBx || (!ccm && !rec.PendingMEBxPassword.IsZero())
	switch {
	case rc.opts.RotateMEBxPassword && ccm:
		out = append(out, Change{Area: "credentials", Action: ChangeRotate, Target: "MEBx password",
			apply: func(context.Context) error { return ErrMEBxInCCM }})
	case rc.opts.RotateMEBxPassword || wantMEBx:
		out = append(out, Change{Area: "credentials", Action: ChangeRotate, Target: "MEBx password",
			apply: func(ctx context.Context) error { return rc.rotateMEBx(ctx) }})
	}
	return out, nil
}

// rotateAdmin sets a new admin password: recorded as pending first, sent,
// then read back by signing in with it, and only then made current.
func (rc *reconcileContext) rotateAdmin(ctx context.Context) error {
	rec := rc.rec
	next := rc.profile.AdminPassword
	if next.IsZero() || next.Equal(rec.AdminPassword) {
		pw, err := amt.GeneratePassword(rc.p.rand)
		if err != nil {
			return err
		}
		next = pw
	}
	rec.PendingAdminPassword = next
	if err := rc.save(ctx); err != nil {
		return err
	}
	gs, err := rc.dev.GeneralSettings(ctx)
	if err != nil {
		return err
	}
	if err := rc.dev.SetAdminACLEntryEx(ctx, rec.AdminUser, next, gs.DigestRealm); err != nil {
		return err
	}
	// Read back: a new connection signed in with the new password, from a
	// copy of the record — the password becomes current only once it signs
	// in; until then it stays pending (openDevice settles a pending one), so
	// no later save of this reconcile records an unproven password as the
	// device's.
	probe := rec.Clone()
	probe.AdminPassword, probe.PendingAdminPassword = next, amt.Secret{}
	check, err := rc.p.openDevice(ctx, probe)
	if err != nil {
		return err
	}
	defer check.Close()
	if _, err := check.SetupAndConfiguration(ctx); err != nil {
		return fmt.Errorf("reading back with the new admin password: %w", err)
	}
	rec.AdminPassword, rec.PendingAdminPassword = next, amt.Secret{}
	rc.dev.Client().SetCredentials(rec.AdminUser, next.Reveal())
	return rc.save(ctx)
}

// rotateMEBx sets a new MEBx password (the firmware's policy may refuse a
// change after the first one from the default: PT_STATUS_NOT_PERMITTED).
//
// A pending password left by an earlier rotation whose outcome was lost is
// sent again (WS-Management cannot read the MEBx password back, and the
// device may hold either): setting it is idempotent, and afterwards the
// record knows. The pending password is dropped only when the device's
// policy refused it (PT_STATUS_NOT_PERMITTED); a lost reply, or another
// status, keeps it.
func (rc *reconcileContext) rotateMEBx(ctx context.Context) error {
	rec := rc.rec
	next := rec.PendingMEBxPassword
	if next.IsZero() {
		next = rc.profile.MEBxPassword
		if next.IsZero() || next.Equal(rec.MEBxPassword) {
			pw, err := amt.GeneratePassword(rc.p.rand)
			if err != nil {
				return err
			}
			next = pw
		}
		rec.PendingMEBxPassword = next
		if err := rc.save(ctx); err != nil {
			return err
		}
	}
	if err := rc.dev.SetMEBxPassword(ctx, next); err != nil {
		// Only a policy refusal says the device kept its password. Another
		// status (PT_STATUS_INTERNAL_ERROR, a busy firmware) says nothing
		// about an earlier send whose reply was lost: the pending password
		// is kept and sent again, as after a lost reply. Before, any status
		// dropped it, and a transient failure of the resend lost the only
		// copy of the password the first send had set (found by review).
		if errors.Is(err, amt.StatusNotPermitted) {
			// Refused: the device kept its password. A refused resend is a
			// refusal of both sends, whether or not the record knows the
			// device's MEBx password: an ACM record knows none only when
			// the session's own set was refused, by a "default password
			// only" policy with the password no longer the default, which
			// refuses every later change too; "during setup" refuses both
			// once the device is provisioned, and "anytime" refuses neither
			// (intel/lms AMT_SetupAndConfigurationService.h). Before, a
			// refused resend to a record knowing no MEBx password was read
			// as "the first send set it", recording a password the device
			// had refused (found by review).
			rec.PendingMEBxPassword = amt.Secret{}
			return errors.Join(err, rc.save(ctx))
		}
		return err
	}
	rec.MEBxPassword, rec.PendingMEBxPassword = next, amt.Secret{}
	return rc.save(ctx)
}

// ErrMEBxInCCM: ReconcileOptions.RotateMEBxPassword for a device in client
// control mode, whose firmware refuses SetMEBxPassword (rpc-go's
// "configure mebx": "MEBx password can only be configured in ACM"). Nothing
// was sent.
var ErrMEBxInCCM = errors.New("provisioning: client control mode does not allow setting the MEBx password")

// StepReconcile is the step of reconcile's events.
const StepReconcile Step = "reconcile"

// reconcileAfterActivation runs the activation areas for a record a session
// just provisioned (under the session's lease).
func (p *Provisioner) reconcileAfterActivation(ctx context.Context, r *DeviceRecord) {
	prof, err := p.profileFor(r.Inventory)
	if err != nil || !p.hasActivationAreas(prof) {
		return
	}
	if _, err := p.reconcile(ctx, r, ReconcileOptions{activation: true}); err != nil {
		p.emit(Event{Time: p.now(), Device: r.UUID, Step: StepReconcile, State: r.State, Reason: reasonOfCall(ctx, err), Err: err,
			Detail: "the settings applied after activation could not be applied; the Maintainer's reconcile retries"})
	}
}
