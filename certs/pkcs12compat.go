package certs

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"unicode/utf16"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"software.sslmate.com/src/go-pkcs12"
)

// PKCS#12 files that go-pkcs12 (v0.7.4) refuses although OpenSSL 3 writes them
// on request (openssl-pkcs12(1): -macalg, -keypbe, -certpbe):
//
//   - a MAC whose digest is SHA-384 (-macalg sha384);
//   - PBES2 (RFC 8018 §6.2) with DES-EDE3-CBC as the encryption scheme (-keypbe
//     des-ede3-cbc -certpbe des-ede3-cbc: OpenSSL 3 writes PBES2 with PBKDF2
//     for any cipher name, unlike the PKCS#12 PBE -keypbe PBE-SHA1-3DES);
//   - PBKDF2 (RFC 8018 §5.2) with the PRF hmacWithSHA384, in PBES2 or PBMAC1.
//
// For such a file LoadPKCS12 verifies the MAC itself, decrypts every PBES2
// encryptedData ContentInfo and PBES2 shrouded key bag itself, and hands
// go-pkcs12 the same file with those decrypted: the SafeContents as a plain
// data ContentInfo, each key as a keyBag (RFC 7292 §4.2.1) with its
// attributes, and, since the AuthenticatedSafe changed, a MAC computed afresh
// with HMAC-SHA-256 and one iteration under the same password. That MAC only
// carries the verdict of the real one, checked first, to go-pkcs12, which
// requires a MAC; the copy never leaves LoadPKCS12 and is cleared after use.
// go-pkcs12 then reads the bags as in any other file, and decrypts what is
// left to it (PKCS#12 PBE with 3DES or RC2, RFC 7292 appendix C).
//
// Every other file goes to go-pkcs12 as it is. The bounds of
// checkPKCS12Iterations apply before either path; the derivations made here
// also bound counts that sit inside encrypted content.

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBMAC1        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}

	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidHMACWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}

	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// macDigest is a digest of the PKCS#12 MAC (RFC 7292 §5 and appendix B) with
// RFC 7292 appendix B.2's u (output) and v (compression-function input)
// lengths in bytes, from the table there.
type macDigest struct {
	name string
	hash func() hash.Hash
	u, v int
}

var macDigests = []struct {
	oid asn1.ObjectIdentifier
	d   macDigest
}{
	{oidSHA1, macDigest{"SHA-1", sha1.New, 20, 64}},
	{oidSHA256, macSHA256},
	{oidSHA384, macDigest{"SHA-384", sha512.New384, 48, 128}},
	{oidSHA512, macDigest{"SHA-512", sha512.New, 64, 128}},
}

// macSHA256 is the digest of the MAC LoadPKCS12 writes into the copy it
// hands go-pkcs12.
var macSHA256 = macDigest{"SHA-256", sha256.New, 32, 64}

func macDigestFor(oid asn1.ObjectIdentifier) (macDigest, bool) {
	for _, m := range macDigests {
		if m.oid.Equal(oid) {
			return m.d, true
		}
	}
	return macDigest{}, false
}

// hmacPRFs are the PBKDF2 PRFs and PBMAC1 MAC schemes accepted (RFC 8018
// appendix B.1.1, B.1.2).
var hmacPRFs = []struct {
	oid  asn1.ObjectIdentifier
	name string
	hash crypto.Hash
}{
	{oidHMACWithSHA1, "hmacWithSHA1", crypto.SHA1},
	{oidHMACWithSHA256, "hmacWithSHA256", crypto.SHA256},
	{oidHMACWithSHA384, "hmacWithSHA384", crypto.SHA384},
	{oidHMACWithSHA512, "hmacWithSHA512", crypto.SHA512},
}

func hmacPRFFor(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, p := range hmacPRFs {
		if p.oid.Equal(oid) {
			return p.hash, true
		}
	}
	return 0, false
}

