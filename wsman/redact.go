package wsman

import (
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Redactor reports whether an element (namespace URI and local name) — or a
// selector, by its Name attribute with ns = "" — must be masked in logs.
type Redactor func(ns, local string) bool

// Redacted replaces masked content in logged envelopes.
const Redacted = "[REDACTED]"

// RedactElements returns a Redactor matching the given local names exactly, in
// any namespace (e.g. "Password", "DigestPassword", "OTP").
func RedactElements(locals ...string) Redactor {
	set := make(map[string]struct{}, len(locals))
	for _, l := range locals {
		set[l] = struct{}{}
	}
	return func(_, local string) bool { _, ok := set[local]; return ok }
}

// DefaultRedactor masks any element or selector whose local name contains
// "password", "passphrase", "secret", "privatekey" or "psk" (case-insensitive).
// It is always active; [WithRedaction] (for every call) and [Redact] (for one
// call) add to it.
func DefaultRedactor(_, local string) bool {
	l := strings.ToLower(local)
	for _, s := range [...]string{"password", "passphrase", "secret", "privatekey", "psk"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

type redactors []Redactor

func (rs redactors) match(ns, local string) bool {
	if DefaultRedactor(ns, local) {
		return true
	}
	for _, r := range rs {
		if r(ns, local) {
			return true
		}
	}
	return false
}

// redactedCopy returns a copy of doc's root with matched elements' content and
// matched selectors' values replaced by [Redacted].
func redactedCopy(doc *etree.Document, rs redactors) *etree.Document {
	cp := doc.Copy()
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		mask := false
		if Is(e, NSWSMan, "Selector") {
			if n, ok := attrNS(e, "", "Name"); ok && rs.match("", n) {
				mask = true
			}
		} else if rs.match(e.NamespaceURI(), e.Tag) {
			mask = true
		}
		if mask {
			for len(e.Child) > 0 {
				e.RemoveChildAt(0)
			}
			e.SetText(Redacted)
			return
		}
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				walk(c)
			}
		}
	}
	if r := cp.Root(); r != nil {
		walk(r)
	}
	return cp
}

// redactEnvelope returns b with the content of elements matched by rs (and by
// [DefaultRedactor]) masked. Input that does not parse is replaced entirely.
// The fuzz test drives the redaction through it.
func redactEnvelope(b []byte, rs ...Redactor) string {
	env, err := ParseEnvelope(b, 0)
	if err != nil {
		return "[unparsable envelope, " + strconv.Itoa(len(b)) + " bytes]"
	}
	s, err := redactedCopy(env.Doc, rs).WriteToString()
	if err != nil {
		return "[unprintable envelope]"
	}
	return s
}
