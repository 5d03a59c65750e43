package amtsim

import (
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// nsCIMCommon is the WS-CIM common namespace (DMTF DSP0230), home of
// cimDateTime and the other WS-CIM property types.
const nsCIMCommon = "http://schemas.dmtf.org/wbem/wscim/1/common"

// datetimeClasses are the served classes whose CIM schema has a datetime
// property: services inherit InstallDate from CIM_ManagedSystemElement,
// CIM_SoftwareIdentity has ReleaseDate, certificates and key pairs inherit
// Expires from CIM_Credential. Setting data, collections and associations
// have none. AMT declares nsCIMCommon on every response that carries an
// instance of one of these, whether or not a datetime is present, and on no
// other; consoles that read responses with fixed prefixes see the next
// namespace shift accordingly.
var datetimeClasses = map[string]bool{
	uriSoftware: true,
	uriSetup:    true,
	uriHBS:      true,
	uriAuth:     true,
	uriTime:     true,
	uriPKM:      true,
	uriCert:     true,
	uriKey:      true,
	// The CIRA, redirection and consent services and access points
	// (cls_cira.go, cls_redirection.go), as go-wsman-messages' recordings
	// of them declare it.
	uriRemoteAccess:  true,
	uriMPS:           true,
	uriUserInitiated: true,
	uriRedirection:   true,
	uriKVMSAP:        true,
	uriOptIn:         true,
	// The Wi-Fi configuration service and CIM_WiFiPort (a logical device,
	// InstallDate), as go-wsman-messages' recordings of them declare it.
	uriWiFiConfig: true,
	uriWiFiPort:   true,
}

// declareCIMCommon declares nsCIMCommon on rep's envelope when its body
// carries an instance of a datetimeClasses class (Get, Put, Pull, optimized
// Enumerate, the latter two also in wsman:Item pairs), as AMT does.
func declareCIMCommon(rep wsmantest.Reply) wsmantest.Reply {
	if rep.Fault != nil {
		return rep
	}
	for _, el := range rep.Body {
		if el != nil && carriesDatetimeInstance(el) {
			rep.Namespaces = append(rep.Namespaces, nsCIMCommon)
			return rep
		}
	}
	return rep
}

func carriesDatetimeInstance(el *etree.Element) bool {
	if isDatetimeInstance(el) {
		return true
	}
	var items *etree.Element
	switch {
	case wsman.Is(el, wsman.NSEnumeration, "PullResponse"):
		items = wsman.Child(el, wsman.NSEnumeration, "Items")
	case wsman.Is(el, wsman.NSEnumeration, "EnumerateResponse"):
		items = wsman.Child(el, wsman.NSWSMan, "Items")
	}
	if items == nil {
		return false
	}
	for _, it := range items.ChildElements() {
		if isDatetimeInstance(it) {
			return true
		}
		// EnumerateObjectAndEPR: the instance inside its wsman:Item
		// (enummode.go); an EPR alone carries no instance.
		if wsman.Is(it, wsman.NSWSMan, "Item") {
			for _, x := range it.ChildElements() {
				if isDatetimeInstance(x) {
					return true
				}
			}
		}
	}
	return false
}

func isDatetimeInstance(el *etree.Element) bool {
	uri := el.NamespaceURI()
	return datetimeClasses[uri] && el.Tag == wsman.ClassName(uri)
}
