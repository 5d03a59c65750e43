package amt

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is an AMT firmware version such as 16.1.25 (major.minor.build), optionally
// with a fourth component (the build number that CIM_SoftwareIdentity reports
// separately, as in 11.8.50.3425). The zero value is "0.0.0".
type Version struct {
	Major, Minor, Build, Revision int
}

// ErrVersionFormat is returned (wrapped) by [ParseVersion] for malformed input.
var ErrVersionFormat = errors.New("amt: malformed version")

// ParseVersion parses one to four dot-separated decimal components, e.g. "16",
// "16.1", "16.1.25" or "11.8.50.3425". Missing components are zero. Surrounding
// space is ignored; anything else that is not a digit or a dot is an error.
func ParseVersion(s string) (Version, error) {
	var v Version
	t := strings.TrimSpace(s)
	if t == "" {
		return v, fmt.Errorf("%w: empty", ErrVersionFormat)
	}
	parts := strings.Split(t, ".")
	if len(parts) > 4 {
		return v, fmt.Errorf("%w: %q: expected at most 4 components, got %d", ErrVersionFormat, s, len(parts))
	}
	dst := [4]*int{&v.Major, &v.Minor, &v.Build, &v.Revision}
	for i, p := range parts {
		if p == "" || len(p) > 9 {
			return Version{}, fmt.Errorf("%w: %q: component %d is empty or too long", ErrVersionFormat, s, i+1)
		}
		for j := 0; j < len(p); j++ {
			if p[j] < '0' || p[j] > '9' {
				return Version{}, fmt.Errorf("%w: %q: component %d is not a decimal number", ErrVersionFormat, s, i+1)
			}
		}
		n, _ := strconv.Atoi(p) // cannot fail: at most 9 decimal digits
		*dst[i] = n
	}
	return v, nil
}

// MustParseVersion is like [ParseVersion] but panics on error. It is meant for
// constants in tests and tables.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Build, w.Build); c != 0 {
		return c
	}
	return cmp.Compare(v.Revision, w.Revision)
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }

// AtLeast reports whether v is w or newer.
func (v Version) AtLeast(w Version) bool { return v.Compare(w) >= 0 }

// IsZero reports whether v is the zero version (unknown).
func (v Version) IsZero() bool { return v == Version{} }

// String returns "major.minor.build", with ".revision" appended when it is not zero.
func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Build)
	if v.Revision != 0 {
		s += "." + strconv.Itoa(v.Revision)
	}
	return s
}

// MarshalText implements [encoding.TextMarshaler].
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler].
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
