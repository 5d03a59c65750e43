package amtsim

import (
	"strings"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/stretchr/testify/assert"
)

type suffixVector struct {
	Cert   string `json:"cert"`
	Suffix string `json:"suffix"`
	Match  bool   `json:"match"`
	Why    string `json:"why"`
}

// TestSuffixRuleVectors checks the simulator's rule, and amt.MatchDNSSuffix,
// against hand-derived vectors: each implementation checks the other.
func TestSuffixRuleVectors(t *testing.T) {
	f := testvectors.Load[suffixVector](t, "amtsim_suffix")
	for _, v := range f.Vectors {
		t.Run(v.Cert+"|"+v.Suffix, func(t *testing.T) {
			got := matchSuffix(v.Cert, v.Suffix)
			assert.Equal(t, v.Match, got == suffixOK, "simulator: %s (%s)", got, v.Why)
			assert.Equal(t, v.Match, amt.MatchDNSSuffix(v.Cert, v.Suffix) == nil, "amt.MatchDNSSuffix (%s)", v.Why)
		})
	}
}

// ldh reports whether s is a plain ASCII host name (letters, digits,
// hyphens; no label starting or ending with a hyphen, no punycode), with an
// optional "*." and trailing dot: the inputs on which the two independent
// implementations must agree. IDNA mapping (amt) against refusing non-ASCII
// (simulator) is a documented difference.
func ldh(s string) bool {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "*."), ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || (len(l) >= 4 && l[2:4] == "--") {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// FuzzSuffixAgreement: on plain host names the simulator's rule and
// amt.MatchDNSSuffix agree.
func FuzzSuffixAgreement(f *testing.F) {
	for _, s := range [][2]string{
		{"prov.example.com", "example.com"}, {"prov.sales.example.com", "marketing.example.com"},
		{"*.example.co.uk", "a.example.co.uk"}, {"example.com", "com"}, {"a.b.c.d.example.net", "x.example.net"},
		{"prov.example.org", "other.example.org"}, {"x.github.io", "y.github.io"}, {"prov.example", "a.prov.example"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cert, suffix string) {
		if !ldh(cert) || !ldh(suffix) {
			return
		}
		sim := matchSuffix(cert, suffix) == suffixOK
		lib := amt.MatchDNSSuffix(cert, suffix) == nil
		if sim != lib {
			t.Fatalf("disagree on cert %q suffix %q: simulator %v (%s), amt.MatchDNSSuffix %v (%v)",
				cert, suffix, sim, matchSuffix(cert, suffix), lib, amt.MatchDNSSuffix(cert, suffix))
		}
	})
}
