package amtsim

import (
	"strings"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

// WS-Management enumeration modes (DMTF DSP0226 1.x §8.7, "Enumeration of
// EPRs"). An Enumerate may carry wsman:EnumerationMode:
//
//   - EnumerateEPR: each item is the instance's wsa:EndpointReference only;
//   - EnumerateObjectAndEPR: each item is a wsman:Item holding the instance
//     and then its wsa:EndpointReference;
//   - absent: the instances themselves.
//
// The mode is chosen by the Enumerate and holds for every Pull of its
// context (Pull has no mode of its own), in optimized Enumerate answers as
// in Pull answers. The item shapes are those the clients that use these
// modes on AMT read and the servers that implement them write: openwsman's
// CIM plugin (src/plugins/cim/sfcc-interface.c cim_getEprObjAt, cim_add_epr:
// a wsman:Item with the instance, then the EPR; an EPR of Address anonymous
// and ReferenceParameters with ResourceURI and a SelectorSet of the key
// properties, an EPR-valued key as a nested wsa:EndpointReference), Sun's
// and HP's Java reference implementation Wiseman (EnumerationExtensions
// addEnumerationItem: object then EPR in wsman:Item) and ammmze/go-amt, which
// reads AMT's answers into wsman:Item structs of an instance and a 2004/08
// wsa:EndpointReference (cim/enumerate.go ItemWithEndpointReference,
// cim/AssociatedPowerManagementService.go …AndEPRItem; cim/EndpointReference.go
// for the EPR-only items).
//
// An EnumerationMode of another value is answered with DSP0226's fault for a
// feature the service does not support: wsman:UnsupportedFeature with the
// detail wsman:faultDetail/EnumerationMode (the detail DSP0226 defines for
// the mode; OpenPegasus answers an unknown mode exactly so,
// src/Pegasus/WsmServer/WsmReader.cpp decodeEnumerateBody; Wiseman's
// UnsupportedFeatureFault lists the same detail). openwsman ignores an
// unknown value (src/lib/wsman-soap-envelope.c wsman_parse_enum_request) and
// answers objects; what AMT answers is not recorded, so the simulator takes
// the specification's answer, which a client cannot mistake for objects.

// The key property sets (CIM Key qualifiers, as the classes' MOF and Intel's
// class headers in intel/lms CIM_Framework declare them): an instance's EPR
// selects it by these, in this order (AMT's alphabetical one).
var (
	// keyInstanceID: setting data, credentials, identities and capabilities.
	keyInstanceID = []string{"InstanceID"}
	// keyService: CIM_Service and CIM_ServiceAccessPoint subclasses.
	keyService = []string{"CreationClassName", "Name", "SystemCreationClassName", "SystemName"}
	// keyDevice: CIM_LogicalDevice subclasses (CIM_WiFiPort).
	keyDevice = []string{"CreationClassName", "DeviceID", "SystemCreationClassName", "SystemName"}
	// keyPolicyRule: CIM_PolicyRule subclasses.
	keyPolicyRule = []string{"CreationClassName", "PolicyRuleName", "SystemCreationClassName", "SystemName"}
	// keyCollection: AMT_TLSProtocolEndpointCollection, selected by its
	// ElementName (collectionEPR, as clients address it).
	keyCollection = []string{"ElementName"}
	// keyContext: the credential context associations (EPR-valued keys).
	keyContext = []string{"ElementInContext", "ElementProvidingContext"}
	// keyAppliesToMPS: AMT_RemoteAccessPolicyAppliesToMPS (EPR-valued keys).
	keyAppliesToMPS = []string{"ManagedElement", "PolicySet"}
)

// The wsman:EnumerationMode values (DSP0226 §8.7; DSP8015 wsman.xsd
// EnumerationModeType).
const (
	modeEPR          = "EnumerateEPR"
	modeObjectAndEPR = "EnumerateObjectAndEPR"
)

// enumerationMode reads an Enumerate's wsman:EnumerationMode: "" when absent
// (objects), modeEPR or modeObjectAndEPR; ok is false for any other value.
func enumerationMode(r *wsmantest.Request) (mode string, ok bool) {
	s, present := wsman.ChildText(r.Input, wsman.NSWSMan, "EnumerationMode")
	if !present {
		return "", true
	}
	// An xs:NCName: white space around it is collapsed away.
	switch s = strings.TrimSpace(s); s {
	case modeEPR, modeObjectAndEPR:
		return s, true
	}
	return s, false
}

// unsupportedMode is the answer to an unknown EnumerationMode.
func unsupportedMode() wsmantest.Reply {
	return wsmantest.FaultReply(wsmantest.UnsupportedFeature("EnumerationMode"))
}

// enumerationItems shapes a class's instances as the mode asks: the instances
// themselves, their EPRs, or wsman:Item pairs of instance and EPR.
func enumerationItems(instances []*etree.Element, keys []string, mode string) []*etree.Element {
	if mode == "" {
		return instances
	}
	out := make([]*etree.Element, 0, len(instances))
	for _, in := range instances {
		epr := instanceEPR(in, keys)
		if mode == modeEPR {
			ref := etree.NewElement("wsa:EndpointReference")
			epr.AppendTo(ref)
			out = append(out, ref)
			continue
		}
		item := etree.NewElement("wsman:Item")
		item.CreateAttr("xmlns:wsman", wsman.NSWSMan)
		item.AddChild(wsman.Detach(in))
		epr.AppendTo(item.CreateElement("wsa:EndpointReference"))
		out = append(out, item)
	}
	return out
}

// instanceEPR is the EPR of an instance as the simulator builds every EPR
// (certEPR, mpsEPR, ResourceCreated …): Address anonymous, the instance's
// class as ResourceURI, its key properties as selectors — an EPR-valued key
// (an association's reference) as a nested EPR.
func instanceEPR(in *etree.Element, keys []string) wsman.EPR {
	uri := in.NamespaceURI()
	epr := wsman.EPR{ResourceURI: uri}
	for _, k := range keys {
		p := wsman.Child(in, uri, k)
		if p == nil {
			continue
		}
		if wsman.Child(p, wsman.NSAddressing, "ReferenceParameters") != nil {
			if ref, err := wsman.ParseEPR(p); err == nil {
				epr.Selectors = append(epr.Selectors, wsman.SelEPR(k, ref))
			}
			continue
		}
		epr.Selectors = append(epr.Selectors, wsman.Sel(k, wsman.Text(p)))
	}
	return epr
}
