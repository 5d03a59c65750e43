package hello

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/wire"
)

// Hello interface versions (Intel AMT SDK, "Setup Mode Hello Messages";
// MeshCentral amtprovisioningserver.js reads both).
const (
	// VersionPSK is the one-touch hello carrying an 8-byte PID (removed in AMT 11).
	VersionPSK = 2
	// VersionPKI is the remote-configuration hello carrying root-certificate hashes.
	VersionPKI = 3
)

const (
	helloHeaderSize = 24
	helloPSKSize    = helloHeaderSize + 8
	// MaxSize is the largest well-formed hello: a version 3 header, a count of
	// 255 and 255 entries of 255-byte digests. Real devices send under 1 KiB.
	MaxSize = helloHeaderSize + 1 + 255*(2+255)
)

// Message is the hello an AMT device in setup mode sends to a provisioning server
// over TCP (default port 9971) before closing the connection. Version 2 (PSK)
// carries a PID; version 3 (PKI) carries the hashes of the root certificates the
// device trusts. All integers are little-endian; the UUID is in AMT's wire order.
//
// A hello proves nothing about the sender: anyone can send one. See the package
// documentation for the trust model.
type Message struct {
	// AdminCredentialsSet is the first header field (0 or 1 on the wire); Intel's
	// table calls it "Admin credentials set".
	AdminCredentialsSet bool
	// Version is VersionPSK or VersionPKI.
	Version uint16
	// RetryCount counts earlier hellos in this provisioning window (Intel: 0–14).
	RetryCount uint32
	// UUID identifies the device (SMBIOS system UUID).
	UUID amt.UUID
	// PID is the 8-character provisioning ID of a version 2 hello; zero otherwise.
	PID [8]byte
	// Hashes are the trusted root-certificate hashes of a version 3 hello, in the
	// order sent. An algorithm amtkit does not know is kept with its raw digest.
	Hashes []amt.CertHash
}

// Hello decoding and encoding errors; a [*Error] wraps one of them.
var (
	ErrTruncated   = errors.New("truncated")
	ErrTrailing    = errors.New("trailing bytes after the last field")
	ErrVersion     = errors.New("unsupported interface version")
	ErrFlag        = errors.New("admin-credentials-set flag out of range")
	ErrHashLength  = errors.New("hash length disagrees with its algorithm")
	ErrUnencodable = errors.New("hello cannot be encoded")
)

