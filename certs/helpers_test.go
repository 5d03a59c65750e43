package certs_test

import (
	"crypto/x509"
	"encoding/pem"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/testvectors"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// fixture shares one key pool and one root across a test's cases.
type fixture struct {
	keys  *certstest.KeyPool
	root  *certstest.CA
	inter *certstest.CA // shared intermediate under root
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	keys := &certstest.KeyPool{Reuse: true}
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys, Now: fixedNow})
	inter, err := root.NewIntermediate(certstest.CAOptions{})
	require.NoError(t, err)
	return &fixture{keys: keys, root: root, inter: inter}
}

// chain makes a provisioning chain under the fixture's root unless o.Root or
// o.RootOptions ask otherwise; chains that need no CA of their own get their
// leaf from the shared intermediate (one signature each).
func (f *fixture) chain(t testing.TB, o certstest.ProvisioningOptions) *certstest.ProvisioningChain {
	t.Helper()
	if o.Keys == nil {
		o.Keys = f.keys
	}
	if o.Now == nil {
		o.Now = fixedNow
	}
	if o.Root == nil && reflect.ValueOf(o.RootOptions).IsZero() {
		o.Root = f.root
		if !o.NoIntermediate && o.Intermediates == 0 && reflect.ValueOf(o.IntermediateOptions).IsZero() {
			o.Issuer = f.inter
		}
	}
	return certstest.MustProvisioningChain(t, o)
}

type rootHashVector struct {
	Name   string `json:"name"`
	PEM    string `json:"pem"`
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
	SHA384 string `json:"sha384"`
	SHA512 string `json:"sha512"`
}

// digicertG2 returns the public DigiCert Global Root G2 certificate and its
// OpenSSL fingerprints from the test vectors.
func digicertG2(t testing.TB) (*x509.Certificate, rootHashVector) {
	t.Helper()
	v := testvectors.Load[rootHashVector](t, "certs_roothash").Vectors[0]
	blk, _ := pem.Decode([]byte(v.PEM))
	require.NotNil(t, blk)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	return c, v
}
