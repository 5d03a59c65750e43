//go:build !windows

package secretfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/secretfile"
)

// A file that already existed world-readable is restricted before the secret
// is written; a new one is created owner-only.
func TestWriteRestrictsTheMode(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.bin")
	require.NoError(t, os.WriteFile(old, []byte("public"), 0o644))
	fresh := filepath.Join(dir, "new.bin")
	for _, p := range []string{old, fresh} {
		require.NoError(t, secretfile.Write(p, []byte("secret")))
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, "secret", string(b))
	}
}
