package hello_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/internal/testvectors"
)

type helloVector struct {
	Name                string          `json:"name"`
	Note                string          `json:"note"`
	Packet              testvectors.Hex `json:"packet"`
	AdminCredentialsSet bool            `json:"admin_credentials_set"`
	Version             uint16          `json:"version"`
	Retry               uint32          `json:"retry"`
	UUID                string          `json:"uuid"`
	PID                 string          `json:"pid"`
	HashAlgs            []uint8         `json:"hash_algs"`
	Hashes              []string        `json:"hashes"`
}

func loadHellos(t testing.TB) []helloVector {
	return testvectors.Load[helloVector](t, "hello").Vectors
}

func TestParseHelloVectors(t *testing.T) {
	for _, v := range loadHellos(t) {
		t.Run(v.Name, func(t *testing.T) {
			h, err := hello.Parse(v.Packet)
			require.NoError(t, err)
			assert.Equal(t, v.AdminCredentialsSet, h.AdminCredentialsSet)
			assert.Equal(t, v.Version, h.Version)
			assert.Equal(t, v.Retry, h.RetryCount)
			assert.Equal(t, v.UUID, h.UUID.String())
			if v.Version == hello.VersionPSK {
				assert.Equal(t, v.PID, h.PIDString())
				assert.Empty(t, h.Hashes)
			} else {
				require.Len(t, h.Hashes, len(v.Hashes))
				for i := range v.Hashes {
					assert.Equal(t, amt.HashAlgorithm(v.HashAlgs[i]), h.Hashes[i].Alg, "hash %d", i)
					assert.Equal(t, v.Hashes[i], hex.EncodeToString(h.Hashes[i].Sum), "hash %d", i)
				}
			}
			// Round trip is byte-exact.
			out, err := h.AppendBinary(nil)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.Packet), out)
			// The decoder does not retain its input.
			pkt := bytes.Clone(v.Packet)
			h2, err := hello.Parse(pkt)
			require.NoError(t, err)
			clear(pkt)
			out2, err := h2.MarshalBinary()
			require.NoError(t, err)
			assert.Equal(t, []byte(v.Packet), out2)
		})
	}
}

func TestParseHelloRealSamplesNameTheirRoots(t *testing.T) {
	// Every hash in the real MeshCentral samples is a factory root listed in
	// amt.DefaultRootHashes (which was reconstructed from them and from RPS).
	for _, v := range loadHellos(t)[:3] {
		h, err := hello.Parse(v.Packet)
		require.NoError(t, err)
		for _, x := range h.Hashes {
			_, ok := amt.LookupDefaultRootHash(x)
			assert.True(t, ok, "%s: %s", v.Name, x)
		}
	}
}

