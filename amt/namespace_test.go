package amt_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"Prov.Contoso.COM.", "prov.contoso.com", nil},
		{" *.contoso.com ", "contoso.com", nil},
		{"bücher.de", "xn--bcher-kva.de", nil},
		{"xn--bcher-kva.de", "xn--bcher-kva.de", nil},
		{"", "", amt.ErrNameEmpty},
		{"*.", "", amt.ErrNameEmpty},
		{".", "", amt.ErrNameEmpty},
		{"corp", "", amt.ErrNameSingleLabel},
		{"corp.", "", amt.ErrNameSingleLabel},
		{"a..b.com", "", amt.ErrNameInvalid},
		{"a b.com", "", amt.ErrNameInvalid},
		{"a/b.com", "", amt.ErrNameInvalid},
	}
	for _, tt := range tests {
		got, err := amt.NormalizeName(tt.in)
		if tt.err != nil {
			assert.ErrorIs(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestMatchDNSSuffix(t *testing.T) {
	tests := []struct {
		cert, suffix string
		err          error // nil = match
	}{
		// The certificate's domain equals the suffix or is a parent of it.
		{"prov.contoso.com", "contoso.com", nil},
		{"prov.contoso.com", "sales.contoso.com", nil},
		{"prov.contoso.com", "a.b.sales.contoso.com", nil},
		{"contoso.com", "sales.contoso.com", nil},
		{"Prov.Contoso.COM.", "CONTOSO.com.", nil},
		{"*.contoso.com", "contoso.com", nil},
		{"*.sales.contoso.co.uk", "sales.contoso.co.uk", nil},
		{"*.sales.contoso.co.uk", "marketing.contoso.co.uk", amt.ErrSuffixUndocumented},
		{"prov.contoso.co.uk", "sales.contoso.co.uk", nil},
		{"prov.contoso.local", "contoso.local", nil},
		{"prov.xn--bcher-kva.de", "bücher.de", nil},
		// The AMT 2.6+ relaxation: last two labels for .com and .net.
		{"prov.sales.contoso.com", "marketing.contoso.com", nil},
		{"amt.vprodemo.com", "vprodemo.com", nil},
		{"prov.sales.contoso.net", "contoso.net", nil},
		// MeshCentral's per-TLD rule (certoperations.js): two labels for org,
		// de and eight more, three for uk, fr and most country codes; not
		// documented by Intel, so reported apart.
		{"prov.sales.contoso.org", "marketing.contoso.org", amt.ErrSuffixUndocumented},
		{"prov.sales.contoso.org", "contoso.org", amt.ErrSuffixUndocumented},
		{"prov.sales.contoso.de", "marketing.contoso.de", amt.ErrSuffixUndocumented},
		{"prov.sales.contoso.co.uk", "marketing.contoso.co.uk", amt.ErrSuffixUndocumented},
		{"prov.sales.contoso.fr", "marketing.contoso.fr", amt.ErrSuffixMismatch},
		{"prov.sales.contoso.io", "marketing.contoso.io", amt.ErrSuffixMismatch},
		{"prov.agency.gov.uk", "other.gov.uk", amt.ErrSuffixMismatch},
		// Mismatches.
		{"prov.contoso.com", "contoso.net", amt.ErrSuffixMismatch},
		{"prov.contoso.com", "northwindtraders.com", amt.ErrSuffixMismatch},
		{"prov.contoso.com", "evilcontoso.com", amt.ErrSuffixMismatch},
		{"prov.sales.contoso.co.uk", "contoso.co.uk", amt.ErrSuffixUndocumented},
		// Never at or above a public suffix (PSL private section included).
		{"prov.x.appspot.com", "y.appspot.com", amt.ErrSuffixMismatch},
		{"prov.contoso.com", "com", amt.ErrNameSingleLabel},
		{"prov.contoso.com", "co.uk", amt.ErrNamePublicSuffix},
		{"co.uk", "contoso.co.uk", amt.ErrNamePublicSuffix},
		{"*.co.uk", "contoso.co.uk", amt.ErrNamePublicSuffix},
		{"appspot.com", "x.appspot.com", amt.ErrNamePublicSuffix},
		{"com", "contoso.com", amt.ErrNameSingleLabel},
		{"prov.contoso.com", "corp", amt.ErrNameSingleLabel},
		{"prov.contoso.com", "", amt.ErrNameEmpty},
		{"", "contoso.com", amt.ErrNameEmpty},
		{"prov..contoso.com", "contoso.com", amt.ErrNameInvalid},
	}
	for _, tt := range tests {
		err := amt.MatchDNSSuffix(tt.cert, tt.suffix)
		if tt.err == nil {
			assert.NoError(t, err, "%s vs %s", tt.cert, tt.suffix)
			continue
		}
		require.Error(t, err, "%s vs %s", tt.cert, tt.suffix)
		assert.ErrorIs(t, err, tt.err, "%s vs %s", tt.cert, tt.suffix)
		if tt.err == amt.ErrSuffixMismatch {
			assert.NotErrorIs(t, err, amt.ErrSuffixUndocumented, "%s vs %s", tt.cert, tt.suffix)
		}
		var ne *amt.NameError
		require.True(t, errors.As(err, &ne))
		assert.Equal(t, "MatchDNSSuffix", ne.Check)
		assert.Contains(t, err.Error(), "MatchDNSSuffix")
	}
}

// TestSharesNamespace covers Configuration Manager's out-of-band planning examples:
// computers share a namespace when their names share a registrable domain.
func TestSharesNamespace(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		// The Configuration Manager examples (Microsoft Configuration Manager
		// out-of-band management planning documentation).
		{"computer1.sales.contoso.com", "server1.marketing.contoso.com", true},
		{"contoso.com", "northwindtraders.com", false},
		{"computer1.contoso.com", "server1.contoso.com", true},
		{"computer1.contoso.com", "server1.sales.contoso.com", true},
		{"computer1.contoso.com", "server1.northwindtraders.com", false},
		// Public Suffix List cases.
		{"a.example.co.uk", "b.example.co.uk", true},
		{"a.example.co.uk", "b.other.co.uk", false},
		{"x.appspot.com", "y.appspot.com", false},
		{"Computer1.CONTOSO.com.", "*.contoso.com", true},
		{"co.uk", "co.uk", false},
		{"corp", "corp", false},
		{"", "contoso.com", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, amt.SharesNamespace(tt.a, tt.b), "%s / %s", tt.a, tt.b)
		assert.Equal(t, tt.want, amt.SharesNamespace(tt.b, tt.a), "%s / %s", tt.b, tt.a)
	}
}

func TestCheckDisjointNamespace(t *testing.T) {
	tests := []struct {
		fqdn, domain string
		err          error
	}{
		// Configuration Manager's example of a disjoint namespace.
		{"computer1.contoso.com", "na.corp.contoso.com", amt.ErrDisjointNamespace},
		{"computer1.na.corp.contoso.com", "na.corp.contoso.com", nil},
		{"computer1.contoso.com", "contoso.com", nil},
		{"COMPUTER1.Contoso.com.", "contoso.COM", nil},
		{"computer1.contoso.com", "northwindtraders.com", amt.ErrDisjointNamespace},
		{"computer1", "contoso.com", amt.ErrNameSingleLabel},
		{"contoso.com", "com", amt.ErrNameSingleLabel},
		{"computer1.co.uk", "co.uk", amt.ErrNamePublicSuffix},
		{"computer1.contoso.com", "", amt.ErrNameEmpty},
	}
	for _, tt := range tests {
		err := amt.CheckDisjointNamespace(tt.fqdn, tt.domain)
		if tt.err == nil {
			assert.NoError(t, err, "%s in %s", tt.fqdn, tt.domain)
			continue
		}
		assert.ErrorIs(t, err, tt.err, "%s in %s", tt.fqdn, tt.domain)
	}
	err := amt.CheckDisjointNamespace("computer1.contoso.com", "na.corp.contoso.com")
	assert.Contains(t, err.Error(), "na.corp.contoso.com")
}

func FuzzMatchDNSSuffix(f *testing.F) {
	f.Add("prov.contoso.com", "sales.contoso.com")
	f.Add("*.contoso.co.uk", "contoso.co.uk")
	f.Add("bücher.de", "x.bücher.de")
	f.Fuzz(func(t *testing.T, cert, suffix string) {
		err := amt.MatchDNSSuffix(cert, suffix)
		if err == nil {
			// A match implies both names are valid, share a registrable domain,
			// and the suffix is not a public suffix.
			if !amt.SharesNamespace(cert, suffix) {
				t.Fatalf("%q matched %q without sharing a namespace", cert, suffix)
			}
		}
	})
}
