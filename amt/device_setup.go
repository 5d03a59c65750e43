package amt

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// SetupAndConfiguration is the AMT_SetupAndConfigurationService singleton
// (Intel AMT SDK class reference; intel/lms AMT_SetupAndConfigurationService.h).
type SetupAndConfiguration struct {
	ProvisioningState ProvisioningState
	// ProvisioningMode: 1 admin control mode, 4 client control mode (other
	// values are undocumented).
	ProvisioningMode ProvisioningMode
	// ZeroTouchConfigurationEnabled: remote configuration (PKI) is enabled.
	ZeroTouchConfigurationEnabled bool
	// PasswordModel: 0 coupled, 1 separate, 2 separate hash.
	PasswordModel uint8
	// DhcpDNSSuffix is the domain from DHCP option 15.
	DhcpDNSSuffix string
	// TrustedDNSSuffix is the provisioning DNS suffix set in MEBx.
	TrustedDNSSuffix        string
	ConfigurationServerFQDN string
	EnabledState            uint16
	RequestedState          uint16
	// OTP is ProvisioningServerOTP: readable only in the In provisioning
	// state; a device in another state (or with no OTP) sends zero bytes,
	// read as the empty Secret. Trailing zero bytes are removed.
	OTP Secret `wsman:"-"`

	src *source
}

const propOTP = "ProvisioningServerOTP"

func parseSetupAndConfiguration(el *etree.Element) (*SetupAndConfiguration, error) {
	if err := checkInstance(el, URISetupAndConfigurationService); err != nil {
		return nil, err
	}
	// A missing state would read as 0, pre-provisioning: callers decide on
	// it (whether a device is still provisioned), so an answer without it
	// is refused rather than guessed.
	if _, ok := propertyText(el, "ProvisioningState"); !ok {
		return nil, fmt.Errorf("%w: %s has no ProvisioningState", ErrBadResponse, URISetupAndConfigurationService)
	}
	s := &SetupAndConfiguration{}
	src, err := decodeInstance(el, s)
	if err != nil {
		return nil, err
	}
	if t, ok := propertyText(el, propOTP); ok && t != "" {
		b, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			// never print the value: it is the OTP
			return nil, fmt.Errorf("%w: %s is not valid base64 (%d characters)", ErrBadResponse, propOTP, len(t))
		}
		s.OTP = NewSecret(string(bytes.TrimRight(b, "\x00")))
		clear(b)
	}
	src.secrets = map[string]Secret{propOTP: s.OTP}
	s.src = src
	return s, nil
}

// SetupAndConfiguration reads AMT_SetupAndConfigurationService (Get).
func (d *Device) SetupAndConfiguration(ctx context.Context) (*SetupAndConfiguration, error) {
	return getAs(ctx, d, URISetupAndConfigurationService, nil, parseSetupAndConfiguration)
}

// PutSetupAndConfiguration writes s back (Put, no selector), the way AMT
// sets ZeroTouchConfigurationEnabled and ProvisioningServerOTP over
// WS-Management (there are no SetProvisioningServerOTP or
// SetZeroTouchConfigurationMode methods). The OTP is sent only when it was
// changed — echoing the zero bytes a device sends outside the In state would
// otherwise overwrite an armed OTP — and a new OTP must be 8 to 32 bytes.
func (d *Device) PutSetupAndConfiguration(ctx context.Context, s *SetupAndConfiguration) (*SetupAndConfiguration, error) {
	return d.putSetupAndConfiguration(ctx, s, false)
}

func (d *Device) putSetupAndConfiguration(ctx context.Context, s *SetupAndConfiguration, sendOTP bool) (*SetupAndConfiguration, error) {
	const op = "Put"
	if s == nil || s.src == nil {
		return nil, opError(URISetupAndConfigurationService, op, ErrNotReadFromDevice)
	}
	otpChanged := sendOTP || !s.OTP.Equal(s.src.secrets[propOTP])
	if otpChanged {
		if n := s.OTP.Len(); n < 8 || n > 32 {
			return nil, opError(URISetupAndConfigurationService, op, fmt.Errorf("%w: the OTP must be 8 to 32 bytes, got %d", ErrInvalidArgument, n))
		}
	}
	body, err := s.src.edited(s, nil, []string{propOTP})
	if err != nil {
		return nil, opError(URISetupAndConfigurationService, op, err)
	}
	if otpChanged {
		setProperty(body, propOTP, wsman.Prop(propOTP, base64.StdEncoding.EncodeToString([]byte(s.OTP.Reveal()))))
	}
	el, err := d.put(ctx, URISetupAndConfigurationService, nil, body)
	if err != nil {
		return nil, err
	}
	out, err := parseSetupAndConfiguration(el)
	return out, opError(URISetupAndConfigurationService, op, err)
}

// SetProvisioningServerOTP reads the service and writes it back with the OTP
// set (8 to 32 bytes). A device accepts it in the In and Post states (then it
// arms the OTP for the next provisioning).
func (d *Device) SetProvisioningServerOTP(ctx context.Context, otp Secret) error {
	s, err := d.SetupAndConfiguration(ctx)
	if err != nil {
		return err
	}
	s.OTP = otp
	_, err = d.putSetupAndConfiguration(ctx, s, true)
	return err
}

