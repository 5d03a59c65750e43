//go:build interop

package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// The Maintainer's two filtered walks (maintain.go: Discovery+LastSeenBefore,
// then MaintenanceDue) on a fleet of 20,000 provisioned devices, of which 5
// are stale discovery records and 5 have certificate work. No index serves
// either filter: discovery has none, and MaintenanceDue's condition
// "(cert_work = 1 OR certs_expire < ?)" is not covered by the partial index
// amtkit_devices_certs_expire (WHERE provisioned = 1: the query does not say
// provisioned = 1, and cert_work has no index). Provisioned devices stop
// sending hellos once provisioned, so last_seen < retention holds for most of
// the fleet and the last_seen index does not narrow the Discovery walk
// either. Each walk reads every row of the fleet to find 5; the test counts
// the heap tuples PostgreSQL read (pg_stat_user_tables) and allows a tenth
// of the fleet.
func TestInteropMaintainerWalksUseIndexes(t *testing.T) {
	ctx := context.Background()
	dsn := pgSchema(t)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // one backend: its statistics are the walk's
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
	require.NoError(t, err)

	const fleet = 20000
	now := time.Unix(1_800_000_000, 0).UTC()
	old := now.Add(-400 * 24 * time.Hour)
	_, err = db.ExecContext(ctx, `INSERT INTO amtkit_devices
		(uuid, version, state, session_in_progress, provisioned, discovery, last_seen, certs_expire, cert_work, record)
		SELECT lpad(to_hex(i), 8, '0') || '-0000-4000-8000-000000000000', 1, 'Provisioned', 0, 1, 0, $1::bigint, $2::bigint, 0, '\x00'::bytea
		FROM generate_series(1, $3::integer) i`, old.UnixMicro(), now.Add(3*365*24*time.Hour).UnixMicro(), fleet)
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		// Stale discovery records (real ones)…
		u := amt.UUID{0xd0, byte(i), 0x10}
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: u, State: provisioning.StateNew, LastSeen: old}))
		// …and devices with certificate work (raw rows: the walk yields
		// them as unreadable records, which is fine for counting).
		_, err = db.ExecContext(ctx, `INSERT INTO amtkit_devices VALUES ($1, 1, 'Provisioned', 0, 1, 0, $2, NULL, 1, '\x00'::bytea)`,
			fmt.Sprintf("e0%06x-0000-4000-8000-000000000000", i), old.UnixMicro())
		require.NoError(t, err)
	}
	_, err = db.ExecContext(ctx, "ANALYZE amtkit_devices")
	require.NoError(t, err)

	read := func() int64 {
		_, err := db.ExecContext(ctx, "SELECT pg_stat_force_next_flush()")
		require.NoError(t, err)
		var n int64
		require.NoError(t, db.QueryRowContext(ctx, `SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0)
			FROM pg_stat_user_tables WHERE relid = 'amtkit_devices'::regclass`).Scan(&n))
		return n
	}
	for _, c := range []struct {
		name string
		f    provisioning.Filter
	}{
		{"Discovery+LastSeenBefore (age-out walk)", provisioning.Filter{Discovery: true, LastSeenBefore: now.Add(-30 * 24 * time.Hour)}},
		{"MaintenanceDue (renewal walk)", provisioning.Filter{MaintenanceDue: now.Add(30 * 24 * time.Hour)}},
	} {
		before := read()
		yielded := 0
		for range s.Records(ctx, c.f) {
			yielded++
		}
		tuples := read() - before
		t.Logf("%s: %d yielded, %d heap tuples read", c.name, yielded, tuples)
		assert.Equal(t, 5, yielded, c.name)
		assert.Less(t, tuples, int64(fleet/10), "%s read %d rows of a %d-device fleet to yield %d", c.name, tuples, fleet, yielded)
	}
}
