package wsman_test

import (
	"encoding/xml"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/requests golden files")

// captureClient returns a client whose requests are recorded; every call is
// answered with a canned 200 that the client may reject (only the request
// matters here).
func captureClient(t *testing.T, opts ...wsman.Option) (*wsman.Client, func() []byte) {
	got := make(chan []byte, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
		w.WriteHeader(500)
	}))
	t.Cleanup(srv.Close)
	c, err := wsman.New(srv.URL+"/wsman", append([]wsman.Option{wsman.WithRand(zeroReader{})}, opts...)...)
	require.NoError(t, err)
	return c, func() []byte { return <-got }
}

// TestGoldenRequests pins the exact bytes of each request (reviewed by hand when
// written; -update rewrites them) and decodes each with encoding/xml, an
// independent namespace-aware parser, to check the headers.
func TestGoldenRequests(t *testing.T) {
	c, next := captureClient(t)
	const tlsCtx = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext"
	cases := []struct {
		name     string
		call     func()
		action   string
		resource string
	}{
		{"get", func() { c.Get(bg, gsURI, nil) }, wsman.ActionGet, gsURI},
		{"get-selector", func() {
			c.Get(bg, pkcURI, wsman.SelectorSet{wsman.Sel("InstanceID", `Intel(r) AMT Certificate: Handle: 0 <&>"`)})
		}, wsman.ActionGet, pkcURI},
		{"put", func() {
			c.Put(bg, gsURI, nil, wsman.NewInstance(gsURI, wsman.Prop("HostName", "h&1"), wsman.Prop("DomainName", "lab.example.com")))
		}, wsman.ActionPut, gsURI},
		{"create-epr", func() {
			c.Create(bg, tlsCtx, wsman.NewInstance(tlsCtx,
				wsman.PropEPR("ElementInContext", wsman.EPR{ResourceURI: pkcURI, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 1")}}),
				wsman.PropEPR("ElementProvidingContext", wsman.EPR{Address: "/wsman", ResourceURI: "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSProtocolEndpointCollection",
					Selectors: wsman.SelectorSet{wsman.Sel("ElementName", "TLSProtocolEndpoint Instances Collection")}})))
		}, wsman.ActionCreate, tlsCtx},
		{"delete-epr-selectors", func() {
			c.Delete(bg, tlsCtx, wsman.SelectorSet{wsman.SelEPR("ElementInContext", wsman.EPR{ResourceURI: pkcURI, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", "x")}})})
		}, wsman.ActionDelete, tlsCtx},
		{"invoke", func() {
			c.Invoke(bg, pkmURI, "AddTrustedRootCertificate", nil, wsman.NewInput(pkmURI, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", "TUlJQg==")))
		}, pkmURI + "/AddTrustedRootCertificate", pkmURI},
		{"enumerate", func() { c.OpenEnumeration(bg, pkcURI) }, wsman.ActionEnumerate, pkcURI},
		{"enumerate-optimized-epr", func() {
			c.OpenEnumeration(bg, pkcURI, wsman.OptimizeEnumeration(), wsman.MaxElements(10), wsman.Mode(wsman.EnumerateObjectsAndEPRs))
		}, wsman.ActionEnumerate, pkcURI},
		{"pull", func() { c.Pull(bg, pkcURI, "C1000000-0000-0000-0000-000000000000", wsman.MaxCharacters(65000)) }, wsman.ActionPull, pkcURI},
		{"release", func() { c.Release(bg, pkcURI, "C1000000-0000-0000-0000-000000000000") }, wsman.ActionRelease, pkcURI},
		{"options", func() {
			c.Get(bg, gsURI, nil, wsman.OperationTimeout(30*time.Second), wsman.MaxEnvelopeSize(153600), wsman.Locale("en-US"),
				wsman.OptionSet(false, wsman.OptionValue{Name: "x", Value: "1", Type: "xs:int"}))
		}, wsman.ActionGet, gsURI},
		{"identify", func() { c.Identify(bg) }, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			go tc.call()
			got := next()
			path := "testdata/requests/" + tc.name + ".xml"
			if *update {
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got)+"\n")

			// independent decode
			var env struct {
				XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
				Header  struct {
					Action      string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
					To          string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
					MessageID   string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
					ReplyTo     string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReplyTo>Address"`
					ResourceURI string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
					Timeout     string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
				} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
				Body struct {
					Inner []byte `xml:",innerxml"`
				} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
			}
			require.NoError(t, xml.Unmarshal(got, &env))
			assert.Equal(t, tc.action, env.Header.Action)
			assert.Equal(t, tc.resource, env.Header.ResourceURI)
			if tc.action != "" {
				assert.Equal(t, fixedMsgID, env.Header.MessageID)
				assert.Equal(t, "/wsman", env.Header.To)
				assert.Equal(t, wsman.AddressAnonymous, env.Header.ReplyTo)
				assert.NotEmpty(t, env.Header.Timeout)
			}
		})
	}
}

// The selector value and texts survive escaping, read back with encoding/xml.
func TestRequestEscaping(t *testing.T) {
	b, err := os.ReadFile("testdata/requests/get-selector.xml")
	require.NoError(t, err)
	var env struct {
		Header struct {
			Set struct {
				Sel struct {
					Name  string `xml:"Name,attr"`
					Value string `xml:",chardata"`
				} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
			} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	}
	require.NoError(t, xml.Unmarshal(b, &env))
	assert.Equal(t, "InstanceID", env.Header.Set.Sel.Name)
	assert.Equal(t, `Intel(r) AMT Certificate: Handle: 0 <&>"`, env.Header.Set.Sel.Value)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
}
