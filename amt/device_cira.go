package amt

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Client Initiated Remote Access (CIRA): the classes that make AMT open a
// tunnel to a Management Presence Server (MPS) — the MPS entries
// (AMT_ManagementPresenceRemoteSAP, created by AMT_RemoteAccessService
// AddMpServer), the policies that say when the tunnel is opened
// (AMT_RemoteAccessPolicyRule, AddRemoteAccessPolicyRule), the policy-to-MPS
// links (AMT_RemoteAccessPolicyAppliesToMPS), the home domains
// (AMT_EnvironmentDetectionSettingData) and the user-initiated trigger
// (AMT_UserInitiatedConnectionService). Flow and values as in the Intel AMT
// SDK ("Add a Management Presence Server", "Add a Remote Access Policy",
// "Configuring Environment Detection"), RPS src/stateMachines/ciraConfiguration.ts
// and MeshCentral amtmanager.js (attemptCiraSync); instance shapes as in
// go-wsman-messages' recorded amt/remoteaccess, amt/managementpresence,
// amt/environmentdetection and amt/userinitiatedconnection responses.
const (
	URIRemoteAccessService             = amtSchema + "AMT_RemoteAccessService"
	URIManagementPresenceRemoteSAP     = amtSchema + "AMT_ManagementPresenceRemoteSAP"
	URIRemoteAccessPolicyRule          = amtSchema + "AMT_RemoteAccessPolicyRule"
	URIRemoteAccessPolicyAppliesToMPS  = amtSchema + "AMT_RemoteAccessPolicyAppliesToMPS"
	URIEnvironmentDetectionSettingData = amtSchema + "AMT_EnvironmentDetectionSettingData"
	URIUserInitiatedConnectionService  = amtSchema + "AMT_UserInitiatedConnectionService"
)

// EnvironmentDetectionInstanceID is the InstanceID of the one
// AMT_EnvironmentDetectionSettingData instance (Intel AMT SDK, Configuring
// Environment Detection; go-wsman-messages amt/environmentdetection).
const EnvironmentDetectionInstanceID = "Intel(r) AMT Environment Detection Settings"

// MPSInfoFormat is AddMpServer's InfoFormat: how AccessInfo is written.
type MPSInfoFormat uint8

// MPS address formats (AMT_RemoteAccessService.AddMpServer ValueMap {3, 4, 201}).
const (
	MPSIPv4 MPSInfoFormat = 3
	MPSIPv6 MPSInfoFormat = 4
	MPSFQDN MPSInfoFormat = 201
)

// String returns "IPv4", "IPv6", "FQDN" or "format n".
func (f MPSInfoFormat) String() string {
	switch f {
	case MPSIPv4:
		return "IPv4"
	case MPSIPv6:
		return "IPv6"
	case MPSFQDN:
		return "FQDN"
	}
	return "format " + strconv.Itoa(int(f))
}

// InfoFormatOf returns the format of an MPS address: IPv4 or IPv6 for an IP
// literal, FQDN otherwise (MeshCentral amtmanager.js chooses so).
func InfoFormatOf(accessInfo string) MPSInfoFormat {
	a, err := netip.ParseAddr(accessInfo)
	switch {
	case err != nil:
		return MPSFQDN
	case a.Is4():
		return MPSIPv4
	}
	return MPSIPv6
}

// MPSAuthMethod is how AMT authenticates itself to the MPS.
type MPSAuthMethod uint8

// MPS authentication methods (AddMpServer ValueMap {1, 2}).
const (
	// MPSMutualAuth: AMT presents a client certificate (one whose key is in
	// AMT, named by AddMPServerRequest.Certificate) in the TLS handshake.
	MPSMutualAuth MPSAuthMethod = 1
	// MPSPasswordAuth: AMT sends a user name and password in the APF
	// USERAUTH_REQUEST (what RPS and MeshCentral configure).
	MPSPasswordAuth MPSAuthMethod = 2
)

// String returns "mutual TLS", "password" or "method n".
func (m MPSAuthMethod) String() string {
	switch m {
	case MPSMutualAuth:
		return "mutual TLS"
	case MPSPasswordAuth:
		return "password"
	}
	return "method " + strconv.Itoa(int(m))
}

