package boundedread_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/boundedread"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	exact := filepath.Join(dir, "exact")
	require.NoError(t, os.WriteFile(exact, make([]byte, 100), 0o600))
	sparse := filepath.Join(dir, "sparse")
	fh, err := os.Create(sparse)
	require.NoError(t, err)
	require.NoError(t, fh.Truncate(1<<30)) // costs no disk
	require.NoError(t, fh.Close())

	for _, tt := range []struct {
		name    string
		path    string
		limit   int64
		wantLen int
		wantErr error
	}{
		{"at the limit", exact, 100, 100, nil},
		{"one byte over", exact, 99, 0, boundedread.ErrTooLarge},
		{"a 1 GiB file refused by its size", sparse, 1 << 20, 0, boundedread.ErrTooLarge},
		{"missing", filepath.Join(dir, "none"), 10, 0, os.ErrNotExist},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			data, err := boundedread.File(tt.path, tt.limit, "a test file")
			runtime.ReadMemStats(&after)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "refused without reading")
				return
			}
			require.NoError(t, err)
			assert.Len(t, data, tt.wantLen)
		})
	}
	var tl *boundedread.TooLargeError
	_, err = boundedread.File(exact, 10, "a setup.bin")
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, exact+": larger than 10 bytes: not a setup.bin", err.Error())
}

// A device with no size is read no further than one byte past the limit.
func TestFileDevice(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := boundedread.File("/dev/zero", 1<<16, "a test file")
	require.ErrorIs(t, err, boundedread.ErrTooLarge)
}
