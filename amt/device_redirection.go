package amt

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=OptInState -linecomment -output=optinstate_string.go

import (
	"context"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Redirection and user consent: Serial-over-LAN and IDE/storage redirection
// (AMT_RedirectionService), KVM (CIM_KVMRedirectionSAP and
// IPS_KVMRedirectionSettingData), the user-consent policy (IPS_OptInService)
// and the consent flow (its StartOptIn, SendOptInCode and CancelOptIn, below).
// Flow as in RPS src/stateMachines/featuresConfiguration.ts and rpc-go
// internal/commands/configure/amtfeatures.go; values from the Intel AMT SDK
// class reference ("Managing the KVM Feature", "Get User Consent Status") and
// go-wsman-messages amt/redirection, cim/kvm and ips/optin; instance shapes
// as in go-wsman-messages' recorded responses.
const (
	URIRedirectionService        = amtSchema + "AMT_RedirectionService"
	URIKVMRedirectionSAP         = cimSchema + "CIM_KVMRedirectionSAP"
	URIKVMRedirectionSettingData = ipsSchema + "IPS_KVMRedirectionSettingData"
	URIOptInService              = ipsSchema + "IPS_OptInService"
)

// RedirectionState is AMT_RedirectionService's EnabledState and the
// RequestedState of its RequestStateChange: which of IDE redirection and SOL
// are enabled (go-wsman-messages amt/redirection; RPS
// AMTRedirectionServiceEnabledStates).
type RedirectionState uint16

// Redirection states.
const (
	RedirectionDisabled RedirectionState = 32768
	RedirectionIDER     RedirectionState = 32769
	RedirectionSOL      RedirectionState = 32770
	RedirectionIDERSOL  RedirectionState = 32771
)

// RedirectionStateOf returns the state with IDE redirection and SOL as given.
func RedirectionStateOf(ider, sol bool) RedirectionState {
	s := RedirectionDisabled
	if ider {
		s++
	}
	if sol {
		s += 2
	}
	return s
}

// IDER reports whether IDE (storage) redirection is enabled.
func (s RedirectionState) IDER() bool { return s == RedirectionIDER || s == RedirectionIDERSOL }

// SOL reports whether Serial-over-LAN is enabled.
func (s RedirectionState) SOL() bool { return s == RedirectionSOL || s == RedirectionIDERSOL }

// Valid reports whether s is one of the four states.
func (s RedirectionState) Valid() bool { return s >= RedirectionDisabled && s <= RedirectionIDERSOL }

// String returns "IDER and SOL", "IDER", "SOL", "none" or "state n".
func (s RedirectionState) String() string {
	switch s {
	case RedirectionDisabled:
		return "none"
	case RedirectionIDER:
		return "IDER"
	case RedirectionSOL:
		return "SOL"
	case RedirectionIDERSOL:
		return "IDER and SOL"
	}
	return "state " + strconv.Itoa(int(s))
}

// RedirectionService is the AMT_RedirectionService instance. The service
// works only while EnabledState enables it and ListenerEnabled is true (the
// redirection ports 16994/16995 listen): go-wsman-messages amt/redirection.
type RedirectionService struct {
	Name            string
	ElementName     string
	EnabledState    RedirectionState
	ListenerEnabled bool

	src *source
}

func parseRedirectionService(el *etree.Element) (*RedirectionService, error) {
	return parseSourced[RedirectionService](el, URIRedirectionService)
}

func (s *RedirectionService) setSource(src *source) { s.src = src }

// RedirectionService reads AMT_RedirectionService (Get, no selector).
func (d *Device) RedirectionService(ctx context.Context) (*RedirectionService, error) {
	return getAs(ctx, d, URIRedirectionService, nil, parseRedirectionService)
}

// RequestRedirectionState calls AMT_RedirectionService.RequestStateChange. Its
// ReturnValue is CIM's RequestStateChange family (0 completed, 5 invalid
// parameter, 4097 invalid state transition), carried in the error's Value.
func (d *Device) RequestRedirectionState(ctx context.Context, s RedirectionState) error {
	if !s.Valid() {
		return opError(URIRedirectionService, "RequestStateChange", fmt.Errorf("%w: state %d (expected 32768 to 32771)", ErrInvalidArgument, s))
	}
	_, err := d.invoke(ctx, URIRedirectionService, "RequestStateChange", nil, wsman.Prop("RequestedState", strconv.Itoa(int(s))))
	return err
}

// PutRedirectionService writes s back (Put, no selector): the instance as read
// with ListenerEnabled (and any other changed property) replaced, without the
// read-only AccessLog, which RPS removes before this Put
// (featuresConfiguration.ts) and go-wsman-messages' request type lacks.
// EnabledState cannot be changed with Put: use [Device.RequestRedirectionState].
func (d *Device) PutRedirectionService(ctx context.Context, s *RedirectionService) (*RedirectionService, error) {
	if s == nil {
		return nil, opError(URIRedirectionService, "Put", ErrNotReadFromDevice)
	}
	return putEdited(ctx, d, URIRedirectionService, nil, s.src, s, nil, []string{"AccessLog"}, parseRedirectionService)
}

// KVMState is CIM_KVMRedirectionSAP's EnabledState, and the RequestedState of
// its RequestStateChange (2 enable, 3 disable: rpc-go amtfeatures.go).
type KVMState uint16

// KVM states (CIM EnabledState).
const (
	KVMEnabled        KVMState = 2
	KVMDisabled       KVMState = 3
	KVMEnabledOffline KVMState = 6 // enabled, no session (what a Get shows)
)

// On reports whether the state is an enabled one (RPS counts 2 and 6).
func (s KVMState) On() bool { return s == KVMEnabled || s == KVMEnabledOffline }

// String returns "enabled", "disabled", "enabled but offline" or "state n".
func (s KVMState) String() string {
	switch s {
	case KVMEnabled:
		return "enabled"
	case KVMDisabled:
		return "disabled"
	case KVMEnabledOffline:
		return "enabled but offline"
	}
	return "state " + strconv.Itoa(int(s))
}

// KVMRedirectionSAP is the CIM_KVMRedirectionSAP instance.
type KVMRedirectionSAP struct {
	Name           string
	ElementName    string
	EnabledState   KVMState
	RequestedState uint16
	KVMProtocol    uint16
}

// KVMRedirection reads CIM_KVMRedirectionSAP (Get, no selector). Platforms
// without KVM (Intel Standard Manageability, which rpc-go skips) do not serve
// it.
func (d *Device) KVMRedirection(ctx context.Context) (*KVMRedirectionSAP, error) {
	el, err := d.get(ctx, URIKVMRedirectionSAP, nil)
	if err != nil {
		return nil, err
	}
	var s KVMRedirectionSAP
	if err := wsman.Unmarshal(el, &s); err != nil {
		return nil, opError(URIKVMRedirectionSAP, "Get", fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	return &s, nil
}

// RequestKVMState calls CIM_KVMRedirectionSAP.RequestStateChange with
// KVMEnabled or KVMDisabled (CIM family: 32768+PT_STATUS is unwrapped).
func (d *Device) RequestKVMState(ctx context.Context, s KVMState) error {
	if s != KVMEnabled && s != KVMDisabled {
		return opError(URIKVMRedirectionSAP, "RequestStateChange", fmt.Errorf("%w: state %d (expected 2 or 3)", ErrInvalidArgument, s))
	}
	_, err := d.invoke(ctx, URIKVMRedirectionSAP, "RequestStateChange", nil, wsman.Prop("RequestedState", strconv.Itoa(int(s))))
	return err
}

// KVMRedirectionSettings is the IPS_KVMRedirectionSettingData instance.
// RFBPassword is write-only (read back empty) and never kept here.
type KVMRedirectionSettings struct {
	InstanceID  string
	ElementName string
	// EnabledByMEBx false: KVM was disabled in MEBx and cannot be enabled by
	// any other means (read-only).
	EnabledByMEBx bool
	// Is5900PortEnabled opens the standard VNC port without AMT
	// authentication; the SDK allows it only with an RFBPassword set.
	Is5900PortEnabled bool
	// OptInPolicy: user consent is asked for KVM sessions.
	OptInPolicy bool
	// OptInPolicyTimeout is how long a session request waits for consent (s).
	OptInPolicyTimeout *uint16
	// SessionTimeout closes an idle session after this many minutes (0 never).
	SessionTimeout uint16

	src *source
}

func parseKVMSettings(el *etree.Element) (*KVMRedirectionSettings, error) {
	return parseSourced[KVMRedirectionSettings](el, URIKVMRedirectionSettingData)
}

func (s *KVMRedirectionSettings) setSource(src *source) { s.src = src }

// KVMSettings reads IPS_KVMRedirectionSettingData (Get, no selector).
func (d *Device) KVMSettings(ctx context.Context) (*KVMRedirectionSettings, error) {
	return getAs(ctx, d, URIKVMRedirectionSettingData, nil, parseKVMSettings)
}

// PutKVMSettings writes s back (Put, no selector), the instance as read with
// the changed properties replaced; the empty RFBPassword the device returned
// is left out (it is write-only, and an empty one would clear it).
func (d *Device) PutKVMSettings(ctx context.Context, s *KVMRedirectionSettings) (*KVMRedirectionSettings, error) {
	if s == nil {
		return nil, opError(URIKVMRedirectionSettingData, "Put", ErrNotReadFromDevice)
	}
	return putEdited(ctx, d, URIKVMRedirectionSettingData, nil, s.src, s, nil, []string{"RFBPassword"}, parseKVMSettings)
}

// OptInRequired is IPS_OptInService's user-consent policy.
type OptInRequired uint32

// User-consent policies (Intel AMT SDK, Get User Consent Status; RPS
// AMTUserConsentValues).
const (
	// OptInNone: no consent is asked.
	OptInNone OptInRequired = 0
	// OptInKVM: consent is asked for KVM sessions only.
	OptInKVM OptInRequired = 1
	// OptInAll: consent is asked for KVM, storage redirection and setting
	// boot options. The only value in client control mode, where it cannot
	// be changed.
	OptInAll OptInRequired = 0xFFFFFFFF
)

// String returns "none", "KVM", "all" or "policy n".
func (o OptInRequired) String() string {
	switch o {
	case OptInNone:
		return "none"
	case OptInKVM:
		return "KVM"
	case OptInAll:
		return "all"
	}
	return "policy " + strconv.FormatUint(uint64(o), 10)
}

// OptInService is the IPS_OptInService instance.
type OptInService struct {
	Name        string
	ElementName string
	// OptInRequired is the consent policy; changeable in admin control mode
	// when CanModifyOptInPolicy is 1, fixed at OptInAll in client control
	// mode.
	OptInRequired OptInRequired
	// OptInState (read-only): where the consent flow is (see [OptInState]).
	OptInState OptInState
	// CanModifyOptInPolicy (read-only): 1 when the policy may be changed over
	// WS-Management (a MEBx setting).
	CanModifyOptInPolicy uint8
	// OptInCodeTimeout and OptInDisplayTimeout are in seconds; the display
	// timeout is read-only in client control mode.
	OptInCodeTimeout    uint32
	OptInDisplayTimeout uint16

	src *source
}

func parseOptInService(el *etree.Element) (*OptInService, error) {
	return parseSourced[OptInService](el, URIOptInService)
}

func (s *OptInService) setSource(src *source) { s.src = src }

// OptInService reads IPS_OptInService (Get, no selector).
func (d *Device) OptInService(ctx context.Context) (*OptInService, error) {
	return getAs(ctx, d, URIOptInService, nil, parseOptInService)
}

// PutOptInService writes s back (Put, no selector), the instance as read with
// the changed properties replaced. The firmware refuses a policy change in
// client control mode or while CanModifyOptInPolicy is 0.
func (d *Device) PutOptInService(ctx context.Context, s *OptInService) (*OptInService, error) {
	if s == nil {
		return nil, opError(URIOptInService, "Put", ErrNotReadFromDevice)
	}
	switch s.OptInRequired {
	case OptInNone, OptInKVM, OptInAll:
	default:
		return nil, opError(URIOptInService, "Put", fmt.Errorf("%w: OptInRequired %d (expected 0, 1 or 4294967295)", ErrInvalidArgument, s.OptInRequired))
	}
	return putEdited(ctx, d, URIOptInService, nil, s.src, s, nil, nil, parseOptInService)
}

// OptInState is IPS_OptInService.OptInState: where the consent flow is
// (Intel AMT SDK, Get User Consent Status; go-wsman-messages ips/optin
// decoder.go names the same five values). String returns "NotStarted",
// "Requested", "Displayed", "Received", "InSession" or "OptInState(n)".
type OptInState uint8

// Consent-flow states.
const (
	// OptInNotStarted: no code has been asked for (or the last one was
	// cancelled, expired or given up after wrong codes).
	OptInNotStarted OptInState = 0 // NotStarted
	// OptInRequested: a console called StartOptIn; the code exists but is
	// not on the screen yet (a host in a sleep state shows it in MEBx at its
	// next boot).
	OptInRequested OptInState = 1 // Requested
	// OptInDisplayed: the code is on the host's screen; SendOptInCode may
	// be called.
	OptInDisplayed OptInState = 2 // Displayed
	// OptInReceived: the operator sent the right code; consent holds until
	// OptInCodeTimeout passes without a redirection session.
	OptInReceived OptInState = 3 // Received
	// OptInInSession: a KVM or storage-redirection session is open.
	OptInInSession OptInState = 4 // InSession
)

// Granted reports whether consent is given (Received or InSession): a
// console goes on to its KVM session, boot change or storage redirection
// without asking again (MeshCommander's power and KVM actions skip the flow
// in both states).
func (s OptInState) Granted() bool { return s == OptInReceived || s == OptInInSession }

// maxOptInCode is the largest code the host's screen can show: six digits
// (MPS's consent API and MeshCommander's code field take six digits).
const maxOptInCode = 999999

// StartOptIn calls IPS_OptInService.StartOptIn: the firmware makes a code and
// shows it on the host's screen (OptInState Requested, then Displayed) for
// OptInDisplayTimeout seconds. Intel's flow calls it only while OptInState is
// NotStarted: otherwise (a code already pending, consent already received) it
// returns 2, [ErrOptInInvalidState] — cancel first, or use the consent
// already given. After a series of wrong codes it returns 3,
// [ErrOptInBlocked], for a while.
//
// The consent flow (Intel AMT Implementation and Reference Guide, User
// Consent: "Start the Consent Flow", "Send Consent Code", "Stop the Consent
// Process", "Denial-of-Service Attack Prevention"; go-wsman-messages
// pkg/wsman/ips/optin service.go for the three methods and their inputs;
// MPS src/routes/amt/userConsent for a console's use of them): a console
// reads [Device.OptInService]; when OptInRequired asks for consent and
// OptInState is not [OptInState.Granted], it calls StartOptIn, the user
// reads the six-digit code on the host's screen to the operator, and the
// console sends it with [Device.SendOptInCode]. Each failure is a
// [*ReturnValueError] of the IPS_OptInService family: errors.Is matches
// [ErrOptInWrongCode], [ErrOptInInvalidState], [ErrOptInBlocked],
// [ErrOptInInternalError] or [ErrOptInFailedFFS].
func (d *Device) StartOptIn(ctx context.Context) error {
	_, err := d.invoke(ctx, URIOptInService, "StartOptIn", nil)
	return err
}

// SendOptInCode calls IPS_OptInService.SendOptInCode with the code the user
// read from the host's screen. A wrong code returns 2066,
// [ErrOptInWrongCode] (the Open AMT Cloud Toolkit's sample web UI reads it
// so, as does MPS pull request 2224; MPS prints it with the PT_STATUS name
// UNSUPPORTED); after three wrong codes the firmware gives the
// flow up (OptInState NotStarted; the audit log records three failed
// attempts: go-wsman-messages amt/auditlog, MPS auditLog.ts) and StartOptIn
// is blocked for a while. With no code on the screen — never started, cancelled,
// expired after OptInDisplayTimeout, or consent already received — it
// returns 2, [ErrOptInInvalidState]. On success OptInState is Received.
//
// A code of more than six digits cannot be the one displayed: it is refused
// with [ErrInvalidArgument] before anything is sent, so that it costs none of
// the three attempts.
func (d *Device) SendOptInCode(ctx context.Context, code uint32) error {
	if code > maxOptInCode {
		return opError(URIOptInService, "SendOptInCode", fmt.Errorf("%w: consent code %d has more than six digits", ErrInvalidArgument, code))
	}
	_, err := d.invoke(ctx, URIOptInService, "SendOptInCode", nil, wsman.Prop("OptInCode", strconv.FormatUint(uint64(code), 10)))
	return err
}

// CancelOptIn calls IPS_OptInService.CancelOptIn: OptInState goes back to
// NotStarted, taking the code off the screen or ending a received consent
// before its timeout (Intel, Stop the Consent Process). With nothing to
// cancel, or while a redirection session is open, it returns 2,
// [ErrOptInInvalidState] (MPS pull request 2224's reading of that value).
func (d *Device) CancelOptIn(ctx context.Context) error {
	_, err := d.invoke(ctx, URIOptInService, "CancelOptIn", nil)
	return err
}
