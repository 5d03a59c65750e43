package wsmantest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Reply is a handler's answer: a response envelope or a fault.
type Reply struct {
	// Action is the response wsa:Action (ignored for faults: Fault.Action).
	Action string
	// ResourceURI is echoed in the header ("" omits it, as AMT does in faults).
	ResourceURI string
	// Body holds the s:Body content. Elements may use any prefixes; they are
	// rewritten to the Writer's scheme.
	Body []*etree.Element
	// Fault, if set, makes the reply a SOAP fault.
	Fault *Fault
	// Status is the HTTP status (default 200, or Fault.HTTPStatus).
	Status int
	// Hangup closes the connection without answering, after the request was
	// read in full — what AMT 19+ does when it applies CommitChanges. The
	// client sees wsman.ErrResponseLost.
	Hangup bool
	// Namespaces are namespace URIs declared on the envelope, used or not,
	// after those the header and body use and before xsi. AMT declares the
	// WS-CIM common namespace (http://schemas.dmtf.org/wbem/wscim/1/common,
	// DSP0230) this way with instances of classes that have datetime
	// properties.
	Namespaces []string
}

// Hangup is a reply that drops the connection without answering.
func Hangup() Reply { return Reply{Hangup: true} }

// Fault describes a SOAP fault to send.
type Fault struct {
	HTTPStatus int
	Action     string // default wsman.ActionWSManFault
	Code       wsman.QName
	Subcode    wsman.QName // zero: none
	Reason     string
	// Detail is the text of s:Detail ("" sends an empty Detail element, as AMT
	// does), e.g. "AMT-STATUS 1".
	Detail string
	// FaultDetail, if set, is a DSP0226 fault detail URI
	// ([FaultDetailURI] + "EnumerationMode" …), written as a
	// wsman:FaultDetail element inside s:Detail (after Detail's text).
	FaultDetail string
}

// FaultDetailURI is the base of DSP0226's fault detail URIs
// (http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/EnumerationMode …),
// the values of wsman:FaultDetail.
const FaultDetailURI = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"

// The faults AMT sends. Feature errors of intrinsic operations are wsman
// InternalError with detail "AMT-STATUS <n>" (Intel AMT SDK, "Errors and Return
// Values", errorsandreturnvalues.htm); AlreadyExists is shaped like the AMT 15
// capture in device-management-toolkit/rps src/test/helper/AMTMessages.ts;
// DestinationUnreachable like go-wsman-messages pkg/amterror/error_test.go and
// the wireless-only unit of rps issue #1072.

// InternalError is AMT's fault for a feature error of an intrinsic operation:
// HTTP 500, Receiver / wsman InternalError, detail "AMT-STATUS <status>".
func InternalError(amtStatus uint32) Fault {
	return Fault{
		HTTPStatus: http.StatusInternalServerError,
		Action:     wsman.ActionWSManFault,
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Receiver"},
		Subcode:    wsman.QName{Space: wsman.NSWSMan, Local: "InternalError"},
		Reason:     "The service cannot comply with the request due to internal processing errors.",
		Detail:     "AMT-STATUS " + strconv.FormatUint(uint64(amtStatus), 10),
	}
}

// AlreadyExists is AMT's answer to a Create of an existing instance: HTTP 400,
// Sender / wsman AlreadyExists, empty detail.
func AlreadyExists() Fault {
	return Fault{
		HTTPStatus: http.StatusBadRequest,
		Action:     wsman.ActionWSManFault,
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Sender"},
		Subcode:    wsman.QName{Space: wsman.NSWSMan, Local: "AlreadyExists"},
		Reason:     "The sender attempted to create a resource which already exists.",
	}
}

// DestinationUnreachable is AMT's answer for a class this SKU does not have (or
// bad addressing): HTTP 400, Sender / addressing DestinationUnreachable.
func DestinationUnreachable() Fault {
	return Fault{
		HTTPStatus: http.StatusBadRequest,
		Action:     wsman.ActionAddressingFault,
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Sender"},
		Subcode:    wsman.QName{Space: wsman.NSAddressing, Local: "DestinationUnreachable"},
		Reason:     "No route can be determined to reach the destination role defined by the WSAddressing To.",
	}
}

// ActionNotSupported: HTTP 400, Sender / addressing ActionNotSupported.
func ActionNotSupported(action string) Fault {
	return Fault{
		HTTPStatus: http.StatusBadRequest,
		Action:     wsman.ActionAddressingFault,
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Sender"},
		Subcode:    wsman.QName{Space: wsman.NSAddressing, Local: "ActionNotSupported"},
		Reason:     "The action is not supported by the service.",
		Detail:     action,
	}
}

