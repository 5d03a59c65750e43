package amt

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Resource URIs of the Wi-Fi classes (intel/lms CIM_Framework class headers,
// CLASS_URI; go-wsman-messages pkg/wsman/amt/wifiportconfiguration and
// pkg/wsman/cim/wifi).
const (
	URIWiFiPortConfigurationService = amtSchema + "AMT_WiFiPortConfigurationService"
	URIWiFiEndpointSettings         = cimSchema + "CIM_WiFiEndpointSettings"
	URIWiFiEndpoint                 = cimSchema + "CIM_WiFiEndpoint"
	URIWiFiPort                     = cimSchema + "CIM_WiFiPort"
	URICIMIEEE8021xSettings         = cimSchema + "CIM_IEEE8021xSettings"
	URICIMCredentialContext         = cimSchema + "CIM_CredentialContext"
	URIBootCapabilities             = amtSchema + "AMT_BootCapabilities"
)

// WiFiEndpointName is the Name of the one CIM_WiFiEndpoint AMT has, the
// endpoint AddWiFiSettings attaches a profile to (RPS
// wifiNetworkConfiguration.ts, rpc-go configure/wireless.go).
const WiFiEndpointName = "WiFi Endpoint 0"

// WiFiAuthenticationMethod is CIM_WiFiEndpointSettings.AuthenticationMethod
// (DMTF CIM_WiFiEndpointSettings 2.22 as shipped in intel/lms
// CIM_WiFiEndpointSettings.h, with Intel's vendor values 32768 and 32769).
type WiFiAuthenticationMethod uint16

// Wi-Fi authentication methods. AMT takes IT profiles of WPA or stronger
// (Intel AMT Developer Guide, Wireless Configuration Concepts).
const (
	WiFiAuthOpenSystem     WiFiAuthenticationMethod = 2
	WiFiAuthSharedKey      WiFiAuthenticationMethod = 3
	WiFiAuthWPAPSK         WiFiAuthenticationMethod = 4
	WiFiAuthWPAIEEE8021X   WiFiAuthenticationMethod = 5
	WiFiAuthWPA2PSK        WiFiAuthenticationMethod = 6
	WiFiAuthWPA2IEEE8021X  WiFiAuthenticationMethod = 7
	WiFiAuthWPA3SAE        WiFiAuthenticationMethod = 32768 // WPA3-Personal
	WiFiAuthWPA3OWE        WiFiAuthenticationMethod = 32769 // Opportunistic Wireless Encryption
	wifiAuthVendorBoundary WiFiAuthenticationMethod = 32768
)

// IEEE8021X reports whether m authenticates with 802.1X (an enterprise network).
func (m WiFiAuthenticationMethod) IEEE8021X() bool {
	return m == WiFiAuthWPAIEEE8021X || m == WiFiAuthWPA2IEEE8021X
}

// PSK reports whether m authenticates with a passphrase (a personal network).
func (m WiFiAuthenticationMethod) PSK() bool {
	return m == WiFiAuthWPAPSK || m == WiFiAuthWPA2PSK || m == WiFiAuthWPA3SAE
}

// WiFiEncryptionMethod is CIM_WiFiEndpointSettings.EncryptionMethod (the same
// sources; GCMP-256 is Intel's vendor value).
type WiFiEncryptionMethod uint16

// Wi-Fi encryption methods.
const (
	WiFiEncryptionWEP     WiFiEncryptionMethod = 2
	WiFiEncryptionTKIP    WiFiEncryptionMethod = 3
	WiFiEncryptionCCMP    WiFiEncryptionMethod = 4
	WiFiEncryptionNone    WiFiEncryptionMethod = 5
	WiFiEncryptionGCMP256 WiFiEncryptionMethod = 32768
)

// ServerNameComparison is CIM_IEEE8021xSettings.ServerCertificateNameComparison:
// how the device compares ServerCertificateName with the RADIUS server's
// certificate (DMTF CIM_IEEE8021xSettings 2.22: 1 Other, 2 FullName, 3
// DomainSuffix). The legacy AMT_8021XProfile uses 0 and 1 instead.
type ServerNameComparison uint16

// Server name comparisons.
const (
	ServerNameFullName     ServerNameComparison = 2
	ServerNameDomainSuffix ServerNameComparison = 3
)

// WiFiPortState is the RequestedState of CIM_WiFiPort.RequestStateChange and
// the EnabledState the port reports (go-wsman-messages cim/wifi decoder;
// RPS and rpc-go request 32769).
type WiFiPortState uint32

// Wi-Fi port states.
const (
	WiFiDisabled        WiFiPortState = 3
	WiFiEnabledS0       WiFiPortState = 32768 // while the host runs
	WiFiEnabledS0SxAC   WiFiPortState = 32769 // also in sleep states on AC power
	wifiPortStateString               = "WiFiPortState"
)

// String returns "disabled", "enabled in S0", "enabled in S0 and Sx on AC" or
// "WiFiPortState(n)".
func (s WiFiPortState) String() string {
	switch s {
	case WiFiDisabled:
		return "disabled"
	case WiFiEnabledS0:
		return "enabled in S0"
	case WiFiEnabledS0SxAC:
		return "enabled in S0 and Sx on AC"
	}
	return wifiPortStateString + "(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// LocalProfileSync is
// AMT_WiFiPortConfigurationService.localProfileSynchronizationEnabled: whether
// the host OS (through LMS) may add its own Wi-Fi profiles to AMT as user
// profiles (go-wsman-messages wifiportconfiguration types.go; Intel AMT SDK,
// User Profiles and Admin Profiles).
type LocalProfileSync uint32

// Local profile synchronisation policies.
const (
	LocalSyncDisabled     LocalProfileSync = 0
	LocalSyncUserProfiles LocalProfileSync = 1
	LocalSyncUnrestricted LocalProfileSync = 3
)

// Enabled reports whether the policy lets the host synchronise profiles.
func (p LocalProfileSync) Enabled() bool {
	return p == LocalSyncUserProfiles || p == LocalSyncUnrestricted
}

// WiFiEndpointSettings is a CIM_WiFiEndpointSettings instance: one Wi-Fi
// profile. The passphrase is write-only.
type WiFiEndpointSettings struct {
	// InstanceID is what the device calls the profile
	// ("Intel(r) AMT:WiFi Endpoint Settings <name>"; sent in that form when
	// empty, as rpc-go, RPS and MeshCentral send it); ElementName its name.
	InstanceID           string
	ElementName          string
	SSID                 string
	Priority             uint32
	AuthenticationMethod WiFiAuthenticationMethod
	EncryptionMethod     WiFiEncryptionMethod
	// BSSType: 3 infrastructure. Zero: not sent, as no peer sends it
	// (firmware profiles are infrastructure).
	BSSType uint16
	// PSKPassPhrase is sent, never read (8–63 characters).
	PSKPassPhrase Secret `wsman:"-"`
}

func parseWiFiEndpointSettings(el *etree.Element) (*WiFiEndpointSettings, error) {
	s, err := parseAs[WiFiEndpointSettings](el, URIWiFiEndpointSettings)
	if err != nil {
		return nil, err
	}
	if s.InstanceID == "" {
		return nil, fmt.Errorf("%w: CIM_WiFiEndpointSettings without InstanceID", ErrBadResponse)
	}
	return s, nil
}

// WiFiProfiles enumerates CIM_WiFiEndpointSettings: every Wi-Fi profile the
// device holds, IT and user profiles alike.
func (d *Device) WiFiProfiles(ctx context.Context) ([]WiFiEndpointSettings, error) {
	return valuesOf(enumerateAll(ctx, d, URIWiFiEndpointSettings, parseWiFiEndpointSettings))
}

// DeleteWiFiProfile deletes the CIM_WiFiEndpointSettings with instanceID and,
// with it, its 802.1X settings (rpc-go configure/wireless.go
// ClearWirelessProfiles). The firmware refuses the profile it is connected by
// (Intel AMT SDK, User Profiles and Admin Profiles).
func (d *Device) DeleteWiFiProfile(ctx context.Context, instanceID string) error {
	if instanceID == "" {
		return opError(URIWiFiEndpointSettings, "Delete", fmt.Errorf("%w: no InstanceID", ErrInvalidArgument))
	}
	return d.del(ctx, URIWiFiEndpointSettings, wsman.SelectorSet{wsman.Sel("InstanceID", instanceID)})
}

// WiFiIEEE8021xSettings is a CIM_IEEE8021xSettings instance: the 802.1X part
// of an enterprise Wi-Fi profile. AMT names it
// "Intel(r) AMT:IEEE 802.1x Settings <ElementName>" (go-wsman-messages
// recorded cim/ieee8021x/settings/pull.xml). Password is write-only. Sent
// with an empty InstanceID, the name is filled in that form (ElementName, or
// the profile's when empty).
type WiFiIEEE8021xSettings struct {
	InstanceID                      string
	ElementName                     string
	AuthenticationProtocol          EAPMethod
	RoamingIdentity                 string
	ServerCertificateName           string
	ServerCertificateNameComparison ServerNameComparison
	Username                        string
	Domain                          string
	// Password is sent (PEAP-MSCHAPv2), never read.
	Password Secret `wsman:"-"`
}

func parseWiFiIEEE8021xSettings(el *etree.Element) (*WiFiIEEE8021xSettings, error) {
	return parseAs[WiFiIEEE8021xSettings](el, URICIMIEEE8021xSettings)
}

// WiFiIEEE8021xSettings enumerates CIM_IEEE8021xSettings: the 802.1X settings
// of the device's enterprise Wi-Fi profiles.
func (d *Device) WiFiIEEE8021xSettings(ctx context.Context) ([]WiFiIEEE8021xSettings, error) {
	return valuesOf(enumerateAll(ctx, d, URICIMIEEE8021xSettings, parseWiFiIEEE8021xSettings))
}

// CredentialContexts enumerates CIM_CredentialContext, which lists every
// certificate binding of the device: TLS, wired 802.1X and, the only place
// they show, the client and CA certificates of each enterprise Wi-Fi profile
// (ElementProvidingContext is then its CIM_IEEE8021xSettings).
func (d *Device) CredentialContexts(ctx context.Context) ([]CredentialContext, error) {
	return d.credentialContexts(ctx, URICIMCredentialContext)
}

// WiFiSettings is what AddWiFiSettings and UpdateWiFiSettings send: a profile
// and, for an enterprise network, its 802.1X settings and the
// AMT_PublicKeyCertificate InstanceIDs of the client certificate (EAP-TLS)
// and of the CA that issued the RADIUS server's certificate.
type WiFiSettings struct {
	Endpoint WiFiEndpointSettings
	// IEEE8021x is sent for an 802.1X authentication method only.
	IEEE8021x *WiFiIEEE8021xSettings
	// ClientCertificate is required for EAP-TLS, allowed for EAP-FAST/TLS and
	// refused for every other method; CACertificate names the
	// trusted root the device validates the RADIUS server with (empty: none,
	// the server is not validated).
	ClientCertificate string
	CACertificate     string
}

// embedded builds an embedded instance for a method parameter: the class
// element with its own prefix, so that copying its namespace declaration onto
// the parameter element does not rebind the method's prefix.
func embedded(uri string, props ...wsman.Property) *etree.Element {
	el := etree.NewElement("q:" + wsman.ClassName(uri))
	el.CreateAttr("xmlns:q", uri)
	for _, p := range props {
		wsman.AddProperty(el, p)
	}
	return el
}

func (s *WiFiSettings) check(method string) error {
	e := s.Endpoint
	switch {
	case e.ElementName == "" || e.SSID == "":
		return fmt.Errorf("%w: %s needs the profile's ElementName and SSID", ErrInvalidArgument, method)
	case len(e.SSID) > 32:
		return fmt.Errorf("%w: SSID is at most 32 bytes, got %d", ErrInvalidArgument, len(e.SSID))
	case !ValidWiFiProfileName(e.ElementName):
		return fmt.Errorf("%w: profile name %q: AMT takes 1 to 32 letters and digits", ErrInvalidArgument, e.ElementName)
	case s.IEEE8021x != nil && s.IEEE8021x.ElementName != "" && !ValidWiFiProfileName(s.IEEE8021x.ElementName):
		return fmt.Errorf("%w: 802.1X settings name %q: AMT takes 1 to 32 letters and digits", ErrInvalidArgument, s.IEEE8021x.ElementName)
	case e.Priority > 255:
		return fmt.Errorf("%w: priority %d: AMT keeps an 8-bit priority (1 to 255)", ErrInvalidArgument, e.Priority)
	case e.AuthenticationMethod.PSK() && (e.PSKPassPhrase.Len() < 8 || e.PSKPassPhrase.Len() > 63):
		return fmt.Errorf("%w: a passphrase of 8 to 63 characters is required for authentication method %d, got %d characters",
			ErrInvalidArgument, e.AuthenticationMethod, e.PSKPassPhrase.Len())
	case e.AuthenticationMethod.PSK() && strings.IndexFunc(e.PSKPassPhrase.Reveal(), func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0:
		// IEEE 802.11's passphrase-to-PSK mapping takes printable ASCII
		// only (802.11i-2004 Annex H.4); the firmware refuses others.
		return fmt.Errorf("%w: the passphrase must be printable ASCII characters", ErrInvalidArgument)
	case !xmlText(e.SSID):
		return fmt.Errorf("%w: SSID %q: only UTF-8 text without control characters can be sent", ErrInvalidArgument, e.SSID)
	case e.AuthenticationMethod.IEEE8021X() && s.IEEE8021x == nil:
		return fmt.Errorf("%w: authentication method %d needs 802.1X settings", ErrInvalidArgument, e.AuthenticationMethod)
	case e.AuthenticationMethod.IEEE8021X() && !(xmlText(s.IEEE8021x.Username) && xmlText(s.IEEE8021x.Domain) &&
		xmlText(s.IEEE8021x.RoamingIdentity) && xmlText(s.IEEE8021x.ServerCertificateName)):
		return fmt.Errorf("%w: 802.1X settings Username %q, Domain %q, RoamingIdentity %q, ServerCertificateName %q: only UTF-8 text without control characters can be sent",
			ErrInvalidArgument, s.IEEE8021x.Username, s.IEEE8021x.Domain, s.IEEE8021x.RoamingIdentity, s.IEEE8021x.ServerCertificateName)
	case e.AuthenticationMethod.IEEE8021X() && !xmlText(s.IEEE8021x.Password.Reveal()):
		return fmt.Errorf("%w: the 802.1X password: only UTF-8 text without control characters can be sent", ErrInvalidArgument)
	case e.AuthenticationMethod.IEEE8021X() && s.IEEE8021x.AuthenticationProtocol == EAPTLS && s.ClientCertificate == "":
		return fmt.Errorf("%w: EAP-TLS needs a client certificate", ErrInvalidArgument)
	case e.AuthenticationMethod.IEEE8021X() && s.ClientCertificate != "" &&
		s.IEEE8021x.AuthenticationProtocol != EAPTLS && s.IEEE8021x.AuthenticationProtocol != EAPFASTTLS:
		// RPS sends no client certificate for PEAP (wifiNetworkConfiguration.ts);
		// rpc-go binds one only for EAP-TLS.
		return fmt.Errorf("%w: a client certificate is sent only with EAP-TLS or EAP-FAST/TLS, not with EAP method %d", ErrInvalidArgument, s.IEEE8021x.AuthenticationProtocol)
	}
	return nil
}

// xmlText reports whether s can be sent as the text of a property: UTF-8
// whose characters XML 1.0 allows (no U+FFFE, U+FFFF), without control
// characters. Before, such a string went out as it was and the request was
// not well-formed XML (found by review).
func xmlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF })
}

