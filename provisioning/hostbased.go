package provisioning

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/internal/ctxwait"
	"github.com/amtkit/amtkit/wsman"
)

// HostBasedOptions tunes host-based activation. The zero value is usable for
// client control mode where the platform does not enforce TLS on its local
// ports (where it does, ActivateCCM needs SignIn to commit); admin control mode
// needs a MEBx password (or LeaveMEBxPassword) and, over WS-Man alone, a SignIn.
type HostBasedOptions struct {
	// TrustedHashes, when set, are the device's trusted root hashes (from PTHI,
	// amt/pthi): ActivateACM and UpgradeToACM refuse a bundle whose root is not
	// among them before sending anything.
	TrustedHashes []amt.CertHash
	// DNSSuffix, when set, is the DNS suffix the firmware matches the
	// provisioning certificate's name against: the PKI DNS suffix set in MEBx
	// or with pthi.Client.SetPKIDNSSuffix (pthi.Client.PKIDNSSuffix reads
	// it), else the DHCP option 15 suffix of the device's wired interface.
	// ActivateACM, UpgradeToACM and ActivateTLS (ACM) then refuse a bundle
	// whose leaf's name does not cover it (certs.Bundle.Covers; reason
	// suffix-mismatch) before sending anything: the firmware would refuse
	// AdminSetup with AuthFailed after the chain went out. A name that covers
	// it only by MeshCentral's per-TLD rule (amt.ErrSuffixUndocumented) is
	// sent. Empty: not checked here.
	DNSSuffix string
	// Observer receives one event per step. Nil: none.
	Observer Observer
	// UUID labels the events (the device's UUID from PTHI). Optional.
	UUID amt.UUID
	// Rand is the source of the McNonce. Nil: crypto/rand.
	Rand io.Reader
	// Now is the clock for events. Nil: time.Now.
	Now func() time.Time
	// Firmware is the AMT version (from PTHI's code versions, amt/pthi). It
	// decides the nonce signature for a SHA-384 provisioning certificate
	// (SHA-384 where amt.Firmware.SigningSHA384Required holds, SHA-256
	// elsewhere). Zero: read from
	// the device (CIM_SoftwareIdentity) when that choice arises.
	Firmware amt.Version

	// MEBxPassword is set on the device by admin control mode activations
	// (ActivateACM, UpgradeToACM, ActivateTLS for ACM), as RPS does in admin
	// mode and rpc-go before its TLS commit: a device left with the factory
	// MEBx password lets anyone at its keyboard reconfigure it. It must pass
	// amt.CheckPassword and not be "admin"; amt.GeneratePassword makes one
	// that can be typed at the MEBx prompt. Required for ACM unless
	// LeaveMEBxPassword.
	MEBxPassword amt.Secret
	// LeaveMEBxPassword lets an ACM activation leave the MEBx password as it
	// is (an integrator that sets it another way, e.g. with setup.bin). Client
	// control mode never sets it (the firmware refuses SetMEBxPassword in CCM).
	LeaveMEBxPassword bool
	// HostState, when set, reads the device's state over the host interface
	// (a *pthi.Client, or any [HostAgent]) for the read-back after a setup
	// call (Setup, AdminSetup, UpgradeClientToAdmin). After a lost reply it
	// is read first: the firmware may drop the local WS-Management relay as
	// it acts on the call, so a read over the relay often fails too and the
	// activation ends unconfirmed, while the host interface is untouched
	// (rpc-go reads the control mode over HECI after a failed setup call,
	// local.go handleSetupErrorWithControlModeVerification). After a reply it
	// is read first as well: the plain local port is whatever process holds
	// 127.0.0.1:16992, and the endpoint that answered the setup call is not
	// taken as its own witness; WS-Management is the fallback. Nil:
	// WS-Management only — then a process standing in for LMS is believed.
	HostState HostStateReader
	// SignIn opens a client to the same local endpoint as another account:
	// ActivateACM and UpgradeToACM use it to set the MEBx password as the
	// admin account, ActivateCCM to commit host-based Setup as the admin
	// account where the platform enforces TLS on its local ports (the local
	// system account cannot; rpc-go commitCCMChanges). [LocalSignIn] builds
	// one. Not used by ActivateTLS, which opens its own connections.
	SignIn func(ctx context.Context, user string, password amt.Secret) (*amt.Device, error)
	// Sleep waits between the read-backs of a setup call's outcome (a device
	// reporting the control mode while still in provisioning is read again,
	// up to three times a second apart). Nil: a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *HostBasedOptions) sleep(ctx context.Context, d time.Duration) error {
	if o.Sleep != nil {
		return o.Sleep(ctx, d)
	}
	return ctxwait.Sleep(ctx, d)
}

func (o *HostBasedOptions) rand() io.Reader {
	if o.Rand != nil {
		return o.Rand
	}
	return rand.Reader
}

