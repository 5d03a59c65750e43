package amt

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"
)

// fakeAMT is a wsmantest server that records every request and answers with
// serve. Replies are rendered by wsmantest.Writer in AMT's shape (one-letter
// prefixes assigned per response, RelatesTo = the request's MessageID).
type fakeAMT struct {
	w     wsmantest.Writer
	enums wsmantest.Enumerations

	mu    sync.Mutex
	reqs  []*wsmantest.Request
	serve func(r *wsmantest.Request) wsmantest.Reply
}

// newFake starts a fake on loopback and returns a Device talking to it.
func newFake(t testing.TB, serve func(r *wsmantest.Request) wsmantest.Reply, opts ...wsman.Option) (*Device, *fakeAMT) {
	t.Helper()
	f := &fakeAMT{serve: serve}
	h := f.w.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		serve := f.serve
		f.mu.Unlock()
		return serve(r)
	})
	return newDeviceFor(t, h, opts...), f
}

func newDeviceFor(t testing.TB, h http.Handler, opts ...wsman.Option) *Device {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := wsman.New(srv.URL+"/wsman", opts...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return NewDevice(c)
}

// handle replaces the answering function.
func (f *fakeAMT) handle(serve func(r *wsmantest.Request) wsmantest.Reply) {
	f.mu.Lock()
	f.serve = serve
	f.mu.Unlock()
}

func (f *fakeAMT) requests() []*wsmantest.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*wsmantest.Request(nil), f.reqs...)
}

// only returns the single request the fake received.
func (f *fakeAMT) only(t testing.TB) *wsmantest.Request {
	t.Helper()
	rs := f.requests()
	require.Len(t, rs, 1, "requests received")
	return rs[0]
}

// ---- response vectors ---------------------------------------------------------

// responses are response envelopes by name ("amt/general/get"), read and parsed
// in the test's own goroutine before any fake starts, so that a missing vector
// skips the test cleanly instead of killing a handler goroutine (a client that
// reads EOF fails the test). Handlers only look envelopes up.
type responses map[string]*wsman.Envelope

// ownResponses returns amtkit's own response vectors
// (internal/testvectors/data/amt_responses.json, written from DSP0226/DSP0227
// and the Intel AMT SDK class reference), which every checkout has. The named
// ones must exist.
func ownResponses(t testing.TB, names ...string) responses {
	t.Helper()
	raw := testvectors.ResponseEnvelopes(t, "amt_responses")
	rs := make(responses, len(names))
	for _, n := range names {
		b, ok := raw[n]
		require.True(t, ok, "no own response vector %q", n)
		env, err := wsman.ParseEnvelope(b, 0)
		require.NoError(t, err, n)
		rs[n] = env
	}
	return rs
}

// recordedResponses reads the named recordings
// (../shared/vectors/wsman-responses/<name>.xml, mostly real firmware) exactly
// as stored. The test is skipped when they are absent (failed when CI=true or
// AMTKIT_REQUIRE_SHARED=1).
func recordedResponses(t testing.TB, names ...string) responses {
	t.Helper()
	files := make([]string, len(names))
	for i, n := range names {
		files[i] = n + ".xml"
	}
	raw := testvectors.SharedFiles(t, "wsman-responses", files...)
	rs := make(responses, len(names))
	for i, n := range names {
		env, err := wsman.ParseEnvelope(raw[files[i]], 0)
		require.NoError(t, err, files[i])
		rs[n] = env
	}
	return rs
}

// source is where a test's responses come from: amtkit's own vectors (every
// checkout) or the shared recordings (skipped without ../shared).
type vectorSource struct {
	name string
	load func(t testing.TB, names ...string) responses
}

var (
	ownSource      = vectorSource{"own", ownResponses}
	recordedSource = vectorSource{"recorded", recordedResponses}
)

// envelope returns the named response; test goroutine only.
func (rs responses) envelope(t testing.TB, name string) *wsman.Envelope {
	t.Helper()
	env, ok := rs[name]
	require.True(t, ok, "response %q was not loaded", name)
	return env
}

// content returns the first element of the named response's body.
func (rs responses) content(t testing.TB, name string) *etree.Element {
	t.Helper()
	el := rs.envelope(t, name).Content()
	require.NotNil(t, el, name)
	return el
}

