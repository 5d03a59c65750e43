package sqlstore_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/seal"
)

// A sealed PPS is bound to its PID (the sealing's associated data): one
// copied from another pair's row, by someone with write access to the
// database, does not open under the row's PID, so a lookup refuses the row
// rather than hand the provisioner another pair's PPS for it.
func TestPairSealedPPSMovedToAnotherRowRefused(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	ps := s.PSK()
	pairs, err := pskx.GenerateBatch(rand.Reader, 2)
	require.NoError(t, err)
	require.NoError(t, ps.Put(ctx, pairs...))
	_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_psk_pairs SET pps = (SELECT pps FROM amtkit_psk_pairs WHERE pid = ?) WHERE pid = ?`,
		pairs[0].PID.Compact(), pairs[1].PID.Compact())
	require.NoError(t, err)
	_, err = ps.Lookup(ctx, pairs[1].PID)
	require.ErrorIs(t, err, seal.ErrOpen)
	assert.NotContains(t, err.Error(), pairs[0].PPS.Reveal())
	got, err := ps.Lookup(ctx, pairs[0].PID)
	require.NoError(t, err, "the pair whose PPS was copied is untouched")
	assert.True(t, got.PPS.Equal(pairs[0].PPS))
}
