package wsman_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultEnvelope is a device's fault with the given (already XML-escaped)
// subcode, reason and detail text.
func faultEnvelope(subcode, reason, detail string) []byte {
	return []byte(`<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:e="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">` +
		`<a:Header/><a:Body><a:Fault><a:Code><a:Value>a:Receiver</a:Value><a:Subcode><a:Value>` + subcode + `</a:Value></a:Subcode></a:Code>` +
		`<a:Reason><a:Text xml:lang="en-US">` + reason + `</a:Text></a:Reason><a:Detail>` + detail + `</a:Detail></a:Fault></a:Body></a:Envelope>`)
}

// TestAttackFaultErrorIsOneLine: a device's fault text may hold line breaks
// (character references &#10; and &#13;), C1 controls such as U+009B (CSI,
// a terminal escape introducer), DEL and the Unicode line separators, all
// XML 1.0 characters. Fault.Error, which every caller logs, escapes them as Go
// does in a quoted string, so a device cannot forge another log line or drive
// an operator's terminal; the fields keep the text as the device sent it.
func TestAttackFaultErrorIsOneLine(t *testing.T) {
	tests := []struct {
		name, subcode, reason, detail string
		wantReason                    string
	}{
		{"line feed in the reason", "e:InternalError", "busy&#10;wsman: fault AccessDenied, HTTP 400", "", "busy\nwsman: fault AccessDenied, HTTP 400"},
		{"carriage return in the reason", "e:InternalError", "busy&#13;ok", "", "busy\rok"},
		{"C1 CSI in the reason", "e:InternalError", "&#x9b;2J&#x9b;31mAMT", "", "\u009b2J\u009b31mAMT"},
		{"DEL and line separator in the reason", "e:InternalError", "a&#x7f;b&#x2028;c&#x2029;d", "", "a\x7fb\u2028c\u2029d"},
		{"C1 in the detail", "e:InternalError", "r", "AMT-STATUS&#x85;&#x9b;0m 2068", "r"},
		{"line feed in the subcode", "e:Internal&#10;Error", "r", "", "r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := wsman.ParseEnvelope(faultEnvelope(tc.subcode, tc.reason, tc.detail), 0)
			require.NoError(t, err)
			f, err := env.Fault()
			require.NoError(t, err)
			require.NotNil(t, f)
			assert.Equal(t, tc.wantReason, f.Reason, "the field keeps the device's text")
			msg := f.Error()
			assert.False(t, strings.ContainsFunc(msg, func(r rune) bool {
				return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
			}), "Fault.Error holds a control character or line break: %q", msg)
		})
	}
	// What is escaped still reads as what the device sent.
	env, err := wsman.ParseEnvelope(faultEnvelope("e:InternalError", "busy&#10;retry", ""), 0)
	require.NoError(t, err)
	f, err := env.Fault()
	require.NoError(t, err)
	assert.Equal(t, `wsman: fault InternalError (Receiver): busy\nretry`, f.Error())
}

// TestAttackMalformedEnvelopeErrorIsOneLine: an error naming an element gives
// its namespace, an xmlns value the device wrote; its line breaks are escaped
// too.
func TestAttackMalformedEnvelopeErrorIsOneLine(t *testing.T) {
	_, err := wsman.ParseEnvelope([]byte(`<a:Envelope xmlns:a="urn:x&#10;wsman: ok"><a:Body/></a:Envelope>`), 0)
	require.ErrorIs(t, err, wsman.ErrMalformed)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), `{urn:x\nwsman: ok}Envelope`)
}

// TestAttackHTTPErrorIsOneLine: the Content-Type of a non-SOAP answer is
// the device's text; net/http refuses control bytes in it, but not the C1
// controls and line separators UTF-8 carries. HTTPError.Error escapes them.
func TestAttackHTTPErrorIsOneLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html\u009b2J\u2028wsman: ok")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html/>"))
	}))
	defer srv.Close()
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithRand(zeroReader{}))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.Get(context.Background(), "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings", nil)
	var he *wsman.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "text/html\u009b2J\u2028wsman: ok", he.ContentType, "the field keeps the text")
	assert.False(t, strings.ContainsFunc(err.Error(), func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}), "HTTPError.Error holds a control character or line break: %q", err.Error())
}
