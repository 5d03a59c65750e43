//go:build interop

package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL through pgx, registered as "pgx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testenv"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
	"github.com/amtkit/amtkit/provisioning/storetest"
	"github.com/amtkit/amtkit/pskx"
)

// PostgresDSNEnv names the database the PostgreSQL tests use; .ci/run starts a
// throw-away cluster and sets it. The tests create a schema of their own per
// store and drop it afterwards.
const PostgresDSNEnv = "AMTKIT_POSTGRES_DSN"

// PostgresDataDirEnv, when set (by .ci/run) to the cluster's data directory,
// makes the plaintext scan read the cluster's files as well: tables, indexes
// and the write-ahead log.
const PostgresDataDirEnv = "AMTKIT_POSTGRES_DATADIR"

func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresDSNEnv)
	if dsn == "" {
		if testenv.InteropRequired() {
			t.Fatalf("PostgreSQL is required (AMTKIT_REQUIRE_INTEROP=1) but %s is not set", PostgresDSNEnv)
		}
		t.Skipf("%s not set: no PostgreSQL to test against", PostgresDSNEnv)
	}
	return dsn
}

// pgSchema creates a schema of its own for one test and returns a DSN whose
// connections use it.
func pgSchema(t testing.TB) string {
	t.Helper()
	dsn := postgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "amtkit_test_" + hex.EncodeToString(b[:])
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens a connection pool of its own (as a separate provisioner
// process would) on the schema of dsn.
func openPostgres(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	// PostgreSQL serves max_connections (100 by default) in all: each of
	// three provisioners takes a share.
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	s, err := sqlstore.Open(context.Background(), db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
	require.NoError(t, err)
	return s
}

func TestInteropPostgresConformance(t *testing.T) {
	var mu sync.Mutex
	dsns := map[provisioning.Store]string{}
	open := func(t *testing.T, dsn string) provisioning.Store {
		s := openPostgres(t, dsn)
		mu.Lock()
		dsns[s] = dsn
		mu.Unlock()
		return s
	}
	dsnOf := func(s provisioning.Store) string {
		mu.Lock()
		defer mu.Unlock()
		return dsns[s]
	}
	storetest.Run(t, storetest.Harness{
		New:    func(t *testing.T) provisioning.Store { return open(t, pgSchema(t)) },
		Reopen: func(t *testing.T, s provisioning.Store) provisioning.Store { return open(t, dsnOf(s)) },
		Persisted: func(t *testing.T, s provisioning.Store) [][]byte {
			return pgPersisted(t, s.(*sqlstore.Store).DB())
		},
	})
}

// pgPersisted returns every row of amtkit's tables, each column as the
// server writes it in text form and bytea columns raw; and, when the data
// directory is known, every file of the cluster after a checkpoint.
func pgPersisted(t *testing.T, db *sql.DB) [][]byte {
	var out [][]byte
	for _, q := range []string{
		"SELECT t::text FROM amtkit_devices t", "SELECT record FROM amtkit_devices", "SELECT t::text FROM amtkit_leases t",
		"SELECT t::text FROM amtkit_psk_pairs t", "SELECT pps FROM amtkit_psk_pairs", "SELECT COALESCE(mebx_password, ''::bytea) FROM amtkit_psk_pairs",
	} {
		rows, err := db.Query(q)
		require.NoError(t, err)
		for rows.Next() {
			var b []byte
			require.NoError(t, rows.Scan(&b))
			out = append(out, b)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	if dir := os.Getenv(PostgresDataDirEnv); dir != "" {
		if _, err := db.Exec("CHECKPOINT"); err != nil {
			t.Logf("CHECKPOINT: %v (the files are scanned as they are)", err)
		}
		n := 0
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, b)
				n++
			}
			return nil
		})
		require.NoError(t, err)
		t.Logf("scanning %d files of the cluster in %s as well", n, dir)
	}
	return out
}

func TestInteropPostgresPairStoreConformance(t *testing.T) {
	var mu sync.Mutex
	type handle struct {
		store *sqlstore.Store
		dsn   string
	}
	handles := map[pskx.Store]handle{}
	open := func(t *testing.T, dsn string) pskx.Store {
		s := openPostgres(t, dsn)
		p := s.PSK()
		mu.Lock()
		handles[p] = handle{s, dsn}
		mu.Unlock()
		return p
	}
	of := func(p pskx.Store) handle {
		mu.Lock()
		defer mu.Unlock()
		return handles[p]
	}
	storetest.RunPairStore(t, storetest.PairHarness{
		New:       func(t *testing.T) pskx.Store { return open(t, pgSchema(t)) },
		Reopen:    func(t *testing.T, p pskx.Store) pskx.Store { return open(t, of(p).dsn) },
		Persisted: func(t *testing.T, p pskx.Store) [][]byte { return pgPersisted(t, of(p).store.DB()) },
	})
}

// postgresStores opens n stores, each with its own connection pool, on one
// new schema.
func postgresStores(t *testing.T, n int) []provisioning.Store {
	dsn := pgSchema(t)
	var stores []provisioning.Store
	for i := 0; i < n; i++ {
		stores = append(stores, openPostgres(t, dsn))
	}
	return stores
}

func TestInteropPostgresThreeProvisioners(t *testing.T) {
	runThreeProvisioners(t, postgresStores(t, 3), 300)
}

func TestInteropPostgresKillOneProvisioner(t *testing.T) {
	runKillOne(t, postgresStores(t, 3), 60)
}

func TestInteropPostgresKillOnProvisioned(t *testing.T) {
	runKillOnProvisioned(t, postgresStores(t, 3), 30)
}

// A create that runs while a Delete of the same device is between its DELETE
// and its commit must go on from the tombstone that Delete writes, not from
// the one before it: otherwise the new record takes a version the device had
// before, and a writer still holding that version wins its compare-and-swap.
// The test holds Delete there by locking the device's tombstone row (Delete's
// second statement), starts the create, and only then lets Delete commit; the
// create then goes on from Delete's tombstone.
// Before the fix, the create read the old tombstone and wrote version 2 of a
// device that had reached version 3 (found by the store review; it was a
// documented gap).
func TestInteropPostgresCreateRacingDelete(t *testing.T) {
	ctx := context.Background()
	dsn := pgSchema(t)
	deleter, creator := openPostgres(t, dsn), openPostgres(t, dsn)
	u := amt.UUID{0x5a, 0x11, 0x0c}
	rec := func() *provisioning.DeviceRecord {
		return &provisioning.DeviceRecord{UUID: u, State: provisioning.StateNew, LastSeen: time.Unix(1_800_000_000, 0).UTC()}
	}
	// Versions 1, deleted (tombstone 1), then 2 and 3.
	r := rec()
	require.NoError(t, deleter.Save(ctx, r))
	require.NoError(t, deleter.Delete(ctx, u, r.Version))
	r = rec()
	require.NoError(t, deleter.Save(ctx, r))
	require.NoError(t, deleter.Save(ctx, r))
	require.Equal(t, uint64(3), r.Version)

	raw, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	waiting := func() int {
		var n int
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT count(*) FROM pg_locks WHERE NOT granted").Scan(&n))
		return n
	}
	until := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for waiting() < n {
			require.True(t, time.Now().Before(deadline), "fewer than %d lock waits", n)
			time.Sleep(5 * time.Millisecond)
		}
	}
	hold, err := raw.BeginTx(ctx, nil)
	require.NoError(t, err)
	var last int64
	require.NoError(t, hold.QueryRowContext(ctx, "SELECT version FROM amtkit_device_tombstones WHERE uuid = $1 FOR UPDATE", u.String()).Scan(&last))
	require.Equal(t, int64(1), last)

	deleted := make(chan error, 1)
	go func() { deleted <- deleter.Delete(ctx, u, 3) }()
	until(1) // Delete waits for the tombstone row, its row already deleted
	created := make(chan error, 1)
	fresh := rec()
	go func() { created <- creator.Save(ctx, fresh) }()
	until(2) // the create waits for Delete
	require.NoError(t, hold.Commit())
	require.NoError(t, <-deleted)
	// The create read the tombstone before Delete committed: its insert
	// finds another tombstone, and it reads the tombstone again and goes on
	// from Delete's (a version the device had before is not given out
	// again). Before, it returned a conflict between "none" and "none" and
	// left the retry to the writer.
	require.NoError(t, <-created)
	assert.Equal(t, uint64(4), fresh.Version)
	got, err := creator.Load(ctx, u)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), got.Version)
	// A writer still holding version 2 loses.
	stale := rec()
	stale.Version = 2
	require.ErrorIs(t, deleter.Save(ctx, stale), provisioning.ErrConflict)
}