// SetZeroTouchConfiguration reads the service and writes it back with
// ZeroTouchConfigurationEnabled set.
func (d *Device) SetZeroTouchConfiguration(ctx context.Context, enabled bool) error {
	s, err := d.SetupAndConfiguration(ctx)
	if err != nil {
		return err
	}
	s.ZeroTouchConfigurationEnabled = enabled
	_, err = d.PutSetupAndConfiguration(ctx, s)
	return err
}

// parseGetUuidOutput reads the UUID of a GetUuid_OUTPUT: base64 of 16 bytes in
// SMBIOS (mixed-endian) order.
func parseGetUuidOutput(out *etree.Element) (UUID, error) {
	t, ok := propertyText(out, "UUID")
	if !ok {
		return UUID{}, fmt.Errorf("%w: GetUuid_OUTPUT has no UUID", ErrBadResponse)
	}
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil || len(b) != 16 {
		return UUID{}, fmt.Errorf("%w: UUID %q is not base64 of 16 bytes", ErrBadResponse, truncate(t))
	}
	if bytes.Count(b, []byte{0}) == 16 || bytes.Count(b, []byte{0xff}) == 16 {
		return UUID{}, ErrUUIDNotSet
	}
	return UUIDFromWire(b)
}

// UUID calls GetUuid and converts the SMBIOS byte order (first three fields
// little-endian) to a UUID. All-zero and all-0xFF answers give ErrUUIDNotSet.
func (d *Device) UUID(ctx context.Context) (UUID, error) {
	const method = "GetUuid"
	out, err := d.invoke(ctx, URISetupAndConfigurationService, method, nil)
	if err != nil {
		return UUID{}, err
	}
	u, err := parseGetUuidOutput(out)
	return u, opError(URISetupAndConfigurationService, method, err)
}

// SetMEBxPassword sets the MEBx password. It is checked with [CheckPassword]
// first (ErrInvalidArgument); the device returns PT_STATUS 2054
// (StatusInvalidPassword) for a password it refuses and 16 (StatusNotPermitted)
// when its policy forbids the change (for example the password is no longer
// the default, or the device is in client control mode).
func (d *Device) SetMEBxPassword(ctx context.Context, password Secret) error {
	const method = "SetMEBxPassword"
	if err := checkPassword("MEBx password", password.Reveal()); err != nil {
		return opError(URISetupAndConfigurationService, method, fmt.Errorf("%w: %w", ErrInvalidArgument, err))
	}
	_, err := d.invoke(ctx, URISetupAndConfigurationService, method, nil, wsman.Prop("Password", password.Reveal()))
	return err
}

// CommitChanges completes provisioning (in the In state) and applies pending
// TLS and network settings. 2057 (StatusDataMissing) means essential data is
// missing — on host-based TLS activation, usually the MEBx password.
//
// AMT 19 and later restart their network stack and drop the connection: the
// error then matches wsman.ErrResponseLost, and the outcome must be read back
// ([Device.SetupAndConfiguration]) before anything else is decided.
// CommitChanges is not idempotent.
func (d *Device) CommitChanges(ctx context.Context) error {
	_, err := d.invoke(ctx, URISetupAndConfigurationService, "CommitChanges", nil)
	return err
}

// MaxProvisioningExtension is the longest ExtendProvisioningPeriod accepts in
// one call, in hours.
const MaxProvisioningExtension = 24

// ExtendProvisioningPeriod extends the provisioning window by hours (at most
// 24 per call). The provisioning engine sends zero after an OTP mismatch to
// end the window; what firmware does with zero is not documented (intel/lms
// AMT_SetupAndConfigurationService.h describes only an extension of up to 24
// hours, and no peer sends 0): amtsim closes the window.
func (d *Device) ExtendProvisioningPeriod(ctx context.Context, hours uint32) error {
	const method = "ExtendProvisioningPeriod"
	if hours > MaxProvisioningExtension {
		return opError(URISetupAndConfigurationService, method, fmt.Errorf("%w: at most %d hours per call, got %d", ErrInvalidArgument, MaxProvisioningExtension, hours))
	}
	_, err := d.invoke(ctx, URISetupAndConfigurationService, method, nil, wsman.Prop("Duration", strconv.FormatUint(uint64(hours), 10)))
	return err
}

// Unprovision returns the device to the Pre state (full unprovision). It sends
// ProvisioningMode 1, the only mode effective since AMT 6. 2076
// (StatusBlockingComponent) means a component blocks it; see
// [Device.UnprovisionBlockingComponents].
func (d *Device) Unprovision(ctx context.Context) error {
	_, err := d.invoke(ctx, URISetupAndConfigurationService, "Unprovision", nil, wsman.Prop("ProvisioningMode", "1"))
	return err
}

// PartialUnprovision returns the device to the Pre state keeping the admin ACL
// entry, host and domain names, TLS-PSK keys and the provisioning server
// address.
func (d *Device) PartialUnprovision(ctx context.Context) error {
	_, err := d.invoke(ctx, URISetupAndConfigurationService, "PartialUnprovision", nil)
	return err
}

// UnprovisionBlockingComponents calls GetUnprovisionBlockingComponents: the
// components that block an unprovision (1 = the audit log).
func (d *Device) UnprovisionBlockingComponents(ctx context.Context) ([]uint32, error) {
	const method = "GetUnprovisionBlockingComponents"
	out, err := d.invoke(ctx, URISetupAndConfigurationService, method, nil)
	if err != nil {
		return nil, err
	}
	var o struct{ Component []uint32 }
	if err := wsman.Unmarshal(out, &o); err != nil {
		return nil, opError(URISetupAndConfigurationService, method, fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	return o.Component, nil
}
