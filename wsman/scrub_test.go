package wsman_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

const setupURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"

// A device answers SetMEBxPassword with an HTTP 500 error page that echoes
// the password, markup-escaped as any XML or HTML page does (CheckPassword
// allows '&', '<' and '>'): the escaped form is scrubbed from HTTPError.Body
// too.
func TestScrubEscapedSecretInHTTPErrorBody(t *testing.T) {
	const pw = "Fleet&Co<P4ss>!"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		escaped := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(pw)
		_, _ = w.Write([]byte("<html><body>Invalid value for Password: " + escaped + "</body></html>"))
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	_, err = c.Invoke(context.Background(), setupURI, "SetMEBxPassword", nil,
		wsman.NewInput(setupURI, "SetMEBxPassword", wsman.Prop("Password", pw)))
	var he *wsman.HTTPError
	require.True(t, errors.As(err, &he), "%v", err)
	assert.NotContains(t, he.Body, "Fleet&amp;Co&lt;P4ss&gt;!", "the MEBx password, escaped, survives scrub in HTTPError.Body")
}

// SetTLSPSK_INPUT matches DefaultRedactor ("psk") as a whole, but only leaf
// values are secrets: the PID — not a secret (ConnectionState logs it; it is
// sent in clear in the TLS hello) — stays in a fault's reason.
func TestScrubLeavesPIDInFault(t *testing.T) {
	const pid = "0000037M"
	srv := httptest.NewServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.SenderFault("InvalidParameter", "PID "+pid+" is already in use"))
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	_, err = c.Invoke(context.Background(), setupURI, "SetTLSPSK", nil,
		wsman.NewInput(setupURI, "SetTLSPSK", wsman.Prop("PID", pid), wsman.Prop("PPS", "ABCDEFGH12345678ABCDEFGH12345678")))
	var f *wsman.Fault
	require.True(t, errors.As(err, &f), "%v", err)
	assert.Equal(t, "PID "+pid+" is already in use", f.Reason, "a non-secret identifier blanked from the device's reason")
}
