package amtsim

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/amtkit/amtkit/amt"
)

// The simulator takes every version-dependent behaviour from amt.FirmwareFor:
// the table's facts, with the "some platforms" answers decided by the
// device's Config (Legacy15, TLSOnly, RSAKeyExchangeOnly). Nothing else in
// the package compares version numbers.

// platform is what the simulated device does where the table answers per
// platform, resolved once from the firmware facts and the Config.
type platform struct {
	// strict: SHA-1 refused and RSA keys of at least minRSA bits required.
	strict bool
	minRSA int
	// minTLS and maxTLS bound the TLS versions of the 16993 listener.
	minTLS, maxTLS uint16
	// suites are the cipher suites offered for TLS 1.0–1.2 (nil: Go's
	// defaults, which have no RSA key exchange).
	suites []uint16
	// remoteNonTLS: digest accounts reach the 16992 role once provisioned.
	remoteNonTLS bool
	// tkipWEP: Wi-Fi profiles may use TKIP and (user profiles) WEP.
	tkipWEP bool
}

// resolve decides a SomePlatforms answer: on the platform the Config chose
// (onThisPlatform) the fact holds.
func resolve(p amt.Platforms, onThisPlatform bool) bool {
	switch p {
	case amt.AllPlatforms:
		return true
	case amt.SomePlatforms:
		return onThisPlatform
	}
	return false
}

// rsaSuites are the RSA key-exchange suites old firmware negotiates (the ones
// device-management-toolkit console issue 445 adds for AMT 11 and 12).
var rsaSuites = []uint16{
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
}

// ecdheSuites are the ECDHE_RSA suites an AMT 11 device also accepted
// (MeshCentral issue 5512: what its TLS stack offered as a client to the MPS),
// plus the TLS 1.2 GCM ones.
var ecdheSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

func platformFor(fw amt.Firmware, cfg *Config) platform {
	// ME 15 splits by platform: Legacy15 is the non-H (mobile) platform that
	// keeps SHA-1, short keys and TLS 1.1.
	var p platform
	p.strict = resolve(fw.RefusesSHA1, !cfg.Legacy15)
	if p.strict {
		p.minRSA = fw.MinRSABits
	}
	for _, x := range []struct {
		on bool
		v  uint16
	}{
		{resolve(fw.TLS10, true), tls.VersionTLS10},
		{resolve(fw.TLS11, cfg.Legacy15), tls.VersionTLS11},
		{resolve(fw.TLS12, true), tls.VersionTLS12},
		{resolve(fw.TLS13, true), tls.VersionTLS13},
	} {
		if !x.on {
			continue
		}
		if p.minTLS == 0 {
			p.minTLS = x.v
		}
		p.maxTLS = x.v
	}
	switch {
	case resolve(fw.NeedsRSAKeyExchange, cfg.RSAKeyExchangeOnly):
		p.suites = rsaSuites
	case fw.NeedsRSAKeyExchange.Any():
		p.suites = append(append([]uint16(nil), rsaSuites...), ecdheSuites...)
	}
	p.remoteNonTLS = resolve(fw.RemoteNonTLSPort, !cfg.TLSOnly) && !cfg.LocalTLSEnforced
	p.tkipWEP = resolve(fw.WiFiTKIPAndWEP, cfg.Legacy15) // removed from chipset H on 15
	return p
}

// checkPlatformConfig refuses a platform knob on a version whose table
// answer does not depend on the platform.
func checkPlatformConfig(fw amt.Firmware, cfg *Config) error {
	knob := func(field string, set bool, p amt.Platforms, where string) error {
		if set && p != amt.SomePlatforms {
			return &ConfigError{Field: field, Expected: where, Got: fw.Version.String()}
		}
		return nil
	}
	if err := knob("Legacy15", cfg.Legacy15, fw.RefusesSHA1, "firmware 15.x (the only release whose SHA-1 rule depends on the platform)"); err != nil {
		return err
	}
	if err := knob("TLSOnly", cfg.TLSOnly, fw.RemoteNonTLSPort, "firmware 16.1 or later (NonSecureConnectionsSupported)"); err != nil {
		return err
	}
	if err := knob("LocalTLSEnforced", cfg.LocalTLSEnforced, fw.LocalNonTLSPort, "firmware 19 or later (TLS on local ports)"); err != nil {
		return err
	}
	if cfg.AMTDisabled && !fw.OperationalStateControl {
		return &ConfigError{Field: "AMTDisabled", Expected: "firmware 16.1 or later (SetAmtOperationalState)", Got: fw.Version.String()}
	}
	return knob("RSAKeyExchangeOnly", cfg.RSAKeyExchangeOnly, fw.NeedsRSAKeyExchange, "firmware 11.x or 12.x")
}

