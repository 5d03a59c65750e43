package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// The time a migration was applied is read from Options.Now, as every
// other time the store writes: a test (or a replay) with an injected clock
// sees its own time in amtkit_schema.
func TestMigrationAppliedByInjectedClock(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "amtkit.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t), Now: func() time.Time { return at }})
	require.NoError(t, err)
	rows, err := db.QueryContext(ctx, "SELECT applied FROM amtkit_schema")
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var applied int64
		require.NoError(t, rows.Scan(&applied))
		assert.Equal(t, at.Unix(), applied)
		n++
	}
	require.NoError(t, rows.Err())
	assert.Positive(t, n)
}
