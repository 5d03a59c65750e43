package wsman_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	pkcURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	pkmURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/responses/" + name)
	require.NoError(t, err)
	return b
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file      string
		action    string
		resource  string
		content   string // local name of the body's first element ("" = empty)
		contentNS string
		fields    map[string]string // first value of each named property
	}{
		{
			file: "get-abc-prefixes.xml", action: wsman.ActionGetResponse, resource: gsURI,
			content: "AMT_GeneralSettings", contentNS: gsURI,
			fields: map[string]string{"DigestRealm": "Digest:0123456789ABCDEF0123456789ABCDEF", "HostName": "bench-07", "AMTNetworkEnabled": "1", "IdleWakeTimeout": "65535"},
		},
		{
			file: "get-default-namespaces.xml", action: wsman.ActionGetResponse, resource: gsURI,
			content: "AMT_GeneralSettings", contentNS: gsURI,
			fields: map[string]string{"DigestRealm": "Digest:0123456789ABCDEF0123456789ABCDEF", "HostName": "bench-07", "AMTNetworkEnabled": "1"},
		},
		{
			file: "get-generalsettings-indented.xml", action: wsman.ActionGetResponse, resource: gsURI,
			content: "AMT_GeneralSettings", contentNS: gsURI,
			fields: map[string]string{"DomainName": "lab.example.com", "WsmanOnlyMode": "false"},
		},
		{file: "pull-page1.xml", action: wsman.ActionPullResponse, resource: pkcURI, content: "PullResponse", contentNS: wsman.NSEnumeration},
		{file: "pull-end.xml", action: wsman.ActionPullResponse, resource: pkcURI, content: "PullResponse", contentNS: wsman.NSEnumeration},
		{
			file: "method-addcertificate.xml", action: pkmURI + "/AddCertificateResponse", resource: pkmURI,
			content: "AddCertificate_OUTPUT", contentNS: pkmURI, fields: map[string]string{"ReturnValue": "0", "CreatedCertificate": ""},
		},
		{file: "create-resourcecreated.xml", action: wsman.ActionCreateResponse, content: "ResourceCreated", contentNS: wsman.NSTransfer,
			resource: "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			env, err := wsman.ParseEnvelope(fixture(t, tc.file), 0)
			require.NoError(t, err)
			assert.Equal(t, tc.action, env.Action())
			assert.Equal(t, fixedMsgID, env.RelatesTo())
			assert.Equal(t, tc.resource, env.ResourceURI())
			f, err := env.Fault()
			require.NoError(t, err)
			assert.Nil(t, f)
			c := env.Content()
			require.NotNil(t, c)
			assert.Equal(t, tc.content, c.Tag)
			assert.Equal(t, tc.contentNS, wsman.NamespaceOf(c))
			m := wsman.Fields(c)
			for k, v := range tc.fields {
				require.Contains(t, m, k)
				assert.Equal(t, v, m[k][0], k)
			}
		})
	}
}

func TestParsePullPages(t *testing.T) {
	env, err := wsman.ParseEnvelope(fixture(t, "pull-page1.xml"), 0)
	require.NoError(t, err)
	pr := wsman.Child(env.Body, wsman.NSEnumeration, "PullResponse")
	require.NotNil(t, pr)
	ctx, ok := wsman.ChildText(pr, wsman.NSEnumeration, "EnumerationContext")
	require.True(t, ok)
	assert.Equal(t, "C1000000-0000-0000-0000-000000000000", ctx)
	items, err := wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items"))
	require.NoError(t, err)
	require.Len(t, items, 2)
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 1", wsman.Fields(items[1].Object)["InstanceID"][0])
	assert.Nil(t, wsman.Child(pr, wsman.NSEnumeration, "EndOfSequence"))

	// page 2 swaps the g:/h: prefixes between the class and enumeration namespaces
	env, err = wsman.ParseEnvelope(fixture(t, "pull-end.xml"), 0)
	require.NoError(t, err)
	pr = wsman.Child(env.Body, wsman.NSEnumeration, "PullResponse")
	require.NotNil(t, pr)
	assert.NotNil(t, wsman.Child(pr, wsman.NSEnumeration, "EndOfSequence"))
	items, err = wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items"))
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, pkcURI, wsman.NamespaceOf(items[0].Object))
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 2", wsman.Fields(items[0].Object)["InstanceID"][0])
}