// methodExists reports whether the firmware has the extrinsic method (methods
// added by a later release are ActionNotSupported before it).
func (d *Device) methodExists(uri, name string) bool {
	if uri == uriPKM && (name == "GenerateKeyPair" || name == "GeneratePKCS10RequestEx") {
		return d.fw.GenerateKeyPair
	}
	if uri == uriSetup && name == "SetTLSPSK" {
		return d.fw.PSK // PSK provisioning ended with AMT 11 (cls_psk.go)
	}
	return true
}

// classExists reports whether the firmware serves the class (a class added
// by a later release is DestinationUnreachable before it).
func (d *Device) classExists(uri string) bool {
	switch uri {
	case uriHBS:
		return d.fw.HostBasedSetupService
	case uriWiFiConfig, uriWiFiSettings, uriWiFiEndpoint, uriCIMIEEE:
		return !d.cfg.Network.NoWireless // a device without a wireless interface (CIM_WiFiPort: cls_wifi.go)
	case uriIEEE, uriProfile:
		return !d.cfg.Network.WirelessOnly // RPS issue 1072
	}
	return d.redirectionClassExists(uri) // no KVM on Standard Manageability (cls_redirection.go)
}

// firstRequestDrop reports whether this request is the first on a TLS 1.3
// connection made after the TLS listener (re)armed, which AMT 21 resets
// (rpc-go pull requests 1381 and 1385). It consumes the armed state.
func (d *Device) firstRequestDrop(sc *simConn, r *http.Request) bool {
	if (sc.info.role != roleTLS && sc.info.role != roleLocalTLS) || r.TLS == nil || r.TLS.Version != tls.VersionTLS13 ||
		!d.cfg.Behavior.FirstRequestDrop.resolve(d.fw.FirstRequestMayDrop) {
		return false
	}
	sc.info.mu.Lock()
	first := sc.info.served == 0
	sc.info.served++
	sc.info.mu.Unlock()
	if !first {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.st.tlsArmed {
		return false
	}
	d.st.tlsArmed = false
	return true
}

// isSHA384 reports whether c is signed with a SHA-384 algorithm.
func isSHA384(c *x509.Certificate) bool {
	switch c.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		return true
	}
	return false
}

// tlsKeyRefused says why the firmware refuses to bind cert (with its key) to
// TLS, or "".
func (d *Device) tlsKeyRefused(cert *x509.Certificate, key any) string {
	want := d.fw.TLSKeyAlgorithm
	var got amt.KeyAlgorithm
	if _, isRSA := key.(*rsa.PublicKey); isRSA {
		got = amt.KeyAlgorithmRSA
	} else {
		got = amt.KeyAlgorithmECC384
	}
	if got != want {
		return fmt.Sprintf("a key of algorithm %d, the firmware wants %d", got, want)
	}
	if d.fw.TLSCertSHA384 && !isSHA384(cert) {
		return "a certificate signed with " + cert.SignatureAlgorithm.String() + ", the firmware wants SHA-384"
	}
	return ""
}

// remoteConfigAllowed reports whether the firmware takes part in remote
// configuration: by itself (bare metal), or once a local agent started it.
func (d *Device) remoteConfigAllowed(agentStarted bool) bool {
	return d.fw.BareMetalRemoteConfig || (d.fw.AgentInitiatedRemoteConfig && agentStarted)
}

// armTLS marks the TLS listener as freshly armed, as a commit's network
// restart does (a new device starts armed).
func (d *Device) armTLS() {
	d.mu.Lock()
	d.st.tlsArmed = true
	d.mu.Unlock()
}
