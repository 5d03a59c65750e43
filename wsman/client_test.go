package wsman_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var bg = context.Background()

func TestGet(t *testing.T) {
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.GetResponse(r, gsInstance("host-<&>\"'"))
	})
	c := f.client()
	resp, err := c.Get(bg, gsURI, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT: General Settings")})
	require.NoError(t, err)
	m, err := resp.Fields()
	require.NoError(t, err)
	assert.Equal(t, []string{"host-<&>\"'"}, m["HostName"], "values escaped on the way out and unescaped on the way in")
	assert.Equal(t, 200, resp.HTTPStatus)

	r := f.last()
	assert.Equal(t, wsman.ActionGet, r.Action)
	assert.Equal(t, gsURI, r.ResourceURI)
	assert.Equal(t, "/wsman", r.To)
	assert.Equal(t, wsman.AddressAnonymous, r.ReplyTo)
	assert.True(t, strings.HasPrefix(r.MessageID, "uuid:"), r.MessageID)
	assert.Len(t, r.MessageID, len("uuid:")+36)
	assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT: General Settings")}, r.Selectors)
	assert.True(t, r.HasOperationTimeout)
	assert.Equal(t, 60*time.Second, r.OperationTimeout)
	assert.Zero(t, r.MaxEnvelopeSize)
	assert.Empty(t, r.Locale)
	assert.Empty(t, r.OptionSet)
	assert.Nil(t, r.Input, "Get has an empty body")
	assert.Equal(t, "application/soap+xml;charset=UTF-8", r.HTTP.Header.Get("Content-Type"))

	// two calls, two different MessageIDs
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	reqs := f.requests()
	assert.NotEqual(t, reqs[0].MessageID, reqs[1].MessageID)
}

func TestPutCreateDelete(t *testing.T) {
	var stored *etree.Element
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		switch r.Action {
		case wsman.ActionPut:
			stored = r.Input
			return wsmantest.PutResponse(r, r.Input)
		case wsman.ActionCreate:
			return wsmantest.CreateResponse(r, wsman.EPR{ResourceURI: r.ResourceURI,
				Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "new-1")}})
		case wsman.ActionDelete:
			return wsmantest.DeleteResponse(r)
		}
		return wsmantest.FaultReply(wsmantest.ActionNotSupported(r.Action))
	})
	c := f.client()

	// Put back an instance read from another document: Detach keeps its prefixes.
	env, err := wsman.ParseEnvelope(fixture(t, "get-abc-prefixes.xml"), 0)
	require.NoError(t, err)
	inst := env.Content()
	wsman.Child(inst, gsURI, "HostName").SetText("renamed")
	resp, err := c.Put(bg, gsURI, nil, inst)
	require.NoError(t, err)
	require.NotNil(t, stored)
	assert.Equal(t, gsURI, wsman.NamespaceOf(stored))
	assert.Equal(t, "renamed", wsman.Fields(stored)["HostName"][0])
	back, err := resp.Fields()
	require.NoError(t, err)
	assert.Equal(t, "renamed", back["HostName"][0])
	assert.Same(t, env.Body, inst.Parent(), "the caller's element stays where it was")

	epr := wsman.EPR{ResourceURI: pkcURI, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 3")}}
	body := wsman.NewInstance("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext",
		wsman.PropEPR("ElementInContext", epr))
	resp, err = c.Create(bg, "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext", body)
	require.NoError(t, err)
	created, err := resp.ResourceCreated()
	require.NoError(t, err)
	id, _ := created.Selectors.Get("InstanceID")
	assert.Equal(t, "new-1", id)
	got, err := wsman.ParseEPR(wsman.Child(f.last().Input, "", "ElementInContext"))
	require.NoError(t, err)
	assert.Equal(t, pkcURI, got.ResourceURI)
	assert.Equal(t, wsman.AddressAnonymous, got.Address)
	assert.Equal(t, epr.Selectors, got.Selectors)

	_, err = c.Delete(bg, pkcURI, wsman.SelectorSet{wsman.Sel("InstanceID", "x")})
	require.NoError(t, err)
	assert.Equal(t, wsman.ActionDelete, f.last().Action)
	assert.Nil(t, f.last().Input)
}

