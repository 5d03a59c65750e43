package provisioning

import (
	"errors"
	"fmt"
)

// Reason is a stable, machine-readable code for why a session was rejected or
// failed, or what a maintenance finding is. Codes never change meaning; see
// docs/troubleshooting.md for what to do about each.
type Reason string

// Reasons for rejection (a rule said no).
const (
	ReasonUnknownDevice       Reason = "unknown-device"        // the Authorizer does not know the UUID
	ReasonNotApproved         Reason = "not-approved"          // the Authorizer refused the device
	ReasonNoMatchingRoot      Reason = "no-matching-root"      // no bundle's root hash is in the hello
	ReasonSuffixMismatch      Reason = "suffix-mismatch"       // no bundle's name covers the device DNS suffix
	ReasonBundleExpired       Reason = "bundle-expired"        // the only fitting bundle has expired
	ReasonBundleNotYetValid   Reason = "bundle-not-yet-valid"  // the only fitting bundle is not valid yet
	ReasonBundleRevoked       Reason = "bundle-revoked"        // the only fitting bundle is revoked (or its CRL unreadable)
	ReasonBundleUnusable      Reason = "bundle-unusable"       // the bundle cannot sign for AMT (no key, not RSA)
	ReasonUnknownPID          Reason = "unknown-pid"           // a PSK hello whose PID is not in the PSK store
	ReasonPIDUsed             Reason = "pid-used"              // a PSK hello whose PID/PPS pair was used already
	ReasonPSKNotConfigured    Reason = "psk-not-configured"    // a PSK hello but no PSK store
	ReasonFirmwareTooOld      Reason = "firmware-too-old"      // below the minimum for this kind of provisioning
	ReasonUUIDMismatch        Reason = "uuid-mismatch"         // GetUuid differs from the hello's UUID
	ReasonWrongState          Reason = "wrong-state"           // the device is not in the state the flow needs
	ReasonDeviceUntrusted     Reason = "device-untrusted"      // the device's TLS certificate failed the policy
	ReasonOTPMismatch         Reason = "otp-mismatch"          // the device's OTP differs from the agent's
	ReasonOTPMissing          Reason = "otp-missing"           // an OTP is required but the device has none
	ReasonProfile             Reason = "profile"               // no usable profile for the device
	ReasonDuplicateSession    Reason = "duplicate-session"     // a session for the device is already running
	ReasonAgentRequestExpired Reason = "agent-request-expired" // the agent's request timed out before the hello
	ReasonOTPLocked           Reason = "otp-locked"            // too many OTP mismatches: the agent request is locked for a while
	ReasonReprovisionRefused  Reason = "reprovision-refused"   // a provisioned device did not show the certificate it had, and Config.Reprovision did not allow it
	ReasonShuttingDown        Reason = "shutting-down"         // the Provisioner is shutting down: the hello was not taken
)

// Reasons for failure (something broke).
const (
	ReasonConnectFailed     Reason = "connect-failed"     // TCP or TLS to the device failed
	ReasonConnectionLost    Reason = "connection-lost"    // the connection broke during a call (the request may have taken effect)
	ReasonTLSRefused        Reason = "tls-refused"        // the device aborted the handshake (our chain refused)
	ReasonDeviceError       Reason = "device-error"       // the device returned an error status
	ReasonIssueFailed       Reason = "issue-failed"       // the Issuer could not issue a certificate
	ReasonStoreFailed       Reason = "store-failed"       // the Store could not record the session
	ReasonCommitFailed      Reason = "commit-failed"      // CommitChanges returned an error status
	ReasonCommitUnconfirmed Reason = "commit-unconfirmed" // commit sent, connection dropped, state not read back
	ReasonVerifyFailed      Reason = "verify-failed"      // post-provisioning state is not what was configured
	ReasonTimeout           Reason = "timeout"            // a deadline expired
	ReasonCanceled          Reason = "canceled"           // the context was canceled
	ReasonInternal          Reason = "internal"           // a bug or misconfiguration in the SDK's use
	ReasonOverloaded        Reason = "overloaded"         // too many sessions waiting: the hello was dropped
)

// Maintenance findings.
const (
	ReasonBundleExpiryWarning Reason = "bundle-expiry-warning" // Configuration Manager status 7210
	ReasonBundleExpiryError   Reason = "bundle-expiry-error"   // Configuration Manager status 7211
	ReasonNotRenewable        Reason = "not-renewable"         // device reached over wireless only
)

// ErrRejected and ErrFailed classify session errors: errors.Is(err, ErrRejected)
// holds for every rejection, errors.Is(err, ErrFailed) for every failure.
var (
	ErrRejected = errors.New("provisioning: rejected")
	ErrFailed   = errors.New("provisioning: failed")
)

// SessionError is the error a session ends with: the step, the reason code, and
// the underlying cause (never a secret).
type SessionError struct {
	Step     Step
	Reason   Reason
	Rejected bool // a rule said no (true) or something broke (false)
	Err      error
}

func (e *SessionError) Error() string {
	kind := "failed"
	if e.Rejected {
		kind = "rejected"
	}
	if e.Err == nil {
		return fmt.Sprintf("provisioning: %s at %s: %s", kind, e.Step, e.Reason)
	}
	return fmt.Sprintf("provisioning: %s at %s: %s: %v", kind, e.Step, e.Reason, e.Err)
}

func (e *SessionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRejected) and errors.Is(err, ErrFailed) work.
func (e *SessionError) Is(target error) bool {
	return (target == ErrRejected && e.Rejected) || (target == ErrFailed && !e.Rejected)
}

// Reject returns a rejection error with reason r, for Authorizers and hooks.
func Reject(r Reason, format string, args ...any) error {
	return &SessionError{Reason: r, Rejected: true, Err: fmt.Errorf(format, args...)}
}

// ReasonOf returns the reason code carried by err, or "" if none.
func ReasonOf(err error) Reason {
	var se *SessionError
	if errors.As(err, &se) {
		return se.Reason
	}
	return ""
}

// CommitUnconfirmedError is the outcome when CommitChanges was sent — its reply
// lost (AMT 19+ restarts its network stack on commit) or reporting success — and
// the post-provisioning state could not be read back at all. The device may or
// may not be provisioned: read its state before doing anything else, and never
// repeat AdminSetup blindly.
type CommitUnconfirmedError struct {
	CommitErr error // what the commit call returned; nil when it reported success
	VerifyErr error // why the state could not be read back
}

func (e *CommitUnconfirmedError) Error() string {
	if e.CommitErr == nil {
		return fmt.Sprintf("provisioning: commit unconfirmed: commit reported success; verify: %v", e.VerifyErr)
	}
	return fmt.Sprintf("provisioning: commit unconfirmed: commit: %v; verify: %v", e.CommitErr, e.VerifyErr)
}

// Unwrap returns both causes.
func (e *CommitUnconfirmedError) Unwrap() []error { return []error{e.CommitErr, e.VerifyErr} }

// ConfigError reports an invalid Provisioner or profile configuration.
type ConfigError struct {
	// Field names what to fix, for a person: a Config field ("Issuer",
	// "LeaseTTL"), an element of one ("Bundles[0]"), or a profile's field
	// prefixed with the profile ("Profile laptops AdminPassword", "Profile
	// laptops user helpdesk"). Match on it in tests, not in production code.
	Field string
	// Problem says what is wrong and, where one exists, what to set instead.
	Problem string
}

func (e *ConfigError) Error() string {
	return "provisioning: invalid configuration: " + e.Field + ": " + e.Problem
}
