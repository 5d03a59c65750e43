package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/seal"
)

// PairStore is a [pskx.Store] on the same database as its [Store]: one row
// per pair, the PPS and MEBx password sealed by the Store's Sealer, the use
// of a pair decided by one conditional UPDATE (one device per pair, also
// across provisioners). Get it with [Store.PSK].
type PairStore struct {
	s *Store
}

var _ pskx.Store = (*PairStore)(nil)

// PSK returns the PSK pair store on the store's database.
func (s *Store) PSK() *PairStore { return &PairStore{s: s} }

func (ps *PairStore) aad(pid pskx.PID, field string) []byte {
	return []byte("amtkit/psk/1/" + pid.Compact() + "/" + field)
}

func (ps *PairStore) seal(ctx context.Context, pid pskx.PID, field string, v amt.Secret) ([]byte, error) {
	if v.IsZero() {
		return nil, nil
	}
	b, err := ps.s.sealer.Seal(ctx, []byte(v.Reveal()), ps.aad(pid, field))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: sealing the %s of %s: %w", field, pid, err)
	}
	return b, nil
}

func (ps *PairStore) open(ctx context.Context, pid pskx.PID, field string, b []byte) (string, error) {
	if b == nil {
		return "", nil
	}
	pt, err := ps.s.sealer.Open(ctx, b, ps.aad(pid, field))
	if err != nil {
		return "", fmt.Errorf("sqlstore: opening the %s of %s: %w", field, pid, err)
	}
	return string(pt), nil
}

