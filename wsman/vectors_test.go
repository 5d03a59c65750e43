package wsman_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordedOddities lists every recorded response that does not have the shape a
// real device sends, and why. The test fails if a file listed here turns out
// ordinary, or an unlisted file is odd, so the list stays exact.
var recordedOddities = map[string]string{
	"amt/boot/settingdata/put.xml":                "synthetic: a request envelope (Action transfer/Put, MessageID 1, no RelatesTo), default SOAP namespace",
	"amt/setupandconfiguration/getuuid.xml":       "synthetic: a request envelope carrying GetUuid_OUTPUT (no RelatesTo, request Action)",
	"amt/setupandconfiguration/getuuid-bad.xml":   "synthetic: as getuuid.xml, and the UUID element is unprefixed, so in the SOAP namespace",
	"amt/setupandconfiguration/commitchanges.xml": "echoes the request Action (no Response suffix)",
	"amt/setupandconfiguration/unprovision.xml":   "echoes the request Action (no Response suffix)",
	"cim/boot/service/setbootconfigrole.xml":      "echoes the request Action (no Response suffix)",
	"ips/hostbasedsetup/addnextcertinchain.xml":   "echoes the request Action (no Response suffix)",
	"ips/hostbasedsetup/adminsetup.xml":           "echoes the request Action (no Response suffix)",
	"ips/hostbasedsetup/setup.xml":                "echoes the request Action (no Response suffix)",
	"ips/hostbasedsetup/upgradeclienttoadmin.xml": "echoes the request Action (no Response suffix)",
	"ips/ieee8021x/settings/setcertificates.xml":  "echoes the request Action (no Response suffix)",
	"cim/wifi/endpointsettings/delete.xml":        "Delete answered with Action transfer/Delete and a bare ReturnValue in the body",
	"amt/mps/put.xml":                             "PutResponse with an empty body (a device echoes the instance)",
	"amt/remoteaccess/policyappliestomps/put.xml": "PutResponse with an empty body (a device echoes the instance)",
}

// TestRecordedResponses reads every recorded AMT response in
// ../shared/vectors/wsman-responses into its body instance(s).
func TestRecordedResponses(t *testing.T) {
	dir := testvectors.SharedDir(t, "wsman-responses")
	var files []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".xml") {
			files = append(files, p)
		}
		return err
	}))
	require.Len(t, files, 297, "the shared set has 297 envelopes")
	counts := map[string]int{}
	var odd []string
	for _, p := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		t.Run(rel, func(t *testing.T) {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			env, err := wsman.ParseEnvelope(b, 0)
			require.NoError(t, err)
			f, err := env.Fault()
			require.NoError(t, err)
			require.Nil(t, f)
			kind, ok := classify(t, env)
			if !ok {
				odd = append(odd, rel)
				_, listed := recordedOddities[rel]
				assert.True(t, listed, "unlisted oddity: %s (action %s)", rel, env.Action())
				return
			}
			counts[kind]++
			_, listed := recordedOddities[rel]
			assert.False(t, listed, "%s is listed as odd but reads as %s", rel, kind)
		})
	}
	for rel := range recordedOddities {
		assert.True(t, slices.Contains(odd, rel), "listed oddity %s not found", rel)
	}
	t.Logf("kinds: %v; oddities: %d", counts, len(odd))
	// Counts by hand from the file set (grep -l of each response action;
	// amt/publickey/management/generatepkcs10requestex.xml wraps its Action
	// text over two lines, which header reading trims).
	assert.Equal(t, 81, counts["enumerate"])
	assert.Equal(t, 80, counts["pull"])
	assert.Equal(t, 39, counts["method"])
	assert.Equal(t, 66, counts["get"])
	assert.Equal(t, 10, counts["put"])
	assert.Equal(t, 6, counts["delete"])
	assert.Equal(t, 1, counts["create"])
}