func TestParseHelloEveryStrictPrefixFails(t *testing.T) {
	for _, v := range loadHellos(t) {
		for n := 0; n < len(v.Packet); n++ {
			_, err := hello.Parse(v.Packet[:n])
			require.Error(t, err, "%s: prefix of %d bytes accepted", v.Name, n)
			var he *hello.Error
			require.True(t, errors.As(err, &he))
			if n >= 24 && n != 24 || v.Version == hello.VersionPSK {
				assert.ErrorIs(t, err, hello.ErrTruncated, "%s: %d", v.Name, n)
			}
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseHelloErrors(t *testing.T) {
	v3 := mustHex("01000300000000003ec2ffd2d19d2d41860a54b2039b72ff010220cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f")
	v2 := mustHex("00000200030000003ec2ffd2d19d2d41860a54b2039b72ff4142434432333435")
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	tests := []struct {
		name   string
		pkt    []byte
		err    error
		offset int
		msg    string
	}{
		{"empty", nil, hello.ErrTruncated, 0, "expected 24 bytes, got 0"},
		{"flag 2", mod(v3, func(b []byte) []byte { b[0] = 2; return b }), hello.ErrFlag, 0, "expected 0 or 1, got 2"},
		{"flag high byte", mod(v3, func(b []byte) []byte { b[1] = 1; return b }), hello.ErrFlag, 0, "got 257"},
		{"version 1", mod(v3, func(b []byte) []byte { b[2] = 1; return b }), hello.ErrVersion, 2, "expected 2 (PSK) or 3 (PKI), got 1"},
		{"version 4", mod(v3, func(b []byte) []byte { b[2] = 4; return b }), hello.ErrVersion, 2, "got 4"},
		{"v3 trailing", append(bytes.Clone(v3), 0), hello.ErrTrailing, 59, "1 more bytes"},
		{"v2 trailing", append(bytes.Clone(v2), 'X'), hello.ErrTrailing, 32, "1 more bytes"},
		{"v3 count too high", mod(v3, func(b []byte) []byte { b[24] = 2; return b }), hello.ErrTruncated, 59, "hash 1 header"},
		{"v3 count too low", mod(v3, func(b []byte) []byte { b[24] = 0; return b }), hello.ErrTrailing, 25, "after 0 hashes"},
		{"sha256 with length 31", mod(v3, func(b []byte) []byte { b[26] = 31; return b }), hello.ErrHashLength, 26, "expected 32 for SHA-256, got 31"},
		{"sha1 with length 32", mod(v3, func(b []byte) []byte { b[25] = 1; return b }), hello.ErrHashLength, 26, "expected 20 for SHA-1, got 32"},
		{"unknown alg overruns", mod(v3, func(b []byte) []byte { b[25] = 9; b[26] = 40; return b }), hello.ErrTruncated, 27, "hash 0 value"},
		{"unknown alg too short", mod(v3, func(b []byte) []byte { b[25] = 9; b[26] = 10; return b }), hello.ErrTrailing, 37, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hello.Parse(tt.pkt)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.err)
			var he *hello.Error
			require.True(t, errors.As(err, &he))
			assert.Equal(t, tt.offset, he.Offset)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestParseHelloUnknownAlgorithmKept(t *testing.T) {
	v3 := mustHex("01000300000000003ec2ffd2d19d2d41860a54b2039b72ff0209040102030402200000000000000000000000000000000000000000000000000000000000000000")
	h, err := hello.Parse(v3)
	require.NoError(t, err)
	require.Len(t, h.Hashes, 2)
	assert.Equal(t, amt.HashAlgorithm(9), h.Hashes[0].Alg)
	assert.Equal(t, []byte{1, 2, 3, 4}, h.Hashes[0].Sum)
	assert.False(t, h.Hashes[0].Valid())
	assert.True(t, h.Hashes[1].Valid())
	assert.True(t, h.HasHash(amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 32)}))
	assert.False(t, h.HasHash(amt.CertHash{Alg: amt.HashSHA1, Sum: make([]byte, 20)}))
}

func TestParseHello255Hashes(t *testing.T) {
	h := &hello.Message{Version: hello.VersionPKI, RetryCount: 14}
	for i := 0; i < 255; i++ {
		h.Hashes = append(h.Hashes, amt.CertHash{Alg: amt.HashSHA512, Sum: bytes.Repeat([]byte{byte(i)}, 64)})
	}
	b, err := h.AppendBinary(nil)
	require.NoError(t, err)
	assert.Len(t, b, 25+255*66)
	back, err := hello.Parse(b)
	require.NoError(t, err)
	assert.Len(t, back.Hashes, 255)
	assert.Equal(t, byte(254), back.Hashes[254].Sum[0])
	assert.LessOrEqual(t, len(b), hello.MaxSize)
}

func TestHelloEncodeRefuses(t *testing.T) {
	sha := amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 32)}
	tests := []struct {
		name string
		h    hello.Message
	}{
		{"version 1", hello.Message{Version: 1}},
		{"v2 with hashes", hello.Message{Version: 2, Hashes: []amt.CertHash{sha}}},
		{"v3 with PID", hello.Message{Version: 3, PID: [8]byte{'A'}}},
		{"256 hashes", hello.Message{Version: 3, Hashes: make([]amt.CertHash, 256)}},
		{"bad length", hello.Message{Version: 3, Hashes: []amt.CertHash{{Alg: amt.HashSHA1, Sum: make([]byte, 32)}}}},
		{"too long", hello.Message{Version: 3, Hashes: []amt.CertHash{{Alg: 9, Sum: make([]byte, 256)}}}},
	}
	for _, tt := range tests {
		out, err := tt.h.AppendBinary([]byte("keep"))
		assert.ErrorIs(t, err, hello.ErrUnencodable, tt.name)
		assert.Equal(t, "keep", string(out), tt.name)
	}
}

func TestHelloString(t *testing.T) {
	vs := loadHellos(t)
	h, err := hello.Parse(vs[2].Packet)
	require.NoError(t, err)
	assert.Equal(t, "hello v3 uuid=d2ffc23e-9dd1-412d-860a-54b2039b72ff retry=1 hashes=24", h.String())
	var u hello.Message
	require.NoError(t, u.UnmarshalBinary(vs[4].Packet))
	assert.Equal(t, `hello v2 uuid=d2ffc23e-9dd1-412d-860a-54b2039b72ff retry=3 pid="ABCD2345"`, u.String())
	assert.Error(t, u.UnmarshalBinary([]byte{1}))
}

func FuzzParse(f *testing.F) {
	for _, v := range loadHellos(f) {
		f.Add([]byte(v.Packet))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 25))
	prime := loadHellos(f)[2].Packet
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := hello.Parse(b)
		// A decoder that already holds a 24-hash hello gives the same answer.
		var d hello.Decoder
		if _, perr := d.Decode(prime); perr != nil {
			t.Fatal(perr)
		}
		dh, derr := d.Decode(b)
		if (err == nil) != (derr == nil) || (err != nil && err.Error() != derr.Error()) {
			t.Fatalf("ParseHello error %v, HelloDecoder error %v", err, derr)
		}
		if err == nil && !reflect.DeepEqual(h, dh) {
			t.Fatalf("ParseHello %+v, HelloDecoder %+v", h, dh)
		}
		if err != nil {
			var he *hello.Error
			if !errors.As(err, &he) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Decoding is strict, so encoding what was decoded reproduces the input.
		out, err := h.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded hello does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip differs:\n in %x\nout %x", b, out)
		}
		total := 0
		for _, x := range h.Hashes {
			total += len(x.Sum)
		}
		if total > len(b) {
			t.Fatalf("digests hold %d bytes, more than the %d-byte input", total, len(b))
		}
	})
}

