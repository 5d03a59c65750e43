package sqlstore_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/pskx"
)

// SQLite does not enforce column types: a pair row whose integer column was
// set to text by someone with write access to the database fails Scan in
// rows(), which ends PairStore.Reseal's walk — every later pair stays under
// the old key, the failure Reseal now claims to pass over ("an oversized or
// unparsable value").
func TestPairResealPassesOverRowThatDoesNotScan(t *testing.T) {
	ctx := context.Background()
	for _, set := range []string{`version = 'x'`, `added = 'x'`, `used = 'x'`, `used_at = 'x'`} {
		t.Run(set, func(t *testing.T) {
			s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
			ps := s.PSK()
			pairs, err := pskx.GenerateBatch(rand.Reader, 4)
			require.NoError(t, err)
			require.NoError(t, ps.Put(ctx, pairs...))
			_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET `+set+` WHERE pid = ?`, pairs[1].PID.Compact())
			require.NoError(t, err)

			n, err := ps.Reseal(ctx)
			assert.Equal(t, 3, n, "the three readable pairs are re-sealed")
			assert.ErrorContains(t, err, "1 stored pair(s) cannot be read")
		})
	}
}
