package amtsim

import (
	"slices"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// Resource URIs and names of the Wi-Fi classes (intel/lms CIM_Framework
// headers; instance names as in go-wsman-messages' recorded responses and
// what RPS and rpc-go send).
const (
	uriWiFiConfig     = amtNS + "AMT_WiFiPortConfigurationService"
	uriWiFiSettings   = cimNS + "CIM_WiFiEndpointSettings"
	uriWiFiEndpoint   = cimNS + "CIM_WiFiEndpoint"
	uriWiFiPort       = cimNS + "CIM_WiFiPort"
	uriCIMIEEE        = cimNS + "CIM_IEEE8021xSettings"
	wifiEndpointName  = "WiFi Endpoint 0"
	wifiPortID        = "WiFi Port 0"
	wifiSettingsIDPfx = "Intel(r) AMT:WiFi Endpoint Settings "
	wifiIEEEIDPfx     = "Intel(r) AMT:IEEE 802.1x Settings "
	// A user profile (one the host adds over LMS) is listed under its own
	// InstanceID prefix and a common ElementName (Intel's console,
	// usecase/devices/wifiprofile.go and network.go, which skip them so).
	wifiUserIDPfx   = "Intel(r) AMT:WiFi Endpoint User Settings "
	wifiUserElement = "Endpoint User Settings"
	// maxITProfiles is the IT profile limit the issue and Configuration
	// Manager SP2 name; maxProfiles and maxUserProfiles are Intel's (Intel
	// AMT Developer Guide, Wireless Configuration Concepts: 16 profiles, at
	// most 8 of them user profiles, the ninth replacing the oldest).
	maxITProfiles   = 8
	maxUserProfiles = 8
	maxProfiles     = 16
)

// netState is what the network classes change; it lives in state.net.
type netState struct {
	wired     ethPort
	portState amt.WiFiPortState
	sync      uint32
	uefiShare bool
	profiles  []*wifiProfile
	connected string // the profile AMT is connected by (Device.ConnectWiFi)
	nextUser  int    // the number in the next user profile's InstanceID
}

func defaultNet() netState {
	return netState{wired: defaultEthPort(), portState: amt.WiFiDisabled}
}

type wifiProfile struct {
	instanceID, name, ssid string
	priority               uint32
	auth, enc              uint32
	passphrase             amt.Secret
	user                   bool
	ieee                   *wifiIEEE
}

type wifiIEEE struct {
	instanceID, name string
	protocol         uint32
	username, domain string
	serverName       string
	serverCmp        uint32
	roaming          string
	password         amt.Secret
	client, ca       int // certificate handles, -1 none
}

// CIM-style return values of AddWiFiSettings and UpdateWiFiSettings
// (go-wsman-messages wifiportconfiguration types.go); AMT errors are
// 32768 + PT_STATUS. Which value real firmware gives for each rule below is
// not published: the choices are the simulator's.
const (
	rvWiFiNotSupported    = 1
	rvWiFiInvalidParam    = 3
	rvWiFiInvalidRef      = 4
	rvStateInvalidParam   = 5 // RequestStateChange's Invalid Parameter (CIM)
	rvRequestStateChanged = 0
)

func vendorRV(s amt.Status) uint32 { return amt.CIMVendorBase + uint32(s) }

// embeddedInput reads an embedded instance parameter (its properties are in
// the embedded class's namespace, not the method's).
func embeddedInput(in *input, name string) (*input, bool) {
	els := in.f[name]
	if len(els) == 0 {
		return nil, false
	}
	out := &input{f: map[string][]*etree.Element{}}
	for _, c := range els[0].ChildElements() {
		out.f[c.Tag] = append(out.f[c.Tag], c)
	}
	return out, true
}

// AMT_WiFiPortConfigurationService (intel/lms AMT_WiFiPortConfigurationService.h;
// Put as RPS and rpc-go send it).
func wifiConfigClass() *class {
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, d.wifiConfigInstance()) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{d.wifiConfigInstance()} },
		put:   (*Device).putWiFiConfig,
		methods: map[string]method{
			// The local system realm may add profiles too: LMS adds the host's
			// as user profiles (go-wsman-messages service.go; Intel AMT SDK,
			// User Profiles and Admin Profiles).
			"AddWiFiSettings":       {fn: (*Device).addWiFiSettings, local: true},
			"UpdateWiFiSettings":    {fn: (*Device).updateWiFiSettings},
			"DeleteAllITProfiles":   {fn: func(d *Device, c *call, in *input) *etree.Element { return d.deleteAllProfiles(c, false) }},
			"DeleteAllUserProfiles": {fn: func(d *Device, c *call, in *input) *etree.Element { return d.deleteAllProfiles(c, true) }},
		},
	}
}

