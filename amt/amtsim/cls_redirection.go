package amtsim

import (
	"encoding/binary"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// Redirection, KVM and user consent: AMT_RedirectionService,
// CIM_KVMRedirectionSAP, IPS_KVMRedirectionSettingData and IPS_OptInService
// with its consent flow (StartOptIn, SendOptInCode, CancelOptIn). Instance
// shapes as go-wsman-messages' recorded responses show them; rules from the
// Intel AMT SDK ("Managing the KVM Feature", "Get User Consent Status", "Start
// the Consent Flow", "Send Consent Code", "Stop the Consent Process",
// "Denial-of-Service Attack Prevention") and rpc-go amtfeatures.go (consent
// is read-only ALL in client control mode; no KVM on Intel Standard
// Manageability).
const (
	uriRedirection = amtNS + "AMT_RedirectionService"
	uriKVMSAP      = cimNS + "CIM_KVMRedirectionSAP"
	uriKVMSettings = ipsNS + "IPS_KVMRedirectionSettingData"
	uriOptIn       = ipsNS + "IPS_OptInService"

	redirectionName = "Intel(r) AMT Redirection Service"
	kvmSAPName      = "KVM Redirection Service Access Point"
	kvmSettingsID   = "Intel(r) KVM Redirection Settings"
	optInName       = "Intel(r) AMT OptIn Service"

	redirDisabled = 32768
	redirBoth     = 32771

	kvmEnabled        = 2
	kvmDisabled       = 3
	kvmEnabledOffline = 6

	optInNone = 0
	optInKVM  = 1
	optInAll  = 0xFFFFFFFF

	maxKVMSessionTimeout = 255 // minutes ("Managing the KVM Feature")

	// IPS_OptInService.OptInState (amt.OptInState). IN SESSION (4) needs a
	// KVM or storage-redirection session, which the simulator does not
	// serve.
	optInNotStarted = 0
	optInRequested  = 1
	optInDisplayed  = 2
	optInReceived   = 3

	// The consent methods' ReturnValues: go-wsman-messages ips/optin
	// decoder.go (1 InternalError, 2 InvalidState, 3 Blocked), and 2066 for a
	// wrong code (the Open AMT Cloud Toolkit's sample web UI reads it so;
	// MPS pull request 2224).
	optInInternalError = 1
	optInInvalidState  = 2
	optInBlocked       = 3
	optInWrongCode     = 2066

	// maxWrongOptInCodes: the third wrong code ends the flow. The audit
	// log's Send Consent Code event records either success or three failed
	// attempts (go-wsman-messages amt/auditlog decoder.go, MPS auditLog.ts);
	// Intel says only that several invalid codes take OptInState back to NOT
	// STARTED (Send Consent Code).
	maxWrongOptInCodes = 3
	// optInBlockedFor is how long StartOptIn answers 3 (blocked) after the
	// flow ended on wrong codes: the simulator's choice — Intel says that
	// the firmware slows requests to start down, and gives no duration.
	optInBlockedFor = time.Minute
	// optInCodes: the code is six decimal digits (MPS's API and
	// MeshCommander's code field take six).
	optInCodes = 1000000
)

// featureState is what the redirection and consent classes hold.
type featureState struct {
	redir       uint16 // AMT_RedirectionService.EnabledState, 32768–32771
	listener    bool
	kvm         bool
	kvmSettings map[string]string
	rfbSet      bool   // an RFBPassword was written (it is write-only)
	optIn       uint32 // the policy set in admin control mode (optInSet)
	optInSet    bool
	optInDisp   uint16
	optInCode   uint32
	consent     consentFlow
}

// consentFlow is where the consent flow is (IPS_OptInService.OptInState and
// what goes with it).
type consentFlow struct {
	state   uint8
	code    uint32    // the code on the host's screen while displayed
	until   time.Time // when the state (displayed or received) ends, fixed on entering it
	wrong   int       // wrong codes sent for this code
	blocked time.Time // StartOptIn answers 3 until then
}

// defaultFeatures is the simulator's factory state (no public source gives
// the factory values; these are the simulator's choice): IDER and SOL enabled
// with the redirection listener off, KVM off, the consent policy unset (see
// optInRequired).
func defaultFeatures() featureState {
	return featureState{
		redir: redirBoth,
		kvmSettings: map[string]string{
			"BackToBackFbMode":   "false",
			"DefaultScreen":      "0",
			"Is5900PortEnabled":  "false",
			"OptInPolicy":        "true",
			"OptInPolicyTimeout": "300",
			"SessionTimeout":     "3",
		},
		optInDisp: 300,
		optInCode: 120,
	}
}

// kvmSupported: Intel Standard Manageability has no KVM (rpc-go
// amtfeatures.go isISMSystem skips it).
func (d *Device) kvmSupported() bool { return !d.cfg.StandardManageability }

// optInRequiredLocked is the consent policy the device reports: ALL in client
// control mode, where it cannot be changed; otherwise the policy set, or
// the admin-control-mode default — KVM where the platform has KVM, NONE where
// it has not (Intel AMT SDK, Get User Consent Status).
func (d *Device) optInRequiredLocked() uint32 {
	f := &d.st.ra.feat
	switch {
	case d.st.mode == amt.ControlModeCCM:
		return optInAll
	case f.optInSet:
		return f.optIn
	case d.kvmSupported():
		return optInKVM
	}
	return optInNone
}

// AMT_RedirectionService: EnabledState through RequestStateChange,
// ListenerEnabled through Put.
func redirectionClass() *class {
	inst := func(d *Device) *etree.Element {
		f := &d.st.ra.feat
		return cimServiceInst(uriRedirection, redirectionName).
			n("EnabledState", int64(f.redir)).
			b("ListenerEnabled", f.listener).el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		put: func(d *Device, c *call) wsmantest.Reply {
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an AMT_RedirectionService instance.")
			}
			if in.has("ListenerEnabled") {
				v, err := in.boolean("ListenerEnabled")
				if err != nil {
					return internalError(amt.StatusInvalidParameter)
				}
				d.st.ra.feat.listener = v
			}
			// EnabledState (rpc-go sends one) and the keys are read-only here.
			return wsmantest.PutResponse(c.req, inst(d))
		},
		methods: map[string]method{
			"RequestStateChange": {fn: func(d *Device, c *call, in *input) *etree.Element {
				s, err := in.u32("RequestedState")
				if err != nil || s < redirDisabled || s > redirBoth {
					return rv(c, cimInvalidParameter)
				}
				d.st.ra.feat.redir = uint16(s)
				return rv(c, 0)
			}},
		},
	}
}