// MPServer is an AMT_ManagementPresenceRemoteSAP instance: one MPS AMT may
// open a tunnel to. Name is its key ("Intel(r) AMT:Management Presence Server
// 0"); AccessInfo, InfoFormat and Port say where; CN is the name AMT checks
// the MPS certificate against when AccessInfo is an IP address.
type MPServer struct {
	Name        string
	ElementName string
	AccessInfo  string
	InfoFormat  MPSInfoFormat
	Port        uint16
	CN          string
}

// EPR returns the endpoint reference a policy rule uses to name the MPS
// (selector Name, as go-wsman-messages and MeshCentral send it).
func (s *MPServer) EPR() wsman.EPR { return mpServerEPR(s.Name) }

func mpServerEPR(name string) wsman.EPR {
	return wsman.EPR{ResourceURI: URIManagementPresenceRemoteSAP, Selectors: wsman.SelectorSet{wsman.Sel("Name", name)}}
}

func parseMPServer(el *etree.Element) (*MPServer, error) {
	s, err := parseAs[MPServer](el, URIManagementPresenceRemoteSAP)
	if err != nil {
		return nil, err
	}
	if s.Name == "" {
		return nil, fmt.Errorf("%w: AMT_ManagementPresenceRemoteSAP without Name", ErrBadResponse)
	}
	return s, nil
}

// MPServers enumerates AMT_ManagementPresenceRemoteSAP: the MPSs configured.
func (d *Device) MPServers(ctx context.Context) ([]MPServer, error) {
	return valuesOf(enumerateAll(ctx, d, URIManagementPresenceRemoteSAP, parseMPServer))
}

// DeleteMPServer deletes the MPS named name (selector Name, as MeshCentral and
// go-wsman-messages address it). The firmware refuses to delete an MPS a
// policy links to ([StatusNotPermitted]): delete those policies first
// (Intel AMT SDK, Remove a Management Presence Server; rpc-go's clearCIRA
// and MeshCentral's attemptCiraSyncResponse remove policies before MPSs).
func (d *Device) DeleteMPServer(ctx context.Context, name string) error {
	if name == "" {
		return opError(URIManagementPresenceRemoteSAP, "Delete", fmt.Errorf("%w: no MPS name", ErrInvalidArgument))
	}
	return d.del(ctx, URIManagementPresenceRemoteSAP, wsman.SelectorSet{wsman.Sel("Name", name)})
}

// AddMPServerRequest is the input of AMT_RemoteAccessService.AddMpServer.
type AddMPServerRequest struct {
	// AccessInfo is the MPS's IP address or FQDN (at most 256 bytes).
	AccessInfo string
	// InfoFormat says which; zero: [InfoFormatOf](AccessInfo).
	InfoFormat MPSInfoFormat
	// Port is the MPS's TLS port (RPS and MeshCentral default to 4433).
	Port uint16
	// AuthMethod is how AMT authenticates to the MPS.
	AuthMethod MPSAuthMethod
	// Certificate is the InstanceID of the AMT_PublicKeyCertificate (with its
	// key in AMT) AMT presents with MPSMutualAuth.
	Certificate string
	// Username and Password are sent in the APF USERAUTH_REQUEST with
	// MPSPasswordAuth: user names of 1 to 16 letters and digits
	// ([CheckMPSUsername]), strong passwords of 8 to 16 characters
	// ([CheckMPSPassword]).
	Username string
	Password Secret
	// CN is the name AMT expects in the MPS certificate when AccessInfo is an
	// IP address (RPS sends it only for IPv4 addresses).
	CN string
}