// pbes2Schemes are the PBES2 encryption schemes accepted (RFC 8018 appendix
// B.2.2 DES-EDE3-CBC-Pad, B.2.5 AES-CBC-Pad): key length, and the IV the
// parameters carry, whose length is the cipher's block size.
var pbes2Schemes = []struct {
	oid    asn1.ObjectIdentifier
	name   string
	keyLen int
	block  func([]byte) (cipher.Block, error)
}{
	{oidDESEDE3CBC, "DES-EDE3-CBC", 24, des.NewTripleDESCipher},
	{oidAES128CBC, "AES-128-CBC", 16, aes.NewCipher},
	{oidAES192CBC, "AES-192-CBC", 24, aes.NewCipher},
	{oidAES256CBC, "AES-256-CBC", 32, aes.NewCipher},
}

// reexport is how to get a file this package reads, for refusal messages.
const reexport = "export it again with `openssl pkcs12 -export` (OpenSSL 3's default: PBES2 with AES-256-CBC, SHA-256 MAC)"

// algorithmIdentifier is an X.509 AlgorithmIdentifier: OID and the whole
// parameters element, empty when absent.
type algorithmIdentifier struct {
	oid    asn1.ObjectIdentifier
	params cryptobyte.String
}

func readAlgorithmIdentifier(s *cryptobyte.String, a *algorithmIdentifier) bool {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.oid) {
		return false
	}
	a.params = nil
	if !seq.Empty() && !seq.ReadAnyASN1Element(&a.params, nil) {
		return false
	}
	return seq.Empty()
}

// noParams reports whether an AlgorithmIdentifier's parameters are absent or NULL.
func (a algorithmIdentifier) noParams() bool {
	return len(a.params) == 0 || bytes.Equal(a.params, []byte{0x05, 0x00})
}

// pfxParts is a PFX (RFC 7292 §4) taken apart down to its AuthenticatedSafe.
type pfxParts struct {
	authSafe []byte        // content of the OCTET STRING in authSafe's [0]: what the MAC covers
	contents []contentInfo // the AuthenticatedSafe
	macAlg   algorithmIdentifier
	digest   []byte
	macSalt  []byte
	macIter  *big.Int // DEFAULT 1
}

type contentInfo struct {
	oid     asn1.ObjectIdentifier
	element cryptobyte.String // the whole ContentInfo
	content cryptobyte.String // inside [0] EXPLICIT
}

// parsePFX takes apart a DER PFX with a MAC and a data authSafe. It is
// strict: anything else gives ok false and is left to go-pkcs12.
func parsePFX(der []byte) (p pfxParts, ok bool) {
	s := cryptobyte.String(der)
	var pfx, authSafe, mac cryptobyte.String
	var version int64
	var ci contentInfo
	if !s.ReadASN1(&pfx, cbasn1.SEQUENCE) || !s.Empty() ||
		!pfx.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 3 ||
		!pfx.ReadASN1Element(&authSafe, cbasn1.SEQUENCE) || !readContentInfo(&authSafe, &ci) || !ci.oid.Equal(oidData) ||
		!ci.content.ReadASN1Bytes(&p.authSafe, cbasn1.OCTET_STRING) || !ci.content.Empty() ||
		!pfx.ReadASN1(&mac, cbasn1.SEQUENCE) || !pfx.Empty() {
		return pfxParts{}, false
	}
	var digestInfo cryptobyte.String
	if !mac.ReadASN1(&digestInfo, cbasn1.SEQUENCE) || !readAlgorithmIdentifier(&digestInfo, &p.macAlg) ||
		!digestInfo.ReadASN1Bytes(&p.digest, cbasn1.OCTET_STRING) || !digestInfo.Empty() ||
		!mac.ReadASN1Bytes(&p.macSalt, cbasn1.OCTET_STRING) {
		return pfxParts{}, false
	}
	p.macIter = big.NewInt(1)
	if !mac.Empty() && (!mac.ReadASN1Integer(p.macIter) || !mac.Empty()) {
		return pfxParts{}, false
	}
	safe := cryptobyte.String(p.authSafe)
	var seq cryptobyte.String
	if !safe.ReadASN1(&seq, cbasn1.SEQUENCE) || !safe.Empty() {
		return pfxParts{}, false
	}
	for !seq.Empty() {
		var c contentInfo
		if !readContentInfo(&seq, &c) {
			return pfxParts{}, false
		}
		p.contents = append(p.contents, c)
	}
	return p, true
}

