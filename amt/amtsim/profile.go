package amtsim

import (
	"crypto/tls"

	"github.com/amtkit/amtkit/amt"
)

// DefaultVersion is the firmware version a [Config] with a zero Version simulates.
const DefaultVersion = "16.1.25"

// Firmware lists the behaviour that follows from a firmware version: the
// boundaries documented in reference/hello-rcfg.md, certs.md and pskx.md. A
// [Device] derives it from [Config.Version] ([FirmwareFor]) and tests can read
// it to decide what to expect.
type Firmware struct {
	Version amt.Version

	// RemoteConfiguration: the device sends PKI hellos and accepts remote
	// configuration by itself (bare-metal, AMT 3.0 and later).
	RemoteConfiguration bool
	// AgentInitiatedOnly: remote configuration only after a local agent starts
	// it (AMT 2.2 and 2.6), see [Device.StartConfiguration].
	AgentInitiatedOnly bool
	// PSKHello: version 2 (PID) hellos and TLS-PSK; removed in AMT 11.
	PSKHello bool
	// MinTLS and MaxTLS bound the TLS versions of the 16993 listener: TLS 1.2
	// only from AMT 12, TLS 1.0–1.1 with RSA key exchange before.
	MinTLS, MaxTLS uint16
	// StrictCrypto: SHA-1 signatures, SHA-1 root hashes and RSA keys under 2048
	// bits are refused everywhere (ME 15 H-platforms, all platforms from 16).
	StrictCrypto bool
	// CommitDropsConnection: CommitChanges restarts the network stack before the
	// response is written (AMT 19 and later).
	CommitDropsConnection bool
	// DeviceCertHasHostName: the device's own TLS certificate names its host; from
	// AMT 19 it carries no host name at all.
	DeviceCertHasHostName bool
	// SHA384Signature: SigningAlgorithm 3 (RSA with SHA-384) is accepted for
	// AdminSetup and UpgradeClientToAdmin (AMT 21 and later).
	SHA384Signature bool
	// RequireSHA384ForSHA384Cert: a SHA-384 provisioning certificate must be used
	// with SigningAlgorithm 3; algorithm 2 returns 1 (observed on AMT 22 by RPS).
	RequireSHA384ForSHA384Cert bool
	// ECCKeys: GenerateKeyPair accepts KeyAlgorithm 1 (ECC P-384). Assumed from
	// AMT 22, the release RPS switched to it for.
	ECCKeys bool
	// RSATLSRefused: binding an RSA key to TLS fails with AMT-STATUS 1 (AMT 22 per
	// RPS amtCertificatePolicy.ts).
	RSATLSRefused bool
	// PKCS10SHA1Refused: GeneratePKCS10RequestEx refuses SigningAlgorithm 0
	// (SHA-1) from CSME 18.
	PKCS10SHA1Refused bool
	// IntermediateTrustedRoots: AddTrustedRootCertificate accepts intermediate
	// CA certificates (AMT 11.8 and later).
	IntermediateTrustedRoots bool
	// NonSecureConnectionsSupported is reported on AMT_TLSSettingData (CSME
	// 16.1 and later); HasNonSecureProperty says whether the property exists.
	HasNonSecureProperty bool
	// SelfSignedTLSAfterProvisioning: a device provisioned without a TLS
	// certificate still serves 16993, with its own self-signed certificate
	// (CSME 16.1 and later, which accept no remote non-TLS connections: Intel
	// SDK "Intel AMT and Security Considerations"). The simulator still serves
	// its non-TLS port to remote clients.
	SelfSignedTLSAfterProvisioning bool
	// HostBasedSetup: IPS_HostBasedSetupService exists (AMT 6.1 and later,
	// reference/amt-classes.md §2.4); before, it is DestinationUnreachable.
	HostBasedSetup bool
	// FactorySlots and UserSlots bound the root-hash table: 20 factory and 3
	// user slots before AMT 7, 30 factory and 3 user slots from 7.
	FactorySlots, UserSlots int
}

// FirmwareFor returns the behaviour of firmware version v. legacy15 keeps a
// 15.x device on the pre-16 crypto rules (the non-H platforms of ME 15).
func FirmwareFor(v amt.Version, legacy15 bool) Firmware {
	at := func(major, minor, build int) bool {
		return v.AtLeast(amt.Version{Major: major, Minor: minor, Build: build})
	}
	f := Firmware{Version: v}
	f.RemoteConfiguration = at(3, 0, 0)
	f.AgentInitiatedOnly = !f.RemoteConfiguration && v.Major == 2 && (v.Minor == 2 || v.Minor == 6)
	f.PSKHello = !at(11, 0, 0)
	if at(12, 0, 0) {
		f.MinTLS, f.MaxTLS = tls.VersionTLS12, tls.VersionTLS12
	} else {
		f.MinTLS, f.MaxTLS = tls.VersionTLS10, tls.VersionTLS11
	}
	f.StrictCrypto = at(16, 0, 0) || (v.Major == 15 && !legacy15)
	f.CommitDropsConnection = at(19, 0, 0)
	f.DeviceCertHasHostName = !at(19, 0, 0)
	f.SHA384Signature = at(21, 0, 0)
	f.RequireSHA384ForSHA384Cert = at(22, 0, 0)
	f.ECCKeys = at(22, 0, 0)
	f.RSATLSRefused = at(22, 0, 0)
	f.PKCS10SHA1Refused = at(18, 0, 0)
	f.IntermediateTrustedRoots = at(11, 8, 0)
	f.HasNonSecureProperty = at(16, 1, 0)
	f.SelfSignedTLSAfterProvisioning = at(16, 1, 0)
	f.HostBasedSetup = at(6, 1, 0)
	if at(7, 0, 0) {
		f.FactorySlots, f.UserSlots = 30, 3
	} else {
		f.FactorySlots, f.UserSlots = 20, 3
	}
	return f
}

// verisignG1 is the factory hash removed from 11.8.65.3580 and 12.0.32.1420
// (reference/certs.md §1.1).
const verisignG1 = "e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70"

// defaultHashesFor returns the factory root-hash table of version v: the
// entries of amt.DefaultRootHashes, without VeriSign Class 3 G1 where the
// firmware removed it, capped at the factory slot count.
func defaultHashesFor(f Firmware) []RootHash {
	v := f.Version
	dropG1 := (v.Major == 11 && v.AtLeast(amt.Version{Major: 11, Minor: 8, Build: 65})) ||
		(v.Major == 12 && v.AtLeast(amt.Version{Major: 12, Minor: 0, Build: 32})) || v.Major > 12
	var out []RootHash
	for _, r := range amt.DefaultRootHashes() {
		if dropG1 && r.Hash.Hex() == verisignG1 {
			continue
		}
		if len(out) == f.FactorySlots {
			break
		}
		out = append(out, RootHash{Name: r.Label, Hash: r.Hash, Default: true, Active: true})
	}
	return out
}
