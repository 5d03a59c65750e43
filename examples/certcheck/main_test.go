package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestDemo(t *testing.T) {
	var b strings.Builder
	require.NoError(t, run(&b, config{now: t0}))
	out := b.String()
	good, bad, ok := strings.Cut(out, "== faulty bundle")
	require.True(t, ok, out)
	assert.Contains(t, good, "no findings: AMT will accept this bundle")
	assert.Contains(t, good, "the device trusts this root (SHA-256)")
	assert.Contains(t, good, "0 error(s)")
	for _, code := range []amt.FindingCode{certs.CodeUsageMarkerMissing, certs.CodeKeyTooShort, certs.CodeWeakSignature,
		certs.CodeExpiryError, certs.CodeDNSSuffixMismatch} {
		assert.Contains(t, bad, string(code))
	}
	assert.Contains(t, bad, "status 7211")
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	keys := certstest.NewKeyPool()
	now := func() time.Time { return t0 }
	c := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{Keys: keys, Now: now})
	pw := amt.NewSecret("pfx-password")
	pfx, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{})
	require.NoError(t, err)
	pemData, err := certs.EncodePEM(certs.Bundle{Chain: c.Chain})
	require.NoError(t, err)
	pfxPath := filepath.Join(dir, "prov.pfx")
	pemPath := filepath.Join(dir, "chain.pem")
	require.NoError(t, os.WriteFile(pfxPath, pfx, 0o600))
	require.NoError(t, os.WriteFile(pemPath, pemData, 0o600))

	var b strings.Builder
	cfg := config{in: pfxPath, password: pw, now: t0, suffixes: []string{"example.com"}, hashes: []amt.CertHash{c.RootHash(amt.HashSHA384)}}
	require.NoError(t, run(&b, cfg))
	assert.Contains(t, b.String(), "no findings")
	assert.Contains(t, b.String(), "the device trusts this root (SHA-384)")

	b.Reset()
	cfg.suffixes = []string{"fabrikam.com"}
	assert.ErrorIs(t, run(&b, cfg), errFindings)
	assert.Contains(t, b.String(), "dns-suffix-mismatch")

	b.Reset()
	err = run(&b, config{in: pemPath, now: t0})
	assert.ErrorIs(t, err, errFindings, "a PEM chain without its key cannot provision")
	assert.Contains(t, b.String(), "key-missing")

	cfg.password = amt.NewSecret("wrong")
	err = run(&b, cfg)
	require.Error(t, err)
	assert.NotErrorIs(t, err, errFindings)
	assert.NotContains(t, err.Error(), "wrong", "the password is never printed")
	assert.Error(t, run(&b, config{in: filepath.Join(dir, "missing.pfx")}))
}
