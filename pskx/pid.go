package pskx

import (
	cryptorand "crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/amt"
)

// Lengths of the provisioning identifier and passphrase, without dashes.
const (
	PIDLen = 8  // characters in a PID, the last one a check character
	PPSLen = 32 // characters in a PPS: 8 groups of 3 random characters and a check character
)

// Errors reported (inside a [*FormatError]) by [ParsePID] and [ParsePPS].
var (
	ErrLength   = errors.New("wrong length")
	ErrCharset  = errors.New("character outside A-Z and 0-9")
	ErrChecksum = errors.New("check character does not match")
	ErrDashes   = errors.New("dashes must separate groups of 4 characters")
)

// FormatError reports why a PID or PPS was refused. It never contains the
// characters of a PPS.
type FormatError struct {
	What   string // "PID" or "PPS"
	Groups []int  // 1-based 4-character groups that failed (checksum and charset errors)
	Length int    // characters seen after removing dashes (length errors)
	Err    error  // ErrLength, ErrDashes, ErrCharset or ErrChecksum
}

// Error implements error.
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("pskx: ")
	b.WriteString(e.What)
	switch {
	case errors.Is(e.Err, ErrLength):
		want := PIDLen
		if e.What == "PPS" {
			want = PPSLen
		}
		fmt.Fprintf(&b, ": expected %d characters (dashes aside), got %d", want, e.Length)
		return b.String()
	case len(e.Groups) == 1:
		fmt.Fprintf(&b, " group %d", e.Groups[0])
	case len(e.Groups) > 1:
		b.WriteString(" groups ")
		for i, g := range e.Groups {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Itoa(g))
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying sentinel.
func (e *FormatError) Unwrap() error { return e.Err }

// CheckChar returns the check character of s as AMT computes it: the sum of the
// ASCII codes of s modulo 36, written as '0'–'9' for 0–9 and 'A'–'Z' for 10–35.
func CheckChar(s string) byte {
	sum := 0
	for i := 0; i < len(s); i++ {
		sum += int(s[i])
	}
	return symbol(byte(sum % 36))
}

func symbol(v byte) byte {
	if v < 10 {
		return '0' + v
	}
	return 'A' + v - 10
}

func isSymbol(c byte) bool { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') }

// PID is a provisioning identifier: 8 characters from A–Z and 0–9, the last of which
// is the check character of the first seven. It is not secret: the device sends it
// in clear in its hello. The zero value is "no PID".
//
// PIDs are comparable and can be map keys; they are held without the dash.
type PID struct {
	b [PIDLen]byte
}

// ParsePID reads a PID written as "XXXX-XXXX" or "XXXXXXXX", in either case and
// with surrounding space ignored, and verifies its check character.
func ParsePID(s string) (PID, error) {
	var p PID
	c, err := compact("PID", s, PIDLen)
	if err != nil {
		return p, err
	}
	if c[7] != CheckChar(c[:7]) {
		return p, &FormatError{What: "PID", Groups: []int{2}, Err: ErrChecksum}
	}
	copy(p.b[:], c)
	return p, nil
}

// MustParsePID is like ParsePID but panics on error; for tests and constants.
func MustParsePID(s string) PID {
	p, err := ParsePID(s)
	if err != nil {
		panic(err)
	}
	return p
}

// IsZero reports whether p is the zero PID.
func (p PID) IsZero() bool { return p == PID{} }

// Compact returns the 8 characters without the dash, the form stored in setup.bin,
// the hello message and the TLS-PSK identity.
func (p PID) Compact() string {
	if p.IsZero() {
		return ""
	}
	return string(p.b[:])
}

// String returns the display form "XXXX-XXXX" (empty for the zero PID).
func (p PID) String() string {
	if p.IsZero() {
		return ""
	}
	return string(p.b[:4]) + "-" + string(p.b[4:])
}

// MarshalText implements [encoding.TextMarshaler] with the compact form.
func (p PID) MarshalText() ([]byte, error) { return []byte(p.Compact()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParsePID].
func (p *PID) UnmarshalText(b []byte) error {
	v, err := ParsePID(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// PPS is a provisioning passphrase: 32 characters from A–Z and 0–9 in 8 groups of
// four, the fourth character of each group being the check character of the
// other three. A PPS is a secret: fmt, slog and encoding print [amt.Redacted]; only
// [PPS.Reveal] and [PPS.RevealGrouped] return the characters. Compare with
// [PPS.Equal], which takes constant time.
//
// The zero value is "no PPS".
type PPS struct {
	s amt.Secret
}

// ParsePPS reads a PPS written in 8 dash-separated groups or as 32 characters, in
// either case, and verifies the check character of every group. A checksum error
// names the failing groups (never the characters).
func ParsePPS(s string) (PPS, error) {
	c, err := compact("PPS", s, PPSLen)
	if err != nil {
		return PPS{}, err
	}
	var bad []int
	for g := 0; g < PPSLen/4; g++ {
		grp := c[g*4 : g*4+4]
		if grp[3] != CheckChar(grp[:3]) {
			bad = append(bad, g+1)
		}
	}
	if bad != nil {
		return PPS{}, &FormatError{What: "PPS", Groups: bad, Err: ErrChecksum}
	}
	return PPS{s: amt.NewSecret(c)}, nil
}

// IsZero reports whether p is the zero PPS.
func (p PPS) IsZero() bool { return p.s.IsZero() }

// Reveal returns the 32 characters without dashes, the form stored in setup.bin
// and (by default) used as the TLS pre-shared key.
func (p PPS) Reveal() string { return p.s.Reveal() }

// RevealGrouped returns the display form "XXXX-XXXX-…" (8 groups).
func (p PPS) RevealGrouped() string { return group(p.s.Reveal()) }

// Secret returns the compact PPS as an [amt.Secret].
func (p PPS) Secret() amt.Secret { return p.s }

// Equal compares two PPS values in constant time.
func (p PPS) Equal(o PPS) bool {
	return subtle.ConstantTimeCompare([]byte(p.s.Reveal()), []byte(o.s.Reveal())) == 1
}

// String returns [amt.Redacted].
func (p PPS) String() string { return amt.Redacted }

// GoString returns [amt.Redacted].
func (p PPS) GoString() string { return amt.Redacted }

// Format prints [amt.Redacted] for every verb.
func (p PPS) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, amt.Redacted) }

// LogValue implements [slog.LogValuer].
func (p PPS) LogValue() slog.Value { return slog.StringValue(amt.Redacted) }

// MarshalText returns [amt.Redacted] so a PPS never reaches JSON or a log by
// accident; persist it explicitly with [PPS.Reveal].
func (p PPS) MarshalText() ([]byte, error) { return []byte(amt.Redacted), nil }

func group(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// compact trims s, upper-cases it and removes dashes that sit between 4-character
// groups; any other dash, or a character outside A–Z/0–9, is an error. PPS errors
// never quote the input.
func compact(what, s string, n int) (string, error) {
	t := strings.TrimSpace(s)
	chars := len(t) - strings.Count(t, "-")
	if chars != n {
		return "", &FormatError{What: what, Length: chars, Err: ErrLength}
	}
	out := make([]byte, 0, n)
	var badGroups []int
	run := 0 // characters since the last dash
	dashed := strings.IndexByte(t, '-') >= 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == '-' {
			if run != 4 {
				return "", &FormatError{What: what, Length: chars, Err: ErrDashes}
			}
			run = 0
			continue
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if !isSymbol(c) {
			g := len(out)/4 + 1
			if len(badGroups) == 0 || badGroups[len(badGroups)-1] != g {
				badGroups = append(badGroups, g)
			}
		}
		out = append(out, c)
		run++
		if dashed && run > 4 {
			return "", &FormatError{What: what, Length: chars, Err: ErrDashes}
		}
	}
	if dashed && run != 4 {
		return "", &FormatError{What: what, Length: chars, Err: ErrDashes}
	}
	if badGroups != nil {
		return "", &FormatError{What: what, Groups: badGroups, Err: ErrCharset}
	}
	return string(out), nil
}

// GeneratePID returns a random PID. rand nil means crypto/rand. Every character
// is drawn uniformly from the 36 symbols (rejection sampling, no modulo bias).
func GeneratePID(rand io.Reader) (PID, error) {
	var buf [PIDLen]byte
	if err := randomSymbols(rand, buf[:7]); err != nil {
		return PID{}, err
	}
	buf[7] = CheckChar(string(buf[:7]))
	return PID{b: buf}, nil
}

// GeneratePPS returns a random PPS (24 uniformly drawn symbols, about 124 bits,
// plus 8 check characters). rand nil means crypto/rand.
func GeneratePPS(rand io.Reader) (PPS, error) {
	var sym [PPSLen / 4 * 3]byte
	if err := randomSymbols(rand, sym[:]); err != nil {
		return PPS{}, err
	}
	var buf [PPSLen]byte
	for g := 0; g < PPSLen/4; g++ {
		copy(buf[g*4:], sym[g*3:g*3+3])
		buf[g*4+3] = CheckChar(string(sym[g*3 : g*3+3]))
	}
	s := string(buf[:])
	clear(buf[:])
	clear(sym[:])
	return PPS{s: amt.NewSecret(s)}, nil
}

// randomSymbols fills dst with symbols drawn uniformly from A–Z0–9. A random byte
// below 252 (7×36) selects symbol b%36; 252–255 are rejected and redrawn. It
// reads exactly as many bytes as it still needs, so no randomness is wasted.
func randomSymbols(r io.Reader, dst []byte) error {
	if r == nil {
		r = cryptorand.Reader
	}
	var pool [32]byte
	for i := 0; i < len(dst); {
		need := min(len(dst)-i, len(pool))
		if _, err := io.ReadFull(r, pool[:need]); err != nil {
			return fmt.Errorf("pskx: reading randomness: %w", err)
		}
		for _, b := range pool[:need] {
			if b < 252 {
				dst[i] = symbol(b % 36)
				i++
			}
		}
	}
	clear(pool[:])
	return nil
}

// Pair is a PID/PPS pair and, optionally, the MEBx password the USB record sets
// with it (so that the configuration server can log in afterwards).
type Pair struct {
	PID          PID
	PPS          PPS
	MEBxPassword amt.Secret
}

// GeneratePair returns a random PID/PPS pair with a random MEBx password that
// passes [amt.CheckPassword]. rand nil means crypto/rand.
func GeneratePair(rand io.Reader) (Pair, error) {
	pid, err := GeneratePID(rand)
	if err != nil {
		return Pair{}, err
	}
	pps, err := GeneratePPS(rand)
	if err != nil {
		return Pair{}, err
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	pw, err := amt.GeneratePassword(rand)
	if err != nil {
		return Pair{}, fmt.Errorf("pskx: generating MEBx password: %w", err)
	}
	return Pair{PID: pid, PPS: pps, MEBxPassword: pw}, nil
}

// GenerateBatch returns n pairs with distinct PIDs (see [GeneratePair]).
func GenerateBatch(rand io.Reader, n int) ([]Pair, error) {
	if n < 0 {
		return nil, fmt.Errorf("pskx: batch size %d is negative", n)
	}
	out := make([]Pair, 0, n)
	seen := make(map[PID]struct{}, n)
	for len(out) < n {
		p, err := GeneratePair(rand)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[p.PID]; dup {
			continue // 36^7 PIDs: rare, but a batch must not repeat one
		}
		seen[p.PID] = struct{}{}
		out = append(out, p)
	}
	return out, nil
}
