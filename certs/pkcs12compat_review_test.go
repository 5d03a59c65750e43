package certs

// An adversarial review of pkcs12compat.go: the "Review finding" tests
// failed on the code reviewed and hold the fixes; the VERIFIED tests document
// properties the review checked.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtkit/amtkit/amt"
)

// ---------------------------------------------------------------------------
// Builders: PKCS#12 files assembled from first principles, so that each
// structure and count is under the test's control.

var (
	rvOIDCertBag     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	rvOIDX509Cert    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	rvOIDPBESHA13DES = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3} // pbeWithSHAAnd3-KeyTripleDES-CBC
)

type rvIdentity struct {
	key   *ecdsa.PrivateKey
	cert  *x509.Certificate
	pkcs8 []byte
}

func rvNewIdentity(t testing.TB) rvIdentity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "review.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return rvIdentity{key: key, cert: cert, pkcs8: p8}
}

type rvAdd = func(*cryptobyte.Builder)

func rvBag(id asn1.ObjectIdentifier, value []byte) rvAdd {
	return func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(id)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(value) })
		})
	}
}

func rvCertBag(c *x509.Certificate) rvAdd {
	var v cryptobyte.Builder
	v.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(rvOIDX509Cert)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(c.Raw) })
	})
	return rvBag(rvOIDCertBag, v.BytesOrPanic())
}

func rvSafeContents(bags ...rvAdd) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, add := range bags {
			add(b)
		}
	})
	return b.BytesOrPanic()
}

func rvPad(plain []byte, bs int) []byte {
	n := bs - len(plain)%bs
	return append(bytes.Clone(plain), bytes.Repeat([]byte{byte(n)}, n)...)
}

func rvCBCEncrypt(block cipher.Block, iv, plain []byte) []byte {
	in := rvPad(plain, block.BlockSize())
	out := make([]byte, len(in))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, in)
	return out
}

// rvPBE3DES encrypts with pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix
// C), the KDF being this package's pkcs12KDF (golden-tested against OpenSSL).
func rvPBE3DES(t testing.TB, plain []byte, pw string, iter int) (alg, ciphertext []byte) {
	t.Helper()
	bmp, err := bmpPassword(pw)
	require.NoError(t, err)
	salt := []byte("12345678")
	sha1d, _ := macDigestFor(oidSHA1)
	key := pkcs12KDF(sha1d, 1, bmp, salt, iter, 24)
	iv := pkcs12KDF(sha1d, 2, bmp, salt, iter, 8)
	block, err := des.NewTripleDESCipher(key)
	require.NoError(t, err)
	var a cryptobyte.Builder
	a.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(rvOIDPBESHA13DES)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(salt)
			b.AddASN1Int64(int64(iter))
		})
	})
	return a.BytesOrPanic(), rvCBCEncrypt(block, iv, plain)
}

// rvPBES2 encrypts with PBES2: PBKDF2-hmacWithSHA256 and scheme (AES-256-CBC
// or DES-EDE3-CBC).
func rvPBES2(t testing.TB, plain []byte, pw string, iter int, scheme asn1.ObjectIdentifier) (alg, ciphertext []byte) {
	t.Helper()
	salt := []byte("saltsaltsaltsalt")
	var keyLen, ivLen int
	var newBlock func([]byte) (cipher.Block, error)
	switch {
	case scheme.Equal(oidAES256CBC):
		keyLen, ivLen, newBlock = 32, 16, aes.NewCipher
	case scheme.Equal(oidDESEDE3CBC):
		keyLen, ivLen, newBlock = 24, 8, des.NewTripleDESCipher
	default:
		t.Fatalf("scheme %v", scheme)
	}
	key, err := pbkdf2.Key(sha256.New, pw, salt, iter, keyLen)
	require.NoError(t, err)
	iv := bytes.Repeat([]byte{0x42}, ivLen)
	block, err := newBlock(key)
	require.NoError(t, err)
	var a cryptobyte.Builder
	a.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidPBES2)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidPBKDF2)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(salt)
					b.AddASN1Int64(int64(iter))
					addAlgorithm(b, oidHMACWithSHA256)
				})
			})
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(scheme)
				b.AddASN1OctetString(iv)
			})
		})
	})
	return a.BytesOrPanic(), rvCBCEncrypt(block, iv, plain)
}