func (d *Device) wifiConfigInstance() *etree.Element {
	n := &d.st.net
	in := serviceInst(uriWiFiConfig, "Intel(r) AMT WiFi Port Configuration Service", "Intel(r) AMT WiFiPort Configuration Service").
		s("HealthState", "5").s("NoHostCsmeSoftwarePolicy", "0")
	ssid := ""
	if p := d.profileByName(n.connected); p != nil {
		ssid = p.ssid
	}
	// Written even when empty, as the recordings show.
	in.fields = append(in.fields, wsman.Prop("LastConnectedSsidUnderMeControl", ssid))
	if d.fw.UEFIWiFiProfileShare {
		in.b("UEFIWiFiProfileShareEnabled", n.uefiShare)
	}
	if d.fw.WiFiProfileSync {
		in.n("localProfileSynchronizationEnabled", int64(n.sync))
	}
	return in.el()
}

func (d *Device) putWiFiConfig(c *call) wsmantest.Reply {
	in, ok := body(c)
	if !ok {
		return schemaFault("Expected an AMT_WiFiPortConfigurationService instance.")
	}
	n := &d.st.net
	sync, share := n.sync, n.uefiShare
	if d.fw.WiFiProfileSync && in.has("localProfileSynchronizationEnabled") {
		v, err := in.u32("localProfileSynchronizationEnabled")
		if err != nil || (v != 0 && v != 1 && v != 3) {
			return internalError(amt.StatusInvalidParameter)
		}
		sync = v
	}
	if d.fw.UEFIWiFiProfileShare && in.has("UEFIWiFiProfileShareEnabled") {
		v, err := in.boolean("UEFIWiFiProfileShareEnabled")
		if err != nil {
			return internalError(amt.StatusInvalidParameter)
		}
		// It can be disabled even where the platform cannot share
		// (go-wsman-messages types.go), not enabled.
		if v && !d.cfg.Network.UEFIWiFiProfileShare {
			d.debug("UEFI Wi-Fi profile sharing refused: the platform cannot share")
			return internalError(amt.StatusNotPermitted)
		}
		share = v
	}
	n.sync, n.uefiShare = sync, share
	return wsmantest.PutResponse(c.req, d.wifiConfigInstance())
}

