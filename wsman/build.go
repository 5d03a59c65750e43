package wsman

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// newEnvelopeDoc starts a request document: the XML declaration and
// s:Envelope declaring the prefixes every request uses.
func newEnvelopeDoc() (*etree.Document, *etree.Element, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	env := doc.CreateElement(pfxSOAP + ":Envelope")
	env.CreateAttr("xmlns:"+pfxSOAP, NSSOAP)
	env.CreateAttr("xmlns:"+pfxAddr, NSAddressing)
	env.CreateAttr("xmlns:"+pfxWSMan, NSWSMan)
	hdr := env.CreateElement(pfxSOAP + ":Header")
	return doc, env, hdr
}

// envelopeStart is what newEnvelopeDoc's document writes before the header's
// first block.
const envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<` + pfxSOAP + `:Envelope xmlns:` + pfxSOAP + `="` + NSSOAP + `" xmlns:` + pfxAddr + `="` + NSAddressing +
	`" xmlns:` + pfxWSMan + `="` + NSWSMan + `"><` + pfxSOAP + `:Header>`

// writeRequest writes the envelope of req into w. Header blocks come in the
// order openwsman and AMT clients use: Action, To, ResourceURI, MessageID,
// ReplyTo, OperationTimeout, MaxEnvelopeSize, Locale, SelectorSet, OptionSet.
//
// The bytes are those of the request built as an etree document (the
// envelope of newEnvelopeDoc with each block an element) and written with
// etree's default settings; the header is written straight from the request,
// without the tree (a session makes this call 17 times). Caller elements
// (selector references, extra headers, the body) are written by etree itself.
// TestWriteRequestIsTheDocument holds the two equal.
func writeRequest(w *bytes.Buffer, req *Request, cc *callConfig, to, msgID string) {
	w.WriteString(envelopeStart)
	textElement(w, pfxAddr+":Action", ` `+pfxSOAP+`:mustUnderstand="true"`, req.Action)
	textElement(w, pfxAddr+":To", ` `+pfxSOAP+`:mustUnderstand="true"`, to)
	if req.ResourceURI != "" {
		textElement(w, pfxWSMan+":ResourceURI", ` `+pfxSOAP+`:mustUnderstand="true"`, req.ResourceURI)
	}
	textElement(w, pfxAddr+":MessageID", ` `+pfxSOAP+`:mustUnderstand="true"`, msgID)
	w.WriteString(`<` + pfxAddr + `:ReplyTo><` + pfxAddr + `:Address>` + AddressAnonymous + `</` + pfxAddr + `:Address></` + pfxAddr + `:ReplyTo>`)
	if cc.timeout >= 0 {
		d := cc.timeout
		if d == 0 {
			d = DefaultOperationTimeout
		}
		textElement(w, pfxWSMan+":OperationTimeout", "", formatDuration(d))
	}
	if cc.maxEnvelope > 0 {
		textElement(w, pfxWSMan+":MaxEnvelopeSize", ` `+pfxSOAP+`:mustUnderstand="true"`, strconv.Itoa(cc.maxEnvelope))
	}
	if cc.locale != "" {
		w.WriteString(`<` + pfxWSMan + `:Locale xml:lang="`)
		escape(w, cc.locale)
		w.WriteString(`" ` + pfxSOAP + `:mustUnderstand="false"/>`)
	}
	writeSelectors(w, req.Selectors)
	if len(cc.optionSet) > 0 {
		w.WriteString(`<` + pfxWSMan + `:OptionSet`)
		if cc.optionMU {
			w.WriteString(` ` + pfxSOAP + `:mustUnderstand="true"`)
		}
		w.WriteByte('>')
		for _, o := range cc.optionSet {
			named(w, pfxWSMan+":Option", o.Name, o.Type, o.Value)
		}
		w.WriteString(`</` + pfxWSMan + `:OptionSet>`)
	}
	for _, h := range cc.headers {
		h.WriteTo(w, &etree.WriteSettings{})
	}
	w.WriteString(`</` + pfxSOAP + `:Header>`)
	if req.Body == nil {
		w.WriteString(`<` + pfxSOAP + `:Body/></` + pfxSOAP + `:Envelope>`)
		return
	}
	w.WriteString(`<` + pfxSOAP + `:Body>`)
	writeBody(w, req.Body)
	w.WriteString(`</` + pfxSOAP + `:Body></` + pfxSOAP + `:Envelope>`)
}