// rvShroudedKeyBag is a pkcs8ShroudedKeyBag of the algorithm and ciphertext.
func rvShroudedKeyBag(alg, ciphertext []byte) rvAdd {
	var v cryptobyte.Builder
	v.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(alg)
		b.AddASN1OctetString(ciphertext)
	})
	return rvBag(oidShroudedKey, v.BytesOrPanic())
}

func rvDataCI(safeContents []byte) rvAdd {
	return func(b *cryptobyte.Builder) { addDataContentInfo(b, safeContents) }
}

func rvEncryptedCI(alg, ciphertext []byte) rvAdd {
	return func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidEncryptedData)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(0)
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidData)
						b.AddBytes(alg)
						b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ciphertext) })
					})
				})
			})
		})
	}
}

func rvAuthSafe(cis ...rvAdd) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, add := range cis {
			add(b)
		}
	})
	return b.BytesOrPanic()
}

// rvPFX wraps an AuthenticatedSafe with a classic PKCS#12 MAC (RFC 7292 §5)
// of the digest, computed with this package's hmacPKCS12; mutate, if not nil,
// may change the digest before it is written.
func rvPFX(t testing.TB, authSafe []byte, pw string, digest asn1.ObjectIdentifier, iter int, mutate func([]byte) []byte) []byte {
	t.Helper()
	d, ok := macDigestFor(digest)
	require.True(t, ok)
	bmp, err := bmpPassword(pw)
	require.NoError(t, err)
	salt := []byte("macsaltmacsalt!!")
	mac := hmacPKCS12(d, bmp, salt, iter, authSafe)
	if mutate != nil {
		mac = mutate(mac)
	}
	return rvPFXWithMacData(authSafe, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addAlgorithm(b, digest)
				b.AddASN1OctetString(mac)
			})
			b.AddASN1OctetString(salt)
			b.AddASN1Int64(int64(iter))
		})
	})
}

func rvPFXWithMacData(authSafe []byte, macData rvAdd) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(3)
		rvDataCIRaw(b, authSafe)
		if macData != nil {
			macData(b)
		}
	})
	return b.BytesOrPanic()
}

func rvDataCIRaw(b *cryptobyte.Builder, content []byte) { addDataContentInfo(b, content) }

// rvPFXPBMAC1 wraps an AuthenticatedSafe with a PBMAC1 MAC (RFC 9579) whose
// PBKDF2 key length is keyLen (not written when 0), PRF hmacWithSHA256, MAC
// hmacWithSHA384 (so that the file takes LoadPKCS12's own path).
func rvPFXPBMAC1(t testing.TB, authSafe []byte, pw string, keyLen int) []byte {
	t.Helper()
	salt := []byte("pbmac1saltpbmac1")
	derivLen := keyLen
	if derivLen == 0 {
		derivLen = 48
	}
	key, err := pbkdf2.Key(sha256.New, pw, salt, 1, derivLen)
	require.NoError(t, err)
	h, _ := hmacPRFFor(oidHMACWithSHA384)
	m := hmac.New(h.New, key)
	m.Write(authSafe)
	digest := m.Sum(nil)
	return rvPFXWithMacData(authSafe, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidPBMAC1)
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidPBKDF2)
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1OctetString(salt)
								b.AddASN1Int64(1)
								if keyLen != 0 {
									b.AddASN1Int64(int64(keyLen))
								}
								addAlgorithm(b, oidHMACWithSHA256)
							})
						})
						addAlgorithm(b, oidHMACWithSHA384)
					})
				})
				b.AddASN1OctetString(digest)
			})
			b.AddASN1OctetString([]byte("NOT USED"))
			b.AddASN1Int64(1)
		})
	})
}

