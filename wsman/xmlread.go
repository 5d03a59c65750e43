package wsman

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// This file holds the envelope reader: a strict, bounded XML 1.0 parser that
// builds the same etree tree etree.Document.ReadFromBytes builds (elements with
// their prefixes in Space, attributes, character data, comments, processing
// instructions; CDATA sections become character data) except that white space
// between elements (indentation) is not kept, three to four times faster than
// etree's reader on AMT responses (BenchmarkReadXML vs BenchmarkReadXMLEtree). It refuses what WS-Management
// never needs: DOCTYPE and every other markup declaration (so no entity can be
// defined or expanded), references to undefined entities, duplicate attributes,
// names with more than one colon, characters outside XML's Char production,
// invalid UTF-8, text outside the root element, nesting deeper than the bound
// and more than maxAttrs attributes on one element. It never panics; equality
// with etree's reader on every input both accept is checked by FuzzReaderMatchesEtree.

// maxAttrs bounds attributes per element (duplicate detection is quadratic).
const maxAttrs = 256

var errXML = errors.New("XML syntax error")

type xmlReader struct {
	s        string
	i        int
	maxDepth int
	nodes    nodeArena
	// pending holds the children read so far of the open elements, in
	// document order; an element takes its own (those after its mark) when
	// it ends, into a slice of exactly their number.
	pending []etree.Token
	attrs   []pendingAttr // the start tag being read
}

type pendingAttr struct{ space, key, full, value string }

// readScratch is the reader's working lists, reused from one document to the
// next (readScratches, shared by every client of the process).
type readScratch struct {
	pending []etree.Token
	attrs   []pendingAttr
}

var readScratches = sync.Pool{New: func() any {
	return &readScratch{pending: make([]etree.Token, 0, 64), attrs: make([]pendingAttr, 0, 8)}
}}

// nodeArena hands out the nodes of one document from a few shared chunks
// instead of one allocation per element, text, attribute list and child list
// (an AMT response of 2–3 KB is about 150 nodes). The nodes of a tree are
// reachable from one another through their parent pointers, so a tree was
// already kept or freed as a whole; each list is cut to its own capacity, so
// an append to one (AddChild, CreateAttr) moves it rather than overwrite its
// neighbour's. One difference in memory only: a node a caller removes from
// the tree and keeps now keeps the chunks, and so the memory of the whole
// document (its texts are copies, so no more of the response's bytes than
// the names already kept); Detach a node to keep it alone.
type nodeArena struct {
	els   []etree.Element
	texts []etree.CharData
	toks  []etree.Token
	attrs []etree.Attr
	// The first chunks are sized from a count of the document's tags;
	// later ones are arenaChunk long.
	nEls, nTexts, nToks, nAttrs int
}

// arenaChunk is the size of a chunk after the first.
const arenaChunk = 16

// size sizes the first chunks for a document of s: its start tags
// (elements), its end tags that follow text (texts), and the quoted values in
// its start tags (attributes); each of the child lists holds the element or
// text it names once. The insides of comments, CDATA sections and processing
// instructions are skipped: markup-like text there would size chunks for
// nodes that never come (they grow when the count falls short).
func (a *nodeArena) size(s string) {
	starts, texts, attrs := 0, 0, 0
	for i := strings.IndexByte(s, '<'); i >= 0 && starts+texts+attrs < 2048; {
		rest := s[i:]
		skip := 1
		switch {
		case strings.HasPrefix(rest, "<!--"):
			skip = skipPast(rest, "-->")
		case strings.HasPrefix(rest, "<![CDATA["):
			skip = skipPast(rest, "]]>")
		case strings.HasPrefix(rest, "<?"):
			skip = skipPast(rest, "?>")
		case strings.HasPrefix(rest, "</"):
			if i > 0 && s[i-1] != '>' {
				texts++
			}
		case strings.HasPrefix(rest, "<!"):
		default:
			starts++
			if end := strings.IndexByte(rest, '>'); end > 0 {
				tag := rest[:end]
				attrs += strings.Count(tag, `="`) + strings.Count(tag, `='`)
				skip = end
			}
		}
		j := strings.IndexByte(s[i+skip:], '<')
		if j < 0 {
			break
		}
		i += skip + j
	}
	a.nEls, a.nTexts, a.nToks, a.nAttrs = starts, texts, starts+texts, attrs
}

