package amtsim

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// NetworkConfig describes the simulated device's network interfaces. The
// zero value is a laptop with a wired and a wireless interface on firmware
// that has every Wi-Fi feature its version has; UEFI profile sharing is a
// platform feature and off unless set.
type NetworkConfig struct {
	// NoWireless: no wireless interface (a desktop). The Wi-Fi classes answer
	// DestinationUnreachable, except that CIM_WiFiPort enumerates empty
	// (Intel's console, console issue 1057), and AMT_EthernetPortSettings' wireless instance
	// reports MAC address 00-00-00-00-00-00 (go-wsman-messages recorded
	// amt/ethernetport/pull.xml).
	NoWireless bool
	// WirelessOnly: no wired interface (a wireless-only platform, from AMT
	// 9.5). IPS_IEEE8021xSettings answers DestinationUnreachable (RPS issue
	// 1072) and the wired AMT_EthernetPortSettings instance has no MAC
	// address (RPS networkConfiguration.ts isWifiOnlyDevice).
	WirelessOnly bool
	// UEFIWiFiProfileShare: the platform can share Wi-Fi profiles with UEFI
	// (AMT_BootCapabilities.UEFIWiFiCoExistenceAndProfileShare), on firmware
	// with amt.Firmware.UEFIWiFiProfileShare.
	UEFIWiFiProfileShare bool
}

// Resource URIs of the network classes.
const (
	uriEthernet      = amtNS + "AMT_EthernetPortSettings"
	uriBootCaps      = amtNS + "AMT_BootCapabilities"
	wiredPortID      = "Intel(r) AMT Ethernet Port Settings 0"
	wirelessPortID   = "Intel(r) AMT Ethernet Port Settings 1"
	ethElementName   = "Intel(r) AMT Ethernet Port Settings"
	bootCapsID       = "Intel(r) AMT:BootCapabilities 0"
	simWiredMAC      = "c8-d9-d2-7a-1e-33"
	simWirelessMAC   = "00-15-17-29-34-56"
	dhcpLeaseAddr    = "192.168.0.24"
	dhcpLeaseMask    = "255.255.255.0"
	dhcpLeaseGW      = "192.168.0.1"
	dhcpLeaseDNS     = "192.168.0.1"
	noMAC            = "00-00-00-00-00-00"
	wiredPhysical    = "0"
	wirelessPhysical = "3"
)

// ethPort is one AMT_EthernetPortSettings instance's writable state.
type ethPort struct {
	dhcp, ipSync, sharedStatic bool
	static                     amt.StaticIPv4 // in AMT's own static mode
}

func defaultEthPort() ethPort { return ethPort{dhcp: true, ipSync: true} }

// ethInstance renders an AMT_EthernetPortSettings instance in the shape of
// go-wsman-messages' recorded amt/ethernetport responses.
func (d *Device) ethInstance(id string) *etree.Element {
	n := &d.st.net
	in := newInst(uriEthernet).s("ElementName", ethElementName).s("InstanceID", id)
	switch id {
	case wiredPortID:
		p := n.wired
		in.b("DHCPEnabled", p.dhcp).b("IpSyncEnabled", p.ipSync).b("SharedStaticIp", p.sharedStatic)
		in.b("SharedDynamicIP", true).b("SharedMAC", true).s("PhysicalConnectionType", wiredPhysical)
		in.arr("LinkPolicy", "1", "14")
		if d.cfg.Network.WirelessOnly {
			in.b("LinkIsUp", false)
			return in.el()
		}
		in.s("MACAddress", simWiredMAC).b("LinkIsUp", true)
		if p.dhcp || p.ipSync {
			// The lease AMT shares with the host (or takes from it).
			in.s("IPAddress", dhcpLeaseAddr).s("SubnetMask", dhcpLeaseMask).s("DefaultGateway", dhcpLeaseGW).s("PrimaryDNS", dhcpLeaseDNS)
		} else {
			s := p.static
			in.s("IPAddress", s.Address.Addr().String()).s("SubnetMask", s.Mask()).s("DefaultGateway", s.Gateway.String()).s("PrimaryDNS", s.PrimaryDNS.String())
			if s.SecondaryDNS.IsValid() {
				in.s("SecondaryDNS", s.SecondaryDNS.String())
			}
		}
	case wirelessPortID:
		mac := simWirelessMAC
		if d.cfg.Network.NoWireless {
			mac = noMAC
		}
		in.s("ConsoleTcpMaxRetransmissions", "5").b("DHCPEnabled", true).s("LinkControl", "2").b("LinkIsUp", false).
			s("LinkPreference", "2").s("MACAddress", mac).s("PhysicalConnectionType", wirelessPhysical).b("SharedMAC", true).
			s("WLANLinkProtectionLevel", "1")
	default:
		return nil
	}
	return in.el()
}