// ---------------------------------------------------------------------------
// Review finding 1 (low, fixed: LoadPKCS12 checks the decrypted copy): an
// iteration count inside content LoadPKCS12 decrypted itself was not bounded
// when the bag it sits in was left to go-pkcs12.
//
// docs/certs.md: "The bound holds on both paths; where LoadPKCS12 decrypts
// itself, it also holds for counts inside encrypted content." pkcs12limit.go:
// counts inside encrypted content "are bounded where LoadPKCS12 decrypts
// itself". ownCryptoPKCS12 decrypts a PBES2 encryptedData and rewriteBags
// copies a shrouded key bag encrypted with PKCS#12 PBE (not PBES2) unchanged
// into the in-memory copy; go-pkcs12 then runs that bag's derivation with
// whatever count it names. checkPKCS12Iterations ran on the original file,
// where the count was ciphertext. Here the count is MaxPKCS12Iterations+1 and
// the file loads; with 2^31-1 LoadPKCS12 would spin for ~10 minutes (3 KDF
// rounds of 2^31 SHA-1), uninterruptibly.
func TestPKCS12CompatIterationBoundInsideOwnDecryptedSafe(t *testing.T) {
	id := rvNewIdentity(t)
	build := func(keyIter int) []byte {
		keyAlg, keyCT := rvPBE3DES(t, id.pkcs8, "pw", keyIter)
		safe := rvSafeContents(rvShroudedKeyBag(keyAlg, keyCT), rvCertBag(id.cert))
		encAlg, encCT := rvPBES2(t, safe, "pw", 2048, oidAES256CBC)
		// SHA-384 MAC: the file takes LoadPKCS12's own path.
		return rvPFX(t, rvAuthSafe(rvEncryptedCI(encAlg, encCT)), "pw", oidSHA384, 2048, nil)
	}

	// Control: with an ordinary inner count the file is well formed and loads.
	b, err := LoadPKCS12(build(2048), amt.NewSecret("pw"))
	require.NoError(t, err, "control file")
	require.True(t, id.key.Equal(b.Key))

	der := build(MaxPKCS12Iterations + 1)
	require.NoError(t, checkPKCS12Iterations(der), "the count is ciphertext in the file: the pre-check cannot see it")
	own, err := ownCryptoPKCS12(der, "pw")
	require.NoError(t, err)
	require.NotNil(t, own)
	assert.Error(t, checkPKCS12Iterations(own), "the copy handed to go-pkcs12 names a count above the bound in the clear")

	start := time.Now()
	_, err = LoadPKCS12(der, amt.NewSecret("pw"))
	t.Logf("LoadPKCS12: err=%v after %v", err, time.Since(start))
	require.ErrorIs(t, err, ErrMalformed, "iteration count %d inside content LoadPKCS12 decrypted itself was not refused", MaxPKCS12Iterations+1)
	assert.Contains(t, err.Error(), "exceeds")
}

