package amt_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

func TestHashAlgorithm(t *testing.T) {
	tests := []struct {
		a    amt.HashAlgorithm
		size int
		name string
	}{
		{amt.HashSHA1, 20, "SHA-1"},
		{amt.HashSHA256, 32, "SHA-256"},
		{amt.HashSHA384, 48, "SHA-384"},
		{amt.HashSHA512, 64, "SHA-512"},
		{0, 0, "HashAlgorithm(0)"},
		{4, 0, "HashAlgorithm(4)"},
		{9, 0, "HashAlgorithm(9)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.size, tt.a.Size(), tt.name)
		assert.Equal(t, tt.name, tt.a.String())
		assert.Equal(t, tt.size != 0, tt.a.Known())
		h := tt.a.New()
		if tt.size == 0 {
			assert.Nil(t, h)
			_, err := tt.a.Sum([]byte("x"))
			assert.ErrorIs(t, err, amt.ErrHashAlgorithm)
			continue
		}
		require.NotNil(t, h)
		assert.Equal(t, tt.size, h.Size())
		a, ok := amt.HashAlgorithmForSize(tt.size)
		assert.True(t, ok)
		assert.Equal(t, tt.a, a)
	}
	_, ok := amt.HashAlgorithmForSize(16)
	assert.False(t, ok)
}

func TestHashSum(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2 appendix B.1.
	h, err := amt.HashSHA256.Sum([]byte("abc"))
	require.NoError(t, err)
	assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", h.Hex())
	assert.Equal(t, "SHA-256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", h.String())
	assert.True(t, h.Valid())
}

func TestParseCertHash(t *testing.T) {
	const lower = "e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70"
	sum, _ := hex.DecodeString(lower)
	want := amt.CertHash{Alg: amt.HashSHA256, Sum: sum}
	colon := ""
	for i := 0; i < len(lower); i += 2 {
		if i > 0 {
			colon += ":"
		}
		colon += lower[i : i+2]
	}
	spaced := ""
	for i := 0; i < len(lower); i += 8 {
		spaced += lower[i:i+8] + " "
	}
	upper := "E7685634EFACF69ACE939A6B255B7B4FABEF42935B50A265ACB5CB6027E44E70"
	b64 := "52hWNO+s9prOk5prJVt7T6vvQpNbUKJlrLXLYCfkTnA="
	for _, s := range []string{lower, upper, colon, spaced, "  " + upper + "\n", "SHA256:" + upper, "sha-256 " + colon, "SHA256=" + lower, b64, "SHA-256:" + b64} {
		h, err := amt.ParseCertHash(s)
		require.NoError(t, err, s)
		assert.True(t, want.Equal(h), s)
	}
	// SHA-1 fingerprint as openssl prints it (the VeriSign G5 root):
	h, err := amt.ParseCertHash("4E:B6:D5:78:49:9B:1C:CF:5F:58:1E:AD:56:BE:3D:9B:67:44:A5:E5")
	require.NoError(t, err)
	assert.Equal(t, amt.HashSHA1, h.Alg)
	// SHA-384 by length.
	h, err = amt.ParseCertHash(hex.EncodeToString(make([]byte, 48)))
	require.NoError(t, err)
	assert.Equal(t, amt.HashSHA384, h.Alg)

	for _, bad := range []string{
		"", "SHA256:", "abc", "zz" + lower[2:], lower[:62], lower + "00",
		"SHA1:" + lower, "SHA384:" + lower, "not a hash at all!",
		hex.EncodeToString(make([]byte, 16)), // MD5 length: not an AMT root hash algorithm
	} {
		_, err := amt.ParseCertHash(bad)
		assert.Error(t, err, bad)
	}
	_, err = amt.ParseCertHashAlg(amt.HashSHA384, lower)
	assert.ErrorIs(t, err, amt.ErrHashFormat)
	_, err = amt.ParseCertHashAlg(9, lower)
	assert.ErrorIs(t, err, amt.ErrHashAlgorithm)
	h, err = amt.ParseCertHashAlg(amt.HashSHA256, upper)
	require.NoError(t, err)
	assert.True(t, want.Equal(h))
}

func TestCertHashEqualAndText(t *testing.T) {
	a := amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 32)}
	b := amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 32)}
	assert.True(t, a.Equal(b))
	b.Sum[31] = 1
	assert.False(t, a.Equal(b))
	assert.False(t, a.Equal(amt.CertHash{Alg: amt.HashSHA1, Sum: make([]byte, 32)}))
	assert.False(t, a.Equal(amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 31)}))
	txt, err := a.MarshalText()
	require.NoError(t, err)
	var back amt.CertHash
	require.NoError(t, back.UnmarshalText(txt))
	assert.True(t, a.Equal(back))
	_, err = amt.CertHash{Alg: 9, Sum: []byte{1}}.MarshalText()
	assert.Error(t, err)
	assert.False(t, amt.CertHash{Alg: 9, Sum: []byte{1}}.Valid())
	assert.Error(t, back.UnmarshalText([]byte("xyz")))
}

func TestDefaultRootHashes(t *testing.T) {
	list := amt.DefaultRootHashes()
	require.Len(t, list, 29, "19 from RPS's AMT 11.8 fixture, 10 more from MeshCentral's hello samples")
	seen := map[string]bool{}
	unconfirmed := 0
	for _, r := range list {
		assert.True(t, r.Hash.Valid(), r.Label)
		assert.NotEmpty(t, r.Label)
		assert.False(t, seen[r.Hash.Hex()], "duplicate %s", r.Label)
		seen[r.Hash.Hex()] = true
		if !r.Confirmed {
			unconfirmed++
		}
	}
	assert.Equal(t, 2, unconfirmed, "Verizon and the unknown entry are unconfirmed")
	// Callers own the slice.
	list[0].Label = "changed"
	list[0].Hash.Sum[0] ^= 0xff
	again := amt.DefaultRootHashes()
	assert.Equal(t, "VeriSign Class 3 Primary CA-G1", again[0].Label)
	assert.Equal(t, "e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70", again[0].Hash.Hex())

	h, _ := amt.ParseCertHash("cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f")
	r, ok := amt.LookupDefaultRootHash(h)
	require.True(t, ok)
	assert.Equal(t, "DigiCert Global Root G2", r.Label)
	_, ok = amt.LookupDefaultRootHash(amt.CertHash{Alg: amt.HashSHA256, Sum: sha256.New().Sum(nil)})
	assert.False(t, ok)
}

func FuzzParseCertHash(f *testing.F) {
	f.Add("E7:68:56:34:EF:AC:F6:9A:CE:93:9A:6B:25:5B:7B:4F:AB:EF:42:93:5B:50:A2:65:AC:B5:CB:60:27:E4:4E:70")
	f.Add("SHA384:" + hex.EncodeToString(make([]byte, 48)))
	f.Add("52hWNO+s9prOk5prJVt7T6vvQpNbUKJlrLXLYCfkTnA=")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := amt.ParseCertHash(s)
		if err != nil {
			return
		}
		if !h.Valid() {
			t.Fatalf("accepted invalid hash %v from %q", h, s)
		}
		back, err := amt.ParseCertHash(h.String())
		if err != nil || !back.Equal(h) {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}
