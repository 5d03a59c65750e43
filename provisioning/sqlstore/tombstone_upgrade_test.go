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

// A provisioner of schema 4 deletes a device again after the migration: its
// upsert sets the tombstone's version and leaves the time of the earlier
// delete. The tombstone must not be purged as if that delete were old
// (found by review; migration 6).
func TestTombstoneRewrittenByOlderProvisionerKept(t *testing.T) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "amtkit.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	olderProvisionerRewrite(t, db, sqlstore.SQLite)
}

func olderProvisionerRewrite(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
	ctx := context.Background()
	// The store's clock ends an hour behind the server's (PostgreSQL's
	// trigger stamps with the server's time).
	clock := &testClock{t: time.Now().Add(-3 * time.Hour)}
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: d, Sealer: testSealer(t), Now: clock.now, TombstoneRetention: time.Hour})
	require.NoError(t, err)
	x, y := amt.UUID{0x1}, amt.UUID{0x2}

	r := &provisioning.DeviceRecord{UUID: x}
	require.NoError(t, s.Save(ctx, r))
	require.NoError(t, s.Delete(ctx, x, r.Version))
	clock.advance(2 * time.Hour)
	r = &provisioning.DeviceRecord{UUID: x}
	for range 6 {
		require.NoError(t, s.Save(ctx, r))
	}
	require.EqualValues(t, 7, r.Version)

	// The schema-4 code's Delete of x at version 7.
	q1 := "DELETE FROM amtkit_devices WHERE uuid = ? AND version = ?"
	q2 := `INSERT INTO amtkit_device_tombstones (uuid, version) VALUES (?, ?)
		ON CONFLICT (uuid) DO UPDATE SET version = excluded.version`
	if d == sqlstore.PostgreSQL {
		q1 = strings.NewReplacer("uuid = ?", "uuid = $1", "version = ?", "version = $2").Replace(q1)
		q2 = strings.NewReplacer("(?, ?)", "($1, $2)").Replace(q2)
	}
	_, err = db.ExecContext(ctx, q1, x.String(), 7)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, q2, x.String(), 7)
	require.NoError(t, err)

	ry := &provisioning.DeviceRecord{UUID: y}
	require.NoError(t, s.Save(ctx, ry))
	require.NoError(t, s.Delete(ctx, y, ry.Version))

	rx := &provisioning.DeviceRecord{UUID: x}
	require.NoError(t, s.Save(ctx, rx))
	assert.EqualValues(t, 8, rx.Version, "the tombstone an older provisioner rewrote a moment ago was purged")
}