// ---------------------------------------------------------------------------
// Review finding 2 (low, older than the compat path; fixed: what follows
// authSafe must be exactly one MacData): the "no MAC" refusal was bypassed by
// any non-SEQUENCE element where MacData would be.
//
// checkPKCS12Iterations refuses a PFX only when nothing follows authSafe
// (pfx.Empty()); when something does but is not a SEQUENCE it returns nil
// ("left to the decoder"). go-pkcs12 declares MacData `asn1:"optional"`, so
// encoding/asn1 skips a non-matching element and ignores the extra bytes at
// the end of the SEQUENCE: MacData is then absent and, with the empty
// password, go-pkcs12 decodes the file with no integrity check at all.
// TestPKCS12WithoutMACRefused and docs/certs.md ("files without a MAC" are
// refused) promise otherwise.
func TestPKCS12CompatNoMACRefusalBypassedByTrailingElement(t *testing.T) {
	id := rvNewIdentity(t)
	der, err := pkcs12.Passwordless.Encode(id.key, id.cert, nil, "")
	require.NoError(t, err)

	_, err = LoadPKCS12(der, amt.NewSecret(""))
	require.ErrorIs(t, err, ErrMalformed, "control: a file without a MAC is refused")
	require.Contains(t, err.Error(), "without a MAC")

	// Re-wrap the PFX with a NULL after authSafe, where MacData would be.
	s := cryptobyte.String(der)
	var pfx cryptobyte.String
	require.True(t, s.ReadASN1(&pfx, cbasn1.SEQUENCE) && s.Empty())
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(pfx)
		b.AddASN1NULL()
	})
	bad := b.BytesOrPanic()

	bundle, err := LoadPKCS12(bad, amt.NewSecret(""))
	require.Error(t, err, "a PKCS#12 file without a MAC was decoded (leaf %v)", bundle.Leaf() != nil)
	assert.ErrorIs(t, err, ErrMalformed)
}

// ---------------------------------------------------------------------------
// Review finding 3 (info, fixed: the builders get their room up front, the
// KDF clears its temporaries): the decrypted private key outlived
// ownCryptoPKCS12's wiping. The code says the copy "is cleared after use" (LoadPKCS12:
// `defer clear(own) // holds the decrypted key`; rewriteBags and
// ownCryptoPKCS12 defer clear() on every buffer they return), but the
// cryptobyte.Builders that assemble the SafeContents, the AuthenticatedSafe and
// the PFX grow by append: each reallocation leaves the previous backing array,
// holding the plaintext PrivateKeyInfo, to the garbage collector uncleared.
// The test dumps the heap (garbage collection off, so garbage is still
// "allocated" and dumped) right after ownCryptoPKCS12 returned and its result
// was cleared, and looks for a window of the plaintext PrivateKeyInfo that
// appears nowhere else (PKCS#8 header followed by the first bytes of the
// scalar; the test holds it only XOR-masked until the dump is written).
// (go-pkcs12 makes further uncleared copies when it reads the copy — its
// encoding/asn1 unmarshal of each data ContentInfo copies the SafeContents —
// which is why this is info: wiping here can only be best effort.)
func TestPKCS12CompatDecryptedKeyLeftInHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("heap dump")
	}
	id := rvNewIdentity(t)
	// Window: 34 bytes before the scalar in the PKCS#8 DER, plus 8 of it.
	i := bytes.Index(id.pkcs8, []byte{0x04, 0x20}) // SEC1 privateKey OCTET STRING of 32 bytes
	require.Greater(t, i, 32)
	window := id.pkcs8[i-32 : i+2+8]
	mask := make([]byte, len(window))
	_, _ = rand.Read(mask)
	masked := make([]byte, len(window))
	for j := range window {
		masked[j] = window[j] ^ mask[j]
	}

	keyAlg, keyCT := rvPBES2(t, id.pkcs8, "pw", 1, oidDESEDE3CBC) // PBES2-3DES: decrypted by ownCryptoPKCS12
	safe := rvSafeContents(rvShroudedKeyBag(keyAlg, keyCT), rvCertBag(id.cert))
	der := rvPFX(t, rvAuthSafe(rvDataCI(safe)), "pw", oidSHA256, 1, nil)
	clear(id.pkcs8)
	clear(window)
	id = rvIdentity{}

	// heapCopies dumps the heap after run (collection off from before run)
	// and counts the window in it.
	heapCopies := func(run func()) int {
		dump := filepath.Join(t.TempDir(), "heap")
		f, err := os.Create(dump)
		require.NoError(t, err)
		func() {
			runtime.GC()
			runtime.GC()
			old := debug.SetGCPercent(-1)
			defer debug.SetGCPercent(old)
			run()
			debug.WriteHeapDump(f.Fd())
		}()
		require.NoError(t, f.Close())
		heap, err := os.ReadFile(dump)
		require.NoError(t, err)
		want := make([]byte, len(masked))
		for j := range masked {
			want[j] = masked[j] ^ mask[j]
		}
		n := bytes.Count(heap, want)
		clear(want)
		t.Logf("heap dump of %d bytes: %d copies of the plaintext PrivateKeyInfo window", len(heap), n)
		return n
	}
	// Control: before ownCryptoPKCS12 runs, the test itself holds no copy.
	require.Zero(t, heapCopies(func() {}), "control: the test left a copy of its own")

	n := heapCopies(func() {
		own, err := ownCryptoPKCS12(der, "pw")
		require.NoError(t, err)
		require.NotNil(t, own)
		clear(own) // as LoadPKCS12 does
	})
	assert.Zero(t, n, "ownCryptoPKCS12 left the decrypted private key in %d uncleared heap buffers after its result was cleared", n)
}

