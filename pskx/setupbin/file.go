package setupbin

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/wire"
)

// FileVersion is a setup.bin format version, major<<8 | minor. Each has its own
// file-type GUID (MeshCentral amt/amt-setupbin.js); 2.0 and 2.1 share one.
type FileVersion uint16

// The file versions a BIOS accepts.
const (
	FileVersion10 FileVersion = 0x0100 // AMT 2.x: MEBx passwords, PID, PPS
	FileVersion20 FileVersion = 0x0200 // AMT 3.0: PKI settings, hashes, redirection, do-not-consume
	FileVersion21 FileVersion = 0x0201 // AMT 4.0: network, host name, provisioning server, …
	FileVersion30 FileVersion = 0x0300 // AMT 6.0: IPv6, SHA-256/384 hashes, KVM, consent
	FileVersion40 FileVersion = 0x0400 // written by ACU 12 and USBFile (SDK 20) by default
)

// Major returns the major version.
func (v FileVersion) Major() uint8 { return uint8(v >> 8) }

// Minor returns the minor version.
func (v FileVersion) Minor() uint8 { return uint8(v) }

// String returns "major.minor".
func (v FileVersion) String() string {
	return strconv.Itoa(int(v.Major())) + "." + strconv.Itoa(int(v.Minor()))
}

// Known reports whether v is one of the five versions a BIOS accepts.
func (v FileVersion) Known() bool {
	_, ok := v.guid()
	return ok
}

// guid returns the file-type GUID in its on-disk (EFI) byte order.
func (v FileVersion) guid() ([16]byte, bool) {
	switch v {
	case FileVersion10:
		return [16]byte{0xb5, 0x16, 0xfb, 0x71, 0x87, 0xcb, 0xf9, 0x4a, 0xb4, 0x41, 0xca, 0x7b, 0x38, 0x35, 0x78, 0xf9}, true
	case FileVersion20, FileVersion21:
		return [16]byte{0x96, 0xb2, 0x81, 0x58, 0xcf, 0x6b, 0x72, 0x4c, 0x8b, 0x91, 0xa1, 0x5e, 0x51, 0x2e, 0x99, 0xc4}, true
	case FileVersion30:
		return [16]byte{0xa7, 0xf7, 0xf6, 0xc6, 0x89, 0xc4, 0xf6, 0x47, 0x93, 0xed, 0xe2, 0xe5, 0x02, 0x0d, 0xa5, 0x1d}, true
	case FileVersion40:
		return [16]byte{0xaa, 0xa9, 0x34, 0x52, 0xe1, 0x29, 0xa9, 0x44, 0x8d, 0x4d, 0x08, 0x1c, 0x07, 0xb9, 0x63, 0x53}, true
	}
	return [16]byte{}, false
}

// FileFlags are the setup.bin header flags.
type FileFlags uint16

// File flags.
const (
	// FlagDontConsume (file versions 2.0 and later) tells the BIOS not to consume
	// records: the same record configures every machine the stick is used on.
	FlagDontConsume FileFlags = 1 << 0
)

// RecordFlags are a data record's flags.
type RecordFlags uint32

// Record flags.
const (
	RecordValid     RecordFlags = 1 << 0 // the BIOS applies only valid records
	RecordScrambled RecordFlags = 1 << 1 // the body is obfuscated by adding 17 to every byte
)

// Sizes of the setup.bin structures.
const (
	ChunkSize         = 512 // every header and record is a whole number of 512-byte chunks
	recordHeaderSize  = 24
	fileHeaderMinSize = 42 // fixed fields and the module list's terminator
	maxRecordChunks   = 10 // the UEFI MEBx refuses larger records
	scrambleValue     = 17
	entryHeaderSize   = 8
	maxModules        = (ChunkSize-40)/2 - 1 // module list area minus its terminator
)

// SetupFile is a USB provisioning file (setup.bin): a header and fixed-size data
// records, each a list of variables for one machine (or, with
// [FlagDontConsume], for every machine). See docs/pskx.md for the format, which
// follows MeshCentral's amt/amt-setupbin.js and the files Intel's ACU writes.
//
// Decode with [Decode]; encode with [File.MarshalBinary] or
// [File.AppendBinary], which refuse what a BIOS would refuse (see
// [File.Check]).
type File struct {
	Version FileVersion
	Flags   FileFlags
	// Consumed counts the records the BIOS has used: it applies record
	// Records[Consumed] next, and increments Consumed in place on the stick.
	Consumed uint32
	// RecordChunks is the size of every data record in 512-byte chunks (1–10). Zero
	// lets the encoder choose the smallest size that holds every record.
	RecordChunks uint16
	// ModuleList is the header's module list as decoded. The encoder ignores it and
	// writes the modules the entries use (as Intel's ACU does).
	ModuleList []uint16
	Records    []*DataRecord
}

