package provisioning

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/amtkit/amtkit/amt"
)

// NetworkProfile is what a profile asks of a device's network interfaces:
// wired 802.1X, Wi-Fi profiles, and the wired interface's IPv4 settings with
// AMT's name sharing and dynamic DNS. Everything here is applied after
// activation by reconcile's areas "8021x-wired", "wifi" and "ip" (in that
// order, RPS's order: the network settings after activation, the RADIUS
// server's root before the 802.1X settings that refer to it) and kept in line
// by [Maintainer.ReconcileEvery]. A nil WiFi or IP leaves that part of the
// device alone; a nil Wired8021X switches off the wired 802.1X amtkit switched
// on (see the field). docs/network.md describes the choices and their sources.
type NetworkProfile struct {
	// Wired8021X has the wired interface authenticate to the network with
	// 802.1X (IPS_IEEE8021xSettings). Nil (also a nil Network) on a device
	// where amtkit enabled wired 802.1X: reconcile disables it and retires its
	// client certificate; wired 802.1X that amtkit did not set up is left alone.
	Wired8021X *IEEE8021XConfig
	// WiFi manages the device's Wi-Fi profiles and wireless interface.
	WiFi *WiFiConfig
	// IP sets the wired interface's IPv4 configuration, FQDN sharing and
	// dynamic DNS.
	IP *IPConfig
}

// EAPMethod is the 802.1X authentication a profile uses.
type EAPMethod uint8

// 802.1X methods: those RPS offers for wireless networks, which wired
// networks take too (RPS src/routes/admin/ieee8021x/constants.ts).
const (
	// EAPTLS authenticates with a client certificate: AMT generates the key,
	// the Issuer certifies it (one certificate per profile), the Maintainer
	// renews it. The default.
	EAPTLS EAPMethod = iota
	// PEAPMSCHAPv2 authenticates with a user name and password inside a TLS
	// tunnel to the RADIUS server.
	PEAPMSCHAPv2
)

func (m EAPMethod) String() string {
	switch m {
	case EAPTLS:
		return "EAP-TLS"
	case PEAPMSCHAPv2:
		return "PEAP-MSCHAPv2"
	}
	return fmt.Sprintf("EAPMethod(%d)", m)
}

func (m EAPMethod) wire() amt.EAPMethod {
	if m == PEAPMSCHAPv2 {
		return amt.EAPPEAPv0MSCHAPv2
	}
	return amt.EAPTLS
}

// ServerNameMatch says how the device compares ServerName with the name in
// the RADIUS server's certificate.
type ServerNameMatch uint8

// Server name matches.
const (
	// MatchFullName: the certificate's name is ServerName (the default).
	MatchFullName ServerNameMatch = iota
	// MatchDomainSuffix: the certificate's name ends with ServerName.
	MatchDomainSuffix
)

func (m ServerNameMatch) wire() amt.ServerNameComparison {
	if m == MatchDomainSuffix {
		return amt.ServerNameDomainSuffix
	}
	return amt.ServerNameFullName
}

