package certs_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// A Bundle's key never comes out of fmt, JSON or slog: an ed25519 key is a
// byte slice that fmt would print, and JSON would write an RSA key's D and
// primes.
func TestBundleKeyNeverPrinted(t *testing.T) {
	f := newFixture(t)
	rsaChain := f.chain(t, certstest.ProvisioningOptions{})
	seed := bytes.Repeat([]byte{0x5a}, ed25519.SeedSize)
	edKey := ed25519.NewKeyFromSeed(seed)
	for name, b := range map[string]certs.Bundle{
		"rsa":     rsaChain.Bundle,
		"ed25519": {Chain: rsaChain.Chain, Key: edKey},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
				fmt.Fprintf(&out, verb+"\n", b)
				fmt.Fprintf(&out, verb+"\n", []certs.Bundle{b})
				fmt.Fprintf(&out, verb+"\n", struct{ B certs.Bundle }{b})
			}
			js, err := json.Marshal(b)
			require.NoError(t, err)
			out.Write(js)
			slog.New(slog.NewJSONHandler(&out, nil)).Info("b", "bundle", b, "nested", struct{ B certs.Bundle }{b})
			slog.New(slog.NewTextHandler(&out, nil)).Info("b", "bundle", b)
			s := out.String()
			assert.NotContains(t, s, fmt.Sprint([]byte(seed[:8]))[1:20], "ed25519 seed as decimal bytes")
			assert.NotContains(t, s, fmt.Sprintf("%x", seed[:8]))
			assert.NotContains(t, s, `"D"`)
			assert.NotContains(t, s, "Primes")
			assert.True(t, strings.Contains(s, "CN=prov.example.com"), s)
		})
	}
}
