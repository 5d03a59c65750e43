package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A Filter time beyond what int64 microseconds hold —
// after the year 294246 or before -290307 — wrapped around in the SQL
// condition: "last seen before the year 300000" selected nothing although
// Filter.Match matches every record seen (records hold the years 0–9999
// only). The store clamps such times, so that the SQL condition still
// selects at least what Match does.
func TestRecordsFilterTimesOutOfRange(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	seen := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	far := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &provisioning.DeviceRecord{UUID: amt.UUID{1}, State: provisioning.StateNew, LastSeen: seen, FirstSeen: seen,
		Certificates: []provisioning.DeviceCertificate{{DER: []byte{1}, NotAfter: seen.AddDate(1, 0, 0)}}}
	require.NoError(t, s.Save(ctx, r))

	for _, f := range []provisioning.Filter{
		{LastSeenBefore: far},
		{CertificateExpiresBefore: far},
		{MaintenanceDue: far},
		{LastSeenBefore: time.Date(-300000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		var got []amt.UUID
		for rec, err := range s.Records(ctx, f) {
			require.NoError(t, err)
			got = append(got, rec.UUID)
		}
		var want []amt.UUID
		for _, rec := range []*provisioning.DeviceRecord{r} {
			if f.Match(rec) {
				want = append(want, rec.UUID)
			}
		}
		assert.Equal(t, want, got, "filter %+v: the store selects what Filter.Match does", f)
	}
}

// A Filter whose States repeat (built from input, say) made one SQL
// parameter per entry: past SQLite's 32,766 (PostgreSQL's 65,535) the walk
// failed with the database's "too many variables" instead of selecting what
// Filter.Match does. A State is a byte: the store asks for each one once.
func TestRecordsFilterManyStates(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{1}, State: provisioning.StateProvisioned}))
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{2}, State: provisioning.StateFailed}))
	var f provisioning.Filter
	for i := range 70000 {
		if st := provisioning.State(i % 256); st != provisioning.StateFailed {
			f.States = append(f.States, st)
		}
	}
	var got []amt.UUID
	for rec, err := range s.Records(ctx, f) {
		require.NoError(t, err)
		got = append(got, rec.UUID)
	}
	assert.Equal(t, []amt.UUID{{1}}, got)
}
