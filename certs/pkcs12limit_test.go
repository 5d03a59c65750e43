package certs_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// An iteration count is refused wherever it sits in the clear: the MAC, the
// certificates' encryption and the key bag's. The files are written by
// go-pkcs12 with 65,536 iterations, whose DER INTEGER is 02 03 01 00 00; each
// occurrence in turn becomes 02 03 7f ff ff (8,388,607, above the bound) with
// the same length, so the structure stays valid. Decoding such a file fully
// would take about 8 s per derivation here; the check answers at once.
func TestLoadPKCS12RefusesHugeIterationCounts(t *testing.T) {
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: &certstest.KeyPool{Reuse: true}})
	require.NoError(t, err)
	b := chain.Bundle
	count := []byte{0x02, 0x03, 0x01, 0x00, 0x00}
	huge := []byte{0x02, 0x03, 0x7f, 0xff, 0xff}
	require.Greater(t, 0x7fffff, certs.MaxPKCS12Iterations)
	require.Less(t, 65536, certs.MaxPKCS12Iterations)

	encoders := []struct {
		name string
		enc  *pkcs12.Encoder
		// where the counts are, in file order
		places []string
	}{
		{"PBES2 AES, HMAC-SHA-256 MAC", pkcs12.Modern2023, []string{"certificates", "key", "MAC"}},
		{"3DES, SHA-1 MAC", pkcs12.LegacyDES, []string{"certificates", "key", "MAC"}},
		{"PBES2 AES, PBMAC1", pkcs12.Modern2026, []string{"certificates", "key", "MAC"}},
	}
	for _, e := range encoders {
		t.Run(e.name, func(t *testing.T) {
			der, err := e.enc.WithIterations(65536).Encode(b.Key, b.Leaf(), []*x509.Certificate(b.Chain[1:]), "pw")
			require.NoError(t, err)
			loaded, err := certs.LoadPKCS12(der, amt.NewSecret("pw"))
			require.NoError(t, err, "65,536 iterations are within the bound")
			assert.Equal(t, b.Leaf().Raw, loaded.Leaf().Raw)

			at := indexAll(der, count)
			require.Len(t, at, len(e.places), "INTEGER 65536 occurrences")
			for i, off := range at {
				t.Run(e.places[i], func(t *testing.T) {
					bad := bytes.Clone(der)
					copy(bad[off:], huge)
					_, err := certs.LoadPKCS12(bad, amt.NewSecret("pw"))
					require.Error(t, err)
					assert.True(t, errors.Is(err, certs.ErrMalformed), "%v", err)
					assert.Contains(t, err.Error(), fmt.Sprint(0x7fffff))
					_, err = certs.Load(bad, amt.NewSecret("pw"))
					assert.True(t, errors.Is(err, certs.ErrMalformed), "Load: %v", err)
				})
			}
		})
	}
}

func indexAll(b, sub []byte) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(b[off:], sub)
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + 1
	}
}
