package wsman

import (
	"os"
	"testing"
	"unsafe"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// within reports whether s's bytes lie inside doc's.
func within(s, doc string) bool {
	if len(s) == 0 || len(doc) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(doc)))
	return p >= lo && p < lo+uintptr(len(doc))
}

// A value read from a response is its own string, and a detached element
// keeps nothing of its document: a session that keeps an instance's handle or
// the settings it echoes later must not keep the whole response's text alive
// while it waits on slow firmware.
func TestReadValuesKeepNothingOfTheResponse(t *testing.T) {
	raw, err := os.ReadFile("testdata/responses/get-generalsettings-indented.xml")
	require.NoError(t, err)
	r := &xmlReader{s: string(raw), maxDepth: 64}
	doc, err := r.document()
	require.NoError(t, err)

	var values, names int
	var walk func(el *etree.Element, detached bool)
	walk = func(el *etree.Element, detached bool) {
		if detached {
			names++
			assert.False(t, within(el.Tag, r.s) || within(el.Space, r.s), "tag %s:%s of a detached copy", el.Space, el.Tag)
		}
		for _, a := range el.Attr {
			values++
			assert.False(t, within(a.Value, r.s), "attribute %s=%q", a.Key, a.Value)
			if detached {
				assert.False(t, within(a.Key, r.s) || within(a.Space, r.s), "attribute name %s:%s of a detached copy", a.Space, a.Key)
			}
		}
		for _, c := range el.Child {
			switch c := c.(type) {
			case *etree.Element:
				walk(c, detached)
			case *etree.CharData:
				values++
				assert.False(t, within(c.Data, r.s), "text %q", c.Data)
			}
		}
	}
	walk(doc.Root(), false)
	body := doc.Root().FindElement("Body").ChildElements()[0]
	walk(Detach(body), true)
	assert.Greater(t, values, 20, "the response's values were all looked at")
	assert.Greater(t, names, 10, "the detached copy's names were all looked at")
}