// Error says what was wrong with a hello and where.
type Error struct {
	Offset   int    // byte offset of the field in the packet
	Field    string // the field being read, e.g. "hash 3 length"
	Expected string // what the format requires
	Got      string // what the packet held
	Err      error  // one of the Err… values of this package
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hello: ")
	b.WriteString(e.Err.Error())
	b.WriteString(" at offset ")
	b.WriteString(strconv.Itoa(e.Offset))
	if e.Field != "" {
		b.WriteString(" (")
		b.WriteString(e.Field)
		b.WriteString(")")
	}
	if e.Expected != "" {
		b.WriteString(": expected ")
		b.WriteString(e.Expected)
		b.WriteString(", got ")
		b.WriteString(e.Got)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func truncated(off int, field string, need, have int) error {
	return &Error{Offset: off, Field: field, Err: ErrTruncated,
		Expected: strconv.Itoa(need) + " bytes", Got: strconv.Itoa(have)}
}

// Parse decodes a hello packet. It is strict: a truncated packet, an unknown
// interface version, a flag other than 0 or 1, a hash whose length disagrees with
// its algorithm, a count that disagrees with the bytes and trailing bytes are all
// errors ([*Error] naming the offset). A hash with an algorithm amtkit does not
// know is kept as raw bytes if its length byte is consistent with the packet.
//
// Parse never panics, does not retain b, and allocates three times for a
// version 3 hello (the Message, its hash list and one buffer for all digests). A
// server that decodes many hellos and keeps few can use a [Decoder] instead,
// which reuses its memory.
func Parse(b []byte) (*Message, error) {
	var f fields
	if err := decode(b, &f); err != nil {
		return nil, err
	}
	h := new(Message)
	f.fill(h)
	if f.count == 0 {
		return h, nil
	}
	// One copy of the list region backs every digest (the two header bytes of each
	// entry ride along); the packet itself is not retained.
	h.Hashes = make([]amt.CertHash, f.count)
	fillHashes(h.Hashes, append([]byte(nil), f.list...))
	return h, nil
}

// fields is what decode read from a packet: the header fields, the PID of
// version 2 and the checked hash-list region of version 3, aliasing the packet.
type fields struct {
	flag, version uint16
	retry         uint32
	uuid, pid     []byte
	count         int    // hashes in list (0 for version 2)
	list          []byte // the entries after the count byte
}

// decode checks every rule of Parse with one pass of a bounds-checked reader
// and sets f to what it read, without allocating on success.
func decode(b []byte, f *fields) error {
	r := wire.NewReader(b)
	var ok bool
	if !r.ReadU16(&f.flag) || !r.ReadU16(&f.version) || !r.ReadU32(&f.retry) {
		return truncated(len(b), "header", helloHeaderSize, len(b))
	}
	if f.uuid, ok = r.Bytes(16); !ok {
		return truncated(len(b), "header", helloHeaderSize, len(b))
	}
	if f.flag > 1 {
		return &Error{Offset: 0, Field: "admin credentials set", Err: ErrFlag, Expected: "0 or 1", Got: strconv.Itoa(int(f.flag))}
	}
	var count uint8
	switch f.version {
	case VersionPSK:
		if f.pid, ok = r.Bytes(helloPSKSize - helloHeaderSize); !ok {
			return truncated(len(b), "PID", helloPSKSize, len(b))
		}
		if !r.Empty() {
			return &Error{Offset: helloPSKSize, Err: ErrTrailing, Expected: "end of packet", Got: strconv.Itoa(r.Len()) + " more bytes"}
		}
		return nil
	case VersionPKI:
		if !r.ReadU8(&count) {
			return truncated(len(b), "hash count", helloHeaderSize+1, len(b))
		}
	default:
		return &Error{Offset: 2, Field: "interface version", Err: ErrVersion, Expected: "2 (PSK) or 3 (PKI)", Got: strconv.Itoa(int(f.version))}
	}
	f.list = r.Rest()
	// Each entry is the algorithm, the digest length and the digest: one Peek at
	// the two header bytes and one Skip over the entry.
	for i := 0; i < int(count); i++ {
		hdr, ok := r.Peek(2)
		if !ok {
			off := r.Offset()
			return truncated(off, "hash "+strconv.Itoa(i)+" header", off+2, len(b))
		}
		alg, n := amt.HashAlgorithm(hdr[0]), int(hdr[1])
		if size := alg.Size(); size != 0 && n != size {
			return &Error{Offset: r.Offset() + 1, Field: "hash " + strconv.Itoa(i) + " length", Err: ErrHashLength,
				Expected: strconv.Itoa(size) + " for " + alg.String(), Got: strconv.Itoa(n)}
		}
		if !r.Skip(2 + n) {
			off := r.Offset() + 2
			return truncated(off, "hash "+strconv.Itoa(i)+" value", off+n, len(b))
		}
	}
	if !r.Empty() {
		return &Error{Offset: r.Offset(), Err: ErrTrailing,
			Expected: "end of packet after " + strconv.Itoa(int(count)) + " hashes", Got: strconv.Itoa(r.Len()) + " more bytes"}
	}
	f.count = int(count)
	return nil
}

// fill sets the header fields (and the PID of version 2) of h from a
// successful decode; the hash list is left to the caller.
func (f *fields) fill(h *Message) {
	*h = Message{AdminCredentialsSet: f.flag == 1, Version: f.version, RetryCount: f.retry}
	h.UUID, _ = amt.UUIDFromWire(f.uuid) // 16 bytes
	copy(h.PID[:], f.pid)
}

// fillHashes points each entry of dst at its digest in list, a copy of the
// list region decode checked (entries of algorithm, length, digest).
func fillHashes(dst []amt.CertHash, list []byte) {
	pos := 0
	for i := range dst {
		n := int(list[pos+1])
		dst[i] = amt.CertHash{Alg: amt.HashAlgorithm(list[pos]), Sum: list[pos+2 : pos+2+n : pos+2+n]}
		pos += 2 + n
	}
}

// UnmarshalBinary implements [encoding.BinaryUnmarshaler] with [Parse]: h is
// replaced by a freshly allocated decode of b, and left unchanged on error.
func (h *Message) UnmarshalBinary(b []byte) error {
	p, err := Parse(b)
	if err != nil {
		return err
	}
	*h = *p
	return nil
}

// Clone returns a deep copy of h that shares no memory with it, in the same three
// allocations as [Parse]. Use it to keep a hello a [Decoder] returned.
func (h *Message) Clone() *Message {
	c := *h
	if h.Hashes == nil {
		return &c
	}
	c.Hashes = make([]amt.CertHash, len(h.Hashes))
	n := 0
	for _, x := range h.Hashes {
		n += len(x.Sum)
	}
	buf := make([]byte, 0, n)
	for i, x := range h.Hashes {
		start := len(buf)
		buf = append(buf, x.Sum...)
		c.Hashes[i] = amt.CertHash{Alg: x.Alg, Sum: buf[start:len(buf):len(buf)]}
		if x.Sum == nil {
			c.Hashes[i].Sum = nil
		}
	}
	return &c
}

// Decoder decodes hellos into memory it keeps and reuses, so that a server
// that decodes many hellos and keeps few (duplicates from a device already in a
// session, hellos from unknown devices) allocates nothing per hello once it has
// seen the largest one. Decoding is exactly as strict as [Parse].
//
// The zero value is ready to use. A Decoder is not safe for concurrent use;
// give each goroutine its own.
type Decoder struct {
	h      Message
	hashes []amt.CertHash
	buf    []byte
}

// Decode decodes b. The returned Message, its hash list and digests belong to the
// decoder and are valid only until the next call to Decode; call [Message.Clone] to
// keep them. Decode does not retain b. On error the previous result is unchanged.
func (d *Decoder) Decode(b []byte) (*Message, error) {
	var f fields
	if err := decode(b, &f); err != nil {
		return nil, err
	}
	f.fill(&d.h)
	count := f.count
	if count == 0 {
		return &d.h, nil
	}
	list := f.list
	if cap(d.buf) < len(list) {
		d.buf = make([]byte, len(list))
	}
	d.buf = d.buf[:len(list)]
	copy(d.buf, list)
	if cap(d.hashes) < count {
		d.hashes = make([]amt.CertHash, count)
	}
	d.hashes = d.hashes[:count]
	fillHashes(d.hashes, d.buf)
	d.h.Hashes = d.hashes
	return &d.h, nil
}

// AppendBinary appends the wire form of h to b ([encoding.BinaryAppender]). It
// refuses a hello that [Parse] would not return: an unknown version, hashes
// on a version 2 hello or a PID on a version 3 one, more than 255 hashes, a digest
// longer than 255 bytes or one whose length disagrees with its known algorithm.
func (h *Message) AppendBinary(b []byte) ([]byte, error) {
	if err := h.check(); err != nil {
		return b, err
	}
	var flag uint16
	if h.AdminCredentialsSet {
		flag = 1
	}
	b = binary.LittleEndian.AppendUint16(b, flag)
	b = binary.LittleEndian.AppendUint16(b, h.Version)
	b = binary.LittleEndian.AppendUint32(b, h.RetryCount)
	w := h.UUID.Wire()
	b = append(b, w[:]...)
	if h.Version == VersionPSK {
		return append(b, h.PID[:]...), nil
	}
	b = append(b, byte(len(h.Hashes)))
	for _, x := range h.Hashes {
		b = append(b, byte(x.Alg), byte(len(x.Sum)))
		b = append(b, x.Sum...)
	}
	return b, nil
}

// MarshalBinary implements [encoding.BinaryMarshaler].
func (h *Message) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil) }

