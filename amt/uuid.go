package amt

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// UUID is a device identifier (the SMBIOS Type 1 UUID) held in canonical RFC 4122
// byte order, the order in which its text form is written. The zero value is the
// nil UUID.
//
// AMT sends UUIDs in the mixed-endian GUID order; convert with [UUIDFromWire] and
// [UUID.Wire].
type UUID [16]byte

// ErrUUIDFormat is returned (wrapped) when a UUID cannot be parsed or has the wrong
// length.
var ErrUUIDFormat = errors.New("amt: malformed UUID")

// UUIDFromWire converts the 16 bytes AMT sends (hello packets, PTHI, GetUuid) to a
// UUID. The first three fields arrive little-endian and are swapped; the last
// eight bytes are kept as they are.
func UUIDFromWire(b []byte) (UUID, error) {
	var u UUID
	if len(b) != 16 {
		return u, fmt.Errorf("%w: wire form must be 16 bytes, got %d", ErrUUIDFormat, len(b))
	}
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:], b[8:])
	return u, nil
}

// Wire returns the UUID in AMT's wire (mixed-endian GUID) order.
func (u UUID) Wire() [16]byte {
	var b [16]byte
	b[0], b[1], b[2], b[3] = u[3], u[2], u[1], u[0]
	b[4], b[5] = u[5], u[4]
	b[6], b[7] = u[7], u[6]
	copy(b[8:], u[8:])
	return b
}

// IsZero reports whether u is the nil UUID.
func (u UUID) IsZero() bool { return u == UUID{} }

// String returns the canonical lower-case form, e.g.
// "d2ffc23e-9dd1-412d-860a-54b2039b72ff".
func (u UUID) String() string {
	var buf [36]byte
	u.appendText(buf[:0])
	return string(buf[:])
}

func (u UUID) appendText(b []byte) []byte {
	b = hex.AppendEncode(b, u[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[8:10])
	b = append(b, '-')
	return hex.AppendEncode(b, u[10:16])
}

// MarshalText implements [encoding.TextMarshaler] with the canonical form.
func (u UUID) MarshalText() ([]byte, error) { return u.appendText(make([]byte, 0, 36)), nil }

// UnmarshalText implements [encoding.TextUnmarshaler]; it accepts what [ParseUUID] accepts.
func (u *UUID) UnmarshalText(text []byte) error {
	v, err := ParseUUID(string(text))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// ParseUUID parses the canonical text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in
// either case, optionally wrapped in braces (as Windows writes GUIDs) or prefixed with
// "urn:uuid:", or the same 32 hex digits without dashes.
//
// The text form is always in display order; it is never the wire order.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	in := s
	if len(s) == 45 && (s[:9] == "urn:uuid:" || s[:9] == "URN:UUID:") {
		s = s[9:]
	} else if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	var digits [32]byte
	n := 0
	switch len(s) {
	case 36:
		for i := 0; i < len(s); i++ {
			c := s[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if c != '-' {
					return u, fmt.Errorf("%w: %q: expected '-' at position %d", ErrUUIDFormat, in, i)
				}
				continue
			}
			digits[n] = c
			n++
		}
	case 32:
		copy(digits[:], s)
	default:
		return u, fmt.Errorf("%w: %q: expected 36 characters (or 32 hex digits), got %d", ErrUUIDFormat, in, len(s))
	}
	if _, err := hex.Decode(u[:], digits[:]); err != nil {
		return UUID{}, fmt.Errorf("%w: %q: %v", ErrUUIDFormat, in, err)
	}
	return u, nil
}
