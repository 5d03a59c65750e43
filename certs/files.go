package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	"github.com/amtkit/amtkit/amt"
	"software.sslmate.com/src/go-pkcs12"
)

// MaxFileSize is the largest PEM or PKCS#12 input the loaders accept (1 MiB); a
// provisioning bundle is a few kilobytes.
const MaxFileSize = 1 << 20

// LoadPKCS12 reads a DER PKCS#12 (PFX) file holding a private key and its chain,
// in any of the encodings found in the wild: PKCS#12 PBE with RC2-40 or 3DES
// (OpenSSL before 3.0, Windows), PBES2 (RFC 8018) with AES-128/192/256-CBC or
// DES-EDE3-CBC and a PBKDF2 PRF of hmacWithSHA1/256/384/512 (OpenSSL 3, Windows
// "AES256-SHA256"), with a SHA-1/256/384/512 or PBMAC1 MAC. The MAC is
// required. The certificates are put in order with [OrderChain] (bag order is
// never trusted) and the key's match with the leaf is checked.
//
// A wrong password gives an error for which errors.Is(err,
// pkcs12.ErrIncorrectPassword) holds. Other failures wrap [ErrMalformed], a
// [*ChainError], [ErrKeyType] or [ErrKeyMismatch]; so do an iteration count
// above [MaxPKCS12Iterations] and an algorithm not listed above (the error
// names it). BER-encoded files (some old Java and NSS exports) are not
// supported by go-pkcs12.
func LoadPKCS12(data []byte, password amt.Secret) (b Bundle, err error) {
	if len(data) > MaxFileSize {
		return Bundle{}, fmt.Errorf("%w: PKCS#12 of %d bytes exceeds %d", ErrMalformed, len(data), MaxFileSize)
	}
	// One copy, read by every check and decoder below: a caller's buffer
	// that changed between the MAC check and a later read (a mapped file)
	// would otherwise have unchecked bytes decoded.
	data = bytes.Clone(data)
	if err := checkPKCS12Iterations(data); err != nil {
		return Bundle{}, err
	}
	defer func() {
		// go-pkcs12 is not fuzzed upstream; never let its panic reach the caller.
		if r := recover(); r != nil {
			b, err = Bundle{}, fmt.Errorf("%w: PKCS#12 decoder failed on this input", ErrMalformed)
		}
	}()
	// SHA-384 MACs, PBES2 with DES-EDE3-CBC or hmacWithSHA384: see pkcs12compat.go.
	own, err := ownCryptoPKCS12(data, password.Reveal())
	if err != nil {
		return Bundle{}, err
	}
	if own != nil {
		defer clear(own) // holds the decrypted key
		// The parts decrypted here may hold key bags encrypted with PKCS#12
		// PBE, which go-pkcs12 derives with their own counts: bound them too.
		if err := checkPKCS12Iterations(own); err != nil {
			return Bundle{}, err
		}
		data = own
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password.Reveal())
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			return Bundle{}, fmt.Errorf("certs: PKCS#12: %w", err)
		}
		return Bundle{}, notImplemented(err)
	}
	signer, err := asSigner(key)
	if err != nil {
		return Bundle{}, err
	}
	return NewBundle(append([]*x509.Certificate{leaf}, cas...), signer)
}

func asSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	case *ed25519.PrivateKey:
		return *k, nil
	}
	return nil, fmt.Errorf("%w: private key of type %T", ErrKeyType, key)
}

// PKCS12Encoding selects the algorithms [EncodePKCS12] writes.
type PKCS12Encoding int

// PKCS#12 encodings (go-pkcs12's encoders).
const (
	// PKCS12Modern2023 (the default): PBES2 with PBKDF2-HMAC-SHA-256 and
	// AES-256-CBC, HMAC-SHA-256 MAC. Readable by OpenSSL 1.1.1+, Java 12+,
	// Windows Server 2019+.
	PKCS12Modern2023 PKCS12Encoding = iota
	// PKCS12LegacyDES: 3DES for certificates and key, SHA-1 MAC — the most widely
	// readable; for old Windows, MeshCommander's forge and similar.
	PKCS12LegacyDES
	// PKCS12LegacyRC2: RC2-40 certificates, 3DES key, SHA-1 MAC (OpenSSL before
	// 3.0). OpenSSL 3 reads it only with -legacy.
	PKCS12LegacyRC2
	// PKCS12Modern2026: as Modern2023 with a PBMAC1 MAC. OpenSSL 3.0 cannot read it
	// ("Mac verify error"); OpenSSL 3.4+ and Java 26+ can.
	PKCS12Modern2026
)

