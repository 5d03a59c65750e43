package amt

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// URIEthernetPortSettings is AMT_EthernetPortSettings (intel/lms
// AMT_EthernetPortSettings.h).
const URIEthernetPortSettings = amtSchema + "AMT_EthernetPortSettings"

// Instance IDs of AMT_EthernetPortSettings: the wired interface is instance 0,
// the wireless one instance 1 (Intel AMT SDK, as RPS networkConfiguration.ts
// and rpc-go configure/wifisync.go read them).
const (
	WiredPortSettingsID    = "Intel(r) AMT Ethernet Port Settings 0"
	WirelessPortSettingsID = "Intel(r) AMT Ethernet Port Settings 1"
)

// EthernetPortSettings is one AMT_EthernetPortSettings instance: how AMT
// addresses one network interface. The property comments are the Intel AMT
// SDK class reference's as quoted by intel/lms and go-wsman-messages.
type EthernetPortSettings struct {
	InstanceID  string
	ElementName string
	// MACAddress is read-only ("01-02-3f-b0-99-99").
	MACAddress string
	LinkIsUp   bool
	// SharedMAC: AMT shares its MAC address with the host.
	SharedMAC bool
	// DHCPEnabled: AMT takes its IPv4 settings from DHCP. Required on Put.
	DHCPEnabled bool
	// IPSyncEnabled (IpSyncEnabled): AMT follows the host OS's IP settings.
	IPSyncEnabled bool `wsman:"IpSyncEnabled"`
	// SharedStaticIP (SharedStaticIp): AMT shares the host's static address
	// (with IpSyncEnabled, DHCP off).
	SharedStaticIP bool `wsman:"SharedStaticIp"`
	// SharedDynamicIP (read-only): AMT shares the host's DHCP address.
	SharedDynamicIP bool
	// IPAddress reports the address in use; a Put sets it in static mode only.
	IPAddress      string
	SubnetMask     string
	DefaultGateway string
	PrimaryDNS     string
	SecondaryDNS   string
	// PhysicalConnectionType: 0 integrated LAN, 1 discrete LAN, 2 LAN through
	// a Thunderbolt dock, 3 wireless LAN (from AMT 15).
	PhysicalConnectionType uint32
	// LinkPolicy lists the power states the link serves (1 S0 AC, 14 Sx AC,
	// 16 S0 DC, 224 Sx DC).
	LinkPolicy []uint32
	// ConsoleTCPMaxRetransmissions (ConsoleTcpMaxRetransmissions): 5 to 7.
	ConsoleTCPMaxRetransmissions uint32 `wsman:"ConsoleTcpMaxRetransmissions"`

	src *source
}

// Wireless reports whether the instance is the wireless interface's.
func (s *EthernetPortSettings) Wireless() bool {
	return s.InstanceID == WirelessPortSettingsID || s.PhysicalConnectionType == 3
}

// HasInterface reports whether the device has the interface: AMT lists the
// wireless instance even without a wireless NIC, with MAC address
// 00-00-00-00-00-00 (go-wsman-messages recorded amt/ethernetport/pull.xml;
// rpc-go hasWiFiHardware tests the MAC address too).
func (s *EthernetPortSettings) HasInterface() bool {
	m := strings.Trim(strings.NewReplacer("-", "", ":", "").Replace(s.MACAddress), "0")
	return m != ""
}

func parseEthernetPortSettings(el *etree.Element) (*EthernetPortSettings, error) {
	if err := checkInstance(el, URIEthernetPortSettings); err != nil {
		return nil, err
	}
	s := &EthernetPortSettings{}
	src, err := decodeInstance(el, s)
	if err != nil {
		return nil, err
	}
	if s.InstanceID == "" {
		return nil, fmt.Errorf("%w: AMT_EthernetPortSettings without InstanceID", ErrBadResponse)
	}
	s.src = src
	return s, nil
}

