package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/ctxwait"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/seal"
)

// Dialect names the SQL database behind the *sql.DB.
type Dialect string

// Supported dialects.
const (
	SQLite     Dialect = "sqlite"
	PostgreSQL Dialect = "postgres"
)

//go:embed migrations
var migrations embed.FS

// Options configures [Open].
type Options struct {
	// Dialect is the database's dialect. Required.
	Dialect Dialect
	// Sealer seals the secrets of every record. Required: nothing is stored in
	// plaintext.
	Sealer seal.Sealer
	// PageSize is how many records (or pairs) one query of Records (or
	// Pairs) reads. Zero: 100.
	PageSize int
	// Now is the clock of the PSK pair store's Added and UsedAt, of
	// tombstones and of the schema migrations' applied times. Nil: time.Now.
	Now func() time.Time
	// TombstoneRetention is how long the store keeps a deleted record's
	// tombstone: its last version, from which the record goes on if the
	// device is created again, so that a writer still holding a version of
	// the deleted record loses its compare-and-swap. Each Delete removes the
	// tombstones older than this; a device created again after that starts
	// at version 1. It must be longer than any writer holds a record it read
	// (a session, a Maintainer run: minutes to hours). Zero:
	// [provisioning.DefaultTombstoneRetention] (30 days). Negative: tombstones are kept for good
	// (one small row per device ever deleted).
	TombstoneRetention time.Duration
	// Sleep waits between Open's attempts to reach a new SQLite file that
	// another process is switching to WAL (see [Open]); it returns ctx's
	// error when ctx ends first. Nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// busyTimeout reads the SQLite connection's busy timeout, which opens the
// pool's first connection. A DSN that sets journal_mode(WAL) switches a new
// file on that connection, and SQLite fails every other connection that
// meets the switch half done with SQLITE_BUSY at once, without its busy
// handler (the lock upgrade it would wait for could deadlock) — so several
// provisioners starting together on a file that does not exist yet all
// but one fail their first connection. Open tries again, up to openBusyTries
// times with waits growing to 100 ms (about two seconds in all), or until
// ctx ends; once the file is in WAL the pragma changes nothing.
func busyTimeout(ctx context.Context, db *sql.DB, sleep func(context.Context, time.Duration) error) (int64, error) {
	if sleep == nil {
		sleep = ctxwait.Sleep
	}
	wait := 5 * time.Millisecond
	for try := 1; ; try++ {
		var ms int64
		err := db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&ms)
		var coded interface{ Code() int }
		if err == nil || try == openBusyTries || !errors.As(err, &coded) || coded.Code()&0xff != sqliteBusy {
			return ms, err
		}
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// openBusyTries bounds busyTimeout's attempts; sqliteBusy is SQLITE_BUSY,
// the primary result code of a modernc.org/sqlite error's Code.
const (
	openBusyTries = 25
	sqliteBusy    = 5
)

// tombstonePurge bounds the expired tombstones one Delete removes: more
// than a delete adds, so a backlog drains.
const tombstonePurge = 1000

// Store is a [provisioning.Store] on a SQL database. It is safe for
// concurrent use, also by several processes sharing the database.
type Store struct {
	db       *sql.DB
	dialect  Dialect
	sealer   seal.Sealer
	codec    provisioning.RecordCodec
	pageSize int
	now      func() time.Time
	keepTomb time.Duration // < 0: for good
}

var (
	_ provisioning.Store       = (*Store)(nil)
	_ provisioning.FencedSaver = (*Store)(nil)
)

// Open checks o, applies the embedded migrations the database lacks (under a
// lock, so provisioners starting together migrate once) and returns the
// store. It does not close db. A SQLite database must have been opened with
// a busy timeout in its DSN (e.g. _pragma=busy_timeout(10000) with
// modernc.org/sqlite): without one, concurrent writes fail at once. It must
// also run with synchronous FULL (SQLite's default, or
// _pragma=synchronous(FULL)), without which a saved record may be lost. A
// new SQLite file that several processes open at once, each switching it to
// WAL in its DSN, is waited for (see Options.Sleep). A
// PostgreSQL database's default_transaction_isolation must be read committed
// (the server's default). Open refuses a database that breaks these rules
// (a *provisioning.ConfigError saying what to set), and one whose schema is
// newer than this amtkit knows ([ErrSchemaTooNew]).
func Open(ctx context.Context, db *sql.DB, o Options) (*Store, error) {
	if db == nil {
		return nil, &provisioning.ConfigError{Field: "db", Problem: "required"}
	}
	switch o.Dialect {
	case SQLite, PostgreSQL:
	default:
		return nil, &provisioning.ConfigError{Field: "Options.Dialect", Problem: fmt.Sprintf("%q: use sqlstore.SQLite or sqlstore.PostgreSQL", o.Dialect)}
	}
	if o.Sealer == nil {
		return nil, &provisioning.ConfigError{Field: "Options.Sealer", Problem: "required: secrets are never stored in plaintext (seal.NewAESGCM makes one from a key)"}
	}
	if o.Dialect == SQLite {
		// Every statement autocommits and several provisioners (or one
		// with many sessions) write at once: without a busy handler,
		// SQLite fails a write that finds the file locked at once
		// (SQLITE_BUSY), which ends sessions as store-failed.
		ms, err := busyTimeout(ctx, db, o.Sleep)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: reading PRAGMA busy_timeout: %w", err)
		}
		if ms <= 0 {
			return nil, &provisioning.ConfigError{Field: "db", Problem: "SQLite without a busy timeout fails concurrent writes (SQLITE_BUSY): " +
				"open it with one in the DSN, so that every pooled connection has it, e.g. file:state.db?_pragma=busy_timeout(10000) (modernc.org/sqlite)"}
		}
		// Save returns once the record is durable (provisioning.RecordStore):
		// below FULL, SQLite may lose committed transactions at a power
		// loss (OFF at a crash of the operating system too).
		var sync int64
		if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			return nil, fmt.Errorf("sqlstore: reading PRAGMA synchronous: %w", err)
		}
		if sync < 2 {
			return nil, &provisioning.ConfigError{Field: "db", Problem: fmt.Sprintf("SQLite with synchronous=%d may lose saved records at a power loss: "+
				"open it with FULL in the DSN, e.g. file:state.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL) (modernc.org/sqlite)", sync)}
		}
	}
	if o.Dialect == PostgreSQL {
		// Every write is one statement in its own transaction, at the
		// server's default isolation: the compare-and-swaps and the lease
		// upsert rely on READ COMMITTED, under which a statement that waited
		// for a concurrent writer re-checks the committed row. Under
		// REPEATABLE READ or SERIALIZABLE the loser of a race gets a
		// serialization failure (40001) instead of a conflict, and a
		// concurrent migration re-runs from a stale snapshot.
		var iso string
		if err := db.QueryRowContext(ctx, "SHOW default_transaction_isolation").Scan(&iso); err != nil {
			return nil, fmt.Errorf("sqlstore: reading default_transaction_isolation: %w", err)
		}
		if iso != "read committed" && iso != "read uncommitted" { // PostgreSQL runs READ UNCOMMITTED as READ COMMITTED
			return nil, &provisioning.ConfigError{Field: "db", Problem: fmt.Sprintf("PostgreSQL's default_transaction_isolation is %q; amtkit's compare-and-swaps and leases need \"read committed\" "+
				"(set it for the role, the database, or in the DSN: options='-c default_transaction_isolation=read\\ committed')", iso)}
		}
	}
	s := &Store{db: db, dialect: o.Dialect, sealer: o.Sealer, codec: provisioning.RecordCodec{Sealer: o.Sealer}, pageSize: o.PageSize, now: o.Now}
	if s.pageSize <= 0 {
		s.pageSize = 100
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.keepTomb = o.TombstoneRetention; s.keepTomb == 0 {
		s.keepTomb = provisioning.DefaultTombstoneRetention
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// DB returns the database the store uses.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// q rewrites a query written with ? placeholders for the dialect
// (PostgreSQL numbers them: $1, $2, …).
func (s *Store) q(query string) string {
	if s.dialect != PostgreSQL {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// ErrSchemaTooNew is the error (matched with errors.Is) of an [Open] of a
// database migrated by a newer amtkit, whose schema this one does not know:
// it is refused rather than used. Upgrade amtkit (or roll the database back).
var ErrSchemaTooNew = errors.New("sqlstore: the database's schema is newer than this amtkit knows")

// Migration is one embedded schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the dialect's embedded migrations in order.
func Migrations(d Dialect) ([]Migration, error) {
	dir := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: no migrations for dialect %q", d)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlstore: migration file %q is not named NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("sqlstore: migration %s: expected version %d", m.Name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion returns the schema version the database has (0: none).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM amtkit_schema").Scan(&v)
	if err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// migrate applies the migrations the database lacks, in one transaction on
// one connection, holding a lock other provisioners' migrations wait for
// (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE).
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := Migrations(s.dialect)
	if err != nil {
		return err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrating: %w", err)
	}
	defer conn.Close()
	begin := "BEGIN ISOLATION LEVEL READ COMMITTED" // the snapshot of each statement, after the lock: another provisioner's migration is seen
	if s.dialect == SQLite {
		begin = "BEGIN IMMEDIATE"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return fmt.Errorf("sqlstore: migrating: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if s.dialect == PostgreSQL {
		// One key for amtkit's schema: "amtkit" in ASCII.
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_xact_lock(97109116107105116)"); err != nil {
			return fmt.Errorf("sqlstore: migrating: %w", err)
		}
	}
	// The schema table is created only when it is missing: a role that may
	// only read and write data (PostgreSQL 15 grants no CREATE on public by
	// default) opens a migrated database, and CREATE … IF NOT EXISTS would
	// still need the privilege.
	exists := "SELECT to_regclass(quote_ident(current_schema()) || '.amtkit_schema') IS NOT NULL" // where CREATE would put it, not anywhere on search_path
	if s.dialect == SQLite {
		exists = "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'amtkit_schema'"
	}
	var have sql.NullInt64
	var found bool
	if err := conn.QueryRowContext(ctx, exists).Scan(&found); err != nil {
		return fmt.Errorf("sqlstore: migrating: %w", err)
	}
	if !found {
		if _, err := conn.ExecContext(ctx, "CREATE TABLE amtkit_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)"); err != nil {
			return fmt.Errorf("sqlstore: migrating: %w", err)
		}
	} else if err := conn.QueryRowContext(ctx, "SELECT MAX(version) FROM amtkit_schema").Scan(&have); err != nil {
		return fmt.Errorf("sqlstore: migrating: %w", err)
	}
	if int(have.Int64) > len(ms) {
		return fmt.Errorf("%w (the database has schema %d, this amtkit %d): upgrade amtkit", ErrSchemaTooNew, have.Int64, len(ms))
	}
	for _, m := range ms[have.Int64:] {
		for _, stmt := range statements(m.SQL) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlstore: migration %s: %w", m.Name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, s.q("INSERT INTO amtkit_schema (version, name, applied) VALUES (?, ?, ?)"), m.Version, m.Name, s.now().Unix()); err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.Name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlstore: migrating: %w", err)
	}
	return nil
}

// statements splits a migration file at semicolons that end a line (the
// files hold no semicolons inside statements), dropping comments.
func statements(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimRight(line, " \t\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(line, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// micros is t in Unix microseconds (rounded down); NULL for the zero time.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// microsCeil is t in Unix microseconds rounded up: a column in microseconds
// rounded down is below it whenever the time it stands for is below t. A
// time beyond what int64 microseconds hold is clamped (UnixMicro would wrap
// around, and a filter on a far-future time select nothing); the columns
// hold the years 0–9999, which records are limited to.
func microsCeil(t time.Time) int64 {
	if t.After(maxMicros) {
		return math.MaxInt64
	}
	if t.Before(minMicros) {
		return math.MinInt64
	}
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}

// The range of times int64 Unix microseconds hold.
var (
	maxMicros = time.UnixMicro(math.MaxInt64)
	minMicros = time.UnixMicro(math.MinInt64)
)

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Load implements [provisioning.Store].
func (s *Store) Load(ctx context.Context, u amt.UUID) (*provisioning.DeviceRecord, error) {
	var version any // as stored: see decode
	var size int64
	var rec []byte
	err := s.db.QueryRowContext(ctx, s.q("SELECT version, "+recordColumns+" FROM amtkit_devices WHERE uuid = ?"), u.String()).Scan(&version, &size, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, provisioning.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.decode(ctx, u, version, size, rec)
}

// recordColumns reads a row's record and its size, leaving out a record over
// provisioning.MaxRecordSize: one that large is refused without reading it.
// It counts bytes: SQLite's length() stops at a text value's first NUL.
var recordColumns = fmt.Sprintf("octet_length(record), CASE WHEN octet_length(record) > %d THEN NULL ELSE record END", provisioning.MaxRecordSize)

// decode opens the record of u's row: a record copied from another device's
// row, or an older one written back, fails (UnmarshalFor). version is the
// version column as the driver returned it: SQLite keeps any value in any
// column, and a row whose version is not a whole number (text, a fraction,
// one too large) must be refused here, in its place, not fail the page's
// Scan, which would end a walk at it; nor is a version below 1, which amtkit
// never writes.
func (s *Store) decode(ctx context.Context, u amt.UUID, version any, size int64, b []byte) (*provisioning.DeviceRecord, error) {
	if size > provisioning.MaxRecordSize {
		return nil, &provisioning.RecordError{Device: u, Err: fmt.Errorf("%w: %d bytes, more than %d", provisioning.ErrRecordFormat, size, provisioning.MaxRecordSize)}
	}
	v, ok := asInt64(version)
	if !ok || v < 1 {
		return nil, &provisioning.RecordError{Device: u, Err: fmt.Errorf("%w: the row's version is not a version amtkit writes: the row was changed outside amtkit", provisioning.ErrRecordFormat)}
	}
	r, err := s.codec.UnmarshalFor(ctx, u, uint64(v), b)
	if err != nil {
		return nil, err
	}
	r.Version = uint64(v)
	return r, nil
}

// Save implements [provisioning.Store]: one UPDATE whose WHERE clause holds
// the version read, or for a new record (version 0) one INSERT that holds the
// device's tombstone (on PostgreSQL in a short transaction under the device's
// advisory lock, which Delete holds too).
func (s *Store) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	return s.save(ctx, r, nil)
}

// SaveFenced implements [provisioning.FencedSaver]: Save's UPDATE also holds
// that l is still the device's lease (same owner and token), in the same
// statement; on PostgreSQL it takes a share lock on the lease's row, so that
// an acquisition committing meanwhile is waited for and seen; a record's
// first save (version 0) is fenced the same way in its INSERT.
func (s *Store) SaveFenced(ctx context.Context, r *provisioning.DeviceRecord, l provisioning.Lease) error {
	return s.save(ctx, r, &l)
}

func (s *Store) save(ctx context.Context, r *provisioning.DeviceRecord, l *provisioning.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.Version == 0 {
		return s.create(ctx, r, l)
	}
	next := r.Version + 1
	c := *r
	c.Version = next
	b, err := s.codec.Marshal(ctx, &c)
	if err != nil {
		return err
	}
	args := append(columns(r, next, b)[1:], r.UUID.String(), int64(r.Version))
	query := `UPDATE amtkit_devices SET version = ?, state = ?, session_in_progress = ?, provisioned = ?,
		discovery = ?, last_seen = ?, certs_expire = ?, cert_work = ?, record = ? WHERE uuid = ? AND version = ?`
	if l != nil {
		query += s.leaseHeld()
		args = append(args, r.UUID.String(), l.Owner, int64(l.Token))
	}
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		if l != nil {
			if err := s.leaseCurrent(ctx, r.UUID, *l); err != nil {
				return err
			}
		}
		return s.conflict(ctx, r.UUID, r.Version)
	}
	r.Version = next
	return nil
}

// leaseHeld is the condition a fenced write adds to its WHERE clause, with
// the arguments uuid, owner and token: l is still the device's lease. On
// PostgreSQL it takes a share lock on the lease's row, so that an
// acquisition committing meanwhile is waited for and then seen.
func (s *Store) leaseHeld() string {
	lock := ""
	if s.dialect == PostgreSQL {
		lock = " FOR SHARE"
	}
	// A released lease keeps its row with an empty owner: it fences nothing.
	return " AND EXISTS (SELECT 1 FROM amtkit_leases WHERE uuid = ? AND owner = ? AND owner <> '' AND token = ?" + lock + ")"
}

// leaseCurrent returns an error matching ErrLeaseLost unless l is the
// device's lease.
func (s *Store) leaseCurrent(ctx context.Context, u amt.UUID, l provisioning.Lease) error {
	var owner string
	var token int64
	err := s.db.QueryRowContext(ctx, s.q("SELECT owner, token FROM amtkit_leases WHERE uuid = ?"), u.String()).Scan(&owner, &token)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err != nil || owner != l.Owner || uint64(token) != l.Token || l.Owner == "" {
		return fmt.Errorf("%w: %s's lease %d of %q is not the device's lease (token %d of %q)", provisioning.ErrLeaseLost, u, l.Token, l.Owner, token, owner)
	}
	return nil
}

// columns are the values of a device row, in the order of amtkit_devices'
// columns: uuid, version, the filter columns, the codec's bytes.
func columns(r *provisioning.DeviceRecord, version uint64, b []byte) []any {
	ix := r.Index()
	return []any{r.UUID.String(), int64(version), ix.State.String(), flag(ix.SessionInProgress), flag(ix.Provisioned), flag(ix.Discovery),
		micros(ix.LastSeen), micros(ix.CertificatesExpire), flag(ix.CertificateWork), b}
}

// deviceLock is the first key of the PostgreSQL advisory lock that orders a
// device's create after a Delete of it in flight ("amtk"); the second is a
// hash of the UUID. The two-key space does not overlap the one-key lock
// Open migrates under.
const deviceLock = 0x616d746b

// create inserts a record that has no row (Version 0). A record created
// again after a Delete goes on from its last version (its tombstone), so
// that a writer still holding an old one loses: the insert happens only if
// the tombstone is still the one read, and loses its compare-and-swap
// otherwise. On PostgreSQL the insert runs in a transaction under the
// device's advisory lock, which Delete holds from before its DELETE to its
// commit: at READ COMMITTED a statement sees what committed before it began,
// so an insert that started while a Delete was between its DELETE and its
// commit waited for Delete's row but had checked the older tombstone, and
// gave out a version the device had had. SQLite runs one writer at a time:
// the INSERT … SELECT reads and writes under its write lock. The record is
// sealed before any transaction begins (a Sealer may be remote).
//
// An insert lost to a write that left no row — the tombstone it read purged,
// or the device created and deleted again in between — is tried again with
// the tombstone read afresh (at most maxCreateRetries more times), as
// provisioning.KVStore does: it is no conflict with a record the caller could
// reload.
func (s *Store) create(ctx context.Context, r *provisioning.DeviceRecord, l *provisioning.Lease) error {
	for attempt := 0; ; attempt++ {
		err := s.createOnce(ctx, r, l)
		var ce *provisioning.ConflictError
		if attempt < maxCreateRetries && errors.As(err, &ce) && ce.Actual == 0 {
			continue
		}
		return err
	}
}

// maxCreateRetries bounds how often create reads the tombstone again.
const maxCreateRetries = 16

func (s *Store) createOnce(ctx context.Context, r *provisioning.DeviceRecord, l *provisioning.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var last int64
	err := s.db.QueryRowContext(ctx, s.q("SELECT version FROM amtkit_device_tombstones WHERE uuid = ?"), r.UUID.String()).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	next := uint64(last) + 1
	c := *r
	c.Version = next
	b, err := s.codec.Marshal(ctx, &c)
	if err != nil {
		return err
	}
	fence := ""
	if l != nil {
		fence = s.leaseHeld()
	}
	values := "?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
	if s.dialect == PostgreSQL {
		// A SELECT list's parameters are typed by their casts, not by the
		// columns they go to.
		values = "?::text, ?::bigint, ?::text, ?::integer, ?::integer, ?::integer, ?::bigint, ?::bigint, ?::integer, ?::bytea"
	}
	insert := s.q(`INSERT INTO amtkit_devices
		(uuid, version, state, session_in_progress, provisioned, discovery, last_seen, certs_expire, cert_work, record)
		SELECT ` + values + `
		WHERE COALESCE((SELECT version FROM amtkit_device_tombstones WHERE uuid = ?), 0) = ?` + fence + `
		ON CONFLICT (uuid) DO NOTHING`)
	args := append(columns(r, next, b), r.UUID.String(), last)
	if l != nil {
		args = append(args, r.UUID.String(), l.Owner, int64(l.Token))
	}
	var n int64
	if s.dialect == PostgreSQL {
		n, err = s.inTx(ctx, r.UUID, func(tx *sql.Tx) (sql.Result, error) { return tx.ExecContext(ctx, insert, args...) })
	} else {
		var res sql.Result
		if res, err = s.db.ExecContext(ctx, insert, args...); err == nil {
			n, err = res.RowsAffected()
		}
	}
	if err != nil {
		return err
	}
	if n == 0 {
		if l != nil {
			if err := s.leaseCurrent(ctx, r.UUID, *l); err != nil {
				return err
			}
		}
		return s.conflict(ctx, r.UUID, 0)
	}
	r.Version = next
	return nil
}

// inTx runs exec in a transaction that holds the device's advisory lock
// (PostgreSQL), commits it and reports the rows exec affected.
func (s *Store) inTx(ctx context.Context, u amt.UUID, exec func(*sql.Tx) (sql.Result, error)) (int64, error) {
	// READ COMMITTED whatever the server's default: the insert must see what
	// committed while it waited for the lock.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if err := lockDevice(ctx, tx, u); err != nil {
		return 0, err
	}
	res, err := exec(tx)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// lockDevice takes the device's transaction-scoped advisory lock.
func lockDevice(ctx context.Context, tx *sql.Tx, u amt.UUID) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", deviceLock, u.String())
	return err
}

// conflict builds the error of a lost compare-and-swap, with the version the
// store has now.
func (s *Store) conflict(ctx context.Context, u amt.UUID, expected uint64) error {
	var have int64
	err := s.db.QueryRowContext(ctx, s.q("SELECT version FROM amtkit_devices WHERE uuid = ?"), u.String()).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return &provisioning.ConflictError{Device: u, Expected: expected, Actual: uint64(have)}
}

// Delete implements [provisioning.Store]: the row goes, and its version
// stays as the device's tombstone, in one transaction.
func (s *Store) Delete(ctx context.Context, u amt.UUID, version uint64) error {
	n, err := s.deleteRow(ctx, u, version)
	if err != nil || n > 0 {
		return err
	}
	var have int64
	err = s.db.QueryRowContext(ctx, s.q("SELECT version FROM amtkit_devices WHERE uuid = ?"), u.String()).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return &provisioning.ConflictError{Device: u, Expected: version, Actual: uint64(have)}
}

// deleteRow deletes the record at version and writes its tombstone, and
// reports how many rows it deleted.
func (s *Store) deleteRow(ctx context.Context, u amt.UUID, version uint64) (int64, error) {
	var opts *sql.TxOptions
	if s.dialect == PostgreSQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if s.dialect == PostgreSQL {
		// A create of the device waits for this transaction (see create).
		if err := lockDevice(ctx, tx, u); err != nil {
			return 0, err
		}
	}
	// The DELETE comes first: on SQLite the transaction takes the write
	// lock with it, so no reader's lock has to be upgraded.
	res, err := tx.ExecContext(ctx, s.q("DELETE FROM amtkit_devices WHERE uuid = ? AND version = ?"), u.String(), int64(version))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, err
	}
	now := s.now()
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO amtkit_device_tombstones (uuid, version, deleted) VALUES (?, ?, ?)
		ON CONFLICT (uuid) DO UPDATE SET version = excluded.version, deleted = excluded.deleted`), u.String(), int64(version), now.UnixNano()); err != nil {
		return 0, err
	}
	if s.keepTomb > 0 {
		// Tombstones past their retention go with each delete, up to
		// tombstonePurge of them (an index finds them): one row per device
		// ever deleted no longer grows without bound, e.g. with discovery
		// records aged out for good. On PostgreSQL rows another transaction
		// holds are skipped, so concurrent deletes never wait on (or
		// deadlock over) each other's purges.
		// A time of 0 is unknown (a row a SQLite provisioner of an older
		// schema wrote): never purged, it gets this delete's time.
		lock := ""
		if s.dialect == PostgreSQL {
			lock = " FOR UPDATE SKIP LOCKED"
		} else if _, err := tx.ExecContext(ctx, "UPDATE amtkit_device_tombstones SET deleted = ? WHERE deleted = 0", now.UnixNano()); err != nil {
			return 0, err
		}
		// Leases stay: a device's lease tokens only grow, and the lease row
		// is their floor (a stale holder's fenced save must never meet its
		// token again).
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM amtkit_device_tombstones WHERE uuid IN (SELECT uuid FROM amtkit_device_tombstones
			WHERE deleted > 0 AND deleted < ? AND uuid <> ? ORDER BY deleted LIMIT `+strconv.Itoa(tombstonePurge)+lock+`)`), now.Add(-s.keepTomb).UnixNano(), u.String()); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}

