package pthi

import (
	"context"
	"errors"
	"fmt"
	"github.com/amtkit/amtkit/internal/ctxwait"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// Errors of the agent helpers: each names a precondition the device failed.
var (
	// ErrAlreadyProvisioned: the device is Post-provisioned; remote configuration
	// cannot start.
	ErrAlreadyProvisioned = errors.New("pthi: device is already provisioned")
	// ErrRemoteConfigDisabled: PKI remote configuration ("zero touch") is disabled in
	// the firmware (GetZeroTouchEnabled is false).
	ErrRemoteConfigDisabled = errors.New("pthi: remote configuration (zero touch) is disabled")
	// ErrPSKMode: the device is set for PSK configuration, which takes no OTP
	// (intel/lms Activate refuses an OTP in PSK mode).
	ErrPSKMode = errors.New("pthi: device is in PSK configuration mode; an OTP cannot be used")
	// ErrDNSSuffixNotStored: the PKI DNS suffix read back differs from the one set.
	ErrDNSSuffixNotStored = errors.New("pthi: PKI DNS suffix was not stored")
	// ErrRNGSeed: the AMT 2.x random-number seed did not become available.
	ErrRNGSeed = errors.New("pthi: random-number seed not available")
	// ErrNotInProvisioning: configuration was started but the device did not reach
	// the In-provisioning state in time.
	ErrNotInProvisioning = errors.New("pthi: device did not enter In-provisioning")
)

// AgentRequest is what a local agent hands to the console or configuration server
// after [Client.Prepare]: everything a server needs to expect an agent-initiated
// remote configuration of this device. An engine built on package provisioning
// takes it as provisioning.AgentRequest{UUID: r.UUID, OTP: r.OTP, Firmware:
// r.Version}: it picks the provisioning certificate from the device's hello and
// the inventory, and after the TLS connection reads
// AMT_SetupAndConfigurationService.ProvisioningServerOTP and compares it with OTP.
//
// The OTP is an [amt.Secret]: it prints as [REDACTED] and is left out of JSON (the
// console that chose the OTP already has it). Every other field marshals.
type AgentRequest struct {
	// UUID is the device identity from GetUUID, the same value the hello carries.
	UUID amt.UUID `json:"uuid"`
	// Version is the AMT firmware version (GetCodeVersions "AMT" and "Build Number").
	Version amt.Version `json:"version"`
	// State is the provisioning state after Prepare: In-provisioning when the
	// configuration window is open.
	State amt.ProvisioningState `json:"state"`
	// TLSMode is PKI or PSK on firmware older than AMT 12 (read with
	// GetProvisioningTLSMode); later firmware supports PKI only and reports
	// TLSModePKI without asking.
	TLSMode TLSMode `json:"tlsMode"`
	// DNSSuffix is the PKI DNS suffix the firmware will match against the
	// provisioning certificate; empty means the firmware uses DHCP option 15. The
	// server must take the device's real name from its inventory, not from here.
	DNSSuffix string `json:"dnsSuffix,omitempty"`
	// TrustedHashes are the active root-certificate hashes (GetCertHashEntry with
	// IsActive set).
	TrustedHashes []amt.CertHash `json:"trustedHashes"`
	// OTP is the one-time password set with SetProvisioningServerOTP; zero when the
	// agent set none.
	OTP amt.Secret `json:"-"`
	// IPv6 records whether configuration was started with IPv6 enabled.
	IPv6 bool `json:"ipv6,omitempty"`
	// Started reports whether Prepare started the configuration (false when the
	// device was already In-provisioning).
	Started bool `json:"started"`
	// PreparedAt is when Prepare finished (PrepareOptions.Now).
	PreparedAt time.Time `json:"preparedAt"`
}

// Validate checks what a server relies on: a UUID, an OTP of 8–31 printable ASCII
// characters when one is set, and at least one trusted hash.
func (r *AgentRequest) Validate() error {
	if r == nil {
		return fmt.Errorf("%w: nil agent request", ErrInvalidArgument)
	}
	if r.UUID.IsZero() {
		return fmt.Errorf("%w: agent request has no UUID", ErrInvalidArgument)
	}
	if !r.OTP.IsZero() {
		if _, err := otpPayload(r.OTP); err != nil {
			return err
		}
	}
	if len(r.TrustedHashes) == 0 {
		return fmt.Errorf("%w: agent request lists no trusted root hashes", ErrInvalidArgument)
	}
	return nil
}

// PrepareOptions tune [Client.PrepareWith]. The zero value is what [Client.Prepare]
// uses.
type PrepareOptions struct {
	// DNSSuffix, when set, is stored with SetPKIDNSSuffix and read back before the
	// OTP is set (as intel/lms Activate does).
	DNSSuffix string
	// IPv6 is passed to StartConfigurationEx.
	IPv6 bool
	// PollInterval is the wait between state polls while the firmware finishes its
	// certificate or RNG seed (default 30 s, intel/lms Activate).
	PollInterval time.Duration
	// PollAttempts bounds those polls (default 20, intel/lms Activate).
	PollAttempts int
	// Now stamps AgentRequest.PreparedAt (default time.Now).
	Now func() time.Time
	// Sleep waits PollInterval between those polls, or until ctx ends; it
	// returns ctx's error in the second case. PrepareWith stops at an error
	// Sleep returns and returns it (errors.Is(err, context.Canceled)
	// matches a cancelled wait). Nil: a timer
	// (ctx-aware). Tests inject one to make the waits instantaneous; it is
	// called from the goroutine running PrepareWith.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *PrepareOptions) defaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.PollAttempts <= 0 {
		o.PollAttempts = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = ctxwait.Sleep
	}
}

