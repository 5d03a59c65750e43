package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
	"github.com/amtkit/amtkit/provisioning/storetest"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/seal"
)

func testSealer(t testing.TB) seal.Sealer {
	s, err := seal.NewAESGCM(seal.Keyring{Primary: seal.Key{ID: "test-1", Secret: bytes.Repeat([]byte{3}, seal.KeySize)}})
	require.NoError(t, err)
	return s
}

// sqliteDSN is the DSN amtkit recommends for modernc.org/sqlite: wait for
// locks instead of failing, write-ahead logging, and full fsync.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
}

func openSQLite(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := sqlstore.Open(context.Background(), db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
	require.NoError(t, err)
	return s
}

func TestSQLiteConformance(t *testing.T) {
	var mu sync.Mutex
	files := map[provisioning.Store]string{}
	open := func(t *testing.T, path string) provisioning.Store {
		s := openSQLite(t, path)
		mu.Lock()
		files[s] = path
		mu.Unlock()
		return s
	}
	file := func(s provisioning.Store) string {
		mu.Lock()
		defer mu.Unlock()
		return files[s]
	}
	storetest.Run(t, storetest.Harness{
		New:    func(t *testing.T) provisioning.Store { return open(t, filepath.Join(t.TempDir(), "amtkit.db")) },
		Reopen: func(t *testing.T, s provisioning.Store) provisioning.Store { return open(t, file(s)) },
		// The raw files: the database and its write-ahead log, free pages and all.
		Persisted: func(t *testing.T, s provisioning.Store) [][]byte {
			var out [][]byte
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				b, err := os.ReadFile(file(s) + suffix)
				if err == nil {
					out = append(out, b)
				}
			}
			return out
		},
	})
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "x.db")))
	require.NoError(t, err)
	defer db.Close()
	var ce *provisioning.ConfigError
	_, err = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite})
	assert.ErrorAs(t, err, &ce, "no sealer")
	_, err = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: "mysql", Sealer: testSealer(t)})
	assert.ErrorAs(t, err, &ce, "unknown dialect")
	_, err = sqlstore.Open(ctx, nil, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
	assert.ErrorAs(t, err, &ce, "no database")
}

// Opening twice migrates once; a database with a newer schema is refused.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openSQLite(t, path)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	ms, err := sqlstore.Migrations(sqlstore.SQLite)
	require.NoError(t, err)
	assert.Equal(t, len(ms), v)
	pg, err := sqlstore.Migrations(sqlstore.PostgreSQL)
	require.NoError(t, err)
	assert.Equal(t, len(ms), len(pg), "both dialects have every migration")

	// Several provisioners starting on one file.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openSQLite(t, path)
		}()
	}
	wg.Wait()
	again, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, v, again)

	_, err = s.DB().ExecContext(ctx, "INSERT INTO amtkit_schema (version, name, applied) VALUES (999, 'future', 0)")
	require.NoError(t, err)
	db, err := sql.Open("sqlite", sqliteDSN(path))
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
	assert.ErrorContains(t, err, "newer than this amtkit knows")
}

func TestSQLitePairStoreConformance(t *testing.T) {
	var mu sync.Mutex
	files := map[pskx.Store]string{}
	open := func(t *testing.T, path string) pskx.Store {
		s := openSQLite(t, path).PSK()
		mu.Lock()
		files[s] = path
		mu.Unlock()
		return s
	}
	file := func(s pskx.Store) string {
		mu.Lock()
		defer mu.Unlock()
		return files[s]
	}
	storetest.RunPairStore(t, storetest.PairHarness{
		New:    func(t *testing.T) pskx.Store { return open(t, filepath.Join(t.TempDir(), "psk.db")) },
		Reopen: func(t *testing.T, s pskx.Store) pskx.Store { return open(t, file(s)) },
		Persisted: func(t *testing.T, s pskx.Store) [][]byte {
			var out [][]byte
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				if b, err := os.ReadFile(file(s) + suffix); err == nil {
					out = append(out, b)
				}
			}
			return out
		},
	})
}

// A key rotation: the new key seals, the old one opens until everything is
// re-sealed — records and PSK pairs — and then it can go.
func TestSQLiteKeyRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rotate.db")
	oldKey := seal.Key{ID: "2025", Secret: bytes.Repeat([]byte{1}, seal.KeySize)}
	newKey := seal.Key{ID: "2026", Secret: bytes.Repeat([]byte{2}, seal.KeySize)}
	open := func(k seal.Keyring) *sqlstore.Store {
		s, err := seal.NewAESGCM(k)
		require.NoError(t, err)
		db, err := sql.Open("sqlite", sqliteDSN(path))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		st, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: s})
		require.NoError(t, err)
		return st
	}
	before := open(seal.Keyring{Primary: oldKey})
	for i := 0; i < 3; i++ {
		r, err := storetest.Fill(amt.UUID{byte(i + 1)}, i)
		require.NoError(t, err)
		require.NoError(t, before.Save(ctx, r))
	}
	pairs, err := pskx.GenerateBatch(nil, 3)
	require.NoError(t, err)
	require.NoError(t, before.PSK().Put(ctx, pairs...))

	rotating := open(seal.Keyring{Primary: newKey, Previous: []seal.Key{oldKey}})
	n, err := provisioning.Reseal(ctx, rotating)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = rotating.PSK().Reseal(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	after := open(seal.Keyring{Primary: newKey})
	recs, err := provisioning.CollectRecords(after.Records(ctx, provisioning.Filter{}))
	require.NoError(t, err, "every record opens without the retired key")
	assert.Len(t, recs, 3)
	got, err := pskx.CollectPairs(after.PSK().Pairs(ctx, pskx.PairFilter{}))
	require.NoError(t, err, "every pair opens without the retired key")
	require.Len(t, got, 3)
	assert.True(t, got[0].PPS.Equal(pairs[0].PPS))
}

// A SQLite database opened without a busy timeout is refused with what to
// put in the DSN: concurrent writes would fail with SQLITE_BUSY (found by
// review: 765 of 1,600 concurrent writes failed).
func TestOpenRefusesSQLiteWithoutBusyTimeout(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlstore.Open(context.Background(), db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
	var ce *provisioning.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Problem, "busy_timeout(10000)")
}