// AMT_EthernetPortSettings (intel/lms AMT_EthernetPortSettings.h; Put rules
// as RPS wiredNetworkConfiguration.ts and rpc-go configure/wired.go build
// their requests: DHCPEnabled required, addresses only in AMT's own static
// mode, SharedStaticIp with IpSyncEnabled only; the wireless interface is
// DHCP only — Intel, An Introduction to Intel AMT Wireless Connections).
func ethernetClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			id, _ := c.req.Selectors.Get("InstanceID")
			el := d.ethInstance(id)
			if el == nil {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, el)
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			return []*etree.Element{d.ethInstance(wiredPortID), d.ethInstance(wirelessPortID)}
		},
		put: (*Device).putEthernet,
	}
}

func (d *Device) putEthernet(c *call) wsmantest.Reply {
	id, _ := c.req.Selectors.Get("InstanceID")
	if d.ethInstance(id) == nil {
		return invalidSelectors()
	}
	in, ok := body(c)
	if !ok {
		return schemaFault("Expected an AMT_EthernetPortSettings instance.")
	}
	invalid := internalError(amt.StatusInvalidParameter)
	dhcp, err := in.boolean("DHCPEnabled")
	if err != nil {
		return invalid // required (class reference, quoted by go-wsman-messages)
	}
	optBool := func(name string, def bool) (bool, bool) {
		if !in.has(name) {
			return def, true
		}
		v, err := in.boolean(name)
		return v, err == nil
	}
	if id == wirelessPortID {
		if !dhcp {
			d.debug("static address refused on the wireless interface")
			return internalError(amt.StatusNotPermitted)
		}
		return wsmantest.PutResponse(c.req, d.ethInstance(id))
	}
	if d.cfg.Network.WirelessOnly {
		return internalError(amt.StatusNotPermitted)
	}
	cur := d.st.net.wired
	ipSync, ok1 := optBool("IpSyncEnabled", cur.ipSync)
	shared, ok2 := optBool("SharedStaticIp", cur.sharedStatic)
	if !ok1 || !ok2 {
		return invalid
	}
	next := ethPort{dhcp: dhcp, ipSync: ipSync, sharedStatic: shared}
	if dhcp || ipSync {
		// "When IP settings come from DHCP or are synced with the host, AMT
		// rejects explicit IP fields" (Intel's console,
		// usecase/devices/network.go); RPS and rpc-go leave them out.
		for _, name := range []string{"IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS"} {
			if v, ok := in.str(name); ok && v != "" {
				d.debug(name + " refused: the address comes from DHCP or the host")
				return invalid
			}
		}
	}
	switch {
	case dhcp && shared:
		return invalid // a shared static address in DHCP mode
	case shared && !ipSync:
		return invalid // SharedStaticIp follows IpSyncEnabled
	case !dhcp && !ipSync:
		s, ok := staticFrom(in)
		if !ok {
			d.debug("static mode without a valid address, mask and gateway")
			return invalid
		}
		next.static = s
	}
	d.st.net.wired = next
	return wsmantest.PutResponse(c.req, d.ethInstance(id))
}