// Version thresholds used by Prepare.
const (
	// AMT 2.x must create its random-number seed before an OTP can be used.
	rngSeedMajor = 2
	// StartConfigurationEx (with its IPv6 switch) is used from AMT 6, the first
	// release with IPv6; older firmware gets StartConfiguration. This threshold is
	// our inference: no source states when the command appeared.
	startExMajor = 6
	// PSK configuration ended with AMT 11 (Intel AMT SDK, setupmodehellomessages.htm:
	// PSK support removed in release 11.0), so later
	// firmware is not asked for its TLS mode.
	pkiOnlyMajor = 12
)

// Prepare readies the device for agent-initiated remote configuration with the
// default options; see [Client.PrepareWith].
func (c *Client) Prepare(ctx context.Context, otp amt.Secret) (*AgentRequest, error) {
	return c.PrepareWith(ctx, otp, PrepareOptions{})
}

// PrepareWith readies the device for agent-initiated remote configuration, in the
// order of intel/lms's Activate (MEWMIProv PTHI_Commands.cpp):
//
//  1. read the AMT version and provisioning state; Post-provisioned is
//     [ErrAlreadyProvisioned];
//  2. check the configuration mode: firmware older than AMT 12 is asked for its TLS
//     mode (PSK with an OTP is [ErrPSKMode]); PKI needs zero touch enabled
//     ([ErrRemoteConfigDisabled]);
//  3. on AMT 2.x, create the random-number seed if it is missing and wait for it;
//  4. store the PKI DNS suffix when one is given, and check it reads back;
//  5. set the OTP when otp is not zero (8–31 printable ASCII characters);
//  6. when Pre-provisioned, start configuration (StartConfigurationEx from AMT 6,
//     StartConfiguration before) — this opens the network interface and starts the
//     hellos for the provisioning window. [amt.StatusCertificateNotReady] means the
//     firmware is still making its certificate: Prepare then polls the state until
//     In-provisioning;
//  7. read UUID, PKI DNS suffix and the active trusted hashes for the server.
//
// A device already In-provisioning gets steps 2–5 and 7 (the OTP of an open window
// can still be set). Every error names the step; firmware refusals are
// [*CommandError] values carrying an [amt.Status].
func (c *Client) PrepareWith(ctx context.Context, otp amt.Secret, o PrepareOptions) (*AgentRequest, error) {
	o.defaults()
	if !otp.IsZero() {
		if _, err := otpPayload(otp); err != nil {
			return nil, err
		}
	}
	if o.DNSSuffix != "" {
		if _, err := dnsSuffixPayload(o.DNSSuffix); err != nil {
			return nil, err
		}
	}
	ver, err := c.AMTVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("pthi: prepare: reading version: %w", err)
	}
	state, err := c.ProvisioningState(ctx)
	if err != nil {
		return nil, fmt.Errorf("pthi: prepare: reading provisioning state: %w", err)
	}
	if state == amt.PostProvisioning {
		return nil, fmt.Errorf("%w: expected Pre or In provisioning, got %v", ErrAlreadyProvisioned, state)
	}
	req := &AgentRequest{Version: ver, OTP: otp, IPv6: o.IPv6, TLSMode: TLSModePKI}

	if ver.Major < pkiOnlyMajor {
		if req.TLSMode, err = c.TLSMode(ctx); err != nil {
			return nil, fmt.Errorf("pthi: prepare: reading TLS mode: %w", err)
		}
	}
	if req.TLSMode == TLSModePSK {
		if !otp.IsZero() {
			return nil, fmt.Errorf("%w (AMT %v)", ErrPSKMode, ver)
		}
	} else {
		ztc, err := c.ZeroTouchEnabled(ctx)
		if err != nil {
			return nil, fmt.Errorf("pthi: prepare: reading zero-touch state: %w", err)
		}
		if !ztc {
			return nil, fmt.Errorf("%w: expected GetZeroTouchEnabled true, got false (AMT %v)", ErrRemoteConfigDisabled, ver)
		}
	}
	// AMT 2.x needs its random-number seed before an OTP can be used and, as
	// far as the sources say, before it can start configuration at all (the
	// firmware answers PT_STATUS_RNG_NOT_READY otherwise): make it whenever an
	// OTP is set or configuration will be started.
	if ver.Major == rngSeedMajor && (!otp.IsZero() || state == amt.PreProvisioning) {
		if err := c.ensureRNGSeed(ctx, o); err != nil {
			return nil, err
		}
	}
	if o.DNSSuffix != "" {
		if err := c.SetPKIDNSSuffix(ctx, o.DNSSuffix); err != nil {
			return nil, fmt.Errorf("pthi: prepare: setting PKI DNS suffix: %w", err)
		}
		got, err := c.PKIDNSSuffix(ctx)
		if err != nil {
			return nil, fmt.Errorf("pthi: prepare: reading PKI DNS suffix back: %w", err)
		}
		if got != o.DNSSuffix {
			return nil, fmt.Errorf("%w: set %q, read back %q", ErrDNSSuffixNotStored, o.DNSSuffix, got)
		}
	}
	if !otp.IsZero() {
		if err := c.SetProvisioningServerOTP(ctx, otp); err != nil {
			return nil, fmt.Errorf("pthi: prepare: setting OTP: %w", err)
		}
	}
	if state == amt.PreProvisioning {
		if err := c.start(ctx, ver, o); err != nil {
			return nil, err
		}
		req.Started = true
		if state, err = c.ProvisioningState(ctx); err != nil {
			return nil, fmt.Errorf("pthi: prepare: reading provisioning state after start: %w", err)
		}
	}
	req.State = state
	if req.UUID, err = c.UUID(ctx); err != nil {
		return nil, fmt.Errorf("pthi: prepare: reading UUID: %w", err)
	}
	if req.DNSSuffix, err = c.PKIDNSSuffix(ctx); err != nil {
		return nil, fmt.Errorf("pthi: prepare: reading PKI DNS suffix: %w", err)
	}
	hashes, err := c.CertHashes(ctx)
	if err != nil {
		return nil, fmt.Errorf("pthi: prepare: reading trusted hashes: %w", err)
	}
	for _, h := range hashes {
		if h.Active && h.Hash.Valid() { // an unknown algorithm cannot match a certificate
			req.TrustedHashes = append(req.TrustedHashes, h.Hash)
		}
	}
	req.PreparedAt = o.Now()
	return req, nil
}