func (d *Device) profileByName(name string) *wifiProfile {
	if name == "" {
		return nil
	}
	for _, p := range d.st.net.profiles {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (d *Device) profileByID(id string) *wifiProfile {
	for _, p := range d.st.net.profiles {
		if p.instanceID == id {
			return p
		}
	}
	return nil
}

// profileName reports whether name may name a Wi-Fi profile or its 802.1X
// settings: 1 to 32 letters and digits. Names with other characters are "a
// limitation of AMT itself" (a maintainer in device-management-toolkit/rps
// issue 932); RPS wirelessValidator.ts and ieee8021xValidator.ts and rpc-go
// configure/wireless.go accept only these.
func profileName(name string) bool {
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

// wifiFromInput reads and checks a profile (and its 802.1X settings and
// certificates) from AddWiFiSettings' or UpdateWiFiSettings' input. A
// non-zero code is the method's ReturnValue.
func (d *Device) wifiFromInput(in *input, user bool) (*wifiProfile, uint32) {
	es, ok := embeddedInput(in, "WiFiEndpointSettingsInput")
	if !ok {
		return nil, rvWiFiInvalidParam
	}
	name, _ := es.str("ElementName")
	ssid, _ := es.str("SSID")
	if !profileName(name) || ssid == "" || len(ssid) > 32 {
		return nil, rvWiFiInvalidParam
	}
	p := &wifiProfile{name: name, ssid: ssid, instanceID: wifiSettingsIDPfx + name, user: user}
	var err error
	if p.auth, err = es.u32("AuthenticationMethod"); err != nil {
		return nil, rvWiFiInvalidParam
	}
	if p.enc, err = es.u32("EncryptionMethod"); err != nil {
		return nil, rvWiFiInvalidParam
	}
	if es.has("Priority") {
		// An 8-bit value (intel/lms CIM_WiFiEndpointSettings.h; RPS
		// amtProfileValidator.ts: "priority is uint8 on AMT").
		if p.priority, err = es.u32("Priority"); err != nil || p.priority > 255 {
			return nil, rvWiFiInvalidParam
		}
	} else if !user {
		return nil, rvWiFiInvalidParam // IT profiles are ordered by their priority
	}
	auth := amt.WiFiAuthenticationMethod(p.auth)
	enc := amt.WiFiEncryptionMethod(p.enc)
	wpa3 := d.fw.WiFiWPA3
	// Admin profiles are WPA or stronger with TKIP or CCMP; user profiles may
	// be open or WEP and have no 802.1X (Intel AMT Developer Guide, Wireless
	// Configuration Concepts); WPA3-SAE and GCMP-256 exist on WPA3 firmware
	// (intel/lms CIM_WiFiEndpointSettings.h); TKIP and WEP are gone from
	// chipset H on 15 and from 16 (amt.Firmware.WiFiTKIPAndWEP).
	switch {
	case auth == amt.WiFiAuthWPAPSK || auth == amt.WiFiAuthWPA2PSK || auth == amt.WiFiAuthWPAIEEE8021X || auth == amt.WiFiAuthWPA2IEEE8021X:
		if !(enc == amt.WiFiEncryptionTKIP || enc == amt.WiFiEncryptionCCMP ||
			wpa3 && enc == amt.WiFiEncryptionGCMP256 && auth != amt.WiFiAuthWPAPSK && auth != amt.WiFiAuthWPAIEEE8021X) {
			return nil, rvWiFiInvalidParam
		}
	case auth == amt.WiFiAuthWPA3SAE && wpa3:
		if enc != amt.WiFiEncryptionCCMP && enc != amt.WiFiEncryptionGCMP256 {
			return nil, rvWiFiInvalidParam
		}
	case user && (auth == amt.WiFiAuthOpenSystem || auth == amt.WiFiAuthSharedKey):
		if enc != amt.WiFiEncryptionWEP && enc != amt.WiFiEncryptionNone {
			return nil, rvWiFiInvalidParam
		}
	default:
		return nil, rvWiFiNotSupported
	}
	if !d.plat.tkipWEP && (enc == amt.WiFiEncryptionTKIP || enc == amt.WiFiEncryptionWEP) {
		return nil, rvWiFiNotSupported
	}
	_, has8021x := in.f["IEEE8021xSettingsInput"]
	switch {
	case auth.PSK():
		pass, _ := es.str("PSKPassPhrase")
		if !es.has("PSKValue") && (len(pass) < 8 || len(pass) > 63 || strings.IndexFunc(pass, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0) {
			return nil, rvWiFiInvalidParam
		}
		if has8021x {
			return nil, rvWiFiInvalidParam
		}
		p.passphrase = amt.NewSecret(pass)
	case auth.IEEE8021X():
		if user {
			return nil, rvWiFiNotSupported
		}
		x, code := d.wifiIEEEFromInput(in, name)
		if code != 0 {
			return nil, code
		}
		p.ieee = x
	}
	return p, 0
}

// wifiIEEEFromInput reads and checks the 802.1X part: the fields each EAP
// method needs (DMTF CIM_IEEE8021xSettings 2.22's descriptions), a client
// certificate whose key is in AMT for EAP-TLS, a trusted root as CA — each
// already installed (4 Invalid Reference otherwise).
func (d *Device) wifiIEEEFromInput(in *input, profile string) (*wifiIEEE, uint32) {
	xs, ok := embeddedInput(in, "IEEE8021xSettingsInput")
	if !ok {
		return nil, rvWiFiInvalidParam
	}
	proto, err := xs.u32("AuthenticationProtocol")
	if err != nil || proto > uint32(amt.EAPFASTTLS) {
		return nil, rvWiFiInvalidParam
	}
	x := &wifiIEEE{protocol: proto, client: -1, ca: -1}
	x.name, _ = xs.str("ElementName")
	if x.name == "" {
		x.name = profile
	}
	if !profileName(x.name) {
		return nil, rvWiFiInvalidParam
	}
	x.instanceID = wifiIEEEIDPfx + x.name
	x.username, _ = xs.str("Username")
	x.domain, _ = xs.str("Domain")
	x.roaming, _ = xs.str("RoamingIdentity")
	x.serverName, _ = xs.str("ServerCertificateName")
	if xs.has("ServerCertificateNameComparison") {
		if x.serverCmp, err = xs.u32("ServerCertificateNameComparison"); err != nil || x.serverCmp < 1 || x.serverCmp > 3 {
			return nil, rvWiFiInvalidParam
		}
	}
	pw, _ := xs.str("Password")
	x.password = amt.NewSecret(pw)
	if x.username == "" {
		return nil, rvWiFiInvalidParam
	}
	method := amt.EAPMethod(proto)
	if method != amt.EAPTLS && method != amt.EAPPSK && method != amt.EAPSIM && method != amt.EAPAKA && x.password.IsZero() {
		return nil, rvWiFiInvalidParam // the password-based methods
	}
	if in.has("ClientCredential") {
		epr, err := in.epr("ClientCredential")
		e := d.certByEPR(epr)
		if err != nil || e == nil || e.trustedRoot || d.keyFor(e.cert) == nil {
			return nil, rvWiFiInvalidRef
		}
		x.client = e.handle
	}
	if (method == amt.EAPTLS || method == amt.EAPFASTTLS) && x.client < 0 {
		return nil, rvWiFiInvalidParam // ClientCredential is mandatory (go-wsman-messages service.go)
	}
	if in.has("CACredential") {
		epr, err := in.epr("CACredential")
		e := d.certByEPR(epr)
		if err != nil || e == nil || !e.trustedRoot {
			return nil, rvWiFiInvalidRef
		}
		x.ca = e.handle
	}
	return x, 0
}

// addWiFiSettings: the endpoint must be "WiFi Endpoint 0"; names are unique;
// IT profiles have unique priorities and at most maxITProfiles of them, 16
// profiles in all; a local (LMS) call adds a user profile, only while local
// synchronisation is enabled.
func (d *Device) addWiFiSettings(c *call, in *input) *etree.Element {
	epr, err := in.epr("WiFiEndpoint")
	if name, _ := epr.Selectors.Get("Name"); err != nil || epr.ResourceURI != uriWiFiEndpoint || name != wifiEndpointName {
		return rv(c, rvWiFiInvalidRef)
	}
	n := &d.st.net
	user := c.who.kind == whoLocal
	if user && !amt.LocalProfileSync(n.sync).Enabled() {
		d.debug("user profile refused: local profile synchronisation is disabled")
		return rv(c, vendorRV(amt.StatusNotPermitted))
	}
	p, code := d.wifiFromInput(in, user)
	if code != 0 {
		return rv(c, code)
	}
	if d.profileByName(p.name) != nil {
		return rv(c, vendorRV(amt.StatusDuplicate))
	}
	var it, users []*wifiProfile
	for _, q := range n.profiles {
		if q.user {
			users = append(users, q)
		} else {
			it = append(it, q)
		}
	}
	if user {
		if len(users) >= maxUserProfiles {
			// The ninth user profile replaces the oldest.
			old := users[0]
			n.profiles = slices.DeleteFunc(n.profiles, func(q *wifiProfile) bool { return q == old && q.name != n.connected })
		}
	} else {
		if len(it) >= maxITProfiles || len(n.profiles) >= maxProfiles {
			return rv(c, vendorRV(amt.StatusMaxLimitReached))
		}
		for _, q := range it {
			if q.priority == p.priority {
				d.debug("profile refused: priority " + strconv.FormatUint(uint64(p.priority), 10) + " is " + q.name + "'s")
				return rv(c, rvWiFiInvalidParam)
			}
		}
	}
	if user {
		p.instanceID = wifiUserIDPfx + strconv.Itoa(n.nextUser)
		n.nextUser++
	}
	n.profiles = append(n.profiles, p)
	return rv(c, 0)
}

// updateWiFiSettings: the profile must exist (4), keep its name (3), keep a
// priority no other IT profile has (3), and not be the one the device is
// connected by (Configuration Manager updates every profile but the one in
// use).
func (d *Device) updateWiFiSettings(c *call, in *input) *etree.Element {
	epr, err := in.epr("WiFiEndpointSettings")
	if err != nil || epr.ResourceURI != uriWiFiSettings {
		return rv(c, rvWiFiInvalidRef)
	}
	id, _ := epr.Selectors.Get("InstanceID")
	cur := d.profileByID(id)
	if cur == nil || cur.user {
		return rv(c, rvWiFiInvalidRef)
	}
	n := &d.st.net
	if cur.name == n.connected {
		d.debug("update refused: the device is connected by profile " + cur.name)
		return rv(c, vendorRV(amt.StatusNotPermitted))
	}
	p, code := d.wifiFromInput(in, false)
	if code != 0 {
		return rv(c, code)
	}
	if p.name != cur.name {
		return rv(c, rvWiFiInvalidParam) // the name cannot be updated
	}
	for _, q := range n.profiles {
		if q != cur && !q.user && q.priority == p.priority {
			return rv(c, rvWiFiInvalidParam)
		}
	}
	*cur = *p
	return rv(c, 0)
}

func (d *Device) deleteAllProfiles(c *call, user bool) *etree.Element {
	n := &d.st.net
	if p := d.profileByName(n.connected); p != nil && p.user == user {
		return rv(c, vendorRV(amt.StatusNotPermitted)) // the active profile cannot be deleted
	}
	n.profiles = slices.DeleteFunc(n.profiles, func(q *wifiProfile) bool { return q.user == user })
	return rv(c, 0)
}

func (d *Device) wifiSettingsInstance(p *wifiProfile) *etree.Element {
	name := p.name
	if p.user {
		name = wifiUserElement
	}
	return newInst(uriWiFiSettings).
		n("AuthenticationMethod", int64(p.auth)).
		s("BSSType", "3").
		s("ElementName", name).
		n("EncryptionMethod", int64(p.enc)).
		s("InstanceID", p.instanceID).
		n("Priority", int64(p.priority)).
		s("SSID", p.ssid).el()
}

// CIM_WiFiEndpointSettings: enumerated, read and deleted (rpc-go
// ClearWirelessProfiles); the profile the device is connected by cannot be
// deleted (Intel AMT SDK, User Profiles and Admin Profiles).
func wifiSettingsClass() *class {
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			id, _ := c.req.Selectors.Get("InstanceID")
			p := d.profileByID(id)
			if p == nil {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, d.wifiSettingsInstance(p))
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			out := make([]*etree.Element, 0, len(d.st.net.profiles))
			for _, p := range d.st.net.profiles {
				out = append(out, d.wifiSettingsInstance(p))
			}
			return out
		},
		del: func(d *Device, c *call) wsmantest.Reply {
			id, _ := c.req.Selectors.Get("InstanceID")
			p := d.profileByID(id)
			if p == nil {
				return invalidSelectors()
			}
			if p.name == d.st.net.connected {
				return internalError(amt.StatusNotPermitted)
			}
			d.st.net.profiles = slices.DeleteFunc(d.st.net.profiles, func(q *wifiProfile) bool { return q == p })
			return wsmantest.DeleteResponse(c.req)
		},
	}
}

func ieeeInstanceEPR(id string) wsman.EPR {
	return wsman.EPR{ResourceURI: uriCIMIEEE, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", id)}}
}

// CIM_IEEE8021xSettings: the 802.1X settings of the enterprise profiles
// (go-wsman-messages recorded cim/ieee8021x/settings/pull.xml). The password
// is never returned.
func cimIEEEClass() *class {
	inst := func(x *wifiIEEE) *etree.Element {
		in := newInst(uriCIMIEEE).n("AuthenticationProtocol", int64(x.protocol)).s("Domain", x.domain).
			s("ElementName", x.name).s("InstanceID", x.instanceID).s("RoamingIdentity", x.roaming).
			s("ServerCertificateName", x.serverName).s("Username", x.username)
		if x.serverCmp != 0 {
			in.n("ServerCertificateNameComparison", int64(x.serverCmp))
		}
		return in.el()
	}
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			id, _ := c.req.Selectors.Get("InstanceID")
			for _, p := range d.st.net.profiles {
				if p.ieee != nil && p.ieee.instanceID == id {
					return wsmantest.GetResponse(c.req, inst(p.ieee))
				}
			}
			return invalidSelectors()
		},
		keys: keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element {
			var out []*etree.Element
			for _, p := range d.st.net.profiles {
				if p.ieee != nil {
					out = append(out, inst(p.ieee))
				}
			}
			return out
		},
	}
}

// wifiContexts are the CIM_CredentialContext instances of the enterprise
// profiles' certificates (go-wsman-messages recorded
// cim/credential/context/pull.xml).
func (d *Device) wifiContexts() []*etree.Element {
	var out []*etree.Element
	for _, p := range d.st.net.profiles {
		if x := p.ieee; x != nil {
			for _, h := range []int{x.client, x.ca} {
				if h >= 0 {
					out = append(out, contextInst(uriCIMContext, h, ieeeInstanceEPR(x.instanceID)))
				}
			}
		}
	}
	return out
}

// wifiCertInUse reports whether a Wi-Fi profile refers to certificate h.
func (d *Device) wifiCertInUse(h int) bool {
	for _, p := range d.st.net.profiles {
		if p.ieee != nil && (p.ieee.client == h || p.ieee.ca == h) {
			return true
		}
	}
	return false
}

// CIM_WiFiEndpoint: the one endpoint profiles attach to.
func wifiEndpointClass() *class {
	inst := func() *etree.Element {
		return newInst(uriWiFiEndpoint).s("CreationClassName", "CIM_WiFiEndpoint").s("ElementName", wifiEndpointName).
			s("Name", wifiEndpointName).s("SystemCreationClassName", "CIM_ComputerSystem").s("SystemName", "Intel(r) AMT").el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst()) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst()} },
	}
}

