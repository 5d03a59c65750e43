package wsman

import (
	"strconv"

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

func mustUnderstand(el *etree.Element, v bool) {
	el.CreateAttr(pfxSOAP+":mustUnderstand", strconv.FormatBool(v))
}

// buildRequest writes the envelope of req. Header blocks come in the order
// openwsman and AMT clients use: Action, To, ResourceURI, MessageID, ReplyTo,
// OperationTimeout, MaxEnvelopeSize, Locale, SelectorSet, OptionSet.
func buildRequest(req *Request, cc *callConfig, to, msgID string) *etree.Document {
	doc, env, hdr := newEnvelopeDoc()
	a := hdr.CreateElement(pfxAddr + ":Action")
	mustUnderstand(a, true)
	a.SetText(req.Action)
	t := hdr.CreateElement(pfxAddr + ":To")
	mustUnderstand(t, true)
	t.SetText(to)
	if req.ResourceURI != "" {
		r := hdr.CreateElement(pfxWSMan + ":ResourceURI")
		mustUnderstand(r, true)
		r.SetText(req.ResourceURI)
	}
	m := hdr.CreateElement(pfxAddr + ":MessageID")
	mustUnderstand(m, true)
	m.SetText(msgID)
	hdr.CreateElement(pfxAddr + ":ReplyTo").CreateElement(pfxAddr + ":Address").SetText(AddressAnonymous)
	if cc.timeout >= 0 {
		d := cc.timeout
		if d == 0 {
			d = DefaultOperationTimeout
		}
		hdr.CreateElement(pfxWSMan + ":OperationTimeout").SetText(formatDuration(d))
	}
	if cc.maxEnvelope > 0 {
		e := hdr.CreateElement(pfxWSMan + ":MaxEnvelopeSize")
		mustUnderstand(e, true)
		e.SetText(strconv.Itoa(cc.maxEnvelope))
	}
	if cc.locale != "" {
		l := hdr.CreateElement(pfxWSMan + ":Locale")
		l.CreateAttr("xml:lang", cc.locale)
		mustUnderstand(l, false)
	}
	req.Selectors.AppendTo(hdr)
	if len(cc.optionSet) > 0 {
		os := hdr.CreateElement(pfxWSMan + ":OptionSet")
		if cc.optionMU {
			mustUnderstand(os, true)
		}
		for _, o := range cc.optionSet {
			e := os.CreateElement(pfxWSMan + ":Option")
			e.CreateAttr("Name", o.Name)
			if o.Type != "" {
				e.CreateAttr("Type", o.Type)
			}
			if o.Value != "" {
				e.SetText(o.Value)
			}
		}
	}
	for _, h := range cc.headers {
		hdr.AddChild(h.Copy())
	}
	body := env.CreateElement(pfxSOAP + ":Body")
	if req.Body != nil {
		b := Detach(req.Body)
		// drop declarations the envelope already makes
		for i := len(b.Attr) - 1; i >= 0; i-- {
			a := b.Attr[i]
			if a.Space == "xmlns" && ((a.Key == pfxAddr && a.Value == NSAddressing) || (a.Key == pfxWSMan && a.Value == NSWSMan) || (a.Key == pfxSOAP && a.Value == NSSOAP)) {
				b.RemoveAttr(a.FullKey())
			}
		}
		body.AddChild(b)
	}
	return doc
}
