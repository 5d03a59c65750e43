package certs_test

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
)

var (
	oidSHA384DER        = mustOID(2, 16, 840, 1, 101, 3, 4, 2, 2)
	oidSHA512DER        = mustOID(2, 16, 840, 1, 101, 3, 4, 2, 3)
	oidDESEDE3CBCDER    = mustOID(1, 2, 840, 113549, 3, 7)
	oidAES128CBCDER     = mustOID(2, 16, 840, 1, 101, 3, 4, 1, 2)
	oidAES192CBCDER     = mustOID(2, 16, 840, 1, 101, 3, 4, 1, 22)
	oidHMACWithSHA1DER  = mustOID(1, 2, 840, 113549, 2, 7)
	oidHMACWithSHA384   = mustOID(1, 2, 840, 113549, 2, 10)
	oidHMACWithSHA512   = mustOID(1, 2, 840, 113549, 2, 11)
	oidPBMAC1DER        = mustOID(1, 2, 840, 113549, 1, 5, 14)
	oidRC2PBEDER        = mustOID(1, 2, 840, 113549, 1, 12, 1, 6)
	oidPKCS12PBE3DESDER = mustOID(1, 2, 840, 113549, 1, 12, 1, 3)
)

// mustOID is the DER encoding of an OBJECT IDENTIFIER, to look for in a file.
func mustOID(arcs ...int) []byte {
	der, err := asn1.Marshal(asn1.ObjectIdentifier(arcs))
	if err != nil {
		panic(err)
	}
	return der
}