func readContentInfo(s *cryptobyte.String, c *contentInfo) bool {
	var body cryptobyte.String
	if !s.ReadASN1Element(&c.element, cbasn1.SEQUENCE) {
		return false
	}
	elem := c.element
	return elem.ReadASN1(&body, cbasn1.SEQUENCE) && body.ReadASN1ObjectIdentifier(&c.oid) &&
		body.ReadASN1(&c.content, cbasn1.Tag(0).Constructed().ContextSpecific()) && body.Empty()
}

// encryptedContent reads an EncryptedData (RFC 5652 §8, version 0 as RFC
// 7292 §4.1 uses it): its algorithm and ciphertext.
func encryptedContent(content cryptobyte.String) (alg algorithmIdentifier, ciphertext []byte, ok bool) {
	var ed, eci cryptobyte.String
	var version int64
	var ct asn1.ObjectIdentifier
	if !content.ReadASN1(&ed, cbasn1.SEQUENCE) || !content.Empty() ||
		!ed.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 0 ||
		!ed.ReadASN1(&eci, cbasn1.SEQUENCE) || !ed.Empty() ||
		!eci.ReadASN1ObjectIdentifier(&ct) || !ct.Equal(oidData) || !readAlgorithmIdentifier(&eci, &alg) ||
		!eci.ReadASN1Bytes(&ciphertext, cbasn1.Tag(0).ContextSpecific()) || !eci.Empty() {
		return algorithmIdentifier{}, nil, false
	}
	return alg, ciphertext, true
}

// safeBag is one SafeBag (RFC 7292 §4.2).
type safeBag struct {
	oid   asn1.ObjectIdentifier
	value cryptobyte.String // inside [0] EXPLICIT
	attrs cryptobyte.String // the whole SET OF attributes, or empty
}

func readSafeContents(der []byte) ([]safeBag, bool) {
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, false
	}
	var bags []safeBag
	for !seq.Empty() {
		var b safeBag
		var body cryptobyte.String
		if !seq.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1ObjectIdentifier(&b.oid) ||
			!body.ReadASN1(&b.value, cbasn1.Tag(0).Constructed().ContextSpecific()) {
			return nil, false
		}
		if !body.Empty() && (!body.ReadASN1Element(&b.attrs, cbasn1.SET) || !body.Empty()) {
			return nil, false
		}
		bags = append(bags, b)
	}
	return bags, true
}

// encryptedPrivateKeyInfo reads a shrouded key bag's value (RFC 5958 §3).
func encryptedPrivateKeyInfo(value cryptobyte.String) (alg algorithmIdentifier, ciphertext []byte, ok bool) {
	var epki cryptobyte.String
	if !value.ReadASN1(&epki, cbasn1.SEQUENCE) || !value.Empty() || !readAlgorithmIdentifier(&epki, &alg) ||
		!epki.ReadASN1Bytes(&ciphertext, cbasn1.OCTET_STRING) || !epki.Empty() {
		return algorithmIdentifier{}, nil, false
	}
	return alg, ciphertext, true
}

// pbes2Params reads PBES2-params (RFC 8018 appendix A.4) with PBKDF2-params
// (appendix A.2): salt, iteration count, optional key length, PRF.
type pbes2Params struct {
	salt       []byte
	iterations *big.Int
	keyLength  int64 // 0 when absent
	prf        algorithmIdentifier
	scheme     algorithmIdentifier
}

func parsePBES2(params cryptobyte.String) (p pbes2Params, err error) {
	var seq cryptobyte.String
	var kdf algorithmIdentifier
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() || !readAlgorithmIdentifier(&seq, &kdf) ||
		!readAlgorithmIdentifier(&seq, &p.scheme) || !seq.Empty() {
		return p, fmt.Errorf("%w: PKCS#12 PBES2 parameters", ErrMalformed)
	}
	if !kdf.oid.Equal(oidPBKDF2) {
		return p, fmt.Errorf("%w: PKCS#12 PBES2 key derivation function %s is not supported (only PBKDF2): %s", ErrMalformed, kdf.oid, reexport)
	}
	if err := parsePBKDF2(kdf.params, &p); err != nil {
		return p, err
	}
	return p, nil
}