// ValidWiFiProfileName reports whether name may name a Wi-Fi profile or its
// 802.1X settings: 1 to 32 ASCII letters and digits. Other characters are "a
// limitation of AMT itself" (a maintainer in device-management-toolkit/rps
// issue 932); RPS wirelessValidator.ts and ieee8021xValidator.ts and rpc-go
// configure/wireless.go accept only these.
func ValidWiFiProfileName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// The InstanceIDs firmware reports for a Wi-Fi profile and its 802.1X
// settings (go-wsman-messages' recorded CIM_WiFiEndpointSettings and
// CIM_IEEE8021xSettings pulls). The embedded instances sent carry them when
// the caller names none. rpc-go (configure wireless), RPS
// (wifiNetworkConfiguration.ts), Intel's console and MeshCentral
// (attemptWifiSync) send the profile's in this form; for the 802.1X settings
// rpc-go (setIeee8021xConfig) and RPS (addWifiConfigs) send "Intel(r) AMT:
// 8021X Settings <name>" and MeshCentral none, so the firmware names them
// itself, in the form sent here.
const (
	wifiEndpointSettingsIDPrefix = "Intel(r) AMT:WiFi Endpoint Settings "
	wifiIEEE8021xIDPrefix        = "Intel(r) AMT:IEEE 802.1x Settings "
)