// IEEE8021XConfig is one 802.1X configuration: the wired interface's, or that
// of an enterprise Wi-Fi network.
//
// Server validation — ServerRoot and ServerName — is what keeps the device
// from handing its identity (and, with PEAP, a password hash) to any access
// point that answers; Audit reports a configuration without it.
//
// Username, Domain, ServerName and Password are sent as XML text: Validate
// refuses them when they are not UTF-8 or hold control characters.
type IEEE8021XConfig struct {
	// Method is the EAP method. Zero: EAP-TLS.
	Method EAPMethod
	// Username is the EAP identity. Empty: the device's FQDN (EAP-TLS);
	// required for PEAP-MSCHAPv2.
	Username string
	// Password is the PEAP-MSCHAPv2 password (at most 32 characters), one
	// for every device of the profile; empty for EAP-TLS. It is kept sealed
	// in each device's record to tell when the profile changed it.
	Password amt.Secret
	// Domain is the realm Username is unique in (optional; PEAP-MSCHAPv2
	// only: for EAP-TLS, DMTF CIM_IEEE8021xSettings says Domain "should be
	// null", and no peer sends one).
	Domain string
	// ServerRoot is the certificate of the CA that issued the RADIUS server's
	// certificate: installed as a trusted root (AddTrustedRootCertificate)
	// before anything refers to it, and bound as the server certificate
	// issuer. Nil: the device does not validate the server (an audit
	// finding).
	ServerRoot *x509.Certificate
	// ServerName is the name the RADIUS server's certificate must carry.
	// Empty: any certificate from ServerRoot is accepted (an audit finding).
	ServerName string
	// ServerNameMatch is how ServerName is compared. Zero: full name.
	ServerNameMatch ServerNameMatch
	// PxeTimeout (wired only) is how long AMT holds the 802.1X session for
	// PXE boot, at most 24 hours. Zero: 120 seconds.
	PxeTimeout time.Duration
	// NoPxe (wired only) sends PxeTimeout 0, which disables holding the
	// session for PXE boot (AMT_8021XProfile.PxeTimeout: "a value of 0
	// disables the feature", go-wsman-messages; RPS accepts 0 to 86400).
	// PxeTimeout must then be zero.
	NoPxe bool
}

// username is the EAP identity for a device.
func (c *IEEE8021XConfig) username(inv Inventory) string {
	if c.Username != "" {
		return c.Username
	}
	return inv.FQDN
}

func (c *IEEE8021XConfig) pxeTimeout() uint32 {
	if c.NoPxe {
		return 0
	}
	if c.PxeTimeout > 0 {
		return uint32(c.PxeTimeout / time.Second)
	}
	return 120
}

// validates reports whether the device checks the RADIUS server.
func (c *IEEE8021XConfig) validates() bool { return c.ServerRoot != nil && c.ServerName != "" }

