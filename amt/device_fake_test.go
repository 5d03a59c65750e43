package amt

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// ---- recorded responses (../shared/vectors/wsman-responses) ---------------

// recordedBytes reads a recorded response envelope; the test is skipped when
// ../shared is absent (and fails in CI).
func recordedBytes(t testing.TB, rel string) []byte {
	t.Helper()
	dir := testvectors.SharedDir(t, "wsman-responses")
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	require.NoError(t, err)
	return b
}

// recordedEnvelope parses a recorded response exactly as stored.
func recordedEnvelope(t testing.TB, rel string) *wsman.Envelope {
	t.Helper()
	env, err := wsman.ParseEnvelope(recordedBytes(t, rel), 0)
	require.NoError(t, err, rel)
	return env
}

// recordedContent returns the first element of a recorded body.
func recordedContent(t testing.TB, rel string) *etree.Element {
	t.Helper()
	el := recordedEnvelope(t, rel).Content()
	require.NotNil(t, el, rel)
	return el
}

// recordedItems returns the instances in a recorded PullResponse.
func recordedItems(t testing.TB, rel string) []*etree.Element {
	t.Helper()
	pr := wsman.Child(recordedEnvelope(t, rel).Body, wsman.NSEnumeration, "PullResponse")
	require.NotNil(t, pr, rel)
	items, err := wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items"))
	require.NoError(t, err)
	out := make([]*etree.Element, 0, len(items))
	for _, it := range items {
		out = append(out, it.Object)
	}
	return out
}

// replyRecorded answers r with the body of a recorded response. The Action is
// the one r expects (several recorded method responses are synthetic and echo
// the request Action, e.g. go-wsman-messages wsmantesting/responses
// setupandconfiguration/commitchanges.xml); the content is the
// recording's.
func replyRecorded(t testing.TB, r *wsmantest.Request, rel string) wsmantest.Reply {
	t.Helper()
	env := recordedEnvelope(t, rel)
	var body []*etree.Element
	for _, tok := range env.Body.Child {
		if el, ok := tok.(*etree.Element); ok {
			body = append(body, el)
		}
	}
	return wsmantest.Reply{Action: r.Action + "Response", ResourceURI: r.ResourceURI, Body: body}
}

// serveRecordedEnum answers an enumeration with the items of a recorded
// PullResponse.
func (f *fakeAMT) serveRecordedEnum(t testing.TB, r *wsmantest.Request, rel string) (wsmantest.Reply, bool) {
	return f.enums.Serve(r, recordedItems(t, rel))
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