// params renders the inputs that follow the first one, in the MOF order:
// WiFiEndpointSettingsInput, IEEE8021xSettingsInput, ClientCredential,
// CACredential (intel/lms AMT_WiFiPortConfigurationService.h). Inside the
// embedded instances the properties come in the order every peer proven on
// firmware sends (go-wsman-messages cim/wifi and cim/models, as rpc-go, RPS
// and MeshCentral send them): for the profile ElementName, InstanceID,
// AuthenticationMethod, EncryptionMethod, SSID, Priority, PSKPassPhrase —
// BSSType, which no peer sends, only when the caller sets it, last; for the
// 802.1X settings ElementName, InstanceID, AuthenticationProtocol,
// RoamingIdentity, ServerCertificateName(Comparison), Username, Password,
// Domain.
func (s *WiFiSettings) params() []wsman.Property {
	e := s.Endpoint
	if e.InstanceID == "" {
		e.InstanceID = wifiEndpointSettingsIDPrefix + e.ElementName
	}
	ep := []wsman.Property{
		wsman.Prop("ElementName", e.ElementName),
		wsman.Prop("InstanceID", e.InstanceID),
		wsman.Prop("AuthenticationMethod", strconv.FormatUint(uint64(e.AuthenticationMethod), 10)),
		wsman.Prop("EncryptionMethod", strconv.FormatUint(uint64(e.EncryptionMethod), 10)),
		wsman.Prop("SSID", e.SSID),
		wsman.Prop("Priority", strconv.FormatUint(uint64(e.Priority), 10)),
	}
	if e.AuthenticationMethod.PSK() {
		ep = append(ep, wsman.Prop("PSKPassPhrase", e.PSKPassPhrase.Reveal()))
	}
	if e.BSSType != 0 {
		ep = append(ep, wsman.Prop("BSSType", strconv.FormatUint(uint64(e.BSSType), 10)))
	}
	out := []wsman.Property{wsman.PropElement("WiFiEndpointSettingsInput", embedded(URIWiFiEndpointSettings, ep...))}
	if !e.AuthenticationMethod.IEEE8021X() || s.IEEE8021x == nil {
		return out
	}
	x := *s.IEEE8021x
	if x.InstanceID == "" {
		name := x.ElementName
		if name == "" {
			name = e.ElementName
		}
		x.InstanceID = wifiIEEE8021xIDPrefix + name
	}
	var xp []wsman.Property
	opt := func(name, v string) {
		if v != "" {
			xp = append(xp, wsman.Prop(name, v))
		}
	}
	opt("ElementName", x.ElementName)
	opt("InstanceID", x.InstanceID)
	xp = append(xp, wsman.Prop("AuthenticationProtocol", strconv.FormatUint(uint64(x.AuthenticationProtocol), 10)))
	opt("RoamingIdentity", x.RoamingIdentity)
	if x.ServerCertificateName != "" {
		xp = append(xp, wsman.Prop("ServerCertificateName", x.ServerCertificateName))
		cmp := x.ServerCertificateNameComparison
		if cmp == 0 {
			cmp = ServerNameFullName
		}
		xp = append(xp, wsman.Prop("ServerCertificateNameComparison", strconv.FormatUint(uint64(cmp), 10)))
	}
	opt("Username", x.Username)
	if x.AuthenticationProtocol != EAPTLS && !x.Password.IsZero() {
		xp = append(xp, wsman.Prop("Password", x.Password.Reveal()))
	}
	opt("Domain", x.Domain)
	out = append(out, wsman.PropElement("IEEE8021xSettingsInput", embedded(URICIMIEEE8021xSettings, xp...)))
	if s.ClientCertificate != "" {
		out = append(out, wsman.PropEPR("ClientCredential", instanceEPR(URIPublicKeyCertificate, s.ClientCertificate)))
	}
	if s.CACertificate != "" {
		out = append(out, wsman.PropEPR("CACredential", instanceEPR(URIPublicKeyCertificate, s.CACertificate)))
	}
	return out
}

