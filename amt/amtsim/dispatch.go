package amtsim

import (
	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// class is what the simulator serves for one resource URI. Every function
// runs with d.mu held.
type class struct {
	get    func(d *Device, c *call) wsmantest.Reply
	put    func(d *Device, c *call) wsmantest.Reply
	create func(d *Device, c *call) wsmantest.Reply
	del    func(d *Device, c *call) wsmantest.Reply
	items  func(d *Device, c *call) []*etree.Element
	// keys are the key properties of an enumerable class's instances, the
	// selectors of their EPRs in the EPR enumeration modes (enummode.go).
	keys    []string
	methods map[string]method
}

type method struct {
	fn func(d *Device, c *call, in *input) *etree.Element
	// read marks methods that change nothing (allowed to every principal).
	read bool
	// local marks methods the local system account may call.
	local bool
}

// classFor returns the class served at uri, or nil (DestinationUnreachable,
// as AMT answers for a class this SKU lacks).
func classFor(uri string) *class {
	switch uri {
	case uriGeneral:
		return generalClass()
	case uriSoftware:
		return softwareClass()
	case uriSetup:
		return setupClass()
	case uriHBS:
		return hbsClass()
	case uriAuth:
		return authClass()
	case uriTime:
		return timeClass()
	case uriPKM:
		return pkmClass()
	case uriCert:
		return certClass()
	case uriKey:
		return keyClass()
	case uriTLSSetting:
		return tlsSettingClass()
	case uriTLSCollection:
		return collectionClass()
	case uriTLSContext:
		return tlsContextClass()
	case uriIEEE:
		return ieeeClass()
	case uriIEEEContext, uriProfContext, uriCIMContext:
		return contextListClass()
	case uriProfile:
		return profileClass()
	case uriEthernet:
		return ethernetClass()
	case uriBootCaps:
		return bootCapsClass()
	case uriWiFiConfig:
		return wifiConfigClass()
	case uriWiFiSettings:
		return wifiSettingsClass()
	case uriWiFiEndpoint:
		return wifiEndpointClass()
	case uriWiFiPort:
		return wifiPortClass()
	case uriCIMIEEE:
		return cimIEEEClass()
	}
	if c := ciraClassFor(uri); c != nil { // cls_cira.go
		return c
	}
	return redirectionClassFor(uri) // cls_redirection.go
}

// dispatch answers one request.
func (d *Device) dispatch(c *call) wsmantest.Reply {
	r := c.req
	if r.IsIdentify() {
		return wsmantest.IdentifyResponse("Intel Corporation", "AMT "+d.fw.Version.String(),
			"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest",
			"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/digest")
	}
	if r.OptionSetMustUnderstand && len(r.OptionSet) > 0 {
		return wsmantest.FaultReply(wsmantest.MustUnderstand())
	}
	cls := classFor(r.ResourceURI)
	if !d.classExists(r.ResourceURI) {
		cls = nil // a class of a later release
	}
	if r.ResourceURI == uriWiFiPort && d.cfg.Network.NoWireless && !isEnumeration(r.Action) {
		cls = nil // no wireless port: only its (empty) enumeration is served (cls_wifi.go)
	}
	if cls == nil {
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.requests++
	var h func(*Device, *call) wsmantest.Reply
	write := false
	switch r.Action {
	case wsman.ActionGet:
		h = cls.get
	case wsman.ActionPut:
		h, write = cls.put, true
	case wsman.ActionCreate:
		h, write = cls.create, true
	case wsman.ActionDelete:
		h, write = cls.del, true
	case wsman.ActionEnumerate, wsman.ActionPull, wsman.ActionRelease:
		if cls.items == nil {
			break
		}
		var items []*etree.Element
		if r.Action == wsman.ActionEnumerate {
			mode, ok := enumerationMode(r)
			if !ok {
				return unsupportedMode()
			}
			// The mode shapes the items once: every Pull of the context
			// hands them out as the Enumerate asked (enummode.go).
			items = enumerationItems(cls.items(d, c), cls.keys, mode)
		}
		rep, _ := d.enums.Serve(r, items)
		return rep
	default:
		name, ok := r.Method()
		m, found := cls.methods[name]
		if !ok || !found || !d.methodExists(r.ResourceURI, name) {
			return wsmantest.FaultReply(wsmantest.ActionNotSupported(r.Action))
		}
		if !d.mayInvoke(c.who, m) {
			return accessDenied()
		}
		if want := name + "_INPUT"; r.Input == nil || !wsman.Is(r.Input, r.ResourceURI, want) {
			return wsmantest.FaultReply(wsmantest.SenderFault("SchemaValidationError", "Expected "+want+" in the class namespace."))
		}
		if f := d.cfg.Behavior.RefuseFunc; f != nil {
			if st := f(name, r.ResourceURI, d.st.requests); st != amt.StatusSuccess {
				return wsmantest.MethodResponse(r, status(c, st))
			}
		}
		out := m.fn(d, c, newInput(r.Input))
		if c.fault != nil {
			return wsmantest.FaultReply(*c.fault)
		}
		if out == nil {
			return wsmantest.Reply{}
		}
		return wsmantest.MethodResponse(r, out)
	}
	if h == nil {
		return wsmantest.FaultReply(wsmantest.ActionNotSupported(r.Action))
	}
	if write && !d.mayWrite(c.who) {
		return accessDenied()
	}
	return h(d, c)
}

func accessDenied() wsmantest.Reply {
	return wsmantest.FaultReply(wsmantest.SenderFault("AccessDenied", "The sender was not authorized to access the resource."))
}

// mayWrite: Put, Create and Delete need the admin (or a remote-configuration
// session, or a user with the PT Administration realm).
func (d *Device) mayWrite(p principal) bool {
	switch p.kind {
	case whoRCFG, whoAdmin:
		return true
	case whoUser:
		return hasRealm(p.entry, uint32(amt.RealmPTAdministration))
	}
	return false
}

func (d *Device) mayInvoke(p principal, m method) bool {
	switch {
	case m.read:
		return true
	case p.kind == whoLocal:
		return m.local
	}
	return d.mayWrite(p)
}

func hasRealm(e *aclEntry, r uint32) bool {
	if e == nil {
		return false
	}
	for _, x := range e.realms {
		if x == r {
			return true
		}
	}
	return false
}

// internalError is AMT's fault for a feature error of an intrinsic operation.
func internalError(s amt.Status) wsmantest.Reply {
	return wsmantest.FaultReply(wsmantest.InternalError(uint32(s)))
}

func invalidSelectors() wsmantest.Reply {
	return wsmantest.FaultReply(wsmantest.SenderFault("InvalidSelectors", "The Selectors for the resource were not valid."))
}

// rv builds a method output with its ReturnValue last.
func rv(c *call, code uint32, props ...wsman.Property) *etree.Element {
	return wsmantest.ReturnValue(c.req, code, props...)
}

func status(c *call, s amt.Status, props ...wsman.Property) *etree.Element {
	return rv(c, uint32(s), props...)
}

// body returns the instance element of a Put or Create if it is the class's.
func body(c *call) (*input, bool) {
	el := c.req.Input
	if el == nil || !wsman.Is(el, c.req.ResourceURI, wsman.ClassName(c.req.ResourceURI)) {
		return nil, false
	}
	return newInput(el), true
}

func schemaFault(what string) wsmantest.Reply {
	return wsmantest.FaultReply(wsmantest.SenderFault("SchemaValidationError", what))
}

// isEnumeration reports an Enumerate, Pull or Release.
func isEnumeration(action string) bool {
	switch action {
	case wsman.ActionEnumerate, wsman.ActionPull, wsman.ActionRelease:
		return true
	}
	return false
}