// ---------------------------------------------------------------------------
// VERIFIED: ordinary files never take the new path (item 6).
func TestPKCS12CompatRoutingOrdinaryFilesUntouched(t *testing.T) {
	id := rvNewIdentity(t)
	for name, enc := range map[string]*pkcs12.Encoder{
		"Modern2023": pkcs12.Modern2023, "Modern2026 (PBMAC1 SHA-256)": pkcs12.Modern2026,
		"LegacyDES": pkcs12.LegacyDES, "LegacyRC2": pkcs12.LegacyRC2,
	} {
		der, err := enc.Encode(id.key, id.cert, nil, "pw")
		require.NoError(t, err)
		own, err := ownCryptoPKCS12(der, "pw")
		require.NoError(t, err, name)
		assert.Nil(t, own, "%s went through ownCryptoPKCS12", name)
	}
	// SHA-1/256/512 MACs over plain bags: go-pkcs12's.
	safe := rvSafeContents(rvCertBag(id.cert))
	for _, d := range []asn1.ObjectIdentifier{oidSHA1, oidSHA256, oidSHA512} {
		own, err := ownCryptoPKCS12(rvPFX(t, rvAuthSafe(rvDataCI(safe)), "pw", d, 1, nil), "pw")
		require.NoError(t, err)
		assert.Nil(t, own, "MAC %v went through ownCryptoPKCS12", d)
	}
	// ... and SHA-384 does.
	own, err := ownCryptoPKCS12(rvPFX(t, rvAuthSafe(rvDataCI(safe)), "pw", oidSHA384, 1, nil), "pw")
	require.NoError(t, err)
	assert.NotNil(t, own)

	// OpenSSL 3 defaults (PBES2 AES-256-CBC, hmacWithSHA256, SHA-256 MAC).
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	p8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: id.pkcs8})
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.cert.Raw})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in.pem"), append(c, p8...), 0o600))
	ran := 0
	for _, args := range [][]string{nil, {"-legacy"}, {"-macalg", "sha512"}, {"-keypbe", "aes-128-cbc", "-certpbe", "aes-192-cbc"}} {
		cmd := exec.CommandContext(t.Context(), bin, append([]string{"pkcs12", "-export", "-in", "in.pem", "-out", "out.p12", "-passout", "pass:pw"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil && len(args) > 0 && args[0] == "-legacy" {
			continue // no legacy provider
		}
		require.NoError(t, err, "%s", out)
		der, err := os.ReadFile(filepath.Join(dir, "out.p12"))
		require.NoError(t, err)
		own, err := ownCryptoPKCS12(der, "pw")
		require.NoError(t, err)
		assert.Nil(t, own, "openssl pkcs12 -export %v went through ownCryptoPKCS12", args)
		b, err := LoadPKCS12(der, amt.NewSecret("pw"))
		require.NoError(t, err, "%v", args)
		assert.True(t, id.key.Equal(b.Key))
		ran++
	}
	assert.GreaterOrEqual(t, ran, 3, "openssl files checked")
}

// VERIFIED: on the own path no single-byte change anywhere in the file gives
// a bundle, and the MAC value is compared in full (empty, truncated,
// extended, flipped digests are refused as a wrong password) (item 1).
func TestPKCS12CompatMACCoversEverythingRead(t *testing.T) {
	id := rvNewIdentity(t)
	keyAlg, keyCT := rvPBES2(t, id.pkcs8, "pw", 1, oidDESEDE3CBC)
	authSafe := rvAuthSafe(rvDataCI(rvSafeContents(rvShroudedKeyBag(keyAlg, keyCT), rvCertBag(id.cert))))
	der := rvPFX(t, authSafe, "pw", oidSHA384, 1, nil)
	_, err := LoadPKCS12(der, amt.NewSecret("pw"))
	require.NoError(t, err)

	t.Logf("flipping each of %d bytes", len(der))
	for i := range der {
		for _, x := range []byte{0x01, 0x80} {
			bad := bytes.Clone(der)
			bad[i] ^= x
			if _, err := LoadPKCS12(bad, amt.NewSecret("pw")); err == nil {
				t.Errorf("byte %d ^ %#x: the altered file loaded", i, x)
			}
		}
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"empty":      func([]byte) []byte { return nil },
		"one byte":   func(m []byte) []byte { return m[:1] },
		"truncated":  func(m []byte) []byte { return m[:len(m)-1] },
		"extended":   func(m []byte) []byte { return append(m, 0) },
		"last flip":  func(m []byte) []byte { m[len(m)-1] ^= 1; return m },
		"all zeroes": func(m []byte) []byte { return make([]byte, len(m)) },
	} {
		_, err := LoadPKCS12(rvPFX(t, authSafe, "pw", oidSHA384, 1, mutate), amt.NewSecret("pw"))
		assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword, name)
	}
	// A second AuthenticatedSafe-like SEQUENCE after the MAC, or trailing
	// data after the PFX, is not read by either path.
	_, err = LoadPKCS12(append(bytes.Clone(der), 0x30, 0x00), amt.NewSecret("pw"))
	assert.Error(t, err)
}

// VERIFIED: PBMAC1 key lengths outside 20..64 (RFC 9579 §7 bypass) and an
// absent key length are refused before any MAC is trusted; a correct PBMAC1
// MAC with 48 bytes verifies (item 1).
func TestPKCS12CompatPBMAC1KeyLengthRefused(t *testing.T) {
	id := rvNewIdentity(t)
	authSafe := rvAuthSafe(rvDataCI(rvSafeContents(rvBag(oidKeyBag, id.pkcs8), rvCertBag(id.cert))))
	_, err := LoadPKCS12(rvPFXPBMAC1(t, authSafe, "pw", 48), amt.NewSecret("pw"))
	require.NoError(t, err, "control")
	for _, kl := range []int{0, 1, 19, 65, 4096} {
		_, err := LoadPKCS12(rvPFXPBMAC1(t, authSafe, "pw", kl), amt.NewSecret("pw"))
		require.ErrorIs(t, err, ErrMalformed, "key length %d", kl)
		if kl != 0 {
			assert.Contains(t, err.Error(), "key length", "key length %d", kl)
		}
	}
}

// VERIFIED: decryptPBES2 fails closed on empty, short and unaligned
// ciphertext and on bad padding, without panicking (item 3; wrong IV
// lengths, key-length mismatches and unknown PRFs/schemes are covered by
// TestPBES2Refusals).
func TestPKCS12CompatDecryptFailsClosed(t *testing.T) {
	for _, scheme := range []asn1.ObjectIdentifier{oidDESEDE3CBC, oidAES256CBC} {
		alg, ct := rvPBES2(t, []byte("0123456789abcdef"), "pw", 1, scheme)
		s := cryptobyte.String(alg)
		var a algorithmIdentifier
		require.True(t, readAlgorithmIdentifier(&s, &a))
		plain, err := decryptPBES2(a, ct, "pw")
		require.NoError(t, err)
		require.Equal(t, []byte("0123456789abcdef"), plain)
		for _, n := range []int{0, 1, 7, 9, 15, 17, len(ct) - 1} {
			require.NotPanics(t, func() {
				_, err = decryptPBES2(a, ct[:n], "pw")
			})
			assert.ErrorIs(t, err, ErrMalformed, "ciphertext of %d bytes", n)
		}
		// Wrong password: bad padding (or, by chance, wrong plaintext).
		plain, err = decryptPBES2(a, ct, "px")
		if err == nil {
			assert.NotEqual(t, []byte("0123456789abcdef"), plain)
		} else {
			assert.ErrorIs(t, err, pkcs12.ErrDecryption)
		}
	}
}

// VERIFIED: the number of derivations per file is bounded before any runs:
// an AuthenticatedSafe of three PBES2 parts is refused before the MAC (at the
// bound, each part would cost a derivation) (item 2).
func TestPKCS12CompatDerivationsBounded(t *testing.T) {
	id := rvNewIdentity(t)
	alg, ct := rvPBES2(t, rvSafeContents(rvCertBag(id.cert)), "pw", 1, oidDESEDE3CBC)
	var cis []rvAdd
	for range 3 {
		cis = append(cis, rvEncryptedCI(alg, ct))
	}
	_, err := LoadPKCS12(rvPFX(t, rvAuthSafe(cis...), "pw", oidSHA384, 1, nil), amt.NewSecret("pw"))
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "AuthenticatedSafe of 3 items")
}

