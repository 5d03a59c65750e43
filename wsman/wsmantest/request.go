package wsmantest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// DefaultMaxRequestBytes caps request bodies read by [ReadRequest].
const DefaultMaxRequestBytes = 1 << 20

// Request is a decoded WS-Management request envelope: the addressing headers,
// the WS-Management options and the body, all matched by namespace URI.
type Request struct {
	*wsman.Envelope
	HTTP *http.Request // the HTTP request (its body has been read); nil from ParseRequest
	Raw  []byte

	Action      string
	To          string
	ResourceURI string
	MessageID   string
	ReplyTo     string
	Selectors   wsman.SelectorSet

	// OperationTimeout is the requested timeout; HasOperationTimeout reports
	// whether the header was present.
	OperationTimeout    time.Duration
	HasOperationTimeout bool
	// MaxEnvelopeSize is the requested maximum (0 if absent).
	MaxEnvelopeSize int
	// Locale is the xml:lang of wsman:Locale ("" if absent).
	Locale string
	// OptionSet lists the wsman:Option entries; OptionSetMustUnderstand the
	// OptionSet's mustUnderstand flag (AMT faults with MustUnderstand when set).
	OptionSet               []wsman.OptionValue
	OptionSetMustUnderstand bool

	// Input is the first element of s:Body (the instance of Put/Create, the
	// <Method>_INPUT of a method, wsen:Enumerate/Pull/Release …), or nil.
	Input *etree.Element
}

// ReadRequest reads and decodes the body of an HTTP request (at most maxBytes;
// 0 means [DefaultMaxRequestBytes]).
func ReadRequest(r *http.Request, maxBytes int64) (*Request, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRequestBytes
	}
	var b []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= maxBytes {
		// net/http delivers exactly Content-Length bytes (or an error): read
		// them into one buffer of that size instead of growing one.
		b = make([]byte, n)
		_, err = io.ReadFull(r.Body, b)
	} else {
		b, err = io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	}
	if err != nil {
		return nil, fmt.Errorf("wsmantest: reading request: %w", err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("wsmantest: request larger than %d bytes", maxBytes)
	}
	req, err := ParseRequest(b)
	if err != nil {
		return nil, err
	}
	req.HTTP = r
	return req, nil
}

// ParseRequest decodes a request envelope. It fails (wrapping
// wsman.ErrMalformed) when the envelope is not SOAP 1.2, the SelectorSet or a
// header value is malformed, or — except for Identify — Action or MessageID is
// missing.
func ParseRequest(b []byte) (*Request, error) {
	env, err := wsman.ParseEnvelope(b, 0)
	if err != nil {
		return nil, err
	}
	r := &Request{Envelope: env, Raw: b}
	r.Action = env.Action()
	r.To = env.To()
	r.ResourceURI = env.ResourceURI()
	r.MessageID = env.MessageID()
	if rt := env.HeaderElement(wsman.NSAddressing, "ReplyTo"); rt != nil {
		r.ReplyTo, _ = wsman.ChildText(rt, wsman.NSAddressing, "Address")
	}
	r.Input = env.Content()
	if r.IsIdentify() {
		return r, nil
	}
	if r.Action == "" {
		return nil, fmt.Errorf("%w: request without wsa:Action", wsman.ErrMalformed)
	}
	if r.MessageID == "" {
		return nil, fmt.Errorf("%w: request without wsa:MessageID", wsman.ErrMalformed)
	}
	if r.Selectors, err = env.Selectors(); err != nil {
		return nil, err
	}
	if s, ok := wsman.ChildText(env.Header, wsman.NSWSMan, "OperationTimeout"); ok {
		d, err := wsman.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%w: OperationTimeout: %v", wsman.ErrMalformed, err)
		}
		r.OperationTimeout, r.HasOperationTimeout = d, true
	}
	if s, ok := wsman.ChildText(env.Header, wsman.NSWSMan, "MaxEnvelopeSize"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: MaxEnvelopeSize %q", wsman.ErrMalformed, s)
		}
		r.MaxEnvelopeSize = n
	}
	if l := env.HeaderElement(wsman.NSWSMan, "Locale"); l != nil {
		r.Locale = attr(l, wsman.NSXML, "lang")
	}
	if os := env.HeaderElement(wsman.NSWSMan, "OptionSet"); os != nil {
		r.OptionSetMustUnderstand = isTrue(attr(os, wsman.NSSOAP, "mustUnderstand"))
		for _, o := range wsman.Children(os, wsman.NSWSMan, "Option") {
			r.OptionSet = append(r.OptionSet, wsman.OptionValue{
				Name: attr(o, "", "Name"), Type: attr(o, "", "Type"), Value: wsman.Text(o),
			})
		}
	}
	return r, nil
}