func (e PKCS12Encoding) encoder() (*pkcs12.Encoder, error) {
	switch e {
	case PKCS12Modern2023:
		return pkcs12.Modern2023, nil
	case PKCS12LegacyDES:
		return pkcs12.LegacyDES, nil
	case PKCS12LegacyRC2:
		return pkcs12.LegacyRC2, nil
	case PKCS12Modern2026:
		return pkcs12.Modern2026, nil
	}
	return nil, fmt.Errorf("%w: PKCS#12 encoding %d", ErrInvalidOption, int(e))
}

// PKCS12Options tune [EncodePKCS12]; the zero value writes Modern2023 with
// crypto/rand.
type PKCS12Options struct {
	Encoding PKCS12Encoding
	// Rand supplies salts and IVs; nil means crypto/rand.
	Rand io.Reader
}

// EncodePKCS12 writes b as a password-protected PKCS#12 file: the key, the leaf
// and the rest of the chain (root included, as AMT needs it). The key must be an
// in-memory key (*rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey); a key
// held in an HSM gives [ErrKeyNotExportable]. A password of 2048-iteration
// PBKDF2 protects little: use a long random one.
func EncodePKCS12(b Bundle, password amt.Secret, opts PKCS12Options) ([]byte, error) {
	leaf := b.Leaf()
	if leaf == nil {
		return nil, ErrNoCertificates
	}
	if err := b.CheckKey(); err != nil {
		return nil, err
	}
	if !exportable(b.Key) {
		return nil, fmt.Errorf("%w: %T", ErrKeyNotExportable, b.Key)
	}
	enc, err := opts.Encoding.encoder()
	if err != nil {
		return nil, err
	}
	if opts.Rand != nil {
		enc = enc.WithRand(opts.Rand)
	}
	out, err := enc.Encode(b.Key, leaf, b.Chain[1:], password.Reveal())
	if err != nil {
		return nil, fmt.Errorf("certs: encoding PKCS#12: %w", err)
	}
	return out, nil
}

func exportable(k crypto.Signer) bool {
	switch k.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return true
	}
	return false
}

// LoadPEM reads PEM certificates and at most one private key, in any order, with
// any text between blocks (OpenSSL's "Bag Attributes" lines, comments). Keys may be
// PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY");
// encrypted keys give [ErrEncryptedKey]. Other block types (requests, CRLs,
// parameters) are ignored; a block that does not decode (damaged base64, an
// END line that does not match its BEGIN) gives [ErrMalformed], as in
// OpenSSL, rather than being skipped. The certificates are put in order with [OrderChain];
// when a key is present its match with the leaf is checked. A file without a key
// gives a Bundle with a nil Key.
func LoadPEM(data []byte) (Bundle, error) {
	if len(data) > MaxFileSize {
		return Bundle{}, fmt.Errorf("%w: PEM of %d bytes exceeds %d", ErrMalformed, len(data), MaxFileSize)
	}
	var certs []*x509.Certificate
	var key crypto.Signer
	rest := data
	for {
		var blk *pem.Block
		before := rest
		blk, rest = pem.Decode(rest)
		// encoding/pem skips a block it cannot decode (base64 that does
		// not decode, an END line that does not match) and returns the
		// next: a damaged key or certificate block would go unnoticed.
		// Every "-----BEGIN " line must begin a block that decodes.
		if blk == nil {
			if pemStarts(before) > 0 {
				return Bundle{}, badPEMBlock(data, before)
			}
			break
		}
		if pemStarts(before[:len(before)-len(rest)]) > 1 {
			return Bundle{}, badPEMBlock(data, before)
		}
		switch blk.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return Bundle{}, fmt.Errorf("%w: PEM certificate %d: %v", ErrMalformed, len(certs), err)
			}
			if len(certs) == MaxChainCertificates {
				return Bundle{}, &ChainError{Err: ErrTooManyCertificates}
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if key != nil {
				return Bundle{}, ErrMultipleKeys
			}
			if _, enc := blk.Headers["DEK-Info"]; enc {
				return Bundle{}, ErrEncryptedKey
			}
			k, err := parsePrivateKey(blk)
			if err != nil {
				return Bundle{}, err
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return Bundle{}, ErrEncryptedKey
		}
	}
	if len(certs) == 0 {
		return Bundle{}, fmt.Errorf("%w: no PEM CERTIFICATE block", ErrNoCertificates)
	}
	return NewBundle(certs, key)
}

