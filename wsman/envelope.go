package wsman

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// DefaultMaxDepth is the default bound on XML element nesting in envelopes read
// by this package. AMT's deepest responses (EPR-valued selectors inside
// ResourceCreated) nest about ten levels.
const DefaultMaxDepth = 64

// Envelope is a parsed SOAP 1.2 envelope. Header and Body are the s:Header and
// s:Body elements (Header may be nil); all lookups go by namespace URI.
type Envelope struct {
	Doc    *etree.Document
	Root   *etree.Element // s:Envelope
	Header *etree.Element // s:Header, or nil
	Body   *etree.Element // s:Body
}

// ParseEnvelope parses b as a SOAP 1.2 envelope. It refuses, with
// [ErrUnsafeXML], input that holds a DOCTYPE, entity or other <!…> declaration,
// refers to an undefined entity or nests deeper than maxDepth (0 means
// [DefaultMaxDepth]); with [ErrMalformed], XML that is not well-formed or not a
// single s:Envelope holding an s:Body. It never panics. The reader is strict
// (see xmlread.go) and builds the same etree tree as etree's own reader.
func ParseEnvelope(b []byte, maxDepth int) (*Envelope, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	doc, err := readXML(b, maxDepth)
	if err != nil {
		if errors.Is(err, ErrUnsafeXML) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, fmt.Errorf("%w: more than one root element", ErrMalformed)
			}
			root = t
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrMalformed)
	}
	if !Is(root, NSSOAP, "Envelope") {
		return nil, fmt.Errorf("%w: expected a SOAP 1.2 Envelope, got %s", ErrMalformed, describe(root))
	}
	env := &Envelope{Doc: doc, Root: root}
	for _, t := range root.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		switch {
		case Is(c, NSSOAP, "Header") && env.Header == nil && env.Body == nil:
			env.Header = c
		case Is(c, NSSOAP, "Body") && env.Body == nil:
			env.Body = c
		default:
			return nil, fmt.Errorf("%w: unexpected %s in s:Envelope", ErrMalformed, describe(c))
		}
	}
	if env.Body == nil {
		return nil, fmt.Errorf("%w: s:Envelope without s:Body", ErrMalformed)
	}
	return env, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\r\n["); i >= 0 {
		return s[:i]
	}
	return s
}

// HeaderElement returns the first header block with the given namespace and
// local name, or nil.
func (e *Envelope) HeaderElement(ns, local string) *etree.Element {
	return Child(e.Header, ns, local)
}

func (e *Envelope) headerText(ns, local string) string {
	return Text(Child(e.Header, ns, local))
}

// Action returns the wsa:Action header.
func (e *Envelope) Action() string { return e.headerText(NSAddressing, "Action") }

// MessageID returns the wsa:MessageID header.
func (e *Envelope) MessageID() string { return e.headerText(NSAddressing, "MessageID") }

// RelatesTo returns the wsa:RelatesTo header.
func (e *Envelope) RelatesTo() string { return e.headerText(NSAddressing, "RelatesTo") }

// To returns the wsa:To header.
func (e *Envelope) To() string { return e.headerText(NSAddressing, "To") }

// ResourceURI returns the wsman:ResourceURI header.
func (e *Envelope) ResourceURI() string { return e.headerText(NSWSMan, "ResourceURI") }

// Selectors returns the wsman:SelectorSet header, if any.
func (e *Envelope) Selectors() (SelectorSet, error) {
	return ParseSelectorSet(Child(e.Header, NSWSMan, "SelectorSet"))
}

// Content returns the first element inside s:Body, or nil for an empty body.
func (e *Envelope) Content() *etree.Element { return firstChild(e.Body) }

// Fault returns the s:Fault in the body, parsed, or nil if the body holds none.
func (e *Envelope) Fault() (*Fault, error) {
	f := Child(e.Body, NSSOAP, "Fault")
	if f == nil {
		return nil, nil
	}
	fault, err := ParseFault(f)
	if err != nil {
		return nil, err
	}
	fault.Action = e.Action()
	return fault, nil
}

// formatDuration writes d as an xs:duration in seconds, e.g. PT60S or PT1.500S,
// the form WS-Management's OperationTimeout uses.
func formatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	ms := d.Milliseconds()
	s, frac := ms/1000, ms%1000
	if frac == 0 {
		return "PT" + strconv.FormatInt(s, 10) + "S"
	}
	f := strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
	return "PT" + strconv.FormatInt(s, 10) + "." + f + "S"
}

// ParseDuration reads an xs:duration of the form [-]P[nD][T[nH][nM][n[.n]S]]
// (years and months are refused: their length is not fixed).
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("wsman: invalid xs:duration %q", orig)
	}
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return bad()
	}
	s = s[1:]
	var total float64
	inTime := false
	any := false
	last := 0 // rank of the last unit seen: D=1, H=2, M=3, S=4
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return bad()
			}
			inTime = true
			s = s[1:]
			if len(s) == 0 {
				return bad()
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return bad()
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return bad()
		}
		unit := s[i]
		s = s[i+1:]
		var mul float64
		var rank int
		switch {
		case !inTime && unit == 'D':
			mul, rank = 86400, 1
		case inTime && unit == 'H':
			mul, rank = 3600, 2
		case inTime && unit == 'M':
			mul, rank = 60, 3
		case inTime && unit == 'S':
			mul, rank = 1, 4
		default:
			return bad()
		}
		if rank <= last {
			return bad()
		}
		last = rank
		total += v * mul
		any = true
	}
	if !any || total > float64(1<<62)/1e9 {
		return bad()
	}
	d := time.Duration(total * 1e9)
	if neg {
		d = -d
	}
	return d, nil
}
