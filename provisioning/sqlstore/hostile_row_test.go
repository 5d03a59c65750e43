package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
	"github.com/amtkit/amtkit/seal"
)

// An attacker who can write the database copies device A's record into
// device B's row: Load(B) refuses it before opening any of A's secrets (a
// save of what it returned would have written over A's row), and Records
// reports the row instead of yielding A twice.
func TestRecordCopiedIntoAnotherRowRefused(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	a, b := amt.UUID{0xa}, amt.UUID{0xb}
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: a, State: provisioning.StateProvisioned, AdminPassword: amt.NewSecret("A-Admin-Pa55!")}))
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: b, State: provisioning.StateProvisioned, AdminPassword: amt.NewSecret("B-Admin-Pa55!")}))
	_, err := s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = (SELECT record FROM amtkit_devices WHERE uuid = ?) WHERE uuid = ?`, a.String(), b.String())
	require.NoError(t, err)

	got, err := s.Load(ctx, b)
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	assert.Nil(t, got)
	assert.ErrorContains(t, err, "is that of "+a.String())
	assert.NotContains(t, err.Error(), "A-Admin-Pa55!")

	_, err = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	ra, err := s.Load(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, "A-Admin-Pa55!", ra.AdminPassword.Reveal())
}

// An older value of a device's own record written back into its row (the
// row's version left as it is) is refused: the record names another version.
func TestOlderRecordWrittenBackRefused(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	u := amt.UUID{0xd}
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateProvisioned, AdminPassword: amt.NewSecret("Old-Admin-Pa55!")}
	require.NoError(t, s.Save(ctx, r))
	var old []byte
	require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT record FROM amtkit_devices WHERE uuid = ?`, u.String()).Scan(&old))
	r.AdminPassword = amt.NewSecret("New-Admin-Pa55!")
	require.NoError(t, s.Save(ctx, r))
	_, err := s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = ? WHERE uuid = ?`, old, u.String())
	require.NoError(t, err)
	_, err = s.Load(ctx, u)
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	assert.ErrorContains(t, err, "at version 2 says version 1")
}

// A row over the codec's 4 MiB is refused without being read: a hostile
// 64 MiB row would otherwise cost 64 MiB and more per Load (and a Records
// page reads PageSize rows before decoding any).
func TestOversizedRowRefusedUnread(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	u := amt.UUID{0xc}
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: u}))
	_, err := s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = zeroblob(64*1024*1024) WHERE uuid = ?`, u.String())
	require.NoError(t, err)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	_, err = s.Load(ctx, u)
	runtime.ReadMemStats(&m1)
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	assert.Less(t, (m1.TotalAlloc-m0.TotalAlloc)>>20, uint64(16), "MiB allocated to refuse a row over the 4 MiB limit")
	_, err = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
}

