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
// read with Get (whose prefixes AMT declares on the envelope). The copy's
// strings are its own: keeping it keeps nothing of el's document.
func Detach(el *etree.Element) *etree.Element {
	cp, _ := detach(el, true)
	return cp
}

// detach is Detach, with the strings of the copy cloned when cloneStrings (so
// that it keeps nothing of the source's memory) and an estimate of the copy's
// size in memory.
func detach(el *etree.Element, cloneStrings bool) (*etree.Element, int64) {
	cp, size := copyTree(el, cloneStrings)
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
		if cloneStrings {
			uri = strings.Clone(uri)
		}
		size += attrCost + int64(len(p)+len(uri))
		if p == "" {
			cp.CreateAttr("xmlns", uri)
		} else {
			cp.CreateAttr("xmlns:"+p, uri)
		}
	}
	return cp, size
}

// Estimated memory of the nodes of an etree tree beyond their strings: an
// Element is about 100 bytes plus its slot in its parent's Child slice; an
// attribute or a text, comment or processing-instruction node about half.
const (
	elementCost = 128
	attrCost    = 64
)

// copyTree returns a deep copy of el made of new nodes, and an estimate of its
// size in memory. Unlike etree's Copy, which leaves each copied attribute
// pointing at the original element (and so keeps the whole source document
// reachable), the copy references nothing of the source; with cloneStrings it
// shares no string either (the envelope reader's strings are slices of the
// whole response body).
func copyTree(el *etree.Element, cloneStrings bool) (*etree.Element, int64) {
	str := func(s string) string { return s }
	if cloneStrings {
		str = strings.Clone
	}
	var size int64
	var cp func(dst, src *etree.Element)
	cp = func(dst, src *etree.Element) {
		size += elementCost + int64(len(src.Space)+len(src.Tag))
		if len(src.Attr) > 0 {
			dst.Attr = make([]etree.Attr, 0, len(src.Attr))
		}
		for _, a := range src.Attr {
			size += attrCost + int64(len(a.Space)+len(a.Key)+len(a.Value))
			dst.CreateAttr(str(a.FullKey()), str(a.Value))
		}
		for _, t := range src.Child {
			switch t := t.(type) {
			case *etree.Element:
				if strings.IndexByte(t.Tag, ':') >= 0 || strings.IndexByte(t.Space, ':') >= 0 {
					cp(dst.CreateElement(str(t.FullTag())), t) // as etree splits it
					continue
				}
				// The parts as they are: FullTag would build a string only
				// to have CreateElement split it again.
				c := etree.NewElement("")
				c.Space, c.Tag = str(t.Space), str(t.Tag)
				dst.AddChild(c)
				cp(c, t)
			case *etree.CharData:
				size += attrCost + int64(len(t.Data))
				switch {
				case t.IsCData():
					dst.CreateCData(str(t.Data))
				case t.IsWhitespace():
					dst.CreateText("").SetData(str(t.Data))
				default:
					dst.CreateText(str(t.Data))
				}
			case *etree.Comment:
				size += attrCost + int64(len(t.Data))
				dst.CreateComment(str(t.Data))
			case *etree.ProcInst:
				size += attrCost + int64(len(t.Target)+len(t.Inst))
				dst.CreateProcInst(str(t.Target), str(t.Inst))
			case *etree.Directive:
				size += attrCost + int64(len(t.Data))
				dst.CreateDirective(str(t.Data))
			}
		}
	}
	root := etree.NewElement(str(el.FullTag()))
	cp(root, el)
	return root, size
}
