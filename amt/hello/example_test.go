package hello_test

import (
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
)

func ExampleParse() {
	pkt := []byte{
		0x00, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, // flag 0, version 2 (PSK), retry 3
		0x3e, 0xc2, 0xff, 0xd2, 0xd1, 0x9d, 0x2d, 0x41, 0x86, 0x0a, 0x54, 0xb2, 0x03, 0x9b, 0x72, 0xff, // UUID (wire order)
		'A', 'B', 'C', 'D', '2', '3', '4', '5', // PID
	}
	h, err := hello.Parse(pkt)
	if err != nil {
		panic(err)
	}
	fmt.Println(h)
	_, err = hello.Parse(pkt[:30])
	fmt.Println(errors.Is(err, hello.ErrTruncated))
	// Output:
	// hello v2 uuid=d2ffc23e-9dd1-412d-860a-54b2039b72ff retry=3 pid="ABCD2345"
	// true
}

// A server that sees many hellos it does not keep (duplicates, unknown devices)
// decodes them with a Decoder and clones only the ones it keeps.
func ExampleDecoder() {
	pkt := []byte{
		0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // flag 0, version 3 (PKI), retry 0
		0x3e, 0xc2, 0xff, 0xd2, 0xd1, 0x9d, 0x2d, 0x41, 0x86, 0x0a, 0x54, 0xb2, 0x03, 0x9b, 0x72, 0xff, // UUID (wire order)
		0x01,       // one hash
		0x02, 0x20, // SHA-256, 32 bytes
	}
	pkt = append(pkt, make([]byte, 32)...)
	known := map[amt.UUID]bool{}

	var d hello.Decoder
	var kept []*hello.Message
	for range 3 {
		h, err := d.Decode(pkt) // valid until the next Decode
		if err != nil {
			panic(err)
		}
		if !known[h.UUID] {
			known[h.UUID] = true
			kept = append(kept, h.Clone()) // a copy that owns its memory
		}
	}
	fmt.Println(len(kept), kept[0].UUID, len(kept[0].Hashes), kept[0].Hashes[0].Alg)
	// Output:
	// 1 d2ffc23e-9dd1-412d-860a-54b2039b72ff 1 SHA-256
}
