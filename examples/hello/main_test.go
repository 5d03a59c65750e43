package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunDefault(t *testing.T) {
	var b strings.Builder
	require.NoError(t, run(&b, "", "", ""))
	out := b.String()
	assert.Contains(t, out, "hello v3 uuid=d2ffc23e-9dd1-412d-860a-54b2039b72ff retry=1 hashes=3")
	assert.Contains(t, out, "DigiCert Global Root G2")
	assert.Contains(t, out, "not a known factory root")
	assert.Contains(t, out, "northwindtraders.com")
	assert.Contains(t, out, "single-label")
}

func TestRunHex(t *testing.T) {
	var b strings.Builder
	require.NoError(t, run(&b, "00000200030000003ec2ffd2d19d2d41860a54b2039b72ff4142434432333435", "", ""))
	assert.Contains(t, b.String(), `PID "ABCD2345"`)
	assert.Error(t, run(&b, "zz", "", ""))
	assert.Error(t, run(&b, "0100", "", ""))
}

func TestRunCheck(t *testing.T) {
	var b strings.Builder
	require.NoError(t, run(&b, "", "prov.contoso.com", "sales.contoso.com"))
	assert.Contains(t, b.String(), "yes")
}
