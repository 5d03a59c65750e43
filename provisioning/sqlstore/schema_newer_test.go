package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// A database migrated by a newer amtkit is refused with an error a caller
// (a readiness probe, an orchestrator that rolls back an upgrade) can match,
// not only read: ErrSchemaTooNew, naming both versions.
func TestOpenRefusesNewerSchemaTyped(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "newer.db")
	s := openSQLite(t, path)
	_, err := s.DB().ExecContext(ctx, "INSERT INTO amtkit_schema (version, name, applied) VALUES (999, 'future', 0)")
	require.NoError(t, err)
	db, err := sql.Open("sqlite", sqliteDSN(path))
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
	require.ErrorIs(t, err, sqlstore.ErrSchemaTooNew)
	assert.ErrorContains(t, err, "schema 999")
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, 999, v, "left as it was")
}