func TestInvoke(t *testing.T) {
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		m, ok := r.Method()
		if !ok {
			return wsmantest.FaultReply(wsmantest.ActionNotSupported(r.Action))
		}
		switch m {
		case "AddCertificate":
			blob := r.Fields()["CertificateBlob"]
			require.Equal(t, []string{"TUlJQg=="}, blob)
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0, wsman.PropEPR("CreatedCertificate",
				wsman.EPR{ResourceURI: pkcURI, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 4")}})))
		case "GetUuid":
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 2068))
		}
		return wsmantest.FaultReply(wsmantest.ActionNotSupported(r.Action))
	})
	c := f.client()
	out, err := c.Invoke(bg, pkmURI, "AddCertificate", nil,
		wsman.NewInput(pkmURI, "AddCertificate", wsman.Prop("CertificateBlob", "TUlJQg==")))
	require.NoError(t, err)
	rv, err := out.ReturnValue()
	require.NoError(t, err)
	assert.Equal(t, uint32(0), rv)
	assert.Equal(t, pkmURI+"/AddCertificateResponse", out.Action())
	o, err := out.Instance()
	require.NoError(t, err)
	assert.Equal(t, "AddCertificate_OUTPUT", o.Tag)
	epr, err := wsman.ParseEPR(wsman.Child(o, pkmURI, "CreatedCertificate"))
	require.NoError(t, err)
	id, _ := epr.Selectors.Get("InstanceID")
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 4", id)
	assert.Equal(t, pkmURI+"/AddCertificate", f.last().Action)
	assert.Equal(t, "AddCertificate_INPUT", f.last().Input.Tag)
	assert.Equal(t, pkmURI, wsman.NamespaceOf(f.last().Input))

	// nil input: an empty <Method>_INPUT is sent; ReturnValue errors are the caller's
	out, err = c.Invoke(bg, pkmURI, "GetUuid", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "GetUuid_INPUT", f.last().Input.Tag)
	assert.Empty(t, wsman.Fields(f.last().Input))
	rv, err = out.ReturnValue()
	require.NoError(t, err)
	assert.Equal(t, uint32(2068), rv)
}

func TestIdentify(t *testing.T) {
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.IsIdentify() {
			return wsmantest.IdentifyResponse("Intel Corporation", "AMT 16.1", "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest")
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})
	id, err := f.client().Identify(bg)
	require.NoError(t, err)
	assert.Equal(t, "Intel Corporation", id.ProductVendor)
	assert.Equal(t, "AMT 16.1", id.ProductVersion)
	assert.Equal(t, wsman.NSWSMan, id.ProtocolVersion)
	assert.Equal(t, []string{"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest"}, id.SecurityProfiles)
	assert.Empty(t, f.last().Action)
	assert.Empty(t, f.last().MessageID)
}