// AddWiFiSettings adds an IT Wi-Fi profile with
// AMT_WiFiPortConfigurationService.AddWiFiSettings: the CIM_WiFiEndpointSettings
// (and, for 802.1X, the CIM_IEEE8021xSettings) attached to CIM_WiFiEndpoint
// "WiFi Endpoint 0", with the certificates bound. Install the RADIUS server's
// root with [Device.AddTrustedRootCertificate] and the client certificate
// with [Device.AddCertificate] first (RPS wifiNetworkConfiguration.ts).
// The ReturnValue is the CIM map: 0 completed, 1 not supported, 2 failed,
// 3 invalid parameter, 4 invalid reference, 32768 + PT_STATUS (a
// [*ReturnValueError] matching the Status).
//
// Settings AMT cannot take are refused before anything is sent, with an error
// matching [ErrInvalidArgument] that names the field: a profile name other
// than 1 to 32 letters and digits ([ValidWiFiProfileName]), an empty SSID or
// one over 32 bytes, a priority above 255, a PSK passphrase other than 8 to 63 printable ASCII characters, and
// an SSID or 802.1X Username, Domain, RoamingIdentity, ServerCertificateName
// or Password that is not UTF-8 or holds control characters (the request is
// XML).
func (d *Device) AddWiFiSettings(ctx context.Context, s WiFiSettings) error {
	const method = "AddWiFiSettings"
	if err := s.check(method); err != nil {
		return opError(URIWiFiPortConfigurationService, method, err)
	}
	endpoint := wsman.EPR{ResourceURI: URIWiFiEndpoint, Selectors: wsman.SelectorSet{wsman.Sel("Name", WiFiEndpointName)}}
	props := append([]wsman.Property{wsman.PropEPR("WiFiEndpoint", endpoint)}, s.params()...)
	_, err := d.invoke(ctx, URIWiFiPortConfigurationService, method, nil, props...)
	return err
}

