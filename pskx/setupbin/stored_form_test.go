package setupbin_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

// The PID/PPS accessors re-parsed the stored characters with
// pskx.ParsePID/ParsePPS, which upper-case them (and drop dashes), so a
// record whose bytes File.Check refuses ("PID must be stored as 8 upper-case
// characters", the same for the PPS) yielded a canonical Pair whose TLS-PSK
// key (the PPS's upper-case ASCII) is not the bytes the MEBx was given. They
// now fail with ErrVarValue.
func TestPairAccessorsReturnWhatIsStored(t *testing.T) {
	pair := pskx.Pair{
		PID:          pskx.MustParsePID("0000-037M"),
		PPS:          mustPPS(t, "NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ"),
		MEBxPassword: amt.NewSecret("N3w-Mebx!"),
	}
	f, err := setupbin.NewPSKBatchFile([]pskx.Pair{pair}, setupbin.PSKBatchOptions{Plain: true})
	require.NoError(t, err)
	raw, err := f.MarshalBinary()
	require.NoError(t, err)
	// Another tool wrote the pair in lower case (same lengths).
	for _, s := range []string{pair.PID.Compact(), pair.PPS.Reveal()} {
		i := bytes.Index(raw, []byte(s))
		require.GreaterOrEqual(t, i, 0)
		copy(raw[i:], bytes.ToLower([]byte(s)))
	}
	g, err := setupbin.Decode(raw)
	require.NoError(t, err, "lengths are legal: strict Decode reads it")
	r := g.Records[0]
	assert.True(t, g.Check(setupbin.CheckOptions{}).Has(setupbin.FindingVarValue), "Check refuses the stored PID/PPS")

	_, err = r.PPS()
	assert.ErrorIs(t, err, setupbin.ErrVarValue, "PPS() must not return a key other than the stored bytes")
	assert.NotContains(t, err.Error(), "nkld", "the error never quotes the PPS")
	_, err = r.PID()
	assert.ErrorIs(t, err, setupbin.ErrVarValue, "PID() must not return an identity other than the stored bytes")
	_, err = r.Pair()
	assert.ErrorIs(t, err, setupbin.ErrVarValue)
}

func mustPPS(t *testing.T, s string) pskx.PPS {
	p, err := pskx.ParsePPS(s)
	require.NoError(t, err)
	return p
}

// MeshCentral's AmtSetupBinDecode ends a record's walk at an entry whose
// module OR variable identifier is 0; the lenient decoder, documented to read
// "what the firmware reads", refused the whole file. It now ends the walk
// there with a layout-tolerated warning; the strict decoder still refuses it.
func TestLenientEndsWalkAtZeroVariable(t *testing.T) {
	pair := pskx.Pair{PID: pskx.MustParsePID("0000-037M"), PPS: mustPPS(t, "NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ"), MEBxPassword: amt.NewSecret("N3w-Mebx!")}
	f, err := setupbin.NewPSKBatchFile([]pskx.Pair{pair}, setupbin.PSKBatchOptions{Plain: true})
	require.NoError(t, err)
	raw, err := f.MarshalBinary()
	require.NoError(t, err)
	off := 512 + 24
	for raw[off] != 0 || raw[off+1] != 0 { // walk to the end-of-entries marker
		n := int(raw[off+4]) | int(raw[off+5])<<8
		off += 8 + n + (4-n%4)%4
	}
	raw[off] = 2 // module 2, variable 0
	g, warnings, err := setupbin.DecodeLenient(raw)
	require.NoError(t, err)
	assert.NotEmpty(t, warnings)
	got, err := g.Records[0].Pair()
	require.NoError(t, err, "the entries before it are read")
	assert.Equal(t, pair.PID, got.PID)
	_, err = setupbin.Decode(raw)
	assert.ErrorIs(t, err, setupbin.ErrEntry)
}
