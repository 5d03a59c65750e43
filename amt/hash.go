package amt

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=HashAlgorithm -linecomment -output=hashalgorithm_string.go

// HashAlgorithm numbers hash algorithms the way AMT does in hello packets, PTHI
// certificate-hash entries and setup.bin (MeshCentral amtprovisioningserver.js,
// rpc-go pkg/amt HashAlgorithmToString, MeshCentral amt/amt-setupbin.js).
// String returns "SHA-1", "SHA-256", "SHA-384", "SHA-512" or "HashAlgorithm(n)".
type HashAlgorithm uint8

// Hash algorithms AMT uses for root-certificate hashes.
const (
	HashSHA1   HashAlgorithm = 1 // SHA-1
	HashSHA256 HashAlgorithm = 2 // SHA-256
	HashSHA384 HashAlgorithm = 3 // SHA-384
	HashSHA512 HashAlgorithm = 5 // SHA-512
)

// Size returns the digest length in bytes, or 0 for an algorithm amtkit does not know.
func (a HashAlgorithm) Size() int {
	switch a {
	case HashSHA1:
		return sha1.Size
	case HashSHA256:
		return sha256.Size
	case HashSHA384:
		return sha512.Size384
	case HashSHA512:
		return sha512.Size
	}
	return 0
}

// Known reports whether a is one of the algorithms above.
func (a HashAlgorithm) Known() bool { return a.Size() != 0 }

// New returns a new hash.Hash for a, or nil for an unknown algorithm.
func (a HashAlgorithm) New() hash.Hash {
	switch a {
	case HashSHA1:
		return sha1.New()
	case HashSHA256:
		return sha256.New()
	case HashSHA384:
		return sha512.New384()
	case HashSHA512:
		return sha512.New()
	}
	return nil
}

// Sum returns the CertHash of data (normally a certificate's DER encoding) under a.
// It returns an error for an unknown algorithm.
func (a HashAlgorithm) Sum(data []byte) (CertHash, error) {
	h := a.New()
	if h == nil {
		return CertHash{}, fmt.Errorf("%w: %v", ErrHashAlgorithm, a)
	}
	h.Write(data)
	return CertHash{Alg: a, Sum: h.Sum(nil)}, nil
}

// HashAlgorithmForSize returns the known algorithm whose digests are n bytes long.
func HashAlgorithmForSize(n int) (HashAlgorithm, bool) {
	for _, a := range [...]HashAlgorithm{HashSHA1, HashSHA256, HashSHA384, HashSHA512} {
		if a.Size() == n {
			return a, true
		}
	}
	return 0, false
}

// Errors reported (wrapped) by the hash helpers.
var (
	ErrHashAlgorithm = errors.New("amt: unknown hash algorithm")
	ErrHashFormat    = errors.New("amt: malformed certificate hash")
)

// CertHash is a root-certificate hash as AMT lists it: an algorithm and a digest
// of the certificate's DER encoding. An algorithm amtkit does not know may appear
// with whatever digest length the device sent.
type CertHash struct {
	Alg HashAlgorithm
	Sum []byte
}

// Equal reports whether h and o have the same algorithm and digest.
func (h CertHash) Equal(o CertHash) bool {
	return h.Alg == o.Alg && len(h.Sum) == len(o.Sum) && subtle.ConstantTimeCompare(h.Sum, o.Sum) == 1
}

// Valid reports whether the algorithm is known and the digest has its length.
func (h CertHash) Valid() bool { return h.Alg.Known() && len(h.Sum) == h.Alg.Size() }

// Hex returns the digest in lower-case hexadecimal without separators, the form
// rpc-go, RPS and MeshCentral compare.
func (h CertHash) Hex() string { return hex.EncodeToString(h.Sum) }

// String returns "SHA-256:<lower-case hex>".
func (h CertHash) String() string { return h.Alg.String() + ":" + h.Hex() }

