//go:build interop

package sqlstore_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// withIsolation returns dsn with the connections' default isolation level
// set (what ALTER DATABASE … SET default_transaction_isolation does for a
// whole database; pgx passes unknown URL parameters as run-time parameters).
func withIsolation(t *testing.T, dsn, level string) string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("default_transaction_isolation", level)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

func rawDB(t *testing.T, dsn string) *sql.DB {
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// waitLockWaits waits until at least n lock requests are waiting.
func waitLockWaits(t *testing.T, raw *sql.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var k int
		require.NoError(t, raw.QueryRow("SELECT count(*) FROM pg_locks WHERE NOT granted").Scan(&k))
		if k >= n {
			return
		}
		require.True(t, time.Now().Before(deadline), "fewer than %d lock waits", n)
		time.Sleep(5 * time.Millisecond)
	}
}

// Every write is one statement at the server's default isolation, and the
// compare-and-swaps and the lease upsert rely on READ COMMITTED: under
// REPEATABLE READ or SERIALIZABLE a lost race was a serialization failure
// (40001) instead of a conflict, and two provisioners starting together ran
// the migrations twice. Open refuses such a database, saying what to set.
func TestInteropOpenRefusesStricterIsolation(t *testing.T) {
	ctx := context.Background()
	for _, level := range []string{"repeatable read", "serializable"} {
		t.Run(level, func(t *testing.T) {
			db := rawDB(t, withIsolation(t, pgSchema(t), level))
			_, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
			var ce *provisioning.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Contains(t, ce.Problem, "read committed")
		})
	}
}

// Two provisioners start together on a new database: both Opens wait for the
// migration lock, and the second, whose snapshot must follow the first's
// commit (migrate's own READ COMMITTED), migrates nothing.
func TestInteropMigrateConcurrent(t *testing.T) {
	ctx := context.Background()
	dsn := pgSchema(t)
	raw := rawDB(t, dsn)
	// Hold the migration lock, so that both Opens are queued behind it.
	conn, err := raw.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SELECT pg_advisory_lock(97109116107105116)")
	require.NoError(t, err)

	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { db.Close() })
			_, err = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
			errs <- err
		}()
	}
	waitLockWaits(t, raw, 2)
	_, err = conn.ExecContext(ctx, "SELECT pg_advisory_unlock(97109116107105116)")
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		require.NoError(t, <-errs, "Open %d of two provisioners starting together", i+1)
	}
}
