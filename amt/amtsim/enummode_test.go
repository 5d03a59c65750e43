package amtsim_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The wsman:EnumerationMode tests (DMTF DSP0226 §8.7): the EPR modes through
// our own client, a hand-written request as openwsman sends it, the fault
// for a mode the specification does not define, and every enumerable class's
// EPRs against its key properties.

// modeDevice is a provisioned device holding three trusted roots besides what
// provisioning left, and its admin client.
func modeDevice(t *testing.T) (*amtsim.Device, *wsman.Client) {
	t.Helper()
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d, c := provisioned(t, keys, pc, nil)
	for i := range 3 {
		ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys, CommonName: fmt.Sprintf("enumeration mode root %d", i)})
		rv, _ := invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(ca.RootCertificate().Raw)))
		require.Zero(t, rv)
	}
	return d, c
}

// fieldsByID enumerates uri in the default mode (objects) and indexes the
// instances by InstanceID.
func fieldsByID(t *testing.T, c *wsman.Client, uri string) map[string]map[string][]string {
	t.Helper()
	items, err := c.EnumerateAll(t.Context(), uri)
	require.NoError(t, err)
	out := map[string]map[string][]string{}
	for _, it := range items {
		require.NotNil(t, it.Object)
		require.Nil(t, it.EPR, "objects only when no mode is asked")
		f := wsman.Fields(it.Object)
		require.Len(t, f["InstanceID"], 1)
		out[f["InstanceID"][0]] = f
	}
	return out
}

// Through our own client, for classes of one, two and many instances: each
// mode, optimized or not, with pages small enough that Pull is needed. Every
// EPR selects its instance: a Get with its selectors returns that object.
func TestEnumerationModesThroughClient(t *testing.T) {
	d, c := modeDevice(t)
	ctx := t.Context()
	classes := []struct {
		uri string
		min int // instances the device holds at least
	}{
		{uriCert, 3},
		{uriSoftware, 10},
		{uriEth, 2},
	}
	modes := []wsman.EnumerationMode{wsman.EnumerateEPRs, wsman.EnumerateObjectsAndEPRs}
	for _, cl := range classes {
		want := fieldsByID(t, c, cl.uri)
		require.GreaterOrEqual(t, len(want), cl.min)
		for _, mode := range modes {
			for _, optimize := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/optimize=%t", wsman.ClassName(cl.uri), mode, optimize)
				t.Run(name, func(t *testing.T) {
					opts := []wsman.CallOption{wsman.Mode(mode), wsman.MaxElements(1)}
					if optimize {
						opts = append(opts, wsman.OptimizeEnumeration())
					}
					before := d.Snapshot().Requests
					items, err := c.EnumerateAll(ctx, cl.uri, opts...)
					require.NoError(t, err)
					require.Len(t, items, len(want))
					// One element a page: an Enumerate and a Pull per item
					// (optimized: the first item comes with the Enumerate).
					pulls := len(want)
					if optimize {
						pulls--
					}
					assert.Equal(t, 1+pulls, d.Snapshot().Requests-before, "pages of one element")
					seen := map[string]bool{}
					for _, it := range items {
						require.NotNil(t, it.EPR, "every item has its EPR")
						assert.Equal(t, wsman.AddressAnonymous, it.EPR.Address)
						assert.Equal(t, cl.uri, it.EPR.ResourceURI)
						require.Len(t, it.EPR.Selectors, 1)
						id, ok := it.EPR.Selectors.Get("InstanceID")
						require.True(t, ok, "selected by its key, InstanceID")
						require.Contains(t, want, id)
						assert.False(t, seen[id], "each instance once")
						seen[id] = true
						if mode == wsman.EnumerateEPRs {
							assert.Nil(t, it.Object, "EPRs only")
						} else {
							require.NotNil(t, it.Object)
							assert.True(t, wsman.Is(it.Object, cl.uri, wsman.ClassName(cl.uri)))
							assert.Equal(t, want[id], wsman.Fields(it.Object), "the object beside its EPR")
						}
						// The round trip: the EPR's selectors Get that very instance.
						resp, err := c.Get(ctx, cl.uri, it.EPR.Selectors)
						require.NoError(t, err)
						got, err := resp.Fields()
						require.NoError(t, err)
						assert.Equal(t, want[id], got)
					}
					assert.Len(t, seen, len(want))
				})
			}
		}
	}
}

