// Package sqlstore is a provisioning.Store over database/sql, for SQLite (the
// embedded default: one file, no server) and PostgreSQL (several provisioners
// sharing one database). Its schema and migrations are embedded and applied by
// [Open]; records are encoded by provisioning.RecordCodec, so every secret is
// sealed by the integrator's seal.Sealer before it reaches a row.
//
// The package imports no driver: the integrator opens the *sql.DB with the
// driver of their choice and names the [Dialect]. Drivers amtkit tests with:
//
//   - SQLite: modernc.org/sqlite (pure Go, no cgo), driver name "sqlite", with
//     a DSN such as
//     "file:/var/lib/amtkit/state.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)";
//   - PostgreSQL: github.com/jackc/pgx/v5/stdlib, driver name "pgx", with a
//     DSN such as "postgres://amtkit@db.example/amtkit".
//
// Every write is one statement (compare-and-swap on the version column, an
// upsert for leases) except [Store.Delete] (the row and its tombstone, one
// short transaction), [PairStore.Put] (a batch, one transaction) and, on
// PostgreSQL, a record's first save (its INSERT under the device's advisory
// lock), so no transaction is held across a network round trip or a caller's
// loop; [Store.Records] reads a page at a time by UUID.
//
// See docs/state.md for running several provisioners, backups and key
// rotation.
package sqlstore