// Check applies the firmware's documented rules to the request.
func (r *AddMPServerRequest) Check() error {
	if r.AccessInfo == "" || len(r.AccessInfo) > 256 {
		return fmt.Errorf("%w: AccessInfo must be 1 to 256 bytes, got %d", ErrInvalidArgument, len(r.AccessInfo))
	}
	if r.Port == 0 {
		return fmt.Errorf("%w: no MPS port", ErrInvalidArgument)
	}
	switch f := r.format(); f {
	case MPSIPv4, MPSIPv6:
		if InfoFormatOf(r.AccessInfo) != f {
			return fmt.Errorf("%w: AccessInfo %q is not an %s address", ErrInvalidArgument, r.AccessInfo, f)
		}
	case MPSFQDN:
	default:
		return fmt.Errorf("%w: InfoFormat %d (expected 3, 4 or 201)", ErrInvalidArgument, f)
	}
	switch r.AuthMethod {
	case MPSPasswordAuth:
		if err := CheckMPSUsername(r.Username); err != nil {
			return err
		}
		if err := CheckMPSPassword(r.Password); err != nil {
			return err
		}
	case MPSMutualAuth:
		if r.Certificate == "" {
			return fmt.Errorf("%w: mutual authentication needs the InstanceID of a certificate whose key is in AMT", ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("%w: AuthMethod %d (expected 1 or 2)", ErrInvalidArgument, r.AuthMethod)
	}
	return nil
}

func (r *AddMPServerRequest) format() MPSInfoFormat {
	if r.InfoFormat != 0 {
		return r.InfoFormat
	}
	return InfoFormatOf(r.AccessInfo)
}

// CheckMPSUsername applies the Intel AMT SDK's rule for MPS user names: 1 to 16
// alphanumeric characters (AMT_RemoteAccessService.AddMpServer's Username:
// "Limited to … alphanumeric characters", intel/lms AMT_RemoteAccessService.h
// and go-wsman-messages remoteaccess types.go; RPS ciraValidator.ts accepts
// ^[a-zA-Z0-9]+$ "as per AMT SDK").
func CheckMPSUsername(u string) error {
	if u == "" || len(u) > 16 {
		return fmt.Errorf("%w: an MPS user name has 1 to 16 characters, got %d", ErrInvalidArgument, len(u))
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return fmt.Errorf("%w: MPS user name character %d is not a letter or digit (AddMpServer takes alphanumeric user names)", ErrInvalidArgument, i)
		}
	}
	return nil
}

// CheckMPSPassword applies the Intel AMT SDK's rule for MPS passwords: a strong
// password ([CheckPassword]) of 8 to 16 characters.
func CheckMPSPassword(pw Secret) error {
	if n := pw.Len(); n < 8 || n > 16 {
		return fmt.Errorf("%w: an MPS password has 8 to 16 characters, got %d", ErrInvalidArgument, n)
	}
	if err := CheckPassword(pw.Reveal()); err != nil {
		return fmt.Errorf("%w: MPS password: %w", ErrInvalidArgument, err)
	}
	return nil
}

// AddMPServer calls AMT_RemoteAccessService.AddMpServer and returns the Name
// of the AMT_ManagementPresenceRemoteSAP it created. Parameters go in the MOF
// order (AccessInfo, InfoFormat, Port, AuthMethod, Certificate, Username,
// Password, CN: Intel AMT SDK class reference; MeshCentral amt-wsman.js); the
// password is masked in logged envelopes. PT_STATUS 2058 (StatusDuplicate)
// answers an MPS that exists, 23 (StatusMaxLimitReached) a full table
// (AMT_RemoteAccessCapabilities.MaxTotalMpServers).
func (d *Device) AddMPServer(ctx context.Context, r AddMPServerRequest) (string, error) {
	const method = "AddMpServer"
	if err := r.Check(); err != nil {
		return "", opError(URIRemoteAccessService, method, err)
	}
	props := []wsman.Property{
		wsman.Prop("AccessInfo", r.AccessInfo),
		wsman.Prop("InfoFormat", strconv.Itoa(int(r.format()))),
		wsman.Prop("Port", strconv.Itoa(int(r.Port))),
		wsman.Prop("AuthMethod", strconv.Itoa(int(r.AuthMethod))),
	}
	if r.AuthMethod == MPSMutualAuth {
		props = append(props, wsman.PropEPR("Certificate", instanceEPR(URIPublicKeyCertificate, r.Certificate)))
	} else {
		props = append(props, wsman.Prop("Username", r.Username), wsman.Prop("Password", r.Password.Reveal()))
	}
	if r.CN != "" {
		props = append(props, wsman.Prop("CN", r.CN))
	}
	out, err := d.invoke(ctx, URIRemoteAccessService, method, nil, props...)
	if err != nil {
		return "", err
	}
	name, err := createdSelector(out, "MpServer", "Name")
	return name, opError(URIRemoteAccessService, method, err)
}

// createdSelector reads the EPR output name and returns its selector sel.
func createdSelector(out *etree.Element, name, sel string) (string, error) {
	el := wsman.Child(out, "", name)
	if el == nil {
		return "", fmt.Errorf("%w: no %s in %s", ErrBadResponse, name, out.Tag)
	}
	epr, err := wsman.ParseEPR(el)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrBadResponse, name, err)
	}
	v, ok := epr.Selectors.Get(sel)
	if !ok || v == "" {
		return "", fmt.Errorf("%w: %s has no %s selector", ErrBadResponse, name, sel)
	}
	return v, nil
}

