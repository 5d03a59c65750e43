package wsman

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"
)

// requestTree builds req's envelope as an etree document, block by block: the
// way requests were built before writeRequest, kept here as its reference.
func requestTree(req *Request, cc *callConfig, to, msgID string) *etree.Document {
	doc, env, hdr := newEnvelopeDoc()
	mu := func(el *etree.Element, v bool) { el.CreateAttr(pfxSOAP+":mustUnderstand", strconv.FormatBool(v)) }
	text := func(tag, s string, must bool) {
		el := hdr.CreateElement(tag)
		if must {
			mu(el, true)
		}
		el.SetText(s)
	}
	text(pfxAddr+":Action", req.Action, true)
	text(pfxAddr+":To", to, true)
	if req.ResourceURI != "" {
		text(pfxWSMan+":ResourceURI", req.ResourceURI, true)
	}
	text(pfxAddr+":MessageID", msgID, true)
	hdr.CreateElement(pfxAddr + ":ReplyTo").CreateElement(pfxAddr + ":Address").SetText(AddressAnonymous)
	if cc.timeout >= 0 {
		d := cc.timeout
		if d == 0 {
			d = DefaultOperationTimeout
		}
		text(pfxWSMan+":OperationTimeout", formatDuration(d), false)
	}
	if cc.maxEnvelope > 0 {
		text(pfxWSMan+":MaxEnvelopeSize", strconv.Itoa(cc.maxEnvelope), true)
	}
	if cc.locale != "" {
		l := hdr.CreateElement(pfxWSMan + ":Locale")
		l.CreateAttr("xml:lang", cc.locale)
		mu(l, false)
	}
	req.Selectors.AppendTo(hdr)
	if len(cc.optionSet) > 0 {
		os := hdr.CreateElement(pfxWSMan + ":OptionSet")
		if cc.optionMU {
			mu(os, true)
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
		for i := len(b.Attr) - 1; i >= 0; i-- {
			if a := b.Attr[i]; envelopeDeclares(a) {
				b.RemoveAttr(a.FullKey())
			}
		}
		body.AddChild(b)
	}
	return doc
}

func written(req *Request, cc *callConfig, to, msgID string) string {
	var buf bytes.Buffer
	writeRequest(&buf, req, cc, to, msgID)
	return buf.String()
}

func TestWriteRequestIsTheDocument(t *testing.T) {
	standalone := func() *etree.Element {
		b := etree.NewElement("h:Get_INPUT")
		b.CreateAttr("xmlns:h", "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_Foo")
		b.CreateElement("h:Name").SetText(`a & b < c > d 'e' "f"`)
		b.CreateElement("h:Empty")
		b.CreateComment(" kept ")
		b.CreateCData("<raw>")
		return b
	}
	redeclaring := func() *etree.Element {
		b := standalone()
		b.CreateAttr("xmlns:"+pfxWSMan, NSWSMan)
		b.CreateAttr("xmlns:"+pfxAddr, NSAddressing)
		b.CreateElement(pfxAddr + ":Address").SetText("x")
		return b
	}
	inDocument := func() *etree.Element {
		doc, _, _ := newEnvelopeDoc()
		inst := doc.Root().CreateElement(pfxSOAP + ":Body").CreateElement("g:AMT_GeneralSettings")
		doc.Root().CreateAttr("xmlns:g", "http://example/g")
		inst.CreateElement("g:HostName").SetText("pc-01")
		inst.CreateElement(pfxWSMan + ":Ref")
		return inst
	}
	hdr := etree.NewElement("x:Extra")
	hdr.CreateAttr("xmlns:x", "urn:x")
	hdr.SetText("v")
	tests := []struct {
		name string
		req  Request
		cc   callConfig
		to   string
	}{
		{name: "get", req: Request{Action: ActionGet, ResourceURI: "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"}, to: "/wsman"},
		{name: "no resource, no timeout", req: Request{Action: "urn:a"}, cc: callConfig{timeout: -1}, to: "http://h:16992/wsman"},
		{name: "all headers", req: Request{Action: ActionPut, ResourceURI: "urn:r",
			Selectors: SelectorSet{Sel("InstanceID", "Intel(r) AMT 802.3 TLS Settings"), Sel("Empty", ""), Sel("Q", `<&>"'`)}},
			cc: callConfig{timeout: 90 * time.Second, maxEnvelope: 153600, locale: "en-US", optionMU: true,
				optionSet: []OptionValue{{Name: "a", Value: "1", Type: "xs:int"}, {Name: "b"}, {Name: `n"`, Value: "<v>"}},
				headers:   []*etree.Element{hdr}}, to: "/wsman"},
		{name: "options without mustUnderstand", req: Request{Action: "urn:a"}, cc: callConfig{optionSet: []OptionValue{{Name: "x", Value: "y"}}}},
		{name: "locale to escape", req: Request{Action: "urn:a"}, cc: callConfig{locale: `a"b&`}},
		{name: "selector by reference", req: Request{Action: ActionDelete, ResourceURI: "urn:r", Selectors: SelectorSet{
			Sel("Name", "v"),
			{Name: "Ref", EPR: &EPR{ResourceURI: "urn:t", Selectors: SelectorSet{Sel("InstanceID", "i & j")}}},
		}}},
		{name: "standalone body", req: Request{Action: "urn:a", Body: standalone()}},
		{name: "body redeclaring the envelope's prefixes", req: Request{Action: "urn:a", Body: redeclaring()}},
		{name: "body from another document", req: Request{Action: "urn:a", Body: inDocument()}},
		{name: "body with its own default namespace", req: Request{Action: "urn:a", Body: func() *etree.Element {
			b := etree.NewElement("Input")
			b.CreateAttr("xmlns", "urn:d")
			b.CreateText("\t\r\n text ")
			return b
		}()}},
		{name: "values to escape and not UTF-8", req: Request{Action: "urn:a&b", ResourceURI: "urn:\x01\xff<r>\u00e9"}, to: "'to'"},
		{name: "empty action", req: Request{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := string(serialize(requestTree(&tt.req, &tt.cc, tt.to, "uuid:1")))
			require.Equal(t, want, written(&tt.req, &tt.cc, tt.to, "uuid:1"))
		})
	}
}

// FuzzWriteRequest holds writeRequest to the document's bytes for any text
// in the places a caller's strings go.
func FuzzWriteRequest(f *testing.F) {
	f.Add("urn:a", "urn:r", "InstanceID", "v", "en", "n", "1", "t", "text")
	f.Add("a&b", "<", `"`, "'", "\x00", "\xff", "\u00e9", "\r\n", "]]>")
	f.Fuzz(func(t *testing.T, action, resource, selName, selValue, locale, optName, optValue, optType, text string) {
		body := etree.NewElement("h:In")
		body.CreateAttr("xmlns:h", "urn:h")
		body.CreateElement("h:V").SetText(text)
		req := Request{Action: action, ResourceURI: resource, Selectors: SelectorSet{Sel(selName, selValue)}, Body: body}
		cc := callConfig{locale: locale, optionSet: []OptionValue{{Name: optName, Value: optValue, Type: optType}}}
		want := string(serialize(requestTree(&req, &cc, text, selValue)))
		require.Equal(t, want, written(&req, &cc, text, selValue))
	})
}

// bodyReference is writeBody as it was before writeElement: a copy Detach
// makes, less the declarations the envelope makes, written by etree.
func bodyReference(body *etree.Element) string {
	b := body
	if body.Parent() != nil || redeclares(body) {
		b = Detach(body)
		for i := len(b.Attr) - 1; i >= 0; i-- {
			if a := b.Attr[i]; envelopeDeclares(a) {
				b.RemoveAttr(a.FullKey())
			}
		}
	}
	var w bytes.Buffer
	b.WriteTo(&w, &etree.WriteSettings{})
	return w.String()
}

// checkBodies checks writeBody and writeElement against etree on every
// element of doc, in place (with its ancestors' declarations) and standing
// alone.
func checkBodies(t *testing.T, doc *etree.Document) {
	t.Helper()
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		var got, want bytes.Buffer
		writeElement(&got, e, false, nil)
		e.WriteTo(&want, &etree.WriteSettings{})
		require.Equal(t, want.String(), got.String(), "writeElement <%s>", e.FullTag())
		got.Reset()
		writeBody(&got, e)
		require.Equal(t, bodyReference(e), got.String(), "writeBody <%s>", e.FullTag())
		alone := e.Copy()
		got.Reset()
		writeBody(&got, alone)
		require.Equal(t, bodyReference(alone), got.String(), "writeBody of a copy of <%s>", e.FullTag())
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	if r := doc.Root(); r != nil {
		walk(r)
	}
}

// TestWriteBodyMatchesDetach: the body writer writes, for every element of
// every recorded response (in place, where its prefixes are declared on the
// envelope, and alone), the bytes the Detach copy wrote.
func TestWriteBodyMatchesDetach(t *testing.T) {
	files, err := filepath.Glob("testdata/responses/*.xml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	cases := map[string]string{
		"escapes":       `<p:A xmlns:p="urn:p" xmlns:s="http://www.w3.org/2003/05/soap-envelope" b="&amp;&lt;&gt;&quot;&apos;" p:c="é"><p:B>&amp;x</p:B><![CDATA[<y>]]><!--c--><?pi z?><p:E/></p:A>`,
		"default ns":    `<A xmlns="urn:d"><B xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"><wsa:To>x</wsa:To></B></A>`,
		"envelope decl": `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body><h:X xmlns:h="urn:h" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><wsman:S h:a="1"/></h:X></s:Body></s:Envelope>`,
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "unsafe-") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		cases[filepath.Base(f)] = string(b)
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			doc, err := readXML([]byte(in), 64)
			require.NoError(t, err)
			checkBodies(t, doc)
		})
	}
}

