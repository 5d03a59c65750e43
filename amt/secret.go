package amt

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Redacted is what a [Secret] prints as.
const Redacted = "[REDACTED]"

// Secret holds a password, OTP, PPS, digest or similar value. fmt verbs
// including %#v, slog, JSON and text marshalling show [Redacted]; only
// [Secret.Reveal] returns the value. Even when a Secret sits in an unexported
// field of a struct printed with %+v, fmt sees only a pointer, never the text.
// Dumpers that walk values by reflection and ignore methods (go-spew with
// DisableMethods, as testify's failure diffs use) do follow that pointer: do
// not diff structs holding secrets in logs that others read.
//
// The zero value is the empty secret. Secrets are immutable and safe to copy.
type Secret struct {
	p *string
}

// NewSecret wraps s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{p: &s}
}

// Reveal returns the secret value. Call it only where the value is put on the wire
// or into a key derivation.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil || *s.p == "" }

// Len returns the length of the secret in bytes.
func (s Secret) Len() int { return len(s.Reveal()) }

// Equal compares two secrets in constant time (for equal lengths).
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// String returns [Redacted].
func (s Secret) String() string { return Redacted }

// GoString returns [Redacted].
func (s Secret) GoString() string { return Redacted }

// Format prints [Redacted] for every verb.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements [slog.LogValuer].
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText implements [encoding.TextMarshaler] and returns [Redacted], so that a
// Secret never reaches JSON, YAML or a log by accident. Persist secrets explicitly
// with [Secret.Reveal].
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