// CIM_WiFiPort (go-wsman-messages recorded cim/wifi/port responses) and its
// RequestStateChange: 3 disabled, 32768 enabled in S0, 32769 in S0 and Sx
// on AC (go-wsman-messages cim/wifi decoder).
func wifiPortClass() *class {
	inst := func(d *Device) *etree.Element {
		s := int64(d.st.net.portState)
		mac := strings.ReplaceAll(simWirelessMAC, "-", "")
		return newInst(uriWiFiPort).s("CreationClassName", "CIM_WiFiPort").s("DeviceID", wifiPortID).s("ElementName", wifiPortID).
			n("EnabledState", s).s("HealthState", "5").s("LinkTechnology", "11").s("PermanentAddress", mac).
			s("PortType", "0").n("RequestedState", s).s("SystemCreationClassName", "CIM_ComputerSystem").s("SystemName", "Intel(r) AMT").el()
	}
	// Without a wireless interface the class has no instance: its
	// enumeration is empty (Intel's console, GetWiFiPorts; console issue
	// 1057); a Get or a state change is DestinationUnreachable (the
	// simulator's choice: console reports only a "general error").
	return &class{
		get:  func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys: keyDevice,
		items: func(d *Device, c *call) []*etree.Element {
			if d.cfg.Network.NoWireless {
				return nil
			}
			return []*etree.Element{inst(d)}
		},
		methods: map[string]method{
			"RequestStateChange": {fn: func(d *Device, c *call, in *input) *etree.Element {
				v, err := in.u32("RequestedState")
				switch st := amt.WiFiPortState(v); {
				case err != nil:
					return rv(c, rvStateInvalidParam)
				case st == amt.WiFiDisabled || st == amt.WiFiEnabledS0 || st == amt.WiFiEnabledS0SxAC:
					d.st.net.portState = st
					return rv(c, rvRequestStateChanged)
				}
				return rv(c, rvStateInvalidParam)
			}},
		},
	}
}

// ConnectWiFi makes the device connected by the Wi-Fi profile named name
// ("" disconnects): the firmware then refuses to delete or update that
// profile, and reports its SSID as LastConnectedSsidUnderMeControl. It fails
// when there is no such profile.
func (d *Device) ConnectWiFi(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if name != "" && d.profileByName(name) == nil {
		return &ConfigError{Field: "ConnectWiFi", Expected: "a profile the device holds", Got: name}
	}
	d.st.net.connected = name
	return nil
}

// WiFiPassphraseIs reports whether the personal Wi-Fi profile named name
// holds passphrase (compared in constant time).
func (d *Device) WiFiPassphraseIs(name string, passphrase amt.Secret) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.profileByName(name)
	return p != nil && !p.passphrase.IsZero() && p.passphrase.Equal(passphrase)
}

// WiFi8021xPasswordIs reports whether the enterprise Wi-Fi profile named name
// holds 802.1X password pw.
func (d *Device) WiFi8021xPasswordIs(name string, pw amt.Secret) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.profileByName(name)
	return p != nil && p.ieee != nil && !p.ieee.password.IsZero() && p.ieee.password.Equal(pw)
}
