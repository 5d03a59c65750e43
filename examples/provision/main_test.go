package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/provisioning/sqlstore"
	"github.com/amtkit/amtkit/provisioning/storetest"
)

// The default job must provision the good devices and refuse each planned one
// for its planned reason.
func TestRunPlannedOutcomes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var summary, progress strings.Builder
	res, err := run(ctx, options{devices: 12, progress: &progress, summary: &summary})
	require.NoError(t, err)
	assert.Equal(t, 0, res.unexpected, summary.String())
	assert.Equal(t, 10, res.provisioned, summary.String())
	assert.Equal(t, 2, res.refused, summary.String()) // 12/5 = 2 refusals: no-root, wrong-suffix
	assert.False(t, res.crashed)
	out := summary.String()
	assert.Contains(t, out, "Summary: 12 devices")
	assert.Contains(t, out, "Every device ended as planned.")
	assert.Contains(t, out, "no-matching-root")
	assert.Contains(t, out, "suffix-mismatch")
	assert.Contains(t, out, "docs/state.md", "it ends by pointing to what to read next")
	// Refusals by rule are not counted or listed as failures: nothing is
	// listed under "failed".
	failed := out[strings.Index(out, "  failed"):]
	assert.True(t, strings.HasPrefix(strings.SplitN(failed, "\n", 3)[1], "  time per"), "nothing listed under failed:\n%s", out)
	assert.Equal(t, 0, res.failed)

	p := progress.String()
	assert.Contains(t, p, "12 devices", "the header counts what the summary counts")
	assert.Contains(t, p, "2 of them are meant to be refused")
	assert.Contains(t, p, "pc-011  its firmware does not trust the root")
	// Reasons are printed whole: the useful part is at the end.
	assert.Contains(t, p, `does not cover DNS suffix "northwindtraders.com"`)
}

// Killed mid-run, the provisioner's successor resumes every session from the
// state file: every device is provisioned once, and the file holds every
// outcome with no secret in plaintext.
func TestRunCrashAndResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	state := filepath.Join(t.TempDir(), "state.db")
	var summary, progress strings.Builder
	res, err := run(ctx, options{devices: 25, progress: &progress, summary: &summary, statePath: state, crashAfter: 6})
	require.NoError(t, err)
	assert.True(t, res.crashed, progress.String())
	assert.Equal(t, 0, res.unexpected, summary.String())
	assert.Equal(t, 20, res.provisioned, summary.String())
	assert.Equal(t, 5, res.refused, summary.String())
	assert.Positive(t, res.resumed, "sessions were resumed from the file:\n%s", progress.String())
	assert.Contains(t, progress.String(), "── restart: a new provisioner opens "+state)
	assert.Contains(t, summary.String(), "resumed after the crash")

	sealer, _, err := stateKey(state + ".key")
	require.NoError(t, err)
	db, err := sql.Open("sqlite", "file:"+state+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer db.Close()
	store, err := sqlstore.Open(ctx, db, sqlstore.Options{Dialect: sqlstore.SQLite, Sealer: sealer})
	require.NoError(t, err)
	recs, err := provisioning.CollectRecords(store.Records(ctx, provisioning.Filter{}))
	require.NoError(t, err)
	provisioned := 0
	var secrets []string
	for _, r := range recs {
		if r.State == provisioning.StateProvisioned {
			provisioned++
			assert.Nil(t, r.Session)
		}
		for _, s := range storetest.Secrets(r) {
			secrets = append(secrets, s.Reveal())
		}
	}
	assert.Equal(t, 20, provisioned)
	require.NotEmpty(t, secrets)
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(state + suffix)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			assert.False(t, bytes.Contains(raw, []byte(s)), "a password is in the state file in plaintext")
		}
	}
}

// Where loopback aliases cannot be bound (macOS), the fleet shares 127.0.0.1.
func TestRunSharedIP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var summary strings.Builder
	res, err := run(ctx, options{devices: 25, sharedIP: true, progress: io.Discard, summary: &summary, crashAfter: 6})
	require.NoError(t, err)
	assert.Equal(t, 0, res.unexpected, summary.String())
	assert.Equal(t, 5, res.refused, summary.String())
}

func TestPlans(t *testing.T) {
	ps := plans(25)
	require.Len(t, ps, 25)
	kinds := map[string]int{}
	for _, p := range ps {
		kinds[p.kind]++
	}
	for _, k := range []string{"no-root", "wrong-suffix", "bad-otp", "unknown", "rogue"} {
		assert.Equal(t, 1, kinds[k], k)
	}
	assert.Equal(t, "rogue", ps[24].name)
	for i, p := range ps {
		if p.kind == "on-die" {
			fw := firmwareFor(i, p)
			assert.True(t, amtFirmwareHasOnDie(fw.String()), "on-die device %d on %s", i, fw)
		}
	}
	assert.Len(t, plans(1), 1)
	_, err := run(context.Background(), options{devices: 0, progress: io.Discard, summary: io.Discard})
	assert.Error(t, err)
}

func amtFirmwareHasOnDie(v string) bool {
	return amt.FirmwareFor(amt.MustParseVersion(v)).OnDieCertificate.Any()
}
