//go:build interop

package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// As TestInteropPostgresFencedSaveWaitsForAcquisition, for the first save of
// a device (Version 0, the session's first save after it proved a device with
// no record): the INSERT holds the lease condition itself, waits for the
// acquisition in flight and then creates nothing (a plain SELECT before it
// let the stale holder create the record under the new lease).
func TestInteropPostgresFencedCreateWaitsForAcquisition(t *testing.T) {
	ctx := context.Background()
	dsn := pgSchema(t)
	s := openPostgres(t, dsn)
	u := amt.UUID{0xfe, 0x9d}
	t0 := time.Unix(1_800_000_000, 0).UTC()
	a, err := s.AcquireLease(ctx, u, "stalled", t0, time.Minute)
	require.NoError(t, err)

	raw, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	acquire, err := raw.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = acquire.Rollback() }()
	_, err = acquire.ExecContext(ctx, "UPDATE amtkit_leases SET owner = 'next', token = token + 1, expires = $1 WHERE uuid = $2",
		t0.Add(3*time.Minute).UnixNano(), u.String())
	require.NoError(t, err)

	saved := make(chan error, 1)
	go func() {
		saved <- s.SaveFenced(ctx, &provisioning.DeviceRecord{UUID: u, State: provisioning.StateIdentified}, a)
	}()
	select {
	case err := <-saved:
		_ = acquire.Commit()
		_, lerr := s.Load(ctx, u)
		t.Fatalf("the fenced create did not wait for the acquisition in flight: SaveFenced = %v; then the acquisition committed, and Load = %v (a record created under the lease just taken)", err, lerr)
	case <-time.After(2 * time.Second):
	}
	require.NoError(t, acquire.Commit())
	require.ErrorIs(t, <-saved, provisioning.ErrLeaseLost)
	_, err = s.Load(ctx, u)
	require.ErrorIs(t, err, provisioning.ErrNotFound)
}
