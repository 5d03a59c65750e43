package setupbin_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx/setupbin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A file's secrets (MEBx passwords, PPS) never come out of fmt, JSON or slog
// (text or JSON): an integrator who logs a file or a record sees names and
// redacted values.
func TestFileSecretsNeverPrinted(t *testing.T) {
	pairs := testPairs(t)
	f, err := setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{CurrentMEBxPassword: amt.NewSecret("Cur-Mebx!9x")})
	require.NoError(t, err)
	secrets := []string{"Cur-Mebx!9x", pairs[0].MEBxPassword.Reveal(), pairs[0].PPS.Reveal(), pairs[1].PPS.Reveal()}

	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&out, verb+"\n", f)
		fmt.Fprintf(&out, verb+"\n", *f.Records[0])
	}
	js, err := json.Marshal(f)
	require.NoError(t, err)
	out.Write(js)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("file", "f", f, "entry", f.Records[0].Entries[0])
	slog.New(slog.NewTextHandler(&out, nil)).Info("file", "f", f, "entry", f.Records[0].Entries[0])
	for _, s := range secrets {
		assert.NotContains(t, out.String(), s)
		assert.NotContains(t, out.String(), base64.StdEncoding.EncodeToString([]byte(s)))
	}
	assert.True(t, strings.Contains(string(js), `"var":"current MEBx password (1/1)","value":"[REDACTED]"`), "%s", js)
}
