package transcript

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// placeholders maps identifying values to placeholders, the same value to
// the same placeholder within one transcript. It remembers what it produced,
// so that running a redaction again over redacted text changes nothing.
type placeholders struct {
	tables   map[string]map[string]string // kind space → value → placeholder
	produced map[string]bool
	// learned holds whole values (as they appeared, and lower-cased) with
	// their placeholders, for replacing them where they appear inside other
	// text.
	learned map[string]string
	sorted  []string // learned keys, longest first (nil: stale)
}

func newPlaceholders() *placeholders {
	return &placeholders{tables: map[string]map[string]string{}, produced: map[string]bool{}, learned: map[string]string{}}
}

// minLearned is the shortest value replaced where it appears inside other
// text: shorter ones would hit unrelated words.
const minLearned = 4

// next returns the placeholder of key in space, making one with mk(n) (n
// counting from 1 in that space) the first time.
func (p *placeholders) next(space, key string, mk func(n int) string) string {
	t := p.tables[space]
	if t == nil {
		t = map[string]string{}
		p.tables[space] = t
	}
	if v, ok := t[key]; ok {
		return v
	}
	v := mk(len(t) + 1)
	t[key] = v
	p.produced[v] = true
	return v
}

func (p *placeholders) learn(value, placeholder string) {
	if len(value) < minLearned || value == placeholder || p.produced[value] {
		return
	}
	for _, v := range []string{value, strings.ToLower(value), strings.ToUpper(value)} {
		if _, ok := p.learned[v]; !ok {
			p.learned[v] = placeholder
			p.sorted = nil
		}
	}
}

// replace returns the placeholder of the value v of kind k (v is trimmed of
// surrounding space by the caller). Empty values and placeholders are kept.
func (p *placeholders) replace(k Kind, v string) string {
	if v == "" || p.produced[v] {
		return v
	}
	var out string
	switch k {
	case KindDNSName:
		out = p.dnsName(v)
	case KindUUID:
		out = p.uuid(v)
	case KindMAC:
		out = p.mac(v)
	case KindIP:
		out = p.ip(v)
	case KindSerial:
		out = p.next("serial", v, func(n int) string { return "serial-" + strconv.Itoa(n) })
	case KindRealm:
		out = p.realm(v)
	case KindCertificate:
		out = p.certificate(v)
	case KindDN:
		out = p.next("dn", dnKey(v), func(n int) string { return "CN=subject-" + strconv.Itoa(n) })
	default:
		out = p.text(v)
	}
	p.learn(v, out)
	return out
}

func (p *placeholders) text(v string) string {
	return p.next("text", v, func(n int) string { return "id-" + strconv.Itoa(n) })
}

// genericTLDs are top-level domains kept in DNS placeholders: they say
// nothing about whose name it was, and the firmware's suffix rules treat
// .com and .net specially.
var genericTLDs = map[string]bool{
	"com": true, "net": true, "org": true, "edu": true, "gov": true, "int": true, "mil": true,
	"local": true, "lan": true, "internal": true, "home": true, "corp": true, "localdomain": true,
	"example": true, "test": true, "invalid": true,
}

func (p *placeholders) dnsName(v string) string {
	if _, err := netip.ParseAddr(v); err == nil {
		return p.ip(v)
	}
	trailing := strings.HasSuffix(v, ".")
	name := strings.TrimSuffix(v, ".")
	labels := strings.Split(name, ".")
	out := make([]string, len(labels))
	for i, l := range labels {
		ll := strings.ToLower(l)
		switch {
		case l == "*" && i == 0:
			out[i] = l
		case i == len(labels)-1 && len(labels) > 1:
			if genericTLDs[ll] {
				out[i] = ll
			} else {
				out[i] = "example"
			}
		case l == "":
			out[i] = l
		default:
			out[i] = p.next("label", ll, func(n int) string { return "name" + strconv.Itoa(n) })
		}
	}
	s := strings.Join(out, ".")
	if trailing {
		s += "."
	}
	p.produced[s] = true
	return s
}

func (p *placeholders) ip(v string) string {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return p.text(v)
	}
	if a.IsLoopback() || a.IsUnspecified() {
		return v
	}
	if a.Is4() || a.Is4In6() {
		return p.next("ip4", a.Unmap().String(), func(n int) string {
			nets := []string{"192.0.2.", "198.51.100.", "203.0.113."}
			if n <= 254*len(nets) {
				return nets[(n-1)/254] + strconv.Itoa((n-1)%254+1)
			}
			return fmt.Sprintf("10.255.%d.%d", (n/254)%256, n%254+1)
		})
	}
	return p.next("ip6", a.String(), func(n int) string { return fmt.Sprintf("2001:db8::%x", n) })
}