// TestPKCS12OpenSSLAlgorithms: LoadPKCS12 reads what OpenSSL writes with a
// SHA-384 or SHA-512 MAC (`openssl pkcs12 -export -macalg`), with PBES2 and
// DES-EDE3-CBC, AES-128-CBC or AES-192-CBC (-keypbe, -certpbe; OpenSSL 3
// writes PBES2 with PBKDF2-hmacWithSHA256 for a cipher name), and with the
// PBKDF2 PRFs hmacWithSHA1/256/384/512, which `openssl pkcs12` cannot
// choose: those files hold a key `openssl pkcs8 -topk8 -v2 … -v2prf …`
// encrypted, the certificates in the clear and a MAC from OpenSSL's
// PKCS12KDF or PBKDF2 and HMAC (see assemblePKCS12). Each file is checked
// to name the algorithms meant, decodes to the chain and key written, and
// refuses another password. (Skipped without openssl; the golden-vector
// tests cover the same code without it.)
func TestPKCS12OpenSSLAlgorithms(t *testing.T) {
	des := []string{"-keypbe", "des-ede3-cbc", "-certpbe", "des-ede3-cbc"}
	aes128 := []string{"-keypbe", "aes-128-cbc", "-certpbe", "aes-128-cbc"}
	aes192 := []string{"-keypbe", "aes-192-cbc", "-certpbe", "aes-192-cbc"}
	join := func(a ...[]string) []string { return slicesConcat(a...) }
	for _, tc := range []struct {
		name string
		pw   string
		// either openssl pkcs12 -export arguments
		args []string
		// or a key `openssl pkcs8 -v2 v2 -v2prf prf` encrypts, in a file with a mac MAC
		v2, prf, mac string
		// the file names these algorithms (DER OIDs)
		oids [][]byte
	}{
		{name: "MAC SHA-384", pw: "pw", args: []string{"-macalg", "sha384"}, oids: [][]byte{oidSHA384DER}},
		{name: "MAC SHA-512", pw: "pw", args: []string{"-macalg", "sha512"}, oids: [][]byte{oidSHA512DER}},
		{name: "PBES2 DES-EDE3-CBC", pw: "pw", args: des, oids: [][]byte{oidDESEDE3CBCDER}},
		{name: "PBES2 AES-128-CBC", pw: "pw", args: aes128, oids: [][]byte{oidAES128CBCDER}},
		{name: "PBES2 AES-192-CBC", pw: "pw", args: aes192, oids: [][]byte{oidAES192CBCDER}},
		{name: "PBES2 DES-EDE3-CBC, MAC SHA-384", pw: "pw", args: join(des, []string{"-macalg", "sha384"}), oids: [][]byte{oidDESEDE3CBCDER, oidSHA384DER}},
		{name: "PBES2 DES-EDE3-CBC, MAC SHA-512", pw: "pw", args: join(des, []string{"-macalg", "sha512"}), oids: [][]byte{oidDESEDE3CBCDER, oidSHA512DER}},
		{name: "PBES2 AES-128-CBC, MAC SHA-384", pw: "pw", args: join(aes128, []string{"-macalg", "sha384"}), oids: [][]byte{oidAES128CBCDER, oidSHA384DER}},
		{name: "PBES2 AES-192-CBC, MAC SHA-384", pw: "pw", args: join(aes192, []string{"-macalg", "sha384"}), oids: [][]byte{oidAES192CBCDER, oidSHA384DER}},
		{name: "PBES2 DES-EDE3-CBC key, certificates in the clear", pw: "pw", args: []string{"-keypbe", "des-ede3-cbc", "-certpbe", "NONE"}, oids: [][]byte{oidDESEDE3CBCDER}},
		{name: "PBES2 DES-EDE3-CBC, MAC SHA-384, one iteration", pw: "pw", args: join(des, []string{"-macalg", "sha384", "-iter", "1", "-nomaciter"}), oids: [][]byte{oidDESEDE3CBCDER, oidSHA384DER}},
		{name: "PBES2 DES-EDE3-CBC, MAC SHA-384, empty password", pw: "", args: join(des, []string{"-macalg", "sha384"}), oids: [][]byte{oidDESEDE3CBCDER, oidSHA384DER}},
		{name: "PBES2 DES-EDE3-CBC, UTF-8 password", pw: "pässwört-€", args: des, oids: [][]byte{oidDESEDE3CBCDER}},
		{name: "legacy RC2-40 and 3DES PBE, MAC SHA-384", pw: "pw", args: []string{"-legacy", "-macalg", "sha384"}, oids: [][]byte{oidRC2PBEDER, oidPKCS12PBE3DESDER, oidSHA384DER}},
		{name: "PRF hmacWithSHA1, DES-EDE3-CBC", pw: "pw", v2: "des3", prf: "hmacWithSHA1", mac: "sha256", oids: [][]byte{oidDESEDE3CBCDER}},
		{name: "PRF hmacWithSHA256, AES-192-CBC, MAC SHA-384", pw: "pw", v2: "aes-192-cbc", prf: "hmacWithSHA256", mac: "sha384", oids: [][]byte{oidAES192CBCDER, oidSHA384DER}},
		{name: "PRF hmacWithSHA384, AES-128-CBC", pw: "pw", v2: "aes-128-cbc", prf: "hmacWithSHA384", mac: "sha256", oids: [][]byte{oidAES128CBCDER, oidHMACWithSHA384}},
		{name: "PRF hmacWithSHA384, AES-256-CBC, UTF-8 password", pw: "pässwört-€", v2: "aes-256-cbc", prf: "hmacWithSHA384", mac: "sha1", oids: [][]byte{oidHMACWithSHA384}},
		{name: "PRF hmacWithSHA512, DES-EDE3-CBC, MAC SHA-512", pw: "pw", v2: "des3", prf: "hmacWithSHA512", mac: "sha512", oids: [][]byte{oidDESEDE3CBCDER, oidHMACWithSHA512, oidSHA512DER}},
		{name: "PRF hmacWithSHA1, AES-128-CBC, PBMAC1 hmacWithSHA384", pw: "pw", v2: "aes-128-cbc", prf: "hmacWithSHA1", mac: "pbmac1", oids: [][]byte{oidAES128CBCDER, oidPBMAC1DER, oidHMACWithSHA384}},
		{name: "PRF hmacWithSHA384, DES-EDE3-CBC, PBMAC1 hmacWithSHA384", pw: "pw", v2: "des3", prf: "hmacWithSHA384", mac: "pbmac1", oids: [][]byte{oidDESEDE3CBCDER, oidPBMAC1DER}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var der []byte
			o := newOpenSSLDir(t)
			if tc.args != nil {
				o.run(t, append([]string{"pkcs12", "-export", "-in", "in.pem", "-out", "out.p12", "-passout", "pass:" + tc.pw}, tc.args...)...)
				var err error
				der, err = os.ReadFile(filepath.Join(o.dir, "out.p12"))
				require.NoError(t, err)
			} else {
				der = o.assemblePKCS12(t, tc.pw, tc.v2, tc.prf, tc.mac)
				if tc.prf == "hmacWithSHA1" {
					assert.False(t, bytes.Contains(der, oidHMACWithSHA1DER), "hmacWithSHA1 is PBKDF2's DEFAULT: openssl leaves it out")
				}
			}
			for _, oid := range tc.oids {
				require.True(t, bytes.Contains(der, oid), "openssl wrote the algorithm %x we meant to test", oid)
			}

			b, err := certs.LoadPKCS12(der, amt.NewSecret(tc.pw))
			require.NoError(t, err)
			require.Len(t, b.Chain, len(o.chain.Chain))
			for i := range b.Chain {
				assert.Equal(t, o.chain.Chain[i].Raw, b.Chain[i].Raw, "certificate %d", i)
			}
			assert.True(t, o.chain.Key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(b.Key), "the key written")
			_, err = certs.Load(der, amt.NewSecret(tc.pw))
			require.NoError(t, err, "Load")

			_, err = certs.LoadPKCS12(der, amt.NewSecret(tc.pw+"x"))
			assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
		})
	}
}