// FuzzWriteBody holds writeBody and writeElement to etree's bytes on any
// document the reader accepts.
func FuzzWriteBody(f *testing.F) {
	f.Add([]byte(`<p:A xmlns:p="urn:p" b="&amp;"><p:B>x</p:B></p:A>`))
	f.Add([]byte(`<s:E xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:B><wsa:A xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" x="&#xD;"/></s:B></s:E>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := readXML(b, 64)
		if err != nil {
			return
		}
		checkBodies(t, doc)
	})
}

// builtTree builds a body from b as a caller might, through etree's API and
// by hand (names with the prefix in Tag or Key, a colon in Space, attributes
// appended twice, declarations the envelope makes), under an ancestor that
// declares prefixes, or alone.
func builtTree(b []byte) *etree.Element {
	names := []struct{ space, tag string }{
		{"", "A"}, {"p", "B"}, {"q", "C"}, {"", "n:D"}, {"r:s", "E"}, {"wsman", "F"}, {"", "xsi:nil"}, {"xmlns", ""},
	}
	keys := []struct{ space, key, value string }{
		{"", "a", "1"}, {"p", "b", "&<"}, {"xmlns", "p", "urn:p"}, {"", "xmlns:q", "urn:q"}, {"", "xmlns", "urn:d"},
		{"xmlns", "wsman", NSWSMan}, {"", "n:k", "v"}, {"xmlns", "s", NSSOAP}, {"xsi", "nil", "true"},
	}
	next := func() int {
		if len(b) == 0 {
			return 0
		}
		c := int(b[0])
		b = b[1:]
		return c
	}
	top := etree.NewElement("top:T")
	top.CreateAttr("xmlns:top", "urn:top")
	top.CreateAttr("xmlns:p", "urn:p-anc")
	top.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	top.CreateAttr("xmlns:wsman", NSWSMan)
	body := etree.NewElement("p:Body")
	if next()%2 == 0 {
		top.AddChild(body)
	}
	open := []*etree.Element{body}
	for len(b) > 0 && len(open) < 32 {
		cur := open[next()%len(open)]
		switch op := next() % 7; op {
		case 0, 1: // an element through the API or by hand
			n := names[next()%len(names)]
			var e *etree.Element
			if op == 0 {
				e = cur.CreateElement(n.tag)
				if n.space != "" {
					e.Space = n.space
				}
			} else {
				e = &etree.Element{Space: n.space, Tag: n.tag}
				cur.AddChild(e)
			}
			open = append(open, e)
		case 2: // an attribute through the API
			k := keys[next()%len(keys)]
			if k.space != "" {
				cur.CreateAttr(k.space+":"+k.key, k.value)
			} else {
				cur.CreateAttr(k.key, k.value)
			}
		case 3: // an attribute appended by hand (repeats allowed)
			k := keys[next()%len(keys)]
			cur.Attr = append(cur.Attr, etree.Attr{Space: k.space, Key: k.key, Value: k.value})
		case 4:
			cur.CreateText(string(rune('a' + next()%26)))
		case 5:
			cur.CreateCData("<x>")
		case 6:
			cur.CreateComment("c")
		}
	}
	return body
}

// FuzzWriteBodyBuilt holds writeBody to the Detach copy's bytes for bodies
// built by hand, not only parsed ones.
func FuzzWriteBodyBuilt(f *testing.F) {
	f.Add([]byte{0, 0, 1, 3, 0, 3, 6, 0, 2, 2, 1, 1, 3, 0, 4})
	f.Add([]byte{1, 0, 0, 0, 0, 3, 1, 7, 0, 3, 1, 3, 1, 3, 1, 0, 2, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		body := builtTree(b)
		var got bytes.Buffer
		writeBody(&got, body)
		require.Equal(t, bodyReference(body), got.String())
	})
}
