package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

func TestRunWithoutFlags(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, 3, "", "", ""))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		require.Len(t, f, 3, l)
		_, err := pskx.ParsePID(f[0])
		assert.NoError(t, err)
		_, err = pskx.ParsePPS(f[1])
		assert.NoError(t, err)
		assert.NoError(t, amt.CheckPassword(f[2]))
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	csvPath, bin := filepath.Join(dir, "p.csv"), filepath.Join(dir, "setup.bin")
	// New files, readable by their owner only (an existing one is refused:
	// TestExistingOutputIsNotReplaced).
	var out bytes.Buffer
	require.NoError(t, run(&out, 4, csvPath, bin, ""))
	for _, p := range []string{csvPath, bin} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), p)
	}
	raw, err := os.ReadFile(bin)
	require.NoError(t, err)
	f, err := setupbin.Decode(raw)
	require.NoError(t, err)
	assert.Len(t, f.Records, 4)
	st, err := os.Stat(csvPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.NotContains(t, out.String(), "-", "no PPS printed when writing a CSV")
}

func TestCheck(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, 0, "", "", "NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ"))
	assert.Equal(t, "valid PPS NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ\n", out.String())
	out.Reset()
	require.NoError(t, run(&out, 0, "", "", "0000-037m"))
	assert.Equal(t, "valid PID 0000-037M\n", out.String())
	err := run(&out, 0, "", "", "NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XK")
	require.ErrorIs(t, err, pskx.ErrChecksum)
	assert.Contains(t, err.Error(), "[8]")
	assert.Error(t, run(&out, 0, "", "", ""))
}