func (c *IEEE8021XConfig) check(field string) error {
	bad := func(format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	switch c.Method {
	case EAPTLS:
		// CIM_IEEE8021xSettings: for EAP-TLS, RoamingIdentity, Password and
		// Domain "should be null" (DMTF 2.22, intel/lms
		// CIM_IEEE8021xSettings.h); rpc-go and RPS send neither.
		if !c.Password.IsZero() || c.Domain != "" {
			return bad("EAP-TLS takes no Password and no Domain (the client certificate is the credential)")
		}
	case PEAPMSCHAPv2:
		if c.Username == "" || c.Password.IsZero() {
			return bad("PEAP-MSCHAPv2 needs a Username and a Password")
		}
		if c.Password.Len() > 32 {
			return bad("the password is at most 32 characters (AMT_8021XProfile.Password), got %d", c.Password.Len())
		}
	default:
		return bad("unknown EAP method %d", c.Method)
	}
	if len(c.Username) > 128 || len(c.Domain) > 128 {
		return bad("Username and Domain are at most 128 bytes")
	}
	if !sendableText(c.Username) || !sendableText(c.Domain) || !sendableText(c.ServerName) {
		return bad("Username %q, Domain %q, ServerName %q: only UTF-8 text without control characters can be sent", c.Username, c.Domain, c.ServerName)
	}
	if !sendableText(c.Password.Reveal()) {
		return bad("the password: only UTF-8 text without control characters can be sent")
	}
	if c.ServerRoot != nil && !(c.ServerRoot.BasicConstraintsValid && c.ServerRoot.IsCA) {
		return bad("ServerRoot is not a CA certificate")
	}
	if c.ServerName != "" && c.ServerRoot == nil {
		return bad("ServerName without ServerRoot: the device can only check the name of a certificate it can verify")
	}
	if c.PxeTimeout < 0 || c.PxeTimeout > 24*time.Hour {
		return bad("PxeTimeout must be 0 to 24 hours, got %s", c.PxeTimeout)
	}
	if c.PxeTimeout%time.Second != 0 {
		// AMT takes whole seconds: 500 ms would be sent as 0, which turns
		// the PXE hold off (that is NoPxe).
		return bad("PxeTimeout is sent in whole seconds, got %s", c.PxeTimeout)
	}
	if c.NoPxe && c.PxeTimeout != 0 {
		return bad("NoPxe with a PxeTimeout of %s: set one or the other", c.PxeTimeout)
	}
	return nil
}

// WiFiSecurity is a Wi-Fi network's security type.
type WiFiSecurity uint8

// Wi-Fi security types. Open, WEP, WPA and TKIP are not offered: AMT takes IT
// profiles of WPA or stronger only (Intel AMT Developer Guide, Wireless
// Configuration Concepts), and WPA with TKIP is broken.
const (
	// WPA2Personal: a passphrase, CCMP (AuthenticationMethod 6). The default.
	WPA2Personal WiFiSecurity = iota
	// WPA3Personal: SAE with a passphrase, CCMP (AuthenticationMethod 32768),
	// on firmware that has it (amt.Firmware.WiFiWPA3).
	WPA3Personal
	// WPA2Enterprise: 802.1X, CCMP (AuthenticationMethod 7).
	WPA2Enterprise
	// WPA3Enterprise: 802.1X with GCMP-256 (AuthenticationMethod 7,
	// EncryptionMethod 32768), WPA3-Enterprise's 192-bit mode, on firmware
	// that has WPA3. AMT's class has no separate WPA3-Enterprise method;
	// this mapping is amtkit's reading of intel/lms CIM_WiFiEndpointSettings.h
	// and unconfirmed on a device.
	WPA3Enterprise
)

func (s WiFiSecurity) String() string {
	switch s {
	case WPA2Personal:
		return "WPA2-Personal"
	case WPA3Personal:
		return "WPA3-Personal"
	case WPA2Enterprise:
		return "WPA2-Enterprise"
	case WPA3Enterprise:
		return "WPA3-Enterprise"
	}
	return fmt.Sprintf("WiFiSecurity(%d)", s)
}

// Enterprise reports whether s authenticates with 802.1X.
func (s WiFiSecurity) Enterprise() bool { return s == WPA2Enterprise || s == WPA3Enterprise }

// wire returns the CIM authentication and encryption methods.
func (s WiFiSecurity) wire() (amt.WiFiAuthenticationMethod, amt.WiFiEncryptionMethod) {
	switch s {
	case WPA3Personal:
		return amt.WiFiAuthWPA3SAE, amt.WiFiEncryptionCCMP
	case WPA2Enterprise:
		return amt.WiFiAuthWPA2IEEE8021X, amt.WiFiEncryptionCCMP
	case WPA3Enterprise:
		return amt.WiFiAuthWPA2IEEE8021X, amt.WiFiEncryptionGCMP256
	}
	return amt.WiFiAuthWPA2PSK, amt.WiFiEncryptionCCMP
}

func (s WiFiSecurity) wpa3() bool { return s == WPA3Personal || s == WPA3Enterprise }

// MaxWiFiProfiles is how many Wi-Fi profiles a profile may give a device: the
// IT profiles AMT keeps (Configuration Manager SP2 configured at most eight;
// Intel's developer guide counts 16 profiles in all, at most 8 of them user
// profiles). The simulator enforces both limits.
const MaxWiFiProfiles = 8

// WiFiPower is when AMT uses the wireless interface.
type WiFiPower uint8

// Wi-Fi power settings (CIM_WiFiPort.RequestStateChange).
const (
	// WiFiS0AndSx: while the host runs and in sleep states on AC power
	// (32769, what RPS and rpc-go request). The default.
	WiFiS0AndSx WiFiPower = iota
	// WiFiS0Only: while the host runs (32768).
	WiFiS0Only
	// WiFiOff: AMT does not use the wireless interface (3).
	WiFiOff
)

func (p WiFiPower) wire() amt.WiFiPortState {
	switch p {
	case WiFiS0Only:
		return amt.WiFiEnabledS0
	case WiFiOff:
		return amt.WiFiDisabled
	}
	return amt.WiFiEnabledS0SxAC
}

// WiFiConfig is what a profile asks of the device's wireless interface.
type WiFiConfig struct {
	// Networks are the IT profiles the device keeps, at most
	// [MaxWiFiProfiles], each with a unique Name and Priority.
	Networks []WiFiNetwork
	// Power is when AMT uses the wireless interface. Zero: S0 and Sx on AC.
	Power WiFiPower
	// SyncWithOS lets the host OS add its own Wi-Fi profiles to AMT (user
	// profiles, localProfileSynchronizationEnabled 3), so that AMT can use
	// the networks the user joins. False (the default): disabled (0), only
	// the IT profiles here are used.
	SyncWithOS bool
	// UEFIProfileShare shares the profiles with UEFI where the firmware
	// (CSME 16+) and the platform (AMT_BootCapabilities) can; elsewhere it
	// is ignored. False (the default): not shared.
	UEFIProfileShare bool
	// KeepUnlisted leaves on the device the profiles Networks does not list.
	// False (the default): they are removed — except, with SyncWithOS, the
	// profiles amtkit did not add (the host's).
	KeepUnlisted bool
}

// WiFiNetwork is one Wi-Fi profile.
type WiFiNetwork struct {
	// Name is the profile's name on the device: 1 to 32 letters and digits
	// (rpc-go refuses anything else).
	Name string
	// SSID is the network's name, 1 to 32 bytes of UTF-8 text without
	// control characters (the request is XML).
	SSID string
	// Priority orders the profiles (AMT tries the profile with the highest
	// priority first); unique among the profile's networks, from 1.
	Priority int
	// Security is the network's security type. Zero: WPA2-Personal.
	Security WiFiSecurity
	// Passphrase is the personal networks' passphrase, 8 to 63 printable
	// ASCII characters. Shorter than 12 is an audit finding.
	Passphrase amt.Secret
	// IEEE8021X configures an enterprise network's 802.1X (required for
	// WPA2-/WPA3-Enterprise, not allowed otherwise). EAP-TLS gets a client
	// certificate of its own for this network.
	IEEE8021X *IEEE8021XConfig
}

// IPMode is how the wired interface gets its IPv4 configuration.
type IPMode uint8

// IP modes: the three rows of RPS's and rpc-go's table
// (wiredNetworkConfiguration.ts, configure/wired.go).
const (
	// IPDHCP: DHCP, AMT synchronised with the host OS (DHCPEnabled,
	// IpSyncEnabled; SharedStaticIp false). The default.
	IPDHCP IPMode = iota
	// IPStaticShared: a static address AMT shares with, and takes from, the
	// host OS (IpSyncEnabled and SharedStaticIp; DHCP off).
	IPStaticShared
	// IPStatic: AMT's own static address, mask, gateway and DNS servers
	// (DHCP, IP sync and sharing off), from IPConfig.Static.
	IPStatic
)

func (m IPMode) String() string {
	switch m {
	case IPDHCP:
		return "DHCP"
	case IPStaticShared:
		return "static, shared with the host OS"
	case IPStatic:
		return "static"
	}
	return fmt.Sprintf("IPMode(%d)", m)
}

// DynamicDNS says who registers AMT's name in DNS.
type DynamicDNS uint8

// Dynamic DNS settings (AMT_GeneralSettings DDNSUpdateEnabled and
// DDNSUpdateByDHCPServerEnabled).
const (
	// DDNSUnchanged leaves the device's settings alone. The default.
	DDNSUnchanged DynamicDNS = iota
	// DDNSByDHCPServer: the DHCP server registers the name (AMT's client off,
	// the request to the DHCP server on: the firmware's default).
	DDNSByDHCPServer
	// DDNSByAMT: AMT's own dynamic DNS client registers the name.
	DDNSByAMT
	// DDNSOff: nobody is asked to register the name.
	DDNSOff
)

// IPConfig is the wired interface's IPv4 configuration and AMT's name in DNS.
type IPConfig struct {
	// Mode is how the address is set. Zero: DHCP.
	Mode IPMode
	// Static gives each device its own static configuration (IPStatic):
	// addresses come from the integrator's inventory, never from a profile
	// shared by a fleet.
	Static func(Inventory) (amt.StaticIPv4, error)
	// DedicatedFQDN gives AMT a name of its own instead of sharing the host's
	// (AMT_GeneralSettings.SharedFQDN false).
	DedicatedFQDN bool
	// DynamicDNS says who registers the name. Zero: unchanged.
	DynamicDNS DynamicDNS
	// DDNSTTL is the time to live of the records AMT's client registers
	// (DDNSByAMT). Zero: the device's (15 minutes by default).
	DDNSTTL time.Duration
	// DDNSInterval is how often AMT's client refreshes them: zero keeps the
	// device's (24 hours by default); at least 20 minutes.
	DDNSInterval time.Duration
}

// Validate checks the network profile against AMT's rules (what the firmware
// would refuse, and the limits RPS and rpc-go apply).
func (n *NetworkProfile) Validate() error {
	if n == nil {
		return nil
	}
	if n.Wired8021X != nil {
		if err := n.Wired8021X.check("Network.Wired8021X"); err != nil {
			return err
		}
	}
	if w := n.WiFi; w != nil {
		if len(w.Networks) > MaxWiFiProfiles {
			return &ConfigError{Field: "Network.WiFi.Networks", Problem: fmt.Sprintf("AMT keeps at most %d IT profiles, got %d", MaxWiFiProfiles, len(w.Networks))}
		}
		if w.Power > WiFiOff {
			return &ConfigError{Field: "Network.WiFi.Power", Problem: fmt.Sprintf("unknown value %d", w.Power)}
		}
		names := map[string]bool{}
		prios := map[int]string{}
		for i, nw := range w.Networks {
			field := fmt.Sprintf("Network.WiFi.Networks[%d]", i)
			if err := nw.check(field); err != nil {
				return err
			}
			key := strings.ToLower(nw.Name)
			if names[key] {
				return &ConfigError{Field: field + ".Name", Problem: fmt.Sprintf("%q is used twice", nw.Name)}
			}
			names[key] = true
			if other, dup := prios[nw.Priority]; dup {
				return &ConfigError{Field: field + ".Priority", Problem: fmt.Sprintf("priority %d is %q's too; AMT needs unique priorities", nw.Priority, other)}
			}
			prios[nw.Priority] = nw.Name
		}
	}
	if ip := n.IP; ip != nil {
		switch {
		case ip.Mode > IPStatic:
			return &ConfigError{Field: "Network.IP.Mode", Problem: fmt.Sprintf("unknown value %d", ip.Mode)}
		case ip.Mode == IPStatic && ip.Static == nil:
			return &ConfigError{Field: "Network.IP.Static", Problem: "static mode needs each device's address (Static)"}
		case ip.Mode != IPStatic && ip.Static != nil:
			return &ConfigError{Field: "Network.IP.Static", Problem: "addresses are given only in static mode"}
		case ip.DynamicDNS > DDNSOff:
			return &ConfigError{Field: "Network.IP.DynamicDNS", Problem: fmt.Sprintf("unknown value %d", ip.DynamicDNS)}
		case ip.DDNSInterval != 0 && ip.DDNSInterval < 20*time.Minute:
			return &ConfigError{Field: "Network.IP.DDNSInterval", Problem: "AMT refreshes at most every 20 minutes (AMT_GeneralSettings.DDNSPeriodicUpdateInterval)"}
		case ip.DDNSTTL < 0 || ip.DDNSTTL > (1<<31-1)*time.Second:
			return &ConfigError{Field: "Network.IP.DDNSTTL", Problem: "out of range"}
		}
	}
	return nil
}

func (nw *WiFiNetwork) check(field string) error {
	bad := func(sub, format string, args ...any) error {
		return &ConfigError{Field: field + sub, Problem: fmt.Sprintf(format, args...)}
	}
	if !amt.ValidWiFiProfileName(nw.Name) {
		return bad(".Name", "%q: 1 to 32 ASCII letters and digits", nw.Name)
	}
	if nw.SSID == "" || len(nw.SSID) > 32 {
		return bad(".SSID", "1 to 32 bytes, got %d", len(nw.SSID))
	}
	if !sendableText(nw.SSID) {
		return bad(".SSID", "%q: only UTF-8 text without control characters can be sent", nw.SSID)
	}
	if nw.Priority < 1 || nw.Priority > 255 {
		return bad(".Priority", "1 to 255, got %d", nw.Priority)
	}
	switch {
	case nw.Security > WPA3Enterprise:
		return bad(".Security", "unknown value %d", nw.Security)
	case nw.Security.Enterprise():
		if nw.IEEE8021X == nil {
			return bad(".IEEE8021X", "%s needs 802.1X settings", nw.Security)
		}
		if !nw.Passphrase.IsZero() {
			return bad(".Passphrase", "%s takes no passphrase", nw.Security)
		}
		if nw.IEEE8021X.PxeTimeout != 0 || nw.IEEE8021X.NoPxe {
			return bad(".IEEE8021X.PxeTimeout", "PXE applies to the wired interface only")
		}
		return nw.IEEE8021X.check(field + ".IEEE8021X")
	default:
		if nw.IEEE8021X != nil {
			return bad(".IEEE8021X", "%s takes no 802.1X settings", nw.Security)
		}
		pw := nw.Passphrase.Reveal()
		if len(pw) < 8 || len(pw) > 63 || strings.IndexFunc(pw, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			return bad(".Passphrase", "8 to 63 printable ASCII characters, got %d characters", len(pw))
		}
	}
	return nil
}

// sendableText reports whether s can be sent as the text of a property:
// UTF-8 whose characters XML 1.0 allows, without control characters (the
// check amt applies before sending a Wi-Fi profile).
func sendableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF })
}

