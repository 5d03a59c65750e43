package certs_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// go-pkcs12 reads the AuthenticatedSafe out of the outer ContentInfo's [0]
// as an asn1.RawValue of ANY tag (pkcs12.go: unmarshal(Content.Bytes,
// &Content)), while the iteration bound descended only into a universal
// OCTET STRING there. Retagging that one OCTET STRING (04 → 80) leaves the
// MAC valid (it covers the content octets, not the tag) and hides every
// iteration count in the AuthenticatedSafe — the encryptedData's PBES2
// parameters and the shrouded key bag's, both in the clear — from the
// bound. The file below asks for MaxPKCS12Iterations+1 in both (two
// derivations, about 0.3 s here); with 2^31-1 the same file keeps a core busy
// for about 2048 times as long (~10 minutes), in a call no context interrupts.
// With an empty password go-pkcs12 also accepts a file without any MAC, so
// then the file's author needs to know no password at all: such a file is
// refused, whatever its counts. (openssl builds the files: skipped without it.)
//
// The same holds for the encodings LoadPKCS12 decrypts itself (SHA-384 MAC,
// PBES2 with DES-EDE3-CBC): the bound is checked before either path.
func TestPKCS12IterationBoundRetaggedAuthSafe(t *testing.T) {
	t.Run("MAC, password pw", func(t *testing.T) { retaggedCase(t, "pw", "-iter", "1048577", "-nomaciter") })
	t.Run("no MAC, empty password", func(t *testing.T) { retaggedCase(t, "", "-iter", "1048577", "-nomac") })
	t.Run("SHA-384 MAC, PBES2 DES-EDE3-CBC", func(t *testing.T) {
		retaggedCase(t, "pw", "-iter", "1048577", "-nomaciter", "-macalg", "sha384", "-keypbe", "des-ede3-cbc", "-certpbe", "des-ede3-cbc")
	})
	t.Run("no MAC, PBES2 DES-EDE3-CBC", func(t *testing.T) {
		retaggedCase(t, "", "-iter", "1048577", "-nomac", "-keypbe", "des-ede3-cbc", "-certpbe", "des-ede3-cbc")
	})
}

// opensslPKCS12 exports a provisioning chain with `openssl pkcs12 -export`,
// password pw and the further arguments; the test is skipped without openssl.
func opensslPKCS12(t *testing.T, pw string, args ...string) []byte {
	t.Helper()
	o := newOpenSSLDir(t)
	o.run(t, append([]string{"pkcs12", "-export", "-in", "in.pem", "-out", "out.p12", "-passout", "pass:" + pw}, args...)...)
	der, err := os.ReadFile(filepath.Join(o.dir, "out.p12"))
	require.NoError(t, err)
	return der
}

// opensslDir is a temporary directory holding a provisioning chain and its
// key as in.pem, and the openssl binary to run there.
type opensslDir struct {
	bin, dir string
	chain    *certstest.ProvisioningChain
}

// newOpenSSLDir skips the test without openssl (call it from the test's own
// goroutine).
func newOpenSSLDir(t *testing.T) *opensslDir {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: &certstest.KeyPool{Reuse: true}})
	require.NoError(t, err)
	pemData, err := certs.EncodePEM(chain.Bundle)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in.pem"), pemData, 0o600))
	return &opensslDir{bin: bin, dir: dir, chain: chain}
}

// run runs openssl in the directory and returns its standard output.
func (o *opensslDir) run(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), o.bin, args...)
	cmd.Dir = o.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "openssl %v: %s", args, stderr.Bytes())
	return out
}

func retaggedCase(t *testing.T, pw string, args ...string) {
	der := opensslPKCS12(t, pw, args...) // encryption 2^20+1

	// Sanity: with the count in plain view the bound holds.
	_, err := certs.LoadPKCS12(der, amt.NewSecret(pw))
	require.ErrorIs(t, err, certs.ErrMalformed, "the unmodified file is refused by the iteration bound")

	// Find the OCTET STRING inside PFX.authSafe [0] and retag it as [0] IMPLICIT primitive.
	s := cryptobyte.String(der)
	var pfx, authSafe, explicit cryptobyte.String
	require.True(t, s.ReadASN1(&pfx, cbasn1.SEQUENCE))
	require.True(t, pfx.SkipASN1(cbasn1.INTEGER))
	require.True(t, pfx.ReadASN1(&authSafe, cbasn1.SEQUENCE))
	require.True(t, authSafe.SkipASN1(cbasn1.OBJECT_IDENTIFIER))
	require.True(t, authSafe.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()))
	off := cap(der) - cap(explicit) // explicit is a subslice of der
	require.Equal(t, byte(0x04), der[off])
	bad := bytes.Clone(der)
	bad[off] = 0x80

	start := time.Now()
	b, err := certs.LoadPKCS12(bad, amt.NewSecret(pw))
	took := time.Since(start)
	t.Logf("LoadPKCS12 of the retagged file: %v after %v (leaf %v)", err, took, b.Leaf() != nil)
	assert.ErrorIs(t, err, certs.ErrMalformed,
		"iteration count %d (> MaxPKCS12Iterations %d) in the clear was not refused: the decoder ran the derivations (%v)",
		1048577, certs.MaxPKCS12Iterations, took)
}

// A file without a MAC is refused even with ordinary counts, as docs/certs.md
// says: go-pkcs12 decoded one when the password was empty. So is one whose
// encryption LoadPKCS12 does itself (PBES2 with DES-EDE3-CBC).
func TestPKCS12WithoutMACRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-nomac"},
		{"-nomac", "-keypbe", "des-ede3-cbc", "-certpbe", "des-ede3-cbc"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			der := opensslPKCS12(t, "", args...)
			_, err := certs.LoadPKCS12(der, amt.NewSecret(""))
			require.ErrorIs(t, err, certs.ErrMalformed)
			assert.Contains(t, err.Error(), "without a MAC")
		})
	}
}