// items returns the instances in the named PullResponse.
func (rs responses) items(t testing.TB, name string) []*etree.Element {
	t.Helper()
	return pulledItems(t, rs.envelope(t, name), name)
}

func pulledItems(t testing.TB, env *wsman.Envelope, name string) []*etree.Element {
	t.Helper()
	pr := wsman.Child(env.Body, wsman.NSEnumeration, "PullResponse")
	require.NotNil(t, pr, name)
	items, err := wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items"))
	require.NoError(t, err, name)
	out := make([]*etree.Element, 0, len(items))
	for _, it := range items {
		out = append(out, it.Object)
	}
	return out
}

// reply answers r with the body of the named response; safe in a handler. The
// Action is the one r expects (several recorded method responses are synthetic
// and echo the request Action); the content is the vector's. A name that was
// not loaded is reported with t.Errorf (safe from any goroutine) and answered
// with a fault, never with t.Fatal or t.Skip.
func (rs responses) reply(t testing.TB, r *wsmantest.Request, name string) wsmantest.Reply {
	env, ok := rs[name]
	if !ok {
		t.Errorf("response %q was not loaded before the fake started", name)
		return wsmantest.FaultReply(wsmantest.InternalError(uint32(StatusInternalError)))
	}
	var body []*etree.Element
	for _, tok := range env.Body.Child {
		if el, ok := tok.(*etree.Element); ok {
			body = append(body, el)
		}
	}
	return wsmantest.Reply{Action: r.Action + "Response", ResourceURI: r.ResourceURI, Body: body}
}

// recordedItems returns the instances in a recorded PullResponse, read in the
// test goroutine.
func recordedItems(t testing.TB, rel string) []*etree.Element {
	t.Helper()
	return recordedResponses(t, rel).items(t, rel)
}

// ---- hand-made responses ------------------------------------------------------

// output answers a method with <Method>_OUTPUT holding props and ReturnValue.
func output(r *wsmantest.Request, rv uint32, props ...wsman.Property) wsmantest.Reply {
	return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, rv, props...))
}

// instance builds a class instance with props (in the order given).
func instance(uri string, props ...wsman.Property) *etree.Element {
	return wsman.NewInstance(uri, props...)
}

// ---- request inspection -----------------------------------------------------

// param is one child of a request body: its local name, namespace, text and,
// for EPR-valued parameters, the EPR.
type param struct {
	Name  string
	NS    string
	Value string
	EPR   *wsman.EPR
}

// params lists the children of r.Input in document order.
func params(t testing.TB, el *etree.Element) []param {
	t.Helper()
	var out []param
	for _, tok := range el.Child {
		c, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		p := param{Name: c.Tag, NS: c.NamespaceURI()}
		if wsman.Child(c, wsman.NSAddressing, "ReferenceParameters") != nil {
			epr, err := wsman.ParseEPR(c)
			require.NoError(t, err)
			p.EPR = &epr
		} else {
			p.Value = wsman.Text(c)
		}
		out = append(out, p)
	}
	return out
}

// names returns the parameter names in order.
func names(ps []param) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// values maps name → values (repeated names give several).
func values(ps []param) map[string][]string {
	m := map[string][]string{}
	for _, p := range ps {
		m[p.Name] = append(m[p.Name], p.Value)
	}
	return m
}

// requireMethodInput checks that r invokes uri/method with a <method>_INPUT
// body in the class namespace, and returns its parameters.
func requireMethodInput(t testing.TB, r *wsmantest.Request, uri, method string) []param {
	t.Helper()
	require.Equal(t, uri+"/"+method, r.Action, "Action")
	require.Equal(t, uri, r.ResourceURI, "ResourceURI")
	require.Empty(t, r.Selectors, "a service singleton needs no selector")
	require.NotNil(t, r.Input)
	require.Equal(t, method+"_INPUT", r.Input.Tag)
	require.Equal(t, uri, r.Input.NamespaceURI(), "input namespace")
	ps := params(t, r.Input)
	for _, p := range ps {
		require.Equal(t, uri, p.NS, "parameter %s must be in the class namespace", p.Name)
	}
	return ps
}
