package wire_test

import (
	"fmt"

	"github.com/amtkit/amtkit/internal/wire"
)

// Read a 2-byte tag and a length-prefixed value; the truncated second value is
// reported with its offset.
func ExampleReader() {
	in := []byte{0x34, 0x12, 3, 'a', 'b', 'c', 0x78, 0x56, 9, 'x'}
	r := wire.NewReader(in)
	for !r.Empty() {
		var tag uint16
		var n uint8
		r.ReadU16(&tag)
		r.ReadU8(&n)
		v, ok := r.Bytes(int(n))
		if !ok {
			fmt.Println(r.Err())
			break
		}
		fmt.Printf("%#04x %q\n", tag, v)
	}
	// Output:
	// 0x1234 "abc"
	// wire: 9 bytes needed at offset 9, 1 left
}
