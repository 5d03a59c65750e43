package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/pskx/setupbin"
)

func TestRunWithoutFlags(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, options{n: 5, start: true}))
	s := out.String()
	assert.Contains(t, s, "setup.bin version 4.0, 1024 bytes, 1 record(s)")
	assert.Contains(t, s, `PKI DNS suffix (2/3) = "vpro.example.com"`)
	assert.Contains(t, s, "provisioning server address (2/17) = 192.0.2.10")
	assert.Contains(t, s, "user-defined certificate hash (2/8) = SHA-256:abab")
	assert.NotContains(t, s, "N3w-Mebx!")
}

func TestCreatePSKAndDecode(t *testing.T) {
	dir := t.TempDir()
	bin, pairs := filepath.Join(dir, "setup.bin"), filepath.Join(dir, "pairs.csv")
	var out bytes.Buffer
	require.NoError(t, run(&out, options{create: "psk", n: 3, out: bin, store: pairs, target: "11.0"}))
	assert.Contains(t, out.String(), "error psk-removed: record 1, PID (2/1): ")

	raw, err := os.ReadFile(bin)
	require.NoError(t, err)
	f, err := setupbin.Decode(raw)
	require.NoError(t, err)
	require.Len(t, f.Records, 3)

	fh, err := os.Open(pairs)
	require.NoError(t, err)
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	for i, r := range f.Records {
		p, err := r.Pair()
		require.NoError(t, err)
		assert.Equal(t, rows[i+1][0], p.PID.String())
		assert.Equal(t, rows[i+1][1], p.PPS.RevealGrouped())
		assert.Equal(t, rows[i+1][2], p.MEBxPassword.Reveal())
	}

	out.Reset()
	require.NoError(t, run(&out, options{decode: bin}))
	assert.Contains(t, out.String(), "setup.bin version 1.0, 2048 bytes, 3 record(s)")
	assert.NotContains(t, out.String(), rows[1][1])

	// A file another tool wrote, with a header byte count the firmware does
	// not read: read, and the departure named.
	raw, err = os.ReadFile(bin)
	require.NoError(t, err)
	raw[18], raw[19] = 0, 0
	other := filepath.Join(t.TempDir(), "other.bin")
	require.NoError(t, os.WriteFile(other, raw, 0o600))
	out.Reset()
	require.NoError(t, run(&out, options{decode: other}))
	assert.Contains(t, out.String(), "3 record(s)")
	assert.Contains(t, out.String(), "warning layout-tolerated: file: header byte count must be even")
}

func TestErrors(t *testing.T) {
	var out bytes.Buffer
	assert.Error(t, run(&out, options{create: "x"}))
	assert.Error(t, run(&out, options{create: "pki"}))
	assert.Error(t, run(&out, options{create: "pki", mebx: "N3w-Mebx!", server: "not an ip"}))
	assert.Error(t, run(&out, options{create: "pki", mebx: "N3w-Mebx!", version: "5.0"}))
	assert.Error(t, run(&out, options{decode: filepath.Join(t.TempDir(), "missing")}))
	bad := filepath.Join(t.TempDir(), "bad.bin")
	require.NoError(t, os.WriteFile(bad, make([]byte, 1024), 0o600))
	assert.ErrorIs(t, run(&out, options{decode: bad}), setupbin.ErrFileType)
}