// SenderFault builds a Sender fault with a wsman subcode (AccessDenied,
// InvalidSelectors, InvalidParameter, SchemaValidationError, EncodingLimit …).
func SenderFault(subcode, reason string) Fault {
	return Fault{
		HTTPStatus: http.StatusBadRequest,
		Action:     wsman.ActionWSManFault,
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Sender"},
		Subcode:    wsman.QName{Space: wsman.NSWSMan, Local: subcode},
		Reason:     reason,
	}
}

// UnsupportedFeature is DSP0226's fault for an optional feature the service
// does not implement (an unknown wsman:EnumerationMode, …): HTTP 400, Sender /
// wsman UnsupportedFeature, and the feature named by a wsman:FaultDetail of
// [FaultDetailURI] + detail ("EnumerationMode"; "" for none). The status,
// code and reason are those openwsman sends (src/lib/wsman-faults.c,
// WSMAN_UNSUPPORTED_FEATURE); Wiseman's UnsupportedFeatureFault has the same
// reason and detail URIs.
func UnsupportedFeature(detail string) Fault {
	f := Fault{
		HTTPStatus: http.StatusBadRequest,
		Action:     wsman.ActionWSManFault,
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Sender"},
		Subcode:    wsman.QName{Space: wsman.NSWSMan, Local: "UnsupportedFeature"},
		Reason:     "The specified feature is not supported.",
	}
	if detail != "" {
		f.FaultDetail = FaultDetailURI + detail
	}
	return f
}

// InvalidEnumerationContext: HTTP 400, Receiver / wsen
// InvalidEnumerationContext.
func InvalidEnumerationContext() Fault {
	return Fault{
		HTTPStatus: http.StatusBadRequest,
		Action:     wsman.NSEnumeration + "/fault",
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "Receiver"},
		Subcode:    wsman.QName{Space: wsman.NSEnumeration, Local: "InvalidEnumerationContext"},
		Reason:     "The supplied enumeration context is invalid.",
	}
}

// MustUnderstand: HTTP 500, SOAP MustUnderstand (AMT's answer to an OptionSet
// marked mustUnderstand).
func MustUnderstand() Fault {
	return Fault{
		HTTPStatus: http.StatusInternalServerError,
		Action:     wsman.ActionWSManFault,
		Code:       wsman.QName{Space: wsman.NSSOAP, Local: "MustUnderstand"},
		Reason:     "Header not understood",
	}
}

// Replies for the standard operations.

// GetResponse answers a Get with instance.
func GetResponse(req *Request, instance *etree.Element) Reply {
	return Reply{Action: wsman.ActionGetResponse, ResourceURI: req.ResourceURI, Body: []*etree.Element{instance}}
}

// PutResponse answers a Put with the instance as stored.
func PutResponse(req *Request, instance *etree.Element) Reply {
	return Reply{Action: wsman.ActionPutResponse, ResourceURI: req.ResourceURI, Body: []*etree.Element{instance}}
}

// CreateResponse answers a Create with ResourceCreated holding epr.
func CreateResponse(req *Request, epr wsman.EPR) Reply {
	rc := etree.NewElement("t:ResourceCreated")
	rc.CreateAttr("xmlns:t", wsman.NSTransfer)
	epr.AppendTo(rc)
	return Reply{Action: wsman.ActionCreateResponse, ResourceURI: req.ResourceURI, Body: []*etree.Element{rc}}
}

// DeleteResponse answers a Delete (empty body).
func DeleteResponse(req *Request) Reply {
	return Reply{Action: wsman.ActionDeleteResponse, ResourceURI: req.ResourceURI}
}

// EnumerateResponse answers an Enumerate with an enumeration context.
func EnumerateResponse(req *Request, enumContext string) Reply {
	er := etree.NewElement("n:EnumerateResponse")
	er.CreateAttr("xmlns:n", wsman.NSEnumeration)
	er.CreateElement("n:EnumerationContext").SetText(enumContext)
	return Reply{Action: wsman.ActionEnumerateResponse, ResourceURI: req.ResourceURI, Body: []*etree.Element{er}}
}