func TestHeaderOptions(t *testing.T) {
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, gsInstance("h")) })
	c := f.client(wsman.WithCallDefaults(wsman.OperationTimeout(30*time.Second), wsman.Locale("de-DE")), wsman.WithTo("http://device:16992/wsman"))

	_, err := c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	r := f.last()
	assert.Equal(t, 30*time.Second, r.OperationTimeout)
	assert.Equal(t, "de-DE", r.Locale)
	assert.Equal(t, "http://device:16992/wsman", r.To)

	_, err = c.Get(bg, gsURI, nil, wsman.OperationTimeout(90*time.Second), wsman.Locale("en-US"),
		wsman.MaxEnvelopeSize(153600), wsman.OptionSet(true, wsman.OptionValue{Name: "IncludeInherited", Value: "true", Type: "xs:boolean"}))
	require.NoError(t, err)
	r = f.last()
	assert.Equal(t, 90*time.Second, r.OperationTimeout)
	assert.Equal(t, "en-US", r.Locale)
	assert.Equal(t, 153600, r.MaxEnvelopeSize)
	assert.True(t, r.OptionSetMustUnderstand)
	assert.Equal(t, []wsman.OptionValue{{Name: "IncludeInherited", Value: "true", Type: "xs:boolean"}}, r.OptionSet)
	mu := r.MustUnderstand()
	assert.Contains(t, mu, wsman.QName{Space: wsman.NSWSMan, Local: "OptionSet"})
	assert.Contains(t, mu, wsman.QName{Space: wsman.NSWSMan, Local: "MaxEnvelopeSize"})
	assert.NotContains(t, mu, wsman.QName{Space: wsman.NSWSMan, Local: "Locale"})

	_, err = c.Get(bg, gsURI, nil, wsman.OperationTimeout(-1))
	require.NoError(t, err)
	assert.False(t, f.last().HasOperationTimeout)

	ext := etree.NewElement("x:Trace")
	ext.CreateAttr("xmlns:x", "urn:example:trace")
	ext.SetText("on")
	_, err = c.Get(bg, gsURI, nil, wsman.Header(ext))
	require.NoError(t, err)
	h := f.last().HeaderElement("urn:example:trace", "Trace")
	require.NotNil(t, h)
	assert.Equal(t, "on", wsman.Text(h))
}

func TestEPRSelectorOnTheWire(t *testing.T) {
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.DeleteResponse(r) })
	c := f.client()
	sel := wsman.SelectorSet{
		wsman.SelEPR("ElementInContext", wsman.EPR{ResourceURI: pkcURI, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "a&b")}}),
		wsman.SelEPR("ElementProvidingContext", wsman.EPR{Address: "/wsman", ResourceURI: "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSProtocolEndpointCollection",
			Selectors: wsman.SelectorSet{wsman.Sel("ElementName", "TLSProtocolEndpoint Instances Collection")}}),
	}
	_, err := c.Delete(bg, "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext", sel)
	require.NoError(t, err)
	got := f.last().Selectors
	require.Len(t, got, 2)
	e1, ok := got.GetEPR("ElementInContext")
	require.True(t, ok)
	v, _ := e1.Selectors.Get("InstanceID")
	assert.Equal(t, "a&b", v)
	e2, _ := got.GetEPR("ElementProvidingContext")
	assert.Equal(t, "/wsman", e2.Address)
	assert.Contains(t, string(f.last().Raw), "a&amp;b")
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  wsmantest.Fault
		status int
		is     error
	}{
		{"internal error", wsmantest.InternalError(16), 500, wsman.ErrInternalError},
		{"already exists", wsmantest.AlreadyExists(), 400, wsman.ErrAlreadyExists},
		{"destination unreachable", wsmantest.DestinationUnreachable(), 400, wsman.ErrDestinationUnreachable},
		{"invalid selectors", wsmantest.SenderFault("InvalidSelectors", "bad"), 400, wsman.ErrInvalidSelectors},
		{"must understand", wsmantest.MustUnderstand(), 500, wsman.ErrMustUnderstand},
		{"fault at 200", func() wsmantest.Fault { f := wsmantest.InternalError(1); f.HTTPStatus = 200; return f }(), 200, wsman.ErrInternalError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.FaultReply(tc.fault) })
			_, err := f.client().Get(bg, gsURI, nil)
			require.Error(t, err)
			var fault *wsman.Fault
			require.ErrorAs(t, err, &fault)
			assert.Equal(t, tc.status, fault.HTTPStatus)
			assert.ErrorIs(t, err, tc.is)
			assert.Equal(t, tc.fault.Detail, fault.Detail, "the detail reaches the caller (package amt reads AMT-STATUS from it)")
			assert.Equal(t, tc.fault.Reason, fault.Reason)
		})
	}
}

// raw serves fixed bodies for the client's error paths.
func rawServer(t *testing.T, h http.HandlerFunc) *wsman.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithRand(zeroReader{}))
	require.NoError(t, err)
	return c
}

