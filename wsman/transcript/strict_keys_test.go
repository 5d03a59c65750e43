package transcript_test

import (
	"strings"
	"testing"

	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttackKeyVariantsRefused: encoding/json matches keys without regard to
// case and lets the last of two equal keys win, so a transcript could show a
// reader (jq, Python, a code review) one body and replay another:
// {"body": "<benign/>", "BODY": "<evil/>"} replayed the second, and a second
// "body" the last. Decode refuses a repeated key and a key that is not
// written exactly as the format names it; header names stay free.
func TestAttackKeyVariantsRefused(t *testing.T) {
	good, err := validTranscript().Marshal()
	require.NoError(t, err)
	_, err = transcript.Decode(good)
	require.NoError(t, err)
	const body = `"body": "<x/>"`
	require.Contains(t, string(good), body)
	tests := []struct {
		name, old, new string
		ok             bool
	}{
		{"a second body", body, body + `, "body": "<evil/>"`, false},
		{"a body in capitals after it", body, body + `, "BODY": "<evil/>"`, false},
		{"the body in capitals alone", body, `"Body": "<x/>"`, false},
		{"a second format", `"format": "amtkit-transcript/1"`, `"format": "amtkit-transcript/1", "format": "amtkit-transcript/1"`, false},
		{"a header repeated", `"Www-Authenticate": [`, `"Www-Authenticate": [], "Www-Authenticate": [`, false},
		{"header names differing in case", `"Www-Authenticate": [`, `"www-authenticate": [], "Www-Authenticate": [`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, string(good), tc.old)
			b := []byte(strings.Replace(string(good), tc.old, tc.new, 1))
			_, err := transcript.Decode(b)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, transcript.ErrFormat)
		})
	}
}