// OptimizedEnumerateResponse answers an optimized Enumerate: the context (if
// more follow), the first items in wsman:Items and, when next is "",
// wsman:EndOfSequence.
func OptimizedEnumerateResponse(req *Request, items []*etree.Element, next string) Reply {
	er := etree.NewElement("n:EnumerateResponse")
	er.CreateAttr("xmlns:n", wsman.NSEnumeration)
	er.CreateAttr("xmlns:w", wsman.NSWSMan)
	if next != "" {
		er.CreateElement("n:EnumerationContext").SetText(next)
	}
	it := er.CreateElement("w:Items")
	for _, i := range items {
		it.AddChild(wsman.Detach(i))
	}
	if next == "" {
		er.CreateElement("w:EndOfSequence")
	}
	return Reply{Action: wsman.ActionEnumerateResponse, ResourceURI: req.ResourceURI, Body: []*etree.Element{er}}
}

// PullResponse answers a Pull with items; next is the context for the following
// Pull, or "" to end with EndOfSequence.
func PullResponse(req *Request, items []*etree.Element, next string) Reply {
	pr := etree.NewElement("n:PullResponse")
	pr.CreateAttr("xmlns:n", wsman.NSEnumeration)
	if next != "" {
		pr.CreateElement("n:EnumerationContext").SetText(next)
	}
	it := pr.CreateElement("n:Items")
	for _, i := range items {
		it.AddChild(wsman.Detach(i))
	}
	if next == "" {
		pr.CreateElement("n:EndOfSequence")
	}
	return Reply{Action: wsman.ActionPullResponse, ResourceURI: req.ResourceURI, Body: []*etree.Element{pr}}
}

// ReleaseResponse answers a Release (empty body).
func ReleaseResponse(req *Request) Reply {
	return Reply{Action: wsman.ActionReleaseResponse, ResourceURI: req.ResourceURI}
}

// MethodResponse answers a custom action with output (a <Method>_OUTPUT element,
// e.g. built with wsman.NewElement); the Action is the request's + "Response".
func MethodResponse(req *Request, output *etree.Element) Reply {
	return Reply{Action: req.Action + "Response", ResourceURI: req.ResourceURI, Body: []*etree.Element{output}}
}

// ReturnValue builds a <Method>_OUTPUT element for req's method holding props
// and then ReturnValue (AMT writes outputs in MOF order with ReturnValue last).
func ReturnValue(req *Request, code uint32, props ...wsman.Property) *etree.Element {
	m, _ := req.Method()
	props = append(props[:len(props):len(props)], wsman.Prop("ReturnValue", strconv.FormatUint(uint64(code), 10)))
	return wsman.NewElement(req.ResourceURI, m+"_OUTPUT", props...)
}

// IdentifyResponse answers Identify.
func IdentifyResponse(vendor, version string, securityProfiles ...string) Reply {
	ir := etree.NewElement("i:IdentifyResponse")
	ir.CreateAttr("xmlns:i", wsman.NSIdentity)
	ir.CreateElement("i:ProtocolVersion").SetText(wsman.NSWSMan)
	ir.CreateElement("i:ProductVendor").SetText(vendor)
	ir.CreateElement("i:ProductVersion").SetText(version)
	if len(securityProfiles) > 0 {
		sp := ir.CreateElement("i:SecurityProfiles")
		for _, p := range securityProfiles {
			sp.CreateElement("i:SecurityProfileName").SetText(p)
		}
	}
	return Reply{Body: []*etree.Element{ir}}
}

// FaultReply wraps f as a reply.
func FaultReply(f Fault) Reply { return Reply{Fault: &f} }

// DefaultServer is the Server header AMT-shaped replies carry.
const DefaultServer = "Intel(R) Active Management Technology 16.1.25.2124"

// fixed namespaces AMT declares on every response, in its order (a–f).
var amtFixed = [...]string{
	wsman.NSSOAP,
	wsman.NSAddressing,
	wsman.NSWSMan,
	"http://schemas.xmlsoap.org/ws/2005/02/trust",
	"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
	"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd",
}

// Writer writes replies the way AMT shapes them: every namespace declared on the
// envelope with one-letter prefixes (a = SOAP, b = addressing, c = wsman, d–f
// fixed, then g, h … in the order the body first uses them, so the class and
// enumeration prefixes change between responses), RelatesTo = the request's
// MessageID, MessageID uuid:00000000-8086-8086-8086-<counter>, every empty
// element with an explicit end tag (<a:Body></a:Body>, never <a:Body/>), chunked
// application/soap+xml. The zero value is ready to use and safe for concurrent
// use.
type Writer struct {
	// Server is the Server header ("" = DefaultServer).
	Server string
	// RandomPrefixes, if set, draws every prefix (SOAP and addressing
	// included) at random from a seeded generator, for testing that clients
	// never depend on prefixes.
	RandomPrefixes bool
	// Seed seeds RandomPrefixes.
	Seed uint64

	seq  atomic.Uint64
	mu   sync.Mutex
	rand *rand.Rand
	bufs sync.Pool // *bytes.Buffer for Write
}