func TestHTTPErrorsAndBadResponses(t *testing.T) {
	good := fixture(t, "get-abc-prefixes.xml")
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    []byte
		is      error
		httpErr int
	}{
		{"403 html", 403, "text/html", []byte("<html>forbidden</html>"), wsman.ErrForbidden, 403},
		{"502 text", 502, "text/plain", []byte("bad gateway"), nil, 502},
		{"500 not soap", 500, "application/soap+xml", []byte("<oops/>"), nil, 500},
		{"401 without challenge", 401, "text/html", []byte("no"), wsman.ErrUnauthorized, 401},
		{"200 empty", 200, "application/soap+xml", nil, wsman.ErrMalformed, 0},
		{"200 html", 200, "text/html", []byte("<html><body>hi</body></html>"), wsman.ErrMalformed, 0},
		{"200 doctype", 200, "application/soap+xml", fixture(t, "unsafe-doctype.xml"), wsman.ErrUnsafeXML, 0},
		{"relates to other", 200, "application/soap+xml", bytes.Replace(good, []byte(fixedMsgID), []byte("uuid:11111111-1111-4111-8111-111111111111"), 1), wsman.ErrRelatesTo, 0},
		{"no relates to", 200, "application/soap+xml", bytes.Replace(good, []byte("RelatesTo>"+fixedMsgID+"</b:RelatesTo>"), []byte("Foo>x</b:Foo>"), 1), wsman.ErrRelatesTo, 0},
		{"wrong action", 200, "application/soap+xml", bytes.Replace(good, []byte("transfer/GetResponse"), []byte("transfer/PutResponse"), 1), wsman.ErrUnexpectedAction, 0},
		{"too large", 200, "application/soap+xml", append(bytes.Repeat([]byte(" "), 1<<20), good...), wsman.ErrTooLarge, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				w.Write(tc.body)
			})
			_, err := c.Get(bg, gsURI, nil)
			require.Error(t, err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			var he *wsman.HTTPError
			if tc.httpErr != 0 {
				require.ErrorAs(t, err, &he)
				assert.Equal(t, tc.httpErr, he.StatusCode)
			} else {
				assert.False(t, errors.As(err, &he))
			}
		})
	}
}

func TestResponseSizeCap(t *testing.T) {
	good := fixture(t, "get-abc-prefixes.xml")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/soap+xml")
		w.Write(good)
	}))
	defer srv.Close()
	small, err := wsman.New(srv.URL, wsman.WithRand(zeroReader{}), wsman.WithMaxResponseBytes(int64(len(good)-1)))
	require.NoError(t, err)
	_, err = small.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrTooLarge)
	exact, err := wsman.New(srv.URL, wsman.WithRand(zeroReader{}), wsman.WithMaxResponseBytes(int64(len(good))))
	require.NoError(t, err)
	_, err = exact.Get(bg, gsURI, nil)
	require.NoError(t, err)
}

func TestNeverConnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c, err := wsman.New("http://" + addr + "/wsman")
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.Error(t, err)
	var te *wsman.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, wsman.PhaseConnect, te.Phase)
	assert.ErrorIs(t, err, wsman.ErrConnect)
	assert.NotErrorIs(t, err, wsman.ErrResponseLost)
	assert.False(t, te.RequestSent())
	var oe *net.OpError
	assert.ErrorAs(t, err, &oe)
}

// A server that reads the whole request and then drops the connection, as AMT
// 19+ does on CommitChanges.
func TestConnectionDroppedAfterRequest(t *testing.T) {
	gotc := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotc <- b
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	const svc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"
	_, err = c.Invoke(bg, svc, "CommitChanges", nil, nil)
	require.Error(t, err)
	var te *wsman.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, wsman.PhaseReceive, te.Phase)
	assert.True(t, te.RequestSent())
	assert.ErrorIs(t, err, wsman.ErrResponseLost)
	assert.NotErrorIs(t, err, wsman.ErrConnect)
	assert.Equal(t, svc+"/CommitChanges", te.Action)
	assert.Contains(t, string(<-gotc), "CommitChanges_INPUT", "the server had the whole request")
}

