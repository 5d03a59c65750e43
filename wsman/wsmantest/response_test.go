package wsmantest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func request(t *testing.T, action, resource, msgID string) *wsmantest.Request {
	b := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>` +
		`<a:Action>` + action + `</a:Action><w:ResourceURI>` + resource + `</w:ResourceURI><a:MessageID>` + msgID + `</a:MessageID></s:Header><s:Body/></s:Envelope>`
	r, err := wsmantest.ParseRequest([]byte(b))
	require.NoError(t, err)
	return r
}

// prefixes maps each namespace declared on the root to its prefix.
func prefixes(t *testing.T, b []byte) (map[string]string, *etree.Element) {
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
	m := map[string]string{}
	for _, a := range doc.Root().Attr {
		if a.Space == "xmlns" {
			m[a.Value] = a.Key
		}
	}
	return m, doc.Root()
}

func TestWriterAMTShape(t *testing.T) {
	var w wsmantest.Writer
	get := request(t, wsman.ActionGet, gsURI, "uuid:11111111-2222-4333-8444-555555555555")
	b, err := w.Marshal(get, wsmantest.GetResponse(get, wsman.NewInstance(gsURI, wsman.Prop("HostName", "h"))))
	require.NoError(t, err)
	p, root := prefixes(t, b)
	assert.Equal(t, "a", p[wsman.NSSOAP])
	assert.Equal(t, "b", p[wsman.NSAddressing])
	assert.Equal(t, "c", p[wsman.NSWSMan])
	assert.Equal(t, "g", p[gsURI], "the class gets the first free letter")
	assert.Equal(t, "xsi", p[wsman.NSXSI])
	assert.Equal(t, "a:Envelope", root.FullTag())
	s := string(b)
	assert.Contains(t, s, `<b:RelatesTo>uuid:11111111-2222-4333-8444-555555555555</b:RelatesTo>`)
	assert.Contains(t, s, `<b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</b:Action>`)
	assert.Contains(t, s, `<b:MessageID>uuid:00000000-8086-8086-8086-000000000001</b:MessageID>`)
	assert.Contains(t, s, `<c:ResourceURI>`+gsURI+`</c:ResourceURI>`)
	assert.Contains(t, s, `<a:Body><g:AMT_GeneralSettings><g:HostName>h</g:HostName></g:AMT_GeneralSettings></a:Body>`)

	// a Pull: the enumeration namespace comes first in the body, so it is g and
	// the class h — the swap AMT shows between responses
	pull := request(t, wsman.ActionPull, pkcURI, "7")
	b, err = w.Marshal(pull, wsmantest.PullResponse(pull, []*etree.Element{wsman.NewInstance(pkcURI, wsman.Prop("InstanceID", "x"))}, ""))
	require.NoError(t, err)
	p, _ = prefixes(t, b)
	assert.Equal(t, "g", p[wsman.NSEnumeration])
	assert.Equal(t, "h", p[pkcURI])
	assert.Contains(t, string(b), `<b:MessageID>uuid:00000000-8086-8086-8086-000000000002</b:MessageID>`, "counter")
	assert.Contains(t, string(b), `<b:RelatesTo>7</b:RelatesTo>`)
	assert.Contains(t, string(b), `<g:EndOfSequence></g:EndOfSequence>`)
}

// TestWriterExplicitEndTags: like AMT, the writer never self-closes an
// element; an empty one gets an explicit end tag.
func TestWriterExplicitEndTags(t *testing.T) {
	get := request(t, wsman.ActionGet, gsURI, "uuid:1")
	tests := []struct {
		name string
		rep  wsmantest.Reply
		want []string
	}{
		{"empty property", wsmantest.GetResponse(get, wsman.NewInstance(gsURI, wsman.Prop("HostName", ""))),
			[]string{`<g:HostName></g:HostName>`}},
		{"empty Pull", wsmantest.PullResponse(get, nil, ""),
			[]string{`<g:Items></g:Items>`, `<g:EndOfSequence></g:EndOfSequence>`}},
		{"optimized Enumerate", wsmantest.OptimizedEnumerateResponse(get, nil, ""),
			[]string{`<c:Items></c:Items>`, `<c:EndOfSequence></c:EndOfSequence>`}},
		{"Delete", wsmantest.DeleteResponse(get), []string{`<a:Body></a:Body>`}},
		{"Release", wsmantest.ReleaseResponse(get), []string{`<a:Body></a:Body>`}},
		{"method without outputs", wsmantest.MethodResponse(get, wsman.NewElement(gsURI, "Commit_OUTPUT")),
			[]string{`<g:Commit_OUTPUT></g:Commit_OUTPUT>`}},
		{"fault without detail", wsmantest.FaultReply(wsmantest.AlreadyExists()), []string{`<a:Detail></a:Detail>`}},
		{"fault with detail", wsmantest.FaultReply(wsmantest.InternalError(2068)), []string{`<a:Detail>AMT-STATUS 2068</a:Detail>`}},
		{"Identify", wsmantest.IdentifyResponse("Intel Corporation", "16.1.25"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := wsmantest.Marshal(get, tc.rep)
			require.NoError(t, err)
			s := string(b)
			assert.NotContains(t, strings.TrimPrefix(s, `<?xml version="1.0" encoding="UTF-8"?>`), "/>", "no self-closed element")
			for _, w := range tc.want {
				assert.Contains(t, s, w)
			}
			_, err = wsman.ParseEnvelope(b, 0)
			require.NoError(t, err)
		})
	}
}

func TestWriterFaults(t *testing.T) {
	req := request(t, wsman.ActionPut, gsURI, "uuid:1")
	tests := []struct {
		fault   wsmantest.Fault
		status  int
		action  string
		code    string
		subcode wsman.QName
		detail  string
	}{
		{wsmantest.InternalError(2068), 500, wsman.ActionWSManFault, "Receiver", wsman.QName{Space: wsman.NSWSMan, Local: "InternalError"}, "AMT-STATUS 2068"},
		{wsmantest.AlreadyExists(), 400, wsman.ActionWSManFault, "Sender", wsman.QName{Space: wsman.NSWSMan, Local: "AlreadyExists"}, ""},
		{wsmantest.DestinationUnreachable(), 400, wsman.ActionAddressingFault, "Sender", wsman.QName{Space: wsman.NSAddressing, Local: "DestinationUnreachable"}, ""},
		{wsmantest.InvalidEnumerationContext(), 400, wsman.NSEnumeration + "/fault", "Receiver", wsman.QName{Space: wsman.NSEnumeration, Local: "InvalidEnumerationContext"}, ""},
		{wsmantest.MustUnderstand(), 500, wsman.ActionWSManFault, "MustUnderstand", wsman.QName{}, ""},
		{wsmantest.UnsupportedFeature("EnumerationMode"), 400, wsman.ActionWSManFault, "Sender", wsman.QName{Space: wsman.NSWSMan, Local: "UnsupportedFeature"},
			"http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/EnumerationMode"},
	}
	for _, tc := range tests {
		t.Run(tc.fault.Reason, func(t *testing.T) {
			assert.Equal(t, tc.status, tc.fault.HTTPStatus)
			b, err := wsmantest.Marshal(req, wsmantest.FaultReply(tc.fault))
			require.NoError(t, err)
			env, err := wsman.ParseEnvelope(b, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.action, env.Action())
			assert.Equal(t, "uuid:1", env.RelatesTo())
			assert.Empty(t, env.ResourceURI(), "AMT faults carry no ResourceURI")
			f, err := env.Fault()
			require.NoError(t, err)
			require.NotNil(t, f)
			assert.Equal(t, wsman.QName{Space: wsman.NSSOAP, Local: tc.code}, f.Code)
			assert.Equal(t, tc.subcode, f.Subcode)
			assert.Equal(t, tc.detail, f.Detail)
			assert.Equal(t, tc.fault.Reason, f.Reason)
			assert.NotNil(t, f.DetailElement, "Detail is always present, empty if nothing to say")
			if tc.fault.FaultDetail != "" {
				// DSP0226's form: the URI in a wsman:FaultDetail element.
				fd := wsman.Child(f.DetailElement, wsman.NSWSMan, "FaultDetail")
				require.NotNil(t, fd, "wsman:FaultDetail in s:Detail")
				assert.Equal(t, tc.detail, wsman.Text(fd))
			}
		})
	}
}

func TestWriterHTTP(t *testing.T) {
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		if r.ResourceURI == gsURI {
			return wsmantest.GetResponse(r, wsman.NewInstance(gsURI, wsman.Prop("HostName", strings.Repeat("x", 100))))
		}
		return wsmantest.FaultReply(wsmantest.InternalError(1))
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>` +
		wsman.ActionGet + `</a:Action><w:ResourceURI>` + gsURI + `</w:ResourceURI><a:MessageID>uuid:9</a:MessageID></s:Header><s:Body/></s:Envelope>`
	fmt.Fprintf(conn, "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding, "AMT answers chunked")
	assert.Equal(t, "application/soap+xml; charset=UTF-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	assert.Equal(t, wsmantest.DefaultServer, resp.Header.Get("Server"))
	b, _ := io.ReadAll(resp.Body)
	assert.Contains(t, string(b), "uuid:9")

	// faults carry their HTTP status; non-POST and undecodable requests are refused
	c, err := wsman.New(srv.URL)
	require.NoError(t, err)
	_, err = c.Get(context.Background(), pkcURI, nil)
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, 500, f.HTTPStatus)
	g, err := http.Get(srv.URL)
	require.NoError(t, err)
	g.Body.Close()
	assert.Equal(t, 405, g.StatusCode)
	p, err := http.Post(srv.URL, "application/soap+xml", strings.NewReader("<nope"))
	require.NoError(t, err)
	pb, _ := io.ReadAll(p.Body)
	p.Body.Close()
	assert.Equal(t, 400, p.StatusCode)
	assert.Contains(t, string(pb), "SchemaValidationError")
}

// Clients must not depend on prefixes: random ones parse the same.
func TestWriterRandomPrefixes(t *testing.T) {
	changed := 0
	for seed := uint64(1); seed <= 20; seed++ {
		w := &wsmantest.Writer{RandomPrefixes: true, Seed: seed}
		srv := httptest.NewServer(w.Handler(func(r *wsmantest.Request) wsmantest.Reply {
			out := wsman.NewElement(r.ResourceURI, "Do_OUTPUT", wsman.PropEPR("Ref", wsman.EPR{ResourceURI: pkcURI,
				Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "k")}}), wsman.Prop("ReturnValue", "0"))
			return wsmantest.MethodResponse(r, out)
		}))
		c, err := wsman.New(srv.URL)
		require.NoError(t, err)
		resp, err := c.Invoke(context.Background(), gsURI, "Do", nil, nil)
		require.NoError(t, err, "seed %d", seed)
		p, _ := prefixes(t, resp.Raw)
		if p[wsman.NSSOAP] != "a" {
			changed++
		}
		rv, err := resp.ReturnValue()
		require.NoError(t, err)
		assert.Zero(t, rv)
		o, _ := resp.Instance()
		epr, err := wsman.ParseEPR(wsman.Child(o, gsURI, "Ref"))
		require.NoError(t, err, "seed %d", seed)
		id, _ := epr.Selectors.Get("InstanceID")
		assert.Equal(t, "k", id)
		srv.Close()
	}
	assert.GreaterOrEqual(t, changed, 15, "prefixes really vary")
}

