package apf_test

import (
	"bytes"
	"testing"

	"github.com/amtkit/amtkit/amt/apf"
)

// FuzzDecode: Decode never panics; what it accepts re-encodes to the same
// length (reserved fields are re-encoded as zeros, nothing else changes) and
// decodes again to the same encoding; what it refuses is a *FormatError.
func FuzzDecode(f *testing.F) {
	for _, g := range golden(f) {
		f.Add(g.wire)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := apf.Decode(b)
		if err != nil {
			var fe *apf.FormatError
			if !asFormatError(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		enc, err := apf.Encode(m)
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", m, err)
		}
		if len(enc) != len(b) {
			t.Fatalf("%T: %d bytes re-encode to %d", m, len(b), len(enc))
		}
		m2, err := apf.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", m, err)
		}
		enc2, err := apf.Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("%T: encoding not stable: %x then %x (%v)", m, enc, enc2, err)
		}
	})
}
