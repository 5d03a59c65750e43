package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// Several provisioners start at once on a SQLite file that does not exist
// yet (each its own pool, as separate processes): every Open succeeds and
// the migrations are applied exactly once.
func TestSQLiteConcurrentOpenOfNewFile(t *testing.T) {
	ctx := context.Background()
	ms, err := sqlstore.Migrations(sqlstore.SQLite)
	require.NoError(t, err)
	for round := range 10 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("new-%d.db", round))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		stores := make([]*sqlstore.Store, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sql.Open("sqlite", sqliteDSN(path))
				if err != nil {
					errs[i] = err
					return
				}
				t.Cleanup(func() { db.Close() })
				stores[i], errs[i] = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d: Open %d", round, i)
		}
		var rows, versions int
		require.NoError(t, stores[0].DB().QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT version) FROM amtkit_schema").Scan(&rows, &versions))
		assert.Equal(t, len(ms), rows, "each migration recorded once")
		assert.Equal(t, len(ms), versions)
	}
}