// IsIdentify reports whether the request is a WS-Management Identify.
func (r *Request) IsIdentify() bool {
	return r.Action == "" && wsman.Is(r.Input, wsman.NSIdentity, "Identify")
}

// Method returns the method name of a custom action ResourceURI/Method, and
// false for any other action.
func (r *Request) Method() (string, bool) {
	p := r.ResourceURI + "/"
	if r.ResourceURI == "" || len(r.Action) <= len(p) || r.Action[:len(p)] != p {
		return "", false
	}
	return r.Action[len(p):], true
}

// EnumerationContext returns the wsen:EnumerationContext of a Pull or Release.
func (r *Request) EnumerationContext() string {
	s, _ := wsman.ChildText(r.Input, wsman.NSEnumeration, "EnumerationContext")
	return s
}

// MaxElements returns the MaxElements of a Pull (wsen) or optimized Enumerate
// (wsman), or 0 when absent or invalid.
func (r *Request) MaxElements() int {
	s, ok := wsman.ChildText(r.Input, wsman.NSEnumeration, "MaxElements")
	if !ok {
		s, _ = wsman.ChildText(r.Input, wsman.NSWSMan, "MaxElements")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// OptimizeEnumeration reports whether an Enumerate asks for optimized
// enumeration.
func (r *Request) OptimizeEnumeration() bool {
	return wsman.Child(r.Input, wsman.NSWSMan, "OptimizeEnumeration") != nil
}

// EnumerationMode returns the requested mode of an Enumerate.
func (r *Request) EnumerationMode() wsman.EnumerationMode {
	switch s, _ := wsman.ChildText(r.Input, wsman.NSWSMan, "EnumerationMode"); s {
	case "EnumerateEPR":
		return wsman.EnumerateEPRs
	case "EnumerateObjectAndEPR":
		return wsman.EnumerateObjectsAndEPRs
	}
	return wsman.EnumerateObjects
}

// Fields reads the input element's children with wsman.Fields.
func (r *Request) Fields() map[string][]string { return wsman.Fields(r.Input) }

// MustUnderstand lists the header blocks marked s:mustUnderstand="true", so that
// a strict fake can fault on the ones it does not implement.
func (r *Request) MustUnderstand() []wsman.QName {
	var out []wsman.QName
	if r.Header == nil {
		return nil
	}
	for _, t := range r.Header.Child {
		e, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if isTrue(attr(e, wsman.NSSOAP, "mustUnderstand")) {
			out = append(out, wsman.QName{Space: wsman.NamespaceOf(e), Local: e.Tag})
		}
	}
	return out
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// attr returns the attribute with the given namespace URI ("" = unprefixed) and
// local name.
func attr(el *etree.Element, ns, local string) string {
	for _, a := range el.Attr {
		if a.Key != local || a.Space == "xmlns" {
			continue
		}
		if ns == "" {
			if a.Space == "" {
				return a.Value
			}
			continue
		}
		if a.Space == "xml" && ns == wsman.NSXML {
			return a.Value
		}
		if a.Space != "" && lookup(el, a.Space) == ns {
			return a.Value
		}
	}
	return ""
}

func lookup(el *etree.Element, prefix string) string {
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if a.Space == "xmlns" && a.Key == prefix {
				return a.Value
			}
		}
	}
	return ""
}