// maxPooledResponse bounds the buffers Write keeps for reuse.
const maxPooledResponse = 64 << 10

// nsTable assigns prefixes.
type nsTable struct {
	uris     []string
	prefixes map[string]string
	next     int
	random   func() string
}

func (t *nsTable) prefix(uri string) string {
	if p, ok := t.prefixes[uri]; ok {
		return p
	}
	var p string
	for {
		if t.random != nil {
			p = t.random()
		} else {
			p = letter(t.next)
			t.next++
		}
		if !t.used(p) {
			break
		}
	}
	t.prefixes[uri] = p
	t.uris = append(t.uris, uri)
	return p
}

func (t *nsTable) used(p string) bool {
	if p == "xsi" || p == "xml" {
		return true
	}
	for _, q := range t.prefixes {
		if q == p {
			return true
		}
	}
	return false
}

func letter(i int) string {
	if i < 26 {
		return string(rune('a' + i))
	}
	return "n" + strconv.Itoa(i)
}

func (w *Writer) newTable() *nsTable {
	t := &nsTable{prefixes: map[string]string{}}
	if w.RandomPrefixes {
		w.mu.Lock()
		if w.rand == nil {
			w.rand = rand.New(rand.NewPCG(w.Seed, w.Seed^0x9e3779b97f4a7c15))
		}
		// draw the names now so the table needs no lock later
		names := make([]string, 64)
		for i := range names {
			names[i] = randomName(w.rand)
		}
		w.mu.Unlock()
		i := 0
		t.random = func() string { s := names[i%len(names)] + strconv.Itoa(i/len(names)); i++; return s }
	}
	for _, u := range amtFixed {
		t.prefix(u)
	}
	return t
}

func randomName(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	n := 1 + r.IntN(4)
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// Marshal renders rep as a response envelope to req.
func (w *Writer) Marshal(req *Request, rep Reply) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(4096)
	if err := w.marshal(&buf, req, rep); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// marshal renders rep as a response envelope to req into buf.
func (w *Writer) marshal(buf *bytes.Buffer, req *Request, rep Reply) error {
	t := w.newTable()
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	s, a, c := t.prefix(wsman.NSSOAP), t.prefix(wsman.NSAddressing), t.prefix(wsman.NSWSMan)
	env := doc.CreateElement(s + ":Envelope")
	hdr := env.CreateElement(s + ":Header")
	hdr.CreateElement(a + ":To").SetText(wsman.AddressAnonymous)
	if req != nil && req.MessageID != "" {
		hdr.CreateElement(a + ":RelatesTo").SetText(req.MessageID)
	}
	action := rep.Action
	if rep.Fault != nil {
		action = rep.Fault.Action
		if action == "" {
			action = wsman.ActionWSManFault
		}
	}
	if action != "" {
		ae := hdr.CreateElement(a + ":Action")
		ae.CreateAttr(s+":mustUnderstand", "true")
		ae.SetText(action)
	}
	hdr.CreateElement(a + ":MessageID").SetText(fmt.Sprintf("uuid:00000000-8086-8086-8086-%012X", w.seq.Add(1)))
	if rep.Fault == nil && rep.ResourceURI != "" {
		hdr.CreateElement(c + ":ResourceURI").SetText(rep.ResourceURI)
	}
	body := env.CreateElement(s + ":Body")
	if rep.Fault != nil {
		writeFault(body, t, s, rep.Fault)
	}
	for _, el := range rep.Body {
		if el != nil {
			body.AddChild(rename(el, t))
		}
	}
	for _, u := range rep.Namespaces {
		t.prefix(u)
	}
	for _, u := range t.uris {
		env.CreateAttr("xmlns:"+t.prefixes[u], u)
	}
	env.CreateAttr("xmlns:xsi", wsman.NSXSI)
	// AMT writes every empty element with an explicit end tag
	// (<g:EndOfSequence></g:EndOfSequence>, <a:Body></a:Body>), and
	// hand-written readers in deployed consoles expect exactly that.
	doc.WriteSettings.CanonicalEndTags = true
	for _, t := range doc.Child { // no bufio.Writer in front of a buffer (Document.WriteTo adds one)
		t.WriteTo(buf, &doc.WriteSettings)
	}
	return nil
}

func writeFault(body *etree.Element, t *nsTable, s string, f *Fault) {
	qn := func(q wsman.QName) string {
		if q.Space == "" {
			return q.Local
		}
		return t.prefix(q.Space) + ":" + q.Local
	}
	fe := body.CreateElement(s + ":Fault")
	code := fe.CreateElement(s + ":Code")
	code.CreateElement(s + ":Value").SetText(qn(f.Code))
	if f.Subcode.Local != "" {
		code.CreateElement(s + ":Subcode").CreateElement(s + ":Value").SetText(qn(f.Subcode))
	}
	rt := fe.CreateElement(s + ":Reason").CreateElement(s + ":Text")
	rt.CreateAttr("xml:lang", "en-US")
	rt.SetText(f.Reason)
	d := fe.CreateElement(s + ":Detail")
	if f.Detail != "" {
		d.SetText(f.Detail)
	}
	if f.FaultDetail != "" {
		d.CreateElement(t.prefix(wsman.NSWSMan) + ":FaultDetail").SetText(f.FaultDetail)
	}
}

// rename copies el, giving every element and prefixed attribute the table's
// prefix for its namespace and dropping local xmlns declarations.
func rename(el *etree.Element, t *nsTable) *etree.Element {
	uri := el.NamespaceURI()
	name := el.Tag
	if uri != "" {
		name = t.prefix(uri) + ":" + el.Tag
	}
	out := etree.NewElement(name)
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns"):
			continue
		case a.Space == "":
			out.CreateAttr(a.Key, a.Value)
		case a.Space == "xml":
			out.CreateAttr("xml:"+a.Key, a.Value)
		default:
			if u := lookup(el, a.Space); u != "" {
				out.CreateAttr(t.prefix(u)+":"+a.Key, a.Value)
			}
		}
	}
	for _, tok := range el.Child {
		switch tok := tok.(type) {
		case *etree.Element:
			out.AddChild(rename(tok, t))
		case *etree.CharData:
			if !tok.IsWhitespace() {
				out.CreateText(tok.Data)
			}
		}
	}
	return out
}