// CIM_KVMRedirectionSAP: EnabledState 6 (enabled, no session) or 3;
// RequestStateChange 2 or 3.
func kvmSAPClass() *class {
	inst := func(d *Device) *etree.Element {
		state, requested := kvmDisabled, kvmDisabled
		if d.st.ra.feat.kvm {
			state, requested = kvmEnabledOffline, kvmEnabled
		}
		return newInst(uriKVMSAP).
			s("CreationClassName", "CIM_KVMRedirectionSAP").
			s("ElementName", kvmSAPName).
			n("EnabledState", int64(state)).
			n("KVMProtocol", 4).
			s("Name", kvmSAPName).
			n("RequestedState", int64(requested)).
			s("SystemCreationClassName", "CIM_ComputerSystem").
			s("SystemName", "ManagedSystem").el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		methods: map[string]method{
			"RequestStateChange": {fn: func(d *Device, c *call, in *input) *etree.Element {
				s, err := in.u32("RequestedState")
				if err != nil || (s != kvmEnabled && s != kvmDisabled) {
					return rv(c, cimInvalidParameter)
				}
				if s == kvmEnabled && d.cfg.KVMDisabledInMEBx {
					return rv(c, 2) // EnabledByMEBx false: "cannot be enabled by any other means"
				}
				d.st.ra.feat.kvm = s == kvmEnabled
				return rv(c, 0)
			}},
		},
	}
}

// kvmWritable are the IPS_KVMRedirectionSettingData properties a Put may
// change (EnabledByMEBx is read-only; RFBPassword write-only).
var kvmWritable = map[string]bool{
	"BackToBackFbMode": true, "DefaultScreen": true, "Is5900PortEnabled": true,
	"OptInPolicy": true, "OptInPolicyTimeout": true, "SessionTimeout": true,
}