func TestParseEPRs(t *testing.T) {
	env, err := wsman.ParseEnvelope(fixture(t, "method-addcertificate.xml"), 0)
	require.NoError(t, err)
	out := env.Content()
	epr, err := wsman.ParseEPR(wsman.Child(out, pkmURI, "CreatedCertificate"))
	require.NoError(t, err)
	assert.Equal(t, wsman.EPR{
		Address:     wsman.AddressAnonymous,
		ResourceURI: pkcURI,
		Selectors:   wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 3")},
	}, epr)

	env, err = wsman.ParseEnvelope(fixture(t, "create-resourcecreated.xml"), 0)
	require.NoError(t, err)
	epr, err = wsman.ParseEPR(env.Content())
	require.NoError(t, err)
	assert.Equal(t, "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext", epr.ResourceURI)
	require.Len(t, epr.Selectors, 2)
	eic, ok := epr.Selectors.GetEPR("ElementInContext")
	require.True(t, ok)
	assert.Equal(t, pkcURI, eic.ResourceURI)
	v, _ := eic.Selectors.Get("InstanceID")
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 3", v)
	epc, ok := epr.Selectors.GetEPR("ElementProvidingContext")
	require.True(t, ok)
	v, _ = epc.Selectors.Get("ElementName")
	assert.Equal(t, "TLSProtocolEndpoint Instances Collection", v)
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		file     string
		code     wsman.QName
		subcode  wsman.QName
		subcodes int
		reason   string
		detail   string
		is       []error
		isNot    []error
	}{
		{
			file:     "fault-internalerror.xml",
			code:     wsman.QName{Space: wsman.NSSOAP, Local: "Receiver"},
			subcode:  wsman.QName{Space: wsman.NSWSMan, Local: "InternalError"},
			subcodes: 1,
			reason:   "The service cannot comply with the request due to internal processing errors.",
			detail:   "AMT-STATUS 2068",
			is:       []error{wsman.ErrInternalError, wsman.ErrReceiver},
			isNot:    []error{wsman.ErrAlreadyExists, wsman.ErrSender, wsman.ErrDestinationUnreachable},
		},
		{
			file:     "fault-alreadyexists.xml",
			code:     wsman.QName{Space: wsman.NSSOAP, Local: "Sender"},
			subcode:  wsman.QName{Space: wsman.NSWSMan, Local: "AlreadyExists"},
			subcodes: 1,
			reason:   "The sender attempted to create a resource which already exists.",
			is:       []error{wsman.ErrAlreadyExists, wsman.ErrSender},
			isNot:    []error{wsman.ErrInternalError},
		},
		{
			file:     "fault-destinationunreachable.xml",
			code:     wsman.QName{Space: wsman.NSSOAP, Local: "Sender"},
			subcode:  wsman.QName{Space: wsman.NSAddressing, Local: "DestinationUnreachable"},
			subcodes: 1,
			reason:   "No route can be determined to reach the destination role defined by the WSAddressing To.",
			is:       []error{wsman.ErrDestinationUnreachable},
			isNot:    []error{wsman.ErrActionNotSupported},
		},
		{
			file:     "fault-detail-element.xml",
			code:     wsman.QName{Space: wsman.NSSOAP, Local: "Receiver"},
			subcode:  wsman.QName{Space: wsman.NSWSMan, Local: "InternalError"},
			subcodes: 2,
			reason:   "internal processing error",
			detail:   "AMT-STATUS 0x24",
			is:       []error{wsman.ErrInternalError, wsman.ErrReceiver},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			env, err := wsman.ParseEnvelope(fixture(t, tc.file), 0)
			require.NoError(t, err)
			f, err := env.Fault()
			require.NoError(t, err)
			require.NotNil(t, f)
			assert.Equal(t, tc.code, f.Code)
			assert.Equal(t, tc.subcode, f.Subcode)
			assert.Len(t, f.Subcodes, tc.subcodes)
			assert.Equal(t, tc.reason, f.Reason)
			assert.Equal(t, tc.detail, f.Detail)
			for _, e := range tc.is {
				assert.ErrorIs(t, f, e)
			}
			for _, e := range tc.isNot {
				assert.NotErrorIs(t, f, e)
			}
			assert.Contains(t, f.Error(), tc.subcode.Local)
		})
	}
}

