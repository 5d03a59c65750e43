package transcript

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/amtkit/amtkit/wsman"
)

// redactor applies a policy to bodies, headers and error texts. It is not
// safe for concurrent use (the Recorder serialises).
type redactor struct {
	policy      Policy
	identifying bool
	ph          *placeholders
	sec         *secrets
	stats       Redaction
	dropped     map[string]bool
}

func newRedactor(p Policy, identifying bool) *redactor {
	return &redactor{policy: p, identifying: identifying, ph: newPlaceholders(), sec: newSecrets(), dropped: map[string]bool{}}
}

// headers kept in transcripts; the rest are dropped (their names listed in
// the provenance).
var keptHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Content-Encoding": true, "Connection": true,
	"Server": true, "User-Agent": true, "Allow": true, "X-Frame-Options": true, "Date": true,
	"Www-Authenticate": true, "Authorization": true,
}

// header redacts a header set: kept headers only, authentication headers
// reduced (wsman.ReduceAuthHeader), realms (and users) learnt for the
// secret forms, realms replaced when identifying, any value holding a
// secret masked.
func (r *redactor) header(h map[string][]string) map[string][]string {
	if len(h) == 0 {
		return nil
	}
	out := map[string][]string{}
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if !keptHeaders[ck] {
			if !r.dropped[ck] {
				r.dropped[ck] = true
			}
			continue
		}
		for _, v := range vs {
			if ck == "Authorization" || ck == "Www-Authenticate" {
				v = wsman.ReduceAuthHeader(v)
				r.learnAuth(v)
				if r.identifying {
					v = r.replaceRealm(v)
				}
			}
			if f := r.sec.find(v); f != "" {
				v = wsman.Redacted
				r.stats.Masked++
			} else if r.identifying {
				if s := r.ph.substitute(v); s != v {
					v = s
					r.stats.Replaced++
				}
			}
			out[ck] = append(out[ck], v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// authParam returns the value of name in a reduced auth header.
func authParam(v, name string) (string, bool) {
	_, rest, _ := strings.Cut(v, " ")
	for _, part := range splitParams(rest) {
		k, val, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`)
			}
			return val, true
		}
	}
	return "", false
}

// splitParams splits on commas outside quotes.
func splitParams(s string) []string {
	var out []string
	inQ, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case c == '\\' && inQ:
			esc = true
		case c == '"':
			inQ = !inQ
		case c == ',' && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (r *redactor) learnAuth(v string) {
	if realm, ok := authParam(v, "realm"); ok {
		r.sec.learnRealm(realm)
	}
	if u, ok := authParam(v, "username"); ok {
		r.sec.learnUser(u)
	}
}

func (r *redactor) replaceRealm(v string) string {
	realm, ok := authParam(v, "realm")
	if !ok || realm == "" {
		return v
	}
	ph := r.ph.replace(KindRealm, realm)
	if ph == realm {
		return v
	}
	r.stats.Replaced++
	return strings.Replace(v, realm, ph, 1)
}

// text redacts free text (an error message): secrets masked, learnt
// identifying values replaced.
func (r *redactor) text(s string) string {
	s, n := r.sec.scrub(s, wsman.Redacted)
	r.stats.Masked += n
	if r.identifying {
		if t := r.ph.substitute(s); t != s {
			s = t
			r.stats.Replaced++
		}
	}
	return s
}

// body redacts an envelope. What cannot be redacted safely is removed whole:
// a body that is not UTF-8 or not a SOAP envelope, a truncated one, one with
// a secret left outside the text nodes.
func (r *redactor) body(b []byte, truncated bool) string {
	if len(b) == 0 {
		return ""
	}
	remove := func(why string) string {
		r.stats.Removed++
		return fmt.Sprintf("[body removed: %d bytes, %s]", len(b), why)
	}
	switch {
	case truncated:
		return remove("truncated")
	case !utf8.Valid(b):
		return remove("not UTF-8")
	}
	if _, err := wsman.ParseEnvelope(b, 0); err != nil {
		return remove("not a SOAP envelope")
	}
	gen := r.sec.gen
	out, stats, err := r.rewrite(b)
	if err == nil && r.sec.gen != gen {
		// A digest realm or a user name was read from this body: the
		// secret forms that depend on it are new; run again with them.
		out, stats, err = r.rewrite(b)
	}
	if err != nil {
		return remove("not redactable")
	}
	// Anything registered that is left (in an attribute, a comment) is
	// masked in the raw text; the result must still be an envelope, and hold
	// no secret in any text node or attribute.
	s, n := r.sec.scrub(string(out), wsman.Redacted)
	stats.Masked += n
	if _, err := wsman.ParseEnvelope([]byte(s), 0); err != nil {
		return remove("a secret outside the text")
	}
	if leak, err := r.leaks([]byte(s)); err != nil || leak {
		return remove("a secret outside the text")
	}
	r.stats.Masked += stats.Masked
	r.stats.Replaced += stats.Replaced
	return s
}

// leaks reports whether a registered secret is in a decoded text node or
// attribute of b.
func (r *redactor) leaks(b []byte) (bool, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if r.sec.find(string(t)) != "" {
				return true, nil
			}
		case xml.StartElement:
			for _, a := range t.Attr {
				if r.sec.find(a.Value) != "" {
					return true, nil
				}
			}
		case xml.Comment:
			if r.sec.find(string(t)) != "" {
				return true, nil
			}
		}
	}
}

// span is a text node: its byte range in the body and its decoded text.
type span struct {
	start, end int
	text       string
}

// frame is an open element during the rewrite.
type frame struct {
	start  int // first byte of the content
	secret bool
	kind   Kind
	kids   bool
	uri    bool // addressing text (Action, To, ResourceURI …): never rewritten
	user   bool // a user name (learnt for the digest hash forms)
	texts  []span
}

type edit struct {
	start, end int
	repl       string
}

// rewrite walks b's tokens and replaces, byte for byte in place (so the
// written form — prefixes, declarations, end tags — is kept):
//   - the content of secret elements and selectors by [REDACTED];
//   - with identifying redaction, the text of identifying leaves by their
//     placeholders, and learnt identifying values inside other text;
//   - any text node holding a registered secret or a private key by
//     [REDACTED].
//
// Digest realms are learnt (for the secret forms) whether or not identifying
// values are replaced.
func (r *redactor) rewrite(b []byte) ([]byte, Redaction, error) {
	var st Redaction
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []*frame
	var edits []edit
	suppress := 0
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, st, err
		}
		after := int(dec.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			if suppress > 0 {
				suppress++
				continue
			}
			if len(stack) > 0 {
				stack[len(stack)-1].kids = true
			}
			f := &frame{start: after}
			ns, local := t.Name.Space, t.Name.Local
			key := local
			if ns == wsman.NSWSMan && local == "Selector" {
				for _, a := range t.Attr {
					if a.Name.Space == "" && a.Name.Local == "Name" {
						key = a.Value
						f.secret = r.policy.secret("", a.Value)
					}
				}
			} else {
				f.secret = r.policy.secret(ns, local)
			}
			f.kind = r.policy.Identifying[key]
			f.user = key == "Username" || key == "DigestUsername"
			f.uri = (ns == wsman.NSAddressing && (local == "Action" || local == "To" || local == "Address" ||
				local == "MessageID" || local == "RelatesTo")) || (ns == wsman.NSWSMan && local == "ResourceURI")
			stack = append(stack, f)
			if f.secret {
				suppress = 1
			}
		case xml.EndElement:
			if suppress > 1 {
				suppress--
				continue
			}
			if len(stack) == 0 {
				return nil, st, errors.New("unbalanced end element")
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if suppress == 1 {
				suppress = 0
				if c := strings.TrimSpace(string(b[f.start:before])); c != "" && !isMask(c) {
					edits = append(edits, edit{f.start, before, mask(c)})
					st.Masked++
				}
				continue
			}
			if f.user && !f.kids && len(f.texts) > 0 {
				var sb strings.Builder
				for _, s := range f.texts {
					sb.WriteString(s.text)
				}
				r.sec.learnUser(strings.TrimSpace(sb.String()))
			}
			if f.kind != 0 && !f.kids && len(f.texts) > 0 {
				if e, ok := r.leaf(f, &st); ok {
					edits = append(edits, e)
				}
				continue
			}
			for _, s := range f.texts {
				if e, ok := r.textNode(s, f.uri, &st); ok {
					edits = append(edits, e)
				}
			}
		case xml.CharData:
			if suppress > 0 || len(stack) == 0 {
				continue
			}
			f := stack[len(stack)-1]
			f.texts = append(f.texts, span{before, after, string(t)})
		}
	}
	if len(stack) != 0 {
		return nil, st, errors.New("unclosed elements")
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	out.Grow(len(b))
	pos := 0
	for _, e := range edits {
		if e.start < pos {
			return nil, st, errors.New("overlapping edits")
		}
		out.Write(b[pos:e.start])
		out.WriteString(e.repl)
		pos = e.end
	}
	out.Write(b[pos:])
	return out.Bytes(), st, nil
}

// leaf handles the text of an identifying element without child elements.
func (r *redactor) leaf(f *frame, st *Redaction) (edit, bool) {
	first, last := f.texts[0], f.texts[len(f.texts)-1]
	var sb strings.Builder
	for _, s := range f.texts {
		sb.WriteString(s.text)
	}
	value := sb.String()
	trimmed := strings.TrimSpace(value)
	if trimmed == "" {
		return edit{}, false
	}
	if r.sec.find(value) != "" || looksLikePrivateKey(value) {
		st.Masked++
		return edit{first.start, last.end, mask(trimmed)}, true
	}
	if f.kind == KindRealm {
		r.sec.learnRealm(trimmed)
	}

	if !r.identifying {
		return edit{}, false
	}
	ph := r.ph.replace(f.kind, trimmed)
	if ph == trimmed {
		return edit{}, false
	}
	lead := value[:strings.Index(value, trimmed)]
	trail := value[len(lead)+len(trimmed):]
	st.Replaced++
	return edit{first.start, last.end, escape(lead + ph + trail)}, true
}

// textNode handles any other text node.
func (r *redactor) textNode(s span, uri bool, st *Redaction) (edit, bool) {
	if strings.TrimSpace(s.text) == "" {
		return edit{}, false
	}
	if r.sec.find(s.text) != "" || looksLikePrivateKey(s.text) {
		st.Masked++
		return edit{s.start, s.end, mask(strings.TrimSpace(s.text))}, true
	}
	if !r.identifying || uri || isSchemaURI(s.text) {
		return edit{}, false
	}
	t := r.ph.substitute(s.text)
	if t == s.text {
		return edit{}, false
	}
	st.Replaced++
	return edit{s.start, s.end, escape(t)}, true
}

// isSchemaURI reports text that names a schema or class (resource URIs and
// namespaces in bodies, e.g. an EPR's ResourceURI): a learnt domain name
// such as intel.com must not rewrite them.
func isSchemaURI(s string) bool {
	s = strings.TrimSpace(s)
	for _, p := range []string{"http://schemas.", "http://intel.com/wbem/", "http://www.w3.org/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// The masks of secret values. A value written in base64 or hex is masked in
// the same encoding (of the text "[REDACTED]"), so a reader that decodes the
// field still can: the mask says nothing of the secret's length or value.
var (
	maskBase64 = base64.StdEncoding.EncodeToString([]byte(wsman.Redacted))
	maskHex    = hex.EncodeToString([]byte(wsman.Redacted))
)

// mask returns the mask for the (trimmed) content c.
func mask(c string) string {
	switch {
	case len(c) >= 8 && len(c)%2 == 0 && isHex(c):
		return maskHex
	case len(c) >= 4 && len(c)%4 == 0 && isBase64(c):
		return maskBase64
	}
	return wsman.Redacted
}

func isMask(c string) bool { return c == wsman.Redacted || c == maskBase64 || c == maskHex }

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}
