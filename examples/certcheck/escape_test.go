package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// A bundle comes from whoever handed it over: the names in its certificates
// must not reach the operator's terminal as control sequences.
func TestCertificateTextIsEscaped(t *testing.T) {
	keys := certstest.NewKeyPool()
	now := func() time.Time { return t0 }
	c := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{Keys: keys, Now: now,
		FQDN: "prov.example.com\x1b]0;owned\x07\x1b[2J\nfake line"})
	pemData, err := certs.EncodePEM(certs.Bundle{Chain: c.Chain})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "chain.pem")
	require.NoError(t, os.WriteFile(path, pemData, 0o600))

	var b strings.Builder
	_ = run(&b, config{in: path, now: t0})
	out := b.String()
	assert.Contains(t, out, "prov.example.com", out)
	assert.NotContains(t, out, "\x1b", "escape sequences from the certificate are printed escaped")
	assert.NotContains(t, out, "\x07")
	assert.NotContains(t, out, "\nfake line")
}
