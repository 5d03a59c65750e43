package transcript

import (
	"slices"
	"strings"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Key identifies a request for replay: two requests with equal keys ask the
// same thing. Everything else of the envelope (MessageID, ReplyTo,
// OperationTimeout, prefixes, white space) is left out, and so is a Pull's
// wsen:MaxCharacters, a page-size hint that changes how an answer is cut,
// not what is asked (a transcript recorded by a client that sent none still
// answers one that does).
type Key struct {
	// Action and ResourceURI are the header values.
	Action      string
	ResourceURI string
	// Selectors is the SelectorSet in a canonical form: sorted by name,
	// Name=value, EPR values as <ResourceURI{selectors}>.
	Selectors string
	// Body is the body's content in a canonical form: {namespace}local
	// names, attributes sorted, text trimmed; secret elements and selectors
	// read "[REDACTED]" and volatile ones "[VOLATILE]" whatever they hold.
	Body string
}

// String formats the key for messages (without the body).
func (k Key) String() string {
	s := k.Action
	if s == "" {
		s = "Identify"
	}
	if k.ResourceURI != "" {
		s += " " + k.ResourceURI
	}
	if k.Selectors != "" {
		s += " " + k.Selectors
	}
	return s
}

// RequestKey returns the key of a request envelope, masking what p says is
// secret (wsman.DefaultRedactor's names always) or volatile, so that a live
// request matches its recorded, redacted twin.
func RequestKey(envelope []byte, p Policy) (Key, error) {
	env, err := wsman.ParseEnvelope(envelope, 0)
	if err != nil {
		return Key{}, err
	}
	sel, err := env.Selectors()
	if err != nil {
		return Key{}, err
	}
	k := Key{Action: env.Action(), ResourceURI: env.ResourceURI(), Selectors: canonicalSelectors(sel, &p)}
	var b strings.Builder
	for _, c := range env.Body.ChildElements() {
		if c.NamespaceURI() == wsman.NSEnumeration && c.Tag == "Pull" {
			for _, m := range c.ChildElements() {
				if m.NamespaceURI() == wsman.NSEnumeration && m.Tag == "MaxCharacters" {
					c = c.Copy()
					c.RemoveChildAt(m.Index())
					break
				}
			}
		}
		canonicalElement(&b, c, &p)
	}
	k.Body = b.String()
	return k, nil
}

func canonicalSelectors(ss wsman.SelectorSet, p *Policy) string {
	if len(ss) == 0 {
		return ""
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		v := s.Value
		switch {
		case p.secret("", s.Name):
			v = wsman.Redacted
		case s.EPR != nil:
			v = "<" + s.EPR.ResourceURI + canonicalSelectors(s.EPR.Selectors, p) + ">"
		}
		parts[i] = s.Name + "=" + v
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

func canonicalElement(b *strings.Builder, el *etree.Element, p *Policy) {
	ns, local := el.NamespaceURI(), el.Tag
	b.WriteString("{" + ns + "}" + local)
	var attrs []string
	selector := ""
	for _, a := range el.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if ns == wsman.NSWSMan && local == "Selector" && a.Space == "" && a.Key == "Name" {
			selector = a.Value
		}
		attrs = append(attrs, a.NamespaceURI()+":"+a.Key+"="+a.Value)
	}
	if len(attrs) > 0 {
		slices.Sort(attrs)
		b.WriteString("[" + strings.Join(attrs, " ") + "]")
	}
	switch {
	case selector != "" && p.secret("", selector), selector == "" && p.secret(ns, local):
		b.WriteString("=" + wsman.Redacted)
		return
	case p.volatile(local):
		b.WriteString("=[VOLATILE]")
		return
	}
	kids := el.ChildElements()
	if len(kids) == 0 {
		b.WriteString("=" + strings.TrimSpace(wsman.Text(el)))
		return
	}
	b.WriteString("(")
	for _, c := range kids {
		canonicalElement(b, c, p)
	}
	b.WriteString(")")
}