// rawEnumerate is an Enumerate as openwsman's wsman-client writes it
// (src/lib/wsman-client.c wsman_set_enumeration_options, then MaxElements;
// prefixes wsa, wsen, wsman of src/lib/wsman-xml.c), asking for
// EnumerateObjectAndEPR with optimization and two elements a page.
func rawEnumerate(endpoint, uri string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
  <s:Header>
    <wsa:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</wsa:Action>
    <wsa:To s:mustUnderstand="true">` + endpoint + `</wsa:To>
    <wsman:ResourceURI s:mustUnderstand="true">` + uri + `</wsman:ResourceURI>
    <wsa:MessageID s:mustUnderstand="true">uuid:9d5c1a36-6f1e-4c1b-8e0a-3c1d2e4f5a61</wsa:MessageID>
    <wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>
  </s:Header>
  <s:Body>
    <wsen:Enumerate>
      <wsman:OptimizeEnumeration/>
      <wsman:EnumerationMode>EnumerateObjectAndEPR</wsman:EnumerationMode>
      <wsman:MaxElements>2</wsman:MaxElements>
    </wsen:Enumerate>
  </s:Body>
</s:Envelope>`
}

// rawPull is the Pull that follows, as openwsman writes it (wsen:MaxElements).
func rawPull(endpoint, uri, enumContext string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
  <s:Header>
    <wsa:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull</wsa:Action>
    <wsa:To s:mustUnderstand="true">` + endpoint + `</wsa:To>
    <wsman:ResourceURI s:mustUnderstand="true">` + uri + `</wsman:ResourceURI>
    <wsa:MessageID s:mustUnderstand="true">uuid:9d5c1a36-6f1e-4c1b-8e0a-3c1d2e4f5a62</wsa:MessageID>
    <wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>
  </s:Header>
  <s:Body>
    <wsen:Pull>
      <wsen:EnumerationContext>` + enumContext + `</wsen:EnumerationContext>
      <wsen:MaxElements>100</wsen:MaxElements>
    </wsen:Pull>
  </s:Body>
</s:Envelope>`
}

// children returns el's child elements as {namespace}local names.
func children(el *etree.Element) []string {
	var out []string
	for _, c := range el.ChildElements() {
		out = append(out, "{"+c.NamespaceURI()+"}"+c.Tag)
	}
	return out
}

const (
	nsS    = "http://www.w3.org/2003/05/soap-envelope"
	nsWSA  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSEN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	nsWSM  = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
)

// checkItem checks one wsman:Item element by element: the certificate, then
// its EPR (anonymous Address; ResourceURI and the InstanceID selector in
// ReferenceParameters), the selector naming the object's own InstanceID. It
// returns that InstanceID.
func checkItem(t *testing.T, item *etree.Element) string {
	t.Helper()
	require.Equal(t, "{"+nsWSM+"}Item", "{"+item.NamespaceURI()+"}"+item.Tag)
	require.Equal(t, []string{"{" + uriCert + "}AMT_PublicKeyCertificate", "{" + nsWSA + "}EndpointReference"}, children(item),
		"the object, then its EPR (DSP0226 §8.7)")
	obj, ref := item.ChildElements()[0], item.ChildElements()[1]
	id := wsman.Text(wsman.Child(obj, uriCert, "InstanceID"))
	require.NotEmpty(t, id)
	require.Equal(t, []string{"{" + nsWSA + "}Address", "{" + nsWSA + "}ReferenceParameters"}, children(ref))
	assert.Equal(t, nsWSA+"/role/anonymous", wsman.Text(ref.ChildElements()[0]))
	rp := ref.ChildElements()[1]
	require.Equal(t, []string{"{" + nsWSM + "}ResourceURI", "{" + nsWSM + "}SelectorSet"}, children(rp))
	assert.Equal(t, uriCert, wsman.Text(rp.ChildElements()[0]))
	set := rp.ChildElements()[1]
	require.Equal(t, []string{"{" + nsWSM + "}Selector"}, children(set))
	sel := set.ChildElements()[0]
	assert.Equal(t, "InstanceID", sel.SelectAttrValue("Name", ""))
	assert.Equal(t, id, wsman.Text(sel))
	return id
}