func parsePBKDF2(params cryptobyte.String, p *pbes2Params) error {
	var seq cryptobyte.String
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() {
		return fmt.Errorf("%w: PKCS#12 PBKDF2 parameters", ErrMalformed)
	}
	if !seq.PeekASN1Tag(cbasn1.OCTET_STRING) {
		return fmt.Errorf("%w: PKCS#12 PBKDF2 salt from another source than an OCTET STRING is not supported: %s", ErrMalformed, reexport)
	}
	p.iterations = new(big.Int)
	if !seq.ReadASN1Bytes(&p.salt, cbasn1.OCTET_STRING) || !seq.ReadASN1Integer(p.iterations) {
		return fmt.Errorf("%w: PKCS#12 PBKDF2 parameters", ErrMalformed)
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) && (!seq.ReadASN1Int64WithTag(&p.keyLength, cbasn1.INTEGER) || p.keyLength < 1) {
		return fmt.Errorf("%w: PKCS#12 PBKDF2 key length", ErrMalformed)
	}
	p.prf = algorithmIdentifier{oid: oidHMACWithSHA1} // DEFAULT algid-hmacWithSHA1
	if !seq.Empty() && (!readAlgorithmIdentifier(&seq, &p.prf) || !seq.Empty()) {
		return fmt.Errorf("%w: PKCS#12 PBKDF2 parameters", ErrMalformed)
	}
	if _, ok := hmacPRFFor(p.prf.oid); !ok || !p.prf.noParams() {
		return fmt.Errorf("%w: PKCS#12 PBKDF2 PRF %s is not supported (hmacWithSHA1, hmacWithSHA256, hmacWithSHA384 and hmacWithSHA512 are): %s", ErrMalformed, p.prf.oid, reexport)
	}
	return nil
}

// iterations returns a count within [1, MaxPKCS12Iterations].
func iterations(n *big.Int, where string) (int, error) {
	if n.Sign() <= 0 {
		return 0, fmt.Errorf("%w: PKCS#12 %s iteration count %s", ErrMalformed, where, n)
	}
	if n.Cmp(big.NewInt(MaxPKCS12Iterations)) > 0 {
		return 0, fmt.Errorf("%w: PKCS#12 %s iteration count %s exceeds %d", ErrMalformed, where, n, MaxPKCS12Iterations)
	}
	return int(n.Int64()), nil
}

// ownPBES2 reports whether alg is PBES2 with a scheme or PRF go-pkcs12 lacks
// (DES-EDE3-CBC, hmacWithSHA384); unparsable parameters give false.
func ownPBES2(alg algorithmIdentifier) bool {
	if !alg.oid.Equal(oidPBES2) {
		return false
	}
	p, err := parsePBES2(alg.params)
	return err == nil && (p.scheme.oid.Equal(oidDESEDE3CBC) || p.prf.oid.Equal(oidHMACWithSHA384))
}

// ownMAC reports whether the MAC is one go-pkcs12 lacks: SHA-384, or PBMAC1
// with hmacWithSHA384 as PRF or MAC.
func (p pfxParts) ownMAC() bool {
	if p.macAlg.oid.Equal(oidSHA384) {
		return true
	}
	if !p.macAlg.oid.Equal(oidPBMAC1) {
		return false
	}
	m, err := parsePBMAC1(p.macAlg.params)
	return err == nil && (m.prf.oid.Equal(oidHMACWithSHA384) || m.mac.oid.Equal(oidHMACWithSHA384))
}

// needsOwnCrypto reports whether the file uses, in the clear, an algorithm
// go-pkcs12 lacks and this file adds.
func (p pfxParts) needsOwnCrypto() bool {
	if p.ownMAC() {
		return true
	}
	for _, c := range p.contents {
		switch {
		case c.oid.Equal(oidEncryptedData):
			if alg, _, ok := encryptedContent(c.content); ok && ownPBES2(alg) {
				return true
			}
		case c.oid.Equal(oidData):
			var data []byte
			content := c.content
			if !content.ReadASN1Bytes(&data, cbasn1.OCTET_STRING) {
				continue
			}
			bags, _ := readSafeContents(data)
			for _, b := range bags {
				if !b.oid.Equal(oidShroudedKey) {
					continue
				}
				if alg, _, ok := encryptedPrivateKeyInfo(b.value); ok && ownPBES2(alg) {
					return true
				}
			}
		}
	}
	return false
}