// skipPast returns how far past the end marker of the construct s starts
// with its end is (len(s) when it has none).
func skipPast(s, end string) int {
	if k := strings.Index(s, end); k >= 0 {
		return k + len(end)
	}
	return len(s)
}

// first returns *n (at least 1), and arenaChunk in it from then on.
func first(n *int) int {
	k := max(*n, 1)
	*n = arenaChunk
	return k
}

func (a *nodeArena) element(space, tag string) *etree.Element {
	e := &carve(&a.els, 1, &a.nEls)[:1][0]
	e.Space, e.Tag = space, tag
	// Empty, not nil, as etree's constructors make them (no allocation: a
	// list of no elements points at no memory of its own).
	e.Attr, e.Child = make([]etree.Attr, 0), make([]etree.Token, 0)
	return e
}

// text returns a text node; white space gets etree's white-space flag, as its
// reader sets it (on a CDATA section's data too).
func (a *nodeArena) text(data string) *etree.CharData {
	t := &carve(&a.texts, 1, &a.nTexts)[:1][0]
	if isSpace(data) {
		t.SetData(data)
	} else {
		t.Data = data
	}
	return t
}

// children returns an empty list with room for exactly n tokens.
func (a *nodeArena) children(n int) []etree.Token { return carve(&a.toks, n, &a.nToks) }

// attributes returns an empty list with room for exactly n attributes.
func (a *nodeArena) attributes(n int) []etree.Attr { return carve(&a.attrs, n, &a.nAttrs) }

// carve takes room for n items off the front of chunk, starting a new chunk
// (of first(size) items, or n when more) when it has too little; the result
// is empty, with a capacity of exactly n.
func carve[T any](chunk *[]T, n int, size *int) []T {
	if len(*chunk) < n {
		*chunk = make([]T, max(n, first(size)))
	}
	s := (*chunk)[:0:n]
	*chunk = (*chunk)[n:]
	return s
}

func (r *xmlReader) fail(format string, args ...any) error {
	line := 1 + strings.Count(r.s[:min(r.i, len(r.s))], "\n")
	return fmt.Errorf("%w: line %d: %s", errXML, line, fmt.Sprintf(format, args...))
}

// readXML parses b into a document.
func readXML(b []byte, maxDepth int) (*etree.Document, error) {
	return readXMLString(string(b), maxDepth)
}

// readXMLString parses s into a document. Element and attribute names are
// pieces of s; texts and attribute values are not (see text).
func readXMLString(s string, maxDepth int) (*etree.Document, error) {
	r := &xmlReader{s: s, maxDepth: maxDepth}
	r.nodes.size(r.s)
	sc := readScratches.Get().(*readScratch)
	r.pending, r.attrs = sc.pending[:0], sc.attrs[:0]
	doc, err := r.document()
	// Nothing of the document stays in the scratch lists (element and
	// attributes clear what they took), so a pooled one keeps no tree alive.
	clear(r.pending[:cap(r.pending)])
	clear(r.attrs[:cap(r.attrs)])
	if cap(r.pending) <= 1024 && cap(r.attrs) <= maxAttrs {
		// (Lists a large document grew are left to the collector.)
		sc.pending, sc.attrs = r.pending[:0], r.attrs[:0]
		readScratches.Put(sc)
	}
	return doc, err
}

func (r *xmlReader) document() (*etree.Document, error) {
	doc := etree.NewDocument()
	if strings.HasPrefix(r.s, "\xef\xbb\xbf") {
		r.i = 3
	}
	sawRoot := false
	first := true
	for {
		r.skipSpace()
		if r.i >= len(r.s) {
			break
		}
		if r.s[r.i] != '<' {
			return nil, r.fail("text outside the root element")
		}
		switch {
		case strings.HasPrefix(r.s[r.i:], "<?"):
			p, err := r.procInst(first)
			if err != nil {
				return nil, err
			}
			doc.AddChild(p)
		case strings.HasPrefix(r.s[r.i:], "<!--"):
			c, err := r.comment()
			if err != nil {
				return nil, err
			}
			doc.AddChild(c)
		case strings.HasPrefix(r.s[r.i:], "<!"):
			return nil, fmt.Errorf("%w: markup declaration %q", ErrUnsafeXML, firstWord(r.s[r.i:min(r.i+12, len(r.s))]))
		default:
			if sawRoot {
				return nil, r.fail("more than one root element")
			}
			if err := r.element(&doc.Element); err != nil {
				return nil, err
			}
			sawRoot = true
		}
		first = false
	}
	if !sawRoot {
		return nil, r.fail("no root element")
	}
	return doc, nil
}

