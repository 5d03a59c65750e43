package wsman

import (
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// NamespaceOf returns the namespace URI of el, resolved through the xmlns
// declarations in scope (its own and its ancestors'). It returns "" for an
// element in no namespace.
func NamespaceOf(el *etree.Element) string {
	if el == nil {
		return ""
	}
	return el.NamespaceURI()
}

// Is reports whether el has the given namespace URI and local name. An empty ns
// matches any namespace.
func Is(el *etree.Element, ns, local string) bool {
	if el == nil || el.Tag != local {
		return false
	}
	return ns == "" || el.NamespaceURI() == ns
}

// Child returns the first child element of el with the given namespace URI and
// local name, or nil. An empty ns matches any namespace.
func Child(el *etree.Element, ns, local string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok && Is(c, ns, local) {
			return c
		}
	}
	return nil
}

// Children returns every child element of el with the given namespace URI and
// local name, in document order. An empty ns matches any namespace.
func Children(el *etree.Element, ns, local string) []*etree.Element {
	if el == nil {
		return nil
	}
	var out []*etree.Element
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok && Is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// firstChild returns the first child element of el, whatever its name, or nil.
func firstChild(el *etree.Element) *etree.Element {
	if el == nil {
		return nil
	}
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok {
			return c
		}
	}
	return nil
}

// find returns the first descendant of el (depth first, el excluded) with the
// given namespace URI and local name, or nil. An empty ns matches any namespace.
func find(el *etree.Element, ns, local string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, t := range el.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if Is(c, ns, local) {
			return c
		}
		if f := find(c, ns, local); f != nil {
			return f
		}
	}
	return nil
}

// Text returns the character data directly inside el (CDATA included,
// comments skipped, child elements' text excluded) with leading and trailing XML
// white space removed. It returns "" for nil.
func Text(el *etree.Element) string {
	if el == nil {
		return ""
	}
	var b strings.Builder
	var first string
	n := 0
	for _, t := range el.Child {
		cd, ok := t.(*etree.CharData)
		if !ok {
			continue
		}
		if n == 0 {
			first = cd.Data
		} else {
			if n == 1 {
				b.WriteString(first)
			}
			b.WriteString(cd.Data)
		}
		n++
	}
	if n > 1 {
		first = b.String()
	}
	return strings.Trim(first, " \t\r\n")
}

// ChildText returns Text of the first child matching ns and local, and whether
// such a child exists.
func ChildText(el *etree.Element, ns, local string) (string, bool) {
	c := Child(el, ns, local)
	if c == nil {
		return "", false
	}
	return Text(c), true
}

// hasChildElements reports whether el has at least one child element.
func hasChildElements(el *etree.Element) bool { return firstChild(el) != nil }

// lookupPrefix resolves a namespace prefix as seen from el ("" = the default
// namespace). It reports false when the prefix is not declared.
func lookupPrefix(el *etree.Element, prefix string) (string, bool) {
	if prefix == "xml" {
		return NSXML, true
	}
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if prefix == "" {
				if a.Space == "" && a.Key == "xmlns" {
					return a.Value, true
				}
			} else if a.Space == "xmlns" && a.Key == prefix {
				return a.Value, true
			}
		}
	}
	return "", false
}

// attrNS returns the value of the attribute with the given namespace and local
// name ("" ns = an unprefixed attribute, which is in no namespace).
func attrNS(el *etree.Element, ns, local string) (string, bool) {
	for _, a := range el.Attr {
		if a.Key != local || a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if ns == "" {
			if a.Space == "" {
				return a.Value, true
			}
			continue
		}
		if a.Space == "" {
			continue
		}
		if u, ok := lookupPrefix(el, a.Space); ok && u == ns {
			return a.Value, true
		}
	}
	return "", false
}

// ensureNS declares prefix=uri on the topmost ancestor of el unless the prefix
// already resolves to uri from el.
func ensureNS(el *etree.Element, prefix, uri string) {
	if u, ok := lookupPrefix(el, prefix); ok && u == uri {
		return
	}
	top := el
	for top.Parent() != nil && top.Parent().Tag != "" {
		top = top.Parent()
	}
	top.CreateAttr("xmlns:"+prefix, uri)
}

// Detach returns a deep copy of el that stands alone: namespace prefixes it
// uses but that were declared on its ancestors are declared on the copy. Use it
// to move an element from one document to another, e.g. to Put back an instance
// read with Get (whose prefixes AMT declares on the envelope).
func Detach(el *etree.Element) *etree.Element {
	cp := el.Copy()
	declared := func(prefix string) bool {
		for _, a := range cp.Attr {
			if prefix == "" && a.Space == "" && a.Key == "xmlns" || prefix != "" && a.Space == "xmlns" && a.Key == prefix {
				return true
			}
		}
		return false
	}
	need := map[string]struct{}{}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		need[e.Space] = struct{}{}
		for _, a := range e.Attr {
			if a.Space != "" && a.Space != "xmlns" && a.Space != "xml" {
				need[a.Space] = struct{}{}
			}
		}
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				walk(c)
			}
		}
	}
	walk(cp)
	prefixes := make([]string, 0, len(need))
	for p := range need {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		if declared(p) {
			continue
		}
		uri, ok := lookupPrefix(el, p)
		if !ok || (p == "" && uri == "") {
			continue
		}
		if p == "" {
			cp.CreateAttr("xmlns", uri)
		} else {
			cp.CreateAttr("xmlns:"+p, uri)
		}
	}
	return cp
}
