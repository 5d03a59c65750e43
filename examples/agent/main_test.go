package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
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
		{maintainOptions{sim: true, deactivate: true, tls: true}, []string{"activated by ActivateTLS: Post, control mode ACM", "admin control mode: Unprovision over WS-Management", "Pre, None (read over PTHI)"}},
	} {
		var out bytes.Buffer
		require.NoError(t, maintain(context.Background(), &out, tt.o))
		for _, w := range tt.want {
			assert.Contains(t, out.String(), w)
		}
	}
}

// An https -lms endpoint is reached only pinned to the certificate AMT
// presents there: without a pin, with a malformed one, or with a pin on an
// http endpoint, nothing is sent; a process on the port with another
// certificate (LMS down, the port bound by anyone) is refused before the
// admin's digest exchange.
func TestSignInLMSPin(t *testing.T) {
	const good = "sha256 Fingerprint=00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
	pw := amt.NewSecret("P4ssw0rd!")
	for _, tt := range []struct {
		endpoint, pin, want string
	}{
		{"https://127.0.0.1:16993/wsman", "", "give -lms-pin"},
		{"https://127.0.0.1:16993/wsman", "0011", "want a SHA-256 in hex"},
		{"https://127.0.0.1:16993/wsman", strings.Repeat("zz", 32), "want a SHA-256 in hex"},
		{"http://127.0.0.1:16992/wsman", good, "-lms-pin is for an https -lms endpoint"},
	} {
		_, err := signInLMS(t.Context(), tt.endpoint, tt.pin, pw)
		require.Error(t, err, "%s %q", tt.endpoint, tt.pin)
		assert.Contains(t, err.Error(), tt.want)
	}
	pin, err := parsePin(good)
	require.NoError(t, err)
	assert.Equal(t, byte(0xFF), pin[31])

	// An impostor on the port: a TLS server with its own certificate.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the impostor received a request")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	admin, err := signInLMS(t.Context(), srv.URL+"/wsman", good, pw)
	require.NoError(t, err)
	_, err = admin.GeneralSettings(t.Context())
	var pe *wsman.TLSPolicyError
	require.ErrorAs(t, err, &pe, "refused by the pin: %v", err)
}

// -tls and -lms-pin where they would be ignored are refused, with the flags
// that do what was meant.
func TestFlagConflict(t *testing.T) {
	assert.NoError(t, flagConflict(true, true, true, ""))
	assert.NoError(t, flagConflict(false, true, false, "ab:cd"))
	assert.ErrorContains(t, flagConflict(false, true, true, ""), "-lms https://127.0.0.1:16993/wsman -lms-pin")
	assert.ErrorContains(t, flagConflict(true, false, true, ""), "-tls is for -sim -deactivate")
	assert.ErrorContains(t, flagConflict(false, false, false, "ab"), "-lms-pin is for -deactivate")
	assert.ErrorContains(t, flagConflict(true, true, false, "ab"), "-lms-pin is for -deactivate")
}
