package wire_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/wire"
)

func TestReadsAreLittleEndian(t *testing.T) {
	in := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11}
	r := wire.NewReader(in)
	var (
		a uint8
		b uint16
		c uint32
		d uint64
	)
	require.True(t, r.ReadU8(&a))
	require.True(t, r.ReadU16(&b))
	require.True(t, r.ReadU32(&c))
	require.True(t, r.ReadU64(&d))
	assert.Equal(t, uint8(0x01), a)
	assert.Equal(t, uint16(0x0302), b)
	assert.Equal(t, uint32(0x07060504), c)
	assert.Equal(t, uint64(0x0f0e0d0c0b0a0908), d)
	assert.Equal(t, 15, r.Offset())
	assert.Equal(t, 2, r.Len())
	rest, ok := r.Bytes(2)
	require.True(t, ok)
	assert.Equal(t, []byte{0x10, 0x11}, rest)
	assert.True(t, r.Empty())
	assert.NoError(t, r.Err())
	assert.False(t, r.Failed())
}

func TestShortReadFailsAndSticks(t *testing.T) {
	tests := []struct {
		name string
		read func(r *wire.Reader) bool
		need int
	}{
		{"u8", func(r *wire.Reader) bool { var v uint8; return r.ReadU8(&v) }, 1},
		{"u16", func(r *wire.Reader) bool { var v uint16; return r.ReadU16(&v) }, 2},
		{"u32", func(r *wire.Reader) bool { var v uint32; return r.ReadU32(&v) }, 4},
		{"u64", func(r *wire.Reader) bool { var v uint64; return r.ReadU64(&v) }, 8},
		{"bytes", func(r *wire.Reader) bool { _, ok := r.Bytes(9); return ok }, 9},
		{"skip", func(r *wire.Reader) bool { return r.Skip(9) }, 9},
		{"sub", func(r *wire.Reader) bool { _, ok := r.Sub(9); return ok }, 9},
		{"negative", func(r *wire.Reader) bool { _, ok := r.Bytes(-1); return ok }, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every input shorter than the read fails at the reader's offset,
			// leaving the reader where it was.
			for have := 0; have < max(tt.need, 1); have++ {
				r := wire.NewReaderAt(make([]byte, have), 100)
				require.False(t, tt.read(&r), "%d bytes", have)
				assert.Equal(t, 100, r.Offset())
				assert.Equal(t, have, r.Len())
				assert.True(t, r.Failed())
				var se *wire.ShortError
				require.True(t, errors.As(r.Err(), &se))
				assert.Equal(t, wire.ShortError{Offset: 100, Need: tt.need, Have: have}, *se)
				// Sticky: every later read of at least one byte fails, even one
				// that would have fit; a read of nothing succeeds. The first
				// failure is the one reported.
				var b uint8
				assert.False(t, r.ReadU8(&b))
				assert.True(t, r.Skip(0))
				assert.Equal(t, se, r.Err())
				assert.Equal(t, 100, r.Offset())
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	r := wire.NewReaderAt([]byte{1, 2, 3}, 12)
	var v uint32
	require.False(t, r.ReadU32(&v))
	assert.EqualError(t, r.Err(), "wire: 4 bytes needed at offset 12, 3 left")
	r = wire.NewReader(nil)
	_, ok := r.Bytes(-5)
	require.False(t, ok)
	assert.EqualError(t, r.Err(), "wire: a negative length needed at offset 0, 0 left")
}

func TestBytesCapacityIsClipped(t *testing.T) {
	in := []byte{1, 2, 3, 4}
	r := wire.NewReader(in)
	b, ok := r.Bytes(2)
	require.True(t, ok)
	assert.Equal(t, 2, cap(b))
	_ = append(b, 9) // must not overwrite in[2]
	assert.Equal(t, []byte{1, 2, 3, 4}, in)
}

func TestSubContinuesOffsets(t *testing.T) {
	r := wire.NewReaderAt([]byte{0, 0, 1, 2, 3, 4, 5}, 10)
	require.True(t, r.Skip(2))
	s, ok := r.Sub(3)
	require.True(t, ok)
	assert.Equal(t, 12, s.Offset())
	assert.Equal(t, 15, r.Offset())
	var v uint32
	require.False(t, s.ReadU32(&v))
	var se *wire.ShortError
	require.ErrorAs(t, s.Err(), &se)
	assert.Equal(t, 12, se.Offset)
	assert.NoError(t, r.Err(), "a failure inside a sub-reader does not fail its parent")
}

func TestPeek(t *testing.T) {
	r := wire.NewReaderAt([]byte{1, 2, 3}, 5)
	p, ok := r.Peek(2)
	require.True(t, ok)
	assert.Equal(t, []byte{1, 2}, p)
	assert.Equal(t, 2, cap(p))
	assert.Equal(t, 5, r.Offset(), "Peek consumes nothing")
	_, ok = r.Peek(4)
	assert.False(t, ok)
	_, ok = r.Peek(-1)
	assert.False(t, ok)
	assert.NoError(t, r.Err(), "a failed Peek is not a failed read")
	assert.Equal(t, 3, r.Len())
}

func TestZeroValue(t *testing.T) {
	var r wire.Reader
	assert.True(t, r.Empty())
	assert.True(t, r.Skip(0))
	var v uint8
	assert.False(t, r.ReadU8(&v))
}

// FuzzReader runs a program of reads (each byte of prog picks a read and, for
// Bytes/Skip/Sub, its length, negative ones included) over in against a model
// built on encoding/binary: results, offsets, the bytes left and the first
// failure must agree, and nothing may panic.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0x00, 0x11, 0x22, 0x33}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{0x34, 0x45, 0x56, 0x63, 0x04}, []byte{1, 2, 3})
	f.Add([]byte{0x7f, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, prog, in []byte) {
		const base = 7
		r := wire.NewReaderAt(in, base)
		pos, failed := 0, false
		var first wire.ShortError
		for _, op := range prog {
			kind, n := op>>4, int(op&0x0f)
			if kind&8 != 0 {
				n = -n // lengths -15..-1 (and -0) for the length-taking reads
			}
			var ok bool
			var got []byte
			need := 0
			switch kind & 7 {
			case 0:
				var v uint8
				ok, need = r.ReadU8(&v), 1
				if ok {
					got = []byte{v}
				}
			case 1:
				var v uint16
				ok, need = r.ReadU16(&v), 2
				if ok {
					got = binary.LittleEndian.AppendUint16(nil, v)
				}
			case 2:
				var v uint32
				ok, need = r.ReadU32(&v), 4
				if ok {
					got = binary.LittleEndian.AppendUint32(nil, v)
				}
			case 3:
				var v uint64
				ok, need = r.ReadU64(&v), 8
				if ok {
					got = binary.LittleEndian.AppendUint64(nil, v)
				}
			case 4:
				got, ok = r.Bytes(n)
				need = n
			case 5:
				ok, need = r.Skip(n), n
				if ok && n > 0 {
					got = in[pos : pos+n]
				}
			case 7:
				// Peek consumes nothing and never fails the reader.
				got, ok = r.Peek(n)
				peekOK := !failed && n >= 0 && pos+n <= len(in)
				if n == 0 && failed {
					peekOK = true
				}
				require.Equal(t, peekOK, ok, "peek %d at %d", n, pos)
				if ok {
					require.Equal(t, in[pos:pos+n], got)
				}
				continue
			default:
				var s wire.Reader
				s, ok = r.Sub(n)
				need = n
				if ok {
					if !failed {
						require.Equal(t, base+pos, s.Offset())
					}
					got = s.Rest()
				}
			}
			wantOK := need == 0 || (!failed && need > 0 && pos+need <= len(in))
			require.Equal(t, wantOK, ok, "op %#02x at %d", op, pos)
			if ok && need == 0 {
				require.Empty(t, got)
			} else if ok {
				require.Equal(t, in[pos:pos+need], got)
				pos += need
			} else if !failed {
				failed = true
				first = wire.ShortError{Offset: base + pos, Need: need, Have: len(in) - pos}
			}
			require.Equal(t, base+pos, r.Offset())
			require.Equal(t, len(in)-pos, r.Len())
			require.Equal(t, in[pos:], r.Rest())
			require.Equal(t, failed, r.Failed())
		}
		if failed {
			var se *wire.ShortError
			require.ErrorAs(t, r.Err(), &se)
			require.Equal(t, first, *se)
		} else {
			require.NoError(t, r.Err())
		}
	})
}