func (h *Message) check() error {
	bad := func(field, expected, got string) error {
		return &Error{Field: field, Err: ErrUnencodable, Expected: expected, Got: got}
	}
	switch h.Version {
	case VersionPSK:
		if len(h.Hashes) != 0 {
			return bad("hashes", "none in a version 2 hello", strconv.Itoa(len(h.Hashes)))
		}
	case VersionPKI:
		if h.PID != [8]byte{} {
			return bad("PID", "none in a version 3 hello", "a PID")
		}
		if len(h.Hashes) > 255 {
			return bad("hash count", "at most 255", strconv.Itoa(len(h.Hashes)))
		}
		for i, x := range h.Hashes {
			if len(x.Sum) > 255 {
				return bad("hash "+strconv.Itoa(i), "at most 255 bytes", strconv.Itoa(len(x.Sum)))
			}
			if size := x.Alg.Size(); size != 0 && size != len(x.Sum) {
				return bad("hash "+strconv.Itoa(i), strconv.Itoa(size)+" bytes for "+x.Alg.String(), strconv.Itoa(len(x.Sum)))
			}
		}
	default:
		return bad("interface version", "2 or 3", strconv.Itoa(int(h.Version)))
	}
	return nil
}

// PIDString returns the PID of a version 2 hello as text (its 8 ASCII characters).
func (h *Message) PIDString() string { return string(h.PID[:]) }

// HasHash reports whether the hello lists x.
func (h *Message) HasHash(x amt.CertHash) bool {
	for _, y := range h.Hashes {
		if y.Equal(x) {
			return true
		}
	}
	return false
}

// String summarises the hello for logs, e.g.
// "hello v3 uuid=d2ffc23e-… retry=1 hashes=24".
func (h *Message) String() string {
	s := fmt.Sprintf("hello v%d uuid=%s retry=%d", h.Version, h.UUID, h.RetryCount)
	if h.Version == VersionPSK {
		return s + " pid=" + strconv.Quote(h.PIDString())
	}
	return s + " hashes=" + strconv.Itoa(len(h.Hashes))
}
