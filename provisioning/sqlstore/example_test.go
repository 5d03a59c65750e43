package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL, registered as "pgx"
	_ "modernc.org/sqlite"             // the integrator picks the driver; sqlstore imports none

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
	"github.com/amtkit/amtkit/seal"
)

// A provisioner's state in one SQLite file: open the database with the
// driver, name the dialect, and give the store a Sealer. The record survives
// the process; its secrets are sealed in the file.
func Example_sqlite() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "amtkit-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.db")

	key := seal.Key{ID: "2026-01", Secret: []byte("an-example-key-of-32-bytes-long!")} // from your secret store
	sealer, _ := seal.NewAESGCM(seal.Keyring{Primary: key})
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		panic(err)
	}
	store, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: sealer})
	if err != nil {
		panic(err)
	}
	u, _ := amt.ParseUUID("8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c")
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateConfigured,
		Session: &provisioning.SessionRecord{Done: provisioning.DoneMEBxPassword, AdminPassword: amt.NewSecret("Adm1n!Example")}}
	if err := store.Save(ctx, r); err != nil {
		panic(err)
	}
	db.Close()

	// A restarted provisioner: the file holds the session in progress.
	db, _ = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	defer db.Close()
	store, _ = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: sealer})
	for rec, err := range store.Records(ctx, provisioning.Filter{SessionInProgress: true}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.UUID, rec.State, "version", rec.Version, "password kept:", rec.Session.AdminPassword.Equal(amt.NewSecret("Adm1n!Example")))
	}
	raw, _ := os.ReadFile(path)
	fmt.Println("password in the file:", containsString(raw, "Adm1n!Example"))
	// Output:
	// 8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c Configured version 1 password kept: true
	// password in the file: false
}

func containsString(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// Several provisioners on one PostgreSQL database: each opens its own
// connection pool (sized so that all of them stay under the server's
// max_connections), names the dialect, and runs with an Owner of its own.
// The store's leases make exactly one of them work on a device at a time.
// (Not run by go test, which has no database; the interop tests run the same
// code against a throw-away cluster.)
func Example_postgreSQL() {
	ctx := context.Background()
	key := seal.Key{ID: "2026-01", Secret: []byte("an-example-key-of-32-bytes-long!")} // from your secret store or KMS
	sealer, _ := seal.NewAESGCM(seal.Keyring{Primary: key})
	db, err := sql.Open("pgx", os.Getenv("AMTKIT_POSTGRES_DSN")) // import _ "github.com/jackc/pgx/v5/stdlib"
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(20)
	store, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: sealer})
	if err != nil {
		panic(err)
	}
	prov, err := provisioning.New(provisioning.Config{
		Authorizer: provisioning.NewInventoryList(),
		Store:      store,
		PSK:        store.PSK(),
		Owner:      "provisioner-east-1", // one per provisioner; the same again after a restart
		LeaseTTL:   time.Minute,
	})
	if err != nil {
		panic(err)
	}
	_ = prov.Resume(ctx) // sessions a dead provisioner left, once their leases expire
}

// Tombstones of deleted records are kept for Options.TombstoneRetention (30
// days unless set): within it a device created again goes on from its last
// version, so a writer still holding an older one loses its compare-and-swap.
func ExampleOptions_tombstoneRetention() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "amtkit-example")
	defer os.RemoveAll(dir)
	key := seal.Key{ID: "2026-01", Secret: []byte("an-example-key-of-32-bytes-long!")}
	sealer, _ := seal.NewAESGCM(seal.Keyring{Primary: key})
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	defer db.Close()
	store, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: sealer,
		TombstoneRetention: 7 * 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	u, _ := amt.ParseUUID("8c2f3a10-1d2e-4f5a-9b8c-7d6e5f4a3b2c")
	r := &provisioning.DeviceRecord{UUID: u}
	_ = store.Save(ctx, r)
	_ = store.Save(ctx, r)
	_ = store.Delete(ctx, u, r.Version)

	again := &provisioning.DeviceRecord{UUID: u}
	_ = store.Save(ctx, again)
	fmt.Println("created again at version", again.Version)
	// Output:
	// created again at version 3
}
