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
	"github.com/amtkit/amtkit/seal"
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

// Reseal after a key rotation passes over a pair row it cannot read (a
// tampered sealed PPS, a planted oversized value) and re-seals the rest;
// its error counts the rows passed over and wraps the first one's error.
func TestPairResealPassesOverUnreadableRows(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	ps := s.PSK()
	pairs, err := pskx.GenerateBatch(rand.Reader, 4)
	require.NoError(t, err)
	require.NoError(t, ps.Put(ctx, pairs...))
	// The last byte of a sealed value is its GCM tag's: flipped, it does not open.
	var pps []byte
	require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT pps FROM amtkit_psk_pairs WHERE pid = ?`, pairs[1].PID.Compact()).Scan(&pps))
	pps[len(pps)-1] ^= 1
	_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET pps = ? WHERE pid = ?`, pps, pairs[1].PID.Compact())
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET mebx_password = zeroblob(1<<20) WHERE pid = ?`, pairs[2].PID.Compact())
	require.NoError(t, err)
	_, err = ps.Lookup(ctx, pairs[1].PID)
	require.ErrorIs(t, err, seal.ErrOpen, "the tampering took")

	n, err := ps.Reseal(ctx)
	assert.Equal(t, 2, n, "the two readable pairs are re-sealed")
	require.ErrorIs(t, err, seal.ErrOpen)
	assert.ErrorContains(t, err, "2 stored pair(s) cannot be read")
	for _, i := range []int{0, 3} {
		got, err := ps.Lookup(ctx, pairs[i].PID)
		require.NoError(t, err)
		assert.Equal(t, pairs[i].PPS.Reveal(), got.PPS.Reveal())
	}
}

// A pair whose PID is stored in another form (lower case) still reads, and
// Reseal re-seals it: the update goes by the row, not by the PID's canonical
// form (which never matched, so the pair was reported changed at every run).
func TestPairResealRowWithLowerCasePID(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	ps := s.PSK()
	pairs, err := pskx.GenerateBatch(rand.Reader, 2)
	require.NoError(t, err)
	require.NoError(t, ps.Put(ctx, pairs...))
	_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET pid = lower(pid) WHERE pid = ?`, pairs[1].PID.Compact())
	require.NoError(t, err)
	n, err := ps.Reseal(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	got, err := pskx.CollectPairs(ps.Pairs(ctx, pskx.PairFilter{}))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, pairs[1].PPS.Reveal(), got[1].PPS.Reveal())
}
