package amt_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testvectors"
)

type passwordVector struct {
	Password string   `json:"password"`
	Fails    []string `json:"fails"`
}

var ruleErrs = map[string]error{
	"length":    amt.ErrPasswordLength,
	"charset":   amt.ErrPasswordCharset,
	"forbidden": amt.ErrPasswordForbidden,
	"upper":     amt.ErrPasswordNoUpper,
	"lower":     amt.ErrPasswordNoLower,
	"digit":     amt.ErrPasswordNoDigit,
	"symbol":    amt.ErrPasswordNoSymbol,
}

func TestCheckPasswordVectors(t *testing.T) {
	f := testvectors.Load[passwordVector](t, "password")
	for i, v := range f.Vectors {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			err := amt.CheckPassword(v.Password)
			if len(v.Fails) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var pe *amt.PasswordError
			require.True(t, errors.As(err, &pe))
			assert.Len(t, pe.Failed, len(v.Fails))
			for name, rule := range ruleErrs {
				want := false
				for _, f := range v.Fails {
					want = want || f == name
				}
				assert.Equal(t, want, errors.Is(err, rule), "rule %s", name)
			}
			if len(v.Password) >= 4 {
				assert.NotContains(t, err.Error(), v.Password, "error must not echo the password")
			}
		})
	}
}

func TestIsPasswordSymbol(t *testing.T) {
	for _, c := range []byte("!@#$%^&*()-+=[]{};'<>?/.\\|~`,:\"") {
		assert.True(t, amt.IsPasswordSymbol(c), string(c))
	}
	for _, c := range []byte("_ aZ09\t\x7f") {
		assert.False(t, amt.IsPasswordSymbol(c), string(c))
	}
}

func TestCheckUsername(t *testing.T) {
	assert.NoError(t, amt.CheckUsername("admin"))
	assert.NoError(t, amt.CheckUsername("sixteen_chars_ok"))
	assert.ErrorIs(t, amt.CheckUsername(""), amt.ErrUsernameEmpty)
	assert.ErrorIs(t, amt.CheckUsername("seventeen_chars_x"), amt.ErrUsernameLength)
	assert.ErrorIs(t, amt.CheckUsername("$$OsAdmin"), amt.ErrUsernameReserved)
	assert.ErrorIs(t, amt.CheckUsername("a:b"), amt.ErrUsernameCharset)
	assert.ErrorIs(t, amt.CheckUsername("adm\x00n"), amt.ErrUsernameCharset)
	assert.ErrorIs(t, amt.CheckUsername("ädmin"), amt.ErrUsernameCharset)
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	counts := map[byte]int{}
	const n = 2000
	for i := 0; i < n; i++ {
		pw, err := amt.GeneratePassword(rand.Reader)
		require.NoError(t, err)
		s := pw.Reveal()
		require.Len(t, s, amt.GeneratedPasswordLength)
		require.NoError(t, amt.CheckPassword(s))
		assert.False(t, seen[s])
		seen[s] = true
		for j := 0; j < len(s); j++ {
			counts[s[j]]++
		}
	}
	// Every one of the 47 alphabet characters should appear. Uniform over the
	// valid passwords, a letter is expected about 650 times, a digit 700 and
	// one of the four symbols 890 (passwords lacking a class are drawn again),
	// so the bounds below fail only for a broken or biased generator (the
	// chance of a false failure is far below 1e-9).
	assert.Len(t, counts, 47)
	for c, k := range counts {
		lo, hi := 480, 850
		if amt.IsPasswordSymbol(c) {
			lo, hi = 690, 1100
		}
		assert.Greater(t, k, lo, "character %q too rare", c)
		assert.Less(t, k, hi, "character %q too common", c)
		assert.NotContains(t, ` :,"_`, string(c))
	}
}

