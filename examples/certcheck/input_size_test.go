package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
)

// -in names whatever file the operator was handed: one far larger than any
// bundle certs.Load accepts (or a device such as /dev/zero) is refused after
// reading just past that limit, not read into memory whole.
func TestInputFileIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.pfx")
	fh, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, fh.Truncate(64<<20)) // sparse: costs no disk
	require.NoError(t, fh.Close())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var b strings.Builder
	err = run(&b, config{in: path, now: t0})
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.NotErrorIs(t, err, errFindings)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8*certs.MaxFileSize), "allocated while refusing a 64 MiB file")
}
