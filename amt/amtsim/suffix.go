package amtsim

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// This file is the simulator's own reading of the firmware's DNS-suffix rule
// (Intel AMT SDK, "Acquiring an Intel vPro Certificate"; the AMT 2.6 .com/.net
// relaxation from Intel communities openport message 1395; the public-suffix
// limit is amtkit's choice). It deliberately shares no code
// with amt.MatchDNSSuffix or the certs package: tests compare the two, so each
// checks the other.
//
// The rule, as documented:
//
//   - names are compared case-insensitively, with one trailing dot and
//     surrounding space ignored; only ASCII host names take part (DHCP and MEBx
//     deliver ASCII);
//   - the certificate names a host (the configuration server's FQDN). Its
//     domain is the name without its first label, or the name itself when it
//     is already a registrable domain ("example.com"); a wildcard "*.d" names
//     the domain d;
//   - the device's suffix must equal that domain or lie below it;
//   - since AMT 2.6, for names ending in .com or .net, the last two labels of
//     the certificate name suffice ("a.intel.com" and "b.intel.com" match);
//   - never at or above a public suffix: a single-label name or a public suffix
//     (by the Public Suffix List) on either side never matches.
//
// With Behavior.PerTLDSuffixRule the device also takes MeshCentral's reading
// (certoperations.js, TopLevelDomainExtendedSupport), which Intel does not
// document: for the top-level domains of tldKeep, the last n labels of the
// certificate name suffice.

// suffixVerdict explains a failed match (for [RuleError]).
type suffixVerdict string

const (
	suffixOK           suffixVerdict = ""
	suffixBadName      suffixVerdict = "not a usable DNS name"
	suffixPublic       suffixVerdict = "at or above a public suffix"
	suffixNoDevice     suffixVerdict = "the device has no DNS suffix"
	suffixDisjoint     suffixVerdict = "the device suffix is not at or below the certificate's domain"
	suffixSingleLabel  suffixVerdict = "single-label name"
	suffixEmptyLabel   suffixVerdict = "empty label"
	suffixNonASCIIName suffixVerdict = "non-ASCII or invalid character"
)

// canonName lower-cases name and strips space, one trailing dot and (reporting
// it) a leading "*.".
func canonName(name string) (n string, wildcard bool, v suffixVerdict) {
	n = strings.TrimSpace(name)
	n = strings.TrimSuffix(n, ".")
	if strings.HasPrefix(n, "*.") {
		wildcard = true
		n = n[2:]
	}
	if n == "" {
		return "", wildcard, suffixBadName
	}
	b := []byte(n)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			if i == 0 || i == len(b)-1 || b[i-1] == '.' {
				return "", wildcard, suffixEmptyLabel
			}
		default:
			return "", wildcard, suffixNonASCIIName
		}
	}
	n = string(b)
	if !strings.Contains(n, ".") {
		return "", wildcard, suffixSingleLabel
	}
	return n, wildcard, suffixOK
}

// isPublicSuffix reports whether n (canonical) is itself a public suffix, or
// sits on a list entry with no registrable label of its own.
func isPublicSuffix(n string) bool {
	ps, _ := publicsuffix.PublicSuffix(n)
	return ps == n
}

// registrableOf returns the registrable domain (eTLD+1) of n.
func registrableOf(n string) string {
	ps, _ := publicsuffix.PublicSuffix(n)
	if ps == n {
		return ""
	}
	rest := strings.TrimSuffix(n, "."+ps)
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest + "." + ps
}

func atOrBelow(name, parent string) bool {
	return name == parent || (len(name) > len(parent) && strings.HasSuffix(name, parent) && name[len(name)-len(parent)-1] == '.')
}

// matchSuffix applies the firmware rule (AMT 2.6 and later) to one
// certificate name.
func matchSuffix(certName, deviceSuffix string) suffixVerdict {
	return matchSuffixFor(certName, deviceSuffix, true, false)
}

// matchSuffixFor applies the firmware rule to one certificate name, with the
// .com/.net two-label relaxation when twoLabel (amt.Firmware.TwoLabelSuffixMatch)
// and MeshCentral's per-TLD reading when perTLD.
func matchSuffixFor(certName, deviceSuffix string, twoLabel, perTLD bool) suffixVerdict {
	sfx, _, v := canonName(deviceSuffix)
	if v != suffixOK {
		return suffixNoDevice
	}
	if isPublicSuffix(sfx) {
		return suffixPublic
	}
	cn, wildcard, v := canonName(certName)
	if v != suffixOK {
		return v
	}
	if isPublicSuffix(cn) {
		return suffixPublic
	}
	reg := registrableOf(cn)
	domain := cn
	if !wildcard && cn != reg {
		domain = cn[strings.IndexByte(cn, '.')+1:]
	}
	if atOrBelow(sfx, domain) {
		return suffixOK
	}
	if twoLabel && (strings.HasSuffix(cn, ".com") || strings.HasSuffix(cn, ".net")) {
		labels := strings.Split(cn, ".")
		last2 := labels[len(labels)-2] + "." + labels[len(labels)-1]
		if !isPublicSuffix(last2) && atOrBelow(sfx, last2) {
			return suffixOK
		}
	}
	if perTLD {
		labels := strings.Split(cn, ".")
		if n := tldKeep[labels[len(labels)-1]]; n > 0 && len(labels) > n {
			kept := strings.Join(labels[len(labels)-n:], ".")
			if !isPublicSuffix(kept) && atOrBelow(kept, reg) && atOrBelow(sfx, kept) {
				return suffixOK
			}
		}
	}
	return suffixDisjoint
}

// tldKeep is MeshCentral's TopLevelDomainExtendedSupport (certoperations.js):
// how many trailing labels of a certificate name count, by top-level domain.
var tldKeep = map[string]int{
	"com": 2, "net": 2, "org": 2, "gov": 2, "edu": 2, "de": 2, "ch": 2, "dk": 2, "cz": 2, "cl": 2, "ua": 2,
	"arpa": 3, "uk": 3, "fr": 3, "cn": 3, "nl": 3, "br": 3, "mx": 3, "pl": 3, "tw": 3, "ca": 3, "fi": 3, "be": 3,
	"ru": 3, "se": 3, "ar": 3, "es": 3, "no": 3, "at": 3, "in": 3, "tr": 3, "ro": 3, "hu": 3, "nz": 3, "pt": 3,
	"il": 3, "gr": 3, "co": 3, "ie": 3, "za": 3, "th": 3, "sg": 3, "hk": 3, "lt": 3, "id": 3, "hr": 3, "ee": 3,
	"bg": 3,
}
