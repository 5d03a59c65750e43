package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman/transcript"
)

// A wrong password (every read answered 401) must not end in exit status 0
// with a report that says the device "is not provisioned".
func TestWrongPasswordIsAnError(t *testing.T) {
	ctx := t.Context()
	d, err := startDemo(ctx, "16.1.25", "provisioned", &strings.Builder{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	path := filepath.Join(t.TempDir(), "t.json")
	var out, log strings.Builder
	wrong := amt.NewSecret("Wr0ng-Passw0rd!")
	err = checkDevice(ctx, d.endpoint, d.user, wrong, d.opts, options{transcript: path, anonymize: true},
		transcript.SourceSimulator, "test", &out, &log)
	t.Log(out.String())
	assert.NotContains(t, out.String(), "the device is not provisioned", "it was never read")
	require.Error(t, err, "every read failed with 401, yet the check succeeds")
	_, statErr := os.Stat(path)
	assert.True(t, os.IsNotExist(statErr), "no transcript of a session that read nothing")
}

// An endpoint that refuses connections is an error too.
func TestRefusedEndpointIsAnError(t *testing.T) {
	var out, log strings.Builder
	err := checkDevice(t.Context(), "http://127.0.0.1:1/wsman", "admin", amt.NewSecret("x"), nil, options{},
		transcript.SourceDevice, "", &out, &log)
	require.Error(t, err, "nothing could be read:\n%s", out.String())
}

// docs/field-kit.md: "-transcript file writes one JSON document (… mode
// 0600)" — also when the file existed already with a wider mode.
func TestTranscriptOverwriteIs0600(t *testing.T) {
	ctx := t.Context()
	d, err := startDemo(ctx, "16.1.25", "provisioned", &strings.Builder{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	path := filepath.Join(t.TempDir(), "dev.json")
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o644))
	var out, log strings.Builder
	require.NoError(t, checkDevice(ctx, d.endpoint, d.user, d.password, d.opts, options{transcript: path, anonymize: false},
		transcript.SourceSimulator, "test", &out, &log))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}