func TestContextCancelledMidRequest(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(bg)
	go func() { <-arrived; cancel() }()
	_, err = c.Get(ctx, gsURI, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, wsman.ErrResponseLost)
}

func TestContextCancelledWhileWaitingForSlot(t *testing.T) {
	block := make(chan struct{})
	inside := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside <- struct{}{}
		<-block
	}))
	defer srv.Close()
	defer close(block)
	c, err := wsman.New(srv.URL + "/wsman") // one call at a time
	require.NoError(t, err)
	ctx1, cancel1 := context.WithCancel(bg)
	defer cancel1()
	go func() { c.Get(ctx1, gsURI, nil) }()
	<-inside // the first call holds the slot: its request reached the server
	ctx2, cancel2 := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel2()
	_, err = c.Get(ctx2, gsURI, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var te *wsman.TransportError
	assert.False(t, errors.As(err, &te), "never reached the transport")
}

type noTraceRT struct{}

func (noTraceRT) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("relay channel closed")
}

func TestUntracedTransportAssumesSent(t *testing.T) {
	c, err := wsman.New("http://relay.invalid/wsman", wsman.WithRoundTripper(noTraceRT{}))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	assert.ErrorIs(t, err, wsman.ErrResponseLost, "without httptrace events the worst case is assumed")
}

func TestConcurrentUse(t *testing.T) {
	for _, inFlight := range []int{1, 4} {
		t.Run(fmt.Sprint("inflight=", inFlight), func(t *testing.T) {
			opts := []fakeOpt{withItems(certItems(5)...)}
			if inFlight == 1 {
				opts = append(opts, withDigest(&wsmantest.DigestAuth{}))
			}
			f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				return wsmantest.GetResponse(r, gsInstance(r.Selectors[0].Value))
			}, opts...)
			c := f.client(wsman.WithMaxInFlight(inFlight))
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 10; i++ {
						want := fmt.Sprintf("h%d-%d", g, i)
						resp, err := c.Get(bg, gsURI, wsman.SelectorSet{wsman.Sel("X", want)})
						if err != nil {
							errs <- err
							return
						}
						if m, _ := resp.Fields(); m["HostName"][0] != want {
							errs <- fmt.Errorf("got %v, want %s", m["HostName"], want)
							return
						}
						if i%5 == 0 {
							items, err := c.EnumerateAll(bg, pkcURI, wsman.MaxElements(2))
							if err != nil || len(items) != 5 {
								errs <- fmt.Errorf("enumerate: %d items, %v", len(items), err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			assert.Equal(t, 0, f.enums.Open())
		})
	}
}

func TestEndpointValidation(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []wsman.Option
		is   error
	}{
		{"https://h:16993/wsman", nil, wsman.ErrNoTLSPolicy},
		{"http://admin:pw@h:16992/wsman", nil, nil},
		{"http://admin:pw%zz@h:16992/wsman", nil, nil}, // does not parse: the error must not quote it
		{"ftp://h/wsman", nil, nil},
		{"http:///wsman", nil, nil},
		{"http://h:16992/wsman", []wsman.Option{wsman.WithBasicAuth("a", "b")}, nil},
		{"http://h:16992/wsman", []wsman.Option{wsman.WithMaxResponseBytes(0)}, nil},
		{"http://h:16992/wsman", []wsman.Option{wsman.WithTLS(wsman.TLSPolicy{})}, nil},
	} {
		_, err := wsman.New(tc.url, tc.opts...)
		require.Error(t, err, tc.url)
		if tc.is != nil {
			assert.ErrorIs(t, err, tc.is)
		}
		assert.NotContains(t, err.Error(), "pw")
	}
	c, err := wsman.New("http://h:16992", wsman.WithBasicAuth("a", "b"), wsman.AllowBasicOverHTTP())
	require.NoError(t, err)
	assert.Equal(t, "http://h:16992/wsman", c.Endpoint())
	_, err = wsman.New("https://h:16993", wsman.WithRoundTripper(http.DefaultTransport))
	require.NoError(t, err, "a caller-supplied transport owns TLS")
}

func TestLoggingRedactsSecrets(t *testing.T) {
	const svc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0, wsman.Prop("DigestPassword", "c2VjcmV0LWRpZ2VzdA=="), wsman.Prop("Realms", "3")))
	}, withDigest(&wsmantest.DigestAuth{}))
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := f.client(wsman.WithLogger(logger), wsman.WithRedaction(wsman.RedactElements("OTP")))
	_, err := c.Invoke(bg, svc, "SetAdminAclEntryEx", wsman.SelectorSet{wsman.Sel("Password", "sel-secret")},
		wsman.NewInput(svc, "SetAdminAclEntryEx", wsman.Prop("Username", "admin"),
			wsman.Prop("DigestPassword", "c2VjcmV0LWRpZ2VzdA=="), wsman.Prop("OTP", "otp-123456"), wsman.Prop("NewPassword", "Hunter2!x"),
			wsman.Prop("KeyBlob", "per-call-secret")),
		wsman.Redact(wsman.RedactElements("KeyBlob")))
	require.NoError(t, err)
	out := buf.String()
	for _, secret := range []string{"c2VjcmV0LWRpZ2VzdA==", "otp-123456", "Hunter2!x", "sel-secret", "per-call-secret", testPass, "Digest username", "cnonce", "response="} {
		assert.NotContains(t, out, secret)
	}
	assert.Contains(t, out, "SetAdminAclEntryEx")
	assert.Contains(t, out, wsman.Redacted)
	assert.Contains(t, out, "Realms>3<", "non-secret elements are logged")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", c, c, c), testPass)

	// The per-call redactor applies to its call only.
	buf.Reset()
	_, err = c.Invoke(bg, svc, "Other", nil, wsman.NewInput(svc, "Other", wsman.Prop("KeyBlob", "not-secret-here")))
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "not-secret-here")
}

