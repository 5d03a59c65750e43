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
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/wsman"
)

// HostBasedOptions tunes host-based activation. The zero value is usable.
type HostBasedOptions struct {
	// TrustedHashes, when set, are the device's trusted root hashes (from PTHI,
	// amt/pthi): ActivateACM and UpgradeToACM refuse a bundle whose root is not
	// among them before sending anything.
	TrustedHashes []amt.CertHash
	// Observer receives one event per step. Nil: none.
	Observer Observer
	// UUID labels the events (the device's UUID from PTHI). Optional.
	UUID amt.UUID
	// Rand is the source of the McNonce. Nil: crypto/rand.
	Rand io.Reader
	// Now is the clock for events. Nil: time.Now.
	Now func() time.Time
	// Firmware is the AMT version (from PTHI's code versions, amt/pthi). It
	// decides the nonce signature for a SHA-384 provisioning certificate: AMT 21
	// and later take SigningAlgorithm 3 (RSA SHA-384), and AMT 22 refuses such a
	// certificate with algorithm 2 (device-management-toolkit/rps
	// src/utils/amtCertificatePolicy.ts, whose comments record AMT 22.0.0
	// answering 1 to algorithm 2 and AMT 20.0.5 refusing 3). Zero:
	// read from the device (CIM_SoftwareIdentity) when that choice arises.
	Firmware amt.Version
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

// Host-based activation errors.
var (
	// ErrAlreadyActivated: the device is already in a control mode.
	ErrAlreadyActivated = errors.New("provisioning: device is already activated")
	// ErrModeNotAllowed: the device does not allow the requested control mode.
	ErrModeNotAllowed = errors.New("provisioning: control mode not allowed by the device")
	// ErrNotClientMode: UpgradeToACM needs a device in client control mode.
	ErrNotClientMode = errors.New("provisioning: device is not in client control mode")
	// ErrActivationUnconfirmed: the activation call's reply was lost and the
	// device's control mode could not be read back. Read it before anything
	// else; never resend AdminSetup blindly.
	ErrActivationUnconfirmed = errors.New("provisioning: activation sent, outcome unconfirmed")
)

// ActivateCCM activates a device in client control mode with IPS_HostBasedSetupService.Setup
// (Pre → Post, no CommitChanges): what an agent on the device does over LMS with
// the local $$OsAdmin account (amt/pthi LocalSystemAccount). The admin account
// becomes "admin" with adminPassword.
func ActivateCCM(ctx context.Context, dev *amt.Device, adminPassword amt.Secret, opts HostBasedOptions) error {
	return hostBased(ctx, &opts, StepActivate, func(ctx context.Context) (string, error) {
		hb, err := dev.HostBasedSetup(ctx)
		if err != nil {
			return "", err
		}
		if hb.CurrentControlMode != amt.ControlModeNone {
			return "", fmt.Errorf("%w (%s)", ErrAlreadyActivated, hb.CurrentControlMode)
		}
		if !slices.Contains(hb.AllowedControlModes, amt.ControlModeCCM) {
			return "", fmt.Errorf("%w: CCM (allowed: %v)", ErrModeNotAllowed, hb.AllowedControlModes)
		}
		gs, err := dev.GeneralSettings(ctx)
		if err != nil {
			return "", err
		}
		err = dev.Setup(ctx, adminPassword, gs.DigestRealm, nil)
		return confirmMode(ctx, dev, err, amt.ControlModeCCM, "Setup")
	})
}

// ActivateACM activates a device in admin control mode with AdminSetup: the
// provisioning chain goes to the device leaf first, root last
// (AddNextCertInChain), then ConfigurationNonce ‖ McNonce is signed
// RSA-PKCS#1 v1.5 over SHA-256 with the bundle's key (a crypto.Signer; it never
// leaves the integrator's keystore). The admin account becomes "admin" with
// adminPassword.
//
// AdminSetup is sent once. If its reply is lost, the control mode is read back;
// when that fails too the error wraps ErrActivationUnconfirmed.
func ActivateACM(ctx context.Context, dev *amt.Device, bundle certs.Bundle, adminPassword amt.Secret, opts HostBasedOptions) error {
	return hostBased(ctx, &opts, StepActivate, func(ctx context.Context) (string, error) {
		if err := checkSigningBundle(bundle, opts.TrustedHashes); err != nil {
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
			return "", fmt.Errorf("%w: ACM (allowed: %v)", ErrModeNotAllowed, hb.AllowedControlModes)
		}
		gs, err := dev.GeneralSettings(ctx)
		if err != nil {
			return "", err
		}
		sig, err := signNonce(ctx, dev, bundle, opts.rand(), opts.Firmware)
		if err != nil {
			return "", err
		}
		err = dev.AdminSetup(ctx, adminPassword, gs.DigestRealm, sig)
		return confirmMode(ctx, dev, err, amt.ControlModeACM, "AdminSetup")
	})
}

// UpgradeToACM moves a device from client to admin control mode with
// UpgradeClientToAdmin (dev must be signed in with the AMT admin account).
func UpgradeToACM(ctx context.Context, dev *amt.Device, bundle certs.Bundle, opts HostBasedOptions) error {
	return hostBased(ctx, &opts, StepUpgrade, func(ctx context.Context) (string, error) {
		if err := checkSigningBundle(bundle, opts.TrustedHashes); err != nil {
			return "", err
		}
		hb, err := dev.HostBasedSetup(ctx)
		if err != nil {
			return "", err
		}
		if hb.CurrentControlMode != amt.ControlModeCCM {
			return "", fmt.Errorf("%w (%s)", ErrNotClientMode, hb.CurrentControlMode)
		}
		sig, err := signNonce(ctx, dev, bundle, opts.rand(), opts.Firmware)
		if err != nil {
			return "", err
		}
		err = dev.UpgradeClientToAdmin(ctx, sig)
		return confirmMode(ctx, dev, err, amt.ControlModeACM, "UpgradeClientToAdmin")
	})
}

func hostBased(ctx context.Context, o *HostBasedOptions, step Step, fn func(context.Context) (string, error)) error {
	start := o.now()
	detail, err := fn(ctx)
	e := Event{Time: o.now(), Device: o.UUID, Step: step, State: StateProvisioned, Duration: o.now().Sub(start), Detail: detail}
	if err != nil {
		se := &SessionError{Step: step, Reason: ReasonDeviceError, Err: err}
		switch {
		case errors.Is(err, ErrAlreadyActivated), errors.Is(err, ErrModeNotAllowed), errors.Is(err, ErrNotClientMode):
			se.Reason, se.Rejected = ReasonWrongState, true
		case errors.Is(err, ErrActivationUnconfirmed):
			se.Reason = ReasonCommitUnconfirmed
		case errors.Is(err, errBundleRoot):
			se.Reason, se.Rejected = ReasonNoMatchingRoot, true
		case errors.Is(err, errBundle):
			se.Reason, se.Rejected = ReasonBundleUnusable, true
		case errors.Is(err, wsman.ErrConnect):
			se.Reason = ReasonConnectFailed
		case ctx.Err() != nil:
			se.Reason = reasonForCtx(ctx.Err())
		}
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

var (
	errBundle     = errors.New("provisioning: unusable provisioning bundle")
	errBundleRoot = errors.New("provisioning: the provisioning bundle's root is not trusted by the device")
)

func checkSigningBundle(b certs.Bundle, trusted []amt.CertHash) error {
	if b.Leaf() == nil || b.Key == nil {
		return fmt.Errorf("%w: needs a chain and a key", errBundle)
	}
	if _, ok := b.Key.Public().(*rsa.PublicKey); !ok {
		return fmt.Errorf("%w: AMT verifies RSA signatures only; the key is %T", errBundle, b.Key.Public())
	}
	if len(trusted) > 0 {
		if _, ok := b.MatchRoot(trusted); !ok {
			return fmt.Errorf("%w: no hash of its root is among the device's %d", errBundleRoot, len(trusted))
		}
	}
	return nil
}

// signNonce sends the chain (leaf first, root last), reads a fresh
// ConfigurationNonce and signs nonce ‖ McNonce with the bundle's key: RSA
// SHA-256 (SigningAlgorithm 2), or RSA SHA-384 (3) for a SHA-384 leaf on AMT 21
// and later.
func signNonce(ctx context.Context, dev *amt.Device, b certs.Bundle, rnd io.Reader, fw amt.Version) (amt.SetupSignature, error) {
	alg, hash := amt.SigningRSASHA256, crypto.SHA256
	if leaf := b.Leaf(); leaf != nil && (leaf.SignatureAlgorithm == x509.SHA384WithRSA || leaf.SignatureAlgorithm == x509.SHA384WithRSAPSS) {
		if fw.IsZero() {
			v, err := dev.Version(ctx)
			if err != nil {
				return amt.SetupSignature{}, fmt.Errorf("reading the AMT version for the signature algorithm: %w", err)
			}
			fw = v
		}
		if fw.Major >= 21 {
			alg, hash = amt.SigningRSASHA384, crypto.SHA384
		}
	}
	if err := dev.AddCertChain(ctx, b.Chain); err != nil {
		return amt.SetupSignature{}, err
	}
	nonce, err := dev.ConfigurationNonce(ctx)
	if err != nil {
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

// confirmMode turns the outcome of a setup call into an error: a lost reply is
// settled by reading the control mode back, never by resending.
func confirmMode(ctx context.Context, dev *amt.Device, err error, want amt.ControlMode, method string) (string, error) {
	if err == nil {
		return fmt.Sprintf("%s succeeded: %s", method, want), nil
	}
	var te *wsman.TransportError
	if !errors.As(err, &te) || te.Phase == wsman.PhaseConnect {
		return "", err
	}
	hb, rerr := dev.HostBasedSetup(ctx)
	if rerr == nil && hb.CurrentControlMode == want {
		return fmt.Sprintf("%s reply lost; control mode read back: %s", method, want), nil
	}
	return "", fmt.Errorf("%w: %s: %w (read back: %v)", ErrActivationUnconfirmed, method, err, rerr)
}
