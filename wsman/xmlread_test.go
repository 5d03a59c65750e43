package wsman

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// etreeRead is the reference: etree's own reader (encoding/xml, strict).
func etreeRead(b []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = 1 << 20
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, err
	}
	return doc, nil
}

// canonical serialises a document for comparison: document-level white space
// and white-space-only text in elements that have element children dropped
// (our reader does not keep formatting), adjacent character data merged.
func canonical(t testing.TB, doc *etree.Document) string {
	cp := doc.Copy()
	for i := len(cp.Child) - 1; i >= 0; i-- {
		if cd, ok := cp.Child[i].(*etree.CharData); ok && isSpace(strings.TrimPrefix(cd.Data, "\ufeff")) {
			cp.RemoveChildAt(i)
		}
	}
	var merge func(e *etree.Element)
	merge = func(e *etree.Element) {
		hasElem := false
		for _, c := range e.Child {
			if _, ok := c.(*etree.Element); ok {
				hasElem = true
			}
		}
		if hasElem {
			for i := len(e.Child) - 1; i >= 0; i-- {
				if cd, ok := e.Child[i].(*etree.CharData); ok && isSpace(cd.Data) {
					e.RemoveChildAt(i)
				}
			}
		}
		for i := 0; i < len(e.Child); i++ {
			if c, ok := e.Child[i].(*etree.Element); ok {
				merge(c)
				continue
			}
			cd, ok := e.Child[i].(*etree.CharData)
			if !ok {
				continue
			}
			for i+1 < len(e.Child) {
				next, ok := e.Child[i+1].(*etree.CharData)
				if !ok {
					break
				}
				cd.SetData(cd.Data + next.Data)
				e.RemoveChildAt(i + 1)
			}
			if cd.Data == "" {
				e.RemoveChildAt(i)
				i--
			}
		}
	}
	merge(&cp.Element)
	s, err := cp.WriteToString()
	require.NoError(t, err)
	return s
}

func TestReaderMatchesEtreeOnFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/responses/*.xml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			ours, oerr := readXML(b, 1<<20)
			if strings.HasPrefix(filepath.Base(f), "unsafe-") {
				require.ErrorIs(t, oerr, ErrUnsafeXML)
				return
			}
			require.NoError(t, oerr)
			ref, err := etreeRead(b)
			require.NoError(t, err)
			assert.Equal(t, canonical(t, ref), canonical(t, ours))
		})
	}
}

func TestReaderCases(t *testing.T) {
	const env = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">`
	tests := []struct {
		name, in string
		err      error // nil: must parse and match etree
	}{
		{"decl with spaces around =", `<?xml version= "1.0" encoding= "UTF-8"?><a/>`, nil},
		{"bom", "\xef\xbb\xbf<a/>", nil},
		{"entities", `<a x="&lt;&amp;&gt;&quot;&apos;">&lt;&#65;&#x42;&amp;</a>`, nil},
		{"crlf normalised", "<a>x\r\ny\rz</a>", nil},
		{"crlf in attribute", "<a b=\"x\r\ny\"/>", nil},
		{"cdata", `<a><![CDATA[<not a tag> & ]]></a>`, nil},
		{"]]> in attribute", `<a b="]]>"/>`, nil},
		{"escaped ]]> in text", `<a>]]&gt;</a>`, nil},
		{"]]> in text", `<a>]]></a>`, errXML}, // FuzzReaderMatchesEtree
		{"]]> after entity", `<a>&amp;]]></a>`, errXML},
		{"comment and pi", `<!-- c --><?pi data?><a><!-- in --><?p x?></a><!-- after -->`, nil},
		{"single quotes", `<a b='1' c = "2"/>`, nil},
		{"utf8 names and text", `<é:ü xmlns:é="urn:x" ø="å">ç</é:ü>`, nil},
		{"fifth-edition-only name", "<\u07ca/>", errXML},              // FuzzReaderMatchesEtree; N'Ko letter A
		{"fifth-edition-only attribute", "<a \u07ca=\"1\"/>", errXML}, // encoding/xml refuses both
		{"declaration in comment is fine", `<a><!-- <!DOCTYPE x> --></a>`, nil},
		{"end tag with space", `<a></a  >`, nil},
		{"doctype", `<!DOCTYPE a><a/>`, ErrUnsafeXML},
		{"entity decl inside", `<a><!ENTITY x "y"></a>`, ErrUnsafeXML},
		{"undefined entity", `<a>&x;</a>`, ErrUnsafeXML},
		{"unterminated", `<a><b></a>`, errXML},
		{"mismatched", `<a></b>`, errXML},
		{"two roots", `<a/><b/>`, errXML},
		{"text outside", `x<a/>`, errXML},
		{"text after", `<a/>x`, errXML},
		{"duplicate attribute", `<a b="1" b="2"/>`, errXML},
		{"attr without space", `<a b="1"c="2"/>`, errXML},
		{"lt in attr", `<a b="<"/>`, errXML},
		{"unquoted attr", `<a b=1/>`, errXML},
		{"double colon", `<a:b:c/>`, errXML},
		{"control char", "<a>\x01</a>", errXML},
		{"bad utf8", "<a>\xff</a>", errXML},
		{"bad char ref", `<a>&#0;</a>`, errXML},
		{"bad char ref sign", `<a>&#+5;</a>`, errXML},
		{"dashes in comment", `<a><!-- a -- b --></a>`, errXML},
		{"xml decl late", `<a/><?xml version="1.0"?>`, errXML},
		{"xml version 2", `<?xml version="2.0"?><a/>`, errXML},
		{"empty", ``, errXML},
		{"only decl", `<?xml version="1.0"?>`, errXML},
		{"soap", env + `<s:Body/></s:Envelope>`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := readXML([]byte(tc.in), 64)
			if tc.err != nil {
				require.Error(t, err)
				assert.True(t, errors.Is(err, tc.err), "got %v", err)
				return
			}
			require.NoError(t, err)
			ref, err := etreeRead([]byte(tc.in))
			require.NoError(t, err)
			assert.Equal(t, canonical(t, ref), canonical(t, doc))
		})
	}
}

func TestReaderDepthBound(t *testing.T) {
	deep := strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65)
	_, err := readXML([]byte(deep), 64)
	require.ErrorIs(t, err, ErrUnsafeXML)
	ok := strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64)
	_, err = readXML([]byte(ok), 64)
	require.NoError(t, err)
}

func TestReaderAttributeBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("<a")
	for i := 0; i <= maxAttrs; i++ {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(itoaTest(i))
		b.WriteString(`="1"`)
	}
	b.WriteString("/>")
	_, err := readXML([]byte(b.String()), 64)
	require.ErrorIs(t, err, errXML)
}

func itoaTest(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoaTest(i/10) + d[i%10:i%10+1]
}

// FuzzReaderMatchesEtree: the reader never panics, and whenever it accepts an
// input etree's own (encoding/xml based) reader accepts it too and builds the
// same tree.
func FuzzReaderMatchesEtree(f *testing.F) {
	files, _ := filepath.Glob("testdata/responses/*.xml")
	for _, fn := range files {
		b, _ := os.ReadFile(fn)
		f.Add(b)
	}
	for _, s := range []string{`<a b="&amp;">x&#x20;<![CDATA[y]]><!--c--></a>`, "<a>\r\n</a>", `<?xml version="1.0"?><a:b xmlns:a="u"/>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := readXML(b, 64)
		if err != nil {
			return
		}
		ref, rerr := etreeRead(b)
		if rerr != nil {
			t.Fatalf("reader accepted what etree refuses (%v): %q", rerr, b)
		}
		if a, r := canonical(t, doc), canonical(t, ref); a != r {
			t.Fatalf("trees differ for %q:\nours: %s\netree: %s", b, a, r)
		}
		if err := checkLinks(&doc.Element); err != nil {
			t.Fatalf("%v in %q", err, b)
		}
	})
}

// checkLinks checks what etree's own methods rely on: every child knows its
// parent and its index, every attribute its element, and no two lists share
// room an append could write into.
func checkLinks(e *etree.Element) error {
	for i, a := range e.Attr {
		if a.Element() != e {
			return fmt.Errorf("attribute %d of <%s> has element %p, want %p", i, e.FullTag(), a.Element(), e)
		}
	}
	if cap(e.Attr) > len(e.Attr) && len(e.Attr) > 0 {
		return fmt.Errorf("<%s>'s attributes have room past their end", e.FullTag())
	}
	if cap(e.Child) > len(e.Child) && len(e.Child) > 0 {
		return fmt.Errorf("<%s>'s children have room past their end", e.FullTag())
	}
	for i, c := range e.Child {
		if c.Parent() != e || c.Index() != i {
			return fmt.Errorf("child %d of <%s> has parent %p and index %d", i, e.FullTag(), c.Parent(), c.Index())
		}
		if ce, ok := c.(*etree.Element); ok {
			if err := checkLinks(ce); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestReaderTreeLinks: the reader hands out its nodes from shared chunks
// (nodeArena); the tree must still be one etree builds — parents, indexes,
// attribute owners — and editing one element must leave every other as it
// was.
func TestReaderTreeLinks(t *testing.T) {
	files, err := filepath.Glob("testdata/responses/*.xml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "unsafe-") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			doc, err := readXML(b, 1<<20)
			require.NoError(t, err)
			require.NoError(t, checkLinks(&doc.Element))
			before := canonical(t, doc)
			// Grow every element's children and attributes, then take the
			// additions away again: the document must read as before.
			var all []*etree.Element
			var walk func(e *etree.Element)
			walk = func(e *etree.Element) {
				all = append(all, e)
				for _, c := range e.ChildElements() {
					walk(c)
				}
			}
			walk(doc.Root())
			for _, e := range all {
				e.CreateElement("x:added").SetText("y")
				e.CreateAttr("x:added", "z")
			}
			require.NoError(t, checkLinksAfterEdit(&doc.Element))
			for _, e := range all {
				e.RemoveChildAt(len(e.Child) - 1)
				e.RemoveAttr("x:added")
			}
			assert.Equal(t, before, canonical(t, doc))
		})
	}
}

// checkLinksAfterEdit is checkLinks without the room check (appends leave
// room, as etree's own do).
func checkLinksAfterEdit(e *etree.Element) error {
	for i, c := range e.Child {
		if c.Parent() != e || c.Index() != i {
			return fmt.Errorf("child %d of <%s> has parent %p and index %d", i, e.FullTag(), c.Parent(), c.Index())
		}
		if ce, ok := c.(*etree.Element); ok {
			if err := checkLinksAfterEdit(ce); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestReaderTextsKeepNoBody: no text or attribute value is a piece of the
// response (a value a caller keeps would keep the whole response alive): the
// common ones are constants, every other a copy of its own.
func TestReaderTextsKeepNoBody(t *testing.T) {
	in := `<a x="1" y="uuid:2"><b>true</b><b>7</b><b>` + AddressAnonymous + `</b><b>` + ActionGet + `Response</b><b>uuid:1</b><b>42</b></a>`
	doc, err := readXMLString(in, 8)
	require.NoError(t, err)
	start := uintptr(unsafe.Pointer(unsafe.StringData(in)))
	inside := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= start && p < start+uintptr(len(in))
	}
	for _, a := range doc.Root().Attr {
		assert.False(t, inside(a.Value), "attribute %s's value is a piece of the response", a.Key)
	}
	for _, e := range doc.Root().ChildElements() {
		txt := e.Text()
		assert.False(t, inside(txt), "%q is a piece of the response", txt)
		if c, ok := commonText(txt); ok {
			assert.True(t, unsafe.StringData(c) == unsafe.StringData(txt), "%q is not the constant", txt)
		}
	}
	for _, s := range []string{"true", "false", "0", "9", AddressAnonymous, ActionPull + "Response"} {
		in := strings.Clone(s)
		c, ok := commonText(in)
		require.True(t, ok, s)
		assert.Equal(t, s, c)
		assert.True(t, unsafe.StringData(in) != unsafe.StringData(c), "%q: the input came back", s)
	}
	for _, s := range []string{"10", "True", "", "uuid:1", ActionGet} {
		_, ok := commonText(s)
		assert.False(t, ok, s)
	}
}