// IPS_KVMRedirectionSettingData.
func kvmSettingsClass() *class {
	inst := func(d *Device) *etree.Element {
		m := copyMap(d.st.ra.feat.kvmSettings)
		if d.st.mode == amt.ControlModeCCM {
			m["OptInPolicy"] = "true" // consent is always asked in client control mode
		}
		m["ElementName"], m["InstanceID"] = kvmSettingsID, kvmSettingsID
		m["EnabledByMEBx"] = strconv.FormatBool(!d.cfg.KVMDisabledInMEBx)
		in := newInst(uriKVMSettings)
		for k, v := range m {
			in.s(k, v)
		}
		// RFBPassword is write-only: read back empty (as the recorded Get).
		in.fields = append(in.fields, wsman.Prop("RFBPassword", ""))
		return in.el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		put: func(d *Device, c *call) wsmantest.Reply {
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an IPS_KVMRedirectionSettingData instance.")
			}
			f := &d.st.ra.feat
			next := copyMap(f.kvmSettings)
			for name := range in.f {
				if !kvmWritable[name] {
					continue
				}
				v, _ := in.str(name)
				switch name {
				case "Is5900PortEnabled", "OptInPolicy", "BackToBackFbMode":
					b, err := wsman.ParseBool(v)
					if err != nil {
						return internalError(amt.StatusInvalidParameter)
					}
					v = strconv.FormatBool(b)
				case "SessionTimeout":
					n, err := strconv.ParseUint(v, 10, 16)
					if err != nil || n > maxKVMSessionTimeout {
						return internalError(amt.StatusInvalidParameter)
					}
				case "OptInPolicyTimeout", "DefaultScreen":
					if _, err := strconv.ParseUint(v, 10, 16); err != nil {
						return internalError(amt.StatusInvalidParameter)
					}
				}
				next[name] = v
			}
			rfb, _ := in.str("RFBPassword")
			if d.st.mode == amt.ControlModeCCM && next["OptInPolicy"] == "false" {
				return internalError(amt.StatusNotPermitted)
			}
			// "This value can be set to true only if there is a defined
			// RFBPassword" (Managing the KVM Feature).
			if next["Is5900PortEnabled"] == "true" && !f.rfbSet && rfb == "" {
				return internalError(amt.StatusInvalidParameter)
			}
			if rfb != "" {
				f.rfbSet = true
			}
			f.kvmSettings = next
			return wsmantest.PutResponse(c.req, inst(d))
		},
	}
}

// IPS_OptInService: the consent policy (Put) and the consent flow's state.
func optInClass() *class {
	inst := func(d *Device) *etree.Element {
		f := &d.st.ra.feat
		return cimServiceInst(uriOptIn, optInName).
			n("CanModifyOptInPolicy", canModifyOptIn(d)).
			n("OptInCodeTimeout", int64(f.optInCode)).
			n("OptInDisplayTimeout", int64(f.optInDisp)).
			n("OptInRequired", int64(d.optInRequiredLocked())).
			n("OptInState", int64(d.consentLocked().state)).el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		put: func(d *Device, c *call) wsmantest.Reply {
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an IPS_OptInService instance.")
			}
			f := &d.st.ra.feat
			ccm := d.st.mode == amt.ControlModeCCM
			if in.has("OptInRequired") {
				v, err := in.u32("OptInRequired")
				if err != nil || (v != optInNone && v != optInKVM && v != optInAll) {
					return internalError(amt.StatusInvalidParameter)
				}
				if v != d.optInRequiredLocked() {
					if d.cfg.ConsentFixedInMEBx {
						return internalError(amt.StatusNotPermitted) // CanModifyOptInPolicy 0
					}
					if ccm {
						// "This value is ALL and not changeable in Client
						// Control mode" (Get User Consent Status).
						return internalError(amt.StatusNotPermitted)
					}
					f.optIn, f.optInSet = v, true
				}
			}
			if in.has("OptInDisplayTimeout") && !ccm { // read-only in client control mode
				v, err := in.u32("OptInDisplayTimeout")
				if err != nil || v > 0xFFFF {
					return internalError(amt.StatusInvalidParameter)
				}
				f.optInDisp = uint16(v)
			}
			if in.has("OptInCodeTimeout") {
				v, err := in.u32("OptInCodeTimeout")
				if err != nil {
					return internalError(amt.StatusInvalidParameter)
				}
				f.optInCode = v
			}
			return wsmantest.PutResponse(c.req, inst(d))
		},
		methods: map[string]method{
			"StartOptIn":    {fn: startOptIn},
			"SendOptInCode": {fn: sendOptInCode},
			"CancelOptIn":   {fn: cancelOptIn},
		},
	}
}