// start sends the start command for ver and, on StatusCertificateNotReady, polls
// until the device is In-provisioning.
func (c *Client) start(ctx context.Context, ver amt.Version, o PrepareOptions) error {
	send := func() error {
		if ver.Major >= startExMajor {
			return c.StartConfigurationEx(ctx, o.IPv6)
		}
		return c.StartConfiguration(ctx)
	}
	err := send()
	if errors.Is(err, amt.StatusRNGNotReady) {
		// The seed is missing or not yet made: make it, then start once more.
		if serr := c.ensureRNGSeed(ctx, o); serr != nil {
			return serr
		}
		err = send()
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, amt.StatusCertificateNotReady) {
		return fmt.Errorf("pthi: prepare: starting configuration: %w", err)
	}
	// The firmware finishes its certificate and starts by itself (intel/lms
	// Activate waits for In-provisioning, 20 × 30 s).
	for i := 0; i < o.PollAttempts; i++ {
		if err := o.Sleep(ctx, o.PollInterval); err != nil {
			return err
		}
		st, err := c.ProvisioningState(ctx)
		if err != nil {
			var ce *CommandError
			if errors.As(err, &ce) {
				continue // the firmware may refuse while busy; LMS retries too
			}
			return fmt.Errorf("pthi: prepare: polling provisioning state: %w", err)
		}
		if st == amt.InProvisioning {
			return nil
		}
	}
	return fmt.Errorf("%w: still not In-provisioning after %d polls (%v apart) following PT_STATUS_CERTIFICATE_NOT_READY", ErrNotInProvisioning, o.PollAttempts, o.PollInterval)
}

