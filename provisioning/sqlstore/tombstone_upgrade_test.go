package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// During a rolling upgrade a provisioner still running the schema-4 code
// (it opened the database before migration 5 and keeps running) writes
// tombstones the old way: without the deleted column, which then defaults
// to 0 (1970). The next Delete by an upgraded provisioner purges such a
// tombstone at once, though the device was deleted a moment ago: created
// again it starts over at version 1, and a writer still holding version 1..7
// of it can win its compare-and-swap.
func TestTombstoneWrittenByOlderProvisionerKept(t *testing.T) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "amtkit.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	olderProvisionerTombstone(t, db, sqlstore.SQLite)
}

// olderProvisionerTombstone runs the test on db (SQLite or PostgreSQL).
func olderProvisionerTombstone(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: d, Sealer: testSealer(t), Now: time.Now})
	require.NoError(t, err)

	x, y := amt.UUID{0x1}, amt.UUID{0x2}
	// x, at version 7, deleted just now by a schema-4 provisioner (its deleteRow's statement).
	q := `INSERT INTO amtkit_device_tombstones (uuid, version) VALUES (?, ?)
		ON CONFLICT (uuid) DO UPDATE SET version = excluded.version`
	if d == sqlstore.PostgreSQL {
		q = strings.NewReplacer("(?, ?)", "($1, $2)").Replace(q)
	}
	_, err = db.ExecContext(ctx, q, x.String(), 7)
	require.NoError(t, err)

	// An upgraded provisioner deletes another device.
	r := &provisioning.DeviceRecord{UUID: y}
	require.NoError(t, s.Save(ctx, r))
	require.NoError(t, s.Delete(ctx, y, r.Version))

	// x is created again a moment after its delete: it must go on from 7.
	rx := &provisioning.DeviceRecord{UUID: x}
	require.NoError(t, s.Save(ctx, rx))
	assert.EqualValues(t, 8, rx.Version, "the tombstone of a device deleted a moment ago was purged")
}
