package wsman

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/amtkit/amtkit/internal/oneline"
)

// Selector is one wsman:Selector: a key property name and either a text value or,
// for association classes, an endpoint reference (EPR).
type Selector struct {
	Name  string
	Value string // the text value; ignored when EPR is set
	EPR   *EPR   // an EPR-valued selector (written as wsa:EndpointReference)
}

// Sel returns a text-valued selector.
func Sel(name, value string) Selector { return Selector{Name: name, Value: value} }

// SelEPR returns an EPR-valued selector.
func SelEPR(name string, epr EPR) Selector { return Selector{Name: name, EPR: &epr} }

// String formats the selector for messages: Name=Value or Name=<EPR …>.
func (s Selector) String() string {
	if s.EPR != nil {
		return s.Name + "=" + s.EPR.String()
	}
	return s.Name + "=" + s.Value
}

// SelectorSet is an ordered list of selectors. Order is preserved on the wire.
type SelectorSet []Selector

// Get returns the text value of the first selector named name.
func (s SelectorSet) Get(name string) (string, bool) {
	for _, x := range s {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

// GetEPR returns the EPR value of the first selector named name.
func (s SelectorSet) GetEPR(name string) (EPR, bool) {
	for _, x := range s {
		if x.Name == name && x.EPR != nil {
			return *x.EPR, true
		}
	}
	return EPR{}, false
}

// String formats the set as {A=1, B=2}.
func (s SelectorSet) String() string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = x.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// AppendTo appends a wsman:SelectorSet element to parent. An empty set appends
// nothing and returns nil.
func (s SelectorSet) AppendTo(parent *etree.Element) *etree.Element {
	if len(s) == 0 {
		return nil
	}
	ensureNS(parent, pfxWSMan, NSWSMan)
	set := parent.CreateElement(pfxWSMan + ":SelectorSet")
	for _, x := range s {
		e := set.CreateElement(pfxWSMan + ":Selector")
		e.CreateAttr("Name", x.Name)
		if x.EPR != nil {
			ensureNS(parent, pfxAddr, NSAddressing)
			x.EPR.appendChildren(e.CreateElement(pfxAddr + ":EndpointReference"))
		} else if x.Value != "" {
			e.SetText(x.Value)
		}
	}
	return set
}

// ParseSelectorSet reads a wsman:SelectorSet element. Selector values that hold
// an EndpointReference are read as EPRs.
func ParseSelectorSet(set *etree.Element) (SelectorSet, error) {
	if set == nil {
		return nil, nil
	}
	if !Is(set, NSWSMan, "SelectorSet") {
		return nil, fmt.Errorf("%w: expected wsman:SelectorSet, got %s", ErrMalformed, describe(set))
	}
	var out SelectorSet
	for _, t := range set.Child {
		e, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if !Is(e, NSWSMan, "Selector") {
			return nil, fmt.Errorf("%w: expected wsman:Selector in SelectorSet, got %s", ErrMalformed, describe(e))
		}
		name, ok := attrNS(e, "", "Name")
		if !ok {
			return nil, fmt.Errorf("%w: wsman:Selector without a Name attribute", ErrMalformed)
		}
		sel := Selector{Name: name}
		if r := Child(e, NSAddressing, "EndpointReference"); r != nil {
			epr, err := ParseEPR(r)
			if err != nil {
				return nil, fmt.Errorf("selector %q: %w", name, err)
			}
			sel.EPR = &epr
		} else {
			sel.Value = Text(e)
		}
		out = append(out, sel)
	}
	return out, nil
}

// EPR is a WS-Addressing endpoint reference as WS-Management uses it: an Address
// and reference parameters naming a resource (ResourceURI plus selectors). It is
// how method parameters, association keys and Create results point at instances.
type EPR struct {
	// Address is the wsa:Address. Empty means [AddressAnonymous]. AMT ignores
	// it in requests; clients send "/wsman", the anonymous URI or others.
	Address     string
	ResourceURI string
	Selectors   SelectorSet
}

// String formats the EPR for messages.
func (e EPR) String() string {
	return "<EPR " + e.ResourceURI + " " + e.Selectors.String() + ">"
}

// AppendTo writes the EPR as the content of parent (wsa:Address and
// wsa:ReferenceParameters), the form used for EPR-typed properties and method
// parameters.
func (e EPR) AppendTo(parent *etree.Element) {
	ensureNS(parent, pfxAddr, NSAddressing)
	ensureNS(parent, pfxWSMan, NSWSMan)
	e.appendChildren(parent)
}

func (e EPR) appendChildren(parent *etree.Element) {
	addr := e.Address
	if addr == "" {
		addr = AddressAnonymous
	}
	parent.CreateElement(pfxAddr + ":Address").SetText(addr)
	rp := parent.CreateElement(pfxAddr + ":ReferenceParameters")
	rp.CreateElement(pfxWSMan + ":ResourceURI").SetText(e.ResourceURI)
	if len(e.Selectors) > 0 {
		e.Selectors.AppendTo(rp)
	}
}

// ParseEPR reads an endpoint reference from el, which is either a
// wsa:EndpointReference or any element whose content is an EPR (wsa:Address and
// wsa:ReferenceParameters), such as an EPR-typed property or ResourceCreated.
func ParseEPR(el *etree.Element) (EPR, error) {
	if el == nil {
		return EPR{}, fmt.Errorf("%w: missing endpoint reference", ErrMalformed)
	}
	var epr EPR
	addr := Child(el, NSAddressing, "Address")
	rp := Child(el, NSAddressing, "ReferenceParameters")
	if addr == nil && rp == nil {
		return EPR{}, fmt.Errorf("%w: %s holds no wsa:Address or wsa:ReferenceParameters", ErrMalformed, describe(el))
	}
	epr.Address = Text(addr)
	if rp != nil {
		epr.ResourceURI, _ = ChildText(rp, NSWSMan, "ResourceURI")
		sel, err := ParseSelectorSet(Child(rp, NSWSMan, "SelectorSet"))
		if err != nil {
			return EPR{}, err
		}
		epr.Selectors = sel
	}
	return epr, nil
}

// describe names an element for error messages as {namespace}local.
func describe(el *etree.Element) string {
	if el == nil {
		return "nothing"
	}
	ns := el.NamespaceURI()
	if ns == "" {
		return el.Tag
	}
	return "{" + oneline.Escape(ns) + "}" + el.Tag
}