// Put implements [pskx.Store]: the batch is one transaction.
func (ps *PairStore) Put(ctx context.Context, pairs ...pskx.Pair) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, p := range pairs {
		if p.PID.IsZero() || p.PPS.IsZero() {
			return fmt.Errorf("pskx: pair %d lacks a PID or PPS", i+1)
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	type row struct {
		pid       string
		pps, mebx []byte
	}
	rows := make([]row, len(pairs))
	for i, p := range pairs {
		pps, err := ps.seal(ctx, p.PID, "PPS", p.PPS.Secret())
		if err != nil {
			return err
		}
		mebx, err := ps.seal(ctx, p.PID, "MEBxPassword", p.MEBxPassword)
		if err != nil {
			return err
		}
		rows[i] = row{p.PID.Compact(), pps, mebx}
	}
	tx, err := ps.s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if ps.s.dialect == PostgreSQL {
		// Two batches that share PIDs, inserted in different orders, would
		// each wait for the other's uncommitted rows (deadlock, 40P01):
		// the batch first takes a lock per PID in PID order, one statement,
		// so that the later one waits and then meets ErrDuplicatePID. The
		// rows still go in in the caller's order (Pairs' insertion order).
		// One string argument (compact PIDs hold no comma), so that any
		// database/sql driver passes it, not only pgx's arrays.
		pids := make([]string, len(rows))
		for i, r := range rows {
			pids[i] = r.pid
		}
		slices.Sort(pids)
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('amtkit-pid:' || p, 0)) FROM unnest(string_to_array($1::text, ',')) AS p ORDER BY p`, strings.Join(pids, ",")); err != nil {
			return err
		}
	}
	added := ps.s.now().UnixNano()
	ins := ps.s.q(`INSERT INTO amtkit_psk_pairs (pid, version, added, used, pps, mebx_password) VALUES (?, 1, ?, 0, ?, ?)
		ON CONFLICT (pid) DO NOTHING`)
	for i, r := range rows {
		res, err := tx.ExecContext(ctx, ins, r.pid, added, r.pps, r.mebx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: %v", pskx.ErrDuplicatePID, pairs[i].PID)
		}
	}
	return tx.Commit()
}

// pairColumns reads a pair row. Its variable-length columns come back NULL
// when longer than anything amtkit writes (a sealed PPS or password is under
// 200 bytes, a PID 8 characters, a UUID 36): a row planted by someone with
// write access to the database must not make a lookup or a walk read
// gigabytes (the device table has the same bound, MaxRecordSize). The
// guards count bytes (octet_length): SQLite's length() counts a text value's
// characters up to its first NUL, so a planted value that begins with one
// measured 0.
const pairColumns = "seq, " +
	"CASE WHEN octet_length(pid) > 64 THEN NULL ELSE pid END, version, added, used, used_at, " +
	"CASE WHEN octet_length(used_by) > 64 THEN NULL ELSE used_by END, " +
	"CASE WHEN octet_length(pps) > 4096 THEN NULL ELSE pps END, " +
	"CASE WHEN octet_length(mebx_password) > 4096 THEN NULL ELSE mebx_password END, " +
	"CASE WHEN octet_length(pid) > 64 OR octet_length(used_by) > 64 OR octet_length(pps) > 4096 OR octet_length(mebx_password) > 4096 THEN 1 ELSE 0 END"

type pairRow struct {
	seq    int64
	pid    sql.NullString
	usedBy sql.NullString
	// The number columns as stored: SQLite keeps any value in any column,
	// and a row whose number is text must be refused by decode, not fail
	// the page's Scan (which would end a walk at it).
	version, added, used, usedAt any
	oversize                     int
	pps, mebx                    []byte
}

// asInt64 is v, a number column as a driver returns it, as an int64.
func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int:
		return int64(n), true
	}
	return 0, false
}

func (r *pairRow) scan(sc interface{ Scan(...any) error }) error {
	return sc.Scan(&r.seq, &r.pid, &r.version, &r.added, &r.used, &r.usedAt, &r.usedBy, &r.pps, &r.mebx, &r.oversize)
}

func (ps *PairStore) decode(ctx context.Context, r *pairRow) (pskx.StoredPair, error) {
	if r.oversize != 0 || !r.pid.Valid {
		return pskx.StoredPair{}, fmt.Errorf("%w %d: it holds a value larger than any amtkit writes (a PID or UUID over 64 characters, a sealed value over 4096 bytes): the row was changed outside amtkit", errPairRow, r.seq)
	}
	version, ok1 := asInt64(r.version)
	added, ok2 := asInt64(r.added)
	used, ok3 := asInt64(r.used)
	usedAt, ok4 := asInt64(r.usedAt)
	if !ok1 || !ok2 || !ok3 || !ok4 && r.usedAt != nil {
		return pskx.StoredPair{}, fmt.Errorf("%w %d: a column that holds a number does not: the row was changed outside amtkit", errPairRow, r.seq)
	}
	pid, err := pskx.ParsePID(r.pid.String)
	if err != nil {
		return pskx.StoredPair{}, fmt.Errorf("%w %d: stored PID %q: %w", errPairRow, r.seq, r.pid.String, err)
	}
	ppsText, err := ps.open(ctx, pid, "PPS", r.pps)
	if err != nil {
		return pskx.StoredPair{}, err
	}
	pps, err := pskx.ParsePPS(ppsText)
	if err != nil {
		return pskx.StoredPair{}, fmt.Errorf("%w %d: the PPS of %s does not parse: %w", errPairRow, r.seq, pid, err)
	}
	mebx, err := ps.open(ctx, pid, "MEBxPassword", r.mebx)
	if err != nil {
		return pskx.StoredPair{}, err
	}
	out := pskx.StoredPair{Pair: pskx.Pair{PID: pid, PPS: pps, MEBxPassword: amt.NewSecret(mebx)},
		Version: uint64(version), Added: time.Unix(0, added).UTC(), Used: used != 0}
	if r.usedAt != nil {
		out.UsedAt = time.Unix(0, usedAt).UTC()
	}
	if r.usedBy.Valid {
		if out.UsedBy, err = amt.ParseUUID(r.usedBy.String); err != nil {
			return pskx.StoredPair{}, fmt.Errorf("%w %d: the device that used %s: %w", errPairRow, r.seq, pid, err)
		}
	}
	return out, nil
}

// Lookup implements [pskx.Store].
func (ps *PairStore) Lookup(ctx context.Context, pid pskx.PID) (pskx.StoredPair, error) {
	var r pairRow
	err := r.scan(ps.s.db.QueryRowContext(ctx, ps.s.q("SELECT "+pairColumns+" FROM amtkit_psk_pairs WHERE pid = ?"), pid.Compact()))
	if errors.Is(err, sql.ErrNoRows) {
		return pskx.StoredPair{}, fmt.Errorf("%w: %v", pskx.ErrPairNotFound, pid)
	}
	if err != nil {
		return pskx.StoredPair{}, err
	}
	return ps.decode(ctx, &r)
}

// MarkUsed implements [pskx.Store]: one UPDATE that succeeds only on an
// unused pair.
func (ps *PairStore) MarkUsed(ctx context.Context, pid pskx.PID, device amt.UUID) error {
	res, err := ps.s.db.ExecContext(ctx, ps.s.q(`UPDATE amtkit_psk_pairs SET used = 1, used_at = ?, used_by = ?, version = version + 1
		WHERE pid = ? AND used = 0`), ps.s.now().UnixNano(), device.String(), pid.Compact())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var by sql.NullString
	err = ps.s.db.QueryRowContext(ctx, ps.s.q("SELECT used_by FROM amtkit_psk_pairs WHERE pid = ?"), pid.Compact()).Scan(&by)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %v", pskx.ErrPairNotFound, pid)
	case err != nil:
		return err
	case by.String == device.String():
		return nil
	}
	return fmt.Errorf("%w: %v was used by %v", pskx.ErrPairUsed, pid, by.String)
}

// Pairs implements [pskx.Store]: pages in the order added.
func (ps *PairStore) Pairs(ctx context.Context, f pskx.PairFilter) iter.Seq2[pskx.StoredPair, error] {
	return func(yield func(pskx.StoredPair, error) bool) {
		for r, err := range ps.rows(ctx, f.Unused) {
			if err != nil {
				yield(pskx.StoredPair{}, err)
				return
			}
			p, err := ps.decode(ctx, r)
			if err != nil {
				yield(pskx.StoredPair{}, err)
				return
			}
			if f.Match(p) && !yield(p, nil) {
				return
			}
		}
	}
}

// rows yields the stored pair rows in the order they were added (only the
// unused ones when unused), reading a page at a time and holding no rows open
// while the caller's loop runs. An error ends the sequence.
func (ps *PairStore) rows(ctx context.Context, unused bool) iter.Seq2[*pairRow, error] {
	return func(yield func(*pairRow, error) bool) {
		cond := ""
		if unused {
			cond = " AND used = 0"
		}
		query := ps.s.q("SELECT " + pairColumns + " FROM amtkit_psk_pairs WHERE seq > ?" + cond + " ORDER BY seq LIMIT ?")
		var after int64
		for {
			var page []pairRow
			rows, err := ps.s.db.QueryContext(ctx, query, after, ps.s.pageSize)
			if err != nil {
				yield(nil, err)
				return
			}
			for rows.Next() {
				var r pairRow
				if err := r.scan(rows); err != nil {
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
			for i := range page {
				if !yield(&page[i], nil) {
					return
				}
			}
			if len(page) < ps.s.pageSize {
				return
			}
			after = page[len(page)-1].seq
		}
	}
}

// errPairRow marks a stored pair row that cannot be read: changed outside
// amtkit (a value too large, a PID, PPS or device UUID that does not parse).
var errPairRow = errors.New("sqlstore: unreadable pair row")

// unreadablePair reports whether err says that the stored row cannot be read
// (errPairRow, or a sealed value that does not open: tampered with, or sealed
// by a key the Sealer no longer has), rather than that reading failed (the
// database, the context, a Sealer that is unavailable).
func unreadablePair(err error) bool {
	return errors.Is(err, errPairRow) || errors.Is(err, seal.ErrOpen) || errors.Is(err, seal.ErrFormat) || errors.Is(err, seal.ErrUnknownKey)
}

// Reseal seals every stored pair's PPS and MEBx password again with the
// Sealer's primary key (after a key rotation; see docs/state.md). A pair
// that changes meanwhile is skipped and counted in the error it returns,
// which matches [provisioning.ErrConflict], so a second run finishes it. A pair whose row
// cannot be read (changed outside amtkit, or sealed by a key the Sealer no
// longer has) is passed over and the walk goes on; the error returned at the
// end counts such pairs and wraps the first one's error. Any other failure
// (the database, the context, the Sealer) ends the walk.
func (ps *PairStore) Reseal(ctx context.Context) (int, error) {
	n, skipped, unreadable := 0, 0, 0
	var first error
	for r, err := range ps.rows(ctx, false) {
		if err != nil {
			return n, err
		}
		p, err := ps.decode(ctx, r)
		if err != nil {
			if !unreadablePair(err) || ctx.Err() != nil {
				return n, err
			}
			if unreadable++; first == nil {
				first = err
			}
			continue
		}
		pps, err := ps.seal(ctx, p.PID, "PPS", p.PPS.Secret())
		if err != nil {
			return n, err
		}
		mebx, err := ps.seal(ctx, p.PID, "MEBxPassword", p.MEBxPassword)
		if err != nil {
			return n, err
		}
		// By the row's sequence, not its PID: a PID stored in another form
		// (lower case, dashes) still parses but would never match.
		res, err := ps.s.db.ExecContext(ctx, ps.s.q("UPDATE amtkit_psk_pairs SET pps = ?, mebx_password = ? WHERE seq = ? AND version = ?"),
			pps, mebx, r.seq, int64(p.Version))
		if err != nil {
			return n, err
		}
		if k, err := res.RowsAffected(); err != nil {
			return n, err
		} else if k == 0 {
			skipped++
			continue
		}
		n++
	}
	var errs []error
	if skipped > 0 {
		errs = append(errs, fmt.Errorf("sqlstore: %d pair(s) changed while they were re-sealed: %w", skipped, provisioning.ErrConflict))
	}
	if unreadable > 0 {
		errs = append(errs, fmt.Errorf("sqlstore: %d stored pair(s) cannot be read and were not sealed again; the first: %w", unreadable, first))
	}
	return n, errors.Join(errs...)
}
