package amt

import (
	"errors"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/wsman"
)

// Errors of [Device] calls. They are wrapped in an [*OpError]; test with
// errors.Is.
var (
	// ErrBadResponse: the device answered, but not with what the operation
	// expects — another method's output element, no ReturnValue, an instance
	// of another class, a value that does not decode.
	ErrBadResponse = errors.New("amt: unexpected response from the device")
	// ErrInvalidArgument: an argument was refused before anything was sent.
	ErrInvalidArgument = errors.New("amt: invalid argument")
	// ErrNotReadFromDevice: a Put was asked for a struct that was not read
	// from the device, so there is no instance to send back (see the Device
	// documentation, "Reading and writing instances").
	ErrNotReadFromDevice = errors.New("amt: instance was not read from the device; Get it first")
	// ErrUUIDNotSet: GetUuid returned all zero bytes (no UUID) or all 0xFF
	// bytes (settable but not set).
	ErrUUIDNotSet = errors.New("amt: device UUID is not set")
	// ErrNotFound: a lookup the Device makes on the caller's behalf found
	// nothing (e.g. no AMT_TLSProtocolEndpointCollection instance, no "AMT"
	// software identity).
	ErrNotFound = errors.New("amt: instance not found")
)

// OpError reports a failed [Device] call: the class, the operation (Get, Put,
// Create, Delete, Enumerate or the method name) and the cause. Every error a
// Device method returns is an *OpError.
//
// Unwrap gives the cause and, when the cause is a [*wsman.Fault] whose detail
// carries "AMT-STATUS n", also Status(n): so errors.Is(err,
// amt.StatusNotPermitted) works for a refused Put, and errors.As(err,
// &fault) still reaches the fault.
type OpError struct {
	Class string // e.g. "AMT_SetupAndConfigurationService"
	Op    string // e.g. "CommitChanges", "Put"
	Err   error
	// Status is the AMT-STATUS carried in a fault's detail (0 if none).
	Status Status
}

func opError(uri, op string, err error) error {
	if err == nil {
		return nil
	}
	e := &OpError{Class: wsman.ClassName(uri), Op: op, Err: err}
	if st, ok := StatusOfFault(err); ok {
		e.Status = st
	}
	return e
}

// Error returns "amt: <Class>.<Op>: <cause>".
func (e *OpError) Error() string {
	return "amt: " + e.Class + "." + e.Op + ": " + strings.TrimPrefix(e.Err.Error(), "amt: ")
}

// Unwrap returns the cause and, for a fault with an AMT-STATUS detail, the
// Status.
func (e *OpError) Unwrap() []error {
	if e.Status != 0 {
		return []error{e.Err, e.Status}
	}
	return []error{e.Err}
}

// ReturnValueError is a method that ran and returned a non-zero ReturnValue.
// The value is interpreted with the method's own family (Intel AMT SDK,
// errorsandreturnvalues.htm; go-wsman-messages decoders):
//
//   - AMT_* methods: a PT_STATUS; Unwrap returns the [Status], so
//     errors.Is(err, amt.StatusDataMissing) matches CommitChanges' 2057.
//   - IPS_HostBasedSetupService methods: the method's own enumeration. Is
//     matches the ErrHostSetup… sentinels by that enumeration — AdminSetup 5 is
//     [ErrHostSetupAuthFailed], AddNextCertInChain 1 is
//     [ErrHostSetupInvalidParameter] while Setup 1 is
//     [ErrHostSetupInternalError] — and the value is never a Status.
//   - IPS_IEEE8021xSettings.SetCertificates: 1 is
//     [ErrIEEE8021xInternalError].
//   - IPS_OptInService methods (the consent flow): the class's own
//     enumeration, never a Status — 1 [ErrOptInInternalError], 2
//     [ErrOptInInvalidState], 3 [ErrOptInBlocked], 4 [ErrOptInFailedFFS], and
//     SendOptInCode's 2066 [ErrOptInWrongCode].
//   - CIM_* methods, and AMT_WiFiPortConfigurationService's AddWiFiSettings
//     and UpdateWiFiSettings: 32768 + PT_STATUS is unwrapped to the Status;
//     other values are the method's own.
type ReturnValueError struct {
	Class  string
	Method string
	Value  uint32
}