func TestNoLoggerNoCost(t *testing.T) {
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, gsInstance("h")) })
	var buf bytes.Buffer
	c := f.client(wsman.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	_, err := c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Empty(t, buf.String(), "nothing is logged above debug level")
}

func TestDecodeAndMarshal(t *testing.T) {
	type base struct {
		ElementName string
	}
	type settings struct {
		base
		DigestRealm string
		HostName    *string
		Missing     *string
		Enabled     bool   `wsman:"AMTNetworkEnabled"`
		TTL         uint32 `wsman:"DDNSTTL"`
		Realms      []int  `wsman:"Realms"`
		Blob        []byte
		Ref         wsman.EPR
		Raw         *etree.Element `wsman:"Extra"`
		Skip        string         `wsman:"-"`
		Opt         string         `wsman:",omitempty"`
		unexported  string
	}
	host := "h1"
	in := settings{base: base{"GS"}, DigestRealm: "Digest:AB", HostName: &host, Enabled: true, TTL: 900,
		Realms: []int{2, 3, 7}, Blob: []byte{0, 1, 2, 0xff}, Ref: wsman.EPR{ResourceURI: pkcURI, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "1")}},
		Skip: "never", unexported: "x"}
	el, err := wsman.Marshal(gsURI, "AMT_GeneralSettings", in)
	require.NoError(t, err)
	s, err := etreeString(el)
	require.NoError(t, err)
	assert.Equal(t, `<h:AMT_GeneralSettings xmlns:h="`+gsURI+`" xmlns:wsa="`+wsman.NSAddressing+`" xmlns:wsman="`+wsman.NSWSMan+`">`+
		`<h:ElementName>GS</h:ElementName><h:DigestRealm>Digest:AB</h:DigestRealm><h:HostName>h1</h:HostName>`+
		`<h:AMTNetworkEnabled>true</h:AMTNetworkEnabled><h:DDNSTTL>900</h:DDNSTTL>`+
		`<h:Realms>2</h:Realms><h:Realms>3</h:Realms><h:Realms>7</h:Realms><h:Blob>AAEC/w==</h:Blob>`+
		`<h:Ref><wsa:Address>`+wsman.AddressAnonymous+`</wsa:Address><wsa:ReferenceParameters><wsman:ResourceURI>`+pkcURI+
		`</wsman:ResourceURI><wsman:SelectorSet><wsman:Selector Name="InstanceID">1</wsman:Selector></wsman:SelectorSet></wsa:ReferenceParameters></h:Ref>`+
		`</h:AMT_GeneralSettings>`, s)

	var out settings
	require.NoError(t, wsman.Unmarshal(el, &out))
	assert.Equal(t, "GS", out.ElementName)
	assert.Equal(t, "Digest:AB", out.DigestRealm)
	require.NotNil(t, out.HostName)
	assert.Equal(t, "h1", *out.HostName)
	assert.Nil(t, out.Missing)
	assert.True(t, out.Enabled)
	assert.Equal(t, uint32(900), out.TTL)
	assert.Equal(t, []int{2, 3, 7}, out.Realms)
	assert.Equal(t, []byte{0, 1, 2, 0xff}, out.Blob)
	assert.Equal(t, in.Ref.Selectors, out.Ref.Selectors)
	assert.Empty(t, out.Skip)

	// decoding errors are typed and name the property
	bad := wsman.NewInstance(gsURI, wsman.Prop("DDNSTTL", "-1"))
	err = wsman.Unmarshal(bad, &out)
	var de *wsman.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "DDNSTTL", de.Property)
	dup := wsman.NewInstance(gsURI, wsman.Prop("DigestRealm", "a"), wsman.Prop("DigestRealm", "b"))
	require.ErrorAs(t, wsman.Unmarshal(dup, &out), &de)
	require.ErrorAs(t, wsman.Unmarshal(wsman.NewInstance(gsURI, wsman.Prop("AMTNetworkEnabled", "yes")), &out), &de)

	type unsupported struct{ F float64 }
	_, err = wsman.Marshal(gsURI, "X", unsupported{1})
	require.ErrorIs(t, err, wsman.ErrUnsupportedType)
	require.ErrorIs(t, wsman.Unmarshal(bad, &unsupported{}), wsman.ErrUnsupportedType)
	require.ErrorIs(t, wsman.Unmarshal(bad, out), wsman.ErrUnsupportedType, "needs a pointer")

	// xs:boolean forms
	for _, tc := range []struct {
		in   string
		want bool
	}{{"true", true}, {"TRUE", true}, {"1", true}, {"false", false}, {"False", false}, {"0", false}} {
		got, err := wsman.ParseBool(tc.in)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.in)
	}
	_, err = wsman.ParseBool("yes")
	assert.Error(t, err)
}

