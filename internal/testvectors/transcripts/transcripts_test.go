package transcripts_test

import (
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testvectors/transcripts"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every transcript decodes, says where it comes from, and was recorded with
// identifying redaction; those from the simulator say they are not real
// firmware.
func TestTranscriptsHaveProvenance(t *testing.T) {
	names := transcripts.Names()
	require.NotEmpty(t, names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			tr, err := transcripts.Load(name)
			require.NoError(t, err)
			p := tr.Provenance
			_, err = amt.ParseVersion(p.Firmware)
			require.NoError(t, err, "firmware version")
			assert.Contains(t, []string{transcript.SourceDevice, transcript.SourceSimulator}, p.Source)
			assert.NotEmpty(t, p.RecordedBy)
			assert.NotEmpty(t, p.Tool)
			assert.Equal(t, "amt/1", p.Redaction.Policy)
			assert.True(t, p.Redaction.Identifying, "contributed transcripts are anonymized")
			if p.Source == transcript.SourceSimulator {
				assert.Contains(t, p.Note, "not real firmware")
				assert.True(t, strings.HasPrefix(name, "amtsim-"), "simulator transcripts are named amtsim-…")
			}
			assert.NotEmpty(t, tr.Exchanges)
		})
	}
}
