package oneline

import (
	"strconv"
	"strings"
	"unicode"
)

// Breaks reports whether r is escaped by [Escape]: a control character
// (C0, DEL, C1) or U+2028/U+2029.
func Breaks(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// Escape returns s with the runes [Breaks] reports escaped as in a Go quoted
// string ("\n", "\x1b", "\u2028"); s itself when it holds none.
func Escape(s string) string {
	if !strings.ContainsFunc(s, Breaks) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if Breaks(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