// RemoteAccessTrigger is the event that makes AMT open the tunnel.
type RemoteAccessTrigger uint8

// Remote access triggers (AMT_RemoteAccessPolicyRule.Trigger ValueMap).
const (
	TriggerUserInitiated RemoteAccessTrigger = 0
	TriggerAlert         RemoteAccessTrigger = 1
	TriggerPeriodic      RemoteAccessTrigger = 2
	// TriggerHomeProvisioning is in the class's ValueMap but not a trigger a
	// policy can be added with (Intel AMT SDK, Add a Remote Access Policy,
	// lists 0–2): AddRemoteAccessPolicyRule refuses it.
	TriggerHomeProvisioning RemoteAccessTrigger = 3
)

// String returns the policy-rule name AMT gives a rule of the trigger ("User
// Initiated", "Alert", "Periodic"; MeshCentral amtmanager.js deletes rules by
// these names), or "trigger n".
func (t RemoteAccessTrigger) String() string {
	switch t {
	case TriggerUserInitiated:
		return "User Initiated"
	case TriggerAlert:
		return "Alert"
	case TriggerPeriodic:
		return "Periodic"
	case TriggerHomeProvisioning:
		return "Home Provisioning"
	}
	return "trigger " + strconv.Itoa(int(t))
}

// RemoteAccessPolicyRule is an AMT_RemoteAccessPolicyRule instance.
type RemoteAccessPolicyRule struct {
	// PolicyRuleName is its key ("Periodic", "User Initiated", "Alert").
	PolicyRuleName string
	ElementName    string
	Trigger        RemoteAccessTrigger
	// TunnelLifeTime is how long the tunnel stays open, in seconds; 0: until
	// it is closed (or a policy with a higher priority needs it).
	TunnelLifeTime uint32
	// ExtendedData is the periodic trigger's timing (see [PeriodicInterval]
	// and [ParsePeriodic]), empty for the other triggers.
	ExtendedData []byte
}

// EPR returns the endpoint reference that names the rule (selector
// PolicyRuleName).
func (r *RemoteAccessPolicyRule) EPR() wsman.EPR {
	return wsman.EPR{ResourceURI: URIRemoteAccessPolicyRule, Selectors: wsman.SelectorSet{wsman.Sel("PolicyRuleName", r.PolicyRuleName)}}
}

func parseRemoteAccessPolicyRule(el *etree.Element) (*RemoteAccessPolicyRule, error) {
	r, err := parseAs[RemoteAccessPolicyRule](el, URIRemoteAccessPolicyRule)
	if err != nil {
		return nil, err
	}
	if r.PolicyRuleName == "" {
		return nil, fmt.Errorf("%w: AMT_RemoteAccessPolicyRule without PolicyRuleName", ErrBadResponse)
	}
	return r, nil
}

// RemoteAccessPolicyRules enumerates AMT_RemoteAccessPolicyRule.
func (d *Device) RemoteAccessPolicyRules(ctx context.Context) ([]RemoteAccessPolicyRule, error) {
	return valuesOf(enumerateAll(ctx, d, URIRemoteAccessPolicyRule, parseRemoteAccessPolicyRule))
}