func slicesConcat(a ...[]string) []string {
	var out []string
	for _, s := range a {
		out = append(out, s...)
	}
	return out
}

// assemblePKCS12 builds a PKCS#12 file whose cryptography is all OpenSSL's
// where `openssl pkcs12 -export` cannot choose it (it always writes the
// PBKDF2 PRF hmacWithSHA256, and OpenSSL 3.0 writes no PBMAC1): the key
// encrypted by `openssl pkcs8 -topk8 -v2 v2 -v2prf prf` in a shrouded key
// bag, then the certificates in the clear, in one data ContentInfo (RFC 7292
// §4.1, §4.2); mac "sha1", "sha256", "sha384" or "sha512" is the PKCS#12 MAC
// with 2048 iterations, its key from `openssl kdf … PKCS12KDF` (RFC 7292
// appendix B), "pbmac1" is PBMAC1 (RFC 9579) with PBKDF2-hmacWithSHA384 and
// HMAC-SHA-384, its key from `openssl kdf … PBKDF2`; the HMAC is `openssl mac`'s.
func (o *opensslDir) assemblePKCS12(t *testing.T, pw, v2, prf, mac string) []byte {
	t.Helper()
	o.run(t, "pkcs8", "-topk8", "-in", "in.pem", "-outform", "DER", "-out", "key.der", "-v2", v2, "-v2prf", prf, "-passout", "pass:"+pw)
	epki, err := os.ReadFile(filepath.Join(o.dir, "key.der"))
	require.NoError(t, err)

	bag := func(b *cryptobyte.Builder, id asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(id)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), value)
		})
	}
	var safe cryptobyte.Builder
	safe.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		bag(b, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}, func(b *cryptobyte.Builder) { b.AddBytes(epki) })
		for _, c := range o.chain.Chain {
			bag(b, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}, func(b *cryptobyte.Builder) { // certBag
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}) // x509Certificate
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(c.Raw) })
				})
			})
		}
	})
	oidData := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	var as cryptobyte.Builder
	as.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidData)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(safe.BytesOrPanic()) })
		})
	})
	authSafe := as.BytesOrPanic()
	require.NoError(t, os.WriteFile(filepath.Join(o.dir, "authsafe.der"), authSafe, 0o600))

	salt := "0011223344556677"
	hmacWith := func(digest, key string) []byte {
		out := o.run(t, "mac", "-digest", digest, "-macopt", "hexkey:"+key, "-in", "authsafe.der", "HMAC")
		d, err := hex.DecodeString(strings.TrimSpace(string(out)))
		require.NoError(t, err)
		return d
	}
	kdf := func(args ...string) string {
		return strings.ReplaceAll(strings.TrimSpace(string(o.run(t, append([]string{"kdf"}, args...)...))), ":", "")
	}
	var macData cryptobyte.Builder
	macData.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if mac == "pbmac1" {
			key := kdf("-keylen", "48", "-kdfopt", "digest:SHA384", "-kdfopt", "pass:"+pw, "-kdfopt", "hexsalt:"+salt, "-kdfopt", "iter:2048", "PBKDF2")
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}) // PBMAC1
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}) // PBKDF2
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1OctetString(mustHex(t, salt))
								b.AddASN1Int64(2048)
								b.AddASN1Int64(48)
								addHMACWithSHA384(b)
							})
						})
						addHMACWithSHA384(b)
					})
				})
				b.AddASN1OctetString(hmacWith("SHA384", key))
			})
			b.AddASN1OctetString([]byte("NOT USED")) // RFC 9579 §3: ignored
			b.AddASN1Int64(1)
			return
		}
		digests := map[string]struct {
			name string
			size int
			oid  asn1.ObjectIdentifier
		}{
			"sha1":   {"SHA1", 20, asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}},
			"sha256": {"SHA256", 32, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
			"sha384": {"SHA384", 48, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}},
			"sha512": {"SHA512", 64, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}},
		}
		d, ok := digests[mac]
		require.True(t, ok, mac)
		key := kdf("-keylen", strconv.Itoa(d.size), "-kdfopt", "digest:"+d.name, "-kdfopt", "hexpass:"+bmpHex(pw),
			"-kdfopt", "hexsalt:"+salt, "-kdfopt", "iter:2048", "-kdfopt", "id:3", "PKCS12KDF")
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(d.oid)
				b.AddASN1NULL()
			})
			b.AddASN1OctetString(hmacWith(d.name, key))
		})
		b.AddASN1OctetString(mustHex(t, salt))
		b.AddASN1Int64(2048)
	})

	var pfx cryptobyte.Builder
	pfx.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(3)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidData)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(authSafe) })
		})
		b.AddBytes(macData.BytesOrPanic())
	})
	return pfx.BytesOrPanic()
}