func (r *xmlReader) skipSpace() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func isNameStart(c rune) bool {
	if c < utf8.RuneSelf {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
	}
	return unicode.IsLetter(c) || c >= 0xC0 && c <= 0x2FF && c != 0xD7 && c != 0xF7 ||
		c >= 0x370 && c <= 0x1FFF && c != 0x37E || c >= 0x3001 && c <= 0xD7FF ||
		c >= 0xF900 && c <= 0xFDCF || c >= 0xFDF0 && c <= 0xFFFD || c >= 0x10000 && c <= 0xEFFFF
}

func isNameChar(c rune) bool {
	if c < utf8.RuneSelf {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == ':' || c == '-' || c == '.'
	}
	return isNameStart(c) || c == 0xB7 || c >= 0x300 && c <= 0x36F || c == 0x203F || c == 0x2040 || unicode.IsDigit(c)
}

// name reads an XML name with at most one colon, not at either end.
func (r *xmlReader) name() (string, error) {
	start := r.i
	colons := 0
	ascii := true
	for r.i < len(r.s) {
		c, size := rune(r.s[r.i]), 1
		if c >= utf8.RuneSelf {
			ascii = false
			c, size = utf8.DecodeRuneInString(r.s[r.i:])
			if c == utf8.RuneError && size == 1 {
				return "", r.fail("invalid UTF-8")
			}
		}
		if r.i == start {
			if !isNameStart(c) {
				return "", r.fail("expected a name")
			}
		} else if !isNameChar(c) {
			break
		}
		if c == ':' {
			colons++
		}
		r.i += size
	}
	n := r.s[start:r.i]
	if n == "" {
		return "", r.fail("expected a name")
	}
	if colons > 1 || n[0] == ':' || n[len(n)-1] == ':' {
		return "", r.fail("malformed qualified name %q", n)
	}
	if !ascii && !xmlNameOK(n) {
		return "", r.fail("invalid XML name %q", truncate(n, 40))
	}
	return n, nil
}

// xmlNameOK reports whether encoding/xml, which etree uses, accepts n as a
// name. Its tables are those of XML 1.0's fourth edition, narrower than the
// fifth edition's ranges isNameStart and isNameChar allow (U+07CA, N'Ko letter
// A, is a name character only in the fifth). Names outside ASCII are rare in
// WS-Management, so they are checked by asking encoding/xml itself.
func xmlNameOK(n string) bool {
	t, err := xml.NewDecoder(strings.NewReader("<" + n + "/>")).RawToken()
	se, ok := t.(xml.StartElement)
	if err != nil || !ok {
		return false
	}
	if se.Name.Space != "" {
		return se.Name.Space+":"+se.Name.Local == n
	}
	return se.Name.Local == n
}

func isChar(c rune) bool {
	return c == 0x9 || c == 0xA || c == 0xD || c >= 0x20 && c <= 0xD7FF ||
		c >= 0xE000 && c <= 0xFFFD || c >= 0x10000 && c <= 0x10FFFF
}