// staticFrom reads AMT's own static configuration: an IPv4 address with a
// contiguous mask, a gateway inside the subnet, optional DNS servers.
func staticFrom(in *input) (amt.StaticIPv4, bool) {
	addr := func(name string, required bool) (netip.Addr, bool) {
		s, ok := in.str(name)
		if !ok || s == "" {
			return netip.Addr{}, !required
		}
		a, err := netip.ParseAddr(s)
		return a, err == nil && a.Is4()
	}
	ip, ok1 := addr("IPAddress", true)
	mask, ok2 := addr("SubnetMask", true)
	gw, ok3 := addr("DefaultGateway", false)
	dns1, ok4 := addr("PrimaryDNS", false)
	dns2, ok5 := addr("SecondaryDNS", false)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return amt.StaticIPv4{}, false
	}
	m := mask.As4()
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	if v != 0 || bits == 0 || bits == 32 {
		return amt.StaticIPv4{}, false
	}
	p := netip.PrefixFrom(ip, bits)
	if gw.IsValid() && !p.Masked().Contains(gw) {
		return amt.StaticIPv4{}, false
	}
	return amt.StaticIPv4{Address: p, Gateway: gw, PrimaryDNS: dns1, SecondaryDNS: dns2}, true
}

// AMT_BootCapabilities, served for the property the network settings read
// (UEFIWiFiCoExistenceAndProfileShare, from CSME 16 where the platform has
// it); the other capabilities are those of go-wsman-messages' recorded
// amt/boot/capabilities responses, fixed (the simulator has no boot
// options).
func bootCapsClass() *class {
	inst := func(d *Device) *etree.Element {
		in := newInst(uriBootCaps).s("ElementName", "Intel(r) AMT: Boot Capabilities").s("InstanceID", bootCapsID)
		for _, p := range []struct {
			name string
			v    bool
		}{
			{"BIOSPause", false}, {"BIOSReflash", true}, {"BIOSSecureBoot", true}, {"BIOSSetup", true},
			{"ConfigurationDataReset", false}, {"ForceCDorDVDBoot", true}, {"ForceDiagnosticBoot", false},
			{"ForceHardDriveBoot", true}, {"ForceHardDriveSafeModeBoot", false}, {"ForcePXEBoot", true},
			{"ForcedProgressEvents", true}, {"IDER", true}, {"KeyboardLock", true}, {"PowerButtonLock", false},
			{"ResetButtonLock", false}, {"SOL", true}, {"SecureErase", false}, {"SleepButtonLock", false},
			{"UserPasswordBypass", true}, {"VerbosityQuiet", false}, {"VerbosityScreenBlank", false}, {"VerbosityVerbose", false},
		} {
			in.b(p.name, p.v)
		}
		if d.fw.UEFIWiFiProfileShare {
			in.b("UEFIWiFiCoExistenceAndProfileShare", d.cfg.Network.UEFIWiFiProfileShare)
		}
		return in.el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
	}
}

// NetworkSnapshot is what the network classes hold, for tests. Secrets are
// left out: check a passphrase with [Device.WiFiPassphraseIs].
type NetworkSnapshot struct {
	// Wired is the wired interface's addressing.
	WiredDHCP, WiredIPSync, WiredSharedStatic bool
	WiredStatic                               amt.StaticIPv4
	// WiFiPort is CIM_WiFiPort's EnabledState.
	WiFiPort amt.WiFiPortState
	// LocalProfileSync and UEFIProfileShare are the
	// AMT_WiFiPortConfigurationService policies.
	LocalProfileSync uint32
	UEFIProfileShare bool
	// Profiles are the Wi-Fi profiles in the order they were added.
	Profiles []WiFiProfileInfo
	// Connected names the profile the device is connected by ("" none).
	Connected string
}

// WiFiProfileInfo is one Wi-Fi profile the device holds.
type WiFiProfileInfo struct {
	Name, InstanceID, SSID string
	Priority               uint32
	AuthenticationMethod   uint32
	EncryptionMethod       uint32
	// User marks a profile the host OS added (local profile
	// synchronisation).
	User bool
	// IEEE8021x: the profile's 802.1X settings, nil for a personal network.
	IEEE8021x *WiFi8021xInfo
}

