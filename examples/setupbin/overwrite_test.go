package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An earlier setup.bin or pairs CSV may be the only record of PPS values
// already on USB sticks: -o and -store never replace a file, and nothing is
// written when either exists.
func TestExistingOutputIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	bin, store := filepath.Join(dir, "setup.bin"), filepath.Join(dir, "pairs.csv")
	var out strings.Builder
	require.NoError(t, run(&out, options{create: "psk", n: 2, out: bin, store: store}))
	firstBin, err := os.ReadFile(bin)
	require.NoError(t, err)
	firstCSV, err := os.ReadFile(store)
	require.NoError(t, err)

	newStore := filepath.Join(dir, "new.csv")
	err = run(&out, options{create: "psk", n: 2, out: bin, store: newStore})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exists")
	_, statErr := os.Stat(newStore)
	assert.ErrorIs(t, statErr, os.ErrNotExist, "the pairs are not written when the setup.bin cannot be")

	require.Error(t, run(&out, options{create: "psk", n: 2, out: filepath.Join(dir, "new.bin"), store: store}))
	require.Error(t, run(&out, options{create: "pki", mebx: "N3w-Mebx!", suffix: "example.com", out: bin}))

	gotBin, _ := os.ReadFile(bin)
	gotCSV, _ := os.ReadFile(store)
	assert.Equal(t, firstBin, gotBin)
	assert.Equal(t, firstCSV, gotCSV)
}
