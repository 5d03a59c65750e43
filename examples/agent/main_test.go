package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

func TestNoDeviceExplains(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, options{device: filepath.Join(t.TempDir(), "mei0")})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "No MEI device")
}

func TestDemoStatus(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, options{demo: true}))
	assert.Contains(t, out.String(), "UUID          d2ffc23e-9dd1-412d-860a-54b2039b72ff")
	assert.Contains(t, out.String(), "AMT           16.1.25.2052")
	assert.Contains(t, out.String(), "unavailable: pthi: GetLANInterfaceSettings failed: PT_STATUS_INTERFACE_DOES_NOT_EXIST (2501)")
}

func TestDemoPrepareJSON(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, options{demo: true, prepare: true, json: true}))
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	assert.Equal(t, "d2ffc23e-9dd1-412d-860a-54b2039b72ff", got["uuid"])
	assert.Equal(t, "PKI", got["tlsMode"])
	assert.NotContains(t, out.String(), demoOTP)

	// Another OTP than the recorded one is a different request: the replay refuses it.
	err := run(context.Background(), &out, options{demo: true, prepare: true, otp: amt.NewSecret("another-otp")})
	assert.Error(t, err)
}

// -enable-amt, -deactivate and -recover against simulated devices.
func TestSimulatedMaintenance(t *testing.T) {
	for _, tt := range []struct {
		o    maintainOptions
		want []string
	}{
		{maintainOptions{sim: true, enable: true}, []string{"AMT was disabled; it is enabled now"}},
		{maintainOptions{sim: true, deactivate: true}, []string{"Post, control mode CCM", "client control mode: Unprovision over PTHI", "Pre, None (read over PTHI)"}},
		{maintainOptions{sim: true, recover: true}, []string{"In, control mode None", "in provisioning: Unprovision over PTHI", "Pre, None (read over PTHI)"}},
	} {
		var out bytes.Buffer
		require.NoError(t, maintain(context.Background(), &out, tt.o))
		for _, w := range tt.want {
			assert.Contains(t, out.String(), w)
		}
	}
}
