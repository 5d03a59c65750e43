package certs

import (
	"encoding/hex"
	"testing"
)

// FuzzTemplateExtensions feeds both Microsoft template extension parsers and the
// UPN parser; none may panic, and what the v2 parser accepts re-encodes to the
// same bytes.
func FuzzTemplateExtensions(f *testing.F) {
	for _, s := range []string{
		"302e06262b060104018237150887eec00781a7f80d85e8db72c4994385b18e37813984d2921785f7f155020164020104",
		"3010060b2b06010401823715080102020107", "300d060b2b06010401823715080102",
		"1e12005700650062005300650072007600650072", "0c074d616368696e65", "30060c0455736572",
		"3021a01f060a2b060104018237140203a0110c0f616d7424406578616d706c652e636f6d",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if oid, major, minor, err := parseTemplateV2(data); err == nil {
			exts, err := TemplateInfo{OID: oid, Major: major, Minor: minor}.Extensions()
			if err != nil {
				t.Fatalf("accepted template cannot be re-encoded: %v", err)
			}
			if hex.EncodeToString(exts[0].Value) != hex.EncodeToString(data) {
				// Non-minimal INTEGER encodings are refused by cryptobyte, so an
				// accepted value is canonical DER.
				t.Fatalf("re-encoding differs: %x → %x", data, exts[0].Value)
			}
		}
		_, _ = parseTemplateName(data)
		_ = parseUPNs(data)
	})
}

// TestTemplateExtensionPrefixes: every strict prefix of a well-formed extension
// value is refused.
func TestTemplateExtensionPrefixes(t *testing.T) {
	v2 := []string{
		"302e06262b060104018237150887eec00781a7f80d85e8db72c4994385b18e37813984d2921785f7f155020164020104",
		"3010060b2b06010401823715080102020107", "300d060b2b06010401823715080102",
	}
	names := []string{"1e12005700650062005300650072007600650072", "0c074d616368696e65", "30060c0455736572"}
	for _, s := range v2 {
		b, _ := hex.DecodeString(s)
		if _, _, _, err := parseTemplateV2(b); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for i := 0; i < len(b); i++ {
			if _, _, _, err := parseTemplateV2(b[:i]); err == nil {
				t.Errorf("%s: prefix of %d bytes accepted", s, i)
			}
		}
	}
	for _, s := range names {
		b, _ := hex.DecodeString(s)
		if _, err := parseTemplateName(b); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for i := 0; i < len(b); i++ {
			if _, err := parseTemplateName(b[:i]); err == nil {
				t.Errorf("%s: prefix of %d bytes accepted", s, i)
			}
		}
	}
}