// text decodes raw character data (no '<' inside): entity and character
// references, newline normalisation, character checks. Content (not inAttr)
// refuses "]]>"; inAttr refuses '<'.
func (r *xmlReader) text(raw string, inAttr bool) (string, error) {
	if !inAttr && strings.Contains(raw, "]]>") {
		// XML 1.0 §2.4: "]]>" may not appear in content outside a CDATA
		// section (encoding/xml refuses it too).
		return "", r.fail("unescaped ]]> in character data")
	}
	clean := true
	for j := 0; j < len(raw); j++ {
		c := raw[j]
		if c == '&' || c == '\r' || c >= utf8.RuneSelf || c < 0x20 && c != '\t' && c != '\n' {
			clean = false
			break
		}
		if inAttr && c == '<' {
			return "", r.fail("'<' in attribute value")
		}
	}
	if clean {
		if c, ok := commonText(raw); ok {
			return c, nil
		}
		// A copy: a value the caller keeps (an instance's handle, a
		// setting) must not keep the whole response's text alive.
		return strings.Clone(raw), nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	for j := 0; j < len(raw); {
		c := raw[j]
		switch {
		case c == '&':
			k := strings.IndexByte(raw[j:], ';')
			if k < 2 {
				return "", r.fail("malformed reference")
			}
			ref := raw[j+1 : j+k]
			switch ref {
			case "lt":
				b.WriteByte('<')
			case "gt":
				b.WriteByte('>')
			case "amp":
				b.WriteByte('&')
			case "apos":
				b.WriteByte('\'')
			case "quot":
				b.WriteByte('"')
			default:
				if ref[0] != '#' {
					return "", fmt.Errorf("%w: reference to undefined entity &%s;", ErrUnsafeXML, truncate(ref, 20))
				}
				var v uint64
				var err error
				if len(ref) > 1 && ref[1] == 'x' {
					v, err = strconv.ParseUint(ref[2:], 16, 32)
				} else {
					v, err = strconv.ParseUint(ref[1:], 10, 32)
				}
				if err != nil || len(ref) < 2 || ref[1] == '+' || ref[1] == '-' || !isChar(rune(v)) {
					return "", r.fail("invalid character reference &%s;", truncate(ref, 20))
				}
				b.WriteRune(rune(v))
			}
			j += k + 1
		case c == '\r':
			b.WriteByte('\n')
			j++
			if j < len(raw) && raw[j] == '\n' {
				j++
			}
		case c == '<' && inAttr:
			return "", r.fail("'<' in attribute value")
		case c >= utf8.RuneSelf:
			ru, size := utf8.DecodeRuneInString(raw[j:])
			if ru == utf8.RuneError && size == 1 || !isChar(ru) {
				return "", r.fail("invalid character")
			}
			b.WriteString(raw[j : j+size])
			j += size
		case c < 0x20 && c != '\t' && c != '\n':
			return "", r.fail("invalid character %#x", c)
		default:
			b.WriteByte(c)
			j++
		}
	}
	return b.String(), nil
}

// commonText returns the constant equal to s when s is one of the values
// that fill much of an AMT response's text (booleans, digits, the header's
// anonymous address and response actions): the same string, without a copy of
// its own.
func commonText(s string) (string, bool) {
	const digits = "0123456789"
	if len(s) == 1 && s[0] >= '0' && s[0] <= '9' {
		i := s[0] - '0'
		return digits[i : i+1], true
	}
	switch s {
	case "true":
		return "true", true
	case "false":
		return "false", true
	case AddressAnonymous:
		return AddressAnonymous, true
	case ActionGet + "Response":
		return ActionGet + "Response", true
	case ActionPut + "Response":
		return ActionPut + "Response", true
	case ActionCreate + "Response":
		return ActionCreate + "Response", true
	case ActionDelete + "Response":
		return ActionDelete + "Response", true
	case ActionEnumerate + "Response":
		return ActionEnumerate + "Response", true
	case ActionPull + "Response":
		return ActionPull + "Response", true
	}
	return "", false
}

// checkChars verifies that s is valid UTF-8 made of XML characters.
func (r *xmlReader) checkChars(s string) error {
	for j := 0; j < len(s); {
		c := s[j]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return r.fail("invalid character %#x", c)
			}
			j++
			continue
		}
		ru, size := utf8.DecodeRuneInString(s[j:])
		if ru == utf8.RuneError && size == 1 || !isChar(ru) {
			return r.fail("invalid character")
		}
		j += size
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// comment reads a comment into a node without a parent.
func (r *xmlReader) comment() (*etree.Comment, error) {
	start := r.i + 4
	end := strings.Index(r.s[start:], "--")
	if end < 0 {
		return nil, r.fail("unterminated comment")
	}
	end += start
	if end+2 >= len(r.s) || r.s[end+2] != '>' {
		return nil, r.fail(`"--" inside a comment`)
	}
	body := r.s[start:end]
	if err := r.checkChars(body); err != nil {
		return nil, err
	}
	r.i = end + 3
	return etree.NewComment(strings.Clone(body)), nil
}

// procInst reads a processing instruction into a node without a parent;
// first tells that nothing precedes it in the document.
func (r *xmlReader) procInst(first bool) (*etree.ProcInst, error) {
	r.i += 2
	target, err := r.name()
	if err != nil {
		return nil, err
	}
	end := strings.Index(r.s[r.i:], "?>")
	if end < 0 {
		return nil, r.fail("unterminated processing instruction")
	}
	inst := r.s[r.i : r.i+end]
	if inst != "" && !strings.ContainsAny(inst[:1], " \t\r\n") {
		return nil, r.fail("malformed processing instruction")
	}
	inst = strings.TrimLeft(inst, " \t\r\n")
	r.i += end + 2
	if strings.EqualFold(target, "xml") {
		if !first || target != "xml" {
			return nil, r.fail("misplaced XML declaration")
		}
		if v, ok := declParam(inst, "version"); ok && v != "1.0" {
			return nil, r.fail("unsupported XML version %q", truncate(v, 10))
		}
	}
	if err := r.checkChars(inst); err != nil {
		return nil, err
	}
	return etree.NewProcInst(strings.Clone(target), strings.Clone(inst)), nil
}

// declParam finds name = "value" (or 'value') in an XML declaration.
func declParam(s, name string) (string, bool) {
	i := strings.Index(s, name)
	if i < 0 {
		return "", false
	}
	s = strings.TrimLeft(s[i+len(name):], " \t\r\n")
	if s == "" || s[0] != '=' {
		return "", false
	}
	s = strings.TrimLeft(s[1:], " \t\r\n")
	if s == "" || (s[0] != '"' && s[0] != '\'') {
		return "", false
	}
	q := s[0]
	j := strings.IndexByte(s[1:], q)
	if j < 0 {
		return "", false
	}
	return s[1 : 1+j], true
}

// element parses an element and its content iteratively, appending it to
// parent.
func (r *xmlReader) element(parent *etree.Element) error {
	type open struct {
		el      *etree.Element
		name    string
		mark    int  // where its children start in r.pending
		hasElem bool // has an element child: white space between them is formatting
	}
	stack := make([]open, 0, 16)
	r.pending = r.pending[:0]
	// end gives the element on top of the stack its children.
	end := func() {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids := r.pending[top.mark:]
		if len(kids) > 0 {
			top.el.Child = r.nodes.children(len(kids))
			for _, k := range kids {
				top.el.AddChild(k)
			}
		}
		clear(kids)
		r.pending = r.pending[:top.mark]
	}
	for {
		// at '<' of a start tag
		r.i++
		name, err := r.name()
		if err != nil {
			return err
		}
		if len(stack) >= r.maxDepth {
			return fmt.Errorf("%w: nested deeper than %d elements", ErrUnsafeXML, r.maxDepth)
		}
		space, tag := "", name
		if c := strings.IndexByte(name, ':'); c >= 0 {
			space, tag = name[:c], name[c+1:]
		}
		el := r.nodes.element(space, tag)
		if len(stack) > 0 {
			stack[len(stack)-1].hasElem = true
			r.pending = append(r.pending, el)
		}
		empty, err := r.attributes(el)
		if err != nil {
			return err
		}
		if len(stack) == 0 {
			// The root: its parent is the document, which takes it at once
			// (after the prolog's comments and instructions).
			parent.AddChild(el)
		}
		if !empty {
			stack = append(stack, open{el: el, name: name, mark: len(r.pending)})
		}
		// content until the next start tag, or the end of the root
		for {
			if len(stack) == 0 {
				return nil
			}
			lt := strings.IndexByte(r.s[r.i:], '<')
			if lt < 0 {
				return r.fail("unexpected end of input inside <%s>", truncate(stack[len(stack)-1].name, 40))
			}
			if lt > 0 {
				raw := r.s[r.i : r.i+lt]
				r.i += lt
				if !isSpace(raw) || !r.ignorable(stack[len(stack)-1].hasElem) {
					t, err := r.text(raw, false)
					if err != nil {
						return err
					}
					r.pending = append(r.pending, r.nodes.text(t))
				}
			}
			rest := r.s[r.i:]
			switch {
			case strings.HasPrefix(rest, "</"):
				r.i += 2
				n, err := r.name()
				if err != nil {
					return err
				}
				top := stack[len(stack)-1]
				if n != top.name {
					return r.fail("</%s> closes <%s>", truncate(n, 40), truncate(top.name, 40))
				}
				r.skipSpace()
				if r.i >= len(r.s) || r.s[r.i] != '>' {
					return r.fail("malformed end tag")
				}
				r.i++
				end()
				continue
			case strings.HasPrefix(rest, "<!--"):
				c, err := r.comment()
				if err != nil {
					return err
				}
				r.pending = append(r.pending, c)
				continue
			case strings.HasPrefix(rest, "<![CDATA["):
				end := strings.Index(rest[9:], "]]>")
				if end < 0 {
					return r.fail("unterminated CDATA section")
				}
				data := rest[9 : 9+end]
				if err := r.checkChars(data); err != nil {
					return err
				}
				if strings.IndexByte(data, '\r') >= 0 {
					data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
				} else if c, ok := commonText(data); ok {
					data = c
				} else {
					data = strings.Clone(data) // not a piece of the response (see text)
				}
				// As etree's reader: the section's data becomes text,
				// flagged as white space when it is.
				r.pending = append(r.pending, r.nodes.text(data))
				r.i += 9 + end + 3
				continue
			case strings.HasPrefix(rest, "<!"):
				return fmt.Errorf("%w: markup declaration %q", ErrUnsafeXML, firstWord(rest[:min(12, len(rest))]))
			case strings.HasPrefix(rest, "<?"):
				p, err := r.procInst(false)
				if err != nil {
					return err
				}
				r.pending = append(r.pending, p)
				continue
			}
			break // a start tag
		}
	}
}

// ignorable reports whether white space just read (r.i is at the next '<') is
// formatting between elements: it is followed by a start tag, or by the end tag
// of an element that has element children. Such white space is not kept (it
// would cost a node per line of an indented response); white space that is an
// element's whole content, or that sits next to comments or CDATA, is kept.
func (r *xmlReader) ignorable(parentHasElem bool) bool {
	if r.i+1 >= len(r.s) {
		return false
	}
	switch r.s[r.i+1] {
	case '/':
		return parentHasElem
	case '!', '?':
		return false
	}
	return true
}

func isSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}