// A time written with a UTC offset that moves it past 9999 (or before year
// 0) is refused when read, as it is when written: a record that loaded but
// could never be saved again would stop every Save of the device and Reseal.
func TestOutOfRangeOffsetTimeRefused(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	seen := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i)}, LastSeen: seen}))
	}
	for _, at := range []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+01:00"} {
		_, err := s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = CAST(replace(CAST(record AS TEXT), '"lastSeen":"2026-03-01T12:00:00Z"', '"lastSeen":"`+at+`"') AS BLOB) WHERE uuid = ?`,
			amt.UUID{2}.String())
		require.NoError(t, err)
		_, err = s.Load(ctx, amt.UUID{2})
		require.ErrorIs(t, err, provisioning.ErrRecordFormat, at)
		assert.ErrorContains(t, err, "outside the years 0–9999")
		_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = CAST(replace(CAST(record AS TEXT), '"lastSeen":"`+at+`"', '"lastSeen":"2026-03-01T12:00:00Z"') AS BLOB) WHERE uuid = ?`,
			amt.UUID{2}.String())
		require.NoError(t, err)
	}
	n, err := provisioning.Reseal(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

// A sealed value is bound to the record's version too: the admin password
// sealed in version 1 spliced into version 2 does not open.
func TestOldSealedValueSplicedIntoNewerVersionRefused(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	u := amt.UUID{0xd}
	blob := func() map[string]any {
		var b []byte
		require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT record FROM amtkit_devices WHERE uuid = ?`, u.String()).Scan(&b))
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		return m
	}
	r := &provisioning.DeviceRecord{UUID: u, State: provisioning.StateProvisioned, AdminPassword: amt.NewSecret("Old-Admin-Pa55!")}
	require.NoError(t, s.Save(ctx, r))
	v1 := blob()
	r.AdminPassword = amt.NewSecret("New-Admin-Pa55!")
	require.NoError(t, s.Save(ctx, r))
	v2 := blob()
	v2["adminPassword"] = v1["adminPassword"]
	spliced, err := json.Marshal(v2)
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = ? WHERE uuid = ?`, spliced, u.String())
	require.NoError(t, err)

	_, err = s.Load(ctx, u)
	require.ErrorIs(t, err, seal.ErrOpen)
	assert.ErrorContains(t, err, "AdminPassword")
}

// Open refuses a SQLite database opened with synchronous below FULL, under
// which a saved record can be lost ("Save returns only once the record is
// durable").
func TestOpenRefusesSynchronousBelowFull(t *testing.T) {
	for _, mode := range []string{"OFF", "NORMAL"} {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous("+mode+")")
		require.NoError(t, err)
		_, err = sqlstore.Open(context.Background(), db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
		var ce *provisioning.ConfigError
		require.ErrorAs(t, err, &ce, mode)
		assert.Contains(t, ce.Problem, "synchronous(FULL)", mode)
		require.NoError(t, db.Close())
	}
}

// One row that cannot be read — damaged, changed outside amtkit, or written by
// a newer build — and one whose uuid is not a UUID: Records yields a
// *provisioning.RecordError for each, in its place, and goes on across pages
// to the good rows after them (it used to end the walk, and with it every
// Maintainer run and Resume for the whole fleet).
func TestUnreadableRowsDoNotEndTheWalk(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "amtkit.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t), PageSize: 2})
	require.NoError(t, err)
	var good []amt.UUID
	for i := byte(1); i <= 4; i++ {
		u := amt.UUID{i}
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: u, State: provisioning.StateProvisioned}))
		good = append(good, u)
	}
	bad := amt.UUID{2, 0x80} // between good[1] and good[2]
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: bad}))
	_, err = db.ExecContext(ctx, `UPDATE amtkit_devices SET record = ? WHERE uuid = ?`, []byte(`{"format":99}`), bad.String())
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO amtkit_devices (uuid, version, state, session_in_progress, provisioned, discovery, cert_work, record)
		SELECT '01-not-a-uuid', version, state, session_in_progress, provisioned, discovery, cert_work, record FROM amtkit_devices WHERE uuid = ?`, good[0].String())
	require.NoError(t, err)

	seen, unreadable := walkRows(t, s)
	assert.Equal(t, good, seen, "every readable row, in order, across pages of 2")
	require.Len(t, unreadable, 2)
	assert.Equal(t, amt.UUID{}, unreadable[0].Device, "the row whose uuid is not a UUID names no device")
	assert.ErrorContains(t, unreadable[0], `"01-not-a-uuid"`)
	assert.Equal(t, bad, unreadable[1].Device)

	_, err = s.Load(ctx, bad)
	var re *provisioning.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, bad, re.Device)
}

// A record planted in compact form — 20,000 certificates written as {} —
// is within the limits as stored (60 KB, 20,000 values) but not as amtkit
// would write it back (every field of every entry: megabytes, 200,000
// values). It is refused when read, so it cannot load, fail every save of
// the device and stop Reseal for the rest of the fleet.
func TestCompactRecordTooLargeToSaveAgainRefused(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	for i := 1; i <= 3; i++ {
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i)}, State: provisioning.StateProvisioned}))
	}
	planted := `"certificates":[{}` + strings.Repeat(`,{}`, 19_999) + `]`
	res, err := s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = CAST(replace(CAST(record AS TEXT), '"certificates":null', ?) AS BLOB) WHERE uuid = ?`,
		planted, amt.UUID{2}.String())
	require.NoError(t, err)
	k, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, k)

	_, err = s.Load(ctx, amt.UUID{2})
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	assert.ErrorContains(t, err, "as amtkit would write it")
	n, err := provisioning.Reseal(ctx, s)
	assert.Equal(t, 2, n, "the other records are re-sealed")
	var re *provisioning.RecordError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, amt.UUID{2}, re.Device)
}

// walkRows walks every record of s and returns the devices read, in order,
// and the rows passed over; it fails the test on any other error, or a
// passed-over row that is not refused as unreadable (ErrRecordFormat).
func walkRows(t *testing.T, s *sqlstore.Store) (seen []amt.UUID, unreadable []*provisioning.RecordError) {
	t.Helper()
	for r, err := range s.Records(t.Context(), provisioning.Filter{}) {
		if err != nil {
			var re *provisioning.RecordError
			require.ErrorAs(t, err, &re, "only unreadable rows are passed over: %v", err)
			require.ErrorIs(t, err, provisioning.ErrRecordFormat)
			unreadable = append(unreadable, re)
			continue
		}
		seen = append(seen, r.UUID)
	}
	return seen, unreadable
}
