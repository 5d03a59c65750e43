package wsman

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/amtkit/amtkit/internal/oneline"
)

// QName is a namespace-qualified name, resolved from the prefix:local text a
// fault carries through the namespaces in scope where it appears.
type QName struct {
	Space string // namespace URI ("" if the prefix was undeclared)
	Local string
}

// String formats the name as {space}local, or local when Space is empty.
func (q QName) String() string {
	if q.Space == "" {
		return q.Local
	}
	return "{" + q.Space + "}" + q.Local
}

// Fault subcode sentinels. A [*Fault] matches one with errors.Is when its
// Subcode (or, for the SOAP codes, its Code) is that QName, whatever prefix the
// server used.
var (
	// ErrDestinationUnreachable (WS-Addressing): on AMT this usually means the
	// class does not exist on this SKU or firmware.
	ErrDestinationUnreachable = &FaultCode{name: QName{NSAddressing, "DestinationUnreachable"}}
	// ErrActionNotSupported (WS-Addressing): the server does not implement the
	// action (e.g. an unknown method).
	ErrActionNotSupported = &FaultCode{name: QName{NSAddressing, "ActionNotSupported"}}
	// ErrInvalidMessageInformationHeader (WS-Addressing).
	ErrInvalidMessageInformationHeader = &FaultCode{name: QName{NSAddressing, "InvalidMessageInformationHeader"}}
	// ErrAccessDenied (WS-Management).
	ErrAccessDenied = &FaultCode{name: QName{NSWSMan, "AccessDenied"}}
	// ErrAlreadyExists (WS-Management): Create of an instance that exists.
	ErrAlreadyExists = &FaultCode{name: QName{NSWSMan, "AlreadyExists"}}
	// ErrInternalError (WS-Management): the server failed the operation. AMT
	// uses it for feature errors of intrinsic operations and names the
	// PT_STATUS in the detail (package amt reads it: amt.StatusOfFault).
	ErrInternalError = &FaultCode{name: QName{NSWSMan, "InternalError"}}
	// ErrInvalidSelectors (WS-Management).
	ErrInvalidSelectors = &FaultCode{name: QName{NSWSMan, "InvalidSelectors"}}
	// ErrInvalidParameter (WS-Management).
	ErrInvalidParameter = &FaultCode{name: QName{NSWSMan, "InvalidParameter"}}
	// ErrSchemaValidationError (WS-Management).
	ErrSchemaValidationError = &FaultCode{name: QName{NSWSMan, "SchemaValidationError"}}
	// ErrTimedOut (WS-Management): the operation exceeded OperationTimeout.
	ErrTimedOut = &FaultCode{name: QName{NSWSMan, "TimedOut"}}
	// ErrEncodingLimit (WS-Management): e.g. MaxEnvelopeSize too small.
	ErrEncodingLimit = &FaultCode{name: QName{NSWSMan, "EncodingLimit"}}
	// ErrUnsupportedFeature (WS-Management).
	ErrUnsupportedFeature = &FaultCode{name: QName{NSWSMan, "UnsupportedFeature"}}
	// ErrCannotProcessFilter (WS-Enumeration).
	ErrCannotProcessFilter = &FaultCode{name: QName{NSEnumeration, "CannotProcessFilter"}}
	// ErrInvalidEnumerationContext (WS-Enumeration): the context expired or was
	// released.
	ErrInvalidEnumerationContext = &FaultCode{name: QName{NSEnumeration, "InvalidEnumerationContext"}}
	// ErrMustUnderstand (SOAP Code): a mustUnderstand header was not understood
	// (AMT answers an OptionSet with mustUnderstand="true" this way).
	ErrMustUnderstand = &FaultCode{name: QName{NSSOAP, "MustUnderstand"}}
	// ErrSender (SOAP Code): the request was at fault.
	ErrSender = &FaultCode{name: QName{NSSOAP, "Sender"}}
	// ErrReceiver (SOAP Code): the server was at fault.
	ErrReceiver = &FaultCode{name: QName{NSSOAP, "Receiver"}}
)

// FaultCode is a sentinel that matches faults by code or subcode QName; see the
// Err… variables.
type FaultCode struct{ name QName }

// QName returns the code or subcode the sentinel stands for.
func (c *FaultCode) QName() QName { return c.name }

func (c *FaultCode) Error() string { return "wsman: fault " + c.name.Local }

