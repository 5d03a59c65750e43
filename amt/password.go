package amt

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Password rule violations reported by [CheckPassword]. Each is wrapped by a
// [*PasswordError]; test with errors.Is.
var (
	ErrPasswordLength    = errors.New("must be 8 to 32 characters")
	ErrPasswordCharset   = errors.New("must be 7-bit printable ASCII")
	ErrPasswordForbidden = errors.New(`must not contain ':', ',' or '"'`)
	ErrPasswordNoUpper   = errors.New("needs an upper-case letter")
	ErrPasswordNoLower   = errors.New("needs a lower-case letter")
	ErrPasswordNoDigit   = errors.New("needs a digit")
	ErrPasswordNoSymbol  = errors.New("needs a symbol other than '_' and space")
)

// PasswordError lists every rule a password broke. It never contains the password.
type PasswordError struct {
	// What names the password being checked, e.g. "admin password".
	What string
	// Failed holds the rule errors (ErrPassword...) in the order above.
	Failed []error
}

func (e *PasswordError) Error() string {
	var b strings.Builder
	what := e.What
	if what == "" {
		what = "password"
	}
	b.WriteString("amt: ")
	b.WriteString(what)
	b.WriteString(" is not strong enough for AMT: ")
	for i, f := range e.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap returns the failed rules, so errors.Is(err, ErrPasswordNoDigit) works.
func (e *PasswordError) Unwrap() []error { return e.Failed }

// IsPasswordSymbol reports whether c counts as the symbol AMT's rule requires:
// printable 7-bit ASCII that is not a letter, digit, '_' or space. (':', ',' and '"'
// count as symbols but are forbidden anyway.)
func IsPasswordSymbol(c byte) bool {
	switch {
	case c < 0x21 || c > 0x7e:
		return false
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return false
	}
	return true
}

// CheckPassword applies AMT's strong-password rule to a MEBx or admin password:
// 8–32 characters of 7-bit printable ASCII (32–126) with at least one upper-case
// letter, one lower-case letter, one digit and one symbol, where '_' and space do not
// count as symbols; ':' ',' and '"' are never allowed (a ':' also breaks the digest
// A1). It returns nil or a [*PasswordError] naming every rule broken. The rule is
// the Intel AMT SDK's "Valid Usernames and Passwords" (docs/firmware-rules.md H28).
func CheckPassword(pw string) error { return checkPassword("password", pw) }

func checkPassword(what, pw string) error {
	var failed []error
	if len(pw) < 8 || len(pw) > 32 {
		failed = append(failed, ErrPasswordLength)
	}
	var upper, lower, digit, symbol, badChar, forbidden bool
	for i := 0; i < len(pw); i++ {
		c := pw[i]
		switch {
		case c < 0x20 || c > 0x7e:
			badChar = true
		case c == ':' || c == ',' || c == '"':
			forbidden = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		case IsPasswordSymbol(c):
			symbol = true
		}
	}
	if badChar {
		failed = append(failed, ErrPasswordCharset)
	}
	if forbidden {
		failed = append(failed, ErrPasswordForbidden)
	}
	if !upper {
		failed = append(failed, ErrPasswordNoUpper)
	}
	if !lower {
		failed = append(failed, ErrPasswordNoLower)
	}
	if !digit {
		failed = append(failed, ErrPasswordNoDigit)
	}
	if !symbol {
		failed = append(failed, ErrPasswordNoSymbol)
	}
	if len(failed) == 0 {
		return nil
	}
	return &PasswordError{What: what, Failed: failed}
}

// Errors returned by [CheckUsername].
var (
	ErrUsernameEmpty    = errors.New("amt: user name is empty")
	ErrUsernameLength   = errors.New("amt: user name is longer than 16 characters")
	ErrUsernameReserved = errors.New("amt: user names starting with \"$$\" are reserved for system accounts")
	ErrUsernameCharset  = errors.New("amt: user name must be 7-bit printable ASCII without ':'")
)

// CheckUsername applies AMT's rule for digest user names (SetAdminAclEntryEx,
// AddUserAclEntryEx): non-empty, at most 16 characters of 7-bit printable ASCII, not
// starting with "$$" (system accounts such as $$OsAdmin). A ':' is refused as well,
// since it would make the digest A1 ambiguous.
func CheckUsername(name string) error {
	switch {
	case name == "":
		return ErrUsernameEmpty
	case len(name) > 16:
		return fmt.Errorf("%w (%d)", ErrUsernameLength, len(name))
	case strings.HasPrefix(name, "$$"):
		return ErrUsernameReserved
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e || c == ':' {
			return ErrUsernameCharset
		}
	}
	return nil
}

// GeneratedPasswordLength is the length of passwords made by [GeneratePassword].
const GeneratedPasswordLength = 16

// PasswordAlphabet is what [GeneratePassword] draws from: 47 characters that
// can be typed at the MEBx prompt on any common keyboard. MEBx reads the keys
// as a US keyboard whatever is printed on them, so a password a technician may
// have to type there keeps to characters that sit on the same key, in the same
// shift state, on US, UK and German layouts: letters without y and z (swapped
// on QWERTZ) and a, q, w, m (moved on AZERTY), digits 2–9, and the symbols
// ! $ % and '.' (on shifted 1, 4, 5 and the full stop key of all three). No
// symbol that moves between layouts (@ # ^ & * ( ) …), none on a dead key or
// AltGr (^ ` ~ ' { } [ ] \ | < >), and no look-alikes (0 O o 1 l I). RPS draws
// from letters, digits and !@#$%^*() (src/utils/PasswordHelper.ts) and
// MeshCentral from base64 with '@' (amtmanager.js getRandomAmtPassword): both
// avoid the 90-character set amtkit used before; the layout rule is amtkit's
// own. 16 characters over 47 give about 89 bits.
const PasswordAlphabet = "BCDEFGHJKLNPRSTUVXbcdefghjknprstuvx23456789!$%."

// GeneratePassword returns a random password of [GeneratedPasswordLength]
// characters that passes [CheckPassword], drawn uniformly from the passwords of that
// length over [PasswordAlphabet] (about 89 bits), so that it can serve as a MEBx
// password typed at the firmware prompt as well as an admin password: each
// character is chosen by rejection sampling (no modulo bias), and a password
// missing a character class is drawn again rather than patched, which keeps the
// choice uniform over all valid passwords. rand is typically crypto/rand.Reader;
// a nil rand is an error.
func GeneratePassword(rand io.Reader) (Secret, error) {
	if rand == nil {
		return Secret{}, errors.New("amt: GeneratePassword needs a random source")
	}
	const n = len(PasswordAlphabet)
	const limit = 256 - 256%n // accept bytes below limit: each index equally likely
	var pw [GeneratedPasswordLength]byte
	var buf [64]byte
	for attempt := 0; attempt < 1000; attempt++ {
		filled := 0
		for filled < len(pw) {
			if _, err := io.ReadFull(rand, buf[:]); err != nil {
				return Secret{}, fmt.Errorf("amt: reading randomness: %w", err)
			}
			for _, b := range buf {
				if int(b) >= limit {
					continue
				}
				pw[filled] = PasswordAlphabet[int(b)%n]
				filled++
				if filled == len(pw) {
					break
				}
			}
		}
		if checkPassword("generated password", string(pw[:])) == nil {
			return NewSecret(string(pw[:])), nil
		}
	}
	return Secret{}, errors.New("amt: random source produced no valid password in 1000 attempts")
}