// xmlItem is how a client written with encoding/xml reads an
// EnumerateObjectAndEPR item, by namespace and local name as ammmze/go-amt's
// cim package declares its …AndEPRItem types: the instance and a 2004/08
// wsa:EndpointReference in a wsman:Item.
type xmlItem struct {
	XMLName xml.Name `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Item"`
	Cert    struct {
		InstanceID string `xml:"InstanceID"`
	} `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate AMT_PublicKeyCertificate"`
	EPR struct {
		Address string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Address"`
		RP      struct {
			ResourceURI string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
			Set         struct {
				Selectors []struct {
					Name  string `xml:"Name,attr"`
					Value string `xml:",chardata"`
				} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
			} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
		} `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReferenceParameters"`
	} `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing EndpointReference"`
}

type xmlPage struct {
	Items []xmlItem `xml:"Body>EnumerateResponse>Items>Item"`
	Pull  []xmlItem `xml:"Body>PullResponse>Items>Item"`
}

// A hand-written EnumerateObjectAndEPR request, as openwsman sends it, and the
// answer's shape element by element, namespaces included: the first page in
// wsman:Items of the EnumerateResponse, the rest in wsen:Items of the
// PullResponse, each item a wsman:Item of the object and its EPR.
func TestEnumerateObjectAndEPRRawEnvelope(t *testing.T) {
	d, c := modeDevice(t)
	want := fieldsByID(t, c, uriCert)
	require.GreaterOrEqual(t, len(want), 3, "more than a page of two")

	status, body := postDigest(t, d.HTTPEndpoint(), "admin", adminPW, rawEnumerate(d.HTTPEndpoint(), uriCert))
	require.Equal(t, http.StatusOK, status, "%s", body)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(body))
	env := doc.Root()
	require.Equal(t, "{"+nsS+"}Envelope", "{"+env.NamespaceURI()+"}"+env.Tag)
	hdr := wsman.Child(env, nsS, "Header")
	assert.Equal(t, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse", wsman.Text(wsman.Child(hdr, nsWSA, "Action")))
	assert.Equal(t, "uuid:9d5c1a36-6f1e-4c1b-8e0a-3c1d2e4f5a61", wsman.Text(wsman.Child(hdr, nsWSA, "RelatesTo")))
	// AMT_PublicKeyCertificate has a datetime property (CIM_Credential
	// Expires): the envelope declares the WS-CIM common namespace when it
	// carries one, inside wsman:Item too (cimcommon.go).
	assert.Contains(t, string(body), `="http://schemas.dmtf.org/wbem/wscim/1/common"`)

	er := wsman.Child(wsman.Child(env, nsS, "Body"), nsWSEN, "EnumerateResponse")
	require.NotNil(t, er)
	require.Equal(t, []string{"{" + nsWSEN + "}EnumerationContext", "{" + nsWSM + "}Items"}, children(er),
		"a context (more follow) and the first page; no EndOfSequence yet")
	enumCtx := wsman.Text(er.ChildElements()[0])
	require.NotEmpty(t, enumCtx)
	items := er.ChildElements()[1]
	require.Len(t, items.ChildElements(), 2, "MaxElements 2")
	got := map[string]bool{}
	for _, it := range items.ChildElements() {
		got[checkItem(t, it)] = true
	}
	var page xmlPage
	require.NoError(t, xml.Unmarshal(body, &page))
	require.Len(t, page.Items, 2, "read by encoding/xml as a go-amt-like client declares it")
	for _, it := range page.Items {
		assert.Equal(t, nsWSA+"/role/anonymous", it.EPR.Address)
		assert.Equal(t, uriCert, it.EPR.RP.ResourceURI)
		sels := it.EPR.RP.Set.Selectors
		require.Len(t, sels, 1)
		assert.Equal(t, "InstanceID", sels[0].Name)
		assert.NotEmpty(t, it.Cert.InstanceID)
		assert.Equal(t, it.Cert.InstanceID, sels[0].Value)
	}

	// The Pull carries no mode: the context keeps the Enumerate's.
	status, body = postDigest(t, d.HTTPEndpoint(), "admin", adminPW, rawPull(d.HTTPEndpoint(), uriCert, enumCtx))
	require.Equal(t, http.StatusOK, status, "%s", body)
	doc = etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(body))
	pr := wsman.Child(wsman.Child(doc.Root(), nsS, "Body"), nsWSEN, "PullResponse")
	require.NotNil(t, pr)
	require.Equal(t, []string{"{" + nsWSEN + "}Items", "{" + nsWSEN + "}EndOfSequence"}, children(pr))
	rest := pr.ChildElements()[0].ChildElements()
	require.Len(t, rest, len(want)-2)
	for _, it := range rest {
		id := checkItem(t, it)
		assert.False(t, got[id], "each instance once")
		got[id] = true
	}
	for id := range want {
		assert.True(t, got[id], "%s enumerated", id)
	}
	page = xmlPage{}
	require.NoError(t, xml.Unmarshal(body, &page))
	assert.Len(t, page.Pull, len(want)-2)
}

