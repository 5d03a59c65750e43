package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// Another process holds the SQLite file's write lock (a backup tool, a
// sqlite3 shell left in a transaction): a Save waits no longer than its
// context, fails with the context's error or SQLITE_BUSY, writes nothing,
// and the next Save after the lock is released works on the same pool.
func TestSQLiteSaveWhileFileLockedElsewhere(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "amtkit.db")
	s := openSQLite(t, path)
	s.DB().SetMaxOpenConns(1)
	r := &provisioning.DeviceRecord{UUID: amt.UUID{1}, State: provisioning.StateNew}
	require.NoError(t, s.Save(ctx, r))

	other, err := sql.Open("sqlite", sqliteDSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(ctx)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "BEGIN EXCLUSIVE")
	require.NoError(t, err)

	// The DSN's busy timeout is 10 s: the caller's context is shorter.
	for range 5 {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		start := time.Now()
		r.State = provisioning.StateProvisioned
		err = s.Save(cctx, r)
		elapsed := time.Since(start)
		cancel()
		require.Error(t, err)
		assert.Less(t, elapsed, 3*time.Second, "Save returned %v after %v: it waited beyond its context", err, elapsed)
		assert.Equal(t, uint64(1), r.Version, "a failed Save leaves the version")
	}

	_, err = conn.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	got, err := s.Load(ctx, r.UUID)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), got.Version, "nothing was written")
	assert.Equal(t, provisioning.StateNew, got.State)
	require.NoError(t, s.Save(ctx, r), "the pool works once the lock is gone")
	assert.Equal(t, uint64(2), r.Version)
}

// Many calls whose contexts end before or while they run leave no
// connection behind: on a pool of one, a call with a live context still gets
// the connection, and a walk broken off early releases it.
func TestSQLiteCanceledCallsReleaseConnections(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	s.DB().SetMaxOpenConns(1)
	for i := range 20 {
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i + 1)}, State: provisioning.StateNew}))
	}
	now := time.Unix(1_800_000_000, 0)
	for i := range 300 {
		cctx, cancel := context.WithTimeout(ctx, time.Duration(i%30)*20*time.Microsecond)
		u := amt.UUID{byte(i%20 + 1)}
		_, _ = s.Load(cctx, u)
		for _, err := range s.Records(cctx, provisioning.Filter{}) {
			if err != nil {
				break
			}
		}
		for range s.Records(cctx, provisioning.Filter{}) {
			break // early
		}
		if r, err := s.Load(cctx, u); err == nil {
			_ = s.Save(cctx, r)
		}
		if l, err := s.AcquireLease(cctx, u, "p", now, time.Minute); err == nil {
			_ = s.ReleaseLease(cctx, l)
		}
		cancel()
	}
	live, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n := 0
	for r, err := range s.Records(live, provisioning.Filter{}) {
		require.NoError(t, err)
		n++
		require.NoError(t, s.Save(live, r), "a save inside the walk, on a pool of one")
	}
	assert.Equal(t, 20, n)
	assert.Equal(t, 0, s.DB().Stats().InUse, "no connection held after the walk")
	for i := range 20 {
		u := amt.UUID{byte(i + 1)}
		l, err := s.AcquireLease(live, u, "q", now.Add(time.Hour), time.Minute)
		require.NoError(t, err, "no lease left held by a canceled call past its expiry")
		require.NoError(t, s.ReleaseLease(live, l))
	}
}