// ensureRNGSeed makes sure the AMT 2.x random-number seed exists.
func (c *Client) ensureRNGSeed(ctx context.Context, o PrepareOptions) error {
	st, err := c.RNGSeedStatus(ctx)
	if err != nil {
		return fmt.Errorf("pthi: prepare: reading RNG seed status: %w", err)
	}
	if st == RNGSeedExists {
		return nil
	}
	if st == RNGSeedMissing {
		if err := c.GenerateRNGSeed(ctx); err != nil && !errors.Is(err, amt.StatusRNGGenerationInProgress) {
			return fmt.Errorf("pthi: prepare: generating RNG seed: %w", err)
		}
	}
	for i := 0; i < o.PollAttempts; i++ {
		if err := o.Sleep(ctx, o.PollInterval); err != nil {
			return err
		}
		st, err = c.RNGSeedStatus(ctx)
		if err != nil {
			return fmt.Errorf("pthi: prepare: polling RNG seed status: %w", err)
		}
		if st == RNGSeedExists {
			return nil
		}
	}
	return fmt.Errorf("%w: expected status Exists, got %v after %d polls", ErrRNGSeed, st, o.PollAttempts)
}

// DeviceStatus is an inventory snapshot from [Client.Status].
type DeviceStatus struct {
	Versions    CodeVersions          `json:"versions"`
	Version     amt.Version           `json:"version"`
	UUID        amt.UUID              `json:"uuid"`
	State       amt.ProvisioningState `json:"state"`
	ControlMode amt.ControlMode       `json:"controlMode"`
	DNSSuffix   string                `json:"dnsSuffix,omitempty"`
	Hashes      []CertHashEntry       `json:"hashes,omitempty"`
	Wired       *LANSettings          `json:"wired,omitempty"`
	Wireless    *LANSettings          `json:"wireless,omitempty"`
	// Unavailable lists the optional items the firmware refused (each a
	// [*CommandError]: control mode, PKI DNS suffix, hashes, wired or wireless
	// settings); the matching fields are left zero.
	Unavailable []error `json:"-"`
}

// Status reads an inventory snapshot. Version, UUID and provisioning state are
// required; any error reading them is returned. The other items are optional: a
// firmware refusal (a [*CommandError], e.g. no wireless interface) is recorded in
// Unavailable, while transport and decoding errors are returned.
func (c *Client) Status(ctx context.Context) (*DeviceStatus, error) {
	s := &DeviceStatus{}
	var err error
	if s.Versions, err = c.CodeVersions(ctx); err != nil {
		return nil, fmt.Errorf("pthi: status: %w", err)
	}
	if s.Version, err = s.Versions.AMTVersion(); err != nil {
		return nil, fmt.Errorf("pthi: status: %w", err)
	}
	if s.UUID, err = c.UUID(ctx); err != nil {
		return nil, fmt.Errorf("pthi: status: %w", err)
	}
	if s.State, err = c.ProvisioningState(ctx); err != nil {
		return nil, fmt.Errorf("pthi: status: %w", err)
	}
	optional := func(err error) error {
		var ce *CommandError
		if errors.As(err, &ce) {
			s.Unavailable = append(s.Unavailable, err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("pthi: status: %w", err)
		}
		return nil
	}
	mode, err := c.ControlMode(ctx)
	if err := optional(err); err != nil {
		return nil, err
	}
	s.ControlMode = mode
	suffix, err := c.PKIDNSSuffix(ctx)
	if err := optional(err); err != nil {
		return nil, err
	}
	s.DNSSuffix = suffix
	hashes, err := c.CertHashes(ctx)
	if err := optional(err); err != nil {
		return nil, err
	}
	s.Hashes = hashes
	for _, iface := range []Interface{InterfaceWired, InterfaceWireless} {
		lan, err := c.LANSettings(ctx, iface)
		if err := optional(err); err != nil {
			return nil, err
		}
		if err == nil {
			if iface == InterfaceWired {
				s.Wired = &lan
			} else {
				s.Wireless = &lan
			}
		}
	}
	return s, nil
}
