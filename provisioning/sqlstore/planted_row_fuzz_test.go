package sqlstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
)

// FuzzPlantedRows plants a device row and a PSK pair row of arbitrary values
// — any SQLite type in the version column, any bytes in the record, PID,
// sealed and device columns — as someone with write access to the database
// could. Decoding them never panics; Load refuses an unreadable device row
// with a *provisioning.RecordError, and a walk of the devices passes over it
// to the next device.
func FuzzPlantedRows(f *testing.F) {
	ctx := context.Background()
	s := openSQLite(f, filepath.Join(f.TempDir(), "amtkit.db"))
	db, ps := s.DB(), s.PSK()
	u, next := amt.UUID{1}, amt.UUID{2}
	pairs, err := pskx.GenerateBatch(rand.Reader, 1)
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Save(ctx, &provisioning.DeviceRecord{UUID: u, AdminPassword: amt.NewSecret("Seed-Pa55!")}); err != nil {
		f.Fatal(err)
	}
	if err := ps.Put(ctx, pairs...); err != nil {
		f.Fatal(err)
	}
	var record, pps, mebx []byte
	var pid string
	if err := db.QueryRowContext(ctx, `SELECT record FROM amtkit_devices`).Scan(&record); err != nil {
		f.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT pid, pps, mebx_password FROM amtkit_psk_pairs`).Scan(&pid, &pps, &mebx); err != nil {
		f.Fatal(err)
	}
	f.Add(int64(1), "", record, pid, pps, mebx, "")
	f.Add(int64(0), "1", record, pid, pps, []byte(nil), u.String())
	f.Add(int64(-1), "x", []byte(`{"format":2}`), "ABCD-EFGH", []byte{1, 2, 'k', '1'}, []byte{}, "not a uuid")
	f.Fuzz(func(t *testing.T, version int64, versionText string, record []byte, pid string, pps, mebx []byte, usedBy string) {
		for _, q := range []string{`DELETE FROM amtkit_devices`, `DELETE FROM amtkit_psk_pairs`} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Save(ctx, &provisioning.DeviceRecord{UUID: next}); err != nil {
			t.Fatal(err)
		}
		var v any = version
		if versionText != "" {
			v = versionText
		}
		if record == nil {
			record = []byte{}
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO amtkit_devices (uuid, version, state, session_in_progress, provisioned, discovery, cert_work, record)
			VALUES (?, ?, 'Discovered', 0, 0, 1, 0, ?)`, u.String(), v, record); err != nil {
			t.Fatal(err)
		}
		var by any
		if usedBy != "" {
			by = usedBy
		}
		if pps == nil {
			pps = []byte{}
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO amtkit_psk_pairs (pid, version, added, used, used_by, pps, mebx_password) VALUES (?, ?, 0, 0, ?, ?, ?)`,
			pid, v, by, pps, mebx); err != nil {
			return // a constraint refused the row
		}

		var re *provisioning.RecordError
		r, err := s.Load(ctx, u)
		switch {
		case err == nil:
			if r.UUID != u {
				t.Fatalf("loaded the record of %s for %s", r.UUID, u)
			}
		case errors.As(err, &re):
		default:
			t.Fatalf("Load: an error that does not say the row cannot be read: %v", err)
		}
		sawNext := false
		for r, err := range s.Records(ctx, provisioning.Filter{}) {
			if err != nil {
				if !errors.As(err, &re) {
					t.Fatalf("Records: %v", err)
				}
				continue
			}
			sawNext = sawNext || r.UUID == next
		}
		if !sawNext {
			t.Fatal("the walk did not reach the next device")
		}
		_, _ = provisioning.Reseal(ctx, s)
		if p, err := pskx.ParsePID(pid); err == nil {
			_, _ = ps.Lookup(ctx, p)
		}
		_, _ = pskx.CollectPairs(ps.Pairs(ctx, pskx.PairFilter{}))
		_, _ = ps.Reseal(ctx)
	})
}