// Write sends rep as the HTTP response to req: status (200, or the fault's),
// AMT's headers, the body in chunked encoding.
func (w *Writer) Write(rw http.ResponseWriter, req *Request, rep Reply) error {
	if rep.Hangup {
		hj, ok := rw.(http.Hijacker)
		if !ok {
			return fmt.Errorf("wsmantest: cannot hang up: %T is not an http.Hijacker", rw)
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return err
		}
		return conn.Close()
	}
	// The envelope is rendered into a pooled buffer: ResponseWriter.Write
	// copies it, so the buffer is free again when Write returns.
	buf, _ := w.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledResponse {
			w.bufs.Put(buf)
		}
	}()
	if err := w.marshal(buf, req, rep); err != nil {
		http.Error(rw, "wsmantest: "+err.Error(), http.StatusInternalServerError)
		return err
	}
	b := buf.Bytes()
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
		if rep.Fault != nil && rep.Fault.HTTPStatus != 0 {
			status = rep.Fault.HTTPStatus
		}
	}
	h := rw.Header()
	h.Set("Content-Type", "application/soap+xml; charset=UTF-8")
	h.Set("X-Frame-Options", "DENY")
	server := w.Server
	if server == "" {
		server = DefaultServer
	}
	h.Set("Server", server)
	rw.WriteHeader(status)
	if _, err := rw.Write(b); err != nil {
		return err
	}
	if f, ok := rw.(http.Flusher); ok {
		f.Flush() // forces chunked transfer encoding, as AMT uses
	}
	return nil
}

// HandlerFunc answers one decoded request.
type HandlerFunc func(req *Request) Reply

// Handler returns an http.Handler that accepts POSTs of WS-Management
// envelopes, decodes them, calls fn and writes its reply. A request that does
// not decode gets HTTP 400 with a Sender fault (SchemaValidationError when the
// XML was unsafe or malformed); other methods get 405.
func (w *Writer) Handler(fn HandlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", http.MethodPost)
			http.Error(rw, "POST only", http.StatusMethodNotAllowed)
			return
		}
		req, err := ReadRequest(r, 0)
		if err != nil {
			_ = w.Write(rw, nil, FaultReply(SenderFault("SchemaValidationError", "The request does not decode: "+err.Error())))
			return
		}
		_ = w.Write(rw, req, fn(req))
	})
}

// Handler is (&Writer{}).Handler(fn).
func Handler(fn HandlerFunc) http.Handler { return (&Writer{}).Handler(fn) }

// Marshal is (&Writer{}).Marshal(req, rep).
func Marshal(req *Request, rep Reply) ([]byte, error) { return (&Writer{}).Marshal(req, rep) }