// network returns the profile's network configuration, with the deprecated
// Profile.IEEE8021X read as Wired8021X (EAP-TLS without server validation)
// when Network.Wired8021X is not set. Nil when the profile asks nothing.
func (p *Profile) network() *NetworkProfile {
	if p.IEEE8021X == nil {
		return p.Network
	}
	n := NetworkProfile{}
	if p.Network != nil {
		n = *p.Network
	}
	if n.Wired8021X == nil {
		n.Wired8021X = &IEEE8021XConfig{Method: EAPTLS, Username: p.IEEE8021X.Username, PxeTimeout: p.IEEE8021X.PxeTimeout}
	}
	return &n
}

func (p *Profile) wired8021X() *IEEE8021XConfig {
	if n := p.network(); n != nil {
		return n.Wired8021X
	}
	return nil
}

func (p *Profile) wifi() *WiFiConfig {
	if n := p.network(); n != nil {
		return n.WiFi
	}
	return nil
}

func (p *Profile) ipConfig() *IPConfig {
	if n := p.network(); n != nil {
		return n.IP
	}
	return nil
}

// needsIssuer reports whether the network profile needs client certificates.
func (n *NetworkProfile) needsIssuer() bool {
	if n == nil {
		return false
	}
	if n.Wired8021X != nil && n.Wired8021X.Method == EAPTLS {
		return true
	}
	if n.WiFi != nil {
		return slices.ContainsFunc(n.WiFi.Networks, func(w WiFiNetwork) bool {
			return w.IEEE8021X != nil && w.IEEE8021X.Method == EAPTLS
		})
	}
	return false
}

// staticFor returns the device's static configuration, checked.
func (c *IPConfig) staticFor(inv Inventory) (amt.StaticIPv4, error) {
	s, err := c.Static(inv)
	if err != nil {
		return amt.StaticIPv4{}, err
	}
	if err := s.Check(); err != nil {
		return amt.StaticIPv4{}, err
	}
	if !prefixOK(s) {
		return amt.StaticIPv4{}, fmt.Errorf("%w: %v is the network or broadcast address of its prefix", amt.ErrInvalidArgument, s.Address)
	}
	return s, nil
}

// prefixOK reports whether a is a usable host address of s's prefix.
func prefixOK(s amt.StaticIPv4) bool {
	p := s.Address.Masked()
	a := s.Address.Addr()
	b := p.Addr().As4()
	hostBits := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1<<hostBits - 1)
	last := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return a != p.Addr() && a != last
}