// textElement writes <tag attrs>text</tag>; attrs is written as it is.
func textElement(w *bytes.Buffer, tag, attrs, text string) {
	w.WriteByte('<')
	w.WriteString(tag)
	w.WriteString(attrs)
	content(w, tag, text)
}

// content ends a start tag written up to its attributes: with text and the
// end tag, or as an empty element when text is "".
func content(w *bytes.Buffer, tag, text string) {
	if text == "" {
		w.WriteString(`/>`)
		return
	}
	w.WriteByte('>')
	escape(w, text)
	w.WriteString(`</`)
	w.WriteString(tag)
	w.WriteByte('>')
}

// named writes <tag Name="name" Type="typ">value</tag>, without the Type
// when typ is "" and as an empty element when value is "".
func named(w *bytes.Buffer, tag, name, typ, value string) {
	w.WriteByte('<')
	w.WriteString(tag)
	w.WriteString(` Name="`)
	escape(w, name)
	w.WriteByte('"')
	if typ != "" {
		w.WriteString(` Type="`)
		escape(w, typ)
		w.WriteByte('"')
	}
	content(w, tag, value)
}

// writeSelectors writes s as SelectorSet.AppendTo would build it under the
// envelope's header. Selectors by reference are built by AppendTo itself.
func writeSelectors(w *bytes.Buffer, s SelectorSet) {
	if len(s) == 0 {
		return
	}
	for _, x := range s {
		if x.EPR != nil {
			_, _, hdr := newEnvelopeDoc()
			s.AppendTo(hdr).WriteTo(w, &etree.WriteSettings{})
			return
		}
	}
	w.WriteString(`<` + pfxWSMan + `:SelectorSet>`)
	for _, x := range s {
		named(w, pfxWSMan+":Selector", x.Name, "", x.Value)
	}
	w.WriteString(`</` + pfxWSMan + `:SelectorSet>`)
}

// writeBody writes the body element as a copy Detach made of it would be
// written, less the declarations the envelope already makes. A body that
// stands alone and repeats none of them is written as it is, without the copy.
func writeBody(w *bytes.Buffer, body *etree.Element) {
	if !regular(body) {
		// Names set by hand (a prefix in Tag or Key, a colon in Space) or
		// a repeated attribute: the copy Detach makes rebuilds each name
		// and merges the repeats, as it always did for such a body.
		b := body
		if body.Parent() != nil || redeclares(body) {
			b = Detach(body)
			for i := len(b.Attr) - 1; i >= 0; i-- {
				if a := b.Attr[i]; envelopeDeclares(a) {
					b.RemoveAttr(a.FullKey())
				}
			}
		}
		b.WriteTo(w, &etree.WriteSettings{})
		return
	}
	if body.Parent() == nil && !redeclares(body) {
		writeElement(w, body, false, nil)
		return
	}
	// What Detach would add: declarations of the prefixes the body uses
	// that its ancestors declare, in Detach's order (after the body's own,
	// by prefix); then, of all, those the envelope makes are left out.
	var extra []etree.Attr
	for _, p := range usedPrefixes(body) {
		if declares(body, p) {
			continue
		}
		uri, ok := lookupPrefix(body, p)
		if !ok || (p == "" && uri == "") {
			continue
		}
		a := etree.Attr{Space: "xmlns", Key: p, Value: uri}
		if p == "" {
			a = etree.Attr{Key: "xmlns", Value: uri}
		}
		if !envelopeDeclares(a) {
			extra = append(extra, a)
		}
	}
	writeElement(w, body, true, extra)
}