// DeleteRemoteAccessPolicyRule deletes the rule named name (selector
// PolicyRuleName, as MeshCentral addresses it).
func (d *Device) DeleteRemoteAccessPolicyRule(ctx context.Context, name string) error {
	if name == "" {
		return opError(URIRemoteAccessPolicyRule, "Delete", fmt.Errorf("%w: no policy rule name", ErrInvalidArgument))
	}
	return d.del(ctx, URIRemoteAccessPolicyRule, wsman.SelectorSet{wsman.Sel("PolicyRuleName", name)})
}

// RemoteAccessPolicy is the input of AddRemoteAccessPolicyRule.
type RemoteAccessPolicy struct {
	Trigger        RemoteAccessTrigger
	TunnelLifeTime uint32
	// ExtendedData: [PeriodicInterval] or [PeriodicDaily] for a periodic
	// trigger; empty otherwise.
	ExtendedData []byte
}

// AddRemoteAccessPolicyRule calls AMT_RemoteAccessService.AddRemoteAccessPolicyRule:
// a policy whose trigger opens a tunnel to the MPSs named (one or two: the
// first is the primary, the second its backup; Intel AMT SDK, Add a Remote
// Access Policy). It returns the PolicyRuleName of the rule created.
// PT_STATUS 2058 (StatusDuplicate) answers a second rule of the same trigger.
func (d *Device) AddRemoteAccessPolicyRule(ctx context.Context, p RemoteAccessPolicy, mpServers ...string) (string, error) {
	const method = "AddRemoteAccessPolicyRule"
	if len(mpServers) == 0 || len(mpServers) > 2 {
		return "", opError(URIRemoteAccessService, method, fmt.Errorf("%w: a policy names one or two MPSs, got %d", ErrInvalidArgument, len(mpServers)))
	}
	if p.Trigger > TriggerPeriodic {
		return "", opError(URIRemoteAccessService, method, fmt.Errorf("%w: trigger %d (a policy's trigger is 0 user-initiated, 1 alert or 2 periodic)", ErrInvalidArgument, p.Trigger))
	}
	if len(p.ExtendedData) > 32 {
		return "", opError(URIRemoteAccessService, method, fmt.Errorf("%w: ExtendedData is at most 32 bytes, got %d", ErrInvalidArgument, len(p.ExtendedData)))
	}
	if p.Trigger == TriggerPeriodic {
		if _, err := ParsePeriodic(p.ExtendedData); err != nil {
			return "", opError(URIRemoteAccessService, method, err)
		}
	}
	props := []wsman.Property{
		wsman.Prop("Trigger", strconv.Itoa(int(p.Trigger))),
		wsman.Prop("TunnelLifeTime", strconv.FormatUint(uint64(p.TunnelLifeTime), 10)),
		wsman.Prop("ExtendedData", base64.StdEncoding.EncodeToString(p.ExtendedData)),
	}
	for _, name := range mpServers {
		if name == "" {
			return "", opError(URIRemoteAccessService, method, fmt.Errorf("%w: an empty MPS name", ErrInvalidArgument))
		}
		props = append(props, wsman.PropEPR("MpServer", mpServerEPR(name)))
	}
	out, err := d.invoke(ctx, URIRemoteAccessService, method, nil, props...)
	if err != nil {
		return "", err
	}
	name, err := createdSelector(out, "PolicyRule", "PolicyRuleName")
	return name, opError(URIRemoteAccessService, method, err)
}

// Periodic is the timing of a periodic trigger (ExtendedData: big-endian
// uint32s, Intel AMT SDK "Add a Remote Access Policy").
type Periodic struct {
	// Daily: connect every day at Hour:Minute; otherwise every Interval
	// seconds.
	Daily        bool
	Interval     uint32
	Hour, Minute uint32
}

// PeriodicInterval returns the ExtendedData of a periodic trigger that
// connects every seconds seconds: uint32 0, uint32 seconds (RPS uses 25,
// MeshCentral 10).
func PeriodicInterval(seconds uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	return binary.BigEndian.AppendUint32(b, seconds)
}

