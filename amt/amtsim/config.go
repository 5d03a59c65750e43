package amtsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// Config describes one simulated device. The zero value is usable: a 16.1.25
// device in pre-provisioning with a random UUID and realm, the factory root
// hashes, MEBx password "admin", no DNS suffix, listening on 127.0.0.1 on
// ephemeral ports. Fields are read once by [New]; later changes have no effect.
type Config struct {
	// UUID is the identity the device reports in its hellos and through
	// GetUuid. Zero: random (from Rand).
	UUID amt.UUID
	// Version is the firmware version; it decides the behaviour by
	// [amt.FirmwareFor]. Zero: [DefaultVersion].
	Version amt.Version
	// Legacy15 makes a 15.x device one of the platforms where ME 15 kept
	// SHA-1, RSA keys under 2048 bits and TLS 1.1 (Intel removed them from
	// 15.0 on desktop, chipset H, platforms only: amt.Firmware.RefusesSHA1
	// and TLS11 say SomePlatforms). Only valid on 15.x.
	Legacy15 bool
	// RSAKeyExchangeOnly makes an 11.x or 12.x device one that negotiates RSA
	// key exchange only (amt.Firmware.NeedsRSAKeyExchange says SomePlatforms):
	// a client without the RSA suites cannot connect. Otherwise such a device
	// accepts RSA and ECDHE_RSA suites. Only valid on 11.x and 12.x.
	RSAKeyExchangeOnly bool

	// DigestRealm is AMT_GeneralSettings.DigestRealm, "Digest:" followed by 32
	// upper-case hex digits. Empty: random (from Rand).
	DigestRealm string
	// HostName and DomainName are the initial AMT_GeneralSettings values.
	HostName, DomainName string
	// DHCPDNSSuffix is the domain the device learnt from DHCP option 15.
	DHCPDNSSuffix string
	// TrustedDNSSuffix is the "PKI DNS suffix" set in MEBx or by setup.bin. When
	// set it is the suffix provisioning certificates are matched against;
	// otherwise DHCPDNSSuffix is (rpc-go and MeshCentral amtmanager.js prefer
	// the MEBx value; the firmware's precedence is not documented).
	TrustedDNSSuffix string

	// MEBxPassword is the current MEBx password. Zero: "admin", the factory
	// default, which SetMEBxPassword may change once (see MEBxPolicy).
	MEBxPassword amt.Secret
	// MEBxPolicy says when SetMEBxPassword is allowed.
	MEBxPolicy MEBxPolicy
	// OTP is the one-time password a local agent gave the device (8–32
	// characters), readable over WS-Man only while in provisioning.
	OTP amt.Secret
	// LocalSystemPassword is the password of the $$OsAdmin account a local agent
	// uses (over LMS) for host-based setup on the HTTP listener. Zero: random;
	// read it with [Device.LocalSystemAccount].
	LocalSystemPassword amt.Secret

	// RootHashes replaces the factory root-hash table when non-nil. Nil: the
	// entries of amt.DefaultRootHashes the version ships with, all active.
	RootHashes []RootHash
	// UserRootHashes are added as if by setup.bin or MEBx (at most 3; SHA-1 is
	// refused on strict firmware). They are removed by a full unprovision.
	UserRootHashes []RootHash

	// RemoteConfigurationDisabled turns remote configuration off
	// (ZeroTouchConfigurationEnabled false): no hellos, no TLS client-certificate
	// sessions in pre-provisioning.
	RemoteConfigurationDisabled bool
	// ProvisioningWindow is how long the network interface stays open in pre- and
	// in-provisioning without ExtendProvisioningPeriod. Zero: 24 hours.
	ProvisioningWindow time.Duration
	// ClientControlModeDisabled removes client control mode from
	// AllowedControlModes (host-based Setup is then refused).
	ClientControlModeDisabled bool

	// OnDie gives the device a TLS certificate issued by OnDieCA (platforms from
	// Tiger Lake) instead of a self-signed one.
	OnDie bool
	// OnDieCA is the simulated On-Die CA. Nil with OnDie: a CA of the device's
	// own (a [Fleet] shares one among its devices).
	OnDieCA *OnDieCA
	// OnDieUnnamed, with OnDie, leaves the UUID out of the device certificate
	// (no subject serialNumber, no urn:uuid SAN), as in Intel's real On-Die
	// certificates, which do not name the SMBIOS UUID.
	OnDieUnnamed bool

	// Keys supplies RSA keys for the device certificate, GenerateKeyPair and
	// the On-Die CA. Nil: [DefaultKeys].
	Keys KeySource

	// ClockOffset is added to Now to give the device's clock (which
	// SetHighAccuracyTimeSynch then sets).
	ClockOffset time.Duration
	// Now is the time source. Nil: time.Now. The provisioning window, the device
	// clock and certificate validity checks all use it.
	Now func() time.Time
	// Rand is the randomness source: nonces, serial numbers and the other
	// random values the device draws itself. Nil: crypto/rand. Key generation
	// and ECDSA signatures pass it to crypto/ecdsa and crypto/x509, which since
	// Go 1.26 ignore it unless GODEBUG=cryptocustomrand=1 is set.
	Rand io.Reader

	// PSK, when set on firmware before 11, makes the device a PSK (one-touch)
	// device: version 2 hellos carrying the PID and, before provisioning, a
	// TLS-PSK 16993 listener (tlspsk's server side; identity = PID, key = PPS by
	// tlspsk's default derivation).
	PSK *pskx.Pair

	// TLSOnly makes AMT_TLSSettingData report NonSecureConnectionsSupported
	// false (firmware 16.1+, where amt.Firmware.RemoteNonTLSPort says
	// SomePlatforms): the remote interface must keep TLS on, and digest
	// accounts no longer reach the 16992 role once provisioned (the local
	// system account still does). Only valid from 16.1.
	TLSOnly bool

	// LocalTLSEnforced makes the device a platform that enforces TLS on its
	// local ports (from CSME 19 on some platforms, where
	// amt.Firmware.LocalNonTLSPort says SomePlatforms; the watchdog flags then
	// carry bit 6, [pthi.ChangeEnabledTLSOnLocalPorts]): the non-TLS 16992 role
	// closes every connection, local clients reach AMT through the local TLS
	// port ([Device.LocalTLSEndpoint]), host-based AdminSetup is gone
	// (ReturnValue 4), and host-based Setup leaves the device in
	// pre-provisioning until the admin account commits (rpc-go issue 845).
	// Only valid from 19.
	LocalTLSEnforced bool
	// AMTDisabled makes the platform ship with AMT's operational state
	// disabled (from 16.1, amt.Firmware.OperationalStateControl): no WS-Man
	// listener answers and the configuration PTHI commands are refused until
	// a local agent enables AMT with SetAmtOperationalState in
	// pre-provisioning (rpc-go issue 249).
	AMTDisabled bool

	// StandardManageability makes the device an Intel Standard
	// Manageability platform: no KVM (CIM_KVMRedirectionSAP and
	// IPS_KVMRedirectionSettingData are not served; rpc-go amtfeatures.go
	// skips KVM on such systems), and the consent policy defaults to none.
	StandardManageability bool
	// KVMDisabledInMEBx: KVM was turned off in MEBx. IPS_KVMRedirectionSettingData
	// reports EnabledByMEBx false, and a request to enable KVM is refused
	// (ReturnValue 2, the simulator's choice: no public source records
	// firmware's answer); only MEBx turns it on again.
	KVMDisabledInMEBx bool
	// ConsentFixedInMEBx: MEBx forbids changing the consent policy over
	// WS-Management. IPS_OptInService reports CanModifyOptInPolicy 0, and a Put
	// that changes OptInRequired is refused (PT_STATUS_NOT_PERMITTED, the
	// simulator's choice).
	ConsentFixedInMEBx bool

	// Network describes the device's network interfaces (wired, wireless or
	// both; UEFI Wi-Fi profile sharing). Zero: both interfaces.
	Network NetworkConfig

	// Rogue makes the device an impostor; see [Rogue].
	Rogue *Rogue

	// Behavior switches on failure modes.
	Behavior Behavior

	// ListenIP is the address both listeners bind to. Empty: 127.0.0.1.
	ListenIP string
	// TLSPort (the 16993 role) and HTTPPort (the 16992 role). Zero: ephemeral.
	TLSPort, HTTPPort int

	// Logger receives debug records of requests and rule decisions (never
	// secrets). Nil: no logging.
	Logger *slog.Logger
}