// UpdateWiFiSettings replaces the settings of the profile s.Endpoint.InstanceID
// names (the name cannot change) with AMT_WiFiPortConfigurationService.
// UpdateWiFiSettings: every property is sent again, changed or not, and the
// certificates given are bound anew — the way a renewed EAP-TLS client
// certificate reaches a Wi-Fi profile. Configuration Manager updates every
// profile except the one in use (Configuration Manager 2012, How to Manage
// AMT Provisioning Information). Settings are checked before sending as
// [Device.AddWiFiSettings] checks them; an empty InstanceID is refused too
// ([ErrInvalidArgument]).
func (d *Device) UpdateWiFiSettings(ctx context.Context, s WiFiSettings) error {
	const method = "UpdateWiFiSettings"
	if s.Endpoint.InstanceID == "" {
		return opError(URIWiFiPortConfigurationService, method, fmt.Errorf("%w: the profile's InstanceID is required", ErrInvalidArgument))
	}
	if err := s.check(method); err != nil {
		return opError(URIWiFiPortConfigurationService, method, err)
	}
	target := instanceEPR(URIWiFiEndpointSettings, s.Endpoint.InstanceID)
	props := append([]wsman.Property{wsman.PropEPR("WiFiEndpointSettings", target)}, s.params()...)
	_, err := d.invoke(ctx, URIWiFiPortConfigurationService, method, nil, props...)
	return err
}

