package certs

import (
	"bytes"
	"crypto/pbkdf2"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtkit/amtkit/internal/testvectors"
)

type pkcs12KDFVector struct {
	Name       string          `json:"name"`
	Digest     string          `json:"digest"`
	ID         byte            `json:"id"`
	Password   testvectors.Hex `json:"password"` // BMPString, as the KDF takes it
	Salt       testvectors.Hex `json:"salt"`
	Iterations int             `json:"iterations"`
	N          int             `json:"n"`
	Key        testvectors.Hex `json:"key"`
	Message    testvectors.Hex `json:"message"`
	MAC        testvectors.Hex `json:"mac"`
}

var vectorDigests = map[string]asn1.ObjectIdentifier{"SHA1": oidSHA1, "SHA256": oidSHA256, "SHA384": oidSHA384, "SHA512": oidSHA512}

// TestPKCS12KDFGolden: the RFC 7292 appendix B.2 KDF and the PKCS#12 MAC give
// the values OpenSSL computes (internal/testvectors/data/certs_pkcs12kdf.json
// says how), for SHA-1/256 (v = 64 bytes) and SHA-384/512 (v = 128), IDs 1–3,
// one to three rounds, passwords and salts shorter and longer than v; and
// verifyMAC accepts each MAC with its password, the empty password in both of
// its forms, and refuses another password.
func TestPKCS12KDFGolden(t *testing.T) {
	for _, v := range testvectors.Load[pkcs12KDFVector](t, "certs_pkcs12kdf").Vectors {
		t.Run(v.Name, func(t *testing.T) {
			oid, ok := vectorDigests[v.Digest]
			require.True(t, ok, v.Digest)
			d, ok := macDigestFor(oid)
			require.True(t, ok)
			assert.Equal(t, []byte(v.Key), pkcs12KDF(d, v.ID, v.Password, v.Salt, v.Iterations, v.N), "key")
			if v.MAC == nil {
				return
			}
			require.Equal(t, d.u, v.N, "a MAC key is u bytes")
			assert.Equal(t, []byte(v.MAC), hmacPKCS12(d, v.Password, v.Salt, v.Iterations, v.Message), "MAC")

			text := bmpText(t, v.Password)
			bmp, err := bmpPassword(text)
			require.NoError(t, err)
			p := pfxParts{authSafe: v.Message, macAlg: algorithmIdentifier{oid: oid, params: []byte{0x05, 0x00}},
				digest: v.MAC, macSalt: v.Salt, macIter: bigInt(v.Iterations)}
			got, err := p.verifyMAC(text, bmp)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(v.Password, got), "the password form that verified: %x", got)
			_, err = p.verifyMAC(text+"x", append(bmp[:len(bmp)-2:len(bmp)-2], 0, 'x', 0, 0))
			assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
		})
	}
}

// bmpText decodes a BMPString (with or without its terminator) of the vectors.
func bmpText(t *testing.T, b []byte) string {
	t.Helper()
	require.Zero(t, len(b)%2)
	if n := len(b); n >= 2 && b[n-1] == 0 && b[n-2] == 0 {
		b = b[:n-2]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

type pbes2Vector struct {
	Name      string          `json:"name"`
	Password  string          `json:"password"`
	Encrypted testvectors.Hex `json:"encrypted"`
	Plain     testvectors.Hex `json:"plain"`
}

// TestPBES2Golden: decryptPBES2 opens EncryptedPrivateKeyInfos `openssl
// pkcs8 -v2 … -v2prf …` wrote, for DES-EDE3-CBC and AES-128/192/256-CBC with
// each PRF hmacWithSHA1/256/384/512 (hmacWithSHA1 as the DEFAULT, absent);
// another password gives no plaintext.
func TestPBES2Golden(t *testing.T) {
	for _, v := range testvectors.Load[pbes2Vector](t, "certs_pbes2").Vectors {
		t.Run(v.Name, func(t *testing.T) {
			alg, ciphertext, ok := encryptedPrivateKeyInfo(cryptobyte.String(v.Encrypted))
			require.True(t, ok)
			require.True(t, alg.oid.Equal(oidPBES2))
			plain, err := decryptPBES2(alg, ciphertext, v.Password)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.Plain), plain)
			plain, err = decryptPBES2(alg, ciphertext, v.Password+"x")
			if err == nil { // the padding can look right by chance
				assert.NotEqual(t, []byte(v.Plain), plain)
			} else {
				assert.ErrorIs(t, err, pkcs12.ErrDecryption)
			}
		})
	}
}

