package amt

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Namespace errors. The checks return a [*NameError] wrapping one of these.
var (
	// ErrNameEmpty: the name is empty (or only "*." or ".").
	ErrNameEmpty = errors.New("name is empty")
	// ErrNameInvalid: the name is not a valid DNS name (IDNA conversion failed,
	// empty labels, bad characters).
	ErrNameInvalid = errors.New("not a valid DNS name")
	// ErrNameSingleLabel: a single-label name such as "corp" cannot be matched by any
	// CA-issued certificate.
	ErrNameSingleLabel = errors.New("single-label name")
	// ErrNamePublicSuffix: the name is a public suffix ("com", "co.uk"), which no
	// provisioning certificate may cover.
	ErrNamePublicSuffix = errors.New("name is a public suffix")
	// ErrSuffixMismatch: the certificate's name does not cover the device's DNS suffix.
	ErrSuffixMismatch = errors.New("certificate name does not cover the DNS suffix")
	// ErrSuffixUndocumented: the certificate's name covers the device's DNS
	// suffix only by the per-TLD rule MeshCentral applies (see
	// [MatchDNSSuffix]), which no Intel document confirms. It wraps
	// [ErrSuffixMismatch], so a caller that checks only for that stays
	// strict; one that accepts the wider rule tests for this error.
	ErrSuffixUndocumented = fmt.Errorf("%w by the documented rule (it does by MeshCentral's per-TLD rule)", ErrSuffixMismatch)
	// ErrDisjointNamespace: the computer's DNS suffix differs from its Active Directory
	// domain.
	ErrDisjointNamespace = errors.New("disjoint namespace: DNS suffix differs from the Active Directory domain")
)

// NameError reports why a namespace check failed. Err is one of the ErrName… or
// ErrSuffixMismatch/ErrDisjointNamespace sentinels.
type NameError struct {
	Check string // "MatchDNSSuffix", "SharesNamespace" or "CheckDisjointNamespace"
	Name  string // the offending input, as given
	Role  string // what the input was, e.g. "certificate name" or "DNS suffix"
	Other string // the other input, for mismatches
	Err   error
}

func (e *NameError) Error() string {
	switch {
	case errors.Is(e.Err, ErrSuffixUndocumented):
		return fmt.Sprintf("amt: %s: certificate name %q covers DNS suffix %q only by MeshCentral's per-TLD rule, which no Intel document confirms", e.Check, e.Name, e.Other)
	case errors.Is(e.Err, ErrSuffixMismatch):
		return fmt.Sprintf("amt: %s: certificate name %q does not cover DNS suffix %q", e.Check, e.Name, e.Other)
	case errors.Is(e.Err, ErrDisjointNamespace):
		return fmt.Sprintf("amt: %s: disjoint namespace: %s %q is not in Active Directory domain %q", e.Check, e.Role, e.Name, e.Other)
	}
	return fmt.Sprintf("amt: %s: %s %q: %v", e.Check, e.Role, e.Name, e.Err)
}

func (e *NameError) Unwrap() error { return e.Err }

// NormalizeName prepares a DNS name for comparison the way every namespace check in
// this package does: surrounding space trimmed, one trailing dot stripped, a leading
// "*." stripped, converted to lower-case ASCII (IDNA A-labels). Names with fewer than
// two labels are refused, since no CA-issued certificate can match them.
func NormalizeName(name string) (string, error) {
	s := strings.TrimSpace(name)
	s = strings.TrimSuffix(s, ".")
	s = strings.TrimPrefix(s, "*.")
	if s == "" || s == "*" {
		return "", ErrNameEmpty
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNameInvalid, err)
	}
	a = strings.ToLower(a)
	if a == "" {
		return "", ErrNameEmpty
	}
	labels := 1
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c == '.':
			if i == 0 || i == len(a)-1 || a[i-1] == '.' {
				return "", fmt.Errorf("%w: empty label", ErrNameInvalid)
			}
			labels++
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", fmt.Errorf("%w: character %q", ErrNameInvalid, c)
		}
	}
	if labels < 2 {
		return "", ErrNameSingleLabel
	}
	return a, nil
}