// consentLocked returns the consent flow after its timeouts, by the device's
// time source (Config.Now): a displayed code is taken off the screen after
// OptInDisplayTimeout seconds (the class reference bounds by it the time from
// the request to the operator entering the code), and a received consent ends
// after OptInCodeTimeout seconds without a redirection session (Send Consent
// Code gives two idle minutes, the default 120; the simulator serves no
// sessions, so every second after the code was accepted is idle). Either
// returns the flow to NOT STARTED. The end is fixed when the state is entered:
// a later Put of a timeout applies to the next code or consent, so that no Put
// brings back one that has ended, whether or not anything read the state in
// between (no public source says which the firmware does; the simulator's
// choice).
func (d *Device) consentLocked() *consentFlow {
	fl := &d.st.ra.feat.consent
	if fl.state != optInDisplayed && fl.state != optInReceived {
		return fl
	}
	if !d.now().Before(fl.until) {
		d.debug("consent: " + consentStateName(fl.state) + " timed out")
		fl.reset()
	}
	return fl
}

// reset returns the flow to NOT STARTED, keeping a block.
func (fl *consentFlow) reset() { *fl = consentFlow{blocked: fl.blocked} }

func consentStateName(s uint8) string { return amt.OptInState(s).String() }

// startOptIn: a code is made only when the policy asks for consent and no
// flow is under way (Start the Consent Flow: StartOptIn fails unless
// OptInState is NOT STARTED; MPS pull request 2224 reads that failure, 2, as a
// request already pending). With the policy at NONE the simulator answers 2 as
// well: no source says what firmware answers (go-wsman-messages' recordings
// show a device at NONE and NOT STARTED, and a StartOptIn answered 2, but not
// that they come from one device). After the flow ended on wrong codes
// StartOptIn answers 3, blocked (Denial-of-Service Attack Prevention). The
// code comes from Config.Rand; the simulated host is on with a screen, so the
// sprite shows it at once: REQUESTED, then DISPLAYED within the call.
func startOptIn(d *Device, c *call, _ *input) *etree.Element {
	fl := d.consentLocked()
	now := d.now()
	switch {
	case now.Before(fl.blocked):
		return rv(c, optInBlocked)
	case fl.state != optInNotStarted || d.optInRequiredLocked() == optInNone:
		return rv(c, optInInvalidState)
	}
	code, err := randomConsentCode(d.rand)
	if err != nil {
		return rv(c, optInInternalError)
	}
	fl.state, fl.code, fl.wrong = optInRequested, code, 0
	d.debug("consent: code requested")
	fl.state, fl.until = optInDisplayed, now.Add(time.Duration(d.st.ra.feat.optInDisp)*time.Second)
	d.debug("consent: code displayed")
	return rv(c, 0)
}

// sendOptInCode: the code on the screen gives RECEIVED; another is answered
// 2066 and counted, and the third ends the flow and blocks StartOptIn for a
// while. With no code on the screen — expired, not started, or consent
// already received or in session — it answers 2 (MPS pull request 2224). An
// OptInCode that is not a uint32 is a schema fault (the simulator's choice).
func sendOptInCode(d *Device, c *call, in *input) *etree.Element {
	code, err := in.u32("OptInCode")
	if err != nil {
		f := wsmantest.SenderFault("SchemaValidationError", "OptInCode must be a uint32.")
		c.fault = &f
		return nil
	}
	fl := d.consentLocked()
	if fl.state != optInDisplayed {
		return rv(c, optInInvalidState)
	}
	if code != fl.code {
		fl.wrong++
		d.debug("consent: wrong code", slog.Int("attempt", fl.wrong))
		if fl.wrong >= maxWrongOptInCodes {
			fl.reset()
			fl.blocked = d.now().Add(optInBlockedFor)
		}
		return rv(c, optInWrongCode)
	}
	fl.state, fl.code, fl.wrong = optInReceived, 0, 0
	fl.until = d.now().Add(time.Duration(d.st.ra.feat.optInCode) * time.Second)
	d.debug("consent: code received")
	return rv(c, 0)
}