// Fault is a SOAP fault returned by the server. It is an error; use errors.As to
// read it and errors.Is with the subcode sentinels ([ErrAlreadyExists] …).
type Fault struct {
	// HTTPStatus is the status the fault came with (400 for Sender faults,
	// 500 for Receiver faults on AMT).
	HTTPStatus int
	// Action is the response Action (…/addressing/fault or …/wsman/fault).
	Action string
	// Code is the SOAP fault code (Sender, Receiver, MustUnderstand …).
	Code QName
	// Subcode is the first subcode, e.g. {wsman.xsd}InternalError. Zero if
	// the fault has none.
	Subcode QName
	// Subcodes lists every nested subcode, outermost first.
	Subcodes []QName
	// Reason is the reason text (the first Text element).
	Reason string
	// Detail is the concatenated text content of the Detail element,
	// white space trimmed.
	Detail string
	// DetailElement is the Detail element itself (nil if absent), for
	// structured details.
	DetailElement *etree.Element
}

// Error describes the fault on one line: the device's code, reason and detail
// texts with their control characters (C0, DEL, C1) and the Unicode line and
// paragraph separators escaped as in a Go quoted string (the fields keep them
// as sent), so that a device cannot forge log lines or send terminal escapes
// through a logged error.
func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("wsman: fault ")
	name := f.Subcode.Local
	if name == "" {
		name = f.Code.Local
	}
	b.WriteString(oneline.Escape(name))
	if f.Subcode.Local != "" && f.Code.Local != "" {
		b.WriteString(" (")
		b.WriteString(oneline.Escape(f.Code.Local))
		b.WriteString(")")
	}
	if f.HTTPStatus != 0 {
		b.WriteString(", HTTP ")
		b.WriteString(strconv.Itoa(f.HTTPStatus))
	}
	if f.Reason != "" {
		b.WriteString(": ")
		b.WriteString(oneline.Escape(f.Reason))
	}
	if f.Detail != "" && len(f.Detail) <= 200 {
		b.WriteString(" [")
		b.WriteString(oneline.Escape(f.Detail))
		b.WriteString("]")
	}
	return b.String()
}

// Is matches the FaultCode sentinels by code or any subcode.
func (f *Fault) Is(target error) bool {
	c, ok := target.(*FaultCode)
	if !ok {
		return false
	}
	if f.Code == c.name {
		return true
	}
	for _, s := range f.Subcodes {
		if s == c.name {
			return true
		}
	}
	return false
}

// ParseFault reads a SOAP 1.2 s:Fault element. Code and subcode values are
// resolved through the namespaces in scope.
func ParseFault(el *etree.Element) (*Fault, error) {
	if !Is(el, NSSOAP, "Fault") {
		return nil, fmt.Errorf("%w: expected s:Fault, got %s", ErrMalformed, describe(el))
	}
	f := &Fault{}
	code := Child(el, NSSOAP, "Code")
	if code == nil {
		return nil, fmt.Errorf("%w: s:Fault without s:Code", ErrMalformed)
	}
	f.Code = resolveQName(Child(code, NSSOAP, "Value"))
	for sub := Child(code, NSSOAP, "Subcode"); sub != nil; sub = Child(sub, NSSOAP, "Subcode") {
		q := resolveQName(Child(sub, NSSOAP, "Value"))
		f.Subcodes = append(f.Subcodes, q)
		if len(f.Subcodes) > 16 {
			break
		}
	}
	if len(f.Subcodes) > 0 {
		f.Subcode = f.Subcodes[0]
	}
	if r := Child(el, NSSOAP, "Reason"); r != nil {
		f.Reason = Text(Child(r, NSSOAP, "Text"))
	}
	if d := Child(el, NSSOAP, "Detail"); d != nil {
		f.DetailElement = d
		f.Detail = strings.Join(strings.Fields(allText(d)), " ")
	}
	return f, nil
}

// resolveQName reads prefix:local text in el and resolves the prefix from el.
func resolveQName(el *etree.Element) QName {
	s := Text(el)
	if el == nil || s == "" {
		return QName{}
	}
	prefix, local := "", s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		prefix, local = s[:i], s[i+1:]
	}
	ns, _ := lookupPrefix(el, prefix)
	return QName{Space: ns, Local: local}
}

// allText concatenates all character data under el, separating pieces with a
// space so that adjacent elements' texts do not run together.
func allText(el *etree.Element) string {
	var b strings.Builder
	var walk func(e *etree.Element, depth int)
	walk = func(e *etree.Element, depth int) {
		for _, t := range e.Child {
			switch t := t.(type) {
			case *etree.CharData:
				b.WriteString(t.Data)
			case *etree.Element:
				b.WriteByte(' ')
				walk(t, depth+1)
				b.WriteByte(' ')
			}
		}
	}
	walk(el, 0)
	return b.String()
}
