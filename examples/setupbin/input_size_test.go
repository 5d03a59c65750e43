package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -decode names whatever is on the stick: a file far larger than any
// setup.bin (or a device such as /dev/zero) is refused, not read into memory
// whole.
func TestDecodeInputIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "setup.bin")
	fh, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, fh.Truncate(1<<30)) // sparse: costs no disk
	require.NoError(t, fh.Close())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var b strings.Builder
	err = run(&b, options{decode: path})
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "allocated while refusing a 1 GiB file")
}