// WiFiPortConfiguration is the AMT_WiFiPortConfigurationService singleton:
// the host synchronisation and UEFI sharing policies, and the SSID AMT last
// connected to on its own.
type WiFiPortConfiguration struct {
	ElementName string
	// LocalProfileSynchronization lets the host OS add its profiles
	// (user profiles) to AMT (from AMT 6).
	LocalProfileSynchronization LocalProfileSync `wsman:"localProfileSynchronizationEnabled"`
	// UEFIWiFiProfileShareEnabled shares the Wi-Fi profiles with UEFI
	// (CSME 16 and later, where AMT_BootCapabilities says the platform can).
	UEFIWiFiProfileShareEnabled bool
	// LastConnectedSsidUnderMeControl is the network AMT last joined while it
	// controlled the link itself (host off or without its driver).
	LastConnectedSsidUnderMeControl string
	NoHostCsmeSoftwarePolicy        uint32

	src *source
}

func parseWiFiPortConfiguration(el *etree.Element) (*WiFiPortConfiguration, error) {
	return parseSourced[WiFiPortConfiguration](el, URIWiFiPortConfigurationService)
}

func (s *WiFiPortConfiguration) setSource(src *source) { s.src = src }

// WiFiPortConfiguration reads AMT_WiFiPortConfigurationService (Get, no
// selector). A device without a wireless interface answers
// DestinationUnreachable (errors.Is(err, wsman.ErrDestinationUnreachable)).
func (d *Device) WiFiPortConfiguration(ctx context.Context) (*WiFiPortConfiguration, error) {
	return getAs(ctx, d, URIWiFiPortConfigurationService, nil, parseWiFiPortConfiguration)
}