// EthernetPortSettings enumerates AMT_EthernetPortSettings: the wired
// interface first, then the wireless one.
func (d *Device) EthernetPortSettings(ctx context.Context) ([]*EthernetPortSettings, error) {
	return enumerateAll(ctx, d, URIEthernetPortSettings, parseEthernetPortSettings)
}

// EthernetPort reads one AMT_EthernetPortSettings instance by InstanceID.
func (d *Device) EthernetPort(ctx context.Context, instanceID string) (*EthernetPortSettings, error) {
	return getAs(ctx, d, URIEthernetPortSettings, wsman.SelectorSet{wsman.Sel("InstanceID", instanceID)}, parseEthernetPortSettings)
}

// StaticIPv4 is a static IPv4 configuration: address and prefix, gateway and
// DNS servers.
type StaticIPv4 struct {
	Address      netip.Prefix
	Gateway      netip.Addr
	PrimaryDNS   netip.Addr
	SecondaryDNS netip.Addr // optional
}

// Mask returns the dotted subnet mask of the prefix ("255.255.255.0").
func (s StaticIPv4) Mask() string {
	bits := s.Address.Bits()
	if bits < 0 || bits > 32 {
		return ""
	}
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

// Check reports what is missing or malformed: an IPv4 address with a prefix
// of 1 to 31 bits, an IPv4 gateway inside the prefix and a primary DNS server
// (what rpc-go's configure wired requires), and an optional IPv4 secondary.
func (s StaticIPv4) Check() error {
	a := s.Address.Addr()
	switch {
	case !s.Address.IsValid() || !a.Is4():
		return fmt.Errorf("%w: static address %v is not an IPv4 address with a prefix", ErrInvalidArgument, s.Address)
	case s.Address.Bits() < 1 || s.Address.Bits() > 31:
		return fmt.Errorf("%w: prefix length /%d, expected 1 to 31", ErrInvalidArgument, s.Address.Bits())
	case !s.Gateway.Is4() || !s.Address.Masked().Contains(s.Gateway):
		return fmt.Errorf("%w: gateway %v is not an IPv4 address in %v", ErrInvalidArgument, s.Gateway, s.Address.Masked())
	case !s.PrimaryDNS.Is4():
		return fmt.Errorf("%w: primary DNS %v is not an IPv4 address", ErrInvalidArgument, s.PrimaryDNS)
	case s.SecondaryDNS.IsValid() && !s.SecondaryDNS.Is4():
		return fmt.Errorf("%w: secondary DNS %v is not an IPv4 address", ErrInvalidArgument, s.SecondaryDNS)
	}
	return nil
}

// addressProps are the properties a static configuration sets, removed in
// DHCP and synchronised modes (RPS wiredNetworkConfiguration.ts, the table in
// putEthernetPortSettings).
var addressProps = []string{"IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS"}

// SetDHCP sets DHCP mode: DHCPEnabled and IpSyncEnabled true, SharedStaticIp
// false, no static addresses (RPS and rpc-go's DHCP row).
func (s *EthernetPortSettings) SetDHCP() {
	s.DHCPEnabled, s.IPSyncEnabled, s.SharedStaticIP = true, true, false
	s.IPAddress, s.SubnetMask, s.DefaultGateway, s.PrimaryDNS, s.SecondaryDNS = "", "", "", "", ""
}

// SetStaticSynced sets static mode with the address synchronised with the
// host OS: AMT shares the host's static address (DHCPEnabled false,
// IpSyncEnabled and SharedStaticIp true, no addresses sent).
func (s *EthernetPortSettings) SetStaticSynced() {
	s.DHCPEnabled, s.IPSyncEnabled, s.SharedStaticIP = false, true, true
	s.IPAddress, s.SubnetMask, s.DefaultGateway, s.PrimaryDNS, s.SecondaryDNS = "", "", "", "", ""
}

// SetStatic sets AMT's own static configuration (DHCPEnabled, IpSyncEnabled
// and SharedStaticIp false; address, mask, gateway and DNS servers set).
func (s *EthernetPortSettings) SetStatic(c StaticIPv4) error {
	if err := c.Check(); err != nil {
		return err
	}
	s.DHCPEnabled, s.IPSyncEnabled, s.SharedStaticIP = false, false, false
	s.IPAddress, s.SubnetMask = c.Address.Addr().String(), c.Mask()
	s.DefaultGateway, s.PrimaryDNS = c.Gateway.String(), c.PrimaryDNS.String()
	s.SecondaryDNS = ""
	if c.SecondaryDNS.IsValid() {
		s.SecondaryDNS = c.SecondaryDNS.String()
	}
	return nil
}

// Static returns the static configuration s holds, and false when s is not in
// AMT's own static mode or its values do not parse.
func (s *EthernetPortSettings) Static() (StaticIPv4, bool) {
	if s.DHCPEnabled || s.IPSyncEnabled {
		return StaticIPv4{}, false
	}
	a, err1 := netip.ParseAddr(s.IPAddress)
	m, err2 := netip.ParseAddr(s.SubnetMask)
	gw, err3 := netip.ParseAddr(s.DefaultGateway)
	dns, err4 := netip.ParseAddr(s.PrimaryDNS)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !m.Is4() {
		return StaticIPv4{}, false
	}
	mb := m.As4()
	v := uint32(mb[0])<<24 | uint32(mb[1])<<16 | uint32(mb[2])<<8 | uint32(mb[3])
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return StaticIPv4{}, false // not a contiguous mask
	}
	out := StaticIPv4{Address: netip.PrefixFrom(a, bits), Gateway: gw, PrimaryDNS: dns}
	if sec, err := netip.ParseAddr(s.SecondaryDNS); err == nil && !sec.IsUnspecified() {
		out.SecondaryDNS = sec // 0.0.0.0 is read as none: a cleared server may be reported so
	}
	return out, true
}

