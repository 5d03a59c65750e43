package amtsim

import (
	"encoding/base64"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// The CIRA classes: AMT_RemoteAccessService (AddMpServer,
// AddRemoteAccessPolicyRule), AMT_ManagementPresenceRemoteSAP,
// AMT_RemoteAccessPolicyRule, AMT_RemoteAccessPolicyAppliesToMPS,
// AMT_EnvironmentDetectionSettingData, AMT_UserInitiatedConnectionService
// and AMT_RemoteAccessCapabilities. Instance shapes as go-wsman-messages'
// recorded responses show them; rules from the Intel AMT SDK ("Add a
// Management Presence Server", "Add a Remote Access Policy", "Valid Usernames
// and Passwords", "Configuring Environment Detection"). The tunnel itself is
// cira.go.
const (
	uriRemoteAccess   = amtNS + "AMT_RemoteAccessService"
	uriMPS            = amtNS + "AMT_ManagementPresenceRemoteSAP"
	uriPolicyRule     = amtNS + "AMT_RemoteAccessPolicyRule"
	uriAppliesToMPS   = amtNS + "AMT_RemoteAccessPolicyAppliesToMPS"
	uriEnvironment    = amtNS + "AMT_EnvironmentDetectionSettingData"
	uriUserInitiated  = amtNS + "AMT_UserInitiatedConnectionService"
	uriRACapabilities = amtNS + "AMT_RemoteAccessCapabilities"

	mpsNamePrefix   = "Intel(r) AMT:Management Presence Server "
	environmentID   = "Intel(r) AMT Environment Detection Settings"
	raServiceName   = "Intel(r) AMT Remote Access Service"
	uicServiceName  = "Intel(r) AMT User Initiated Connection Service"
	raCapabilityID  = "Intel(r) AMT:Remote Access Capabilities"
	policyRuleTitle = "Intel(r) AMT:Remote Access Policy"

	// The limits AMT_RemoteAccessCapabilities reports (go-wsman-messages'
	// recorded amt/remoteaccess/capabilities/get.xml).
	maxMPServers     = 6
	maxPolicies      = 3
	maxMPSPerPolicy  = 2
	maxDetectionLen  = 190 // Intel AMT SDK, Configuring Environment Detection
	maxMPSUserLen    = 16  // "Valid Usernames and Passwords"
	minMPSPassLen    = 8
	maxMPSPassLen    = 16
	maxAccessInfoLen = 256

	uicDisabled  = 32768
	uicBIOSAndOS = 32771
)

// mpsEntry is one AMT_ManagementPresenceRemoteSAP.
type mpsEntry struct {
	handle     int
	accessInfo string
	format     uint8
	port       uint16
	auth       uint8 // 1 mutual, 2 password
	user       string
	pass       amt.Secret
	cn         string
	cert       int // mutual: the certificate AMT presents; -1 none
}

func (m *mpsEntry) name() string { return mpsNamePrefix + strconv.Itoa(m.handle) }

// ruleEntry is one AMT_RemoteAccessPolicyRule with its links to MPSs
// (AMT_RemoteAccessPolicyAppliesToMPS).
type ruleEntry struct {
	trigger  uint8
	lifetime uint32
	ext      []byte
	links    []policyLink
}

type policyLink struct {
	mps     int // handle
	mpsType uint8
	order   uint32
}

// ruleName is the PolicyRuleName AMT gives a rule of the trigger (MeshCentral
// amtmanager.js deletes rules by these names; the recorded instance names
// "Periodic").
func ruleName(trigger uint8) string { return amt.RemoteAccessTrigger(trigger).String() }

// raState is the device's remote-access (CIRA) and redirection configuration;
// d.mu guards it. A full unprovision erases it ("All Intel AMT configuration
// data is erased (certificates, CIRA …)": Intel AMT SDK, Restoring Intel AMT
// to Factory Mode).
type raState struct {
	mps     []*mpsEntry
	nextMPS int
	rules   []*ruleEntry
	envAlg  uint8
	env     []string
	envV6   []string
	uic     uint16
	feat    featureState // cls_redirection.go
}

func newRAState() raState {
	return raState{uic: uicDisabled, feat: defaultFeatures()}
}

func (r *raState) mpsByHandle(h int) *mpsEntry {
	for _, m := range r.mps {
		if m.handle == h {
			return m
		}
	}
	return nil
}

func (r *raState) mpsByName(name string) *mpsEntry {
	h, ok := handleOf(name, mpsNamePrefix)
	if !ok {
		return nil
	}
	return r.mpsByHandle(h)
}

func (r *raState) rule(trigger uint8) *ruleEntry {
	for _, x := range r.rules {
		if x.trigger == trigger {
			return x
		}
	}
	return nil
}

func (r *raState) ruleByName(name string) *ruleEntry {
	for _, x := range r.rules {
		if ruleName(x.trigger) == name {
			return x
		}
	}
	return nil
}

func mpsEPR(m *mpsEntry) wsman.EPR {
	return wsman.EPR{ResourceURI: uriMPS, Selectors: wsman.SelectorSet{
		wsman.Sel("CreationClassName", "AMT_ManagementPresenceRemoteSAP"),
		wsman.Sel("Name", m.name()),
		wsman.Sel("SystemCreationClassName", "CIM_ComputerSystem"),
		wsman.Sel("SystemName", "Intel(r) AMT"),
	}}
}

func ruleEPR(trigger uint8) wsman.EPR {
	return wsman.EPR{ResourceURI: uriPolicyRule, Selectors: wsman.SelectorSet{
		wsman.Sel("CreationClassName", "AMT_RemoteAccessPolicyRule"),
		wsman.Sel("PolicyRuleName", ruleName(trigger)),
		wsman.Sel("SystemCreationClassName", "CIM_ComputerSystem"),
		wsman.Sel("SystemName", "Intel(r) AMT"),
	}}
}

// cimServiceInst is a CIM_Service singleton's keys and names.
func cimServiceInst(uri, name string) *inst {
	return newInst(uri).
		s("CreationClassName", wsman.ClassName(uri)).
		s("ElementName", name).
		s("Name", name).
		s("SystemCreationClassName", "CIM_ComputerSystem").
		s("SystemName", "Intel(r) AMT")
}

// AMT_RemoteAccessService.
func remoteAccessClass() *class {
	inst := func(d *Device) *etree.Element {
		in := cimServiceInst(uriRemoteAccess, raServiceName)
		connected, keepAlive := d.ciraStatus()
		in.b("IsRemoteTunnelConnected", connected)
		in.n("RemoteTunnelKeepAliveTimeout", int64(keepAlive))
		return in.el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		methods: map[string]method{
			"AddMpServer":               {fn: (*Device).addMPServer},
			"AddRemoteAccessPolicyRule": {fn: (*Device).addPolicyRule},
			"CloseRemoteAccessConnection": {fn: func(d *Device, c *call, _ *input) *etree.Element {
				c.then(d.ciraCloseTunnel)
				return rv(c, 0)
			}},
		},
	}
}

// validMPSUser: 1 to 16 letters and digits.
func validMPSUser(u string) bool {
	if u == "" || len(u) > maxMPSUserLen {
		return false
	}
	// Alphanumeric (AddMpServer's Username: "Limited to … alphanumeric
	// characters", intel/lms AMT_RemoteAccessService.h).
	for i := 0; i < len(u); i++ {
		if c := u[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func (d *Device) addMPServer(c *call, in *input) *etree.Element {
	ra := &d.st.ra
	addr, _ := in.str("AccessInfo")
	format, ferr := in.u32("InfoFormat")
	port, perr := in.u32("Port")
	auth, aerr := in.u32("AuthMethod")
	if addr == "" || len(addr) > maxAccessInfoLen || ferr != nil || perr != nil || port == 0 || port > 65535 || aerr != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	// The address is not checked against its format: RPS lets an IPv4
	// address be sent as FQDN (201; ciraValidator.ts), and rpc-go sends
	// every address, host names too, as IPv4 (3; local/amt/wsman.go). An
	// IPv6 format must name an IPv6 address.
	ip, ipErr := netip.ParseAddr(addr)
	switch format {
	case 3, 201:
	case 4:
		if ipErr != nil || ip.Is4() {
			return status(c, amt.StatusInvalidParameter)
		}
	default:
		return status(c, amt.StatusInvalidParameter)
	}
	e := &mpsEntry{accessInfo: addr, format: uint8(format), port: uint16(port), auth: uint8(auth), cert: -1}
	e.cn, _ = in.str("CN")
	switch auth {
	case 2:
		user, _ := in.str("Username")
		pw, _ := in.str("Password")
		if !validMPSUser(user) {
			return status(c, amt.StatusInvalidName)
		}
		if len(pw) < minMPSPassLen || len(pw) > maxMPSPassLen || amt.CheckPassword(pw) != nil {
			return status(c, amt.StatusInvalidPassword)
		}
		e.user, e.pass = user, amt.NewSecret(pw)
	case 1:
		epr, err := in.epr("Certificate")
		if err != nil {
			return status(c, amt.StatusInvalidParameter)
		}
		ce := d.certByEPR(epr)
		if ce == nil || ce.trustedRoot || d.keyFor(ce.cert) == nil {
			return status(c, amt.StatusInvalidParameter)
		}
		e.cert = ce.handle
	default:
		return status(c, amt.StatusInvalidParameter)
	}
	for _, m := range ra.mps {
		if strings.EqualFold(m.accessInfo, addr) && m.port == e.port {
			return status(c, amt.StatusDuplicate)
		}
	}
	if len(ra.mps) >= maxMPServers {
		return status(c, amt.StatusMaxLimitReached)
	}
	e.handle = ra.nextMPS
	ra.nextMPS++
	ra.mps = append(ra.mps, e)
	d.debug("MPS added: " + e.name())
	c.then(d.ciraKick)
	return rv(c, 0, wsman.PropEPR("MpServer", mpsEPR(e)))
}

func (d *Device) addPolicyRule(c *call, in *input) *etree.Element {
	ra := &d.st.ra
	trigger, err := in.u32("Trigger")
	if err != nil || trigger > 2 {
		return status(c, amt.StatusInvalidParameter)
	}
	lifetime, err := in.u32("TunnelLifeTime")
	if err != nil {
		return status(c, amt.StatusInvalidParameter)
	}
	ext, err := in.b64("ExtendedData")
	if err != nil && err != errMissing {
		return status(c, amt.StatusInvalidParameter)
	}
	if len(ext) > 32 {
		return status(c, amt.StatusInvalidParameter)
	}
	if trigger == uint32(amt.TriggerPeriodic) {
		if _, err := amt.ParsePeriodic(ext); err != nil {
			return status(c, amt.StatusInvalidParameter)
		}
	} else if len(ext) > 0 {
		// "For the other triggers extended data is not defined and not
		// needed. The length and data should be zero."
		return status(c, amt.StatusInvalidParameter)
	}
	var links []policyLink
	for i, el := range in.f["MpServer"] {
		epr, err := wsman.ParseEPR(el)
		if err != nil {
			return status(c, amt.StatusInvalidParameter)
		}
		name, _ := epr.Selectors.Get("Name")
		m := ra.mpsByName(name)
		if m == nil || (epr.ResourceURI != "" && epr.ResourceURI != uriMPS) {
			return status(c, amt.StatusInvalidParameter)
		}
		links = append(links, policyLink{mps: m.handle, order: uint32(i)})
	}
	if len(links) == 0 || len(links) > maxMPSPerPolicy {
		return status(c, amt.StatusInvalidParameter)
	}
	if ra.rule(uint8(trigger)) != nil {
		return status(c, amt.StatusDuplicate)
	}
	if len(ra.rules) >= maxPolicies {
		return status(c, amt.StatusMaxLimitReached)
	}
	ra.rules = append(ra.rules, &ruleEntry{trigger: uint8(trigger), lifetime: lifetime, ext: ext, links: links})
	d.debug("remote access policy added: " + ruleName(uint8(trigger)))
	c.then(d.ciraKick)
	return rv(c, 0, wsman.PropEPR("PolicyRule", ruleEPR(uint8(trigger))))
}

// AMT_ManagementPresenceRemoteSAP: enumerated, read and deleted (by Name, or by
// the full key set).
func mpsClass() *class {
	inst := func(m *mpsEntry) *etree.Element {
		return newInst(uriMPS).
			s("AccessInfo", m.accessInfo).
			s("CN", m.cn).
			s("CreationClassName", "AMT_ManagementPresenceRemoteSAP").
			s("ElementName", "Intel(r) AMT:Management Presence Server").
			n("InfoFormat", int64(m.format)).
			s("Name", m.name()).
			n("Port", int64(m.port)).
			s("SystemCreationClassName", "CIM_ComputerSystem").
			s("SystemName", "Intel(r) AMT").el()
	}
	lookup := func(d *Device, c *call) *mpsEntry {
		name, _ := c.req.Selectors.Get("Name")
		return d.st.ra.mpsByName(name)
	}
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			m := lookup(d, c)
			if m == nil {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, inst(m))
		},
		keys: keyService,
		items: func(d *Device, c *call) []*etree.Element {
			var out []*etree.Element
			for _, m := range d.st.ra.mps {
				out = append(out, inst(m))
			}
			return out
		},
		del: func(d *Device, c *call) wsmantest.Reply {
			m := lookup(d, c)
			if m == nil {
				return invalidSelectors()
			}
			ra := &d.st.ra
			// "If the MPS is associated with a policy it will not be
			// deleted, and the return code will be 'not permitted'" (Intel
			// AMT SDK, Remove a Management Presence Server): policies go
			// first, as rpc-go's clearCIRA and MeshCentral's
			// attemptCiraSyncResponse remove them.
			for _, r := range ra.rules {
				if slices.ContainsFunc(r.links, func(l policyLink) bool { return l.mps == m.handle }) {
					return internalError(amt.StatusNotPermitted)
				}
			}
			ra.mps = slices.DeleteFunc(ra.mps, func(x *mpsEntry) bool { return x == m })
			c.then(d.ciraKick)
			return wsmantest.DeleteResponse(c.req)
		},
	}
}

// AMT_RemoteAccessPolicyRule: enumerated, read and deleted (by PolicyRuleName).
func policyRuleClass() *class {
	inst := func(r *ruleEntry) *etree.Element {
		in := newInst(uriPolicyRule).
			s("CreationClassName", "AMT_RemoteAccessPolicyRule").
			s("ElementName", policyRuleTitle).
			s("PolicyRuleName", ruleName(r.trigger)).
			s("SystemCreationClassName", "CIM_ComputerSystem").
			s("SystemName", "Intel(r) AMT").
			n("Trigger", int64(r.trigger)).
			n("TunnelLifeTime", int64(r.lifetime))
		if len(r.ext) > 0 {
			in.s("ExtendedData", base64.StdEncoding.EncodeToString(r.ext))
		}
		return in.el()
	}
	lookup := func(d *Device, c *call) *ruleEntry {
		name, _ := c.req.Selectors.Get("PolicyRuleName")
		return d.st.ra.ruleByName(name)
	}
	return &class{
		get: func(d *Device, c *call) wsmantest.Reply {
			r := lookup(d, c)
			if r == nil {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, inst(r))
		},
		keys: keyPolicyRule,
		items: func(d *Device, c *call) []*etree.Element {
			var out []*etree.Element
			for _, r := range d.st.ra.rules {
				out = append(out, inst(r))
			}
			return out
		},
		del: func(d *Device, c *call) wsmantest.Reply {
			r := lookup(d, c)
			if r == nil {
				// rpc-go deletes the three policies unconditionally and
				// takes DestinationUnreachable for "not there"
				// (internal/local/amt/wsman.go RemoveRemoteAccessPolicyRules).
				return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
			}
			d.st.ra.rules = slices.DeleteFunc(d.st.ra.rules, func(x *ruleEntry) bool { return x == r })
			c.then(d.ciraKick)
			return wsmantest.DeleteResponse(c.req)
		},
	}
}

// AMT_RemoteAccessPolicyAppliesToMPS: the links, enumerated and Put (MpsType,
// OrderOfAccess) addressed by their two EPR-valued keys, as RPS does.
func appliesToMPSClass() *class {
	inst := func(d *Device, r *ruleEntry, l policyLink) *etree.Element {
		m := d.st.ra.mpsByHandle(l.mps)
		return newInst(uriAppliesToMPS).
			epr("ManagedElement", mpsEPR(m)).
			n("MpsType", int64(l.mpsType)).
			n("OrderOfAccess", int64(l.order)).
			epr("PolicySet", ruleEPR(r.trigger)).el()
	}
	find := func(d *Device, sel wsman.SelectorSet) (*ruleEntry, int) {
		me, ok1 := sel.GetEPR("ManagedElement")
		ps, ok2 := sel.GetEPR("PolicySet")
		if !ok1 || !ok2 {
			return nil, -1
		}
		mn, _ := me.Selectors.Get("Name")
		rn, _ := ps.Selectors.Get("PolicyRuleName")
		m, r := d.st.ra.mpsByName(mn), d.st.ra.ruleByName(rn)
		if m == nil || r == nil {
			return nil, -1
		}
		for i, l := range r.links {
			if l.mps == m.handle {
				return r, i
			}
		}
		return nil, -1
	}
	return &class{
		keys: keyAppliesToMPS,
		items: func(d *Device, c *call) []*etree.Element {
			var out []*etree.Element
			for _, r := range d.st.ra.rules {
				for _, l := range r.links {
					out = append(out, inst(d, r, l))
				}
			}
			return out
		},
		get: func(d *Device, c *call) wsmantest.Reply {
			r, i := find(d, c.req.Selectors)
			if r == nil {
				return invalidSelectors()
			}
			return wsmantest.GetResponse(c.req, inst(d, r, r.links[i]))
		},
		put: func(d *Device, c *call) wsmantest.Reply {
			r, i := find(d, c.req.Selectors)
			if r == nil {
				return invalidSelectors()
			}
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an AMT_RemoteAccessPolicyAppliesToMPS instance.")
			}
			l := r.links[i]
			if in.has("MpsType") {
				t, err := in.u32("MpsType")
				if err != nil || t > 2 {
					return internalError(amt.StatusInvalidParameter)
				}
				l.mpsType = uint8(t)
			}
			if in.has("OrderOfAccess") {
				o, err := in.u32("OrderOfAccess")
				if err != nil {
					return internalError(amt.StatusInvalidParameter)
				}
				l.order = o
			}
			r.links[i] = l
			c.then(d.ciraKick)
			// The recorded Put answers with an empty body, declaring the
			// class namespace all the same.
			return wsmantest.Reply{Action: wsman.ActionPut + "Response", ResourceURI: c.req.ResourceURI, Namespaces: []string{uriAppliesToMPS}}
		},
	}
}

// AMT_EnvironmentDetectionSettingData: Get without selector; Put addressed by
// InstanceID (go-wsman-messages amt/environmentdetection: "this instance must
// be addressed by a specific InstanceID selector").
func environmentClass() *class {
	inst := func(d *Device) *etree.Element {
		ra := &d.st.ra
		return newInst(uriEnvironment).
			n("DetectionAlgorithm", int64(ra.envAlg)).
			arr("DetectionIPv6LocalPrefixes", ra.envV6...).
			arr("DetectionStrings", ra.env...).
			s("ElementName", environmentID).
			s("InstanceID", environmentID).el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		put: func(d *Device, c *call) wsmantest.Reply {
			if id, _ := c.req.Selectors.Get("InstanceID"); id != environmentID {
				return invalidSelectors()
			}
			in, ok := body(c)
			if !ok {
				return schemaFault("Expected an AMT_EnvironmentDetectionSettingData instance.")
			}
			strs := in.strs("DetectionStrings")
			for _, s := range strs {
				if s == "" || len(s) > maxDetectionLen {
					return internalError(amt.StatusInvalidParameter)
				}
			}
			alg := uint32(0)
			if in.has("DetectionAlgorithm") {
				a, err := in.u32("DetectionAlgorithm")
				if err != nil || a > 1 {
					return internalError(amt.StatusInvalidParameter)
				}
				alg = a
			}
			ra := &d.st.ra
			ra.env, ra.envV6, ra.envAlg = strs, in.strs("DetectionIPv6LocalPrefixes"), uint8(alg)
			c.then(d.ciraKick)
			return wsmantest.PutResponse(c.req, inst(d))
		},
	}
}

// AMT_UserInitiatedConnectionService: EnabledState and RequestStateChange
// (32768 to 32771).
func userInitiatedClass() *class {
	inst := func(d *Device) *etree.Element {
		return cimServiceInst(uriUserInitiated, uicServiceName).n("EnabledState", int64(d.st.ra.uic)).el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst(d)) },
		keys:  keyService,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst(d)} },
		methods: map[string]method{
			"RequestStateChange": {fn: func(d *Device, c *call, in *input) *etree.Element {
				s, err := in.u32("RequestedState")
				if err != nil || s < uicDisabled || s > uicBIOSAndOS {
					return rv(c, cimInvalidParameter)
				}
				d.st.ra.uic = uint16(s)
				return rv(c, 0)
			}},
		},
	}
}