// maxAuthSafeItems is go-pkcs12's DecodeChain bound on the AuthenticatedSafe
// (a key and a certificate ContentInfo); checked here before any decryption.
const maxAuthSafeItems = 2

// ownCryptoPKCS12 returns der rewritten for go-pkcs12 when it uses an
// algorithm go-pkcs12 lacks (see the comment at the top of this file), and
// nil when go-pkcs12 reads it as it is. The caller clears the result.
func ownCryptoPKCS12(der []byte, password string) ([]byte, error) {
	p, ok := parsePFX(der)
	if !ok || !p.needsOwnCrypto() {
		return nil, nil
	}
	if len(p.contents) > maxAuthSafeItems {
		return nil, fmt.Errorf("%w: PKCS#12 AuthenticatedSafe of %d items (a key and a certificate safe, at most %d, are read)", ErrMalformed, len(p.contents), maxAuthSafeItems)
	}
	bmp, err := bmpPassword(password)
	if err != nil {
		return nil, err
	}
	defer clear(bmp)
	macPassword, err := p.verifyMAC(password, bmp)
	if err != nil {
		return nil, err
	}
	keys := 0
	// Every builder here gets its room up front (the input's size plus the
	// headers it adds): one that grew by append would leave the decrypted
	// key in the arrays it outgrew, where nothing clears it.
	safe := cryptobyte.NewBuilder(make([]byte, 0, len(der)+256))
	safe.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, c := range p.contents {
			var data []byte
			switch {
			case c.oid.Equal(oidData):
				content := c.content
				if !content.ReadASN1Bytes(&data, cbasn1.OCTET_STRING) || !content.Empty() {
					b.SetError(fmt.Errorf("%w: PKCS#12 data ContentInfo", ErrMalformed))
					return
				}
			case c.oid.Equal(oidEncryptedData):
				alg, ciphertext, ok := encryptedContent(c.content)
				if !ok {
					b.SetError(fmt.Errorf("%w: PKCS#12 encryptedData ContentInfo", ErrMalformed))
					return
				}
				if !alg.oid.Equal(oidPBES2) { // PKCS#12 PBE: go-pkcs12 decrypts it
					b.AddBytes(c.element)
					continue
				}
				if data, err = decryptPBES2(alg, ciphertext, password); err != nil {
					b.SetError(err)
					return
				}
				defer clear(data)
			default:
				b.SetError(fmt.Errorf("%w: PKCS#12 ContentInfo of type %s is not supported (only data and encryptedData, password privacy mode): %s", ErrMalformed, c.oid, reexport))
				return
			}
			bags, err := rewriteBags(data, password, &keys)
			if err != nil {
				b.SetError(err)
				return
			}
			defer clear(bags)
			addDataContentInfo(b, bags)
		}
	})
	authSafe, err := safe.Bytes()
	if err != nil {
		return nil, err
	}
	defer clear(authSafe)
	digest := hmacPKCS12(macSHA256, macPassword, p.macSalt, 1, authSafe)
	out := cryptobyte.NewBuilder(make([]byte, 0, len(authSafe)+len(p.macSalt)+256))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(3)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidData)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(authSafe)
			})
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // MacData, iterations DEFAULT 1
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidSHA256)
					b.AddASN1NULL()
				})
				b.AddASN1OctetString(digest)
			})
			b.AddASN1OctetString(p.macSalt)
		})
	})
	return out.Bytes()
}

func addDataContentInfo(b *cryptobyte.Builder, safeContents []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(safeContents)
		})
	})
}

