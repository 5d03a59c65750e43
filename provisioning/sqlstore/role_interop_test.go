//go:build interop

package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning/sqlstore"
)

// A least-privilege deployment: the schema is migrated once (by its owner),
// and the provisioners connect as a role with only DML rights on amtkit's
// tables. Open runs "CREATE TABLE IF NOT EXISTS amtkit_schema" every time,
// before it reads the schema version, and PostgreSQL checks CREATE on the
// schema before it looks at IF NOT EXISTS: every provisioner fails to start
// ("permission denied for schema") although nothing needs migrating. Open
// should read the version first (to_regclass('amtkit_schema'), MAX(version))
// and run DDL only when a migration is due.
func TestInteropOpenWithoutCreatePrivilege(t *testing.T) {
	ctx := context.Background()
	dsn := pgSchema(t)
	owner := openPostgres(t, dsn) // migrates
	admin := owner.DB()
	var schema string
	require.NoError(t, admin.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema))

	var b [4]byte
	_, _ = rand.Read(b[:])
	role := "amtkit_app_" + hex.EncodeToString(b[:])
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
	} {
		_, err := admin.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP OWNED BY " + role)
		_, _ = admin.Exec("DROP ROLE " + role)
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.User(role)
	db, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	// The role can do everything the store does…
	_, err = db.ExecContext(ctx, "SELECT count(*) FROM amtkit_devices")
	require.NoError(t, err)
	// …but cannot open it.
	_, err = sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.PostgreSQL, Sealer: testSealer(t)})
	require.NoError(t, err, "Open as a DML-only role on a schema that is current")
}
