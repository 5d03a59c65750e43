package provisioning

import (
	"context"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
)

// FeaturesProfile configures what a console may do with a device beyond
// WS-Management: Serial-over-LAN, IDE (storage) redirection and KVM, the
// user-consent policy, and the ping responses. The reconcile area "features"
// applies it after activation and keeps it in line, as RPS's
// featuresConfiguration.ts and rpc-go's "configure amtfeatures" do
// (docs/remote-access.md). The zero value turns redirection and KVM off,
// asks for consent to everything and answers pings.
type FeaturesProfile struct {
	// SOL and IDER enable Serial-over-LAN and IDE redirection
	// (AMT_RedirectionService EnabledState); KVM enables the KVM access
	// point (CIM_KVMRedirectionSAP). The redirection listener is on when any
	// of the three is (RPS).
	SOL, IDER, KVM bool
	// UserConsent is the consent policy (IPS_OptInService OptInRequired).
	// Empty: ConsentAll. In client control mode the firmware fixes it at ALL
	// (Intel AMT SDK, Get User Consent Status; RPS refuses any other value
	// for a client-control profile, rpc-go only sets it in admin control
	// mode): another value is reported as a failed change on such devices.
	UserConsent UserConsent
	// NoPingResponse and NoRMCPPingResponse stop AMT answering ICMP echo and
	// RMCP ping (AMT_GeneralSettings PingResponseEnabled and
	// RmcpPingResponseEnabled). Default: both answered (RPS enables RMCP
	// ping).
	NoPingResponse, NoRMCPPingResponse bool
	// Unattended says the devices have no local user (kiosks, servers): no
	// one could give consent, so ConsentNone is expected and Audit does not
	// warn about it.
	Unattended bool
}

// UserConsent is a user-consent policy.
type UserConsent string

// User-consent policies.
const (
	ConsentAll  UserConsent = "all"  // KVM, storage redirection and boot options need the user's code
	ConsentKVM  UserConsent = "kvm"  // KVM sessions only
	ConsentNone UserConsent = "none" // no consent asked
)

func (c UserConsent) wire() amt.OptInRequired {
	switch c {
	case ConsentKVM:
		return amt.OptInKVM
	case ConsentNone:
		return amt.OptInNone
	}
	return amt.OptInAll
}

// Validate checks the profile.
func (f *FeaturesProfile) Validate() error {
	if f == nil {
		return nil
	}
	switch f.UserConsent {
	case "", ConsentAll, ConsentKVM, ConsentNone:
	default:
		return &ConfigError{Field: "Features.UserConsent", Problem: fmt.Sprintf("%q (expected all, kvm or none)", f.UserConsent)}
	}
	return nil
}

// ErrConsentFixed: the device's consent policy cannot be changed — client
// control mode fixes it at ALL, or MEBx forbids changing it over
// WS-Management (CanModifyOptInPolicy 0).
var ErrConsentFixed = errors.New("provisioning: the device's user-consent policy cannot be changed")

// ErrNoKVM: the profile enables KVM on a platform without KVM (Intel
// Standard Manageability), or where KVM was disabled in MEBx.
var ErrNoKVM = errors.New("provisioning: the platform has no KVM")

