package amtsim_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The written-form check, run by TestShapesMatchRecordings for every case
// beside the value-type check in shape_test.go: the simulator's envelope and the
// recording, read token by token as written (not through etree, which forgets
// how an element was closed), must agree on
//   - the namespace URIs declared on the envelope, in order;
//   - the header's elements (names, namespace URIs, order);
//   - the relative order of sibling elements present on both sides, everywhere;
//   - the end-tag form of empty elements: real firmware writes
//     <g:EndOfSequence></g:EndOfSequence> and <a:Body></a:Body>, never
//     <x/>, and hand-written readers in deployed consoles depend on it.
// Values may differ, and so may the number of items in a list.

// testingT is what the written-form helpers need of a *testing.T; the
// transcript check (transcript_test.go) also passes a recorder of failures
// to show that the comparison catches a difference.
type testingT interface {
	require.TestingT
	Helper()
}

// written is one element as it appears in the bytes.
type written struct {
	key        string // {namespace}local, plus [@Name=…] for selectors
	selfClosed bool
	text       string
	kids       []*written
	decls      []string // namespace URIs declared on the element, in order
}

func (w *written) empty() bool { return len(w.kids) == 0 && strings.TrimSpace(w.text) == "" }

// readWritten parses raw keeping, for every element, whether it was written
// self-closed: encoding/xml reports <x/> as a start and an end element, and
// its input offset after the start element is just past the "/>".
func readWritten(t testingT, raw []byte) *written {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(raw))
	var root *written
	var stack []*written
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch tok := tok.(type) {
		case xml.StartElement:
			off := dec.InputOffset()
			w := &written{
				key:        "{" + tok.Name.Space + "}" + tok.Name.Local,
				selfClosed: off >= 2 && string(raw[off-2:off]) == "/>",
			}
			for _, a := range tok.Attr {
				switch {
				case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
					w.decls = append(w.decls, a.Value)
				case a.Name.Space == "" && a.Name.Local == "Name":
					w.key += "[@Name=" + a.Value + "]"
				}
			}
			if len(stack) == 0 {
				root = w
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, w)
			}
			stack = append(stack, w)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	require.NotNil(t, root)
	return root
}

// header returns the keys of the Header's children, in order.
func header(root *written) []string {
	for _, c := range root.kids {
		if strings.HasSuffix(c.key, "}Header") {
			var out []string
			for _, h := range c.kids {
				out = append(out, h.key)
			}
			return out
		}
	}
	return nil
}

// precedences records, for every parent path, which child key comes before
// which: "a < b" under path means some element at path has a child a followed
// later by a child b. Repeated siblings (list items, repeated properties) are
// one key.
func precedences(root *written) map[string]map[[2]string]bool {
	out := map[string]map[[2]string]bool{}
	var walk func(w *written, path string)
	walk = func(w *written, path string) {
		p := path + "/" + w.key
		var seq []string
		for _, c := range w.kids {
			if len(seq) == 0 || seq[len(seq)-1] != c.key {
				seq = append(seq, c.key)
			}
			walk(c, p)
		}
		if out[p] == nil {
			out[p] = map[[2]string]bool{}
		}
		for i := range seq {
			for j := i + 1; j < len(seq); j++ {
				if seq[i] != seq[j] {
					out[p][[2]string{seq[i], seq[j]}] = true
				}
			}
		}
	}
	walk(root, "")
	return out
}

// emptyForms maps the path of every empty element to how it was closed
// ("self-closed" or "end tag"); a path written both ways maps to "mixed".
func emptyForms(root *written) map[string]string {
	out := map[string]string{}
	var walk func(w *written, path string)
	walk = func(w *written, path string) {
		p := path + "/" + w.key
		if w.empty() {
			f := "end tag"
			if w.selfClosed {
				f = "self-closed"
			}
			if prev, ok := out[p]; ok && prev != f {
				f = "mixed"
			}
			out[p] = f
		}
		for _, c := range w.kids {
			walk(c, p)
		}
	}
	walk(root, "")
	return out
}

// compareWritten reports every written-form difference between the
// simulator's envelope and the recording.
func compareWritten(t testingT, recorded, sim []byte) {
	t.Helper()
	want, got := readWritten(t, recorded), readWritten(t, sim)
	assert.Equal(t, want.key, got.key, "root element")
	assert.Equal(t, want.decls, got.decls, "namespaces declared on the envelope, in order")
	assert.Equal(t, header(want), header(got), "header elements, in order")

	// Order: no pair of siblings appears one way in the recording and the
	// other way in the simulator's answer.
	wp, gp := precedences(want), precedences(got)
	var conflicts []string
	for path, pairs := range gp {
		for pair := range pairs {
			if wp[path][[2]string{pair[1], pair[0]}] {
				conflicts = append(conflicts, fmt.Sprintf("%s: simulator writes %s before %s, firmware after", path, pair[0], pair[1]))
			}
		}
	}
	slices.Sort(conflicts)
	assert.Empty(t, conflicts, "sibling order")

	// End tags: an element empty on both sides is closed the same way; any
	// other empty element the simulator writes is closed as the recording
	// closes its empty elements (with an end tag when it has none).
	wf, gf := emptyForms(want), emptyForms(got)
	recordedForms := map[string]bool{}
	for _, f := range wf {
		recordedForms[f] = true
	}
	if len(recordedForms) == 0 {
		recordedForms["end tag"] = true
	}
	var forms []string
	for path, f := range gf {
		if w, ok := wf[path]; ok && w != f {
			forms = append(forms, fmt.Sprintf("%s: simulator %s, firmware %s", path, f, w))
		} else if !ok && !recordedForms[f] {
			forms = append(forms, fmt.Sprintf("%s: simulator %s, firmware writes empty elements with an end tag", path, f))
		}
	}
	slices.Sort(forms)
	assert.Empty(t, forms, "end-tag form of empty elements")
}

// TestReadWritten pins the reader the comparison rests on.
func TestReadWritten(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		forms map[string]string
	}{
		{"self-closed", `<a:E xmlns:a="u"><a:B/></a:E>`, map[string]string{"/{u}E/{u}B": "self-closed"}},
		{"end tag", `<a:E xmlns:a="u"><a:B></a:B></a:E>`, map[string]string{"/{u}E/{u}B": "end tag"}},
		{"spaces in the tag", `<a:E xmlns:a="u"><a:B  /><a:C x="/>" ></a:C></a:E>`,
			map[string]string{"/{u}E/{u}B": "self-closed", "/{u}E/{u}C": "end tag"}},
		{"mixed", `<a:E xmlns:a="u"><a:B/><a:B></a:B></a:E>`, map[string]string{"/{u}E/{u}B": "mixed"}},
		{"whitespace is empty", "<a:E xmlns:a=\"u\"><a:B>\n  </a:B><a:C>x</a:C></a:E>", map[string]string{"/{u}E/{u}B": "end tag"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.forms, emptyForms(readWritten(t, []byte(tc.raw))))
		})
	}
	w := readWritten(t, []byte(`<a:E xmlns:a="u" xmlns:b="v"><a:Header><b:X/><b:Y/><b:X/></a:Header></a:E>`))
	assert.Equal(t, []string{"u", "v"}, w.decls)
	assert.Equal(t, []string{"{v}X", "{v}Y", "{v}X"}, header(w))
	p := precedences(w)["/{u}E/{u}Header"]
	assert.True(t, p[[2]string{"{v}X", "{v}Y"}])
	assert.True(t, p[[2]string{"{v}Y", "{v}X"}])
}
