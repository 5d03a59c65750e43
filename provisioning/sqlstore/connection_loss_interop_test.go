//go:build interop

package sqlstore_test

import (
	"context"
	"database/sql"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// withAppName returns dsn with an application_name that names the pool's
// backends in pg_stat_activity.
func withAppName(t *testing.T, dsn, name string) string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// terminate kills every backend of application name, as a server restart
// or a network cut would, and returns how many it killed.
func terminate(t *testing.T, admin *sql.DB, name string) int {
	var n int
	require.NoError(t, admin.QueryRow("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&n))
	return n
}

// The backends of a provisioner's pool are killed (PostgreSQL restarted, a
// connection cut): each call returns an error or works — no panic, no hang
// past its context — a Save that failed wrote nothing, and calls work again
// without reopening the store.
func TestInteropPostgresBackendsKilled(t *testing.T) {
	dsn := pgSchema(t)
	name := "amtkit-kill-" + time.Now().Format("150405.000000")
	admin, err := sql.Open("pgx", postgresDSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	s := openPostgres(t, withAppName(t, dsn, name))
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	const devices = 20
	for i := range devices {
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i + 1)}, State: provisioning.StateNew}))
	}

	for round := range 5 {
		// Fill the pool with idle connections, then kill them all.
		var wg sync.WaitGroup
		for i := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = s.Load(ctx, amt.UUID{byte(i + 1)})
			}()
		}
		wg.Wait()
		require.Positive(t, terminate(t, admin, name), "round %d", round)

		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		var failed int
		for i := range devices {
			u := amt.UUID{byte(i + 1)}
			r, err := s.Load(cctx, u)
			if err != nil {
				failed++
				r, err = s.Load(cctx, u)
				require.NoError(t, err, "a second Load after the kill")
			}
			before := r.Version
			r.Attempts++
			if err := s.Save(cctx, r); err != nil {
				failed++
				got, lerr := s.Load(cctx, u)
				require.NoError(t, lerr)
				// The UPDATE may have committed before its answer was lost:
				// then the version moved on and a retry conflicts.
				if got.Version == before {
					assert.Equal(t, r.Attempts-1, got.Attempts, "a failed save wrote nothing")
					r.Version = before
					require.NoError(t, s.Save(cctx, r))
				} else {
					assert.ErrorIs(t, s.Save(cctx, r), provisioning.ErrConflict)
				}
			}
			l, err := s.AcquireLease(cctx, u, "p", now.Add(time.Duration(round)*time.Hour), time.Minute)
			if err != nil {
				failed++
				l, err = s.AcquireLease(cctx, u, "p", now.Add(time.Duration(round)*time.Hour), time.Minute)
				require.NoError(t, err)
			}
			require.NoError(t, s.ReleaseLease(cctx, l))
		}
		n := 0
		for _, err := range s.Records(cctx, provisioning.Filter{}) {
			require.NoError(t, err)
			n++
		}
		cancel()
		assert.Equal(t, devices, n)
		t.Logf("round %d: %d calls failed after the kill", round, failed)
	}
	assert.Equal(t, 0, s.DB().Stats().InUse)
}