func TestEnumerations(t *testing.T) {
	var e wsmantest.Enumerations
	items := []*etree.Element{etree.NewElement("a"), etree.NewElement("b"), etree.NewElement("c")}
	ctx, err := e.Start(items)
	require.NoError(t, err)
	assert.Len(t, ctx, 36)
	page, next, ok := e.Pull(ctx, 2)
	require.True(t, ok)
	assert.Len(t, page, 2)
	require.NotEmpty(t, next)
	assert.NotEqual(t, ctx, next)
	_, _, ok = e.Pull(ctx, 2)
	assert.False(t, ok, "the old context is gone")
	page, last, ok := e.Pull(next, 0)
	require.True(t, ok)
	assert.Len(t, page, 1)
	assert.Empty(t, last)
	assert.Zero(t, e.Open())

	e.MaxOpen = 1
	c1, err := e.Start(items)
	require.NoError(t, err)
	_, err = e.Start(items)
	assert.Error(t, err)
	assert.True(t, e.Release(c1))
	assert.False(t, e.Release(c1))
	assert.Equal(t, 1, e.Released())

	e.SameContext = true
	c2, _ := e.Start(items)
	_, n2, _ := e.Pull(c2, 1)
	assert.Equal(t, c2, n2)
}

func TestHangup(t *testing.T) {
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.Hangup()
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL)
	require.NoError(t, err)
	const svc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"
	_, err = c.Invoke(context.Background(), svc, "CommitChanges", nil, nil)
	require.ErrorIs(t, err, wsman.ErrResponseLost)
}
