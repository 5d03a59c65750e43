package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/boundedread"
)

// -pfx and -ondie-root read whatever path they were given whole: a wrong path
// such as /dev/zero never ended, a huge file took its size in memory. Both are
// bounded now.
func TestInputFilesAreBounded(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge")
	fh, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, fh.Truncate(1<<30)) // sparse: costs no disk
	require.NoError(t, fh.Close())
	paths := []string{huge}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths = append(paths, "/dev/zero")
	}
	for _, p := range paths {
		_, err := loadBundle(p)
		assert.ErrorIs(t, err, boundedread.ErrTooLarge, "-pfx %s", p)
		assert.ErrorContains(t, err, "-pfx: ")
		_, err = loadOnDieRoot(p)
		assert.ErrorIs(t, err, boundedread.ErrTooLarge, "-ondie-root %s", p)
	}
}