// Many calls canceled while they run on PostgreSQL (pgx cancels the query
// and may close its connection) exhaust no pool of two: a call with a live
// context afterwards works, and nothing is left in use.
func TestInteropPostgresCanceledCallsReleaseConnections(t *testing.T) {
	name := "amtkit-cancel-" + time.Now().Format("150405.000000")
	dsn := withAppName(t, pgSchema(t), name)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(2)
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i + 1)}, State: provisioning.StateNew}))
	}
	now := time.Unix(1_800_000_000, 0)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				cctx, cancel := context.WithTimeout(ctx, time.Duration((i*7+w)%40)*25*time.Microsecond)
				u := amt.UUID{byte((i+w)%10 + 1)}
				if r, err := s.Load(cctx, u); err == nil {
					_ = s.Save(cctx, r)
				}
				for range s.Records(cctx, provisioning.Filter{}) {
					break
				}
				if l, err := s.AcquireLease(cctx, u, "p", now, time.Minute); err == nil {
					_ = s.ReleaseLease(cctx, l)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	live, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	n := 0
	for r, err := range s.Records(live, provisioning.Filter{}) {
		require.NoError(t, err)
		require.NoError(t, s.Save(live, r))
		n++
	}
	assert.Equal(t, 10, n)
	assert.Equal(t, 0, db.Stats().InUse)
	var idleInTx int
	require.NoError(t, db.QueryRowContext(live, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()", name).Scan(&idleInTx))
	assert.Zero(t, idleInTx, "no transaction left open")
}

// A create and a Delete wait for the device's advisory lock inside their
// transaction: a backend killed there, or a context that ends there, fails
// the call within its context, leaves no transaction open and no row
// written, and the next call works.
func TestInteropPostgresKilledWhileWaitingForDeviceLock(t *testing.T) {
	dsn := pgSchema(t)
	name := "amtkit-lockwait-" + time.Now().Format("150405.000000")
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	s := openPostgres(t, withAppName(t, dsn, name))
	ctx := context.Background()
	u := amt.UUID{7}

	holder, err := admin.Conn(ctx)
	require.NoError(t, err)
	defer holder.Close()
	lock := func() {
		_, err := holder.ExecContext(ctx, "SELECT pg_advisory_lock($1, hashtext($2))", 0x616d746b, u.String())
		require.NoError(t, err)
	}
	unlock := func() {
		_, err := holder.ExecContext(ctx, "SELECT pg_advisory_unlock($1, hashtext($2))", 0x616d746b, u.String())
		require.NoError(t, err)
	}

	// The context ends while the create waits.
	lock()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	err = s.Save(cctx, &provisioning.DeviceRecord{UUID: u, State: provisioning.StateNew})
	cancel()
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "the create returned %v only after %v", err, time.Since(start))

	// The backend is killed while the create waits.
	done := make(chan error, 1)
	go func() { done <- s.Save(ctx, &provisioning.DeviceRecord{UUID: u, State: provisioning.StateNew}) }()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, admin.QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", name).Scan(&n))
		return n > 0
	}, 10*time.Second, 10*time.Millisecond)
	terminate(t, admin, name)
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the create hangs after its backend was killed")
	}
	unlock()

	_, err = s.Load(ctx, u)
	require.ErrorIs(t, err, provisioning.ErrNotFound, "nothing was written")
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateNew}
	require.NoError(t, s.Save(ctx, r))
	assert.Equal(t, uint64(1), r.Version)

	// The same for a Delete.
	lock()
	cctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	err = s.Delete(cctx, u, r.Version)
	cancel()
	require.Error(t, err)
	unlock()
	got, err := s.Load(ctx, u)
	require.NoError(t, err, "the record is still there")
	assert.Equal(t, uint64(1), got.Version)
	require.NoError(t, s.Delete(ctx, u, r.Version))
	var idleInTx int
	require.NoError(t, admin.QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'", name).Scan(&idleInTx))
	assert.Zero(t, idleInTx, "no transaction left open")
}

// Open waits for the migration lock (another provisioner migrating): a
// context that ends there fails Open with the context's error in time, and
// a later Open migrates.
func TestInteropPostgresOpenCanceledWhileMigrationLocked(t *testing.T) {
	dsn := pgSchema(t)
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	holder, err := admin.Conn(ctx)
	require.NoError(t, err)
	defer holder.Close()
	_, err = holder.ExecContext(ctx, "SELECT pg_advisory_lock(97109116107105116)")
	require.NoError(t, err)

	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = sqlstore.Open(cctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
	cancel()
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)

	_, err = holder.ExecContext(ctx, "SELECT pg_advisory_unlock(97109116107105116)")
	require.NoError(t, err)
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
	require.NoError(t, err, "the pool of one is usable again")
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	ms, err := sqlstore.Migrations(sqlstore.PostgreSQL)
	require.NoError(t, err)
	assert.Equal(t, len(ms), v)
}