// PutWiFiPortConfiguration writes s back (Put, no selector): the instance as
// read with the changed properties replaced; localProfileSynchronizationEnabled
// is always sent, as RPS and rpc-go do.
func (d *Device) PutWiFiPortConfiguration(ctx context.Context, s *WiFiPortConfiguration) (*WiFiPortConfiguration, error) {
	if s == nil {
		return nil, opError(URIWiFiPortConfigurationService, "Put", ErrNotReadFromDevice)
	}
	return putEdited(ctx, d, URIWiFiPortConfigurationService, nil, s.src, s, []string{"localProfileSynchronizationEnabled"}, nil, parseWiFiPortConfiguration)
}

// WiFiPort is the CIM_WiFiPort instance ("WiFi Port 0").
type WiFiPort struct {
	DeviceID         string
	ElementName      string
	EnabledState     WiFiPortState
	RequestedState   WiFiPortState
	PermanentAddress string // the MAC address, twelve hex digits
	LinkTechnology   uint16
	PortType         uint16
}

func parseWiFiPort(el *etree.Element) (*WiFiPort, error) {
	return parseAs[WiFiPort](el, URIWiFiPort)
}

// WiFiPort reads the device's CIM_WiFiPort by enumerating the class, as
// Intel's console does (GetWiFiPorts): on a platform without a wireless
// interface the enumeration is empty (console issue 1057, pull request 1087),
// which gives an error matching [ErrNotFound]. Firmware without the class at
// all answers DestinationUnreachable (wsman.ErrDestinationUnreachable).
func (d *Device) WiFiPort(ctx context.Context) (*WiFiPort, error) {
	ports, err := enumerateAll(ctx, d, URIWiFiPort, parseWiFiPort)
	if err != nil {
		return nil, err
	}
	if len(ports) == 0 {
		return nil, opError(URIWiFiPort, "Enumerate", fmt.Errorf("%w: the device has no wireless interface", ErrNotFound))
	}
	return ports[0], nil
}

// RequestWiFiPortState switches AMT's use of the wireless interface with
// CIM_WiFiPort.RequestStateChange: [WiFiEnabledS0SxAC] (what RPS and rpc-go
// request), [WiFiEnabledS0] or [WiFiDisabled]. A CIM method: a non-zero
// ReturnValue gives a [*ReturnValueError].
func (d *Device) RequestWiFiPortState(ctx context.Context, state WiFiPortState) error {
	switch state {
	case WiFiDisabled, WiFiEnabledS0, WiFiEnabledS0SxAC:
	default:
		return opError(URIWiFiPort, "RequestStateChange", fmt.Errorf("%w: state %d", ErrInvalidArgument, state))
	}
	_, err := d.invoke(ctx, URIWiFiPort, "RequestStateChange", nil,
		wsman.Prop("RequestedState", strconv.FormatUint(uint64(state), 10)))
	return err
}

// UEFIWiFiProfileShareSupported reads
// AMT_BootCapabilities.UEFIWiFiCoExistenceAndProfileShare: whether the
// platform can share Wi-Fi profiles with UEFI (RPS and rpc-go read it before
// setting UEFIWiFiProfileShareEnabled). A device whose AMT_BootCapabilities
// lacks the property answers false.
func (d *Device) UEFIWiFiProfileShareSupported(ctx context.Context) (bool, error) {
	el, err := d.get(ctx, URIBootCapabilities, nil)
	if err != nil {
		return false, err
	}
	var v struct{ UEFIWiFiCoExistenceAndProfileShare bool }
	if err := wsman.Unmarshal(el, &v); err != nil {
		return false, opError(URIBootCapabilities, "Get", fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	return v.UEFIWiFiCoExistenceAndProfileShare, nil
}
