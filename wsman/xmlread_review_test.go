package wsman

// Findings of an adversarial review of the reader's per-document chunks,
// its constants and writeElement, all fixed: each test failed on the code
// reviewed; those marked "pre-existing" failed on the reader before the
// chunks too.

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --- Finding 1 (40d5677, nodeArena): leaves have nil Attr / Child ----------

// etree's reader (and this reader before 40d5677, which used CreateElement)
// gives every element non-nil, empty Attr and Child slices; the arena leaves
// them nil on an element without attributes or without children. The trees
// are no longer reflect.DeepEqual to etree's (assert.Equal on elements in a
// caller's tests), and an element marshals as "Attr":null,"Child":null.
func TestReaderLeavesHaveEmptySlicesAsEtree(t *testing.T) {
	const in = `<s:E xmlns:s="urn:s"><s:B><x:I xmlns:x="urn:x"><x:P>1</x:P><x:Q/><!--c--></x:I></s:B></s:E>`
	ours, err := readXML([]byte(in), 64)
	require.NoError(t, err)
	ref := etree.NewDocument()
	require.NoError(t, ref.ReadFromString(in))

	q := ours.FindElement("//Q")
	require.NotNil(t, q)
	assert.NotNil(t, q.Attr, "<x:Q/>.Attr: etree's reader gives an empty, non-nil list")
	assert.NotNil(t, q.Child, "<x:Q/>.Child: etree's reader gives an empty, non-nil list")

	got, err := json.Marshal(q)
	require.NoError(t, err)
	want, err := json.Marshal(ref.FindElement("//Q"))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))

	// The whole tree equals etree's (no white space in the input: nothing
	// else differs; before 40d5677 this held).
	assert.Equal(t, ref.Root(), ours.Root())
}

// --- Finding 2 (40d5677, writeBody): caller-built names ---------------------

// reviewResponse is a Get response whose prefixes are declared on the
// envelope (as Detach's doc comment describes AMT's): the instance has a
// parent, so writeBody takes its "as Detach would copy it" path.
const reviewResponse = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"` +
	` xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"` +
	` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:n="urn:n">` +
	`<s:Body><g:AMT_GeneralSettings><g:HostName>pc</g:HostName><g:DomainName xsi:nil="true"/>` +
	`</g:AMT_GeneralSettings></s:Body></s:Envelope>`

func reviewInstance(t *testing.T) *etree.Element {
	t.Helper()
	doc, err := readXML([]byte(reviewResponse), 64)
	require.NoError(t, err)
	inst := doc.FindElement("//AMT_GeneralSettings")
	require.NotNil(t, inst)
	return inst
}

func writtenBody(b *etree.Element) string {
	var w bytes.Buffer
	writeBody(&w, b)
	return w.String()
}

// The old writeBody wrote a copy made by Detach, whose copyTree rebuilt every
// name through etree (CreateAttr(FullKey) / CreateElement(FullTag)): that
// split a prefix held in Key or Tag and merged duplicate attributes. The new
// path walks the caller's tree as it is, so a body whose names were set with
// struct literals or direct appends (which etree allows: Attr and Child are
// exported) is written differently, and in the first three cases is no
// longer well-formed or namespace-well-formed XML. The expected strings are
// exactly what the code before 40d5677 wrote.
func TestWriteBodyCallerBuiltNamesAsDetachCopy(t *testing.T) {
	const (
		g    = `xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"`
		xsi  = `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`
		kids = `<g:HostName>pc</g:HostName><g:DomainName xsi:nil="true"/>`
	)
	t.Run("declaration appended as Attr{Key: \"xmlns:xsi\"} is written twice", func(t *testing.T) {
		b := reviewInstance(t)
		b.Attr = append(b.Attr, etree.Attr{Key: "xmlns:xsi", Value: "http://www.w3.org/2001/XMLSchema-instance"})
		got := writtenBody(b)
		assert.Equal(t, 1, strings.Count(got, "xmlns:xsi="), "duplicate attribute: %s", got)
		assert.Equal(t, `<g:AMT_GeneralSettings `+xsi+` `+g+`>`+kids+`</g:AMT_GeneralSettings>`, got)
	})
	t.Run("attribute appended twice is written twice", func(t *testing.T) {
		b := reviewInstance(t)
		dup := etree.Attr{Space: "xmlns", Key: "g", Value: "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"}
		b.Attr = append(b.Attr, dup, dup)
		got := writtenBody(b)
		assert.Equal(t, 1, strings.Count(got, "xmlns:g="), "duplicate attribute: %s", got)
		assert.Equal(t, `<g:AMT_GeneralSettings `+g+` `+xsi+`>`+kids+`</g:AMT_GeneralSettings>`, got)
	})
	t.Run("child with the prefix in Tag loses its declaration", func(t *testing.T) {
		b := reviewInstance(t)
		b.AddChild(&etree.Element{Tag: "n:Extra"})
		got := writtenBody(b)
		assert.Contains(t, got, `xmlns:n="urn:n"`, "prefix n used but not declared: %s", got)
		assert.Equal(t, `<g:AMT_GeneralSettings `+g+` xmlns:n="urn:n" `+xsi+`>`+kids+`<n:Extra/></g:AMT_GeneralSettings>`, got)
	})
	t.Run("envelope declaration as Attr{Key: \"xmlns:s\"} is no longer left out", func(t *testing.T) {
		b := reviewInstance(t)
		b.Attr = append(b.Attr, etree.Attr{Key: "xmlns:s", Value: NSSOAP})
		assert.Equal(t, `<g:AMT_GeneralSettings `+g+` `+xsi+`>`+kids+`</g:AMT_GeneralSettings>`, writtenBody(b))
	})
}