// Family returns the name of the value's family: "PT_STATUS",
// "IPS_HostBasedSetupService", "SetCertificates", "IPS_OptInService", "CIM"
// or "unknown".
func (e *ReturnValueError) Family() string {
	switch {
	case e.Class == "AMT_WiFiPortConfigurationService" && (e.Method == "AddWiFiSettings" || e.Method == "UpdateWiFiSettings"):
		// An AMT_ class with a CIM-style map (0 completed … 4 invalid
		// reference, 32768 + PT_STATUS): go-wsman-messages
		// wifiportconfiguration types.go.
		return "CIM"
	case strings.HasPrefix(e.Class, "AMT_"):
		return "PT_STATUS"
	case e.Class == "IPS_HostBasedSetupService":
		return "IPS_HostBasedSetupService"
	case e.Class == "IPS_IEEE8021xSettings" && e.Method == "SetCertificates":
		return "SetCertificates"
	case e.Class == "IPS_OptInService":
		return "IPS_OptInService"
	case strings.HasPrefix(e.Class, "CIM_"):
		return "CIM"
	}
	return "unknown"
}

// Status returns the PT_STATUS the value stands for, and false when the value
// is not a PT_STATUS (IPS enumerations, CIM values below the vendor range).
func (e *ReturnValueError) Status() (Status, bool) {
	switch e.Family() {
	case "PT_STATUS":
		return Status(e.Value), true
	case "CIM":
		return StatusFromCIM(e.Value)
	}
	return 0, false
}

// Error returns, e.g., "AdminSetup returned 5 (authentication failed)" or
// "CommitChanges returned 2057 (PT_STATUS_DATA_MISSING)".
func (e *ReturnValueError) Error() string {
	s := e.Method + " returned " + strconv.FormatUint(uint64(e.Value), 10)
	if st, ok := e.Status(); ok {
		if st.Known() {
			return s + " (" + st.Name() + ")"
		}
		return s + " (PT_STATUS " + strconv.FormatUint(uint64(st), 10) + ")"
	}
	if sentinel := e.sentinel(); sentinel != nil {
		return s + " (" + strings.TrimPrefix(sentinel.Error(), "amt: ") + ")"
	}
	return s
}

// Unwrap returns the Status for PT_STATUS and CIM-vendor values, else nil.
func (e *ReturnValueError) Unwrap() error {
	if st, ok := e.Status(); ok {
		return st
	}
	return nil
}

// Is matches the method-specific sentinels.
func (e *ReturnValueError) Is(target error) bool {
	s := e.sentinel()
	return s != nil && s == target
}

func (e *ReturnValueError) sentinel() error {
	switch e.Family() {
	case "IPS_HostBasedSetupService":
		return hostSetupSentinel(e.Method, e.Value)
	case "SetCertificates":
		if e.Value == 1 {
			return ErrIEEE8021xInternalError
		}
	case "IPS_OptInService":
		return optInSentinel(e.Method, e.Value)
	}
	return nil
}

// IPS_HostBasedSetupService return values (go-wsman-messages
// ips/hostbasedsetup/decoder.go).
// They are per method: a [*ReturnValueError] matches the sentinel its method's
// map gives its value.
var (
	// ErrHostSetupInternalError: Setup/AdminSetup 1, AddNextCertInChain 2.
	ErrHostSetupInternalError = errors.New("amt: host-based setup: internal error")
	// ErrHostSetupInvalidState: Setup/AdminSetup 2, AddNextCertInChain 3 (for
	// example the device is not in pre-provisioning).
	ErrHostSetupInvalidState = errors.New("amt: host-based setup: invalid state")
	// ErrHostSetupInvalidParameter: Setup/AdminSetup 3, AddNextCertInChain 1.
	ErrHostSetupInvalidParameter = errors.New("amt: host-based setup: invalid parameter")
	// ErrHostSetupMethodDisabled: Setup 4.
	ErrHostSetupMethodDisabled = errors.New("amt: host-based setup: method disabled")
	// ErrHostSetupAuthFailed: Setup/AdminSetup 5 (the signature over the
	// nonces did not verify, or the chain's root is not trusted).
	ErrHostSetupAuthFailed = errors.New("amt: host-based setup: authentication failed")
	// ErrHostSetupFlashWriteLimit: Setup/AdminSetup 6.
	ErrHostSetupFlashWriteLimit = errors.New("amt: host-based setup: flash write limit exceeded")
	// ErrHostSetupCertVerifyFailed: AddNextCertInChain 4.
	ErrHostSetupCertVerifyFailed = errors.New("amt: host-based setup: certificate verification failed")
	// ErrHostSetupChainTooLong: AddNextCertInChain 5.
	ErrHostSetupChainTooLong = errors.New("amt: host-based setup: certificate chain length exceeded")

	// ErrIEEE8021xInternalError: IPS_IEEE8021xSettings.SetCertificates 1.
	ErrIEEE8021xInternalError = errors.New("amt: 802.1X SetCertificates: internal error")
)