// A mode DSP0226 does not define is answered with its fault for an
// unsupported feature, naming the feature: wsman:UnsupportedFeature with
// wsman:FaultDetail …/faultDetail/EnumerationMode — never with objects the
// client did not ask for.
func TestEnumerationModeUnknown(t *testing.T) {
	_, c := modeDevice(t)
	for _, mode := range []string{"EnumerateObjects", "EnumerateObjectsAndEPRs", "enumerateepr", "EnumerateEPRs", ""} {
		t.Run(fmt.Sprintf("%q", mode), func(t *testing.T) {
			body := etree.NewElement("wsen:Enumerate")
			body.CreateAttr("xmlns:wsen", nsWSEN)
			body.CreateAttr("xmlns:wsman", nsWSM)
			body.CreateElement("wsman:OptimizeEnumeration")
			body.CreateElement("wsman:MaxElements").SetText("10")
			body.CreateElement("wsman:EnumerationMode").SetText(mode)
			resp, err := c.Do(t.Context(), wsman.Request{Action: wsman.ActionEnumerate, ResourceURI: uriCert, Body: body})
			require.Error(t, err, "answered %v", resp)
			require.ErrorIs(t, err, wsman.ErrUnsupportedFeature)
			var f *wsman.Fault
			require.ErrorAs(t, err, &f)
			assert.Equal(t, http.StatusBadRequest, f.HTTPStatus)
			assert.Equal(t, wsman.QName{Space: nsS, Local: "Sender"}, f.Code)
			assert.Equal(t, "The specified feature is not supported.", f.Reason)
			require.NotNil(t, f.DetailElement)
			fd := wsman.Child(f.DetailElement, nsWSM, "FaultDetail")
			require.NotNil(t, fd, "wsman:FaultDetail in s:Detail")
			assert.Equal(t, "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/EnumerationMode", wsman.Text(fd))
		})
	}
	// The known modes are still served after the faults.
	items, err := c.EnumerateAll(t.Context(), uriCert, wsman.Mode(wsman.EnumerateEPRs))
	require.NoError(t, err)
	require.NotEmpty(t, items)
	require.NotNil(t, items[0].EPR)
}

