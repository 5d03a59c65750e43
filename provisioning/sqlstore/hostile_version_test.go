package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// SQLite keeps any value in any column: a row whose version is planted as
// text or a fraction made the page's Scan fail, which ended Records — and
// with it every Maintainer run, Resume and Reseal for the whole fleet — and
// Load failed without a *provisioning.RecordError. Such a row is now refused
// in its place, like any other row that cannot be read, and the walk goes on.
func TestAttackPlantedVersionDoesNotEndTheWalk(t *testing.T) {
	for name, planted := range map[string]any{
		"text":      "not a number",
		"fraction":  1.5,
		"too large": "99999999999999999999",
		"negative":  -1,
	} {
		t.Run(name, func(t *testing.T) {
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
			require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: bad, AdminPassword: amt.NewSecret("Bad-Admin-Pa55!")}))
			_, err = db.ExecContext(ctx, `UPDATE amtkit_devices SET version = ? WHERE uuid = ?`, planted, bad.String())
			require.NoError(t, err)

			seen, unreadable := walkRows(t, s)
			assert.Equal(t, good, seen, "every readable row, in order, across pages of 2")
			require.Len(t, unreadable, 1)
			assert.Equal(t, bad, unreadable[0].Device)

			_, err = s.Load(ctx, bad)
			var re *provisioning.RecordError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, bad, re.Device)
			assert.ErrorIs(t, err, provisioning.ErrRecordFormat)
			assert.NotContains(t, err.Error(), "Bad-Admin-Pa55!")

			n, err := provisioning.Reseal(ctx, s)
			assert.Equal(t, len(good), n, "the other records are sealed again")
			require.ErrorAs(t, err, &re)
		})
	}
}

// A row planted under another spelling of a device's UUID (upper case,
// braces) is refused in its place: the walk would otherwise yield it as that
// device, beside the device's own row (found by review).
func TestAttackPlantedUUIDSpellingRefused(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "amtkit.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: testSealer(t)})
	require.NoError(t, err)
	u := amt.UUID{0xab, 1}
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: u, State: provisioning.StateProvisioned}))
	conn, err := db.Conn(ctx) // one connection: the temporary table is its own
	require.NoError(t, err)
	for _, q := range []string{
		`CREATE TEMP TABLE planted AS SELECT * FROM amtkit_devices WHERE uuid = '` + u.String() + `'`,
		`UPDATE planted SET uuid = '` + strings.ToUpper(u.String()) + `'`,
		`INSERT INTO amtkit_devices SELECT * FROM planted`,
	} {
		_, err = conn.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, conn.Close())

	seen, unreadable := walkRows(t, s)
	assert.Equal(t, []amt.UUID{u}, seen, "the device once, from its own row")
	assert.Len(t, unreadable, 1)
}