// planFeatures keeps redirection, KVM, consent and the ping responses in line
// with Profile.Features, in RPS's order: the redirection state, KVM, the
// redirection listener, then the consent policy.
func planFeatures(ctx context.Context, rc *reconcileContext) ([]Change, error) {
	want := rc.profile.Features
	if want == nil {
		return nil, nil
	}
	dev := rc.dev
	rs, err := dev.RedirectionService(ctx)
	if err != nil {
		return nil, err
	}
	kvmSupported := true
	kvm, err := dev.KVMRedirection(ctx)
	switch {
	case errors.Is(err, wsman.ErrDestinationUnreachable):
		kvmSupported = false // Intel Standard Manageability (rpc-go isISMSystem)
	case err != nil:
		return nil, err
	}
	optIn, err := dev.OptInService(ctx)
	if err != nil {
		return nil, err
	}
	gs, err := dev.GeneralSettings(ctx)
	if err != nil {
		return nil, err
	}
	var out []Change
	if w := amt.RedirectionStateOf(want.IDER, want.SOL); rs.EnabledState != w {
		out = append(out, Change{Area: "features", Action: ChangeUpdate, Target: "redirection", From: rs.EnabledState.String(), To: w.String(),
			apply: func(ctx context.Context) error { return dev.RequestRedirectionState(ctx, w) }})
	}
	switch {
	case want.KVM && !kvmSupported:
		out = append(out, Change{Area: "features", Action: ChangeUpdate, Target: "KVM", From: "not available", To: "enabled",
			apply: func(context.Context) error { return ErrNoKVM }})
	case kvmSupported && kvm.EnabledState.On() != want.KVM:
		to := amt.KVMDisabled
		if want.KVM {
			to = amt.KVMEnabled
		}
		c := Change{Area: "features", Action: ChangeUpdate, Target: "KVM", From: onOff(kvm.EnabledState.On()), To: onOff(want.KVM),
			apply: func(ctx context.Context) error { return dev.RequestKVMState(ctx, to) }}
		if want.KVM {
			// KVM turned off in MEBx "cannot be enabled by any other means"
			// (IPS_KVMRedirectionSettingData.EnabledByMEBx): say so, rather
			// than pass on the firmware's bare refusal.
			ks, err := dev.KVMSettings(ctx)
			if err != nil {
				return nil, err
			}
			if !ks.EnabledByMEBx {
				c.From = "disabled in MEBx"
				c.apply = func(context.Context) error {
					return fmt.Errorf("%w: KVM was disabled in MEBx (EnabledByMEBx false), which only MEBx undoes", ErrNoKVM)
				}
			}
		}
		out = append(out, c)
	}
	if listener := want.SOL || want.IDER || want.KVM; rs.ListenerEnabled != listener {
		out = append(out, Change{Area: "features", Action: ChangeUpdate, Target: "redirection listener", From: onOff(rs.ListenerEnabled), To: onOff(listener),
			apply: func(ctx context.Context) error {
				cur, err := dev.RedirectionService(ctx)
				if err != nil {
					return err
				}
				cur.ListenerEnabled = listener
				_, err = dev.PutRedirectionService(ctx, cur)
				return err
			}})
	}
	if w := want.UserConsent.wire(); optIn.OptInRequired != w {
		c := Change{Area: "features", Action: ChangeUpdate, Target: "user consent", From: optIn.OptInRequired.String(), To: w.String()}
		switch {
		case rc.rec.ControlMode == amt.ControlModeCCM:
			c.apply = func(context.Context) error {
				return fmt.Errorf("%w: client control mode asks consent for everything", ErrConsentFixed)
			}
		case optIn.CanModifyOptInPolicy == 0:
			c.apply = func(context.Context) error {
				return fmt.Errorf("%w: MEBx does not allow changing it over WS-Management (CanModifyOptInPolicy 0)", ErrConsentFixed)
			}
		default:
			c.apply = func(ctx context.Context) error {
				optIn.OptInRequired = w
				_, err := dev.PutOptInService(ctx, optIn)
				return err
			}
		}
		out = append(out, c)
	}
	if gs.PingResponseEnabled == want.NoPingResponse || gs.RmcpPingResponseEnabled == want.NoRMCPPingResponse {
		out = append(out, Change{Area: "features", Action: ChangeUpdate, Target: "ping responses",
			From: fmt.Sprintf("ICMP %s, RMCP %s", onOff(gs.PingResponseEnabled), onOff(gs.RmcpPingResponseEnabled)),
			To:   fmt.Sprintf("ICMP %s, RMCP %s", onOff(!want.NoPingResponse), onOff(!want.NoRMCPPingResponse)),
			apply: func(ctx context.Context) error {
				cur, err := dev.GeneralSettings(ctx)
				if err != nil {
					return err
				}
				cur.PingResponseEnabled, cur.RmcpPingResponseEnabled = !want.NoPingResponse, !want.NoRMCPPingResponse
				_, err = dev.PutGeneralSettings(ctx, cur)
				return err
			}})
	}
	return out, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