// PeriodicDaily returns the ExtendedData of a periodic trigger that connects
// every day at hour:minute: uint32 1, uint32 hour, uint32 minute.
func PeriodicDaily(hour, minute uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1)
	b = binary.BigEndian.AppendUint32(b, hour)
	return binary.BigEndian.AppendUint32(b, minute)
}

// ParsePeriodic decodes a periodic trigger's ExtendedData: 8 bytes (interval)
// or 12 (daily, hour 0–23, minute 0–59); anything else is an error.
func ParsePeriodic(b []byte) (Periodic, error) {
	bad := func(why string) (Periodic, error) {
		return Periodic{}, fmt.Errorf("%w: periodic ExtendedData: %s", ErrInvalidArgument, why)
	}
	if len(b) < 4 {
		return bad(fmt.Sprintf("%d bytes, expected 8 or 12", len(b)))
	}
	switch binary.BigEndian.Uint32(b) {
	case 0:
		if len(b) != 8 {
			return bad(fmt.Sprintf("an interval has 8 bytes, got %d", len(b)))
		}
		p := Periodic{Interval: binary.BigEndian.Uint32(b[4:])}
		if p.Interval == 0 {
			return bad("interval 0")
		}
		return p, nil
	case 1:
		if len(b) != 12 {
			return bad(fmt.Sprintf("a daily time has 12 bytes, got %d", len(b)))
		}
		p := Periodic{Daily: true, Hour: binary.BigEndian.Uint32(b[4:]), Minute: binary.BigEndian.Uint32(b[8:])}
		if p.Hour > 23 || p.Minute > 59 {
			return bad(fmt.Sprintf("time %d:%d", p.Hour, p.Minute))
		}
		return p, nil
	}
	return bad(fmt.Sprintf("type %d, expected 0 (interval) or 1 (daily)", binary.BigEndian.Uint32(b)))
}

// String describes the timing, e.g. "every 25s" or "daily at 02:30".
func (p Periodic) String() string {
	if p.Daily {
		return fmt.Sprintf("daily at %02d:%02d", p.Hour, p.Minute)
	}
	return fmt.Sprintf("every %ds", p.Interval)
}

// MPSType says whether an MPS serves devices outside the home network,
// inside it, or both (AMT_RemoteAccessPolicyAppliesToMPS.MpsType, Intel AMT
// 11.6 and later per MeshCentral amtmanager.js).
type MPSType uint8

// MPS types.
const (
	MPSExternal MPSType = 0
	MPSInternal MPSType = 1
	MPSBoth     MPSType = 2
)

// String returns "external", "internal", "both" or "type n".
func (t MPSType) String() string {
	switch t {
	case MPSExternal:
		return "external"
	case MPSInternal:
		return "internal"
	case MPSBoth:
		return "both"
	}
	return "type " + strconv.Itoa(int(t))
}

// PolicyAppliesToMPS is an AMT_RemoteAccessPolicyAppliesToMPS instance: a
// policy rule (PolicySet) linked to an MPS (ManagedElement).
type PolicyAppliesToMPS struct {
	ManagedElement wsman.EPR
	PolicySet      wsman.EPR
	MpsType        MPSType
	OrderOfAccess  uint32

	src *source
}

// MPServerName returns the Name selector of the linked MPS.
func (p *PolicyAppliesToMPS) MPServerName() string {
	v, _ := p.ManagedElement.Selectors.Get("Name")
	return v
}

// PolicyRuleName returns the PolicyRuleName selector of the linked rule.
func (p *PolicyAppliesToMPS) PolicyRuleName() string {
	v, _ := p.PolicySet.Selectors.Get("PolicyRuleName")
	return v
}

func parsePolicyAppliesToMPS(el *etree.Element) (*PolicyAppliesToMPS, error) {
	if err := checkInstance(el, URIRemoteAccessPolicyAppliesToMPS); err != nil {
		return nil, err
	}
	p := &PolicyAppliesToMPS{}
	src, err := decodeInstance(el, p)
	if err != nil {
		return nil, err
	}
	if p.MPServerName() == "" || p.PolicyRuleName() == "" {
		return nil, fmt.Errorf("%w: AMT_RemoteAccessPolicyAppliesToMPS without ManagedElement Name or PolicySet PolicyRuleName", ErrBadResponse)
	}
	p.src = src
	return p, nil
}