// hostSetupSentinel maps a method's ReturnValue to its sentinel. No source
// publishes maps for UpgradeClientToAdmin and DisableClientControlMode; they are
// read with Setup's map, as go-wsman-messages does (an assumption, documented in
// docs/device.md).
func hostSetupSentinel(method string, v uint32) error {
	switch method {
	case "AddNextCertInChain":
		switch v {
		case 1:
			return ErrHostSetupInvalidParameter
		case 2:
			return ErrHostSetupInternalError
		case 3:
			return ErrHostSetupInvalidState
		case 4:
			return ErrHostSetupCertVerifyFailed
		case 5:
			return ErrHostSetupChainTooLong
		}
		return nil
	case "AdminSetup":
		if v == 4 {
			return nil // not defined for AdminSetup
		}
	}
	switch v {
	case 1:
		return ErrHostSetupInternalError
	case 2:
		return ErrHostSetupInvalidState
	case 3:
		return ErrHostSetupInvalidParameter
	case 4:
		return ErrHostSetupMethodDisabled
	case 5:
		return ErrHostSetupAuthFailed
	case 6:
		return ErrHostSetupFlashWriteLimit
	}
	return nil
}

// IPS_OptInService return values, the same for StartOptIn, SendOptInCode and
// CancelOptIn: go-wsman-messages pkg/wsman/ips/optin/decoder.go (0 Success,
// 1 InternalError, 2 InvalidState, 3 Blocked, 4 FailedFFS; Intel's
// Denial-of-Service Attack Prevention page names StartOptIn's 3 "blocked"),
// and SendOptInCode's 2066 for a wrong code: the Open AMT Cloud Toolkit's
// sample web UI (its KVM and SOL components' sendOptInCodeResponse) reads 2066
// as an invalid consent code, after which the flow may be back at NOT STARTED,
// and MPS pull request 2224 (device-management-toolkit/mps, not merged at
// 80c2f999) maps it so. MPS
// and MeshCommander print these values with PT_STATUS names (2 NOT_READY,
// 2066 UNSUPPORTED), which is why a [*ReturnValueError] of this family is
// never a [Status]: errors.Is(err, amt.StatusUnsupported) would say the
// firmware lacks the feature, not that the user's code was mistyped.
var (
	// ErrOptInInternalError: 1.
	ErrOptInInternalError = errors.New("amt: user consent: internal error")
	// ErrOptInInvalidState: 2, the flow is not where the call needs it:
	// StartOptIn while a code is pending or consent is already received;
	// SendOptInCode with no code on the screen (not started, cancelled,
	// expired after OptInDisplayTimeout, given up after wrong codes, or
	// consent already received); CancelOptIn with nothing to cancel or a
	// redirection session open (MPS pull request 2224).
	ErrOptInInvalidState = errors.New("amt: user consent: not in a state for this call (not started, expired or already given)")
	// ErrOptInBlocked: 3, StartOptIn refused for a while after a series of
	// wrong codes (Intel AMT Implementation and Reference Guide,
	// Denial-of-Service Attack Prevention).
	ErrOptInBlocked = errors.New("amt: user consent: blocked after failed attempts")
	// ErrOptInFailedFFS: 4, go-wsman-messages' FailedFFS, which no public
	// source explains further (FFS is presumably the flash file system).
	ErrOptInFailedFFS = errors.New("amt: user consent: failed (FFS)")
	// ErrOptInWrongCode: SendOptInCode 2066, the code is not the one on the
	// host's screen. The third wrong code for one displayed code ends the
	// flow (OptInState back to NotStarted).
	ErrOptInWrongCode = errors.New("amt: user consent: wrong code")
)

// optInSentinel maps an IPS_OptInService ReturnValue to its sentinel. 2066
// has a meaning only for SendOptInCode.
func optInSentinel(method string, v uint32) error {
	switch v {
	case 1:
		return ErrOptInInternalError
	case 2:
		return ErrOptInInvalidState
	case 3:
		return ErrOptInBlocked
	case 4:
		return ErrOptInFailedFFS
	case uint32(StatusUnsupported):
		if method == "SendOptInCode" {
			return ErrOptInWrongCode
		}
	}
	return nil
}
