package wsman_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// A Wi-Fi passphrase (WPA: 8–63 printable ASCII, spaces allowed) or an
// 802.1X password with two spaces in a row, echoed by the device in the
// fault's Detail: Fault.Detail collapses white space (strings.Fields), and
// scrub, which looked for the value as sent only, did not find it: the
// passphrase (one space shorter) reached Fault.Error(), records and logs.
func TestFaultDetailCollapsedSecretScrubbed(t *testing.T) {
	const pass = "correct  horse battery staple"
	const wifiURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_WiFiPortConfigurationService"
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		f := wsmantest.SenderFault("InvalidParameter", "invalid settings")
		f.Detail = "Invalid value for PSKPassPhrase: " + pass
		return wsmantest.FaultReply(f)
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	_, err = c.Invoke(context.Background(), wifiURI, "AddWiFiSettings", nil,
		wsman.NewInput(wifiURI, "AddWiFiSettings", wsman.Prop("PSKPassPhrase", pass)))
	var f *wsman.Fault
	require.True(t, errors.As(err, &f), "%v", err)
	collapsed := strings.Join(strings.Fields(pass), " ")
	assert.NotContains(t, f.Detail, collapsed, "passphrase in Fault.Detail")
	assert.NotContains(t, err.Error(), collapsed, "passphrase in the error text")
}

// An endpoint typed with one slash ("https:/admin:P4ss@host/wsman") parses
// as a URL without host or user info: New quoted it whole in its error, with
// the password the caller put in it. (CHANGELOG: "wsman.New no longer quotes
// an endpoint URL that does not parse (with its password)".)
func TestNewDoesNotQuoteEndpointWithoutHost(t *testing.T) {
	const pw = "S3cret-Adm1n!"
	for _, ep := range []string{"https:/admin:" + pw + "@10.0.0.5:16993/wsman", "http:admin:" + pw + "@10.0.0.5"} {
		_, err := wsman.New(ep, wsman.WithDigestAuth("admin", pw))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), pw, "endpoint %s", ep)
	}
}

// scrub blanked the secret from Fault.Detail but not from
// Fault.DetailElement, which kept the device's echo of the password verbatim.
func TestFaultDetailElementScrubbed(t *testing.T) {
	const pw = "N3w-Mebx!Pass"
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		f := wsmantest.SenderFault("InvalidParameter", "invalid value")
		f.Detail = "Password " + pw + " rejected"
		return wsmantest.FaultReply(f)
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	_, err = c.Invoke(context.Background(), setupURI, "SetMEBxPassword", nil,
		wsman.NewInput(setupURI, "SetMEBxPassword", wsman.Prop("Password", pw)))
	var f *wsman.Fault
	require.True(t, errors.As(err, &f), "%v", err)
	require.NotContains(t, f.Detail, pw, "Detail is scrubbed")
	require.NotNil(t, f.DetailElement)
	assert.NotContains(t, f.DetailElement.Text(), pw, "DetailElement still holds the password")
}