// MarshalText implements [encoding.TextMarshaler] with [CertHash.String].
func (h CertHash) MarshalText() ([]byte, error) {
	if !h.Alg.Known() {
		return nil, fmt.Errorf("%w: %v", ErrHashAlgorithm, h.Alg)
	}
	return []byte(h.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseCertHash].
func (h *CertHash) UnmarshalText(b []byte) error {
	v, err := ParseCertHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseCertHash reads a certificate hash in the forms tools print:
//
//   - hexadecimal in either case, optionally separated by ':' or spaces
//     ("E7:68:56:34…", "e768 5634 …", "e7685634…"), as OpenSSL, Windows and
//     meshcmd print fingerprints;
//   - standard base64 of the raw digest, as some tools export hashes;
//   - either of the above after an algorithm prefix such as "SHA256:", "sha-256 "
//     or "SHA-384:".
//
// Without a prefix the algorithm is inferred from the digest length (20, 32, 48 or
// 64 bytes). With a prefix the length must match it.
func ParseCertHash(s string) (CertHash, error) {
	return parseCertHash(0, s)
}

// ParseCertHashAlg is like [ParseCertHash] but requires the digest to be for alg.
func ParseCertHashAlg(alg HashAlgorithm, s string) (CertHash, error) {
	if !alg.Known() {
		return CertHash{}, fmt.Errorf("%w: %v", ErrHashAlgorithm, alg)
	}
	return parseCertHash(alg, s)
}

func parseCertHash(want HashAlgorithm, s string) (CertHash, error) {
	t := strings.TrimSpace(s)
	alg, rest := splitHashPrefix(t)
	if alg != 0 {
		if want != 0 && want != alg {
			return CertHash{}, fmt.Errorf("%w: prefix says %v, expected %v", ErrHashFormat, alg, want)
		}
		want = alg
		t = strings.TrimSpace(rest)
	}
	if t == "" {
		return CertHash{}, fmt.Errorf("%w: empty", ErrHashFormat)
	}
	sum, err := decodeHashText(t)
	if err != nil {
		return CertHash{}, err
	}
	if want == 0 {
		a, ok := HashAlgorithmForSize(len(sum))
		if !ok {
			return CertHash{}, fmt.Errorf("%w: %d-byte digest matches no known algorithm (expected 20, 32, 48 or 64)", ErrHashFormat, len(sum))
		}
		want = a
	}
	if len(sum) != want.Size() {
		return CertHash{}, fmt.Errorf("%w: %v digest must be %d bytes, got %d", ErrHashFormat, want, want.Size(), len(sum))
	}
	return CertHash{Alg: want, Sum: sum}, nil
}

// splitHashPrefix recognises "SHA1", "SHA-1", "SHA256", … followed by ':' or space.
func splitHashPrefix(s string) (HashAlgorithm, string) {
	if len(s) < 5 || !strings.EqualFold(s[:3], "sha") {
		return 0, s
	}
	i := 3
	if s[i] == '-' || s[i] == '_' {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i || j >= len(s) || (s[j] != ':' && s[j] != ' ' && s[j] != '=') {
		return 0, s
	}
	var a HashAlgorithm
	switch s[i:j] {
	case "1":
		a = HashSHA1
	case "256":
		a = HashSHA256
	case "384":
		a = HashSHA384
	case "512":
		a = HashSHA512
	default:
		return 0, s
	}
	return a, s[j+1:]
}

func decodeHashText(t string) ([]byte, error) {
	// Hex with optional separators.
	buf := make([]byte, 0, len(t))
	nonHex := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == ':' || c == ' ' || c == '-':
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
			buf = append(buf, c)
		default:
			nonHex++
		}
	}
	if nonHex == 0 {
		if len(buf)%2 != 0 {
			return nil, fmt.Errorf("%w: odd number of hex digits", ErrHashFormat)
		}
		out := make([]byte, len(buf)/2)
		if _, err := hex.Decode(out, buf); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrHashFormat, err)
		}
		return out, nil
	}
	// Base64 of a random digest has about one hex character in three; a string that
	// is nearly all hex is a mistyped hex fingerprint, not base64, and is refused
	// rather than silently read as some other digest.
	if nonHex*5 < len(buf) {
		return nil, fmt.Errorf("%w: not hexadecimal (%d stray characters)", ErrHashFormat, nonHex)
	}
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("%w: neither hex nor base64", ErrHashFormat)
	}
	return b, nil
}