// registrable returns the registrable domain (eTLD+1) of a normalized name, or
// ErrNamePublicSuffix when the name is itself a public suffix.
func registrable(n string) (string, error) {
	d, err := publicsuffix.EffectiveTLDPlusOne(n)
	if err != nil {
		return "", ErrNamePublicSuffix
	}
	return d, nil
}

func normalizeFor(check, role, name string) (string, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return "", &NameError{Check: check, Name: name, Role: role, Err: err}
	}
	if _, err := registrable(n); err != nil {
		return "", &NameError{Check: check, Name: name, Role: role, Err: err}
	}
	return n, nil
}

// isAtOrBelow reports whether name equals parent or is a subdomain of it.
func isAtOrBelow(name, parent string) bool {
	return name == parent || strings.HasSuffix(name, "."+parent)
}

// MatchDNSSuffix reports whether AMT firmware will accept a provisioning certificate
// whose subject name is certName for a device whose DNS suffix (DHCP option 15/24 or
// the MEBx "PKI DNS suffix") is dnsSuffix. It returns nil on a match, otherwise a
// [*NameError].
//
// The rule, after normalising both names with [NormalizeName] (so a wildcard
// "*.example.com" is treated as "example.com"):
//
//  1. the certificate's domain equals the suffix or is a parent of it. The domain
//     is certName without its host label when certName is a host name below its
//     registrable domain (the provisioning server's FQDN: "prov.example.com" →
//     "example.com"); a wildcard "*.sales.example.com" names "sales.example.com";
//     a bare registrable domain "example.com" names itself;
//  2. since AMT 2.6, for names under ".com" and ".net" the firmware compares only
//     the last two labels of the certificate name (Intel: "all DHCP naming zones
//     below intel.com such as a.intel.com and b.intel.com would be considered a
//     match"), so "prov.sales.example.com" also covers "marketing.example.com";
//  3. never a match at or above a public suffix: neither name may be a public
//     suffix, and the domain matched in 1 or 2 must be at least a registrable domain.
//
// Firmware behaviour for other top-level domains, SAN entries and wildcards is
// not documented; this rule takes the documented parts and is strict elsewhere.
//
// MeshCentral, written at Intel, selects activation certificates by a wider
// rule (certoperations.js: TopLevelDomainExtendedSupport, loadIntelAmtAcmCerts,
// checkAcmActivationCertName): for about fifty top-level domains it keeps the
// last two labels of the certificate name (org, gov, edu, de, ch, dk, cz, cl,
// ua, as com and net) or the last three (uk, fr, nl, br, ca and most other
// country codes), and accepts a suffix at or below what remains. When only that
// rule matches, MatchDNSSuffix returns a [*NameError] with
// [ErrSuffixUndocumented] ("prov.sales.example.org" for
// "marketing.example.org"; "prov.sales.example.co.uk" for
// "marketing.example.co.uk"): firmware may accept it, and a provisioning
// server that tries costs the device one refused handshake if it does not.
func MatchDNSSuffix(certName, dnsSuffix string) error {
	const check = "MatchDNSSuffix"
	wildcard := strings.HasPrefix(strings.TrimSpace(certName), "*.")
	cn, err := normalizeFor(check, "certificate name", certName)
	if err != nil {
		return err
	}
	sfx, err := normalizeFor(check, "DNS suffix", dnsSuffix)
	if err != nil {
		return err
	}
	reg, _ := registrable(cn) // cannot fail after normalizeFor
	// Rule 1: the certificate's own domain. A provisioning certificate names a host
	// (the SCA's FQDN); its domain is that name without the host label, but never
	// shorter than the registrable domain.
	// A wildcard "*.d" names the domain d itself.
	domain := cn
	if cn != reg && !wildcard {
		domain = cn[strings.IndexByte(cn, '.')+1:]
	}
	if isAtOrBelow(sfx, domain) {
		return nil
	}
	// Rule 2: the AMT 2.6+ two-label relaxation for .com and .net.
	if strings.HasSuffix(cn, ".com") || strings.HasSuffix(cn, ".net") {
		last2 := lastLabels(cn, 2)
		if last2 == reg && isAtOrBelow(sfx, last2) {
			return nil
		}
	}
	// MeshCentral's per-TLD rule: never at or above a public suffix either.
	if k := meshCentralTLDLabels[cn[strings.LastIndexByte(cn, '.')+1:]]; k > 0 {
		if d := lastLabels(cn, k); isAtOrBelow(d, reg) && isAtOrBelow(sfx, d) {
			return &NameError{Check: check, Name: certName, Role: "certificate name", Other: dnsSuffix, Err: ErrSuffixUndocumented}
		}
	}
	return &NameError{Check: check, Name: certName, Role: "certificate name", Other: dnsSuffix, Err: ErrSuffixMismatch}
}