// RemoteAccessPolicyAppliesToMPS enumerates the policy-to-MPS links.
func (d *Device) RemoteAccessPolicyAppliesToMPS(ctx context.Context) ([]*PolicyAppliesToMPS, error) {
	return enumerateAll(ctx, d, URIRemoteAccessPolicyAppliesToMPS, parsePolicyAppliesToMPS)
}

// PutRemoteAccessPolicyAppliesToMPS writes p back (RPS sets MpsType to both):
// Put addressed by its two EPR-valued keys, ManagedElement and PolicySet (as
// RPS's putRemoteAccessPolicyAppliesToMPS), the body as read with the changed
// properties replaced.
func (d *Device) PutRemoteAccessPolicyAppliesToMPS(ctx context.Context, p *PolicyAppliesToMPS) error {
	const op = "Put"
	if p == nil {
		return opError(URIRemoteAccessPolicyAppliesToMPS, op, ErrNotReadFromDevice)
	}
	if p.MpsType > MPSBoth {
		return opError(URIRemoteAccessPolicyAppliesToMPS, op, fmt.Errorf("%w: MpsType %d", ErrInvalidArgument, p.MpsType))
	}
	body, err := p.src.edited(p, nil, nil)
	if err != nil {
		return opError(URIRemoteAccessPolicyAppliesToMPS, op, err)
	}
	_, err = d.put(ctx, URIRemoteAccessPolicyAppliesToMPS, wsman.SelectorSet{
		wsman.SelEPR("ManagedElement", p.ManagedElement),
		wsman.SelEPR("PolicySet", p.PolicySet),
	}, body)
	return err
}

// EnvironmentDetectionSettingData is the AMT_EnvironmentDetectionSettingData
// instance: the domains that tell AMT it is inside the home network. AMT
// compares the DNS suffix DHCP gave it (option 15) with DetectionStrings; a
// match means "inside", where an external MPS is not used. RPS writes one
// random "<uuid>.com" (so that a device is never inside and always calls its
// MPS); MeshCentral a random string or the domains configured.
type EnvironmentDetectionSettingData struct {
	InstanceID  string
	ElementName string
	// DetectionAlgorithm: 0 local domains (DetectionStrings), 1 remote URLs.
	DetectionAlgorithm uint8
	// DetectionStrings are the home domains (each at most 190 characters).
	DetectionStrings []string
	// DetectionIPv6LocalPrefixes are home IPv6 prefixes.
	DetectionIPv6LocalPrefixes []string

	src *source
}

func parseEnvironmentDetection(el *etree.Element) (*EnvironmentDetectionSettingData, error) {
	return parseSourced[EnvironmentDetectionSettingData](el, URIEnvironmentDetectionSettingData)
}

func (s *EnvironmentDetectionSettingData) setSource(src *source) { s.src = src }

// EnvironmentDetection reads AMT_EnvironmentDetectionSettingData (Get, no
// selector, as RPS reads it).
func (d *Device) EnvironmentDetection(ctx context.Context) (*EnvironmentDetectionSettingData, error) {
	return getAs(ctx, d, URIEnvironmentDetectionSettingData, nil, parseEnvironmentDetection)
}

// PutEnvironmentDetection writes s back, addressed by InstanceID (as
// go-wsman-messages does): the instance as read with DetectionStrings and the
// other changed properties replaced (an empty DetectionStrings removes them).
func (d *Device) PutEnvironmentDetection(ctx context.Context, s *EnvironmentDetectionSettingData) (*EnvironmentDetectionSettingData, error) {
	const op = "Put"
	if s == nil {
		return nil, opError(URIEnvironmentDetectionSettingData, op, ErrNotReadFromDevice)
	}
	for _, ds := range s.DetectionStrings {
		if ds == "" || len(ds) > 190 {
			return nil, opError(URIEnvironmentDetectionSettingData, op, fmt.Errorf("%w: a detection string has 1 to 190 characters, got %d", ErrInvalidArgument, len(ds)))
		}
	}
	id := s.InstanceID
	if id == "" {
		id = EnvironmentDetectionInstanceID
	}
	return putEdited(ctx, d, URIEnvironmentDetectionSettingData, wsman.SelectorSet{wsman.Sel("InstanceID", id)}, s.src, s, nil, nil, parseEnvironmentDetection)
}