// DataRecord is one record of a setup.bin file.
type DataRecord struct {
	Flags RecordFlags
	// Number is the record number written in its header; zero makes the encoder
	// number records from 1 in file order.
	Number  uint32
	Entries []Entry
}

// Valid reports whether the record carries the Valid flag.
func (r *DataRecord) Valid() bool { return r.Flags&RecordValid != 0 }

// Scrambled reports whether the record carries the Scrambled flag.
func (r *DataRecord) Scrambled() bool { return r.Flags&RecordScrambled != 0 }

// cleared reports whether r looks like a record a BIOS has consumed: no Valid flag
// and no entries. Such a record is written with an all-zero body, as the BIOS
// leaves it.
func (r *DataRecord) cleared() bool { return !r.Valid() && len(r.Entries) == 0 }

// Errors reported (inside a [*DecodeError]) by [Decode].
var (
	ErrFileSize     = errors.New("file size does not match the header's chunk counts")
	ErrFileType     = errors.New("unknown setup.bin file type GUID")
	ErrFileVersion  = errors.New("file version not accepted for this file type")
	ErrFileHeader   = errors.New("malformed file header")
	ErrRecordHeader = errors.New("malformed data record header")
	ErrEntry        = errors.New("malformed entry")
	ErrVarLength    = errors.New("illegal value length for the variable")
)

// DecodeError reports where and why a setup.bin file was refused.
type DecodeError struct {
	Record int // 0 for the file header, n for the n-th data record (1-based)
	Offset int // byte offset in the file
	Var    Var // the variable concerned, or 0
	Err    error
	Detail string // what was expected and what came
}