// attributes reads the attributes of a start tag and its closing '>' or '/>'.
// It reports whether the element was empty ('/>').
func (r *xmlReader) attributes(el *etree.Element) (bool, error) {
	r.attrs = r.attrs[:0]
	for n := 0; ; n++ {
		sp := r.i
		r.skipSpace()
		if r.i >= len(r.s) {
			return false, r.fail("unexpected end of input in a start tag")
		}
		switch r.s[r.i] {
		case '>':
			r.i++
			r.setAttrs(el)
			return false, nil
		case '/':
			if r.i+1 < len(r.s) && r.s[r.i+1] == '>' {
				r.i += 2
				r.setAttrs(el)
				return true, nil
			}
			return false, r.fail("malformed start tag")
		}
		if r.i == sp {
			return false, r.fail("attributes must be separated by white space")
		}
		if n >= maxAttrs {
			return false, r.fail("more than %d attributes", maxAttrs)
		}
		key, err := r.name()
		if err != nil {
			return false, err
		}
		r.skipSpace()
		if r.i >= len(r.s) || r.s[r.i] != '=' {
			return false, r.fail("attribute %s without a value", truncate(key, 40))
		}
		r.i++
		r.skipSpace()
		if r.i >= len(r.s) || (r.s[r.i] != '"' && r.s[r.i] != '\'') {
			return false, r.fail("attribute %s value is not quoted", truncate(key, 40))
		}
		q := r.s[r.i]
		end := strings.IndexByte(r.s[r.i+1:], q)
		if end < 0 {
			return false, r.fail("unterminated attribute value")
		}
		val, err := r.text(r.s[r.i+1:r.i+1+end], true)
		if err != nil {
			return false, err
		}
		r.i += end + 2
		space, local := "", key
		if c := strings.IndexByte(key, ':'); c >= 0 {
			space, local = key[:c], key[c+1:]
		}
		for _, a := range r.attrs {
			if a.space == space && a.key == local {
				return false, r.fail("duplicate attribute %s", truncate(key, 40))
			}
		}
		r.attrs = append(r.attrs, pendingAttr{space: space, key: local, full: key, value: val})
	}
}

// setAttrs gives el the attributes just read, in a list of exactly their
// number.
func (r *xmlReader) setAttrs(el *etree.Element) {
	if len(r.attrs) == 0 {
		return
	}
	el.Attr = r.nodes.attributes(len(r.attrs))
	for _, a := range r.attrs {
		el.CreateAttr(a.full, a.value)
	}
	clear(r.attrs)
}
