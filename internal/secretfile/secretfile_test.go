//go:build !windows

package secretfile_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
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

// A reader that opened the file while it was world-readable keeps its
// descriptor: restricting the mode afterwards revokes nothing, so the secret
// must go to a new file, never into the inode such a reader holds. A
// symbolic link planted at the path is not followed (its target would be
// emptied and written).
func TestAttackSecretFileReadThroughOldDescriptor(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		setup func(t *testing.T, path string) (check func(t *testing.T))
		err   bool // Write refuses the path
	}{
		"descriptor opened while world-readable": {setup: func(t *testing.T, path string) func(*testing.T) {
			require.NoError(t, os.WriteFile(path, []byte("public"), 0o644))
			held, err := os.Open(path)
			require.NoError(t, err)
			t.Cleanup(func() { held.Close() })
			return func(t *testing.T) {
				b, err := io.ReadAll(held)
				require.NoError(t, err)
				assert.NotContains(t, string(b), "s3cret", "the secret was read through a descriptor opened before the mode was restricted")
			}
		}},
		"symbolic link to another file": {err: true, setup: func(t *testing.T, path string) func(*testing.T) {
			target := path + ".target"
			require.NoError(t, os.WriteFile(target, []byte("keep me"), 0o644))
			require.NoError(t, os.Symlink(target, path))
			return func(t *testing.T) {
				b, err := os.ReadFile(target)
				require.NoError(t, err)
				assert.Equal(t, "keep me", string(b), "the link's target was written")
			}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
			check := tc.setup(t, path)
			err := secretfile.Write(path, []byte("s3cret"))
			if tc.err {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, "s3cret", string(b))
				fi, err := os.Lstat(path)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			}
			check(t)
		})
	}
}
