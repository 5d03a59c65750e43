package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The state key is written owner-only as a new file: a symbolic link left at
// its path (a dangling one reads as "no key yet") must not send the key to
// the link's target. A key file that is not a key is refused with the
// expected form, and a huge one without reading it whole.
func TestStateKeyFile(t *testing.T) {
	dir := t.TempDir()

	path := filepath.Join(dir, "state.db.key")
	_, _, err := stateKey(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, _, err = stateKey(path)
	require.NoError(t, err, "the key made is read back")

	target := filepath.Join(dir, "elsewhere")
	link := filepath.Join(dir, "linked.key")
	require.NoError(t, os.Symlink(target, link))
	_, _, err = stateKey(link)
	require.Error(t, err)
	_, err = os.Stat(target)
	assert.ErrorIs(t, err, os.ErrNotExist, "the key went to the link's target")

	bad := filepath.Join(dir, "bad.key")
	require.NoError(t, os.WriteFile(bad, []byte("not a key\n"), 0o600))
	_, _, err = stateKey(bad)
	assert.ErrorContains(t, err, "expected <key id>:<64 hex digits>")

	huge := filepath.Join(dir, "huge.key")
	fh, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, fh.Truncate(1<<30))
	require.NoError(t, fh.Close())
	_, _, err = stateKey(huge)
	assert.ErrorContains(t, err, "larger than")
}
