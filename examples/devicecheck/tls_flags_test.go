package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -pin, -ca and -insecure say how to authenticate a TLS endpoint: given with
// an http:// endpoint they were ignored, and the operator who pinned the device
// sent the digest exchange (open to an offline guess of the password) to
// whoever answered in plain HTTP. Such a command line is refused.
func TestTLSFlagsWithPlainHTTPRefused(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	for name, o := range map[string]options{
		"pin":      {pin: pin},
		"ca":       {caFile: "ca.pem"},
		"insecure": {insecure: true},
		"host":     {host: "pc7.example.com"},
	} {
		o.endpoint, o.user, o.passwordStdin = "http://127.0.0.1:1/wsman", "admin", true
		var out, log strings.Builder
		err := run(t.Context(), o, strings.NewReader("Adm1n-Passw0rd!\n"), &out, &log)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "https", name)
		assert.NotContains(t, err.Error(), "no read of", "%s: the device was contacted", name)
	}
}

// A command line missing its TLS policy is refused before the password is
// asked for: the operator does not type it only to be told to add -pin.
func TestTLSFlagsCheckedBeforePasswordPrompt(t *testing.T) {
	t.Setenv("AMT_PASSWORD", "")
	var out, log strings.Builder
	err := run(t.Context(), options{endpoint: "https://127.0.0.1:1/wsman", user: "admin"}, strings.NewReader(""), &out, &log)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "https needs -pin, -ca or -insecure")
	assert.NotContains(t, log.String(), "password for", "prompted for a password first")
}