// Inside reports whether a device whose DHCP DNS suffix is suffix considers
// itself inside the home network under these settings: the suffix equals a
// detection string or ends with "." and one (case-insensitive).
func (s *EnvironmentDetectionSettingData) Inside(suffix string) bool {
	suffix = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(suffix)), ".")
	if suffix == "" {
		return false
	}
	for _, d := range s.DetectionStrings {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d != "" && (suffix == d || strings.HasSuffix(suffix, "."+d)) {
			return true
		}
	}
	return false
}

// UserInitiatedState is AMT_UserInitiatedConnectionService's EnabledState: where
// a user may start a CIRA connection (MeshCentral amtmanager.js: 32768
// disabled, 32769 BIOS, 32770 OS, 32771 both).
type UserInitiatedState uint16

// User-initiated connection states.
const (
	UserInitiatedDisabled  UserInitiatedState = 32768
	UserInitiatedBIOS      UserInitiatedState = 32769
	UserInitiatedOS        UserInitiatedState = 32770
	UserInitiatedBIOSAndOS UserInitiatedState = 32771
)

// String returns "disabled", "BIOS", "OS", "BIOS and OS" or "state n".
func (s UserInitiatedState) String() string {
	switch s {
	case UserInitiatedDisabled:
		return "disabled"
	case UserInitiatedBIOS:
		return "BIOS"
	case UserInitiatedOS:
		return "OS"
	case UserInitiatedBIOSAndOS:
		return "BIOS and OS"
	}
	return "state " + strconv.Itoa(int(s))
}

// UserInitiatedConnection reads AMT_UserInitiatedConnectionService's
// EnabledState (Get, no selector).
func (d *Device) UserInitiatedConnection(ctx context.Context) (UserInitiatedState, error) {
	el, err := d.get(ctx, URIUserInitiatedConnectionService, nil)
	if err != nil {
		return 0, err
	}
	var s struct{ EnabledState uint16 }
	if err := wsman.Unmarshal(el, &s); err != nil {
		return 0, opError(URIUserInitiatedConnectionService, "Get", fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	return UserInitiatedState(s.EnabledState), nil
}

// SetUserInitiatedConnection calls
// AMT_UserInitiatedConnectionService.RequestStateChange (RPS requests 32771,
// BIOS and OS).
func (d *Device) SetUserInitiatedConnection(ctx context.Context, s UserInitiatedState) error {
	if s < UserInitiatedDisabled || s > UserInitiatedBIOSAndOS {
		return opError(URIUserInitiatedConnectionService, "RequestStateChange", fmt.Errorf("%w: state %d (expected 32768 to 32771)", ErrInvalidArgument, s))
	}
	_, err := d.invoke(ctx, URIUserInitiatedConnectionService, "RequestStateChange", nil,
		wsman.Prop("RequestedState", strconv.Itoa(int(s))))
	return err
}

// RemoteAccessService is what AMT_RemoteAccessService reports: whether the
// tunnel is up and its keep-alive timeout (both from CSME 17,
// go-wsman-messages amt/remoteaccess; absent before).
type RemoteAccessService struct {
	Name                         string
	IsRemoteTunnelConnected      *bool
	RemoteTunnelKeepAliveTimeout *uint32
}

// RemoteAccess reads AMT_RemoteAccessService (Get, no selector).
func (d *Device) RemoteAccess(ctx context.Context) (*RemoteAccessService, error) {
	el, err := d.get(ctx, URIRemoteAccessService, nil)
	if err != nil {
		return nil, err
	}
	var s RemoteAccessService
	if err := wsman.Unmarshal(el, &s); err != nil {
		return nil, opError(URIRemoteAccessService, "Get", fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	return &s, nil
}
