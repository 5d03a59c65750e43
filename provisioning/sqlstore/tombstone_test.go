package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tombstoneStoreTests runs the tombstone retention tests on a store opener
// (SQLite here, PostgreSQL in the interop tests).
func tombstoneStoreTests(t *testing.T, open func(t *testing.T, o sqlstore.Options) *sqlstore.Store) {
	ctx := context.Background()
	tombstones := func(t *testing.T, s *sqlstore.Store) []string {
		rows, err := s.DB().QueryContext(ctx, "SELECT uuid FROM amtkit_device_tombstones ORDER BY uuid")
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var u string
			require.NoError(t, rows.Scan(&u))
			out = append(out, u)
		}
		require.NoError(t, rows.Err())
		return out
	}
	saveDelete := func(t *testing.T, s *sqlstore.Store, u amt.UUID, saves int) {
		r := &provisioning.DeviceRecord{UUID: u}
		for range saves {
			require.NoError(t, s.Save(ctx, r))
		}
		require.NoError(t, s.Delete(ctx, u, r.Version))
	}
	a, b, c := amt.UUID{0xa}, amt.UUID{0xb}, amt.UUID{0xc}

	t.Run("expired tombstones go with a later delete", func(t *testing.T) {
		clock := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		s := open(t, sqlstore.Options{Now: clock.now, TombstoneRetention: 24 * time.Hour})
		saveDelete(t, s, a, 3)
		clock.advance(23 * time.Hour)
		saveDelete(t, s, b, 1)
		assert.Equal(t, []string{a.String(), b.String()}, tombstones(t, s), "within the retention both stay")

		// Within the retention, a device created again goes on from its
		// tombstone: a writer holding version 1..3 of it still loses.
		r := &provisioning.DeviceRecord{UUID: a}
		require.NoError(t, s.Save(ctx, r))
		assert.EqualValues(t, 4, r.Version)
		require.NoError(t, s.Delete(ctx, a, r.Version))

		clock.advance(25 * time.Hour) // a's tombstone (rewritten at 23 h) and b's are now past 24 h
		saveDelete(t, s, c, 1)
		assert.Equal(t, []string{c.String()}, tombstones(t, s))

		// Past the retention a device created again starts over.
		r = &provisioning.DeviceRecord{UUID: b}
		require.NoError(t, s.Save(ctx, r))
		assert.EqualValues(t, 1, r.Version)
	})
	t.Run("leases stay: tokens only grow", func(t *testing.T) {
		// A session takes the lease of a device deleted long ago, finds no
		// record and stalls past its lease; a later delete purges the
		// tombstone. Had the lease row gone too, the device's tokens would
		// start again at 1 and the stale holder's fenced create would win
		// once its token came round (found by review).
		clock := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		s := open(t, sqlstore.Options{Now: clock.now, TombstoneRetention: 24 * time.Hour})
		d, other := amt.UUID{0xd}, amt.UUID{0xe}
		l, err := s.AcquireLease(ctx, d, "p1", clock.now(), time.Minute)
		require.NoError(t, err)
		r := &provisioning.DeviceRecord{UUID: d}
		require.NoError(t, s.SaveFenced(ctx, r, l))
		require.NoError(t, s.Delete(ctx, d, r.Version))
		require.NoError(t, s.ReleaseLease(ctx, l))

		clock.advance(25 * time.Hour)
		stale, err := s.AcquireLease(ctx, d, "p1", clock.now(), time.Minute)
		require.NoError(t, err)
		clock.advance(2 * time.Minute)
		saveDelete(t, s, other, 1) // purges d's tombstone
		assert.Equal(t, []string{other.String()}, tombstones(t, s))

		for i := 0; i < int(stale.Token); i++ {
			cur, err := s.AcquireLease(ctx, d, "p1", clock.now(), time.Hour)
			require.NoError(t, err)
			assert.Greater(t, cur.Token, stale.Token, "token %d of d handed out again", cur.Token)
			if i+1 < int(stale.Token) {
				require.NoError(t, s.ReleaseLease(ctx, cur))
			}
		}
		err = s.SaveFenced(ctx, &provisioning.DeviceRecord{UUID: d, LastError: "stale writer"}, stale)
		assert.ErrorIs(t, err, provisioning.ErrLeaseLost, "a stale lease holder's fenced create won over the new holder")
	})
	t.Run("negative retention keeps them", func(t *testing.T) {
		clock := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		s := open(t, sqlstore.Options{Now: clock.now, TombstoneRetention: -1})
		saveDelete(t, s, a, 1)
		clock.advance(10 * 365 * 24 * time.Hour)
		saveDelete(t, s, b, 1)
		assert.Equal(t, []string{a.String(), b.String()}, tombstones(t, s))
	})
	t.Run("default retention is 30 days", func(t *testing.T) {
		clock := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		s := open(t, sqlstore.Options{Now: clock.now})
		saveDelete(t, s, a, 1)
		clock.advance(provisioning.DefaultTombstoneRetention - time.Minute)
		saveDelete(t, s, b, 1)
		assert.Len(t, tombstones(t, s), 2)
		clock.advance(2 * time.Minute)
		saveDelete(t, s, c, 1)
		assert.Equal(t, []string{b.String(), c.String()}, tombstones(t, s))
	})
}

func TestTombstoneRetention(t *testing.T) {
	tombstoneStoreTests(t, func(t *testing.T, o sqlstore.Options) *sqlstore.Store {
		db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "amtkit.db")))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		o.Dialect, o.Sealer = sqlstore.SQLite, testSealer(t)
		s, err := sqlstore.Open(context.Background(), db, o)
		require.NoError(t, err)
		return s
	})
}

// A database at schema 4 keeps its tombstones through migration 5: each gets
// the migration's time, so it is kept a full retention from the upgrade.
func TestTombstonesKeptThroughMigration5(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "amtkit.db")))
	require.NoError(t, err)
	defer db.Close()
	ms, err := sqlstore.Migrations(sqlstore.SQLite)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "CREATE TABLE amtkit_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)")
	require.NoError(t, err)
	for _, m := range ms[:4] {
		_, err := db.ExecContext(ctx, m.SQL)
		require.NoError(t, err, m.Name)
		_, err = db.ExecContext(ctx, "INSERT INTO amtkit_schema VALUES (?, ?, 0)", m.Version, m.Name)
		require.NoError(t, err)
	}
	old := amt.UUID{0x0d}
	_, err = db.ExecContext(ctx, "INSERT INTO amtkit_device_tombstones (uuid, version) VALUES (?, 7)", old.String())
	require.NoError(t, err)

	before := time.Now().Add(-time.Second)
	clock := &testClock{t: time.Now()}
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t), Now: clock.now, TombstoneRetention: time.Hour})
	require.NoError(t, err)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(ms), v)
	var deleted int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT deleted FROM amtkit_device_tombstones WHERE uuid = ?", old.String()).Scan(&deleted))
	assert.False(t, time.Unix(0, deleted).Before(before), "the migration's time, not zero")

	// Still inside its retention: a record created again goes on from it.
	r := &provisioning.DeviceRecord{UUID: old}
	require.NoError(t, s.Save(ctx, r))
	assert.EqualValues(t, 8, r.Version)
}
