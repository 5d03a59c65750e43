package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A pairs CSV may be the only record of PPS values already on USB sticks:
// a second run naming the same file (or the same setup.bin) must not
// replace it, and must write nothing at all rather than half a batch.
func TestExistingOutputIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "pairs.csv")
	bin := filepath.Join(dir, "setup.bin")
	var out strings.Builder
	require.NoError(t, run(&out, 2, csvPath, bin, ""))
	firstCSV, err := os.ReadFile(csvPath)
	require.NoError(t, err)
	firstBin, err := os.ReadFile(bin)
	require.NoError(t, err)

	err = run(&out, 2, csvPath, filepath.Join(dir, "other.bin"), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exists")
	_, statErr := os.Stat(filepath.Join(dir, "other.bin"))
	assert.ErrorIs(t, statErr, os.ErrNotExist, "nothing written when one output exists")

	err = run(&out, 2, filepath.Join(dir, "new.csv"), bin, "")
	require.Error(t, err)
	_, statErr = os.Stat(filepath.Join(dir, "new.csv"))
	assert.ErrorIs(t, statErr, os.ErrNotExist, "the CSV is not written when the setup.bin cannot be")

	gotCSV, _ := os.ReadFile(csvPath)
	gotBin, _ := os.ReadFile(bin)
	assert.Equal(t, firstCSV, gotCSV)
	assert.Equal(t, firstBin, gotBin)
}
