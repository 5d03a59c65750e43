package wsmantest_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	pkcURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	hbsURI = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
	gsURI  = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
)

func TestParseRequestOtherClients(t *testing.T) {
	b, err := os.ReadFile("testdata/request-meshcommander-style.xml")
	require.NoError(t, err)
	r, err := wsmantest.ParseRequest(b)
	require.NoError(t, err)
	assert.Equal(t, wsman.ActionGet, r.Action)
	assert.Equal(t, "6", r.MessageID, "integer MessageIDs are accepted")
	assert.Equal(t, pkcURI, r.ResourceURI)
	assert.Equal(t, "/wsman", r.To)
	assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 2")}, r.Selectors)
	assert.Nil(t, r.Input)
	assert.Empty(t, r.MustUnderstand())

	b, err = os.ReadFile("testdata/request-openwsman-style.xml")
	require.NoError(t, err)
	r, err = wsmantest.ParseRequest(b)
	require.NoError(t, err)
	m, ok := r.Method()
	require.True(t, ok)
	assert.Equal(t, "AdminSetup", m)
	assert.Equal(t, "http://192.0.2.10:16992/wsman", r.To)
	assert.Equal(t, 90*time.Second+500*time.Millisecond, r.OperationTimeout)
	assert.Equal(t, 51200, r.MaxEnvelopeSize)
	assert.Equal(t, "fr-FR", r.Locale)
	assert.True(t, r.OptionSetMustUnderstand)
	assert.Equal(t, []wsman.OptionValue{{Name: "ShowExtensions", Value: "true", Type: "xs:boolean"}}, r.OptionSet)
	assert.Equal(t, "AdminSetup_INPUT", r.Input.Tag)
	assert.Equal(t, hbsURI, wsman.NamespaceOf(r.Input))
	assert.Equal(t, map[string][]string{
		"NetworkAdminPassword": {"29d7405d4ac607a27aeec06a158d9097"},
		"McNonce":              {"AAECAwQFBgcICQoLDA0ODxAREhM="},
		"SigningAlgorithm":     {"2"},
	}, r.Fields())
	assert.ElementsMatch(t, []wsman.QName{
		{Space: wsman.NSAddressing, Local: "Action"}, {Space: wsman.NSAddressing, Local: "To"},
		{Space: wsman.NSWSMan, Local: "ResourceURI"}, {Space: wsman.NSAddressing, Local: "MessageID"},
		{Space: wsman.NSWSMan, Local: "MaxEnvelopeSize"}, {Space: wsman.NSWSMan, Local: "OptionSet"},
	}, r.MustUnderstand())
}

// The client's own golden requests decode to what was sent.
func TestParseClientGoldenRequests(t *testing.T) {
	files, err := filepath.Glob("../testdata/requests/*.xml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		r, err := wsmantest.ParseRequest(b)
		require.NoError(t, err, f)
		switch filepath.Base(f) {
		case "identify.xml":
			assert.True(t, r.IsIdentify())
		case "pull.xml":
			assert.Equal(t, "C1000000-0000-0000-0000-000000000000", r.EnumerationContext())
			assert.Equal(t, 999, r.MaxElements())
		case "enumerate-optimized-epr.xml":
			assert.True(t, r.OptimizeEnumeration())
			assert.Equal(t, 10, r.MaxElements())
			assert.Equal(t, wsman.EnumerateObjectsAndEPRs, r.EnumerationMode())
		case "delete-epr-selectors.xml":
			e, ok := r.Selectors.GetEPR("ElementInContext")
			require.True(t, ok)
			assert.Equal(t, pkcURI, e.ResourceURI)
		}
	}
}

func TestParseRequestRefusals(t *testing.T) {
	env := func(hdr, body string) []byte {
		return []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>` + hdr + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
	}
	for name, b := range map[string][]byte{
		"no action":       env(`<a:MessageID>1</a:MessageID>`, ""),
		"no message id":   env(`<a:Action>x</a:Action>`, ""),
		"bad timeout":     env(`<a:Action>x</a:Action><a:MessageID>1</a:MessageID><w:OperationTimeout>60</w:OperationTimeout>`, ""),
		"bad max size":    env(`<a:Action>x</a:Action><a:MessageID>1</a:MessageID><w:MaxEnvelopeSize>big</w:MaxEnvelopeSize>`, ""),
		"bad selector":    env(`<a:Action>x</a:Action><a:MessageID>1</a:MessageID><w:SelectorSet><w:Other/></w:SelectorSet>`, ""),
		"selector name":   env(`<a:Action>x</a:Action><a:MessageID>1</a:MessageID><w:SelectorSet><w:Selector>v</w:Selector></w:SelectorSet>`, ""),
		"not an envelope": []byte(`<Envelope/>`),
		"doctype":         []byte(`<!DOCTYPE x><x/>`),
	} {
		_, err := wsmantest.ParseRequest(b)
		assert.Error(t, err, name)
	}
}

func FuzzParseRequest(f *testing.F) {
	files, _ := filepath.Glob("../testdata/requests/*.xml")
	more, _ := filepath.Glob("testdata/*.xml")
	for _, fn := range append(files, more...) {
		b, _ := os.ReadFile(fn)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := wsmantest.ParseRequest(b)
		if err != nil {
			return
		}
		_ = r.Fields()
		_, _ = r.Method()
		_ = r.MustUnderstand()
		_ = r.MaxElements()
		_ = r.EnumerationContext()
		_ = r.EnumerationMode()
		// a decoded request can always be answered
		if _, err := wsmantest.Marshal(r, wsmantest.GetResponse(r, r.Input)); err != nil {
			t.Fatal(err)
		}
	})
}
