package transcript

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
)

// minSecret is the shortest secret form searched for in text: shorter ones
// (a 4-digit PIN) would hit unrelated text. AMT passwords and OTPs have at
// least 8 characters.
const minSecret = 6

// secrets holds the secrets a recording was told about and the users and
// realms it has seen, and derives every text form of them worth looking for.
type secrets struct {
	passwords []credential
	values    []string
	blobs     [][]byte
	users     map[string]bool
	realms    map[string]bool
	forms     []string // longest first; nil: stale
	gen       int      // counts the changes that made forms stale
}

// stale marks the forms for recomputation.
func (s *secrets) stale() {
	s.forms = nil
	s.gen++
}

type credential struct{ user, password string }

func newSecrets() *secrets {
	return &secrets{users: map[string]bool{"admin": true}, realms: map[string]bool{}}
}

func (s *secrets) addPassword(user, password string) {
	if password == "" {
		return
	}
	s.passwords = append(s.passwords, credential{user, password})
	if user != "" {
		s.users[user] = true
	}
	s.stale()
}

func (s *secrets) addValue(v string) {
	if v == "" {
		return
	}
	s.values = append(s.values, v)
	s.stale()
}

func (s *secrets) addBlob(b []byte) {
	if len(b) == 0 {
		return
	}
	s.blobs = append(s.blobs, slices.Clone(b))
	s.stale()
}

// addKey registers a private key: its PKCS#1 (RSA), SEC 1 (EC) and PKCS#8
// encodings, the lines of their PEM forms past the first ones (which hold
// public values), and its private numbers.
func (s *secrets) addKey(k crypto.PrivateKey) {
	if p8, err := x509.MarshalPKCS8PrivateKey(k); err == nil {
		s.addKeyDER(p8, "PRIVATE KEY")
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		s.addKeyDER(x509.MarshalPKCS1PrivateKey(k), "RSA PRIVATE KEY")
		nums := append([]*big.Int{k.D}, k.Primes...)
		for _, n := range nums {
			s.addValue(n.String())
			s.addValue(n.Text(16))
			s.addBlob(n.Bytes())
		}
	case *ecdsa.PrivateKey:
		if sec1, err := x509.MarshalECPrivateKey(k); err == nil {
			s.addKeyDER(sec1, "EC PRIVATE KEY")
		}
		if b, err := k.Bytes(); err == nil {
			s.addBlob(b)
		}
	case ed25519.PrivateKey:
		s.addBlob(k.Seed())
	}
}

func (s *secrets) addKeyDER(der []byte, pemType string) {
	s.addBlob(der)
	lines := strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})), "\n")
	for i, l := range lines {
		if len(l) == 64 && i > 8 {
			s.addValue(l)
		}
	}
}

func (s *secrets) learnUser(u string) {
	if u != "" && !s.users[u] {
		s.users[u] = true
		s.stale()
	}
}

func (s *secrets) learnRealm(r string) {
	if r != "" && !s.realms[r] {
		s.realms[r] = true
		s.stale()
	}
}

// list returns every form, longest first.
func (s *secrets) list() []string {
	if s.forms != nil {
		return s.forms
	}
	set := map[string]bool{}
	add := func(v string) {
		if len(v) >= minSecret {
			set[v] = true
		}
	}
	for _, v := range s.values {
		for _, f := range textForms(v) {
			add(f)
		}
	}
	for _, b := range s.blobs {
		for _, f := range blobForms(b) {
			add(f)
		}
	}
	for _, c := range s.passwords {
		for _, f := range textForms(c.password) {
			add(f)
		}
		for u := range s.users {
			add(base64.StdEncoding.EncodeToString([]byte(u + ":" + c.password)))
			for r := range s.realms {
				md := md5.Sum([]byte(u + ":" + r + ":" + c.password))
				sh := sha256.Sum256([]byte(u + ":" + r + ":" + c.password))
				for _, f := range blobForms(md[:]) {
					add(f)
				}
				for _, f := range blobForms(sh[:]) {
					add(f)
				}
			}
		}
	}
	out := make([]string, 0, len(set)+1)
	for v := range set {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	s.forms = append(out, "") // non-nil when empty; "" is skipped
	return s.forms
}

// textForms: the value, and its bytes in base64 and hex.
func textForms(v string) []string {
	return append([]string{v}, blobForms([]byte(v))...)
}

// blobForms: standard, unpadded and URL base64, lower and upper hex.
func blobForms(b []byte) []string {
	h := hex.EncodeToString(b)
	return []string{
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		h, strings.ToUpper(h),
	}
}

// find returns the first form present in text, or "". Long forms (16
// characters or more) are also looked for in the text without separators,
// so that a secret written in groups (a PPS as XXXX-XXXX-…, hex with colons
// or spaces, base64 broken into lines) is found.
func (s *secrets) find(text string) string {
	if len(text) < minSecret {
		return ""
	}
	squeezed := squeeze(text)
	for _, f := range s.list() {
		if f == "" {
			continue
		}
		if strings.Contains(text, f) || (len(f) >= 16 && squeezed != text && strings.Contains(squeezed, squeeze(f))) {
			return f
		}
	}
	return ""
}

// squeeze removes the separators secrets are grouped with.
func squeeze(s string) string {
	if !strings.ContainsAny(s, "-: \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', ':', ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// scrub replaces every form in text by [REDACTED] and reports how many
// forms it found.
func (s *secrets) scrub(text, mask string) (string, int) {
	n := 0
	for _, f := range s.list() {
		if f != "" && strings.Contains(text, f) {
			text = strings.ReplaceAll(text, f, mask)
			n++
		}
	}
	return text, n
}

// looksLikePrivateKey reports whether a text node holds a private key: a
// PEM private key block, or base64 or hex of a PKCS#1, PKCS#8 or SEC 1 key.
func looksLikePrivateKey(text string) bool {
	if strings.Contains(text, "PRIVATE KEY-----") {
		return true
	}
	t := strings.Join(strings.Fields(text), "")
	if len(t) < 64 {
		return false
	}
	var der []byte
	if b, err := base64.StdEncoding.DecodeString(t); err == nil {
		der = b
	} else if b, err := hex.DecodeString(t); err == nil {
		der = b
	} else {
		return false
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return true
	}
	return false
}