// classify reads env as a well-formed response of its kind, reporting false when
// its shape is not what a device sends.
func classify(t *testing.T, env *wsman.Envelope) (string, bool) {
	action := env.Action()
	c := env.Content()
	if env.RelatesTo() == "" || env.MessageID() == "" || !strings.HasSuffix(action, "Response") {
		return "", false
	}
	switch action {
	case wsman.ActionGetResponse, wsman.ActionPutResponse:
		if c == nil {
			return "", false
		}
		assert.Equal(t, env.ResourceURI(), wsman.NamespaceOf(c), "instance namespace is the resource URI")
		assert.NotEmpty(t, wsman.Fields(c))
		if action == wsman.ActionGetResponse {
			return "get", true
		}
		return "put", true
	case wsman.ActionDeleteResponse:
		assert.Nil(t, c)
		return "delete", true
	case wsman.ActionCreateResponse:
		epr, err := wsman.ParseEPR(wsman.Child(env.Body, wsman.NSTransfer, "ResourceCreated"))
		require.NoError(t, err)
		assert.NotEmpty(t, epr.Selectors)
		return "create", true
	case wsman.ActionEnumerateResponse:
		er := wsman.Child(env.Body, wsman.NSEnumeration, "EnumerateResponse")
		require.NotNil(t, er)
		ctx, ok := wsman.ChildText(er, wsman.NSEnumeration, "EnumerationContext")
		assert.True(t, ok && ctx != "")
		return "enumerate", true
	case wsman.ActionPullResponse:
		pr := wsman.Child(env.Body, wsman.NSEnumeration, "PullResponse")
		require.NotNil(t, pr)
		items, err := wsman.ReadItems(wsman.Child(pr, wsman.NSEnumeration, "Items"))
		require.NoError(t, err)
		for _, it := range items {
			require.NotNil(t, it.Object)
			assert.NotEmpty(t, wsman.Fields(it.Object))
		}
		end := wsman.Child(pr, wsman.NSEnumeration, "EndOfSequence") != nil
		_, more := wsman.ChildText(pr, wsman.NSEnumeration, "EnumerationContext")
		assert.True(t, end || more, "PullResponse ends or continues")
		return "pull", true
	}
	// method output: <ResourceURI>/<Method>Response with <Method>_OUTPUT
	method := strings.TrimSuffix(strings.TrimPrefix(action, env.ResourceURI()+"/"), "Response")
	if method == action || c == nil || c.Tag != method+"_OUTPUT" {
		return "", false
	}
	assert.Equal(t, env.ResourceURI(), wsman.NamespaceOf(c))
	resp := &wsman.Response{Envelope: env}
	_, err := resp.ReturnValue()
	require.NoError(t, err)
	return "method", true
}

// Spot checks with values read off the files by hand.
func TestRecordedSpotChecks(t *testing.T) {
	dir := testvectors.SharedDir(t, "wsman-responses")
	read := func(rel string) *wsman.Response {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		require.NoError(t, err)
		env, err := wsman.ParseEnvelope(b, 0)
		require.NoError(t, err)
		return &wsman.Response{Envelope: env}
	}
	gs := read("amt/general/get.xml")
	var settings struct {
		DigestRealm       string
		AMTNetworkEnabled uint8
		DDNSTTL           int
		SharedFQDN        bool
		WsmanOnlyMode     bool
	}
	require.NoError(t, gs.Decode(&settings))
	assert.Equal(t, "Digest:F3EB554784E729164447A89F60B641C5", settings.DigestRealm)
	assert.Equal(t, uint8(1), settings.AMTNetworkEnabled)
	assert.Equal(t, 900, settings.DDNSTTL)
	assert.True(t, settings.SharedFQDN)
	assert.False(t, settings.WsmanOnlyMode)

	pull := read("amt/publickey/certificate/pull.xml")
	items, err := wsman.ReadItems(wsman.Find(pull.Body, wsman.NSEnumeration, "Items"))
	require.NoError(t, err)
	assert.Len(t, items, 3)

	add := read("amt/publickey/management/addcertificate.xml")
	rv, err := add.ReturnValue()
	require.NoError(t, err)
	assert.Equal(t, uint32(0), rv)
	out, _ := add.Instance()
	epr, err := wsman.ParseEPR(wsman.Child(out, "", "CreatedCertificate"))
	require.NoError(t, err)
	id, _ := epr.Selectors.Get("InstanceID")
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 1", id)

	acl := read("amt/authorization/enumerateuseraclentries.xml")
	m, err := acl.Fields()
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "2"}, m["Handles"])

	cc := read("amt/tls/credentialcontext/create.xml")
	created, err := cc.ResourceCreated()
	require.NoError(t, err)
	eic, ok := created.Selectors.GetEPR("ElementInContext")
	require.True(t, ok)
	id, _ = eic.Selectors.Get("InstanceID")
	assert.Equal(t, "testCertificate", id)

	bad := read("amt/setupandconfiguration/getuuid-bad.xml")
	o, _ := bad.Instance()
	u, ok := wsman.ChildText(o, wsman.NSSOAP, "UUID")
	require.True(t, ok, "the unprefixed UUID is in the default (SOAP) namespace")
	assert.Equal(t, "baduuid", u)
}