// PutEthernetPortSettings writes s back (Put with its InstanceID): the
// instance as read with the changed properties replaced, DHCPEnabled always
// sent (the class reference calls it required), and in DHCP or synchronised
// mode the address properties removed (RPS). It refuses before sending what
// the firmware would: static mode without address and mask, and a static
// address on the wireless interface, which is DHCP only (Intel, An
// Introduction to Intel AMT Wireless Connections).
func (d *Device) PutEthernetPortSettings(ctx context.Context, s *EthernetPortSettings) (*EthernetPortSettings, error) {
	const op = "Put"
	if s == nil || s.src == nil {
		return nil, opError(URIEthernetPortSettings, op, ErrNotReadFromDevice)
	}
	static := !s.DHCPEnabled && !s.IPSyncEnabled
	switch {
	case s.Wireless() && !s.DHCPEnabled:
		return nil, opError(URIEthernetPortSettings, op, fmt.Errorf("%w: the wireless interface takes DHCP only", ErrInvalidArgument))
	case static && (s.IPAddress == "" || s.SubnetMask == ""):
		return nil, opError(URIEthernetPortSettings, op, fmt.Errorf("%w: static mode without IP sync needs IPAddress and SubnetMask", ErrInvalidArgument))
	}
	var drop []string
	if !static {
		drop = addressProps
	} else {
		// An address the caller cleared (no secondary DNS server) is
		// removed, not sent empty.
		for i, v := range []string{s.IPAddress, s.SubnetMask, s.DefaultGateway, s.PrimaryDNS, s.SecondaryDNS} {
			if v == "" {
				drop = append(drop, addressProps[i])
			}
		}
	}
	return putEdited(ctx, d, URIEthernetPortSettings, wsman.SelectorSet{wsman.Sel("InstanceID", s.InstanceID)}, s.src, s, []string{"DHCPEnabled"}, drop, parseEthernetPortSettings)
}