// rewriteBags returns SafeContents with every PBES2 shrouded key bag
// replaced by a keyBag of the decrypted key; other bags are copied. A second
// key bag in the file (counted in keys) is refused before its decryption, as
// go-pkcs12 refuses it.
func rewriteBags(safeContents []byte, password string, keys *int) ([]byte, error) {
	bags, ok := readSafeContents(safeContents)
	if !ok {
		return nil, fmt.Errorf("%w: PKCS#12 SafeContents", ErrMalformed)
	}
	var err error
	out := cryptobyte.NewBuilder(make([]byte, 0, len(safeContents)+256)) // room up front, see ownCryptoPKCS12
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, bag := range bags {
			value := []byte(bag.value)
			id := bag.oid
			if bag.oid.Equal(oidKeyBag) || bag.oid.Equal(oidShroudedKey) {
				if *keys++; *keys > 1 {
					b.SetError(fmt.Errorf("%w: PKCS#12 with more than one private key bag", ErrMalformed))
					return
				}
			}
			if bag.oid.Equal(oidShroudedKey) {
				alg, ciphertext, ok := encryptedPrivateKeyInfo(bag.value)
				if !ok {
					b.SetError(fmt.Errorf("%w: PKCS#12 shrouded key bag", ErrMalformed))
					return
				}
				if alg.oid.Equal(oidPBES2) {
					if value, err = decryptPBES2(alg, ciphertext, password); err != nil {
						b.SetError(err)
						return
					}
					defer clear(value)
					if !singleSequence(value) {
						b.SetError(fmt.Errorf("%w: PKCS#12 shrouded key bag: the decrypted key is not a PrivateKeyInfo", ErrMalformed))
						return
					}
					id = oidKeyBag
				}
			}
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(id)
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(value) })
				b.AddBytes(bag.attrs)
			})
		}
	})
	return out.Bytes()
}

// singleSequence reports whether der is exactly one DER SEQUENCE.
func singleSequence(der []byte) bool {
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	return s.ReadASN1(&seq, cbasn1.SEQUENCE) && s.Empty()
}

// decryptPBES2 decrypts with PBES2 (RFC 8018 §6.2.2): PBKDF2 with the UTF-8
// password (RFC 9579 §3 and RFC 8018 §3 take PBES2 passwords as UTF-8, not
// as the BMPString of the PKCS#12 KDF), then the scheme in CBC mode with the
// IV of its parameters, then the RFC 8018 §6.1.1 padding removed.
func decryptPBES2(alg algorithmIdentifier, ciphertext []byte, password string) ([]byte, error) {
	p, err := parsePBES2(alg.params)
	if err != nil {
		return nil, err
	}
	n, err := iterations(p.iterations, "PBKDF2")
	if err != nil {
		return nil, err
	}
	for _, s := range pbes2Schemes {
		if !s.oid.Equal(p.scheme.oid) {
			continue
		}
		if p.keyLength != 0 && p.keyLength != int64(s.keyLen) {
			return nil, fmt.Errorf("%w: PKCS#12 PBKDF2 key length %d for %s", ErrMalformed, p.keyLength, s.name)
		}
		var iv []byte
		ivs := p.scheme.params
		if !ivs.ReadASN1Bytes(&iv, cbasn1.OCTET_STRING) || !ivs.Empty() {
			return nil, fmt.Errorf("%w: PKCS#12 %s parameters (an IV)", ErrMalformed, s.name)
		}
		prf, _ := hmacPRFFor(p.prf.oid)
		key, err := pbkdf2.Key(prf.New, password, p.salt, n, s.keyLen)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#12 PBKDF2: %v", ErrMalformed, err)
		}
		defer clear(key)
		block, err := s.block(key)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#12 %s: %v", ErrMalformed, s.name, err)
		}
		bs := block.BlockSize()
		if len(iv) != bs {
			return nil, fmt.Errorf("%w: PKCS#12 %s IV of %d bytes (%d expected)", ErrMalformed, s.name, len(iv), bs)
		}
		if len(ciphertext) == 0 || len(ciphertext)%bs != 0 {
			return nil, fmt.Errorf("%w: PKCS#12 %s ciphertext of %d bytes", ErrMalformed, s.name, len(ciphertext))
		}
		plain := make([]byte, len(ciphertext))
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ciphertext)
		pad := int(plain[len(plain)-1])
		if pad == 0 || pad > bs || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
			clear(plain)
			// The MAC verified with this password: the encryption password
			// differs (openssl -twopass) or the content is corrupt.
			return nil, fmt.Errorf("certs: PKCS#12 %s: %w", s.name, pkcs12.ErrDecryption)
		}
		return plain[:len(plain)-pad], nil
	}
	return nil, fmt.Errorf("%w: PKCS#12 PBES2 encryption scheme %s is not supported (AES-128/192/256-CBC and DES-EDE3-CBC are): %s", ErrMalformed, p.scheme.oid, reexport)
}

