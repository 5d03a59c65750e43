package wsman

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Property is one child element of an instance, a method input or output: a name
// and either a text value, an EPR, raw content, or xsi:nil. Build them with
// [Prop], [PropEPR], [PropNil] and [PropElement]; arrays are repeated properties
// with the same name ([PropArray]).
type Property struct {
	Name    string
	Value   string         // text value (escaped on output)
	EPR     *EPR           // EPR content (wsa:Address + wsa:ReferenceParameters)
	Element *etree.Element // raw content: copies of its attributes and child nodes go inside the property
	Nil     bool           // write xsi:nil="true" and no content
}

// Prop returns a text-valued property.
func Prop(name, value string) Property { return Property{Name: name, Value: value} }

// PropEPR returns an EPR-valued property (e.g. a method's reference parameter).
func PropEPR(name string, epr EPR) Property { return Property{Name: name, EPR: &epr} }

// PropNil returns a property written as xsi:nil="true".
func PropNil(name string) Property { return Property{Name: name, Nil: true} }

// PropElement returns a property whose attributes and content are copies of
// el's (el acts as a template of the property element; its own name is not
// used). [Unmarshal] into an *etree.Element field gives such an element, so
// values round-trip.
func PropElement(name string, el *etree.Element) Property {
	return Property{Name: name, Element: el}
}

// PropArray returns one property per value, all named name: how WS-Management
// writes arrays.
func PropArray(name string, values ...string) []Property {
	out := make([]Property, len(values))
	for i, v := range values {
		out[i] = Prop(name, v)
	}
	return out
}

// NewElement builds <h:local xmlns:h="ns"> holding props, in order, in the same
// namespace.
func NewElement(ns, local string, props ...Property) *etree.Element {
	el := etree.NewElement(pfxClass + ":" + local)
	el.CreateAttr("xmlns:"+pfxClass, ns)
	for _, p := range props {
		AddProperty(el, p)
	}
	return el
}

// ClassName returns the last path segment of a resource URI, which for CIM-style
// classes is the class name (…/AMT_GeneralSettings → AMT_GeneralSettings).
func ClassName(resourceURI string) string {
	if i := strings.LastIndexByte(resourceURI, '/'); i >= 0 {
		return resourceURI[i+1:]
	}
	return resourceURI
}

// NewInstance builds the body of a Put or Create: the class element (named after
// the last segment of resourceURI) in the resource URI's namespace, holding props
// in order.
func NewInstance(resourceURI string, props ...Property) *etree.Element {
	return NewElement(resourceURI, ClassName(resourceURI), props...)
}

// NewInput builds the body of an Invoke: <h:Method_INPUT xmlns:h="resourceURI">
// holding props in order. A method with no inputs still sends the empty element.
func NewInput(resourceURI, method string, props ...Property) *etree.Element {
	return NewElement(resourceURI, method+"_INPUT", props...)
}

// AddProperty appends p to el as a child element with el's prefix (so in el's
// namespace) and returns the new child.
func AddProperty(el *etree.Element, p Property) *etree.Element {
	name := p.Name
	if el.Space != "" {
		name = el.Space + ":" + p.Name
	}
	c := el.CreateElement(name)
	switch {
	case p.Nil:
		ensureNS(c, "xsi", NSXSI)
		c.CreateAttr("xsi:nil", "true")
	case p.EPR != nil:
		p.EPR.AppendTo(c)
	case p.Element != nil:
		cp := Detach(p.Element)
		for _, a := range cp.Attr {
			c.CreateAttr(a.FullKey(), a.Value)
		}
		for _, t := range slices.Clone(cp.Child) {
			c.AddChild(t)
		}
	default:
		if p.Value != "" {
			c.SetText(p.Value)
		}
	}
	return c
}

// Fields reads the child elements of an instance (or method output) into a map
// from local name to text values, in document order; repeated elements (arrays)
// give several values. Values are white-space trimmed. Elements with element
// content (EPRs, embedded instances) map to "" — read those with [Child] and
// [ParseEPR]. Namespaces are not compared: an instance's properties all share
// its namespace.
func Fields(el *etree.Element) map[string][]string {
	m := make(map[string][]string)
	if el == nil {
		return m
	}
	for _, t := range el.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		v := ""
		if !hasChildElements(c) {
			v = Text(c)
		}
		m[c.Tag] = append(m[c.Tag], v)
	}
	return m
}

// PropertyValue returns the text of el's first child element named local (any
// namespace) and whether it exists.
func PropertyValue(el *etree.Element, local string) (string, bool) {
	return ChildText(el, "", local)
}

// base64Text decodes standard base64, tolerating embedded white space (line
// breaks in long certificates).
func base64Text(s string) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return b, nil
}
