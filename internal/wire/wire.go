package wire

import (
	"encoding/binary"
	"strconv"
)

// Reader reads little-endian fields from a byte slice. The zero value reads an
// empty input. A Reader is a small value: copy it to look ahead.
type Reader struct {
	b    []byte // the bytes not yet read
	off  int    // offset of b[0] in the input
	fail short  // the first failed read; need == 0 while none failed
}

// short records a failed read. need > 0 marks a failure.
type short struct{ off, need, have int }

// NewReader returns a Reader over b; offsets start at 0.
func NewReader(b []byte) Reader { return Reader{b: b} }

// NewReaderAt returns a Reader over b whose first byte is at offset off of a
// larger input (for error messages).
func NewReaderAt(b []byte, off int) Reader { return Reader{b: b, off: off} }

// Offset returns the offset of the next byte to be read.
func (r *Reader) Offset() int { return r.off }

// Len returns the number of bytes left.
func (r *Reader) Len() int { return len(r.b) }

// Empty reports whether no bytes are left.
func (r *Reader) Empty() bool { return len(r.b) == 0 }

// Rest returns the bytes left without consuming them. The slice aliases the
// input.
func (r *Reader) Rest() []byte { return r.b }

// Failed reports whether a read has failed.
func (r *Reader) Failed() bool { return r.fail.need != 0 }

// Err returns nil if no read has failed, else a [*ShortError] for the first
// read that did.
func (r *Reader) Err() error {
	if r.fail.need == 0 {
		return nil
	}
	return &ShortError{Offset: r.fail.off, Need: r.fail.need, Have: r.fail.have}
}

// take returns the next n bytes, or records the failure. n must be positive for
// a failure to be recorded; reads of zero bytes always succeed unless the
// Reader has failed.
func (r *Reader) take(n int) ([]byte, bool) {
	if r.fail.need != 0 {
		return nil, false
	}
	if n < 0 || n > len(r.b) {
		need := n
		if need <= 0 {
			need = -1 // a negative length: never satisfiable, still marks the failure
		}
		r.fail = short{off: r.off, need: need, have: len(r.b)}
		return nil, false
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	r.off += n
	return v, true
}

// ReadU8 reads one byte into *v.
func (r *Reader) ReadU8(v *uint8) bool {
	b, ok := r.take(1)
	if ok {
		*v = b[0]
	}
	return ok
}

// ReadU16 reads a little-endian uint16 into *v.
func (r *Reader) ReadU16(v *uint16) bool {
	b, ok := r.take(2)
	if ok {
		*v = binary.LittleEndian.Uint16(b)
	}
	return ok
}

// ReadU32 reads a little-endian uint32 into *v.
func (r *Reader) ReadU32(v *uint32) bool {
	b, ok := r.take(4)
	if ok {
		*v = binary.LittleEndian.Uint32(b)
	}
	return ok
}

// ReadU64 reads a little-endian uint64 into *v.
func (r *Reader) ReadU64(v *uint64) bool {
	b, ok := r.take(8)
	if ok {
		*v = binary.LittleEndian.Uint64(b)
	}
	return ok
}

// Bytes returns the next n bytes without copying them: the slice aliases the
// input and its capacity is n, so appending to it cannot overwrite what
// follows. A negative n fails.
func (r *Reader) Bytes(n int) ([]byte, bool) { return r.take(n) }

// Skip consumes the next n bytes.
func (r *Reader) Skip(n int) bool {
	_, ok := r.take(n)
	return ok
}

// Sub consumes the next n bytes and returns a Reader over them whose offsets
// continue those of r.
func (r *Reader) Sub(n int) (Reader, bool) {
	off := r.off
	b, ok := r.take(n)
	if !ok {
		return Reader{}, false
	}
	return Reader{b: b, off: off}, true
}

// ShortError reports a read past the end of the input.
type ShortError struct {
	Offset int // where the failed read started
	Need   int // bytes the read wanted (-1 for a negative length)
	Have   int // bytes left at Offset
}

// Error returns, e.g., "wire: 4 bytes needed at offset 12, 3 left".
func (e *ShortError) Error() string {
	need := strconv.Itoa(e.Need) + " bytes"
	if e.Need < 0 {
		need = "a negative length"
	}
	return "wire: " + need + " needed at offset " + strconv.Itoa(e.Offset) + ", " + strconv.Itoa(e.Have) + " left"
}