func (o *HostBasedOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// LocalSignIn returns a [HostBasedOptions.SignIn] that opens clients to
// endpoint (the local WS-Management endpoint the activation uses, e.g.
// http://127.0.0.1:16992/wsman) with digest credentials and opts (a TLS policy
// for an https endpoint, a dialer, a logger …) on top of AMT's client options.
func LocalSignIn(endpoint string, opts ...wsman.Option) func(context.Context, string, amt.Secret) (*amt.Device, error) {
	return func(_ context.Context, user string, password amt.Secret) (*amt.Device, error) {
		c, err := amt.NewClient(endpoint, append(slices.Clone(opts), wsman.WithDigestAuth(user, password.Reveal()))...)
		if err != nil {
			return nil, err
		}
		return amt.NewDevice(c), nil
	}
}

// Host-based activation errors.
var (
	// ErrAlreadyActivated: the device is already in a control mode.
	ErrAlreadyActivated = errors.New("provisioning: device is already activated")
	// ErrModeNotAllowed: the device does not allow the requested control mode.
	ErrModeNotAllowed = errors.New("provisioning: control mode not allowed by the device")
	// ErrNotClientMode: UpgradeToACM needs a device in client control mode.
	ErrNotClientMode = errors.New("provisioning: device is not in client control mode")
	// ErrActivationUnconfirmed: the activation call's reply was lost and the
	// device's state could not be read back. Read it before anything else;
	// never resend AdminSetup blindly.
	ErrActivationUnconfirmed = errors.New("provisioning: activation sent, outcome unconfirmed")
	// ErrActivationHalted: the device reports the requested control mode but
	// is still "in provisioning": the activation halted half-way (rpc-go issue
	// 1461, mostly AMT 21). A control mode alone is no proof of success
	// (rpc-go internal/commands/activate/local.go requires post-provisioning).
	// [RecoverInProvisioning] returns such a device to pre-provisioning.
	ErrActivationHalted = errors.New("provisioning: activation halted: control mode set but the device is still in provisioning")
	// ErrCommitRequired: host-based Setup took effect but the platform (TLS
	// enforced on its local ports, AMT 19 and later) needs the admin
	// account's CommitChanges before it leaves pre-provisioning (rpc-go issue
	// 845), and none took effect: no HostBasedOptions.SignIn was given to
	// commit with, or the commit was lost before the firmware acted on it (the
	// state read back is still pre-provisioning). Committing as the admin
	// finishes the activation.
	ErrCommitRequired = errors.New("provisioning: host-based setup needs CommitChanges as the admin account")
	// ErrMEBxPasswordRequired: an admin control mode activation was asked
	// without a MEBx password (and without LeaveMEBxPassword), or with one
	// the firmware would refuse.
	ErrMEBxPasswordRequired = errors.New("provisioning: admin control mode activation needs a MEBx password")
	// ErrMEBxPasswordNotSet: ActivateACM or UpgradeToACM activated the
	// device (admin control mode, post-provisioning, read back) but setting
	// the MEBx password afterwards failed — refused, or its reply lost so
	// that whether it took is unknown. The device is activated: running the
	// activation again is refused (ErrAlreadyActivated); set the MEBx
	// password as the admin account (amt.Device.SetMEBxPassword) instead.
	ErrMEBxPasswordNotSet = errors.New("provisioning: the device is activated in admin control mode, but its MEBx password was not set")
)

// ActivateCCM activates a device in client control mode with
// IPS_HostBasedSetupService.Setup: what an agent on the device does over LMS
// with the local $$OsAdmin account (amt/pthi LocalSystemAccount). The admin
// account becomes "admin" with adminPassword.
//
// The outcome is read back, never assumed: post-provisioning in client
// control mode is success. A platform that enforces TLS on its local ports
// (AMT 19 and later) leaves the device in pre-provisioning until the admin
// account sends CommitChanges (rpc-go issue 845; rpc-go commitCCMChanges; RPS
// activation.ts SETUP → COMMIT_CHANGES): ActivateCCM then signs in as admin
// with opts.SignIn and commits, and if the commit fails it unprovisions the
// device as rpc-go does, so that activation can be tried again. Without
// SignIn it returns [ErrCommitRequired]. A lost Setup reply is settled by
// reading control mode and provisioning state back.
func ActivateCCM(ctx context.Context, dev *amt.Device, adminPassword amt.Secret, opts HostBasedOptions) error {
	return hostBased(ctx, &opts, StepActivate, func(ctx context.Context) (string, error) {
		if err := checkAdminPassword(adminPassword); err != nil {
			return "", err
		}
		hb, err := dev.HostBasedSetup(ctx)
		if err != nil {
			return "", err
		}
		if hb.CurrentControlMode != amt.ControlModeNone {
			return "", fmt.Errorf("%w (%s)", ErrAlreadyActivated, hb.CurrentControlMode)
		}
		if !slices.Contains(hb.AllowedControlModes, amt.ControlModeCCM) {
			return "", fmt.Errorf("%w: CCM (allowed: %s)", ErrModeNotAllowed, modeList(hb.AllowedControlModes))
		}
		if err := notInProvisioning(ctx, opts.HostState); err != nil {
			return "", err
		}
		gs, err := dev.GeneralSettings(ctx)
		if err != nil {
			return "", err
		}
		if err := checkRealm(gs.DigestRealm); err != nil {
			return "", err
		}
		err = dev.Setup(ctx, adminPassword, gs.DigestRealm, nil)
		st, detail, err := confirmActivation(ctx, dev, opts.HostState, false, err, amt.ControlModeCCM, "Setup", opts.sleep)
		if err != nil {
			return "", explainInProvisioning(ctx, dev, opts.HostState, err)
		}
		if st == amt.PostProvisioning {
			return detail, nil
		}
		// Pre-provisioning in client control mode: the commit is the admin's.
		return commitHostSetup(ctx, &opts, adminPassword, detail)
	})
}

// commitHostSetup commits a host-based Setup as the admin account and reads
// the state back; a failed commit unprovisions (rpc-go commitCCMChanges).
func commitHostSetup(ctx context.Context, o *HostBasedOptions, adminPassword amt.Secret, detail string) (string, error) {
	if o.SignIn == nil {
		return "", fmt.Errorf("%w: %s, the device is still in pre-provisioning; set HostBasedOptions.SignIn", ErrCommitRequired, detail)
	}
	admin, err := o.SignIn(ctx, adminUserName, adminPassword)
	if err != nil {
		return "", fmt.Errorf("signing in as %s to commit: %w", adminUserName, err)
	}
	cerr := admin.CommitChanges(ctx)
	if cerr != nil && !lostReply(cerr) {
		// A refused commit: put the device back, as rpc-go does.
		if uerr := admin.Unprovision(ctx); uerr != nil {
			return "", fmt.Errorf("CommitChanges: %w; unprovisioning after it failed too: %v", cerr, uerr)
		}
		return "", fmt.Errorf("CommitChanges: %w (the device was unprovisioned)", cerr)
	}
	// Read back: the commit restarts the firmware's network stack from AMT 19
	// (amt.Firmware.CommitDropsConnection), so over the host interface first
	// when there is one, then on a fresh connection, up to three times a
	// second apart until post-provisioning, as rpc-go reads HECI after a
	// commit (internal/commands/activate/local.go, commitActivation).
	var st amt.ProvisioningState
	var via string
	var rerr error
	for i := 0; i < activationReads; i++ {
		if i > 0 {
			if werr := o.sleep(ctx, time.Second); werr != nil {
				rerr = werr
				break
			}
		}
		st, via, rerr = readCommitted(ctx, o, adminPassword)
		if rerr == nil && st == amt.PostProvisioning {
			break
		}
	}
	switch {
	case rerr != nil:
		return "", fmt.Errorf("%w: CommitChanges: %v; reading the state back: %w", ErrActivationUnconfirmed, cerr, rerr)
	case st == amt.PreProvisioning:
		// The commit was lost before the firmware acted on it: the setup is
		// still pending, and committing again finishes it.
		return "", fmt.Errorf("%w: CommitChanges did not take effect (%v); the device is still in pre-provisioning with the setup pending: commit again", ErrCommitRequired, cerr)
	case st != amt.PostProvisioning:
		return "", fmt.Errorf("%w: after CommitChanges the device is in %v", ErrActivationHalted, st)
	}
	if cerr != nil {
		return detail + "; CommitChanges reply lost, post-provisioning read back" + via, nil
	}
	return detail + "; committed as " + adminUserName + ": post-provisioning" + via, nil
}

// readCommitted reads the provisioning state after a commit: over the host
// interface when there is one (via names it), else as the admin on a fresh
// connection.
func readCommitted(ctx context.Context, o *HostBasedOptions, adminPassword amt.Secret) (amt.ProvisioningState, string, error) {
	var errs []error
	if o.HostState != nil {
		st, err := o.HostState.ProvisioningState(ctx)
		if err == nil {
			return st, " over PTHI", nil
		}
		errs = append(errs, fmt.Errorf("over PTHI: %w", err))
	}
	check, err := o.SignIn(ctx, adminUserName, adminPassword)
	if err != nil {
		return 0, "", errors.Join(append(errs, fmt.Errorf("signing in again: %w", err))...)
	}
	st, err := check.SetupAndConfiguration(ctx)
	if err != nil {
		return 0, "", errors.Join(append(errs, err)...)
	}
	return st.ProvisioningState, "", nil
}

// adminUserName is the admin account host-based setup creates.
const adminUserName = "admin"

// ActivateACM activates a device in admin control mode with AdminSetup: the
// provisioning chain goes to the device leaf first, root last
// (AddNextCertInChain), then ConfigurationNonce ‖ McNonce is signed
// RSA-PKCS#1 v1.5 over SHA-256 (or SHA-384, see HostBasedOptions.Firmware)
// with the bundle's key (a crypto.Signer; it never leaves the integrator's
// keystore). The admin account becomes "admin" with adminPassword; then, as
// the admin account (opts.SignIn), the MEBx password becomes
// opts.MEBxPassword, as RPS does in admin mode.
//
// AdminSetup is sent once. Its outcome is read back (control mode and
// provisioning state): a device that reports admin control mode but is still
// in provisioning halted ([ErrActivationHalted]); when the reply is lost and
// nothing can be read the error wraps [ErrActivationUnconfirmed]. Where the
// platform enforces TLS on its local ports AdminSetup is gone: use
// [ActivateTLS].
func ActivateACM(ctx context.Context, dev *amt.Device, bundle certs.Bundle, adminPassword amt.Secret, opts HostBasedOptions) error {
	return hostBased(ctx, &opts, StepActivate, func(ctx context.Context) (string, error) {
		if err := checkAdminPassword(adminPassword); err != nil {
			return "", err
		}
		if err := checkSigningBundle(bundle, &opts); err != nil {
			return "", err
		}
		if err := checkMEBx(&opts, true); err != nil {
			return "", err
		}
		hb, err := dev.HostBasedSetup(ctx)
		if err != nil {
			return "", err
		}
		if hb.CurrentControlMode != amt.ControlModeNone {
			return "", fmt.Errorf("%w (%s)", ErrAlreadyActivated, hb.CurrentControlMode)
		}
		if !slices.Contains(hb.AllowedControlModes, amt.ControlModeACM) {
			return "", fmt.Errorf("%w: ACM (allowed: %s)", ErrModeNotAllowed, modeList(hb.AllowedControlModes))
		}
		if err := notInProvisioning(ctx, opts.HostState); err != nil {
			return "", err
		}
		gs, err := dev.GeneralSettings(ctx)
		if err != nil {
			return "", err
		}
		if err := checkRealm(gs.DigestRealm); err != nil {
			return "", err
		}
		sig, err := signNonce(ctx, dev, bundle, hb.ConfigurationNonce, opts.rand(), opts.Firmware)
		if err != nil {
			return "", explainInProvisioning(ctx, dev, opts.HostState, err)
		}
		err = dev.AdminSetup(ctx, adminPassword, gs.DigestRealm, sig)
		st, detail, err := confirmActivation(ctx, dev, opts.HostState, false, err, amt.ControlModeACM, "AdminSetup", opts.sleep)
		if err != nil {
			return "", explainInProvisioning(ctx, dev, opts.HostState, explainAuthFailed(err, bundle, &opts))
		}
		if st != amt.PostProvisioning {
			return "", fmt.Errorf("%w: after AdminSetup the device is in %v", ErrActivationHalted, st)
		}
		return setMEBxAfter(ctx, &opts, adminPassword, detail)
	})
}

// UpgradeToACM moves a device from client to admin control mode with
// UpgradeClientToAdmin (dev must be signed in with the AMT admin account),
// then sets the MEBx password (opts.MEBxPassword, over dev: the admin
// account). The outcome is read back as for ActivateACM.
func UpgradeToACM(ctx context.Context, dev *amt.Device, bundle certs.Bundle, opts HostBasedOptions) error {
	return hostBased(ctx, &opts, StepUpgrade, func(ctx context.Context) (string, error) {
		if err := checkSigningBundle(bundle, &opts); err != nil {
			return "", err
		}
		if err := checkMEBx(&opts, false); err != nil {
			return "", err
		}
		hb, err := dev.HostBasedSetup(ctx)
		if err != nil {
			return "", err
		}
		if hb.CurrentControlMode != amt.ControlModeCCM {
			return "", fmt.Errorf("%w (%s)", ErrNotClientMode, hb.CurrentControlMode)
		}
		sig, err := signNonce(ctx, dev, bundle, hb.ConfigurationNonce, opts.rand(), opts.Firmware)
		if err != nil {
			return "", err
		}
		err = dev.UpgradeClientToAdmin(ctx, sig)
		st, detail, err := confirmActivation(ctx, dev, opts.HostState, false, err, amt.ControlModeACM, "UpgradeClientToAdmin", opts.sleep)
		if err != nil {
			return "", explainAuthFailed(err, bundle, &opts)
		}
		if st != amt.PostProvisioning {
			return "", fmt.Errorf("%w: after UpgradeClientToAdmin the device is in %v", ErrActivationHalted, st)
		}
		if opts.LeaveMEBxPassword {
			return detail + "; MEBx password left as it was", nil
		}
		if err := dev.SetMEBxPassword(ctx, opts.MEBxPassword); err != nil {
			return "", fmt.Errorf("%w: %s; SetMEBxPassword: %w", ErrMEBxPasswordNotSet, detail, err)
		}
		return detail + "; MEBx password set", nil
	})
}

// explainAuthFailed adds to AdminSetup's or UpgradeClientToAdmin's
// ReturnValue 5 (AuthFailed: Intel AMT SDK class reference; go-wsman-messages
// ips/hostbasedsetup/decoder.go) what the firmware checks there, since the
// value alone does not say which check failed: the chain's root among its
// trusted root hashes, the leaf's CN against its DNS suffix — the PKI DNS
// suffix set in MEBx or over PTHI, else DHCP option 15 of the wired interface
// (MeshCentral issue 2805, its maintainer: the trusted FQDN or DHCP option
// 15 must match the certificate; issue 3852 logs MeshCentral declining ACM
// with "No trusted DNS suffix reported"; rpc-go issue 428 shows a MEBx suffix
// and a local ACM activation ending in a bare "activation failed") — and the
// signature over ConfigurationNonce ‖ McNonce. It names which of these were
// checked before sending and, for the others, the option that checks them.
func explainAuthFailed(err error, b certs.Bundle, o *HostBasedOptions) error {
	if !errors.Is(err, amt.ErrHostSetupAuthFailed) {
		return err
	}
	root := "not checked here: set HostBasedOptions.TrustedHashes to the device's hashes (pthi.Client.CertHashes)"
	if len(o.TrustedHashes) > 0 {
		root = "checked before sending: it is"
	}
	suffix := "not checked here: set HostBasedOptions.DNSSuffix"
	if o.DNSSuffix != "" {
		suffix = fmt.Sprintf("checked before sending against HostBasedOptions.DNSSuffix %q: is it the device's?", o.DNSSuffix)
	}
	var cn string
	if l := b.Leaf(); l != nil {
		cn = l.Subject.CommonName
	}
	return fmt.Errorf("%w: the device refused the provisioning certificate or the nonce signature; it checks that the chain's root is among its trusted root hashes (%s), that the leaf's name %q covers its DNS suffix — the PKI DNS suffix set in MEBx or with pthi.Client.SetPKIDNSSuffix (pthi.Client.PKIDNSSuffix reads it), else DHCP option 15 of its wired interface (%s) — and the signature", err, root, cn, suffix)
}

// checkRealm refuses, before the admin password is hashed with it, a digest
// realm other than AMT's: "Digest:" and 32 hex digits. RPS refuses to
// activate a device reporting anything else (src/Validator.ts
// isDigestRealmValid, checked in src/stateMachines/activation.ts
// CHECK_DIGEST_REALM before any setup call), so every device RPS activated
// reported that shape; go-wsman-messages' recorded AMT_GeneralSettings has
// it too. An admin password hashed with a realm the device's HTTP digest
// challenges do not carry could never sign in — in admin control mode only
// MEBx would get the device back. The realm is not echoed.
func checkRealm(realm string) error {
	const prefix = "Digest:"
	hexDigits := strings.TrimPrefix(realm, prefix)
	ok := len(realm) == len(prefix)+32 && strings.HasPrefix(realm, prefix)
	for i := 0; i < len(hexDigits) && ok; i++ {
		c := hexDigits[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
	}
	if !ok {
		return fmt.Errorf("%w: AMT_GeneralSettings.DigestRealm (%d bytes) is not AMT's \"Digest:\" and 32 hex digits: the admin password is not hashed with it", amt.ErrBadResponse, len(realm))
	}
	return nil
}

// modeList formats the device's AllowedControlModes for an error, bounded:
// AMT lists at most its three modes, a device that sends thousands gets the
// first few and the count, not a message as long as its answer.
func modeList(ms []amt.ControlMode) string {
	const show = 4
	if len(ms) <= show {
		return fmt.Sprint(ms)
	}
	return fmt.Sprintf("%v … %d in all", ms[:show], len(ms))
}

// checkAdminPassword refuses, before anything is sent, an admin password the
// firmware would refuse (amt.CheckPassword), as ActivateTLS does: Setup and
// AdminSetup would check it only after the service and the general settings
// were read and, for AdminSetup, the provisioning chain sent. It is the
// caller's input, so the refusal is a rejection (ReasonBundleUnusable, as in
// ActivateTLS), never a device error.
func checkAdminPassword(pw amt.Secret) error {
	if err := amt.CheckPassword(pw.Reveal()); err != nil {
		return fmt.Errorf("%w: %w (amt.GeneratePassword makes one it takes)", errAdminPassword, err)
	}
	return nil
}

// checkMEBx refuses an ACM activation without a usable MEBx password before
// anything is sent. needSignIn: the password is set over a second sign-in.
func checkMEBx(o *HostBasedOptions, needSignIn bool) error {
	if o.LeaveMEBxPassword {
		return nil
	}
	switch pw := o.MEBxPassword; {
	case pw.IsZero():
		return fmt.Errorf("%w: set HostBasedOptions.MEBxPassword (or LeaveMEBxPassword)", ErrMEBxPasswordRequired)
	case pw.Reveal() == "admin":
		return fmt.Errorf("%w: the factory default \"admin\" is not a MEBx password to set", ErrMEBxPasswordRequired)
	default:
		if err := amt.CheckPassword(pw.Reveal()); err != nil {
			return fmt.Errorf("%w: %w", ErrMEBxPasswordRequired, err)
		}
	}
	if needSignIn && o.SignIn == nil {
		return fmt.Errorf("%w: setting it needs the admin account: set HostBasedOptions.SignIn (LocalSignIn)", ErrMEBxPasswordRequired)
	}
	return nil
}

// setMEBxAfter sets the MEBx password as the admin account after AdminSetup.
func setMEBxAfter(ctx context.Context, o *HostBasedOptions, adminPassword amt.Secret, detail string) (string, error) {
	if o.LeaveMEBxPassword {
		return detail + "; MEBx password left as it was", nil
	}
	admin, err := o.SignIn(ctx, adminUserName, adminPassword)
	if err != nil {
		return "", fmt.Errorf("%w: %s; signing in as %s to set the MEBx password: %w", ErrMEBxPasswordNotSet, detail, adminUserName, err)
	}
	if err := admin.SetMEBxPassword(ctx, o.MEBxPassword); err != nil {
		return "", fmt.Errorf("%w: %s; SetMEBxPassword: %w", ErrMEBxPasswordNotSet, detail, err)
	}
	return detail + "; MEBx password set", nil
}

func hostBased(ctx context.Context, o *HostBasedOptions, step Step, fn func(context.Context) (string, error)) error {
	return hostBasedStep(ctx, o, step, StateProvisioned, fn)
}

// hostBasedStep runs one step of a host-based activation and emits its event
// (state on success); on failure the error is a *SessionError carrying the
// step and reason.
func hostBasedStep(ctx context.Context, o *HostBasedOptions, step Step, state State, fn func(context.Context) (string, error)) error {
	start := o.now()
	detail, err := fn(ctx)
	e := Event{Time: o.now(), Device: o.UUID, Step: step, State: state, Duration: o.now().Sub(start), Detail: detail}
	if err != nil {
		se := hostBasedError(ctx, step, err)
		e.State, e.Reason, e.Err = StateFailed, se.Reason, se
		if se.Rejected {
			e.State = StateRejected
		}
		err = se
	}
	if o.Observer != nil {
		o.Observer(e)
	}
	return err
}

// hostBasedError classifies a host-based activation failure.
func hostBasedError(ctx context.Context, step Step, err error) *SessionError {
	var se *SessionError
	if errors.As(err, &se) {
		return se
	}
	se = &SessionError{Step: step, Reason: ReasonDeviceError, Err: err}
	switch {
	case errors.Is(err, ErrAlreadyActivated), errors.Is(err, ErrModeNotAllowed), errors.Is(err, ErrNotClientMode), errors.Is(err, ErrInProvisioning):
		se.Reason, se.Rejected = ReasonWrongState, true
	case errors.Is(err, ErrActivationUnconfirmed):
		se.Reason = ReasonCommitUnconfirmed
	case errors.Is(err, ErrActivationHalted):
		se.Reason = ReasonVerifyFailed
	case errors.Is(err, ErrCommitRequired):
		se.Reason = ReasonCommitFailed
	case errors.Is(err, errBundleRoot):
		se.Reason, se.Rejected = ReasonNoMatchingRoot, true
	case errors.Is(err, errBundleSuffix):
		se.Reason, se.Rejected = ReasonSuffixMismatch, true
	case errors.Is(err, errBundle), errors.Is(err, errAdminPassword), errors.Is(err, ErrMEBxPasswordRequired), errors.Is(err, ErrNoOnDieRoots):
		se.Reason, se.Rejected = ReasonBundleUnusable, true
	case errors.Is(err, ErrOnDieUntrusted) || isUntrusted(err):
		se.Reason, se.Rejected = ReasonDeviceUntrusted, true
	case errors.Is(err, wsman.ErrConnect):
		se.Reason = ReasonConnectFailed
	case ctx.Err() != nil:
		se.Reason = reasonForCtx(ctx.Err())
	}
	return se
}

var (
	errAdminPassword = errors.New("provisioning: the firmware would refuse this admin password")
	errBundle        = errors.New("provisioning: unusable provisioning bundle")
	errBundleRoot    = errors.New("provisioning: the provisioning bundle's root is not trusted by the device")
	errBundleSuffix  = errors.New("provisioning: the provisioning certificate's name does not cover the device's DNS suffix")
)

func checkSigningBundle(b certs.Bundle, o *HostBasedOptions) error {
	if b.Leaf() == nil || b.Key == nil {
		return fmt.Errorf("%w: needs a chain and a key", errBundle)
	}
	if _, ok := b.Key.Public().(*rsa.PublicKey); !ok {
		return fmt.Errorf("%w: AMT verifies RSA signatures only; the key is %T", errBundle, b.Key.Public())
	}
	if b.Root() == nil {
		// The firmware hashes the certificate sent as root against its
		// trusted hashes: a chain cut short fails in AddNextCertInChain or
		// AdminSetup, after the nonce is spent. rpc-go refuses such a bundle
		// (ActivationFailedNoRootCertFound).
		return fmt.Errorf("%w: the chain does not end in its self-signed root (include the root in the bundle)", errBundle)
	}
	if trusted := o.TrustedHashes; len(trusted) > 0 {
		if _, ok := b.MatchRoot(trusted); !ok {
			return fmt.Errorf("%w: no hash of its root is among the device's %d", errBundleRoot, len(trusted))
		}
	}
	if o.DNSSuffix != "" {
		// The firmware's rule as the engine applies it (amt.MatchDNSSuffix);
		// a per-TLD match (ErrSuffixUndocumented) is left to the firmware, as
		// the engine tries such a bundle when it has no better one.
		if err := b.Covers(o.DNSSuffix); err != nil && !errors.Is(err, amt.ErrSuffixUndocumented) {
			return fmt.Errorf("%w: %w; the firmware would refuse it (AdminSetup AuthFailed): use a provisioning certificate issued for the device's domain, or set the device's PKI DNS suffix to one its name covers (MEBx, or pthi.Client.SetPKIDNSSuffix)", errBundleSuffix, err)
		}
	}
	return nil
}

// signNonce sends the chain (leaf first, root last) and signs nonce ‖ McNonce
// with the bundle's key. nonce is the ConfigurationNonce read before the chain
// is sent, the order rpc-go (activateACMLegacy), RPS (activation.ts
// IPS_HOST_BASED_SETUP_SERVICE → ADD_NEXT_CERT_IN_CHAIN) and MeshCentral
// (amtmanager.js activateIntelAmtAcmEx1) use on devices: nothing of
// IPS_HostBasedSetupService is read between the chain and the setup call. RSA
// SHA-256 (SigningAlgorithm 2), as rpc-go and RPS always sign — RPS went back
// to SHA-256 because "Firmware does not support sha384 yet" (pull request
// 2537, issue 2538) — or RSA SHA-384 (3) for a SHA-384 leaf only where the
// firmware is believed to require it (amt.Firmware.SigningSHA384Required,
// AMT 22): AdminSetup cannot be retried, so the form proven on devices is
// kept wherever 2 may still be taken.
func signNonce(ctx context.Context, dev *amt.Device, b certs.Bundle, nonce []byte, rnd io.Reader, fw amt.Version) (amt.SetupSignature, error) {
	alg, hash := amt.SigningRSASHA256, crypto.SHA256
	if leaf := b.Leaf(); leaf != nil && (leaf.SignatureAlgorithm == x509.SHA384WithRSA || leaf.SignatureAlgorithm == x509.SHA384WithRSAPSS) {
		if fw.IsZero() {
			v, err := dev.Version(ctx)
			if err != nil {
				return amt.SetupSignature{}, fmt.Errorf("reading the AMT version for the signature algorithm: %w", err)
			}
			fw = v
		}
		if amt.FirmwareFor(fw).SigningSHA384Required {
			alg, hash = amt.SigningRSASHA384, crypto.SHA384
		}
	}
	if len(nonce) == 0 {
		return amt.SetupSignature{}, fmt.Errorf("%w: IPS_HostBasedSetupService has no ConfigurationNonce", amt.ErrBadResponse)
	}
	if err := dev.AddCertChain(ctx, b.Chain); err != nil {
		return amt.SetupSignature{}, err
	}
	mc := make([]byte, amt.ConfigurationNonceSize)
	if _, err := io.ReadFull(rnd, mc); err != nil {
		return amt.SetupSignature{}, fmt.Errorf("McNonce: %w", err)
	}
	h := hash.New()
	h.Write(nonce)
	h.Write(mc)
	sig, err := b.Key.Sign(rnd, h.Sum(nil), hash)
	if err != nil {
		return amt.SetupSignature{}, fmt.Errorf("signing the configuration nonce: %w", err)
	}
	return amt.SetupSignature{McNonce: mc, Algorithm: alg, Signature: sig}, nil
}

// lostReply reports whether a call failed after its request went out, so the
// device may have acted on it.
func lostReply(err error) bool {
	var te *wsman.TransportError
	return errors.As(err, &te) && te.Phase != wsman.PhaseConnect
}

// confirmActivation turns the outcome of a setup call into the device's
// provisioning state, read back (never resent): the control mode must be the
// one asked for, and the provisioning state is returned for the caller to
// judge (post-provisioning: done; pre-provisioning after Setup on a
// TLS-enforced platform: a commit is due; in provisioning: halted). rpc-go
// requires control mode and post-provisioning before calling a lost reply a
// success (internal/commands/activate/local.go, commitActivation), and reads
// again, three times a second apart, while the device reports the control
// mode but still in provisioning: the state can lag the call (the same
// function; amtkit's ActivateTLS reads its commit so). wait sleeps between
// the reads. portVerified: dev's endpoint was proved to be AMT (ActivateTLS's
// On-Die chain bound over PTHI); otherwise — the plain local port, which any
// local process may hold — the state is read over the host interface first
// even after a reply (see readActivation).
func confirmActivation(ctx context.Context, dev *amt.Device, host HostStateReader, portVerified bool, err error, want amt.ControlMode, method string, wait func(context.Context, time.Duration) error) (amt.ProvisioningState, string, error) {
	if err != nil && !lostReply(err) {
		return 0, "", err
	}
	hostFirst := err != nil || !portVerified
	mode, st, via, rerr := readActivation(ctx, dev, host, hostFirst)
	for i := 1; i < activationReads && rerr == nil && mode == want && st == amt.InProvisioning; i++ {
		if werr := wait(ctx, time.Second); werr != nil {
			break
		}
		mode, st, via, rerr = readActivation(ctx, dev, host, hostFirst)
	}
	if rerr != nil {
		if err != nil {
			return 0, "", fmt.Errorf("%w: %s: %w (read back: %v)", ErrActivationUnconfirmed, method, err, rerr)
		}
		return 0, "", fmt.Errorf("%w: %s succeeded but the state cannot be read back: %w", ErrActivationUnconfirmed, method, rerr)
	}
	if mode != want {
		if err != nil {
			return 0, "", fmt.Errorf("%w: %s: %w (read back%s: control mode %s, %v)", ErrActivationUnconfirmed, method, err, via, mode, st)
		}
		if via != "" {
			// The host interface contradicts the endpoint that answered.
			return 0, "", fmt.Errorf("%s answered success but the firmware reports control mode %s, %v over PTHI: the endpoint that answered is not AMT (another process holding the local port?) or the firmware did not act", method, mode, st)
		}
		return 0, "", fmt.Errorf("%s answered success but the device reports control mode %s, %v", method, mode, st)
	}
	how := method + " succeeded"
	if via != "" {
		how += ", read back" + via
	}
	if err != nil {
		how = method + " reply lost; read back" + via
	}
	return st, fmt.Sprintf("%s: %s, %v", how, want, st), nil
}

// activationReads bounds the read-backs of a setup call's outcome while the
// device reports the control mode still in provisioning (rpc-go polls three
// times, a second apart).
const activationReads = 3

// notInProvisioning refuses, with [ErrInProvisioning], a device the host
// interface reports "in provisioning" (a remote configuration started and
// never finished): the firmware refuses host-based setup then, and MeshCentral
// stops such a configuration before it tries (amtmanager.js,
// activateIntelAmtAcm: "If Intel AMT is "in-provisioning" mode, the WSMAN ACM
// activation will not work"). Without a host interface nothing is read
// before the setup (it would cost an exchange); explainInProvisioning reads
// the state after a refusal instead. A failed read passes: the setup itself
// then says what is wrong.
func notInProvisioning(ctx context.Context, host HostStateReader) error {
	if host == nil {
		return nil
	}
	if st, err := host.ProvisioningState(ctx); err == nil && st == amt.InProvisioning {
		return fmt.Errorf("%w (read over PTHI; RecoverInProvisioning ends it)", ErrInProvisioning)
	}
	return nil
}

// explainInProvisioning wraps a failed host-based setup's error with
// [ErrInProvisioning] when the device turns out to be in provisioning (read
// over WS-Management: with a host interface notInProvisioning already
// looked), so the caller learns to recover it rather than a device error.
func explainInProvisioning(ctx context.Context, dev *amt.Device, host HostStateReader, err error) error {
	if host != nil || ctx.Err() != nil || errors.Is(err, ErrInProvisioning) {
		return err
	}
	if sc, rerr := dev.SetupAndConfiguration(ctx); rerr == nil && sc.ProvisioningState == amt.InProvisioning {
		return fmt.Errorf("%w (RecoverInProvisioning ends it): %w", ErrInProvisioning, err)
	}
	return err
}

// HostStateReader reads the firmware's provisioning state and control mode
// over the host interface (PTHI), which works whatever its network ports do.
// *pthi.Client implements it; so does every [HostAgent].
type HostStateReader interface {
	ProvisioningState(ctx context.Context) (amt.ProvisioningState, error)
	ControlMode(ctx context.Context) (amt.ControlMode, error)
}

// readActivation reads control mode and provisioning state, over the host
// interface (when there is one; via then names it) and over WS-Management,
// each the other's fallback. hostFirst puts the host interface first: after
// a lost reply, when the relay may be down (rpc-go reads HECI after a failed
// setup call: local.go handleSetupErrorWithControlModeVerification), and on
// the plain local port after a reply too, since that port is whatever
// process holds 127.0.0.1:16992 — where LMS is not running any local user may
// bind it — and the endpoint that answered the setup call must not be the one
// that confirms it; the MEI is the firmware's own.
func readActivation(ctx context.Context, dev *amt.Device, host HostStateReader, hostFirst bool) (amt.ControlMode, amt.ProvisioningState, string, error) {
	overHost := func() (amt.ControlMode, amt.ProvisioningState, error) {
		st, err := host.ProvisioningState(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("over PTHI: %w", err)
		}
		mode, err := host.ControlMode(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("over PTHI: %w", err)
		}
		return mode, st, nil
	}
	overWSMan := func() (amt.ControlMode, amt.ProvisioningState, error) {
		hb, err := dev.HostBasedSetup(ctx)
		if err != nil {
			return 0, 0, err
		}
		sc, err := dev.SetupAndConfiguration(ctx)
		if err != nil {
			return 0, 0, err
		}
		return hb.CurrentControlMode, sc.ProvisioningState, nil
	}
	type reader struct {
		read func() (amt.ControlMode, amt.ProvisioningState, error)
		via  string
	}
	readers := []reader{{overWSMan, ""}}
	if host != nil {
		pthi := reader{overHost, " over PTHI"}
		if hostFirst {
			readers = []reader{pthi, readers[0]}
		} else {
			readers = append(readers, pthi)
		}
	}
	var errs []error
	for _, r := range readers {
		mode, st, err := r.read()
		if err == nil {
			return mode, st, r.via, nil
		}
		errs = append(errs, err)
	}
	return 0, 0, "", errors.Join(errs...)
}
