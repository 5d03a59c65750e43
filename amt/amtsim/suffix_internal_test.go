package amtsim

import (
	"errors"
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
		{"prov.sales.example.co.uk", "example.co.uk"}, {"prov.sales.example.de", "a.example.de"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cert, suffix string) {
		if !ldh(cert) || !ldh(suffix) {
			return
		}
		sim := matchSuffix(cert, suffix) == suffixOK
		err := amt.MatchDNSSuffix(cert, suffix)
		lib := err == nil
		if sim != lib {
			t.Fatalf("disagree on cert %q suffix %q: simulator %v (%s), amt.MatchDNSSuffix %v (%v)",
				cert, suffix, sim, matchSuffix(cert, suffix), lib, err)
		}
		// MeshCentral's per-TLD rule: the simulator's Behavior.PerTLDSuffixRule
		// against amt.ErrSuffixUndocumented.
		simTLD := matchSuffixFor(cert, suffix, true, true) == suffixOK
		libTLD := err == nil || errors.Is(err, amt.ErrSuffixUndocumented)
		if simTLD != libTLD {
			t.Fatalf("disagree on cert %q suffix %q with the per-TLD rule: simulator %v (%s), amt.MatchDNSSuffix %v",
				cert, suffix, simTLD, matchSuffixFor(cert, suffix, true, true), err)
		}
	})
}

// The per-TLD rule MeshCentral selects certificates by, on the cases the
// amt package's table names, in the simulator and the library.
func TestPerTLDSuffixRule(t *testing.T) {
	for _, tc := range []struct {
		cert, suffix string
		documented   bool // by the documented rule
		perTLD       bool // by MeshCentral's
	}{
		{"prov.sales.contoso.com", "marketing.contoso.com", true, true},
		{"prov.sales.contoso.org", "marketing.contoso.org", false, true},
		{"prov.sales.contoso.de", "contoso.de", false, true},
		{"prov.sales.contoso.co.uk", "marketing.contoso.co.uk", false, true},
		{"prov.sales.contoso.fr", "marketing.contoso.fr", false, false},
		{"prov.sales.contoso.fr", "x.sales.contoso.fr", true, true},
		{"prov.sales.contoso.io", "marketing.contoso.io", false, false},
		{"prov.x.appspot.com", "y.appspot.com", false, false},
		{"prov.agency.gov.uk", "other.gov.uk", false, false},
	} {
		t.Run(tc.cert+"|"+tc.suffix, func(t *testing.T) {
			assert.Equal(t, tc.documented, matchSuffixFor(tc.cert, tc.suffix, true, false) == suffixOK, "simulator, documented rule")
			assert.Equal(t, tc.perTLD, matchSuffixFor(tc.cert, tc.suffix, true, true) == suffixOK, "simulator, per-TLD rule")
			err := amt.MatchDNSSuffix(tc.cert, tc.suffix)
			assert.Equal(t, tc.documented, err == nil, "amt.MatchDNSSuffix: %v", err)
			assert.Equal(t, tc.perTLD && !tc.documented, errors.Is(err, amt.ErrSuffixUndocumented), "amt.MatchDNSSuffix: %v", err)
		})
	}
}