// Divergence 9: a generated password may have to be typed at the MEBx prompt,
// which reads the keys as a US keyboard whatever is printed on them. Only
// characters on the same key (and shift state) of US, UK and German layouts are
// drawn: no symbol that moves (@ # ^ & * ( ) …), none on a dead key (^ ` ~ ')
// or AltGr in those layouts ({ | } [ ] \ < > ~), no y/z (swapped on QWERTZ),
// no a/q/w/m (moved on AZERTY), and no look-alikes (0 O o 1 l I).
func TestGeneratePasswordTypeableAtMEBx(t *testing.T) {
	const typeable = "BCDEFGHJKLNPRSTUVXbcdefghjknprstuvx23456789!$%."
	for i := 0; i < 500; i++ {
		pw, err := amt.GeneratePassword(rand.Reader)
		require.NoError(t, err)
		for _, c := range []byte(pw.Reveal()) {
			require.Contains(t, typeable, string(c), "character %q cannot be typed reliably at the MEBx prompt", c)
		}
	}
	assert.Equal(t, typeable, amt.PasswordAlphabet)
}

func TestGeneratePasswordDeterministicAndErrors(t *testing.T) {
	seed := [32]byte{1, 2, 3}
	a, err := amt.GeneratePassword(mrand.NewChaCha8(seed))
	require.NoError(t, err)
	b, err := amt.GeneratePassword(mrand.NewChaCha8(seed))
	require.NoError(t, err)
	assert.True(t, a.Equal(b), "same seed, same password")
	c, err := amt.GeneratePassword(mrand.NewChaCha8([32]byte{4}))
	require.NoError(t, err)
	assert.False(t, a.Equal(c))
	_, err = amt.GeneratePassword(nil)
	assert.Error(t, err)
	_, err = amt.GeneratePassword(strings.NewReader("short"))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	// A source that only ever yields one character can never satisfy the rule.
	_, err = amt.GeneratePassword(zeroReader{})
	assert.Error(t, err)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type digestVector struct {
	User     string `json:"user"`
	Realm    string `json:"realm"`
	Password string `json:"password"`
	Hex      string `json:"hex"`
	Base64   string `json:"base64"`
	Note     string `json:"note"`
}

func TestDigestA1Vectors(t *testing.T) {
	f := testvectors.Load[digestVector](t, "digest")
	for _, v := range f.Vectors {
		pw := amt.NewSecret(v.Password)
		a1 := amt.DigestA1(v.User, v.Realm, pw)
		assert.Equal(t, v.Hex, fmt.Sprintf("%x", a1[:]), v.Note)
		assert.Equal(t, v.Hex, amt.DigestA1Hex(v.User, v.Realm, pw).Reveal(), v.Note)
		assert.Equal(t, v.Base64, amt.DigestA1Base64(v.User, v.Realm, pw).Reveal(), v.Note)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const pw = "Hunter2!secret"
	s := amt.NewSecret(pw)
	type inner struct {
		name string
		pw   amt.Secret
	}
	type Outer struct {
		Pass  amt.Secret
		inner inner
		Ptr   *amt.Secret
	}
	o := Outer{Pass: s, inner: inner{"x", s}, Ptr: &s}
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprintf("%v", []amt.Secret{s}),
		fmt.Sprintf("%v", map[string]amt.Secret{"k": s}), fmt.Sprint(&s), s.String() + s.GoString(),
	} {
		assert.NotContains(t, out, pw)
		assert.NotContains(t, out, "Hunter2")
		assert.NotContains(t, out, fmt.Sprintf("%x", pw))
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("x", "pw", s, "outer", o)
	logger = slog.New(slog.NewTextHandler(&buf, nil))
	logger.Info("x", "pw", s, "outer", o)
	assert.NotContains(t, buf.String(), "Hunter2")
	txt, _ := s.MarshalText()
	assert.Equal(t, amt.Redacted, string(txt))
	assert.Equal(t, pw, s.Reveal())
	assert.Equal(t, len(pw), s.Len())
	assert.True(t, s.Equal(amt.NewSecret(pw)))
	assert.False(t, s.Equal(amt.NewSecret(pw+"x")))
	assert.True(t, amt.Secret{}.IsZero())
	assert.True(t, amt.NewSecret("").IsZero())
	assert.Equal(t, "", amt.Secret{}.Reveal())
}