func TestParseEnvelopeRefusals(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"doctype fixture", string(fixture(t, "unsafe-doctype.xml")), wsman.ErrUnsafeXML},
		{"entity fixture", string(fixture(t, "unsafe-entity-only.xml")), wsman.ErrUnsafeXML},
		{"deep", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>` + strings.Repeat("<x>", 80) + strings.Repeat("</x>", 80) + `</s:Body></s:Envelope>`, wsman.ErrUnsafeXML},
		{"soap 1.1", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`, wsman.ErrMalformed},
		{"no body", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>`, wsman.ErrMalformed},
		{"header after body", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/><s:Header/></s:Envelope>`, wsman.ErrMalformed},
		{"two bodies", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/><s:Body/></s:Envelope>`, wsman.ErrMalformed},
		{"not xml", `Log on failed`, wsman.ErrMalformed},
		{"html", `<html><body>error</body></html>`, wsman.ErrMalformed},
		{"empty", ``, wsman.ErrMalformed},
		{"truncated", string(fixture(t, "get-abc-prefixes.xml")[:500]), wsman.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wsman.ParseEnvelope([]byte(tc.in), 0)
			require.ErrorIs(t, err, tc.err)
		})
	}
}

// Every strict prefix of a valid response envelope fails to parse.
func TestParseEveryStrictPrefixFails(t *testing.T) {
	for _, name := range []string{"get-abc-prefixes.xml", "fault-internalerror.xml", "create-resourcecreated.xml"} {
		b := fixture(t, name)
		b = []byte(strings.TrimRight(string(b), "\n"))
		for i := 0; i < len(b); i++ {
			_, err := wsman.ParseEnvelope(b[:i], 0)
			require.Error(t, err, "%s: prefix of %d bytes parsed", name, i)
		}
		_, err := wsman.ParseEnvelope(b, 0)
		require.NoError(t, err)
	}
}

func TestDurations(t *testing.T) {
	format := []struct {
		d    time.Duration
		want string
	}{
		{60 * time.Second, "PT60S"},
		{30 * time.Second, "PT30S"},
		{1500 * time.Millisecond, "PT1.5S"},
		{250 * time.Millisecond, "PT0.25S"},
		{0, "PT0S"},
		{-time.Second, "PT0S"},
		{2 * time.Hour, "PT7200S"},
	}
	for _, tc := range format {
		assert.Equal(t, tc.want, wsman.FormatDuration(tc.d))
	}
	parse := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT60S", 60 * time.Second, true},
		{"PT1.5S", 1500 * time.Millisecond, true},
		{"PT1M30S", 90 * time.Second, true},
		{"P1DT2H", 26 * time.Hour, true},
		{"-PT5S", -5 * time.Second, true},
		{"P1Y", 0, false},
		{"PT", 0, false},
		{"P", 0, false},
		{"60", 0, false},
		{"PTS", 0, false},
		{"PT5H5H", 0, false},
		{"PT30S1M", 0, false},
		{"PTxS", 0, false},
		{"P1H", 0, false},
		{"PT1D", 0, false},
	}
	for _, tc := range parse {
		got, err := wsman.ParseDuration(tc.in)
		if !tc.ok {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}
