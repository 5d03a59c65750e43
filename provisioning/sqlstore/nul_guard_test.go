package sqlstore_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/pskx"
)

// SQLite's length() counts the characters of a TEXT value before its first
// NUL: a huge value planted as TEXT that begins with a NUL measures 0 and
// passes the pair row's length guards, so a walk or Lookup reads all of it
// (and a PID quoted with %q puts all of it in the error text).
func TestPairRowGuardNotFooledByLeadingNUL(t *testing.T) {
	ctx := context.Background()
	for _, col := range []string{"pps", "mebx_password", "pid", "used_by"} {
		t.Run(col, func(t *testing.T) {
			s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
			ps := s.PSK()
			pairs, err := pskx.GenerateBatch(rand.Reader, 1)
			require.NoError(t, err)
			require.NoError(t, ps.Put(ctx, pairs...))
			_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET `+col+` = char(0) || hex(zeroblob(8*1024*1024))`)
			require.NoError(t, err)

			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			_, err = pskx.CollectPairs(ps.Pairs(ctx, pskx.PairFilter{}))
			runtime.ReadMemStats(&m1)
			require.Error(t, err)
			assert.Less(t, len(err.Error()), 4096, "error text length")
			assert.ErrorContains(t, err, "larger than any amtkit writes")
			assert.Less(t, (m1.TotalAlloc-m0.TotalAlloc)>>20, uint64(8), "MiB allocated to refuse a 16 MiB pair row")
		})
	}
}
