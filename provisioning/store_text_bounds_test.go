package provisioning_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// Commas inside strings are not values: a record whose error texts hold
// thousands of them (a device's fault reason) saves and loads again. The
// codec's bound on values counted them, and such a record, saved, never
// loaded again, stopping every walk of the store at it.
func TestRecordWithCommasInErrorsLoads(t *testing.T) {
	ctx := context.Background()
	s, err := provisioning.NewKVStore(&mapKV{m: map[string][]byte{}}, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	fault := "wsman: fault InternalError (Receiver), HTTP 500: " + strings.Repeat("a, ", 1100) // device-supplied Reason text
	r := &provisioning.DeviceRecord{UUID: amt.UUID{0xc0}, State: provisioning.StateFailed, LastError: fault}
	for range 64 { // maxHistory
		r.History = append(r.History, provisioning.StepRecord{Step: provisioning.StepReconcile, State: provisioning.StateFailed, Error: fault})
	}
	require.NoError(t, s.Save(ctx, r)) // ~75 KB
	_, err = s.Load(ctx, r.UUID)
	require.NoError(t, err, "a record Save accepted no longer loads")
	_, err = provisioning.CollectRecords(s.Records(ctx, provisioning.Filter{}))
	require.NoError(t, err)
}

// A nil *CA prints and logs (slog recorded a panic).
func TestNilCALogs(t *testing.T) {
	var ca *provisioning.CA
	assert.Equal(t, "provisioning.CA(<nil>)", fmt.Sprint(ca))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("issuer", "ca", ca)
	assert.NotContains(t, buf.String(), "panicked")
}

// What the codec would refuse to read it refuses to write: a record over the
// bound on values fails at Save, not at every Load after it.
func TestRecordCodecRefusesToWriteWhatItCannotRead(t *testing.T) {
	ctx := context.Background()
	s, err := provisioning.NewKVStore(&mapKV{m: map[string][]byte{}}, provisioning.RecordCodec{Sealer: testSealer(t)})
	require.NoError(t, err)
	r := &provisioning.DeviceRecord{UUID: amt.UUID{0xc1}}
	for range 70000 {
		r.Certificates = append(r.Certificates, provisioning.DeviceCertificate{})
	}
	require.ErrorContains(t, s.Save(ctx, r), "too large to store")
	_, err = s.Load(ctx, r.UUID)
	require.ErrorIs(t, err, provisioning.ErrNotFound)
}