// Error implements error.
func (e *DecodeError) Error() string {
	where := "file header"
	if e.Record > 0 {
		where = "record " + strconv.Itoa(e.Record)
	}
	s := "setupbin: " + where + " at offset " + strconv.Itoa(e.Offset)
	if e.Var != 0 {
		s += ", " + e.Var.String()
	}
	s += ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the underlying sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(rec, off int, v Var, err error, format string, args ...any) error {
	return &DecodeError{Record: rec, Offset: off, Var: v, Err: err, Detail: fmt.Sprintf(format, args...)}
}

// Decode parses a setup.bin file strictly: the GUID must be known and
// match the version, the size must equal the header's chunk arithmetic, every
// record header must agree with the file header, every entry must lie inside
// its record with zero padding, known variables must have legal lengths, and
// everything after the end-of-entries marker must be zero. Scrambled records are
// descrambled. A consumed record (Valid flag clear, body zeroed by the BIOS)
// decodes with no entries. Unknown variables keep their bytes. [DecodeLenient]
// reads what the firmware reads.
//
// Errors are [*DecodeError] values naming the record and offset; test them with
// errors.Is against ErrFileSize, ErrFileType, ErrFileVersion, ErrFileHeader,
// ErrRecordHeader, ErrEntry and ErrVarLength.
func Decode(b []byte) (*File, error) {
	d := decoder{}
	return d.file(b)
}

// DecodeLenient parses a setup.bin file as the firmware reads it, for files
// other tools wrote: what Intel's UEFI MEBx (MebxUsbProvision.c) does not
// read or does not check is accepted and reported as a [FindingLayoutTolerated]
// warning — a header chunk count other than 1 (the first record is then at
// that many chunks), any header byte count and record number, a record type
// other than 1, a record header longer than 24 bytes (entries start after
// it), non-zero reserved fields, padding and bytes after the last entry, and
// an entry that overruns its record (the walk ends there). Values of illegal
// length are kept as they are: [File.Check] reports them. What the firmware
// itself refuses (an unknown GUID or version, a size that does not match the
// header, more records consumed than there are) is an error as in [Decode].
//
// The file it returns encodes in amtkit's canonical layout, not byte for byte
// as read.
func DecodeLenient(b []byte) (*File, amt.Findings, error) {
	d := decoder{lenient: true}
	f, err := d.file(b)
	if err != nil {
		return nil, nil, err
	}
	return f, d.tolerated, nil
}

// decoder is Decode (strict) and DecodeLenient (lenient: what the firmware
// ignores becomes a finding instead of an error).
type decoder struct {
	lenient   bool
	tolerated amt.Findings
}

// tolerate returns the error of a departure from the layout in strict mode;
// in lenient mode it records a finding and returns nil.
func (d *decoder) tolerate(rec, off int, v Var, err error, format string, args ...any) error {
	if !d.lenient {
		return decodeErr(rec, off, v, err, format, args...)
	}
	msg := fmt.Sprintf(format, args...) + " (offset " + strconv.Itoa(off) + "; the firmware does not read or check it)"
	d.tolerated = append(d.tolerated, newFinding(rec, v, FindingLayoutTolerated, amt.SeverityWarning, nil, msg))
	return nil
}

func (d *decoder) file(b []byte) (*File, error) {
	if len(b) < ChunkSize {
		return nil, decodeErr(0, len(b), 0, ErrFileSize, "expected at least %d bytes, got %d", ChunkSize, len(b))
	}
	// The fixed header fields (40 bytes) lie within the first chunk: the reads
	// cannot fail. Each is checked in file order below.
	var f File
	var guid [16]byte
	var hdrChunks, hdrBytes uint16
	var hdrRecord, count uint32
	var major, minor uint8
	var flags uint16
	hdr := wire.NewReader(b[:ChunkSize])
	g, _ := hdr.Bytes(len(guid))
	copy(guid[:], g)
	hdr.ReadU16(&hdrChunks)
	hdr.ReadU16(&hdrBytes)
	hdr.ReadU32(&hdrRecord)
	hdr.ReadU8(&major)
	hdr.ReadU8(&minor)
	hdr.ReadU16(&flags)
	hdr.ReadU32(&count)
	hdr.ReadU32(&f.Consumed)
	hdr.ReadU16(&f.RecordChunks)
	hdr.Skip(2) // reserved
	family := FileVersion(0)
	for _, v := range [...]FileVersion{FileVersion10, FileVersion20, FileVersion30, FileVersion40} {
		if g, _ := v.guid(); g == guid {
			family = v
		}
	}
	if family == 0 {
		return nil, decodeErr(0, 0, 0, ErrFileType, "% x", guid[:])
	}
	f.Version = FileVersion(uint16(major)<<8 | uint16(minor))
	if g, ok := f.Version.guid(); !ok || g != guid {
		return nil, decodeErr(0, 24, 0, ErrFileVersion, "GUID of version %v files, header says %v", family, f.Version)
	}
	// The firmware puts the first record at the header's chunk count times
	// 512 bytes.
	if hdrChunks == 0 || uint64(hdrChunks)*ChunkSize > uint64(len(b)) {
		return nil, decodeErr(0, 16, 0, ErrFileHeader, "header chunk count must be 1, got %d", hdrChunks)
	}
	if hdrChunks != 1 {
		if err := d.tolerate(0, 16, 0, ErrFileHeader, "header chunk count must be 1, got %d", hdrChunks); err != nil {
			return nil, err
		}
	}
	modsEnd := int(hdrBytes)
	if hdrBytes < fileHeaderMinSize || hdrBytes > ChunkSize || hdrBytes%2 != 0 {
		if err := d.tolerate(0, 18, 0, ErrFileHeader, "header byte count must be even and %d–%d, got %d", fileHeaderMinSize, ChunkSize, hdrBytes); err != nil {
			return nil, err
		}
		modsEnd = ChunkSize
	}
	if hdrRecord != 0 {
		if err := d.tolerate(0, 20, 0, ErrFileHeader, "header record number must be 0, got %d", hdrRecord); err != nil {
			return nil, err
		}
	}
	f.Flags = FileFlags(flags)
	if f.RecordChunks < 1 || f.RecordChunks > maxRecordChunks {
		return nil, decodeErr(0, 36, 0, ErrFileHeader, "data record chunk count must be 1–%d, got %d", maxRecordChunks, f.RecordChunks)
	}
	recSize := int(f.RecordChunks) * ChunkSize
	first := int(hdrChunks) * ChunkSize
	if want := uint64(first) + uint64(count)*uint64(recSize); want != uint64(len(b)) {
		return nil, decodeErr(0, 28, 0, ErrFileSize, "%d records of %d chunks make %d bytes, file has %d", count, f.RecordChunks, want, len(b))
	}
	if f.Consumed > count {
		return nil, decodeErr(0, 32, 0, ErrFileHeader, "%d records consumed of %d", f.Consumed, count)
	}
	// Module list: u16s from offset 40, terminated by 0 inside the header's byte count.
	mods := wire.NewReaderAt(b[hdr.Offset():modsEnd], hdr.Offset())
	for {
		var m uint16
		if !mods.ReadU16(&m) {
			if err := d.tolerate(0, mods.Offset(), 0, ErrFileHeader, "module list not terminated within the header's %d bytes", modsEnd); err != nil {
				return nil, err
			}
			f.ModuleList = nil
			break
		}
		if m == 0 {
			break
		}
		f.ModuleList = append(f.ModuleList, m)
	}
	// The size check above makes every record read succeed.
	recs := wire.NewReaderAt(b[first:], first)
	f.Records = make([]*DataRecord, 0, count)
	for i := 0; i < int(count); i++ {
		rr, _ := recs.Sub(recSize)
		r, err := d.record(rr, i+1, f.RecordChunks)
		if err != nil {
			return nil, err
		}
		f.Records = append(f.Records, r)
	}
	return &f, nil
}

// record decodes the idx-th data record (1-based) from rr, a reader over
// exactly its bytes whose offsets are those of the file.
func (d *decoder) record(rr wire.Reader, idx int, chunks uint16) (*DataRecord, error) {
	base := rr.Offset()
	var typ, flags, number uint32
	var nChunks, hdrLen uint16
	rr.ReadU32(&typ) // a record is at least one chunk: the header reads cannot fail
	rr.ReadU32(&flags)
	rr.Skip(8) // reserved
	rr.ReadU16(&nChunks)
	rr.ReadU16(&hdrLen)
	rr.ReadU32(&number)
	if typ != 1 {
		if err := d.tolerate(idx, base, 0, ErrRecordHeader, "record type must be 1 (data), got %d", typ); err != nil {
			return nil, err
		}
	}
	r := &DataRecord{Flags: RecordFlags(flags), Number: number}
	if nChunks != chunks {
		return nil, decodeErr(idx, base+16, 0, ErrRecordHeader, "record chunk count %d differs from the file header's %d", nChunks, chunks)
	}
	if hdrLen != recordHeaderSize {
		// The UEFI MEBx starts the entries at the record header's byte
		// count; one shorter than the header's fields makes no sense.
		if hdrLen < recordHeaderSize || int(hdrLen) >= int(chunks)*ChunkSize {
			return nil, decodeErr(idx, base+18, 0, ErrRecordHeader, "record header byte count must be %d, got %d", recordHeaderSize, hdrLen)
		}
		if err := d.tolerate(idx, base+18, 0, ErrRecordHeader, "record header byte count must be %d, got %d", recordHeaderSize, hdrLen); err != nil {
			return nil, err
		}
		rr.Skip(int(hdrLen) - recordHeaderSize)
	}
	raw := rr.Rest()
	if !r.Valid() && allZero(raw) {
		return r, nil // consumed: the BIOS zeroed the body
	}
	// One copy of the body per record; entry values are sub-slices of it.
	body := make([]byte, len(raw))
	if r.Scrambled() {
		for i, c := range raw {
			body[i] = c - scrambleValue
		}
	} else {
		copy(body, raw)
	}
	er := wire.NewReaderAt(body, rr.Offset())
	for !er.Empty() {
		pos := er.Offset()
		if er.Len() < entryHeaderSize {
			if !allZero(er.Rest()) {
				if err := d.tolerate(idx, pos, 0, ErrEntry, "%d trailing bytes cannot hold an entry header and are not zero", er.Len()); err != nil {
					return nil, err
				}
			}
			break
		}
		var mod, id, n, rsv uint16
		er.ReadU16(&mod)
		er.ReadU16(&id)
		er.ReadU16(&n)
		er.ReadU16(&rsv)
		v := MakeVar(mod, id)
		if mod == 0 && id == 0 {
			if n != 0 || rsv != 0 || !allZero(er.Rest()) {
				if err := d.tolerate(idx, pos, 0, ErrEntry, "bytes after the end-of-entries marker must be zero"); err != nil {
					return nil, err
				}
			}
			break
		}
		if mod == 0 || id == 0 {
			// MeshCentral's reader (amt/amt-setupbin.js) ends a record's
			// walk at an entry with either identifier 0; the lenient decoder
			// does the same, the strict one refuses it.
			if err := d.tolerate(idx, pos, v, ErrEntry, "module and variable identifiers must be non-zero"); err != nil {
				return nil, err
			}
			break
		}
		if rsv != 0 {
			if err := d.tolerate(idx, pos+6, v, ErrEntry, "reserved field must be 0, got %d", rsv); err != nil {
				return nil, err
			}
		}
		value, ok := er.Bytes(int(n))
		if !ok {
			if err := d.tolerate(idx, pos+4, v, ErrEntry, "%d-byte value overruns the record by %d bytes", n, int(n)-er.Len()); err != nil {
				return nil, err
			}
			break // the firmware's walk ends here
		}
		if !d.lenient && !lengthOK(v, int(n)) {
			return nil, decodeErr(idx, pos+4, v, ErrVarLength, "expected %s, got %d", lengthRule(v), n)
		}
		if v == VarCustomRootHash && !d.lenient {
			if p := customRootHashProblem(value); p != "" {
				return nil, &DecodeError{Record: idx, Offset: pos + entryHeaderSize, Var: v, Err: ErrVarLength, Detail: p}
			}
		}
		end := er.Offset()
		if padding, _ := er.Bytes(min(pad4(int(n)), er.Len())); !allZero(padding) {
			if err := d.tolerate(idx, end, v, ErrEntry, "padding after the value must be zero"); err != nil {
				return nil, err
			}
		}
		r.Entries = append(r.Entries, Entry{Var: v, Value: value})
	}
	return r, nil
}

func pad4(n int) int { return (4 - n%4) % 4 }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// UnmarshalBinary implements [encoding.BinaryUnmarshaler] with [Decode].
func (f *File) UnmarshalBinary(b []byte) error {
	g, err := Decode(b)
	if err != nil {
		return err
	}
	*f = *g
	return nil
}

// MarshalBinary implements [encoding.BinaryMarshaler]; see [File.AppendBinary].
func (f *File) MarshalBinary() ([]byte, error) { return f.AppendBinary(nil) }

// EncodeError is returned by the encoder for a file a BIOS would refuse; Finding
// says which rule and where.
type EncodeError struct {
	Finding amt.Finding
}

// Error implements error.
func (e *EncodeError) Error() string {
	return "setupbin: refusing to encode setup.bin: " + e.Finding.String()
}

// Unwrap returns the underlying sentinel.
func (e *EncodeError) Unwrap() error { return e.Finding.Err }

// AppendBinary appends the encoded file to b. It first runs [File.Check]
// with no target and refuses the file with an [*EncodeError] at the first
// error-severity finding. It then writes what Intel's ACU writes:
//
//   - a one-chunk header with the module list of the modules the entries use and
//     a header byte count of 42 + 2×modules;
//   - every record the same size ([File.RecordChunks] chunks, or the fewest
//     that hold the largest record), numbered from 1 unless Number is set;
//   - entries sorted by module and variable, which puts the current and then the
//     new MEBx password first and the provisioning halt/start after the PKI
//     settings and server address (repeated variables keep their order);
//   - values padded with zeros to 4 bytes, the rest of the record zero, and the
//     body scrambled (+17 per byte) for records with the Scrambled flag;
//   - a record without the Valid flag and without entries as a consumed record:
//     an all-zero body.
func (f *File) AppendBinary(b []byte) ([]byte, error) {
	if err := firstError(f.Check(CheckOptions{})); err != nil {
		return b, err
	}
	chunks := f.RecordChunks
	if chunks == 0 {
		chunks = 1
		for _, r := range f.Records {
			chunks = max(chunks, uint16(recordChunksNeeded(r)))
		}
	}
	recSize := int(chunks) * ChunkSize
	mods := f.Modules()
	le := binary.LittleEndian
	start := len(b)
	b = slices.Grow(b, ChunkSize+len(f.Records)*recSize)
	guid, _ := f.Version.guid()
	b = append(b, guid[:]...)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, uint16(fileHeaderMinSize+2*len(mods)))
	b = le.AppendUint32(b, 0)
	b = append(b, f.Version.Major(), f.Version.Minor())
	b = le.AppendUint16(b, uint16(f.Flags))
	b = le.AppendUint32(b, uint32(len(f.Records)))
	b = le.AppendUint32(b, f.Consumed)
	b = le.AppendUint16(b, chunks)
	b = le.AppendUint16(b, 0)
	for _, m := range mods {
		b = le.AppendUint16(b, m)
	}
	b = append(b, make([]byte, start+ChunkSize-len(b))...)
	for i, r := range f.Records {
		rs := len(b)
		num := r.Number
		if num == 0 {
			num = uint32(i + 1)
		}
		b = le.AppendUint32(b, 1)
		b = le.AppendUint32(b, uint32(r.Flags))
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint16(b, chunks)
		b = le.AppendUint16(b, recordHeaderSize)
		b = le.AppendUint32(b, num)
		body := len(b)
		for _, e := range sortedEntries(r.Entries) {
			b = le.AppendUint16(b, e.Var.Module())
			b = le.AppendUint16(b, e.Var.ID())
			b = le.AppendUint16(b, uint16(len(e.Value)))
			b = le.AppendUint16(b, 0)
			b = append(b, e.Value...)
			b = append(b, make([]byte, pad4(len(e.Value)))...)
		}
		b = append(b, make([]byte, rs+recSize-len(b))...)
		if r.Scrambled() && !r.cleared() {
			for k := body; k < len(b); k++ {
				b[k] += scrambleValue
			}
		}
	}
	return b, nil
}