type pbmac1Vector struct {
	Name       string          `json:"name"`
	PRF        string          `json:"prf"`
	MAC        string          `json:"mac"`
	Password   string          `json:"password"`
	Salt       testvectors.Hex `json:"salt"`
	Iterations int             `json:"iterations"`
	KeyLength  int             `json:"key_length"`
	Key        testvectors.Hex `json:"key"`
	Message    testvectors.Hex `json:"message"`
	Digest     testvectors.Hex `json:"digest"`
}

var vectorHMACs = map[string]asn1.ObjectIdentifier{"hmacWithSHA1": oidHMACWithSHA1, "hmacWithSHA256": oidHMACWithSHA256,
	"hmacWithSHA384": oidHMACWithSHA384, "hmacWithSHA512": oidHMACWithSHA512}

// TestPBMAC1Golden: verifyMAC checks PBMAC1 MACs (RFC 9579) computed by
// OpenSSL's PBKDF2 and HMAC, hmacWithSHA384 among the PRFs and MACs.
func TestPBMAC1Golden(t *testing.T) {
	for _, v := range testvectors.Load[pbmac1Vector](t, "certs_pbmac1").Vectors {
		t.Run(v.Name, func(t *testing.T) {
			prf, mac := vectorHMACs[v.PRF], vectorHMACs[v.MAC]
			require.NotNil(t, prf)
			require.NotNil(t, mac)
			h, _ := hmacPRFFor(prf)
			key, err := pbkdf2.Key(h.New, v.Password, v.Salt, v.Iterations, v.KeyLength)
			require.NoError(t, err)
			require.Equal(t, []byte(v.Key), key, "the vector's key is PBKDF2's")

			p := pfxParts{authSafe: v.Message, digest: v.Digest, macSalt: []byte("NOT USED"), macIter: bigInt(1),
				macAlg: algorithmIdentifier{oid: oidPBMAC1, params: pbmac1ParamsDER(t, prf, mac, v.Salt, v.Iterations, v.KeyLength)}}
			bmp, err := bmpPassword(v.Password)
			require.NoError(t, err)
			_, err = p.verifyMAC(v.Password, bmp)
			require.NoError(t, err)
			assert.Equal(t, prf.Equal(oidHMACWithSHA384) || mac.Equal(oidHMACWithSHA384), p.ownMAC(), "hmacWithSHA384 goes past go-pkcs12")
			_, err = p.verifyMAC(v.Password+"x", bmp)
			assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
		})
	}
}

func pbmac1ParamsDER(t *testing.T, prf, mac asn1.ObjectIdentifier, salt []byte, iter, keyLen int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidPBKDF2)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(salt)
				b.AddASN1Int64(int64(iter))
				b.AddASN1Int64(int64(keyLen))
				addAlgorithm(b, prf)
			})
		})
		addAlgorithm(b, mac)
	})
	der, err := b.Bytes()
	require.NoError(t, err)
	return der
}

func addAlgorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1NULL()
	})
}

