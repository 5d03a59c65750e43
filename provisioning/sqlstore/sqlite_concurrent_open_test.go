package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// Several provisioners start at once on a SQLite file that does not exist
// yet (each its own pool, as separate processes): every Open succeeds and
// the migrations are applied exactly once. Before Open waited for it, the
// DSN's journal_mode(WAL) failed the first connection of some of them with
// SQLITE_BUSY (CI, about one connection in a hundred under load).
func TestSQLiteConcurrentOpenOfNewFile(t *testing.T) {
	ctx := context.Background()
	ms, err := sqlstore.Migrations(sqlstore.SQLite)
	require.NoError(t, err)
	for round := range 40 {
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

// busyConnector fails every connection with a driver error whose Code is
// code, as modernc.org/sqlite's do.
type busyConnector struct {
	code  int
	tries atomic.Int32
}

type codedError int

func (e codedError) Error() string { return fmt.Sprintf("database is locked (%d)", int(e)) }
func (e codedError) Code() int     { return int(e) }

func (c *busyConnector) Connect(context.Context) (driver.Conn, error) {
	c.tries.Add(1)
	return nil, codedError(c.code)
}
func (c *busyConnector) Driver() driver.Driver { return nil }

// Open's wait for a busy new file is bounded, goes through Options.Sleep and
// ends with ctx; any other error is returned at once.
func TestSQLiteOpenBusyBounded(t *testing.T) {
	for _, tt := range []struct {
		name      string
		code      int
		cancel    bool
		wantTries int32
	}{
		{"busy until the last try", 5, false, 25},
		{"an extended busy code", 5 | 1<<8, false, 25},
		{"busy, ctx ends", 5, true, 1},
		{"another error", 14, false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &busyConnector{code: tt.code}
			db := sql.OpenDB(c)
			t.Cleanup(func() { db.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var waited time.Duration
			sleep := func(ctx context.Context, d time.Duration) error {
				waited += d
				if tt.cancel {
					cancel()
				}
				return ctx.Err()
			}
			_, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t), Sleep: sleep})
			require.Error(t, err)
			if tt.cancel {
				require.ErrorIs(t, err, context.Canceled)
			} else {
				var ce codedError
				require.ErrorAs(t, err, &ce)
			}
			// database/sql tries a failing connect itself as well.
			assert.LessOrEqual(t, c.tries.Load(), tt.wantTries*3)
			assert.GreaterOrEqual(t, c.tries.Load(), tt.wantTries)
			if tt.wantTries == 25 {
				assert.InDelta(t, 2*time.Second, waited, float64(200*time.Millisecond), "about two seconds of waits")
			}
		})
	}
}