// recordChunksNeeded returns the chunks r's entries need.
func recordChunksNeeded(r *DataRecord) int {
	n := recordHeaderSize
	for _, e := range r.Entries {
		n += entryHeaderSize + len(e.Value) + pad4(len(e.Value))
	}
	return (n + ChunkSize - 1) / ChunkSize
}

// sortedEntries returns the entries in the order the encoder writes them.
func sortedEntries(es []Entry) []Entry {
	if slices.IsSortedFunc(es, compareEntries) {
		return es
	}
	out := slices.Clone(es)
	slices.SortStableFunc(out, compareEntries)
	return out
}

func compareEntries(a, b Entry) int { return cmp.Compare(a.Var, b.Var) }

// Modules returns the modules the records' entries use, ascending: the module
// list the encoder writes.
func (f *File) Modules() []uint16 {
	var mods []uint16
	for _, r := range f.Records {
		if r == nil {
			continue
		}
		for _, e := range r.Entries {
			if !slices.Contains(mods, e.Var.Module()) {
				mods = append(mods, e.Var.Module())
			}
		}
	}
	slices.Sort(mods)
	return mods
}

// Consumable reports whether the BIOS consumes records of this file (file
// version 1.0 always; later versions unless [FlagDontConsume] is set).
func (f *File) Consumable() bool {
	return f.Version == FileVersion10 || f.Flags&FlagDontConsume == 0
}