func TestHelloDecoderMatchesParseHello(t *testing.T) {
	var d hello.Decoder
	vs := loadHellos(t)
	// Twice through every vector, so each shape is decoded into memory that held
	// another (larger and smaller) one.
	for round := 0; round < 2; round++ {
		for _, v := range vs {
			want, err := hello.Parse(v.Packet)
			require.NoError(t, err)
			got, err := d.Decode(v.Packet)
			require.NoError(t, err, v.Name)
			assert.Equal(t, want, got, v.Name)
			out, err := got.AppendBinary(nil)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.Packet), out, v.Name)
		}
	}
}

func TestHelloDecoderReuseAndClone(t *testing.T) {
	vs := loadHellos(t)
	big := vs[2].Packet // 24 hashes
	var d hello.Decoder
	h, err := d.Decode(big)
	require.NoError(t, err)
	kept := h.Clone()
	first := hex.EncodeToString(h.Hashes[0].Sum)

	// The input is not retained: scribbling on it changes neither result.
	pkt := append([]byte(nil), big...)
	h, err = d.Decode(pkt)
	require.NoError(t, err)
	for i := range pkt {
		pkt[i] = 0xAA
	}
	assert.Equal(t, first, hex.EncodeToString(h.Hashes[0].Sum))

	// A failed decode leaves the previous result as it was.
	_, err = d.Decode(big[:len(big)-1])
	require.ErrorIs(t, err, hello.ErrTruncated)
	assert.Equal(t, first, hex.EncodeToString(h.Hashes[0].Sum))

	// The next decode overwrites the decoder's memory but not a clone.
	other := append([]byte(nil), big...)
	other[25+2] ^= 0xFF // first digest's first byte
	h2, err := d.Decode(other)
	require.NoError(t, err)
	assert.Same(t, h, h2)
	assert.NotEqual(t, first, hex.EncodeToString(h.Hashes[0].Sum))
	assert.Equal(t, first, hex.EncodeToString(kept.Hashes[0].Sum))
	out, err := kept.AppendBinary(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte(big), out)

	// A clone's digests are capped: appending to one cannot reach the next.
	s0 := kept.Hashes[0].Sum
	assert.Equal(t, len(s0), cap(s0))

	// After the largest hello, decoding allocates nothing.
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(big); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestHelloCloneVersion2AndEmpty(t *testing.T) {
	vs := loadHellos(t)
	h, err := hello.Parse(vs[4].Packet)
	require.NoError(t, err)
	c := h.Clone()
	assert.Equal(t, h, c)
	assert.NotSame(t, h, c)

	e := &hello.Message{Version: hello.VersionPKI, Hashes: []amt.CertHash{}}
	assert.Equal(t, e, e.Clone())
}
