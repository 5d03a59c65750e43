package pthi_test

import (
	"testing"

	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/internal/testvectors"
)

func goldenResponse(b *testing.B, name string) []byte {
	for _, v := range testvectors.Load[commandVector](b, "pthi_commands").Vectors {
		if v.Name == name {
			return v.Response
		}
	}
	b.Fatalf("no golden %s", name)
	return nil
}

// BenchmarkDecodeCertHashEntry decodes a whole GetCertHashEntry response (header,
// status, entry); BenchmarkFloorCertHashEntryCopy copies the same bytes, the floor.
func BenchmarkDecodeCertHashEntry(b *testing.B) {
	msg := goldenResponse(b, "GetCertHashEntry")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := pthi.DecodeResponse(pthi.CmdGetCertHashEntry, msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pthi.DecodeCertHashEntry(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFloorCertHashEntryCopy(b *testing.B) {
	msg := goldenResponse(b, "GetCertHashEntry")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		dst := make([]byte, len(msg))
		copy(dst, msg)
		sink = dst
	}
}

// BenchmarkDecodeCodeVersions decodes the 10-entry golden GetCodeVersions response.
func BenchmarkDecodeCodeVersions(b *testing.B) {
	msg := goldenResponse(b, "GetCodeVersions")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := pthi.DecodeResponse(pthi.CmdGetCodeVersions, msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pthi.DecodeCodeVersions(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFloorCodeVersionsCopy(b *testing.B) {
	msg := goldenResponse(b, "GetCodeVersions")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		dst := make([]byte, len(msg))
		copy(dst, msg)
		sink = dst
	}
}

var sink []byte