// badPEMBlock is LoadPEM's error for the block that encoding/pem skipped:
// the first "-----BEGIN " line of before (a suffix of data). It names the
// line and its BEGIN text, never the block's content (a key's).
func badPEMBlock(data, before []byte) error {
	const begin = "-----BEGIN "
	at := 0
	if !bytes.HasPrefix(before, []byte(begin)) {
		at = bytes.Index(before, []byte("\n"+begin)) + 1
	}
	off := len(data) - len(before) + at
	header, _, _ := bytes.Cut(data[off:], []byte("\n"))
	if len(header) > 80 {
		header = header[:80]
	}
	return fmt.Errorf("%w: line %d: the PEM block %q does not decode (damaged base64, or an END line that does not match): export the file again or replace that block",
		ErrMalformed, bytes.Count(data[:off], []byte("\n"))+1, bytes.TrimRight(header, "\r"))
}

// pemStarts counts the lines of b that begin with "-----BEGIN " (where
// encoding/pem looks for a block).
func pemStarts(b []byte) int {
	const begin = "-----BEGIN "
	n := 0
	if bytes.HasPrefix(b, []byte(begin)) {
		n++
	}
	return n + bytes.Count(b, []byte("\n"+begin))
}

func parsePrivateKey(blk *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PEM %s: %v", ErrMalformed, blk.Type, err)
	}
	return asSigner(k)
}

// EncodePEM writes the chain as CERTIFICATE blocks, leaf first, followed by the
// key as a PKCS#8 "PRIVATE KEY" block when b.Key is set. A key held in an HSM gives
// [ErrKeyNotExportable]; use [EncodeCertificatesPEM] for the chain alone.
func EncodePEM(b Bundle) ([]byte, error) {
	out := EncodeCertificatesPEM(b.Chain)
	if b.Key == nil {
		return out, nil
	}
	if publicOf(b.Key) == nil {
		return nil, ErrNoKey
	}
	if !exportable(b.Key) {
		return nil, fmt.Errorf("%w: %T", ErrKeyNotExportable, b.Key)
	}
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyNotExportable, err)
	}
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...), nil
}

// EncodeCertificatesPEM writes certificates as CERTIFICATE blocks in the order given.
func EncodeCertificatesPEM(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// Load reads a provisioning bundle in whichever form it comes: PEM (text with
// "-----BEGIN"), DER PKCS#12, PKCS#12 in base64 (as rpc-go and RPS configuration
// files carry it), or DER certificates (a .cer file; no key). The password is used
// for PKCS#12 only.
func Load(data []byte, password amt.Secret) (Bundle, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return LoadPEM(data)
	}
	if len(data) > 0 && data[0] == 0x30 {
		b, err := LoadPKCS12(data, password)
		if err != nil && errors.Is(err, ErrMalformed) && len(data) <= MaxFileSize {
			if cs, cerr := x509.ParseCertificates(data); cerr == nil && len(cs) > 0 {
				if len(cs) > MaxChainCertificates {
					return Bundle{}, &ChainError{Err: ErrTooManyCertificates}
				}
				return NewBundle(cs, nil)
			}
		}
		return b, err
	}
	if len(data) > MaxFileSize*4/3+4 {
		return Bundle{}, fmt.Errorf("%w: input of %d bytes exceeds %d", ErrMalformed, len(data), MaxFileSize)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(data), nil)))
	if err != nil || len(raw) == 0 || raw[0] != 0x30 {
		return Bundle{}, fmt.Errorf("%w: neither PEM, DER PKCS#12 nor base64 PKCS#12", ErrMalformed)
	}
	return LoadPKCS12(raw, password)
}
