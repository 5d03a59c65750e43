package wire

import (
	"encoding/binary"
	"strconv"
)

// Reader reads little-endian fields from a byte slice. The zero value reads an
// empty input. A Reader is a small value: copy it to look ahead.
type Reader struct {
	b    []byte // the whole input; never changes
	off  int    // position of the next read in b; len(b) once a read failed
	base int    // offset of b[0] in the caller's terms
	need int    // length of the first failed read (never 0); 0 while none failed
	at   int    // position in b of the first failed read
}

// NewReader returns a Reader over b; offsets start at 0.
func NewReader(b []byte) Reader { return Reader{b: b} }

// NewReaderAt returns a Reader over b whose first byte is at offset off of a
// larger input (for error messages).
func NewReaderAt(b []byte, off int) Reader { return Reader{b: b, base: off} }

// pos returns the position of the next read, or of the failed read.
func (r *Reader) pos() int {
	if r.need != 0 {
		return r.at
	}
	return r.off
}

// Offset returns the offset of the next byte to be read; after a failed read,
// the offset where that read started.
func (r *Reader) Offset() int { return r.base + r.pos() }

// Len returns the number of bytes left (after a failed read: the bytes that
// were left when it failed).
func (r *Reader) Len() int { return len(r.b) - r.pos() }

// Empty reports whether no bytes are left.
func (r *Reader) Empty() bool { return r.Len() == 0 }

// Rest returns the bytes left without consuming them (after a failed read: the
// bytes that were left when it failed). The slice aliases the input.
func (r *Reader) Rest() []byte { return r.b[r.pos():] }

// Failed reports whether a read has failed.
func (r *Reader) Failed() bool { return r.need != 0 }

// Err returns nil if no read has failed, else a [*ShortError] for the first
// read that did.
func (r *Reader) Err() error {
	if r.need == 0 {
		return nil
	}
	return &ShortError{Offset: r.base + r.at, Need: r.need, Have: len(r.b) - r.at}
}

// Each read below is written out, failure path included, so that the compiler
// inlines it (the hello decoder reads a hundred fields per packet within its
// budget; a call would cost more than the read). The fast path is one length
// check because a failed read moves the position to the end. A read of zero
// bytes therefore succeeds even after a failure: it reads nothing, and Err
// still reports the first failure.

// ReadU8 reads one byte into *v.
func (r *Reader) ReadU8(v *uint8) bool {
	if len(r.b)-r.off < 1 {
		if r.need == 0 {
			r.need, r.at, r.off = 1, r.off, len(r.b)
		}
		return false
	}
	*v = r.b[r.off]
	r.off++
	return true
}

// ReadU16 reads a little-endian uint16 into *v.
func (r *Reader) ReadU16(v *uint16) bool {
	if len(r.b)-r.off < 2 {
		if r.need == 0 {
			r.need, r.at, r.off = 2, r.off, len(r.b)
		}
		return false
	}
	*v = binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return true
}

// ReadU32 reads a little-endian uint32 into *v.
func (r *Reader) ReadU32(v *uint32) bool {
	if len(r.b)-r.off < 4 {
		if r.need == 0 {
			r.need, r.at, r.off = 4, r.off, len(r.b)
		}
		return false
	}
	*v = binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return true
}

// ReadU64 reads a little-endian uint64 into *v.
func (r *Reader) ReadU64(v *uint64) bool {
	if len(r.b)-r.off < 8 {
		if r.need == 0 {
			r.need, r.at, r.off = 8, r.off, len(r.b)
		}
		return false
	}
	*v = binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return true
}

// Bytes returns the next n bytes without copying them: the slice aliases the
// input and its capacity is n, so appending to it cannot overwrite what
// follows. A negative n fails.
func (r *Reader) Bytes(n int) ([]byte, bool) {
	if uint(n) > uint(len(r.b)-r.off) {
		if r.need == 0 {
			r.need, r.at, r.off = n, r.off, len(r.b)
		}
		return nil, false
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v, true
}

// Skip consumes the next n bytes. A negative n fails.
func (r *Reader) Skip(n int) bool {
	if uint(n) > uint(len(r.b)-r.off) {
		if r.need == 0 {
			r.need, r.at, r.off = n, r.off, len(r.b)
		}
		return false
	}
	r.off += n
	return true
}

// Peek returns the next n bytes without consuming them, or false if fewer are
// left (or a read has failed). A failed Peek is not a failed read: it changes
// nothing. Peek and then one Skip walk a list of length-prefixed entries with
// one update of the position per entry.
func (r *Reader) Peek(n int) ([]byte, bool) {
	if uint(n) > uint(len(r.b)-r.off) {
		return nil, false
	}
	return r.b[r.off : r.off+n : r.off+n], true
}

// Sub consumes the next n bytes and returns a Reader over them whose offsets
// continue those of r. A negative n fails.
func (r *Reader) Sub(n int) (Reader, bool) {
	v, ok := r.Bytes(n)
	return Reader{b: v, base: r.base + r.off - len(v)}, ok
}

// ShortError reports a read past the end of the input.
type ShortError struct {
	Offset int // where the failed read started
	Need   int // bytes the read wanted (negative for a negative length)
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