// --- Finding 3 (40d5677, nodeArena.size): chunks sized by markup in comments

// size counts '<' and `="` anywhere in the document, comments and CDATA
// sections included, and allocates up to 1024 elements, texts, child slots
// and attributes up front. A 6.6 KB response whose only content is a comment
// full of "<x y=\"" makes every parse allocate about 120 KB (the code before
// allocated about as much as the input), and the oversized chunks live as
// long as any node of the tree is kept.
func TestReaderArenaNotSizedByCommentMarkup(t *testing.T) {
	in := []byte(`<a><!--` + strings.Repeat(`<x y="`, 1100) + `--></a>`)
	_, err := readXML(in, 64)
	require.NoError(t, err)
	const runs = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		_, _ = readXML(in, 64)
	}
	runtime.ReadMemStats(&after)
	perParse := (after.TotalAlloc - before.TotalAlloc) / runs
	assert.Less(t, perParse, uint64(4*len(in)),
		"one parse of a %d-byte document with two elements allocates %d bytes", len(in), perParse)
}

// --- Finding 4 (pre-existing; contradicts d31d470's stated invariant) -------

// A CDATA section's text is a piece of the response (data := rest[9:9+end]),
// unlike every other text, which is a constant or a copy. A string a caller
// keeps from Unmarshal (Text trims it, still a piece) keeps the whole
// response body alive. TestReaderTextsKeepNoBody does not try CDATA.
func TestReaderCDATATextKeepsNoBody(t *testing.T) {
	in := `<h:I xmlns:h="urn:h"><h:Secret><![CDATA[kept-value]]></h:Secret><h:Plain>kept-value</h:Plain></h:I>`
	// The reader as TestReadValuesKeepNothingOfTheResponse drives it, on a
	// string whose bounds the test knows (readXML copies its bytes first).
	r := &xmlReader{s: in, maxDepth: 8}
	doc, err := r.document()
	require.NoError(t, err)
	start := uintptr(unsafe.Pointer(unsafe.StringData(in)))
	inside := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= start && p < start+uintptr(len(in))
	}
	var v struct{ Secret, Plain string }
	require.NoError(t, Unmarshal(doc.Root(), &v))
	require.Equal(t, "kept-value", v.Secret)
	assert.False(t, inside(v.Plain), "text: a copy")
	assert.False(t, inside(v.Secret), "CDATA text: a piece of the response body")
}

// --- Finding 5 (pre-existing): CDATA white space is not flagged as etree's --

// etree's reader (without PreserveCData) flags a CDATA section of white space
// as white space, as any other text; this reader does not (text(data,
// false)), so IsWhitespace differs and etree's Indent/Unindent, which drop
// white-space CharData, treat the two trees differently.
func TestReaderCDATAWhitespaceFlagAsEtree(t *testing.T) {
	const in = `<a><![CDATA[ ]]></a>`
	ours, err := readXML([]byte(in), 8)
	require.NoError(t, err)
	ref := etree.NewDocument()
	require.NoError(t, ref.ReadFromString(in))
	assert.Equal(t, ref.Root().Child[0].(*etree.CharData).IsWhitespace(),
		ours.Root().Child[0].(*etree.CharData).IsWhitespace())
}
