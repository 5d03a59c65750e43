package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// hookConnector opens SQLite connections whose ExecContext runs before, once,
// ahead of the first statement that contains match: another writer between a
// store's two statements.
type hookConnector struct {
	drv    driver.Driver
	dsn    string
	mu     sync.Mutex
	match  string
	before func()
}

func (c *hookConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &hookConn{Conn: conn, c: c}, nil
}

func (c *hookConnector) Driver() driver.Driver { return c.drv }

func (c *hookConnector) arm(match string, f func()) {
	c.mu.Lock()
	c.match, c.before = match, f
	c.mu.Unlock()
}

type hookConn struct {
	driver.Conn
	c *hookConnector
}

func (h *hookConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	h.c.mu.Lock()
	f := h.c.before
	if f != nil && strings.Contains(query, h.c.match) {
		h.c.before = nil
	} else {
		f = nil
	}
	h.c.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (h *hookConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return h.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (h *hookConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return h.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// A create's insert lost to a write that left no row — the tombstone it read
// purged, or the device created and deleted by another provisioner between
// its read of the tombstone and its insert — is tried again with the
// tombstone read afresh, as KVStore does. Before, it failed with a conflict
// between "none" and "none" (ConflictError{0, 0}).
func TestCreateRetriesAnInsertThatLeftNoRow(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		tombstone   bool // the device was deleted before the create
		inBetween   func(t *testing.T, other *sqlstore.Store, raw *sql.DB, u amt.UUID)
		wantVersion uint64
	}{
		{"tombstone purged", true, func(t *testing.T, _ *sqlstore.Store, raw *sql.DB, u amt.UUID) {
			_, err := raw.Exec("DELETE FROM amtkit_device_tombstones WHERE uuid = ?", u.String())
			require.NoError(t, err)
		}, 1},
		{"created and deleted", false, func(t *testing.T, other *sqlstore.Store, _ *sql.DB, u amt.UUID) {
			o := &provisioning.DeviceRecord{UUID: u}
			require.NoError(t, other.Save(ctx, o))
			require.NoError(t, other.Delete(ctx, u, o.Version))
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "amtkit.db")
			other := openSQLite(t, path) // creates the schema; another provisioner
			raw, err := sql.Open("sqlite", sqliteDSN(path))
			require.NoError(t, err)
			t.Cleanup(func() { raw.Close() })
			hc := &hookConnector{drv: raw.Driver(), dsn: sqliteDSN(path)}
			db := sql.OpenDB(hc)
			t.Cleanup(func() { db.Close() })
			s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
			require.NoError(t, err)

			u := amt.UUID{0x5c, 0x1}
			if tc.tombstone {
				r := &provisioning.DeviceRecord{UUID: u}
				require.NoError(t, s.Save(ctx, r))
				require.NoError(t, s.Delete(ctx, u, r.Version))
			}
			hc.arm("INSERT INTO amtkit_devices", func() { tc.inBetween(t, other, raw, u) })
			r := &provisioning.DeviceRecord{UUID: u, LastError: "created"}
			require.NoError(t, s.Save(ctx, r))
			assert.Equal(t, tc.wantVersion, r.Version)
			got, err := s.Load(ctx, u)
			require.NoError(t, err)
			assert.Equal(t, "created", got.LastError)
			assert.Equal(t, tc.wantVersion, got.Version)
		})
	}
}
