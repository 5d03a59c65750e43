package hello_test

import (
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
)

// sample C: a real 841-byte hello with 24 SHA-256 hashes.
func sample24(b *testing.B) []byte { return loadHellos(b)[2].Packet }

// BenchmarkCopyFloor is the floor for BenchmarkParse24 and
// BenchmarkDecoder24 (the hello-decode budget in docs/PERFORMANCE.md): a copy of
// the same 841 bytes.
func BenchmarkCopyFloor(b *testing.B) {
	pkt := sample24(b)
	out := make([]byte, len(pkt))
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		copy(out, pkt)
	}
	sinkBytes = out
}

// BenchmarkAllocFloor allocates and fills what hello.Parse must return for the
// same packet (a Message, a 24-entry hash list and one copy of the digests), without
// decoding anything: the cost of the allocations alone on this machine.
func BenchmarkAllocFloor(b *testing.B) {
	pkt := sample24(b)
	b.ReportAllocs()
	for b.Loop() {
		h := new(hello.Message)
		h.Hashes = make([]amt.CertHash, 24)
		list := append([]byte(nil), pkt[25:]...)
		for i := range h.Hashes {
			h.Hashes[i].Sum = list[i*34+2 : i*34+34]
		}
		sink = h
	}
}

var (
	sink      *hello.Message
	sinkBytes []byte
)

func BenchmarkParse24(b *testing.B) {
	pkt := sample24(b)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		h, err := hello.Parse(pkt)
		if err != nil {
			b.Fatal(err)
		}
		sink = h
	}
}

func BenchmarkAppend24(b *testing.B) {
	h, err := hello.Parse(sample24(b))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		out, err := h.AppendBinary(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = out
	}
}

// BenchmarkDecoder24 decodes the same packet as BenchmarkParse24 into a
// reused hello.Decoder: the path a listener takes for every hello it receives.
func BenchmarkDecoder24(b *testing.B) {
	pkt := sample24(b)
	var d hello.Decoder
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		h, err := d.Decode(pkt)
		if err != nil {
			b.Fatal(err)
		}
		sink = h
	}
}
