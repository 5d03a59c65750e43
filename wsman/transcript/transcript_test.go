package transcript_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validTranscript() *transcript.Transcript {
	return &transcript.Transcript{
		Format: transcript.Format,
		Provenance: transcript.Provenance{
			Firmware: "16.1.25", Source: transcript.SourceSimulator, RecordedBy: "amtkit tests",
			RecordedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Tool: "transcript_test",
			Redaction: transcript.Redaction{Policy: "amt/1", Identifying: true},
		},
		Exchanges: []transcript.Exchange{
			{Seq: 1, Request: transcript.Request{Method: "POST", Path: "/wsman", Body: "<x/>"},
				Response: &transcript.Response{Status: 401, Header: map[string][]string{"Www-Authenticate": {`Digest realm="r"`}}}},
			{Seq: 2, AtMS: 1.5, DurationMS: 0.25, Request: transcript.Request{Method: "POST", Path: "/wsman"}, Error: "EOF"},
		},
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tr := validTranscript()
	b, err := tr.Marshal()
	require.NoError(t, err)
	got, err := transcript.Decode(b)
	require.NoError(t, err)
	assert.Equal(t, tr, got)

	path := filepath.Join(t.TempDir(), "t.json")
	require.NoError(t, tr.WriteFile(path))
	got, err = transcript.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, tr, got)
	assert.True(t, bytes.HasSuffix(b, []byte("}\n")))
	assert.Contains(t, string(b), `"body": "<x/>"`, "envelopes are written without HTML escaping")
}

// Every strict prefix of a valid transcript is refused.
func TestDecodeEveryPrefixFails(t *testing.T) {
	b, err := validTranscript().Marshal()
	require.NoError(t, err)
	b = bytes.TrimRight(b, "\n")
	for i := range len(b) {
		_, err := transcript.Decode(b[:i])
		require.ErrorIs(t, err, transcript.ErrFormat, "prefix of %d bytes", i)
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(*transcript.Transcript)
		want string
	}{
		{"format", func(t *transcript.Transcript) { t.Format = "amtkit-transcript/2" }, "format"},
		{"source", func(t *transcript.Transcript) { t.Provenance.Source = "" }, "source"},
		{"recorded_by", func(t *transcript.Transcript) { t.Provenance.RecordedBy = "" }, "recorded_by"},
		{"recorded_at", func(t *transcript.Transcript) { t.Provenance.RecordedAt = time.Time{} }, "recorded_at"},
		{"tool", func(t *transcript.Transcript) { t.Provenance.Tool = "" }, "tool"},
		{"policy", func(t *transcript.Transcript) { t.Provenance.Redaction.Policy = "" }, "policy"},
		{"seq", func(t *transcript.Transcript) { t.Exchanges[1].Seq = 3 }, "seq 3"},
		{"method", func(t *transcript.Transcript) { t.Exchanges[0].Request.Method = "" }, "method"},
		{"status", func(t *transcript.Transcript) { t.Exchanges[0].Response.Status = 99 }, "status 99"},
		{"nothing", func(t *transcript.Transcript) { t.Exchanges[1].Error = "" }, "neither response nor error"},
		{"time", func(t *transcript.Transcript) { t.Exchanges[1].DurationMS = -1 }, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := validTranscript()
			tc.edit(tr)
			b, err := json.Marshal(tr)
			require.NoError(t, err)
			_, err = transcript.Decode(b)
			require.ErrorIs(t, err, transcript.ErrFormat)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	b, _ := validTranscript().Marshal()
	_, err := transcript.Decode(bytes.Replace(b, []byte(`"tool"`), []byte(`"toll"`), 1))
	require.ErrorIs(t, err, transcript.ErrFormat, "unknown fields are refused")
	_, err = transcript.Decode(append(b, []byte(`{}`)...))
	require.ErrorIs(t, err, transcript.ErrFormat, "trailing data is refused")
	_, err = transcript.Decode(bytes.Repeat([]byte(" "), transcript.MaxFileBytes+1))
	require.ErrorIs(t, err, transcript.ErrTooLarge)
	tr := validTranscript()
	tr.Exchanges[0].Request.Body = strings.Repeat("x", transcript.MaxBodyBytes+1)
	b, _ = json.Marshal(tr)
	_, err = transcript.Decode(b)
	require.ErrorIs(t, err, transcript.ErrTooLarge)
}

// FuzzDecode: never panics; every refusal is ErrFormat or ErrTooLarge;
// whatever decodes encodes to a file that decodes and encodes to the same
// bytes (an empty header map and an absent one encode alike, so the
// transcripts are compared through their encodings).
func FuzzDecode(f *testing.F) {
	b, _ := validTranscript().Marshal()
	f.Add(b)
	f.Add([]byte(`{"format":"amtkit-transcript/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := transcript.Decode(data)
		if err != nil {
			if !errors.Is(err, transcript.ErrFormat) && !errors.Is(err, transcript.ErrTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := tr.Marshal()
		require.NoError(t, err)
		again, err := transcript.Decode(out)
		require.NoError(t, err)
		out2, err := again.Marshal()
		require.NoError(t, err)
		require.Equal(t, string(out), string(out2))
		require.Len(t, again.Exchanges, len(tr.Exchanges))
	})
}

// WriteFile over a file that already exists with a wider mode leaves it
// 0600 too (os.WriteFile's mode applies to a new file only; found by an
// operator's review of examples/devicecheck -transcript).
func TestWriteFileRestrictsAnExistingFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "t.json")
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o644))
	require.NoError(t, validTranscript().WriteFile(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, err = transcript.ReadFile(path)
	require.NoError(t, err)
}

// A reader who opened an existing transcript file while its mode was wider
// does not read the new transcript through that descriptor: the file is
// replaced, not written into (found by review: the mode was restricted and
// the same file written; restricting a mode revokes no open descriptor).
func TestWriteFileReplacesAnExistingFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "t.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	held, err := os.Open(path)
	require.NoError(t, err)
	defer held.Close()
	require.NoError(t, validTranscript().WriteFile(path))
	b, err := io.ReadAll(held)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b), "the new transcript was read through a descriptor opened before")
	_, err = transcript.ReadFile(path)
	require.NoError(t, err)
}

// WriteFile to a device (/dev/null, /dev/stdout) writes it as it is: its
// mode is left alone (run as root, the chmod for regular files changed the
// system's /dev/null; found by review).
func TestWriteFileLeavesADeviceAlone(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/dev/null as on Linux")
	}
	before, err := os.Stat(os.DevNull)
	require.NoError(t, err)
	require.NoError(t, validTranscript().WriteFile(os.DevNull))
	after, err := os.Stat(os.DevNull)
	require.NoError(t, err)
	assert.Equal(t, before.Mode(), after.Mode())
}
