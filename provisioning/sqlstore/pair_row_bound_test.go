package sqlstore_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

// A pair row whose sealed PPS or PID was replaced by a huge value (someone
// with write access to the database) is refused without being read: a
// Lookup or a walk of the pairs must not allocate what the row holds.
func TestOversizedPairRowRefusedUnread(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, set, want string
	}{
		{"pps", `pps = zeroblob(16*1024*1024)`, "larger than any amtkit writes"},
		{"mebx password", `mebx_password = zeroblob(16*1024*1024)`, "larger than any amtkit writes"},
		{"pid", `pid = pid || hex(zeroblob(8*1024*1024))`, "larger than any amtkit writes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
			ps := s.PSK()
			pairs, err := pskx.GenerateBatch(rand.Reader, 2)
			require.NoError(t, err)
			pairs[1].MEBxPassword = amt.Secret{} // NULL in its row: none, not oversized
			require.NoError(t, ps.Put(ctx, pairs...))
			_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET `+tt.set+` WHERE pid = ?`, pairs[0].PID.Compact())
			require.NoError(t, err)

			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			_, err = pskx.CollectPairs(ps.Pairs(ctx, pskx.PairFilter{}))
			runtime.ReadMemStats(&m1)
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
			assert.ErrorContains(t, err, "changed outside amtkit")
			assert.Less(t, (m1.TotalAlloc-m0.TotalAlloc)>>20, uint64(8), "MiB allocated to refuse a 16 MiB pair row")

			if tt.name != "pid" {
				_, err = ps.Lookup(ctx, pairs[0].PID)
				assert.ErrorContains(t, err, tt.want)
			}
			got, err := ps.Lookup(ctx, pairs[1].PID)
			require.NoError(t, err, "the untouched pair still reads")
			assert.Equal(t, pairs[1].PID, got.PID)
			assert.True(t, got.MEBxPassword.IsZero())
		})
	}
}
