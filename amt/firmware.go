package amt

import (
	"crypto"
	"crypto/tls"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=Platforms,Confidence -linecomment -output=firmware_string.go

// Platforms says on which platforms of a firmware version a fact holds. Some
// facts depend on the platform as well as on the version: Intel removed TLS 1.1
// and SHA-1 from CSME 15.0 on desktop (chipset H) platforms only, and from 16.0
// on all of them; it closed the remote non-TLS port from CSME 16.1 on Raptor
// Lake platforms. The version alone then answers [SomePlatforms], and the
// field's comment says how to tell on a given device. String returns "none",
// "some platforms" or "all platforms".
type Platforms uint8

// Platform extents.
const (
	// NoPlatforms: the fact holds on no platform of the version.
	NoPlatforms Platforms = iota // none
	// SomePlatforms: the fact holds on some platforms of the version only.
	SomePlatforms // some platforms
	// AllPlatforms: the fact holds on every platform of the version.
	AllPlatforms // all platforms
)

// Any reports whether the fact holds on at least some platforms: the cautious
// reading of a restriction ("some devices of this version refuse SHA-1").
func (p Platforms) Any() bool { return p != NoPlatforms }

// All reports whether the fact holds on every platform: the cautious reading
// of a capability ("every device of this version serves port 16992").
func (p Platforms) All() bool { return p == AllPlatforms }

// Firmware is what one AMT firmware version supports and requires: the facts a
// provisioning engine and a simulated device branch on. [FirmwareFor] fills it
// from one table; [FirmwareRules] lists that table's rules with their public
// sources and how well each is confirmed.
//
// Since AMT 11 the AMT version equals the CSME (Intel Converged Security and
// Management Engine) firmware version, so "CSME 16.1" and "AMT 16.1" name the
// same firmware.
//
// The zero value is the answer for an unknown version: every fact is false,
// zero or [NoPlatforms], and [Firmware.Known] reports false. A caller that has
// not read the version must decide for itself which behaviour to assume.
type Firmware struct {
	// Version is the firmware version the facts are for (zero: unknown).
	Version Version

	// AgentInitiatedRemoteConfig: remote (PKI) configuration can be started by
	// a local agent that gives the firmware a one-time password over the host
	// interface ("delayed" remote configuration; Intel AMT SDK, "Intel AMT
	// Enhancements for Remote Configuration"). Among 2.x only 2.2 from build 20
	// and 2.6; every release from 3.0.
	AgentInitiatedRemoteConfig bool
	// BareMetalRemoteConfig: remote configuration works without a local agent
	// (the device sends PKI hellos by itself), from 3.2.1. Firmware 3.0 already
	// sends hellos, but Configuration Manager supported 3.2.1 and later only
	// (Intel vPro Expert Center blog, May 2008: "SCCM SP1 only natively
	// supports vPro firmware version 3.2.1 and higher"); amtkit takes the same
	// floor and treats 3.0 to 3.2.0 as agent-initiated only.
	BareMetalRemoteConfig bool
	// PSK: one-touch setup with a PID/PPS pair — version 2 hellos and a TLS-PSK
	// session — from 2.0 until 11, where "support for the PSK format was
	// removed" (Intel AMT SDK, "Setup Mode Hello Messages").
	PSK bool
	// TwoLabelSuffixMatch: for certificate names under .com and .net the
	// firmware compares only the last two labels with its DNS suffix (so
	// a.intel.com and b.intel.com match), from 2.6 (Intel communities,
	// openport message 1395). Before, the suffix must be at or below the
	// certificate's domain.
	TwoLabelSuffixMatch bool
	// FactoryHashSlots and UserHashSlots size the trusted root-hash table:
	// no factory hashes before 2.6, 20 factory and 3 user slots from 2.6, 10
	// more factory slots from 7.0 (Intel AMT SDK, "Root Certificate Hashes";
	// rpc-go issue 42: slots 0–19 factory, 20–22 user, 23–32 factory).
	FactoryHashSlots, UserHashSlots int
	// VeriSignG1: the factory table still holds "VeriSign Class 3 Primary
	// CA-G1", removed from 11.8.65.3580 and 12.0.32.1420 (Intel AMT SDK,
	// "Root Certificate Hashes").
	VeriSignG1 bool

	// HostBasedSetupService: IPS_HostBasedSetupService exists (host-based
	// Setup, AdminSetup, UpgradeClientToAdmin and the provisioning control
	// mode), from 6.1 (Intel AMT SDK class reference,
	// IPS_HostBasedSetupService); before, a request for it is answered with a
	// DestinationUnreachable fault.
	HostBasedSetupService bool
	// GenerateKeyPair: AMT_PublicKeyManagementService has GenerateKeyPair and
	// GeneratePKCS10RequestEx, so AMT's TLS key never leaves the device, from
	// 6.2 ("Releases 6.2 and 7.0 add two methods": Intel AMT SDK, Certificate
	// Management, Detailed Description).
	GenerateKeyPair bool
	// IntermediateTrustedRoots: AddTrustedRootCertificate accepts an
	// intermediate CA certificate, not only a self-signed root, from 11.8
	// (Intel AMT SDK class reference, AMT_PublicKeyManagementService).
	IntermediateTrustedRoots bool
	// PKCS10SHA1: GeneratePKCS10RequestEx accepts SigningAlgorithm 0 (SHA-1),
	// from 6.2 until CSME 18: "SHA1 is no longer available starting from Intel
	// CSME 18.0" (go-wsman-messages, pkg/wsman/amt/publickey/types.go).
	PKCS10SHA1 bool
	// TLSNonSecureProperty: AMT_TLSSettingData reports
	// NonSecureConnectionsSupported, from CSME 16.1 (device-management-toolkit
	// deployment issue 177, on 16.1.25: "the NonSecureConnectionsSupported
	// call that was added for CSME 16.1"). Where it is false, the remote
	// interface cannot turn TLS off or accept non-TLS connections.
	TLSNonSecureProperty bool
	// DefaultTLSCertificate: provisioned without a TLS certificate, the device
	// still serves port 16993 with a self-signed certificate of its own, from
	// CSME 16.1 (Intel AMT SDK, "Intel AMT and Security Considerations": "When
	// Intel AMT enters the post-provisioning state, if no other certificate was
	// configured, the self-signed certificate will be set as the TLS Server
	// certificate").
	DefaultTLSCertificate bool
	// ThunderboltDockSetting: AMT_GeneralSettings has ThunderboltDockEnabled,
	// from 15: "Available in Release 15.0 and later releases"
	// (go-wsman-messages, pkg/wsman/amt/general/types.go).
	ThunderboltDockSetting bool
	// CoreVersionIdentity: CIM_SoftwareIdentity lists an "AMT FW Core
	// Version" instance. It is in a recorded AMT 12.0.67 response
	// (go-wsman-messages, wsmantesting/responses/cim/software/identity); the
	// release that added it is not documented, 11 is an inference.
	CoreVersionIdentity bool

	// SigningSHA384: AdminSetup and UpgradeClientToAdmin accept
	// SigningAlgorithm 3 (RSA with SHA-384), from 21. The evidence is thin:
	// comments in RPS src/utils/amtCertificatePolicy.ts at commit fdf4fc5a (a
	// revision not on RPS main) record that AMT 21.0.6 and 22.0.0 accepted it
	// and AMT 20.0.5 refused it (ReturnValue 3); RPS main (dbebd667) still
	// signs with SHA-256 only ("firmware does not support sha384 yet") and RPS
	// issue 2538 reports a SHA-384 nonce signature refused on an unnamed
	// version. No Intel document names the release.
	SigningSHA384 bool
	// SigningSHA384Required: with a SHA-384 provisioning certificate,
	// SigningAlgorithm 2 with a SHA-256 signature is refused (ReturnValue 1)
	// and 3 is required, from 22 (the same RPS revision fdf4fc5a, one AMT
	// 22.0.0 run described in a code comment; unconfirmed elsewhere).
	SigningSHA384Required bool
	// ProvisioningCertSHA384: host-based setup refuses a provisioning
	// certificate that is not signed with SHA-384, from 22. RPS
	// (src/utils/amtCertificatePolicy.ts, requiresSha384ProvisioningCert)
	// takes this from Intel's AMT 22 crypto-hardening list
	// ("TlsProvisionVerifyLeafCertificate() - remove SHA-256"); no device
	// report shows the refusal itself.
	ProvisioningCertSHA384 bool
	// HostBasedAdminSetupRequiresTLS: host-based AdminSetup over the local
	// non-TLS port is gone; ACM activation goes through secure host-based
	// configuration (StartConfigurationHBased, then mutual TLS to the local
	// port). From CSME 19 on some platforms: the Intel AMT SDK class
	// reference says AdminSetup "will be removed" from CSME 19.0 (quoted in
	// rpc-go issue 355), and rpc-go decides per device by the TLS-on-local-
	// ports bit (0x40) of IsChangeToAMTEnabled (rpc-go issue 701).
	HostBasedAdminSetupRequiresTLS Platforms
	// SecureHostBasedConfig: the agent arms host-based configuration over TLS
	// with the PTHI command StartConfigurationHBased (0x0400008B: the
	// provisioning certificate's leaf hash in, the hash of AMT's own TLS
	// certificate out), then a configuration tool reaches AMT's local TLS
	// port through LMS with mutual TLS and configures it as remote
	// configuration would. From 19 on all platforms: Intel recommends it
	// where host-based AdminSetup is removed (Intel AMT SDK class reference,
	// IPS_HostBasedSetupService.AdminSetup, quoted in rpc-go issue 355) and
	// rpc-go uses it for every TLS-enforced device
	// (internal/commands/activate/local.go). On 15 to 18 on some: it needs
	// the On-Die certificate (OnDieCertificate), and MeshCentral's
	// amtmanager.js (activateIntelAmtTlsAcm, 2021) uses it where the agent
	// supports it; which releases answer is not documented.
	SecureHostBasedConfig Platforms
	// OperationalStateControl: a local agent can read and change AMT's
	// operational state (enabled or disabled) through the watchdog MEI
	// client: IsChangeToAMTEnabled answers in its new interface (bit 7) and
	// SetAmtOperationalState (sub-command 0x53) switches AMT on, from 16.1
	// (rpc-go issue 249: "In AMT 16.1, AMT added a command to enable or
	// disable AMT. This call only works when AMT is in a pre-provisioned
	// state"; intel/lms MNGIsChangeToAMTEnabledCommand.h: the new interface
	// is ME 16.1 and later). A platform may ship with AMT disabled; rpc-go
	// enables it before activation (internal/commands/activate/local.go,
	// enableAMT).
	OperationalStateControl bool

	// TLSKeyAlgorithm and TLSKeyLength are the key GenerateKeyPair should make
	// for AMT's TLS certificate: RSA 2048 (MeshCentral amtmanager.js, RPS
	// src/stateMachines/tls.ts), and from 22 ECC P-384 (KeyAlgorithm 1,
	// KeyLength 384): AMT 22 accepts an RSA key and certificate but refuses to
	// bind them to TLS (AMT_TLSCredentialContext fails with AMT-STATUS 1; RPS
	// src/utils/amtCertificatePolicy.ts). Whether earlier releases generate
	// ECC keys is not documented (the class reference defines KeyAlgorithm 1,
	// ECC-384, without naming a release); amtkit assumes only from 22.
	TLSKeyAlgorithm KeyAlgorithm
	// TLSKeyLength goes with TLSKeyAlgorithm: 2048 for RSA, 384 for ECC.
	TLSKeyLength uint32
	// TLSCertSHA384: a certificate bound to AMT's TLS must be signed with
	// SHA-384, from 22. Intel's toolkit maintainers list it among the AMT 22
	// certificate requirements ("SHA256 and 2048-bit keys are being
	// deprecated ... DMT must support ... SHA384", device-management-toolkit
	// deployment issue 605, pointing at the Intel AMT SDK's TLS page); RPS
	// src/utils/amtCertificatePolicy.ts at commit fdf4fc5a describes AMT
	// 22.0.0 runs refusing a SHA-256-signed leaf at bind time
	// (AMT_TLSCredentialContext, AMT-STATUS 1) and quotes Intel's AMT 22
	// crypto-hardening list. [Firmware.TLSCertMinHash] turns it into the
	// weakest signature hash an issuer may use.
	TLSCertSHA384 bool

	// TLS10, TLS11, TLS12 and TLS13 say which TLS versions the device speaks.
	// Intel AMT SDK, TLS Detailed Description: "In Intel AMT Release 12.0,
	// support was added for TLS version 1.2 and support was removed for TLS
	// version 1.0. Starting from Intel CSME 15.0 firmware for desktops, and
	// Intel CSME 16.0 firmware for all platforms, Intel has removed support for
	// TLS 1.1." TLS 1.3 was negotiated by AMT 21 (rpc-go pull request 1381);
	// no earlier release is reported to offer it.
	TLS10, TLS11, TLS12, TLS13 Platforms
	// NeedsRSAKeyExchange: a client must offer RSA key-exchange cipher suites
	// (TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_128_CBC_SHA,
	// TLS_RSA_WITH_AES_256_CBC_SHA), which Go no longer offers by default,
	// to be sure of a handshake; where it is Any the firmware accepts them.
	// Before 11 on all platforms (Intel AMT SDK, "Remote Setup and
	// Configuration Flow": the SCA encrypts the master key with the device's
	// public key; MeshCentral amt-wsman-comm.js uses "RSA+AES"); on 11 and 12
	// on some (device-management-toolkit console issue 445 adds the suites
	// "to connect to older AMT version (11 and 12)", while an AMT 11 device
	// in MeshCentral issue 5512 offered ECDHE_RSA AES-CBC suites too — as a
	// TLS client to the MPS, the scans there being of MeshCentral's port).
	NeedsRSAKeyExchange Platforms
	// DeviceCertHasHostName: the certificate AMT presents before it has one
	// installed names its host; from 19 it names none, so verifying it by host
	// name fails (rpc-go issue 1163 and pull request 1071).
	DeviceCertHasHostName bool
	// OnDieCertificate: the certificate AMT presents on its provisioning TLS
	// port is issued by the platform's On-Die CA (ODCA), a CSME hardware
	// feature "starting from Tiger Lake" (CSME 15; Intel AMT SDK, "On-Die
	// Certificate Authority"). From 19 on all platforms: secure host-based
	// configuration uses the ODCA certificate (Intel AMT SDK, "Intel AMT
	// Enhancements for Remote Configuration"), rpc-go internal/certs/lmsTls.go
	// verifies its chain and real chains are in rpc-go issue 1095. On 15 to 18
	// some: the SDK's remote-configuration flow says ODCA certificates are
	// used from Tiger Lake, its enhancements page that the self-signed
	// certificate is used outside secure host-based configuration.
	OnDieCertificate Platforms
	// RemoteNonTLSPort: remote clients reach WS-Management on the non-TLS port
	// 16992 (once provisioned, unless TLS is on without non-secure
	// connections). Before CSME 16.1 on all platforms; from 16.1 on some:
	// "Starting from Alder Lake platforms with Raptor Lake CPUs running Intel
	// CSME 16.1 firmware, remote connections to Intel AMT unsecure TCP/IP ports
	// 16992, 16994 and 623 are no longer supported" (Intel AMT SDK, "Intel AMT
	// and Security Considerations"). A device says which it is by
	// AMT_TLSSettingData.NonSecureConnectionsSupported.
	RemoteNonTLSPort Platforms
	// LocalNonTLSPort: local clients (LMS on the host) reach WS-Management
	// without TLS. Before CSME 19 on all platforms; from 19 on some:
	// "Starting from Intel CSME 19 firmware on Arrow Lake platforms,
	// connecting to Intel AMT without TLS is not supported at all (i.e., also
	// local connections must use TLS ports)" (Intel AMT SDK, "Intel AMT and
	// Security Considerations"); rpc-go reads the TLS-on-local-ports bit of
	// IsChangeToAMTEnabled (pkg/amt/commands.go, IsTlsEnforcedOnLocalPorts).
	LocalNonTLSPort Platforms
	// RefusesSHA1: SHA-1 root hashes cannot be added and no certificate of a
	// provisioning chain, the root included, may be SHA-1-signed. From ME 15.0
	// on chipset H platforms, from 16.0 on all (Intel support article
	// 000090051, quoting the Intel AMT SDK).
	RefusesSHA1 Platforms
	// MinRSABits is the smallest RSA key of a provisioning chain the firmware
	// accepts on the platforms RefusesSHA1 names: 2048 from ME 15.0 H and 16.0
	// ("removing support of ... RSA key sizes smaller than 2048 bits": Intel
	// support article 000090051); zero where no minimum is documented.
	MinRSABits int

	// CommitDropsConnection: CommitChanges restarts the firmware's network
	// stack and the response is usually lost, from 19 (rpc-go
	// internal/commands/activate/local.go, commitActivation and
	// isConnectionResetErr, written for AMT 19 to 21): success must be read
	// back afterwards.
	CommitDropsConnection bool
	// WiFiProfileSync: AMT_WiFiPortConfigurationService has
	// localProfileSynchronizationEnabled, the policy that lets the host OS
	// add its Wi-Fi profiles to AMT as user profiles, from 6.0 ("Intel AMT 6:
	// Syncs Intel AMT and host OS wireless profiles": Intel, An Introduction
	// to Intel AMT Wireless Connections; go-wsman-messages
	// wifiportconfiguration types.go: "only supported in Intel AMT Release
	// 6.0 and later releases").
	WiFiProfileSync bool
	// UEFIWiFiProfileShare: AMT_WiFiPortConfigurationService has
	// UEFIWiFiProfileShareEnabled, sharing the Wi-Fi profiles with UEFI,
	// from CSME 16.0 (go-wsman-messages wifiportconfiguration types.go: "The
	// feature is available from Intel CSME 16.0"); whether a platform can
	// share is AMT_BootCapabilities.UEFIWiFiCoExistenceAndProfileShare, which
	// RPS and rpc-go read first.
	UEFIWiFiProfileShare bool
	// WiFiWPA3: IT profiles may use WPA3-SAE (AuthenticationMethod 32768)
	// and GCMP-256 (EncryptionMethod 32768), from 20. intel/lms
	// CIM_WiFiEndpointSettings.h defines both values without naming a
	// release; device-management-toolkit/rps issue 1911 says the firmware
	// supports WPA3 "starting AMT20". rpc-go still refuses WPA3 profiles.
	WiFiWPA3 bool
	// WiFiTKIPAndWEP: Wi-Fi profiles may use TKIP (EncryptionMethod 3) and,
	// for user profiles, WEP (2). Intel removed both "starting from Intel
	// CSME firmware running on Tiger Lake-H platforms" (the Intel AMT SDK's
	// deprecation note, quoted in device-management-toolkit/rps issue 594,
	// where an AMT 15 device refused TKIP profiles); rps issue 992 reports
	// AMT 15 and 16 refusing them. So: every platform before 15, the 15
	// platforms other than H, none from 16.
	WiFiTKIPAndWEP Platforms

	// FirstRequestMayDrop: the first WS-Management request after a TLS 1.3
	// handshake, or after the firmware re-arms its TLS listener (entering
	// provisioning, a commit), may be reset, from 21 (rpc-go pull requests
	// 1381 and 1385, on AMT 21 devices). Retry a read-only request, or cap
	// the connection at TLS 1.2.
	FirstRequestMayDrop bool
}

// Known reports whether f describes a known version (see [Firmware]).
func (f Firmware) Known() bool { return !f.Version.IsZero() }

// TLSCertMinHash returns the weakest hash a certificate for AMT's TLS (or
// 802.1X) key may be signed with: SHA-384 where TLSCertSHA384 holds, else
// SHA-256 (amtkit never asks for SHA-1, which ME 15 H and 16 refuse anyway).
// An unknown version answers SHA-256.
func (f Firmware) TLSCertMinHash() crypto.Hash {
	if f.TLSCertSHA384 {
		return crypto.SHA384
	}
	return crypto.SHA256
}

// TLSRange returns the lowest and highest TLS versions (tls.VersionTLS10 …)
// that some platform of f's version speaks: what a client should allow when
// it does not know the platform. Both are zero for an unknown version.
func (f Firmware) TLSRange() (lowest, highest uint16) {
	for _, x := range []struct {
		p Platforms
		v uint16
	}{{f.TLS10, tls.VersionTLS10}, {f.TLS11, tls.VersionTLS11}, {f.TLS12, tls.VersionTLS12}, {f.TLS13, tls.VersionTLS13}} {
		if !x.p.Any() {
			continue
		}
		if lowest == 0 {
			lowest = x.v
		}
		highest = x.v
	}
	return lowest, highest
}

// FirmwareFor returns the facts of firmware version v. A zero v (unknown)
// returns the zero [Firmware], whose Known method reports false.
//
// Facts come in at a release and hold for every later one; the build
// (third) component matters only where a rule names a build (2.2.20, 3.2.1,
// 11.8.65, 12.0.32).
func FirmwareFor(v Version) Firmware {
	if v.IsZero() {
		return Firmware{}
	}
	from := func(major, minor, build int) bool {
		return v.AtLeast(Version{Major: major, Minor: minor, Build: build})
	}
	// all turns a release boundary into AllPlatforms from that release on.
	all := func(ok bool) Platforms {
		if ok {
			return AllPlatforms
		}
		return NoPlatforms
	}
	f := Firmware{Version: v}

	f.AgentInitiatedRemoteConfig = from(3, 0, 0) ||
		(v.Major == 2 && v.Minor == 2 && v.Build >= 20) || (v.Major == 2 && v.Minor == 6)
	f.BareMetalRemoteConfig = from(3, 2, 1)
	f.PSK = from(2, 0, 0) && !from(11, 0, 0)
	f.TwoLabelSuffixMatch = from(2, 6, 0)
	switch {
	case from(7, 0, 0):
		f.FactoryHashSlots, f.UserHashSlots = 30, 3
	case from(2, 6, 0):
		f.FactoryHashSlots, f.UserHashSlots = 20, 3
	default:
		f.FactoryHashSlots, f.UserHashSlots = 0, 3
	}
	g1Removed := (v.Major == 11 && from(11, 8, 65)) || (v.Major == 12 && from(12, 0, 32)) || from(13, 0, 0)
	f.VeriSignG1 = f.FactoryHashSlots > 0 && !g1Removed

	f.HostBasedSetupService = from(6, 1, 0)
	f.GenerateKeyPair = from(6, 2, 0)
	f.IntermediateTrustedRoots = from(11, 8, 0)
	f.PKCS10SHA1 = f.GenerateKeyPair && !from(18, 0, 0)
	f.TLSNonSecureProperty = from(16, 1, 0)
	f.DefaultTLSCertificate = from(16, 1, 0)
	f.ThunderboltDockSetting = from(15, 0, 0)
	f.CoreVersionIdentity = from(11, 0, 0)

	f.SigningSHA384 = from(21, 0, 0)
	f.SigningSHA384Required = from(22, 0, 0)
	f.ProvisioningCertSHA384 = from(22, 0, 0)
	if from(19, 0, 0) {
		f.HostBasedAdminSetupRequiresTLS = SomePlatforms
	}
	switch {
	case from(19, 0, 0):
		f.SecureHostBasedConfig = AllPlatforms
	case from(15, 0, 0):
		f.SecureHostBasedConfig = SomePlatforms
	}
	f.OperationalStateControl = from(16, 1, 0)

	f.TLSKeyAlgorithm, f.TLSKeyLength = KeyAlgorithmRSA, 2048
	if from(22, 0, 0) {
		f.TLSKeyAlgorithm, f.TLSKeyLength = KeyAlgorithmECC384, 384
	}
	f.TLSCertSHA384 = from(22, 0, 0)

	f.TLS10 = all(!from(12, 0, 0))
	switch {
	case from(16, 0, 0):
		f.TLS11 = NoPlatforms
	case from(15, 0, 0):
		f.TLS11 = SomePlatforms // kept on platforms other than desktops
	default:
		f.TLS11 = AllPlatforms
	}
	f.TLS12 = all(from(12, 0, 0))
	f.TLS13 = all(from(21, 0, 0))
	switch {
	case from(13, 0, 0):
		f.NeedsRSAKeyExchange = NoPlatforms
	case from(11, 0, 0):
		f.NeedsRSAKeyExchange = SomePlatforms
	default:
		f.NeedsRSAKeyExchange = AllPlatforms
	}
	f.DeviceCertHasHostName = !from(19, 0, 0)
	switch {
	case from(19, 0, 0):
		f.OnDieCertificate = AllPlatforms
	case from(15, 0, 0):
		f.OnDieCertificate = SomePlatforms
	}
	f.RemoteNonTLSPort = AllPlatforms
	if from(16, 1, 0) {
		f.RemoteNonTLSPort = SomePlatforms
	}
	f.LocalNonTLSPort = AllPlatforms
	if from(19, 0, 0) {
		f.LocalNonTLSPort = SomePlatforms
	}
	switch {
	case from(16, 0, 0):
		f.RefusesSHA1 = AllPlatforms
	case from(15, 0, 0):
		f.RefusesSHA1 = SomePlatforms // chipset H platforms
	}
	if f.RefusesSHA1.Any() {
		f.MinRSABits = 2048
	}

	f.CommitDropsConnection = from(19, 0, 0)
	f.WiFiProfileSync = from(6, 0, 0)
	f.UEFIWiFiProfileShare = from(16, 0, 0)
	f.WiFiWPA3 = from(20, 0, 0)
	switch {
	case from(16, 0, 0):
		f.WiFiTKIPAndWEP = NoPlatforms
	case from(15, 0, 0):
		f.WiFiTKIPAndWEP = SomePlatforms // not on chipset H
	default:
		f.WiFiTKIPAndWEP = AllPlatforms
	}
	f.FirstRequestMayDrop = from(21, 0, 0)
	return f
}

// Confidence says how well a firmware rule is confirmed. String returns the
// level's name ("unsourced", "inferred", "peer code", "device report",
// "vendor").
type Confidence uint8

// Confidence levels, from the weakest.
const (
	// Unsourced: no public source was found; the rule is carried over from
	// amtkit's earlier compatibility table and awaits confirmation.
	Unsourced Confidence = iota // unsourced
	// Inferred: reasoned from neighbouring facts, stated nowhere.
	Inferred // inferred
	// PeerCode: stated only by another tool's code or comments.
	PeerCode // peer code
	// DeviceReport: seen on a real device, as reported in an issue tracker,
	// a recorded response or a scan.
	DeviceReport // device report
	// Vendor: stated by Intel (the AMT SDK, a support article, an Intel blog).
	Vendor // vendor
)

// FirmwareRule is one rule of the firmware table: the [Firmware] field it
// sets, the versions it names, its public sources and how well it is
// confirmed. The README's compatibility table and the simulator's
// documentation can be generated or checked from these rows.
type FirmwareRule struct {
	// Field is the Firmware field's name, e.g. "CommitDropsConnection".
	Field string
	// Versions says which versions the rule names, e.g. "from 19".
	Versions string
	// Source cites the public material the rule rests on.
	Source string
	// Confidence is the strongest kind of evidence among the sources.
	Confidence Confidence
}

// FirmwareRules returns the rules behind [FirmwareFor], one per Firmware field
// (both hash-slot counts share one row, as do the TLS key algorithm and
// length). The slice is new on every call.
func FirmwareRules() []FirmwareRule {
	return append([]FirmwareRule(nil), firmwareRules[:]...)
}

var firmwareRules = [...]FirmwareRule{
	{"AgentInitiatedRemoteConfig", "2.2.20+, 2.6, from 3.0",
		"Intel AMT SDK, Intel AMT Enhancements for Remote Configuration (the OTP flow); the 2.x boundaries come from amtkit's earlier compatibility table, no public source found", Unsourced},
	{"BareMetalRemoteConfig", "from 3.2.1",
		"Intel vPro Expert Center blog, May 2008 (SCCM SP1 natively supports vPro firmware 3.2.1 and higher); Intel vPro Expert Center blog, 2008-11-07 (3.0+ systems send hellos)", Vendor},
	{"PSK", "2.0 to 10.x",
		"Intel AMT SDK, Setup Mode Hello Messages (PSK format removed in release 11.0); McAfee ePO Deep Command, Alternative Methods of Configuring Intel AMT (PSK since 2.x)", Vendor},
	{"TwoLabelSuffixMatch", "from 2.6", "Intel communities, openport message 1395 (2007)", Vendor},
	{"FactoryHashSlots", "0 before 2.6, 20 from 2.6, 30 from 7.0; 3 user slots",
		"Intel AMT SDK, Root Certificate Hashes; rpc-go issue 42 (maintainer comment on slots 23–32)", Vendor},
	{"VeriSignG1", "2.6 to 11.8.64 and 12.0.31", "Intel AMT SDK, Root Certificate Hashes (removed from 11.8.65.3580 and 12.0.32.1420)", Vendor},
	{"HostBasedSetupService", "from 6.1", "Intel AMT SDK class reference, IPS_HostBasedSetupService", Vendor},
	{"GenerateKeyPair", "from 6.2", "Intel AMT SDK, Certificate Management, Detailed Description (Releases 6.2 and 7.0 add GenerateKeyPair and GeneratePKCS10RequestEx)", Vendor},
	{"IntermediateTrustedRoots", "from 11.8", "Intel AMT SDK class reference, AMT_PublicKeyManagementService.AddTrustedRootCertificate", Vendor},
	{"PKCS10SHA1", "6.2 to 17.x", "go-wsman-messages pkg/wsman/amt/publickey/types.go (\"SHA1 is no longer available starting from Intel CSME 18.0\")", PeerCode},
	{"TLSNonSecureProperty", "from 16.1", "device-management-toolkit/deployment issue 177 (AMT 16.1.25.2128); go-wsman-messages pkg/wsman/amt/tls", DeviceReport},
	{"DefaultTLSCertificate", "from 16.1", "Intel AMT SDK, Intel AMT and Security Considerations (flow using the self-signed certificate)", Vendor},
	{"ThunderboltDockSetting", "from 15", "go-wsman-messages pkg/wsman/amt/general/types.go (ThunderboltDockEnabled: \"Available in Release 15.0 and later releases\")", PeerCode},
	{"CoreVersionIdentity", "from 11", "go-wsman-messages recorded responses, cim/software/identity (an AMT 12.0.67 device); the release that added it is inferred", Inferred},
	{"SigningSHA384", "from 21",
		"RPS src/utils/amtCertificatePolicy.ts at commit fdf4fc5a, code comments only (AMT 21.0.6 and 22.0.0 accepted 3, AMT 20.0.5 returned 3); not on RPS main (dbebd667 signs SHA-256 only); RPS issue 2538 (a SHA-384 signature refused, version not given): unconfirmed", PeerCode},
	{"SigningSHA384Required", "from 22",
		"RPS src/utils/amtCertificatePolicy.ts at commit fdf4fc5a, a code comment on one AMT 22.0.0 run (algorithm 2 returned 1); no tracker report found: unconfirmed", PeerCode},
	{"ProvisioningCertSHA384", "from 22", "RPS src/utils/amtCertificatePolicy.ts at commit fdf4fc5a (requiresSha384ProvisioningCert, from Intel's AMT 22 crypto-hardening list); deployment issue 605 (SHA-384 for provisioning certificates on AMT 22)", PeerCode},
	{"SecureHostBasedConfig", "from 19; some 15 to 18",
		"Intel AMT SDK class reference, IPS_HostBasedSetupService.AdminSetup (secure host-based configuration recommended from CSME 19, quoted in rpc-go issue 355); rpc-go internal/commands/activate/local.go (setupACMTLSConfig); MeshCentral amtmanager.js (activateIntelAmtTlsAcm); the 15-18 releases are inferred", Vendor},
	{"OperationalStateControl", "from 16.1",
		"rpc-go issue 249 (AMT 16.1 added enable/disable, pre-provisioning only); intel/lms MNGIsChangeToAMTEnabledCommand.h (new interface from ME 16.1); rpc-go pkg/pthi SetAmtOperationalState; rpc-go pull request 1094 (AMT 21.0.2 enabled)", DeviceReport},
	{"HostBasedAdminSetupRequiresTLS", "from 19, some platforms",
		"Intel AMT SDK class reference, IPS_HostBasedSetupService.AdminSetup (removed from CSME 19.0, quoted in rpc-go issue 355); rpc-go issue 701 (TLS on local ports)", Vendor},
	{"TLSKeyAlgorithm", "RSA 2048; ECC P-384 from 22",
		"RPS src/utils/amtCertificatePolicy.ts at commit fdf4fc5a (AMT 22.0.0 stored an RSA-2048 credential and refused it at bind time with AMT-STATUS 1); deployment issue 605 (AMT 22 deprecates 2048-bit keys); MeshCentral amtmanager.js and RPS src/stateMachines/tls.ts (RSA 2048 before)", DeviceReport},
	{"TLSCertSHA384", "from 22",
		"device-management-toolkit/deployment issue 605 (Intel maintainers: AMT 22 deprecates SHA-256, citing the Intel AMT SDK TLS page); RPS src/utils/amtCertificatePolicy.ts at commit fdf4fc5a (AMT 22.0.0 refused a SHA-256-signed TLS leaf at bind time)", DeviceReport},
	{"TLS10", "before 12", "Intel AMT SDK, TLS Detailed Description (TLS 1.0 removed in release 12.0)", Vendor},
	{"TLS11", "before 15; 15 except desktops", "Intel AMT SDK, TLS Detailed Description (TLS 1.1 removed from CSME 15.0 for desktops, 16.0 for all platforms)", Vendor},
	{"TLS12", "from 12", "Intel AMT SDK, TLS Detailed Description (TLS 1.2 added in release 12.0)", Vendor},
	{"TLS13", "from 21", "rpc-go pull request 1381 (AMT 21 negotiated TLS 1.3); earlier releases unreported", DeviceReport},
	{"NeedsRSAKeyExchange", "before 11; some 11 and 12",
		"device-management-toolkit/console issue 445 (AMT 11 and 12); MeshCentral issue 5512 (the suites an AMT 11 device offered as a TLS client to the MPS: RSA and ECDHE_RSA AES-CBC); Intel AMT SDK, Remote Setup and Configuration Flow; MeshCentral amt-wsman-comm.js", DeviceReport},
	{"DeviceCertHasHostName", "before 19", "rpc-go issue 1163 and pull request 1071 (AMT 19 certificates have no SAN); rpc-go issue 1068", DeviceReport},
	{"OnDieCertificate", "some 15 to 18; from 19",
		"Intel AMT SDK, On-Die Certificate Authority (from Tiger Lake) and Intel AMT Enhancements for Remote Configuration; rpc-go internal/certs/lmsTls.go; rpc-go issue 1095 (an AMT RCFG certificate from an ODCA chain)", DeviceReport},
	{"RemoteNonTLSPort", "before 16.1; some from 16.1", "Intel AMT SDK, Intel AMT and Security Considerations (End of Support for Non-TLS Connections)", Vendor},
	{"LocalNonTLSPort", "before 19; some from 19",
		"Intel AMT SDK, Intel AMT and Security Considerations (CSME 19 on Arrow Lake); rpc-go pkg/amt/commands.go IsTlsEnforcedOnLocalPorts", Vendor},
	{"RefusesSHA1", "15.0 chipset H; from 16.0", "Intel support article 000090051, quoting the Intel AMT SDK", Vendor},
	{"MinRSABits", "2048 where RefusesSHA1 holds", "Intel support article 000090051", Vendor},
	{"CommitDropsConnection", "from 19", "rpc-go internal/commands/activate/local.go (commitActivation, isConnectionResetErr)", PeerCode},
	{"FirstRequestMayDrop", "from 21", "rpc-go pull requests 1381 and 1385 (AMT 21 devices)", DeviceReport},
	{"WiFiProfileSync", "from 6.0",
		"Intel, An Introduction to Intel AMT Wireless Connections (AMT 6 syncs AMT and host OS wireless profiles); go-wsman-messages pkg/wsman/amt/wifiportconfiguration/types.go (localProfileSynchronizationEnabled from release 6.0)", Vendor},
	{"UEFIWiFiProfileShare", "from 16.0",
		"go-wsman-messages pkg/wsman/amt/wifiportconfiguration/types.go (UEFIWiFiProfileShareEnabled \"available from Intel CSME 16.0\"); RPS src/stateMachines/wifiNetworkConfiguration.ts and rpc-go internal/local/amt/wsman.go EnableWiFi (AMT_BootCapabilities.UEFIWiFiCoExistenceAndProfileShare first)", PeerCode},
	{"WiFiWPA3", "from 20",
		"intel/lms CIM_WiFiEndpointSettings.h (WPA3 SAE 32768, OWE 32769, GCMP-256 32768; no release named); device-management-toolkit/rps issue 1911 (WPA3 supported by the firmware from AMT 20); rpc-go configure/wireless.go still refuses WPA3: unconfirmed", Inferred},
	{"WiFiTKIPAndWEP", "before 15; 15 except chipset H",
		"Intel AMT SDK, Deprecation of TKIP and WEP Encryption Methods (removed from CSME firmware on Tiger Lake-H; quoted in device-management-toolkit/rps issue 594, an AMT 15 device refusing TKIP profiles); rps issue 992 (AMT 15 and 16 refuse TKIP)", Vendor},
}