// pbmac1Params are PBMAC1-params (RFC 8018 appendix A.5) with PBKDF2.
type pbmac1Params struct {
	pbes2Params
	mac algorithmIdentifier
}

func parsePBMAC1(params cryptobyte.String) (m pbmac1Params, err error) {
	var seq cryptobyte.String
	var kdf algorithmIdentifier
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() || !readAlgorithmIdentifier(&seq, &kdf) ||
		!readAlgorithmIdentifier(&seq, &m.mac) || !seq.Empty() {
		return m, fmt.Errorf("%w: PKCS#12 PBMAC1 parameters", ErrMalformed)
	}
	if !kdf.oid.Equal(oidPBKDF2) {
		return m, fmt.Errorf("%w: PKCS#12 PBMAC1 key derivation function %s is not supported (only PBKDF2): %s", ErrMalformed, kdf.oid, reexport)
	}
	if err := parsePBKDF2(kdf.params, &m.pbes2Params); err != nil {
		return m, err
	}
	if _, ok := hmacPRFFor(m.mac.oid); !ok || !m.mac.noParams() {
		return m, fmt.Errorf("%w: PKCS#12 PBMAC1 MAC %s is not supported (hmacWithSHA1/256/384/512 are): %s", ErrMalformed, m.mac.oid, reexport)
	}
	return m, nil
}

// verifyMAC checks the file's MAC with the password and returns the BMPString
// form of the password it verified with (for the empty password, as
// go-pkcs12 and OpenSSL do, first the two-zero-byte terminator alone, then
// no bytes at all). A wrong password gives pkcs12.ErrIncorrectPassword.
func (p pfxParts) verifyMAC(password string, bmp []byte) ([]byte, error) {
	if p.macAlg.oid.Equal(oidPBMAC1) {
		// RFC 9579 §3: PBMAC1 in PKCS#12 takes everything from its own
		// parameters; MacData's salt and count are ignored (the count is
		// still bounded by checkPKCS12Iterations).
		m, err := parsePBMAC1(p.macAlg.params)
		if err != nil {
			return nil, err
		}
		n, err := iterations(m.iterations, "PBMAC1")
		if err != nil {
			return nil, err
		}
		macHash, _ := hmacPRFFor(m.mac.oid)
		// RFC 9579 §3 requires the key length; as go-pkcs12 does, refuse a
		// key shorter than 20 octets (an authentication bypass, RFC 9579
		// §7) and one longer than the largest HMAC output.
		if m.keyLength < 20 || m.keyLength > 64 {
			return nil, fmt.Errorf("%w: PKCS#12 PBMAC1 key length %d (20 to 64 octets)", ErrMalformed, m.keyLength)
		}
		prf, _ := hmacPRFFor(m.prf.oid)
		key, err := pbkdf2.Key(prf.New, password, m.salt, n, int(m.keyLength))
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#12 PBMAC1: %v", ErrMalformed, err)
		}
		defer clear(key)
		h := hmac.New(macHash.New, key)
		h.Write(p.authSafe)
		if !hmac.Equal(h.Sum(nil), p.digest) {
			return nil, fmt.Errorf("certs: PKCS#12: %w", pkcs12.ErrIncorrectPassword)
		}
		return bmp, nil
	}
	d, ok := macDigestFor(p.macAlg.oid)
	if !ok || !p.macAlg.noParams() {
		return nil, fmt.Errorf("%w: PKCS#12 MAC digest %s is not supported (SHA-1, SHA-256, SHA-384, SHA-512 and PBMAC1 are): %s", ErrMalformed, p.macAlg.oid, reexport)
	}
	n, err := iterations(p.macIter, "MAC")
	if err != nil {
		return nil, err
	}
	candidates := [][]byte{bmp}
	if password == "" {
		candidates = append(candidates, nil)
	}
	for _, pw := range candidates {
		if hmac.Equal(hmacPKCS12(d, pw, p.macSalt, n, p.authSafe), p.digest) {
			return pw, nil
		}
	}
	return nil, fmt.Errorf("certs: PKCS#12: %w", pkcs12.ErrIncorrectPassword)
}