func addHMACWithSHA384(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10})
		b.AddASN1NULL()
	})
}

// bmpHex is the password as openssl pkcs12 gives it to the PKCS12KDF: its
// BMPString with a two-zero-byte terminator (RFC 7292 appendix B.1), in hex.
func bmpHex(pw string) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(pw)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return hex.EncodeToString(append(b, 0, 0))
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// newFormatSeed is FuzzLoadPKCS12's seed of an encoding go-pkcs12 refuses:
// written by OpenSSL 3.0.22 with
//
//	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem \
//	    -subj "/CN=prov.example.com/OU=Intel(R) Client Setup Certificate" -days 36500
//	openssl pkcs12 -export -in c.pem -inkey k.pem -passout pass:pw -macalg sha384 \
//	    -keypbe des-ede3-cbc -certpbe des-ede3-cbc -out seed.p12
//
// (`openssl pkcs12 -info`: "MAC: sha384, Iteration 2048", both bags "PBES2,
// PBKDF2, DES-EDE3-CBC, Iteration 2048, PRF hmacWithSHA256"), a throw-away
// key, stored in the fuzz corpus format ("go test fuzz v1", then the bytes
// as a Go []byte literal).
const newFormatSeed = "testdata/fuzz/FuzzLoadPKCS12/sha384-mac-pbes2-des-ede3-cbc"

// TestPKCS12NewFormatSeed: the committed seed decodes (so the fuzz target
// starts from a file that reaches the SHA-384 MAC and PBES2-3DES code, not
// from one refused at once), here without openssl.
func TestPKCS12NewFormatSeed(t *testing.T) {
	raw, err := os.ReadFile(newFormatSeed)
	require.NoError(t, err)
	header, lit, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	require.True(t, ok)
	require.Equal(t, "go test fuzz v1", header)
	require.True(t, strings.HasPrefix(lit, "[]byte(") && strings.HasSuffix(lit, ")"), lit[:min(len(lit), 20)])
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
	require.NoError(t, err)
	der := []byte(s)
	require.True(t, bytes.Contains(der, oidSHA384DER) && bytes.Contains(der, oidDESEDE3CBCDER))

	b, err := certs.LoadPKCS12(der, amt.NewSecret("pw"))
	require.NoError(t, err)
	require.Len(t, b.Chain, 1)
	assert.Equal(t, "prov.example.com", b.Leaf().Subject.CommonName)
	require.NoError(t, b.CheckKey())
	_, err = certs.LoadPKCS12(der, amt.NewSecret("px"))
	assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
}