// Remaining returns how many records the BIOS has not yet consumed.
func (f *File) Remaining() int {
	if int(f.Consumed) >= len(f.Records) {
		return 0
	}
	return len(f.Records) - int(f.Consumed)
}

// Next returns the record a BIOS would apply next (Records[Consumed]) and its
// index, or ok == false when every record is consumed. The BIOS does not skip
// records: if that record lacks the Valid flag, nothing is applied.
func (f *File) Next() (r *DataRecord, index int, ok bool) {
	if int(f.Consumed) >= len(f.Records) {
		return nil, 0, false
	}
	return f.Records[f.Consumed], int(f.Consumed), true
}

// IsConsumed reports whether record i (0-based) lies before the consumed counter.
func (f *File) IsConsumed(i int) bool {
	return i >= 0 && i < int(f.Consumed) && i < len(f.Records)
}

// ErrNothingToConsume is returned by [File.Consume] when no record is left
// or the file is not consumable.
var ErrNothingToConsume = errors.New("setupbin: no record to consume")

// Consume does to the file what a BIOS does after the MEBx applied the next
// record successfully: it clears the record's Valid flag, drops its entries (the
// BIOS zeroes the body) and increments Consumed. It returns the index of the
// consumed record. A file with [FlagDontConsume] (version 2.0+) is left alone and
// [ErrNothingToConsume] returned, as for a file with no record left.
func (f *File) Consume() (int, error) {
	r, i, ok := f.Next()
	if !ok || !f.Consumable() {
		return 0, ErrNothingToConsume
	}
	r.Flags &^= RecordValid
	r.Entries = nil
	f.Consumed++
	return i, nil
}