// hmacPKCS12 is the PKCS#12 MAC (RFC 7292 §5 and appendix B.4): HMAC with
// the digest, keyed with u bytes of the appendix B.2 KDF for ID 3.
func hmacPKCS12(d macDigest, bmpPassword, salt []byte, iterations int, message []byte) []byte {
	key := pkcs12KDF(d, 3, bmpPassword, salt, iterations, d.u)
	defer clear(key)
	h := hmac.New(d.hash, key)
	h.Write(message)
	return h.Sum(nil)
}

// pkcs12KDF derives n bytes for the purpose id (1 key, 2 IV, 3 MAC key) from
// the BMPString password and salt, as RFC 7292 appendix B.2 describes it.
func pkcs12KDF(d macDigest, id byte, bmpPassword, salt []byte, iterations, n int) []byte {
	v := d.v
	dv := bytes.Repeat([]byte{id}, v) // 1. the diversifier D: v/8 copies of ID
	// 2.–4. I = S || P, salt and password each repeated to a multiple of v bits.
	fs, fp := fill(salt, v), fill(bmpPassword, v)
	in := append(fs, fp...)
	clear(fp)
	defer clear(in)
	out := make([]byte, 0, n+d.u)
	h := d.hash()
	b := make([]byte, v)
	defer clear(b)
	for len(out) < n { // 5.–6. c = ceiling(n/u) rounds
		// 6A. A_i = H^r(D || I)
		h.Reset()
		h.Write(dv)
		h.Write(in)
		a := h.Sum(nil)
		for range iterations - 1 {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= n {
			clear(a) // derived bytes, copied into out
			break
		}
		// 6B. B: copies of A_i, v bits.
		for j := 0; j < v; j += len(a) {
			copy(b[j:], a)
		}
		clear(a)
		// 6C. Each v-bit block I_j of I becomes (I_j + B + 1) mod 2^v.
		for j := 0; j < len(in); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				sum := int(in[j+k]) + int(b[k]) + carry
				in[j+k] = byte(sum)
				carry = sum >> 8
			}
		}
	}
	clear(out[n:])
	return out[:n]
}

// fill returns copies of s concatenated to v*ceiling(len(s)/v) bytes, the
// last copy truncated (RFC 7292 appendix B.2 steps 2 and 3); empty for an
// empty s.
func fill(s []byte, v int) []byte {
	if len(s) == 0 {
		return nil
	}
	out := make([]byte, (len(s)+v-1)/v*v)
	for i := 0; i < len(out); i += len(s) {
		copy(out[i:], s)
	}
	return out
}

// bmpPassword is the password as RFC 7292 appendix B.1 has it for the PKCS#12
// KDF: a BMPString (big-endian UCS-2) with a two-zero-byte terminator.
func bmpPassword(password string) ([]byte, error) {
	out := make([]byte, 0, 2*len(password)+2)
	for _, r := range password {
		if r1, _ := utf16.EncodeRune(r); r1 != '\uFFFD' {
			return nil, fmt.Errorf("%w: PKCS#12 password with a character outside Unicode's Basic Multilingual Plane, which a BMPString (RFC 7292 appendix B.1) cannot hold", ErrMalformed)
		}
		out = append(out, byte(r>>8), byte(r))
	}
	return append(out, 0, 0), nil
}

// notImplemented words go-pkcs12's refusal of an algorithm it lacks.
func notImplemented(err error) error {
	var ni pkcs12.NotImplementedError
	if errors.As(err, &ni) {
		return fmt.Errorf("%w: PKCS#12: %v; %s", ErrMalformed, err, reexport)
	}
	return fmt.Errorf("%w: PKCS#12: %v", ErrMalformed, err)
}