// TestPBES2Refusals: what decryptPBES2 and verifyMAC refuse they name, with
// what to do, and an iteration count above MaxPKCS12Iterations is refused
// before any derivation here too (counts inside encrypted content included).
func TestPBES2Refusals(t *testing.T) {
	pbes2 := func(prf, scheme asn1.ObjectIdentifier, iter int64, keyLen int64, iv []byte) algorithmIdentifier {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidPBKDF2)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString([]byte("saltsalt"))
					b.AddASN1Int64(iter)
					if keyLen != 0 {
						b.AddASN1Int64(keyLen)
					}
					addAlgorithm(b, prf)
				})
			})
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(scheme)
				b.AddASN1OctetString(iv)
			})
		})
		return algorithmIdentifier{oid: oidPBES2, params: b.BytesOrPanic()}
	}
	iv8, iv16 := make([]byte, 8), make([]byte, 16)
	oidRC2CBC := asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}
	oidHMACWithSHA224 := asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	for _, tc := range []struct {
		name string
		alg  algorithmIdentifier
		want []string
	}{
		{"RC2-CBC scheme", pbes2(oidHMACWithSHA256, oidRC2CBC, 2048, 0, iv8), []string{"encryption scheme 1.2.840.113549.3.2 is not supported", "AES-128/192/256-CBC and DES-EDE3-CBC are", "export it again"}},
		{"hmacWithSHA224 PRF", pbes2(oidHMACWithSHA224, oidAES256CBC, 2048, 0, iv16), []string{"PRF 1.2.840.113549.2.8 is not supported", "hmacWithSHA384", "export it again"}},
		{"count above the bound", pbes2(oidHMACWithSHA384, oidDESEDE3CBC, MaxPKCS12Iterations+1, 0, iv8), []string{"PBKDF2 iteration count 1048577 exceeds 1048576"}},
		{"count zero", pbes2(oidHMACWithSHA384, oidDESEDE3CBC, 0, 0, iv8), []string{"PBKDF2 iteration count 0"}},
		{"key length not the cipher's", pbes2(oidHMACWithSHA1, oidDESEDE3CBC, 1, 16, iv8), []string{"key length 16 for DES-EDE3-CBC"}},
		{"IV of AES's length for 3DES", pbes2(oidHMACWithSHA1, oidDESEDE3CBC, 1, 0, iv16), []string{"DES-EDE3-CBC IV of 16 bytes (8 expected)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decryptPBES2(tc.alg, make([]byte, 16), "pw")
			require.ErrorIs(t, err, ErrMalformed)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	p := pfxParts{macAlg: algorithmIdentifier{oid: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}}, macIter: bigInt(1)} // SHA-224
	_, err := p.verifyMAC("pw", []byte{0, 'p', 0, 'w', 0, 0})
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "MAC digest 2.16.840.1.101.3.4.2.4 is not supported")
	assert.Contains(t, err.Error(), "export it again")
}

// TestPKCS12SecondKeyRefusedBeforeDecryption: a second key bag is refused
// before its derivation runs (go-pkcs12 refuses the file anyway), so that a
// file of many shrouded keys cannot buy many derivations.
func TestPKCS12SecondKeyRefusedBeforeDecryption(t *testing.T) {
	v := testvectors.Load[pbes2Vector](t, "certs_pbes2").Vectors[2] // DES-EDE3-CBC, hmacWithSHA384
	bag := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidShroudedKey)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(v.Encrypted) })
		})
	}
	var one, two cryptobyte.Builder
	one.AddASN1(cbasn1.SEQUENCE, bag)
	two.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { bag(b); bag(b) })

	keys := 0
	out, err := rewriteBags(one.BytesOrPanic(), v.Password, &keys)
	require.NoError(t, err)
	bags, ok := readSafeContents(out)
	require.True(t, ok)
	require.Len(t, bags, 1)
	assert.True(t, bags[0].oid.Equal(oidKeyBag), "the shrouded key became a keyBag")
	assert.Equal(t, []byte(v.Plain), []byte(bags[0].value))

	keys = 0
	_, err = rewriteBags(two.BytesOrPanic(), v.Password, &keys)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "more than one private key bag")
	keys = 1 // a key bag already seen in the other safe
	_, err = rewriteBags(one.BytesOrPanic(), v.Password, &keys)
	require.ErrorIs(t, err, ErrMalformed)
	assert.False(t, errors.Is(err, pkcs12.ErrDecryption))
}

func bigInt(n int) *big.Int { return big.NewInt(int64(n)) }