// cancelOptIn ends a requested, displayed or received consent, back to NOT
// STARTED (Stop the Consent Process); with nothing to cancel it answers 2 (MPS
// pull request 2224 reads 2 from CancelOptIn that way).
func cancelOptIn(d *Device, c *call, _ *input) *etree.Element {
	fl := d.consentLocked()
	if fl.state == optInNotStarted {
		return rv(c, optInInvalidState)
	}
	fl.reset()
	d.debug("consent: cancelled")
	return rv(c, 0)
}

// randomConsentCode draws a code of six decimal digits, uniformly (values of
// the last, partial run of a million are drawn again).
func randomConsentCode(r io.Reader) (uint32, error) {
	const limit = (1 << 32) / optInCodes * optInCodes
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return v % optInCodes, nil
		}
	}
}

// DisplayedConsentCode is the host's screen: the user-consent code the
// firmware's sprite shows there while IPS_OptInService.OptInState is
// DISPLAYED, which the user reads out to the remote operator (Intel AMT SDK,
// Opt-In Flow). ok is false when no code is on the screen (no flow started,
// or it was cancelled, timed out, ended on wrong codes, or the code was
// accepted). The code is six digits: print it with %06d.
func (d *Device) DisplayedConsentCode() (code uint32, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fl := d.consentLocked()
	if fl.state != optInDisplayed {
		return 0, false
	}
	return fl.code, true
}

// redirectionClassFor returns the redirection or consent class at uri, or nil.
func redirectionClassFor(uri string) *class {
	switch uri {
	case uriRedirection:
		return redirectionClass()
	case uriKVMSAP:
		return kvmSAPClass()
	case uriKVMSettings:
		return kvmSettingsClass()
	case uriOptIn:
		return optInClass()
	}
	return nil
}

// redirectionClassExists: the KVM classes are absent where the platform has
// no KVM (the simulator's choice of answer: DestinationUnreachable).
func (d *Device) redirectionClassExists(uri string) bool {
	if uri == uriKVMSAP || uri == uriKVMSettings {
		return d.kvmSupported()
	}
	return true
}

// Features is what the redirection and consent classes hold, as the firmware
// would report it.
type Features struct {
	// Redirection is AMT_RedirectionService.EnabledState (32768 none, 32769
	// IDER, 32770 SOL, 32771 both); Listener its ListenerEnabled.
	Redirection amt.RedirectionState
	Listener    bool
	// KVM is whether KVM is enabled; KVMSupported false on Intel Standard
	// Manageability.
	KVM, KVMSupported bool
	// KVMConsent is IPS_KVMRedirectionSettingData.OptInPolicy; Port5900 its
	// Is5900PortEnabled.
	KVMConsent, Port5900 bool
	// UserConsent is IPS_OptInService.OptInRequired.
	UserConsent amt.OptInRequired
	// ConsentState is IPS_OptInService.OptInState, the consent flow's
	// state after its timeouts.
	ConsentState amt.OptInState
}

// Features returns the redirection, KVM and consent settings, and the
// consent flow's state.
func (d *Device) Features() Features {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := &d.st.ra.feat
	return Features{
		Redirection: amt.RedirectionState(f.redir), Listener: f.listener,
		KVM: f.kvm, KVMSupported: d.kvmSupported(),
		KVMConsent:   f.kvmSettings["OptInPolicy"] == "true" || d.st.mode == amt.ControlModeCCM,
		Port5900:     f.kvmSettings["Is5900PortEnabled"] == "true",
		UserConsent:  amt.OptInRequired(d.optInRequiredLocked()),
		ConsentState: amt.OptInState(d.consentLocked().state),
	}
}

// canModifyOptIn is IPS_OptInService.CanModifyOptInPolicy: 0 where MEBx fixed
// the consent policy (Config.ConsentFixedInMEBx), 1 otherwise.
func canModifyOptIn(d *Device) int64 {
	if d.cfg.ConsentFixedInMEBx {
		return 0
	}
	return 1
}