// writeElement writes el as etree's Element.WriteTo does with its default
// settings (the same bytes: TestWriteElementMatchesEtree), without the
// strings WriteTo builds for every prefixed tag and attribute name. With
// detached, el is written as the top of a copy Detach made, less the
// declarations the envelope makes: el's own of those are left out, and extra
// (Detach's additions, already without them) follow el's own.
func writeElement(w *bytes.Buffer, el *etree.Element, detached bool, extra []etree.Attr) {
	w.WriteByte('<')
	writeQName(w, el.Space, el.Tag)
	for _, a := range el.Attr {
		if detached && envelopeDeclares(a) {
			continue
		}
		writeAttr(w, a)
	}
	for _, a := range extra {
		writeAttr(w, a)
	}
	if len(el.Child) == 0 {
		w.WriteString("/>")
		return
	}
	w.WriteByte('>')
	var ws etree.WriteSettings
	for _, c := range el.Child {
		if ce, ok := c.(*etree.Element); ok {
			writeElement(w, ce, false, nil)
			continue
		}
		c.WriteTo(w, &ws)
	}
	w.WriteString("</")
	writeQName(w, el.Space, el.Tag)
	w.WriteByte('>')
}

func writeQName(w *bytes.Buffer, space, local string) {
	if space != "" {
		w.WriteString(space)
		w.WriteByte(':')
	}
	w.WriteString(local)
}

func writeAttr(w *bytes.Buffer, a etree.Attr) {
	w.WriteByte(' ')
	writeQName(w, a.Space, a.Key)
	w.WriteString(`="`)
	escape(w, a.Value)
	w.WriteByte('"')
}

// regular reports whether every name in el's tree is as etree's parser and
// CreateElement/CreateAttr make them — a prefix only in Space, no colon in
// Tag or Key (nor in Space) — and no element repeats an attribute: trees
// writeElement writes as a Detach copy would be written.
func regular(el *etree.Element) bool {
	if strings.IndexByte(el.Space, ':') >= 0 || strings.IndexByte(el.Tag, ':') >= 0 {
		return false
	}
	for i, a := range el.Attr {
		if strings.IndexByte(a.Space, ':') >= 0 || strings.IndexByte(a.Key, ':') >= 0 {
			return false
		}
		for _, b := range el.Attr[:i] {
			if a.Space == b.Space && a.Key == b.Key {
				return false
			}
		}
	}
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok && !regular(c) {
			return false
		}
	}
	return true
}

// usedPrefixes lists, sorted, the prefixes el and its descendants use in
// element and attribute names, as Detach declares them.
func usedPrefixes(el *etree.Element) []string {
	var out []string
	add := func(p string) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		add(e.Space)
		for _, a := range e.Attr {
			if a.Space != "" && a.Space != "xmlns" && a.Space != "xml" {
				add(a.Space)
			}
		}
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				walk(c)
			}
		}
	}
	walk(el)
	slices.Sort(out)
	return out
}

// declares reports whether el itself declares prefix ("" the default
// namespace).
func declares(el *etree.Element, prefix string) bool {
	for _, a := range el.Attr {
		if prefix == "" && a.Space == "" && a.Key == "xmlns" || prefix != "" && a.Space == "xmlns" && a.Key == prefix {
			return true
		}
	}
	return false
}

// redeclares reports whether el declares a prefix as the envelope does.
func redeclares(el *etree.Element) bool {
	for _, a := range el.Attr {
		if envelopeDeclares(a) {
			return true
		}
	}
	return false
}

func envelopeDeclares(a etree.Attr) bool {
	return a.Space == "xmlns" && ((a.Key == pfxAddr && a.Value == NSAddressing) || (a.Key == pfxWSMan && a.Value == NSWSMan) || (a.Key == pfxSOAP && a.Value == NSSOAP))
}

// escape writes s as etree writes text and attribute values with its default
// settings. Values of the header (URIs, UUIDs, numbers) need no escaping and
// are written as they are; any other goes through etree.
func escape(w *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '&' || c == '<' || c == '>' || c == '\'' || c == '"' {
			etree.NewText(s).WriteTo(w, &etree.WriteSettings{})
			return
		}
	}
	w.WriteString(s)
}
