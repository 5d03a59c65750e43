package setupbin_test

import (
	"bytes"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

// setup.bin: decode of Intel ACU's 1024-byte file (one scrambled record, nine
// entries) against a floor of copying the same bytes.

func acuBytes(b *testing.B) []byte { return testvectors.SharedFile(b, "setupbin-acu-default-v4.bin") }

func BenchmarkDecodeSetupFile(b *testing.B) {
	raw := acuBytes(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := setupbin.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSetupFileFloor(b *testing.B) {
	raw := acuBytes(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var sink []byte
	for b.Loop() {
		sink = bytes.Clone(raw)
	}
	_ = sink
}

func BenchmarkEncodeSetupFile(b *testing.B) {
	f, err := setupbin.Decode(acuBytes(b))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = f.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
