package amtsim

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The consent code is six decimal digits drawn from the injected randomness,
// without modulo bias: values of the last, partial million are drawn again.
func TestRandomConsentCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want uint32
	}{
		{"big-endian", []byte{0x00, 0x01, 0xE2, 0x40}, 123456},
		{"reduced to six digits", []byte{0x00, 0x0F, 0x42, 0x41}, 1},
		{"the last full million", []byte{0xFF, 0xF1, 0x3D, 0x7F}, 999999},
		{"the partial million is drawn again", []byte{0xFF, 0xF1, 0x3D, 0x80, 0x00, 0x00, 0x00, 0x07}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := randomConsentCode(bytes.NewReader(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := randomConsentCode(bytes.NewReader([]byte{1, 2, 3}))
	assert.Error(t, err, "a short read is an error, not a code")
}