// WiFi8021xInfo is an enterprise profile's 802.1X settings.
type WiFi8021xInfo struct {
	InstanceID             string
	AuthenticationProtocol uint32
	Username               string
	ServerCertificateName  string
	ServerNameComparison   uint32
	PasswordSet            bool
	// Client and CA are the bound certificates (nil: none).
	Client, CA *CertificateInfo
}

// NetworkSnapshot returns the network state.
func (d *Device) NetworkSnapshot() NetworkSnapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := &d.st.net
	out := NetworkSnapshot{
		WiredDHCP: n.wired.dhcp, WiredIPSync: n.wired.ipSync, WiredSharedStatic: n.wired.sharedStatic, WiredStatic: n.wired.static,
		WiFiPort: n.portState, LocalProfileSync: n.sync, UEFIProfileShare: n.uefiShare, Connected: n.connected,
	}
	info := func(h int) *CertificateInfo {
		if e := d.certByID(certIDPrefix + strconv.Itoa(h)); h >= 0 && e != nil {
			return &CertificateInfo{InstanceID: e.instanceID(), Certificate: e.cert, TrustedRoot: e.trustedRoot}
		}
		return nil
	}
	for _, p := range n.profiles {
		pi := WiFiProfileInfo{Name: p.name, InstanceID: p.instanceID, SSID: p.ssid, Priority: p.priority,
			AuthenticationMethod: p.auth, EncryptionMethod: p.enc, User: p.user}
		if x := p.ieee; x != nil {
			pi.IEEE8021x = &WiFi8021xInfo{InstanceID: x.instanceID, AuthenticationProtocol: x.protocol, Username: x.username,
				ServerCertificateName: x.serverName, ServerNameComparison: x.serverCmp, PasswordSet: !x.password.IsZero(),
				Client: info(x.client), CA: info(x.ca)}
		}
		out.Profiles = append(out.Profiles, pi)
	}
	return out
}

// lanSettingsLocked is the GetLANInterfaceSettings answer for iface, from the
// state AMT_EthernetPortSettings shows: the wired interface holds the lease it
// shares with the host (DHCP mode passive) or its static address; the
// wireless one is up to DHCP, its link down. An interface the platform lacks
// is answered disabled, with no address and a zero MAC, and an index other
// than 0 or 1 is refused (3, INVALID_PARAMETER): both the simulator's choices,
// no source shows firmware's. d.mu is held.
func (d *Device) lanSettingsLocked(iface pthi.Interface) (pthi.LANSettings, bool) {
	mac := func(s string) net.HardwareAddr {
		m, _ := net.ParseMAC(s)
		return m
	}
	absent := pthi.LANSettings{IPv4: netip.IPv4Unspecified(), MAC: make(net.HardwareAddr, 6)}
	switch iface {
	case pthi.InterfaceWired:
		if d.cfg.Network.WirelessOnly {
			return absent, true
		}
		p := d.st.net.wired
		s := pthi.LANSettings{Enabled: true, DHCPEnabled: p.dhcp, LinkUp: true, MAC: mac(simWiredMAC)}
		if p.dhcp || p.ipSync {
			s.IPv4 = netip.MustParseAddr(dhcpLeaseAddr)
		} else {
			s.IPv4 = p.static.Address.Addr()
		}
		if p.dhcp {
			s.DHCPMode = pthi.DHCPModePassive
		}
		return s, true
	case pthi.InterfaceWireless:
		if d.cfg.Network.NoWireless {
			return absent, true
		}
		return pthi.LANSettings{Enabled: true, IPv4: netip.IPv4Unspecified(), DHCPEnabled: true, DHCPMode: pthi.DHCPModePassive, MAC: mac(simWirelessMAC)}, true
	}
	return pthi.LANSettings{}, false
}