func (p *placeholders) mac(v string) string {
	hexOnly := strings.NewReplacer(":", "", "-", "", ".", "").Replace(v)
	b, err := hex.DecodeString(hexOnly)
	if err != nil || len(b) != 6 {
		return p.text(v)
	}
	sep := ""
	if len(v) == 17 {
		sep = v[2:3]
	}
	upper := strings.ToUpper(v) == v
	return p.next("mac", strings.ToLower(hexOnly), func(n int) string {
		parts := []string{"02", "00", "00", "00", fmt.Sprintf("%02x", (n>>8)&0xff), fmt.Sprintf("%02x", n&0xff)}
		s := strings.Join(parts, sep)
		if upper {
			s = strings.ToUpper(s)
		}
		return s
	})
}

func (p *placeholders) realm(v string) string {
	const prefix = "Digest:"
	if len(v) == len(prefix)+32 && strings.HasPrefix(v, prefix) {
		if _, err := hex.DecodeString(v[len(prefix):]); err == nil {
			return p.next("realm", v, func(n int) string { return fmt.Sprintf("%s%032X", prefix, n) })
		}
	}
	return p.next("realm", v, func(n int) string { return "realm-" + strconv.Itoa(n) })
}

// uuid replaces a UUID written as canonical text (any case, with or without
// braces or urn:uuid:), as 32 hex digits, or as 16 bytes in base64, keeping
// the form. The placeholder's bytes are zero but for the last two (N), so
// both byte orders (RFC 4122 and SMBIOS mixed-endian) read the same.
func (p *placeholders) uuid(v string) string {
	b, form, ok := parseUUIDForm(v)
	if !ok {
		return p.text(v)
	}
	out := p.next("uuid", hex.EncodeToString(b), func(n int) string {
		var ph [16]byte
		ph[14], ph[15] = byte(n>>8), byte(n)
		return hex.EncodeToString(ph[:])
	})
	ph, _ := hex.DecodeString(out)
	// Every other written form of the same value is replaced where it
	// appears in other text.
	for _, f := range uuidForms {
		p.learnForm(f.write(b), f.write(ph))
	}
	s := form.write(ph)
	p.produced[s] = true
	return s
}

func (p *placeholders) learnForm(value, placeholder string) {
	p.produced[placeholder] = true
	p.learn(value, placeholder)
}

type uuidForm struct {
	name  string
	write func(b []byte) string
}

func canonical(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// mixed swaps the first three fields (SMBIOS / AMT wire order).
func mixed(b []byte) []byte {
	m := slices.Clone(b)
	slices.Reverse(m[0:4])
	slices.Reverse(m[4:6])
	slices.Reverse(m[6:8])
	return m
}

var uuidForms = []uuidForm{
	{"canonical", canonical},
	{"canonical upper", func(b []byte) string { return strings.ToUpper(canonical(b)) }},
	{"canonical mixed-endian", func(b []byte) string { return canonical(mixed(b)) }},
	{"canonical mixed-endian upper", func(b []byte) string { return strings.ToUpper(canonical(mixed(b))) }},
	{"hex", hex.EncodeToString},
	{"hex upper", func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }},
	{"base64", base64.StdEncoding.EncodeToString},
}

func parseUUIDForm(v string) ([]byte, uuidForm, bool) {
	s := v
	prefix, suffix := "", ""
	switch {
	case strings.HasPrefix(strings.ToLower(s), "urn:uuid:"):
		prefix, s = s[:9], s[9:]
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
		prefix, suffix, s = "{", "}", s[1:len(s)-1]
	}
	upper := strings.ToUpper(s) == s && strings.ToLower(s) != s
	wrap := func(f func([]byte) string) uuidForm {
		return uuidForm{write: func(b []byte) string {
			out := f(b)
			if upper {
				out = strings.ToUpper(out)
			}
			return prefix + out + suffix
		}}
	}
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		if b, err := hex.DecodeString(strings.ReplaceAll(s, "-", "")); err == nil {
			return b, wrap(canonical), true
		}
	}
	if len(s) == 32 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, wrap(hex.EncodeToString), true
		}
	}
	if prefix == "" {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == 16 {
			return b, uuidForm{write: base64.StdEncoding.EncodeToString}, true
		}
	}
	return nil, uuidForm{}, false
}

// substitute replaces every learned value inside s by its placeholder.
func (p *placeholders) substitute(s string) string {
	if len(p.learned) == 0 || len(s) < minLearned {
		return s
	}
	if p.sorted == nil {
		p.sorted = make([]string, 0, len(p.learned))
		for k := range p.learned {
			p.sorted = append(p.sorted, k)
		}
		slices.SortFunc(p.sorted, func(a, b string) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			return strings.Compare(a, b)
		})
	}
	for _, k := range p.sorted {
		if strings.Contains(s, k) {
			s = strings.ReplaceAll(s, k, p.learned[k])
		}
	}
	return s
}

// dnKey keys a distinguished name written as text by its common name, so
// that AMT's Subject and Issuer texts ("C=unknown,O=unknown,CN=…") get the
// placeholders of the same names inside certificates.
func dnKey(v string) string {
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "CN") {
			return "cn:" + strings.TrimSpace(val)
		}
	}
	return "text:" + v
}
