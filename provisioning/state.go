package provisioning

import "strconv"

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=State -linecomment -output=state_string.go

// State is where a provisioning session stands. A session moves forward one step
// at a time:
//
//	New → Authorized → Connected → Identified → Configured → Committed → Provisioned
//
// and may end early in Rejected (a rule said no: unknown device, no matching
// certificate, OTP mismatch, …) or Failed (something broke: network, device error,
// an unconfirmed commit). The OTP check of agent-initiated sessions is a step
// between Identified and Configured; its event says whether the OTP was verified
// or not required. String returns the state's name, e.g. "Identified", as the
// text form (MarshalText) does.
type State uint8

// Session states.
const (
	StateNew         State = iota // New
	StateAuthorized               // Authorized
	StateConnected                // Connected
	StateIdentified               // Identified
	StateConfigured               // Configured
	StateCommitted                // Committed
	StateProvisioned              // Provisioned
	StateRejected                 // Rejected
	StateFailed                   // Failed
)

// Final reports whether no step follows s: Provisioned, Rejected or Failed.
func (s State) Final() bool { return s == StateProvisioned || s == StateRejected || s == StateFailed }

// MarshalText implements [encoding.TextMarshaler].
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler].
func (s *State) UnmarshalText(b []byte) error {
	for v := StateNew; v <= StateFailed; v++ {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return &ConfigError{Field: "State", Problem: "unknown state " + strconv.Quote(string(b))}
}

// Step names a step of a session or of maintenance, as reported in an [Event].
type Step string

// Session and maintenance steps.
const (
	StepAuthorize Step = "authorize"
	StepConnect   Step = "connect"
	StepIdentify  Step = "identify"
	StepOTP       Step = "otp"
	StepConfigure Step = "configure"
	StepCommit    Step = "commit"
	StepVerify    Step = "verify"

	StepActivate     Step = "activate"      // host-based Setup/AdminSetup
	StepUpgrade      Step = "upgrade"       // host-based UpgradeClientToAdmin
	StepRenew        Step = "renew"         // maintenance: certificate renewal
	StepRevoke       Step = "revoke"        // maintenance: revocation of a superseded certificate
	StepBundleExpiry Step = "bundle-expiry" // maintenance: provisioning certificate expiry check
	StepAgeOut       Step = "age-out"       // maintenance: discovery record retention
	StepUnprovision  Step = "unprovision"
)
