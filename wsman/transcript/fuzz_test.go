package transcript_test

import (
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fuzzEnvelope = `<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" ` +
	`xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"><a:Header></a:Header><a:Body>` +
	`<g:AMT_GeneralSettings><g:HostName>pc-1</g:HostName><g:Note>SECRET</g:Note></g:AMT_GeneralSettings></a:Body></a:Envelope>`

// FuzzRecordBody: recording any body with any registered secret never
// panics, keeps the secret out of the transcript (the body is rewritten or
// removed whole), and what it writes Decode reads.
func FuzzRecordBody(f *testing.F) {
	f.Add([]byte(fuzzEnvelope), "Sekr1t-Passw0rd")
	f.Add([]byte(strings.Replace(fuzzEnvelope, "SECRET", "a&amp;b&lt;Sekr1t&gt;", 1)), "a&b<Sekr1t>")
	f.Add([]byte(strings.Replace(fuzzEnvelope, "SECRET", "<![CDATA[Sekr1t-Passw0rd]]>", 1)), "Sekr1t-Passw0rd")
	f.Add([]byte(`<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope"><a:Body x="Sekr1t-Passw0rd"/></a:Envelope>`), "Sekr1t-Passw0rd")
	f.Fuzz(func(t *testing.T, body []byte, secret string) {
		if len(secret) < 8 || len(body) > 1<<16 {
			return
		}
		body = []byte(strings.Replace(string(body), "SECRET", secret, -1))
		for _, fixed := range []string{"[body removed:", " bytes, ", "not UTF-8", "not a SOAP envelope", "truncated", "not redactable",
			"a secret outside the text", wsman.Redacted, "W1JFREFDVEVEXQ==", "5b52454441435445445d"} {
			if strings.Contains(fixed, secret) {
				return
			}
		}
		rec := transcript.NewRecorder(transcript.Options{Identifying: true})
		rec.AddSecret(secret)
		rec.Record(&wsman.Exchange{Start: time.Now(), Method: "POST", Path: "/wsman", RequestBody: append([]byte(nil), body...),
			StatusCode: 200, ResponseBody: append([]byte(nil), body...)})
		tr := rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "fuzz", Tool: "fuzz"})
		x := tr.Exchanges[0]
		for _, out := range []string{x.Request.Body, x.Response.Body} {
			assert.NotContains(t, out, secret)
			if out != "" && !strings.HasPrefix(out, "[body removed") {
				_, err := wsman.ParseEnvelope([]byte(out), 0)
				assert.NoError(t, err, "a kept body is still an envelope")
			}
		}
		b, err := tr.Marshal()
		require.NoError(t, err)
		_, err = transcript.Decode(b)
		require.NoError(t, err)
	})
}