func etreeString(el *etree.Element) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	return doc.WriteToString()
}

func TestBuildersAndFields(t *testing.T) {
	el := wsman.NewInput(pkmURI, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "0"), wsman.Prop("KeyLength", "2048"),
		wsman.PropNil("Comment"))
	for _, p := range wsman.PropArray("Realms", "2", "3") {
		wsman.AddProperty(el, p)
	}
	s, err := etreeString(el)
	require.NoError(t, err)
	assert.Equal(t, `<h:GenerateKeyPair_INPUT xmlns:h="`+pkmURI+`" xmlns:xsi="`+wsman.NSXSI+`"><h:KeyAlgorithm>0</h:KeyAlgorithm><h:KeyLength>2048</h:KeyLength><h:Comment xsi:nil="true"/><h:Realms>2</h:Realms><h:Realms>3</h:Realms></h:GenerateKeyPair_INPUT>`, s)
	m := wsman.Fields(el)
	assert.Equal(t, map[string][]string{"KeyAlgorithm": {"0"}, "KeyLength": {"2048"}, "Comment": {""}, "Realms": {"2", "3"}}, m)
	assert.Equal(t, "AMT_GeneralSettings", wsman.ClassName(gsURI))
	assert.Equal(t, pkmURI+"/X", wsman.MethodAction(pkmURI, "X"))
	assert.Equal(t, pkmURI+"/XResponse", wsman.MethodResponseAction(pkmURI, "X"))
}