// ---------------------------------------------------------------------------
// VERIFIED (fuzz, ~600k executions in 110 s, no failure):
// FuzzPKCS12CompatOwnCrypto drives ownCryptoPKCS12 directly (LoadPKCS12's
// recover would hide a panic here) past the MAC: the fuzzer mutates the
// AuthenticatedSafe and the harness MACs it with the password (SHA-384, one
// iteration), so mutations reach decryption and re-encoding. What it accepts
// must re-parse strictly and carry a MAC go-pkcs12 verifies.
func FuzzPKCS12CompatOwnCrypto(f *testing.F) {
	id := rvNewIdentity(f)
	keyAlg, keyCT := rvPBES2(f, id.pkcs8, "pw", 1, oidDESEDE3CBC)
	f.Add(rvAuthSafe(rvDataCI(rvSafeContents(rvShroudedKeyBag(keyAlg, keyCT), rvCertBag(id.cert)))))
	safeAlg, safeCT := rvPBES2(f, rvSafeContents(rvCertBag(id.cert)), "pw", 1, oidAES256CBC)
	pbeAlg, pbeCT := rvPBE3DES(f, id.pkcs8, "pw", 1)
	f.Add(rvAuthSafe(rvEncryptedCI(safeAlg, safeCT), rvDataCI(rvSafeContents(rvShroudedKeyBag(pbeAlg, pbeCT)))))
	if raw, err := os.ReadFile("testdata/fuzz/FuzzLoadPKCS12/sha384-mac-pbes2-des-ede3-cbc"); err == nil {
		_, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
		if s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")")); err == nil {
			if p, ok := parsePFX([]byte(s)); ok {
				f.Add(p.authSafe)
			}
		}
	}
	f.Fuzz(func(t *testing.T, authSafe []byte) {
		if len(authSafe) > 1<<16 {
			return
		}
		der := rvPFX(t, authSafe, "pw", oidSHA384, 1, nil)
		own, err := ownCryptoPKCS12(der, "pw")
		if err != nil || own == nil {
			return
		}
		p, ok := parsePFX(own)
		if !ok {
			t.Fatalf("the copy does not re-parse")
		}
		bmp, _ := bmpPassword("pw")
		if _, err := p.verifyMAC("pw", bmp); err != nil {
			t.Fatalf("the copy's MAC: %v", err)
		}
		if p.needsOwnCrypto() {
			// The copy holds no PBES2 part, so no SHA-384 and no own PBES2.
			t.Fatalf("the copy still needs own crypto")
		}
	})
}

