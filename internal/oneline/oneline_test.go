package oneline_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/internal/oneline"
)

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"Contoso MPS", "Contoso MPS"},
		{"é ünïcode ☃", "é ünïcode ☃"},
		{"a\nb", `a\nb`},
		{"a\r\nlevel=INFO msg=forged", `a\r\nlevel=INFO msg=forged`},
		{"\x1b[2J", `\x1b[2J`},
		{"\u009b31m", `\u009b31m`},
		{"x\u2028y\u2029z", `x\u2028y\u2029z`},
		{"del\x7f", `del\x7f`},
	} {
		got := oneline.Escape(tt.in)
		assert.Equal(t, tt.want, got, "%q", tt.in)
		assert.False(t, strings.ContainsFunc(got, oneline.Breaks), "%q", got)
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\u2028", "\x1b[0m", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := oneline.Escape(s)
		if strings.ContainsFunc(got, oneline.Breaks) {
			t.Fatalf("Escape(%q) = %q still breaks the line", s, got)
		}
		if !strings.ContainsFunc(s, oneline.Breaks) && got != s {
			t.Fatalf("Escape(%q) = %q changed text without a break", s, got)
		}
	})
}