// A fenced save that starts while another provisioner's acquisition of the
// device's lease is in flight waits for it (the save's share lock on the
// lease row) and, once it committed, writes nothing: at READ COMMITTED a
// statement sees what committed before it began, so without the lock the
// stale holder's write landed under the new lease.
func TestInteropPostgresFencedSaveWaitsForAcquisition(t *testing.T) {
	ctx := context.Background()
	dsn := pgSchema(t)
	s := openPostgres(t, dsn)
	u := amt.UUID{0xfe, 0x9c}
	t0 := time.Unix(1_800_000_000, 0).UTC()
	a, err := s.AcquireLease(ctx, u, "stalled", t0, time.Minute)
	require.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateIdentified}
	require.NoError(t, s.SaveFenced(ctx, r, a))

	raw, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	// Another provisioner's acquisition, held open: the lease row is updated,
	// not yet committed.
	acquire, err := raw.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = acquire.Rollback() }() // a failed test leaves no transaction open
	_, err = acquire.ExecContext(ctx, "UPDATE amtkit_leases SET owner = 'next', token = token + 1, expires = $1 WHERE uuid = $2",
		t0.Add(3*time.Minute).UnixNano(), u.String())
	require.NoError(t, err)

	saved := make(chan error, 1)
	stale := r.Clone()
	stale.State = provisioning.StateConfigured
	go func() { saved <- s.SaveFenced(ctx, stale, a) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-saved:
			t.Fatalf("the fenced save did not wait for the acquisition in flight: %v", err)
		default:
		}
		var n int
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT count(*) FROM pg_locks WHERE NOT granted").Scan(&n))
		if n > 0 {
			break // the save waits for the acquisition's row
		}
		require.True(t, time.Now().Before(deadline), "the fenced save did not wait for the lease row")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, acquire.Commit())
	require.ErrorIs(t, <-saved, provisioning.ErrLeaseLost)
	got, err := s.Load(ctx, u)
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateIdentified, got.State, "nothing written under the lost lease")
}