// meshCentralTLDLabels is how many trailing labels of a certificate name
// MeshCentral keeps, by top-level domain, when it matches a device's DNS suffix
// (certoperations.js, TopLevelDomainExtendedSupport, Ylianst/MeshCentral at
// commit 15e17182). No Intel document confirms it; see [MatchDNSSuffix].
var meshCentralTLDLabels = func() map[string]int {
	m := map[string]int{}
	for k, tlds := range map[int]string{
		2: "ch cl com cz de dk edu gov net org ua",
		3: "ar arpa at be bg br ca cn co ee es fi fr gr hk hr hu id ie il in lt mx nl no nz pl pt ro ru se sg th tr tw uk za",
	} {
		for _, t := range strings.Fields(tlds) {
			m[t] = k
		}
	}
	return m
}()

func lastLabels(n string, k int) string {
	i := len(n)
	for ; k > 0; k-- {
		j := strings.LastIndexByte(n[:i], '.')
		if j < 0 {
			return n
		}
		i = j
	}
	return n[i+1:]
}

// SharesNamespace reports whether two names share a namespace by Configuration
// Manager's planning rule: the same registrable domain by the Public Suffix List
// (computer1.sales.contoso.com and server1.marketing.contoso.com share contoso.com;
// contoso.com and northwindtraders.com do not; example.co.uk and other.co.uk do not).
// Names that fail [NormalizeName] or are public suffixes share nothing.
func SharesNamespace(fqdnA, fqdnB string) bool {
	a, err := NormalizeName(fqdnA)
	if err != nil {
		return false
	}
	b, err := NormalizeName(fqdnB)
	if err != nil {
		return false
	}
	ra, err := registrable(a)
	if err != nil {
		return false
	}
	rb, err := registrable(b)
	if err != nil {
		return false
	}
	return ra == rb
}

// CheckDisjointNamespace reports whether a computer named fqdn sits in a disjoint
// namespace: its DNS suffix (fqdn without its host label) differs from its Active
// Directory domain adDomain. Configuration Manager cannot provision such a computer
// (computer1.contoso.com in the AD domain na.corp.contoso.com). It returns nil when
// the suffix equals the domain, otherwise a [*NameError] wrapping
// [ErrDisjointNamespace] or the normalisation error.
func CheckDisjointNamespace(fqdn, adDomain string) error {
	const check = "CheckDisjointNamespace"
	n, err := NormalizeName(fqdn)
	if err != nil {
		return &NameError{Check: check, Name: fqdn, Role: "computer FQDN", Err: err}
	}
	suffix, err := normalizeFor(check, "DNS suffix of computer FQDN", n[strings.IndexByte(n, '.')+1:])
	if err != nil {
		return err
	}
	d, err := normalizeFor(check, "Active Directory domain", adDomain)
	if err != nil {
		return err
	}
	if suffix != d {
		return &NameError{Check: check, Name: fqdn, Role: "computer FQDN", Other: adDomain, Err: ErrDisjointNamespace}
	}
	return nil
}
