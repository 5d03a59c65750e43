package amt

import (
	"context"
	"fmt"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// GeneralSettings is the AMT_GeneralSettings singleton
// (intel/lms AMT_GeneralSettings.h; go-wsman-messages amt/general). Properties
// the device omitted read as zero values; [Device.PutGeneralSettings] writes
// only the fields changed since the read.
type GeneralSettings struct {
	InstanceID  string // "Intel(r) AMT: General Settings"
	ElementName string
	// DigestRealm is the HTTP digest realm, "Digest:" + 32 upper-case hex
	// digits; every digest hash AMT stores uses it. Read-only.
	DigestRealm string
	// HostName is AMT's host name (at most 63 bytes).
	HostName string
	// DomainName is AMT's domain name (at most 191 bytes).
	DomainName string
	// AMTNetworkEnabled: 1 enabled, 0 disabled. Setting 0 switches off AMT's
	// network interface and cannot be undone remotely.
	AMTNetworkEnabled       uint32
	NetworkInterfaceEnabled bool // read-only
	// SharedFQDN: the host and AMT share HostName.DomainName (default true).
	SharedFQDN                    bool
	PingResponseEnabled           bool
	RmcpPingResponseEnabled       bool
	DHCPSyncRequiresHostname      uint32 // 0 disabled, 1 enabled
	PreferredAddressFamily        uint32 // 0 IPv4, 1 IPv6
	PrivacyLevel                  uint32 // read-only: 0 default, 1 enhanced, 2 extreme
	PowerSource                   uint32 // read-only: 0 AC, 1 DC
	ThunderboltDockEnabled        uint32 // 0 disabled, 1 enabled (AMT 15+)
	IdleWakeTimeout               uint32 // minutes
	WsmanOnlyMode                 bool
	DHCPv6ConfigurationTimeout    uint16
	DDNSUpdateEnabled             bool
	DDNSUpdateByDHCPServerEnabled bool
	HostOSFQDN                    string
	DDNSTTL                       uint32 // seconds
	DDNSPeriodicUpdateInterval    uint32 // minutes
	PresenceNotificationInterval  uint32 // minutes

	src *source
}

// parseGeneralSettings reads an AMT_GeneralSettings instance.
func parseGeneralSettings(el *etree.Element) (*GeneralSettings, error) {
	return parseSourced[GeneralSettings](el, URIGeneralSettings)
}

func (gs *GeneralSettings) setSource(src *source) { gs.src = src }

// GeneralSettings reads AMT_GeneralSettings (Get, no selector).
func (d *Device) GeneralSettings(ctx context.Context) (*GeneralSettings, error) {
	return getAs(ctx, d, URIGeneralSettings, nil, parseGeneralSettings)
}

// PutGeneralSettings writes s back (Put, no selector): the instance the device
// sent when s was read, with the properties changed since replaced. It returns
// the instance the device stored. s must come from [Device.GeneralSettings]
// (or an earlier Put).
func (d *Device) PutGeneralSettings(ctx context.Context, s *GeneralSettings) (*GeneralSettings, error) {
	if s == nil {
		return nil, opError(URIGeneralSettings, "Put", ErrNotReadFromDevice)
	}
	if len(s.HostName) > 63 || len(s.DomainName) > 191 {
		return nil, opError(URIGeneralSettings, "Put", fmt.Errorf("%w: HostName is at most 63 bytes and DomainName at most 191 (got %d and %d)",
			ErrInvalidArgument, len(s.HostName), len(s.DomainName)))
	}
	return putEdited(ctx, d, URIGeneralSettings, nil, s.src, s, nil, nil, parseGeneralSettings)
}

// SetHostName reads the general settings, sets HostName and DomainName, and
// writes them back; every other property is echoed as read.
func (d *Device) SetHostName(ctx context.Context, hostName, domainName string) (*GeneralSettings, error) {
	gs, err := d.GeneralSettings(ctx)
	if err != nil {
		return nil, err
	}
	gs.HostName, gs.DomainName = hostName, domainName
	return d.PutGeneralSettings(ctx, gs)
}

// SoftwareIdentity is what CIM_SoftwareIdentity reports: one VersionString per
// InstanceID ("AMT", "Flash", "Sku", "Build Number" …), and the AMT firmware
// version parsed from the "AMT" instance.
type SoftwareIdentity struct {
	// Version is the AMT firmware version (major.minor.build).
	Version Version
	// Components maps every InstanceID to its VersionString as sent.
	Components map[string]string
}

// softwareVersionID is the CIM_SoftwareIdentity InstanceID of the firmware.
const softwareVersionID = "AMT"

func parseSoftwareIdentity(els []*etree.Element) (*SoftwareIdentity, error) {
	si := &SoftwareIdentity{Components: make(map[string]string, len(els))}
	for _, el := range els {
		if err := checkInstance(el, URISoftwareIdentity); err != nil {
			return nil, err
		}
		var item struct {
			InstanceID    string
			VersionString string
		}
		if err := wsman.Unmarshal(el, &item); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
		}
		si.Components[item.InstanceID] = item.VersionString
	}
	vs, ok := si.Components[softwareVersionID]
	if !ok {
		return nil, fmt.Errorf("%w: no CIM_SoftwareIdentity with InstanceID %q", ErrNotFound, softwareVersionID)
	}
	v, err := ParseVersion(vs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	si.Version = v
	return si, nil
}

// SoftwareIdentity enumerates CIM_SoftwareIdentity.
func (d *Device) SoftwareIdentity(ctx context.Context) (*SoftwareIdentity, error) {
	els, err := d.enumerate(ctx, URISoftwareIdentity)
	if err != nil {
		return nil, err
	}
	si, err := parseSoftwareIdentity(els)
	return si, opError(URISoftwareIdentity, "Enumerate", err)
}

// Version returns the AMT firmware version (the VersionString of the
// CIM_SoftwareIdentity instance "AMT").
func (d *Device) Version(ctx context.Context) (Version, error) {
	si, err := d.SoftwareIdentity(ctx)
	if err != nil {
		return Version{}, err
	}
	return si.Version, nil
}