// where turns a filter into SQL conditions that select at least what it
// matches (times are compared in microseconds, rounded so as to include);
// Records checks each row with Filter.Match as well.
func (s *Store) where(f provisioning.Filter) (string, []any) {
	var conds []string
	var args []any
	if len(f.States) > 0 {
		// Each state once: a State is a byte, and a list that repeats
		// them must not run past the database's limit of parameters.
		var seen [256]bool
		var ph []string
		for _, st := range f.States {
			if seen[st] {
				continue
			}
			seen[st] = true
			ph = append(ph, "?")
			args = append(args, st.String())
		}
		conds = append(conds, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if f.SessionInProgress {
		conds = append(conds, "session_in_progress = 1")
	}
	if f.Provisioned {
		conds = append(conds, "provisioned = 1")
	}
	if f.Discovery {
		conds = append(conds, "discovery = 1")
	}
	if !f.LastSeenBefore.IsZero() {
		conds = append(conds, "last_seen IS NOT NULL AND last_seen < ?")
		args = append(args, microsCeil(f.LastSeenBefore))
	}
	if !f.CertificateExpiresBefore.IsZero() {
		conds = append(conds, "certs_expire IS NOT NULL AND certs_expire < ?")
		args = append(args, microsCeil(f.CertificateExpiresBefore))
	}
	if !f.MaintenanceDue.IsZero() {
		conds = append(conds, "(cert_work = 1 OR (certs_expire IS NOT NULL AND certs_expire < ?))")
		args = append(args, microsCeil(f.MaintenanceDue))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}

// Records implements [provisioning.Store]: pages of PageSize rows by UUID
// (keyset pagination); each page is read and its rows closed before the
// caller sees the first record.
func (s *Store) Records(ctx context.Context, f provisioning.Filter) iter.Seq2[*provisioning.DeviceRecord, error] {
	return func(yield func(*provisioning.DeviceRecord, error) bool) {
		cond, cargs := s.where(f)
		query := s.q("SELECT uuid, version, " + recordColumns + " FROM amtkit_devices WHERE uuid > ?" + cond + " ORDER BY uuid LIMIT ?")
		after := ""
		for {
			type row struct {
				uuid    string
				version any // as stored: see decode
				size    int64
				rec     []byte
			}
			page := make([]row, 0, s.pageSize)
			args := append(append([]any{after}, cargs...), s.pageSize)
			rows, err := s.db.QueryContext(ctx, query, args...)
			if err != nil {
				yield(nil, err)
				return
			}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.uuid, &r.version, &r.size, &r.rec); err != nil {
					rows.Close()
					yield(nil, err)
					return
				}
				page = append(page, r)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range page {
				u, err := amt.ParseUUID(r.uuid)
				switch {
				case err != nil:
					err = &provisioning.RecordError{Err: fmt.Errorf("%w: uuid %q: %v", provisioning.ErrRecordFormat, r.uuid, err)}
				case u.String() != r.uuid:
					// Another spelling (upper case, braces) of a device's UUID:
					// amtkit writes one; this row would be walked as that
					// device beside its own.
					err = &provisioning.RecordError{Device: u, Err: fmt.Errorf("%w: uuid %q is not spelled as amtkit writes it (%s): the row was changed outside amtkit", provisioning.ErrRecordFormat, r.uuid, u)}
				}
				var rec *provisioning.DeviceRecord
				if err == nil {
					rec, err = s.decode(ctx, u, r.version, r.size, r.rec)
				}
				var unreadable *provisioning.RecordError
				if errors.As(err, &unreadable) {
					// This row only: the walk goes on with the next.
					if !yield(nil, err) {
						return
					}
					continue
				}
				if err != nil {
					yield(nil, fmt.Errorf("sqlstore: record %s: %w", r.uuid, err))
					return
				}
				if f.Match(rec) && !yield(rec, nil) {
					return
				}
			}
			if len(page) < s.pageSize {
				return
			}
			after = page[len(page)-1].uuid
		}
	}
}

// AcquireLease implements [provisioning.Store]: one upsert that takes the
// lease only where it is free.
func (s *Store) AcquireLease(ctx context.Context, u amt.UUID, owner string, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := provisioning.CheckLeaseArgs(owner, ttl); err != nil {
		return provisioning.Lease{}, err
	}
	expires := now.Add(ttl)
	for attempt := 0; ; attempt++ {
		var token int64
		err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO amtkit_leases (uuid, owner, token, expires) VALUES (?, ?, 1, ?)
			ON CONFLICT (uuid) DO UPDATE SET owner = excluded.owner, token = amtkit_leases.token + 1, expires = excluded.expires
			WHERE amtkit_leases.owner = '' OR amtkit_leases.owner = excluded.owner OR amtkit_leases.expires <= ?
			RETURNING token`), u.String(), owner, expires.UnixNano(), now.UnixNano()).Scan(&token)
		if err == nil {
			return provisioning.Lease{Device: u, Owner: owner, Token: uint64(token), Expires: time.Unix(0, expires.UnixNano()).UTC()}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return provisioning.Lease{}, err
		}
		var holder string
		var until int64
		err = s.db.QueryRowContext(ctx, s.q("SELECT owner, expires FROM amtkit_leases WHERE uuid = ?"), u.String()).Scan(&holder, &until)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return provisioning.Lease{}, err
		}
		if err == nil && holder != "" && holder != owner && now.UnixNano() < until {
			return provisioning.Lease{}, &provisioning.LeaseHeldError{Device: u, Owner: holder, Expires: time.Unix(0, until).UTC()}
		}
		if attempt >= 8 { // freed between the two statements, again and again
			return provisioning.Lease{}, fmt.Errorf("sqlstore: lease of %s: %w", u, provisioning.ErrConflict)
		}
	}
}

// RenewLease implements [provisioning.Store].
func (s *Store) RenewLease(ctx context.Context, l provisioning.Lease, now time.Time, ttl time.Duration) (provisioning.Lease, error) {
	if err := provisioning.CheckLeaseArgs(l.Owner, ttl); err != nil {
		return provisioning.Lease{}, err
	}
	expires := now.Add(ttl)
	res, err := s.db.ExecContext(ctx, s.q("UPDATE amtkit_leases SET expires = ? WHERE uuid = ? AND owner = ? AND token = ?"),
		expires.UnixNano(), l.Device.String(), l.Owner, int64(l.Token))
	if err != nil {
		return provisioning.Lease{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return provisioning.Lease{}, err
	} else if n == 0 {
		return provisioning.Lease{}, fmt.Errorf("%w: %s's lease %d of %q", provisioning.ErrLeaseLost, l.Device, l.Token, l.Owner)
	}
	l.Expires = time.Unix(0, expires.UnixNano()).UTC()
	return l, nil
}

// ReleaseLease implements [provisioning.Store].
func (s *Store) ReleaseLease(ctx context.Context, l provisioning.Lease) error {
	_, err := s.db.ExecContext(ctx, s.q("UPDATE amtkit_leases SET owner = '', expires = 0 WHERE uuid = ? AND owner = ? AND token = ?"),
		l.Device.String(), l.Owner, int64(l.Token))
	return err
}