// VERIFIED: the empty password. A file MACed with the empty password in
// either form (the two-byte terminator, or no bytes as some writers do)
// loads with the empty password on the own path and with no other; a
// non-empty password never falls back to the no-bytes form (item 1).
func TestPKCS12CompatEmptyPasswordForms(t *testing.T) {
	id := rvNewIdentity(t)
	keyAlg, keyCT := rvPBES2(t, id.pkcs8, "", 1, oidDESEDE3CBC)
	authSafe := rvAuthSafe(rvDataCI(rvSafeContents(rvShroudedKeyBag(keyAlg, keyCT), rvCertBag(id.cert))))
	d, _ := macDigestFor(oidSHA384)
	salt := []byte("macsaltmacsalt!!")
	for name, macPW := range map[string][]byte{"terminator": {0, 0}, "no bytes": nil} {
		mac := hmacPKCS12(d, macPW, salt, 1, authSafe)
		der := rvPFXWithMacData(authSafe, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					addAlgorithm(b, oidSHA384)
					b.AddASN1OctetString(mac)
				})
				b.AddASN1OctetString(salt)
			})
		})
		b, err := LoadPKCS12(der, amt.Secret{})
		require.NoError(t, err, name)
		assert.True(t, id.key.Equal(b.Key), name)
		// (Not "\x00": a password of NULs only derives the same keys as the
		// empty one, in the RFC 7292 KDF (its BMPString tiles to the same
		// 64 zero bytes) and in HMAC (keys are zero-padded), in go-pkcs12
		// and OpenSSL alike.)
		for _, pw := range []string{"x", "0", " "} {
			_, err = LoadPKCS12(der, amt.NewSecret(pw))
			assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword, "%s, password %q", name, pw)
		}
	}
}

