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

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL through pgx, registered as "pgx"
	"github.com/stretchr/testify/require"

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