// cimInvalidParameter is CIM RequestStateChange's "Invalid Parameter".
const cimInvalidParameter = 5

// AMT_RemoteAccessCapabilities: the limits the simulator enforces.
func raCapabilitiesClass() *class {
	inst := func() *etree.Element {
		return newInst(uriRACapabilities).
			s("ElementName", raCapabilityID).
			s("InstanceID", raCapabilityID).
			n("MaxMpsPerPolicy", maxMPSPerPolicy).
			n("MaxTotalMpServers", maxMPServers).
			n("MaxTotalPolicies", maxPolicies).
			n("MaxTotalProxyEntryPoints", 15).el()
	}
	return &class{
		get:   func(d *Device, c *call) wsmantest.Reply { return wsmantest.GetResponse(c.req, inst()) },
		keys:  keyInstanceID,
		items: func(d *Device, c *call) []*etree.Element { return []*etree.Element{inst()} },
	}
}

// ciraClassFor returns the CIRA class served at uri, or nil.
func ciraClassFor(uri string) *class {
	switch uri {
	case uriRemoteAccess:
		return remoteAccessClass()
	case uriMPS:
		return mpsClass()
	case uriPolicyRule:
		return policyRuleClass()
	case uriAppliesToMPS:
		return appliesToMPSClass()
	case uriEnvironment:
		return environmentClass()
	case uriUserInitiated:
		return userInitiatedClass()
	case uriRACapabilities:
		return raCapabilitiesClass()
	}
	return nil
}

// periodicOf decodes a periodic rule's timing (validated when added).
func periodicOf(ext []byte) amt.Periodic {
	p, _ := amt.ParsePeriodic(ext)
	return p
}