// MEBxPolicy is the firmware's MEBx password policy for SetMEBxPassword (the
// three policies of intel/lms AMT_SetupAndConfigurationService.h).
type MEBxPolicy int

// MEBx password policies.
const (
	// MEBxDefaultOnly: SetMEBxPassword works only while the MEBx password is
	// still the factory default (the default policy).
	MEBxDefaultOnly MEBxPolicy = iota
	// MEBxDuringSetup: SetMEBxPassword works while in provisioning.
	MEBxDuringSetup
	// MEBxAnytime: SetMEBxPassword always works (except in client control mode).
	MEBxAnytime
)

// Switch is a tri-state: Default follows the firmware version.
type Switch int8

// Switch values.
const (
	Default Switch = iota
	On
	Off
)

func (s Switch) resolve(def bool) bool {
	switch s {
	case On:
		return true
	case Off:
		return false
	}
	return def
}

// Drop says what happens to one WS-Man request when a drop rule fires.
type Drop int

// Drop modes.
const (
	// DropNone serves the request.
	DropNone Drop = iota
	// DropRequest closes the connection before the request is acted on.
	DropRequest
	// DropResponse acts on the request, then closes the connection without
	// answering (the caller cannot tell whether it took effect).
	DropResponse
)

// Behavior switches on the failure modes real firmware shows. The zero value
// switches nothing on beyond what the firmware version implies.
type Behavior struct {
	// CommitDrop: CommitChanges applies, then closes the connection without a
	// response. Default: amt.Firmware.CommitDropsConnection (from AMT 19).
	CommitDrop Switch
	// FirstRequestDrop: the first request on the first TLS 1.3 connection
	// after the TLS listener armed (at start, and after a commit restarted
	// the network stack) is dropped before it is acted on. Default:
	// amt.Firmware.FirstRequestMayDrop (from AMT 21).
	FirstRequestDrop Switch
	// GenerateKeyPairFailures: the first N GenerateKeyPair calls return
	// PT_STATUS 2061 (PKI_GENERATING_KEYS), as firmware that is "not in a good
	// spot to generate a key pair" does.
	GenerateKeyPairFailures int
	// GenerateKeyPairFaults: the next N GenerateKeyPair calls (after the
	// failures above) answer a SOAP InternalError fault that names no AMT
	// status: the call-level failures MeshCentral retries
	// (amtprovisioningserver.js, generateKeyPairWithRetry).
	GenerateKeyPairFaults int
	// PerTLDSuffixRule: besides the documented DNS-suffix rule, the firmware
	// accepts a provisioning certificate by the per-TLD rule MeshCentral
	// selects certificates with (certoperations.js,
	// TopLevelDomainExtendedSupport: the last two labels of the name for org,
	// gov, edu, de, ch, dk, cz, cl and ua as for com and net, the last three
	// for uk, fr and most other country codes).
	// Off: no Intel document confirms that rule (amt.ErrSuffixUndocumented).
	PerTLDSuffixRule bool
	// TimeSyncRefusals: the first N SetHighAccuracyTimeSynch calls answer
	// PT_STATUS 36 (INVALID_PARAMETER), the status with which firmware
	// refuses the values it is given, and leave the clock alone.
	TimeSyncRefusals int
	// Latency is added before every WS-Man response.
	Latency time.Duration
	// LatencyModel, when set, makes the device take the time real firmware
	// takes: per exchange, per TLS handshake, for key generation and for the
	// network restart after CommitChanges (see [FirmwareLatency]). It runs on
	// Sleep (and Config.Now for the restart window).
	LatencyModel *LatencyModel
	// TLSResumption: the device resumes TLS sessions (session tickets) on its
	// server-authenticated connections. Default off: no public source shows
	// AMT resuming a TLS session (docs/PERFORMANCE.md, "Round trips").
	TLSResumption Switch
	// DropEvery drops every Nth WS-Man request (counting from 1) with
	// DropEveryMode (DropRequest when zero).
	DropEvery     int
	DropEveryMode Drop
	// DropFunc, when set, decides per request: it gets the method or operation
	// name ("Get", "Pull", "CommitChanges" …), the resource URI and the
	// request's sequence number (from 1).
	DropFunc func(op, resourceURI string, n int) Drop
	// RefuseFunc, when set, is asked before a method runs (with the method's
	// name, the resource URI and the request's sequence number): a non-zero
	// status refuses the call with it as the ReturnValue, and the method does
	// nothing. It stands for a refusal the simulator has no rule of its own
	// for, so that a test can see what a client does with one.
	RefuseFunc func(method, resourceURI string, n int) amt.Status
	// WedgeOnSecondAdminSetup: a second AdminSetup call makes the device
	// unresponsive (RPS issue #2752).
	WedgeOnSecondAdminSetup bool
	// SelfSignedAfterSetup: once host-based Setup has set a control mode, the
	// local TLS port serves what it serves once provisioned (the device's
	// self-signed certificate) although the commit is still to come. rpc-go
	// accepts a single self-signed certificate on that connection when PTHI
	// reports a control mode (internal/certs/lmsTls.go HandleAMTTransition,
	// added with "ccm on tls only platforms", pull request 745).
	SelfSignedAfterSetup bool
	// CommitSettleReads: after a CommitChanges, the device answers as before
	// it for a moment: after the commit that ends provisioning, the next N
	// reads of the provisioning state (AMT_SetupAndConfigurationService over
	// WS-Man, PTHI GetProvisioningState) still report in-provisioning; after a
	// later commit that changes the TLS certificate, the next N TLS
	// handshakes still present the previous one. As
	// firmware that is still reloading may ("remote applications should allow
	// sufficient time for Intel AMT to reload before issuing the next
	// command": Intel's CommitChanges description, quoted in go-wsman-messages
	// setupandconfiguration/service.go; rpc-go re-reads the state three times
	// after a commit, RPS waits 15 s).
	CommitSettleReads int
	// HaltActivation: host-based Setup and AdminSetup, and the CommitChanges
	// of a remote or secure host-based configuration, set the control mode
	// but leave the device "in provisioning", the half-state of a device that
	// halted mid-activation (rpc-go issue 1461, mostly AMT 21). Combine with
	// DropFunc to lose the reply as well.
	HaltActivation bool
	// UnresponsiveAfterHello: after the first hello the device stops answering
	// (connections are accepted and never served).
	UnresponsiveAfterHello bool
	// Sleep waits for d or until ctx ends. Nil: a timer. Tests inject one to
	// make Latency and the hello back-off instantaneous.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Rogue describes an impostor: a machine that sends an inventoried device's
// UUID ([Config.UUID]) but is not that device. Combine with [Config.OnDie]:
//
//   - no On-Die certificate: OnDie false (the device certificate is
//     self-signed);
//   - a different device certificate: OnDie true, its certificate names
//     TrueUUID and holds its own key;
//   - wrong GetUuid: ReportTrueUUID true.
type Rogue struct {
	// TrueUUID is the machine's real identity, written into its On-Die
	// certificate. Zero: random.
	TrueUUID amt.UUID
	// ReportTrueUUID makes GetUuid return TrueUUID instead of Config.UUID.
	ReportTrueUUID bool
}

// RootHash is one entry of the device's trusted root-certificate hash table.
type RootHash struct {
	Name string
	Hash amt.CertHash
	// Default marks a factory entry (kept by a full unprovision).
	Default bool
	// Active: only active entries are sent in hellos and accepted for remote
	// configuration.
	Active bool
}

// Configuration errors. New returns a [*ConfigError] wrapping ErrConfig.
var ErrConfig = errors.New("amtsim: invalid configuration")

// ConfigError reports an unusable [Config] field.
type ConfigError struct {
	Field    string
	Expected string
	Got      string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("amtsim: config %s: expected %s, got %s", e.Field, e.Expected, e.Got)
}

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

func validRealm(r string) bool {
	if len(r) != len("Digest:")+32 || r[:7] != "Digest:" {
		return false
	}
	for i := 7; i < len(r); i++ {
		c := r[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
