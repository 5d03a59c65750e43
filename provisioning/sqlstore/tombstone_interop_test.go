//go:build interop

package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// The tombstone retention on PostgreSQL (the purge's FOR UPDATE SKIP LOCKED
// and the bigint column of migration 5).
func TestInteropTombstoneRetention(t *testing.T) {
	tombstoneStoreTests(t, func(t *testing.T, o sqlstore.Options) *sqlstore.Store {
		db, err := sql.Open("pgx", pgSchema(t))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		o.Dialect, o.Sealer = sqlstore.PostgreSQL, testSealer(t)
		s, err := sqlstore.Open(context.Background(), db, o)
		require.NoError(t, err)
		return s
	})
}

// A tombstone a provisioner of schema 4 writes after the migration (no
// deleted column in its INSERT) is kept: on PostgreSQL the column's default
// gives it the time of its insert.
func TestInteropTombstoneWrittenByOlderProvisionerKept(t *testing.T) {
	db, err := sql.Open("pgx", pgSchema(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	olderProvisionerTombstone(t, db, sqlstore.PostgreSQL)
}

func TestInteropTombstoneRewrittenByOlderProvisionerKept(t *testing.T) {
	db, err := sql.Open("pgx", pgSchema(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	olderProvisionerRewrite(t, db, sqlstore.PostgreSQL)
}