// wsman holds no server's policy: OperationTimeout and MaxEnvelopeSize go out as
// given, even below AMT's minimums (package amt supplies AMT's values).
func TestHeaderValuesSentAsGiven(t *testing.T) {
	f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, gsInstance("h")) })
	c := f.client()
	_, err := c.Get(bg, gsURI, nil, wsman.OperationTimeout(1500*time.Millisecond), wsman.MaxEnvelopeSize(4096))
	require.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, f.last().OperationTimeout)
	assert.Equal(t, 4096, f.last().MaxEnvelopeSize)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, wsman.DefaultOperationTimeout, f.last().OperationTimeout)
	assert.Zero(t, f.last().MaxEnvelopeSize, "not sent by default")
	_, err = c.Get(bg, gsURI, nil, wsman.OperationTimeout(-1))
	require.NoError(t, err)
	assert.Zero(t, f.last().OperationTimeout, "negative omits the header")
}

// TLS options cannot reach a caller's transport: New refuses the combination
// instead of silently dropping a pin or a client certificate.
func TestTLSOptionsWithCustomTransport(t *testing.T) {
	pin := wsman.PinSHA256([32]byte{1})
	for name, opt := range map[string]wsman.Option{
		"policy":  wsman.WithTLS(pin),
		"legacy":  wsman.WithLegacyTLS(),
		"version": wsman.WithTLSVersions(tls.VersionTLS12, tls.VersionTLS13),
		"client":  wsman.WithGetClientCertificate(func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return nil, nil }),
		"rsa":     wsman.WithRSAKeyExchange(),
		"dialer":  wsman.WithDialer((&net.Dialer{}).DialContext),
		"secure":  wsman.WithSecureDialer("tunnel", (&net.Dialer{}).DialContext),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := wsman.New("https://device:16993/wsman", opt, wsman.WithHTTPClient(&http.Client{}))
			assert.ErrorIs(t, err, wsman.ErrTLSWithCustomTransport)
			_, err = wsman.New("https://device:16993/wsman", opt, wsman.WithRoundTripper(http.DefaultTransport))
			assert.ErrorIs(t, err, wsman.ErrTLSWithCustomTransport)
		})
	}
	_, err := wsman.New("https://device:16993/wsman", wsman.WithHTTPClient(&http.Client{}))
	assert.NoError(t, err, "a caller's transport alone is fine: it owns TLS")
}

// wideInstance has more fields than Unmarshal's count array on the stack, an
// array, and a property two fields read (through an embedded class).
type wideBase struct {
	Name string
}

type wideInstance struct {
	wideBase
	F0, F1, F2, F3, F4, F5, F6, F7, F8, F9           string
	F10, F11, F12, F13, F14, F15, F16, F17, F18, F19 string
	F20, F21, F22, F23, F24, F25, F26, F27, F28, F29 string
	F30, F31, F32, F33, F34                          string
	List                                             []string
	Again                                            string `wsman:"Name"`
	Absent                                           *string
}

// Unmarshal places each property in the fields of its name, arrays in
// document order, whatever the number of fields.
func TestUnmarshalWideInstance(t *testing.T) {
	var props []wsman.Property
	for i := 34; i >= 0; i-- {
		props = append(props, wsman.Prop(fmt.Sprintf("F%d", i), fmt.Sprintf("v%d", i)))
		if i%10 == 0 {
			props = append(props, wsman.Prop("List", fmt.Sprintf("l%d", i)))
		}
	}
	props = append(props, wsman.Prop("Name", "n"), wsman.Prop("Unknown", "u"))
	var out wideInstance
	require.NoError(t, wsman.Unmarshal(wsman.NewInstance("urn:wide", props...), &out))
	assert.Equal(t, "v0", out.F0)
	assert.Equal(t, "v17", out.F17)
	assert.Equal(t, "v34", out.F34)
	assert.Equal(t, []string{"l30", "l20", "l10", "l0"}, out.List)
	assert.Equal(t, "n", out.Name)
	assert.Equal(t, "n", out.Again)
	assert.Nil(t, out.Absent)
}