// Every enumerable class's EPRs select by its key properties (the CIM Key
// qualifiers of its MOF, written out here independently of the simulator),
// each a value of the object beside it; where the class serves Get, the EPR
// gets that very object.
func TestEnumerationEPRsEveryClass(t *testing.T) {
	_, c := modeDevice(t)
	ctx := t.Context()
	const (
		amtNS = "http://intel.com/wbem/wscim/1/amt-schema/1/"
		ipsNS = "http://intel.com/wbem/wscim/1/ips-schema/1/"
		cimNS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	)
	// An 802.1X server-certificate binding: a credential context, whose keys
	// are references.
	roots, err := c.EnumerateAll(ctx, uriCert, wsman.Mode(wsman.EnumerateEPRs))
	require.NoError(t, err)
	require.NotEmpty(t, roots)
	root := roots[len(roots)-1].EPR
	require.NotNil(t, root, "an EPR enumeration gives EPRs")
	rv, _ := invoke(t, c, uriIEEE, "SetCertificates", wsman.PropEPR("ServerCertificateIssuer", *root))
	require.Zero(t, rv)
	rv, _ = invoke(t, c, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "0"), wsman.Prop("KeyLength", "2048"))
	require.Zero(t, rv)

	instanceID := []string{"InstanceID"}
	service := []string{"CreationClassName", "Name", "SystemCreationClassName", "SystemName"}
	ctxKeys := []string{"ElementInContext", "ElementProvidingContext"}
	classes := []struct {
		uri   string
		keys  []string
		empty bool // no instance on this device
	}{
		{uriGen, instanceID, false},
		{uriSoftware, instanceID, false},
		{uriSetup, service, false},
		{uriHBS, service, false},
		{uriAuth, service, false},
		{uriTime, service, false},
		{uriPKM, service, false},
		{uriCert, instanceID, false},
		{uriKey, instanceID, false},
		{uriTLSSetting, instanceID, false},
		{uriCollection, []string{"ElementName"}, false},
		{uriTLSContext, ctxKeys, true},
		{uriIEEE, instanceID, false},
		{ipsNS + "IPS_8021xCredentialContext", ctxKeys, false},
		{uriProfile, instanceID, false},
		{amtNS + "AMT_8021xCredentialContext", ctxKeys, true},
		{cimNS + "CIM_CredentialContext", ctxKeys, false},
		{uriEth, instanceID, false},
		{uriBootCaps, instanceID, false},
		{uriWiFiConfig, service, false},
		{uriWiFiSetting, instanceID, true},
		{uriCIMIEEE, instanceID, true},
		{uriWiFiEP, service, false},
		{uriWiFiPort, []string{"CreationClassName", "DeviceID", "SystemCreationClassName", "SystemName"}, false},
		{uriRemoteAccess, service, false},
		{uriMPSSAP, service, true},
		{amtNS + "AMT_RemoteAccessPolicyRule", []string{"CreationClassName", "PolicyRuleName", "SystemCreationClassName", "SystemName"}, true},
		{amtNS + "AMT_RemoteAccessPolicyAppliesToMPS", []string{"ManagedElement", "PolicySet"}, true},
		{uriEnvironmentSD, instanceID, false},
		{amtNS + "AMT_UserInitiatedConnectionService", service, false},
		{amtNS + "AMT_RemoteAccessCapabilities", instanceID, false},
		{uriRedirectionSvc, service, false},
		{cimNS + "CIM_KVMRedirectionSAP", service, false},
		{ipsNS + "IPS_KVMRedirectionSettingData", instanceID, false},
		{ipsNS + "IPS_OptInService", service, false},
	}
	for _, cl := range classes {
		t.Run(wsman.ClassName(cl.uri), func(t *testing.T) {
			items, err := c.EnumerateAll(ctx, cl.uri, wsman.Mode(wsman.EnumerateObjectsAndEPRs), wsman.OptimizeEnumeration())
			require.NoError(t, err)
			if !cl.empty {
				require.NotEmpty(t, items)
			}
			for _, it := range items {
				require.NotNil(t, it.Object)
				require.NotNil(t, it.EPR)
				assert.Equal(t, cl.uri, it.EPR.ResourceURI)
				var names []string
				for _, s := range it.EPR.Selectors {
					names = append(names, s.Name)
				}
				require.Equal(t, cl.keys, names, "selected by the class's keys")
				for _, s := range it.EPR.Selectors {
					prop := wsman.Child(it.Object, cl.uri, s.Name)
					require.NotNil(t, prop, "key %s is a property of the object", s.Name)
					if s.EPR != nil {
						ref, err := wsman.ParseEPR(prop)
						require.NoError(t, err)
						assert.Equal(t, ref.ResourceURI, s.EPR.ResourceURI, "key %s", s.Name)
						assert.Equal(t, ref.Selectors, s.EPR.Selectors, "key %s", s.Name)
						continue
					}
					assert.Equal(t, wsman.Text(prop), s.Value, "key %s", s.Name)
				}
				resp, err := c.Get(ctx, cl.uri, it.EPR.Selectors)
				if errors.Is(err, wsman.ErrActionNotSupported) {
					continue // an association served by enumeration only
				}
				require.NoError(t, err)
				got, err := resp.Fields()
				require.NoError(t, err)
				assert.Equal(t, wsman.Fields(it.Object), got, "the EPR gets its object")
			}
		})
	}
}

// Every class that enumerates names its key properties: the EPR modes select
// instances by them, and a class without keys would answer EPRs that select
// nothing. Checked on the package's source, so that a class added later
// cannot miss them either.
func TestEveryEnumerableClassHasKeys(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	enumerable := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "class" {
				return true
			}
			fields := map[string]bool{}
			for _, e := range lit.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok {
						fields[k.Name] = true
					}
				}
			}
			if fields["items"] {
				enumerable++
				assert.True(t, fields["keys"], "%s: a class that enumerates without keys", fset.Position(lit.Pos()))
			}
			return true
		})
	}
	assert.GreaterOrEqual(t, enumerable, 33, "the classes that enumerate were found")
}