// VERIFIED: no error of the own path names the password or key material
// (item 4): wrong password, a different encryption password (-twopass), a
// non-BMP password, a corrupt decrypted key.
func TestPKCS12CompatErrorsHoldNoSecret(t *testing.T) {
	const pw = "Sup3rS3cretPassw0rd"
	id := rvNewIdentity(t)
	build := func(encPW string, plain []byte) []byte {
		keyAlg, keyCT := rvPBES2(t, plain, encPW, 1, oidDESEDE3CBC)
		return rvPFX(t, rvAuthSafe(rvDataCI(rvSafeContents(rvShroudedKeyBag(keyAlg, keyCT), rvCertBag(id.cert)))), pw, oidSHA384, 1, nil)
	}
	secrets := []string{pw, string(id.pkcs8[len(id.pkcs8)-16:])}
	for name, tc := range map[string]struct {
		der []byte
		pw  string
	}{
		"wrong password":      {build(pw, id.pkcs8), pw + "x"},
		"twopass":             {build(pw+"2", id.pkcs8), pw},
		"non-BMP password":    {build(pw, id.pkcs8), pw + "\U0001F600"},
		"key not a SEQUENCE":  {build(pw, append([]byte{0x04, 0x01, 0x00}, id.pkcs8...)), pw},
		"garbage in key bag ": {build(pw, []byte("Sup3rS3cretPassw0rd")), pw},
	} {
		_, err := LoadPKCS12(tc.der, amt.NewSecret(tc.pw))
		require.Error(t, err, name)
		for _, s := range secrets {
			assert.NotContains(t, err.Error(), s, name)
		}
		t.Logf("%s: %v", name, err)
	}
}
