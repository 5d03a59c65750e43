package setupbin_test

import (
	"encoding/xml"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

// Entry redacts secret values for fmt, slog and JSON; without a MarshalXML,
// encoding/xml of an Entry, a DataRecord or a File wrote the MEBx passwords
// and the PPS as character data.
func TestEntryXMLRedactsSecrets(t *testing.T) {
	pairs, err := pskx.GenerateBatch(nil, 1)
	require.NoError(t, err)
	f, err := setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{Version: setupbin.FileVersion10, CurrentMEBxPassword: amt.NewSecret("admin")})
	require.NoError(t, err)
	out, err := xml.Marshal(f)
	require.NoError(t, err)
	assert.NotContains(t, string(out), pairs[0].PPS.Reveal(), "PPS in XML of the file")
	assert.NotContains(t, string(out), pairs[0].MEBxPassword.Reveal(), "new MEBx password in XML of the file")
}
