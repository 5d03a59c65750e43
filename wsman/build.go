package wsman

import (
	"bytes"
	"strconv"
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
