package setupbin_test

import (
	"encoding/binary"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/pskx/setupbin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lenientBase is an unscrambled version 4.0 file of one record: the current
// and new MEBx passwords and an unknown 9-byte variable 9/9 whose identifiers
// a case may rewrite. Entries start at 512+24; the first (1/1 "admin") has
// its reserved field at 512+24+6 and its padding at 512+24+8+5.
func lenientBase(t *testing.T) []byte {
	r := validRecord(t)
	r.Set(setupbin.MakeVar(9, 9), []byte("0000-037M"))
	f := &setupbin.File{Version: setupbin.FileVersion40, Records: []*setupbin.DataRecord{r}}
	b, err := f.MarshalBinary()
	require.NoError(t, err)
	return b
}

// Files other tools write depart from amtkit's layout where the firmware does
// not look (Intel's UEFI MEBx, MebxUsbProvision.c): Decode refuses them,
// DecodeLenient reads them and says what it tolerated.
func TestDecodeLenient(t *testing.T) {
	const rec = 512
	const entries = rec + 24
	u16 := func(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
	u32 := func(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	// lastEntry finds the 9/9 entry's offset.
	lastEntry := func(b []byte) int {
		for off := entries; off+8 <= len(b); {
			mod, id, n := binary.LittleEndian.Uint16(b[off:]), binary.LittleEndian.Uint16(b[off+2:]), int(binary.LittleEndian.Uint16(b[off+4:]))
			if mod == 9 && id == 9 {
				return off
			}
			off += 8 + n + (4-n%4)%4
		}
		t.Fatal("no 9/9 entry")
		return 0
	}
	for _, tc := range []struct {
		name    string
		edit    func(b []byte) []byte
		strict  error // what Decode says
		offset  int   // of the tolerated departure
		entries int   // entries read leniently
		check   func(t *testing.T, f *setupbin.File)
	}{
		{name: "header byte count 0", edit: func(b []byte) []byte { u16(b, 18, 0); return b },
			strict: setupbin.ErrFileHeader, offset: 18, entries: 3},
		{name: "header record number 7", edit: func(b []byte) []byte { u32(b, 20, 7); return b },
			strict: setupbin.ErrFileHeader, offset: 20, entries: 3},
		{name: "record type 2", edit: func(b []byte) []byte { u32(b, rec, 2); return b },
			strict: setupbin.ErrRecordHeader, offset: rec, entries: 3},
		{name: "reserved field set", edit: func(b []byte) []byte { u16(b, entries+6, 1); return b },
			strict: setupbin.ErrEntry, offset: entries + 6, entries: 3},
		{name: "padding not zero", edit: func(b []byte) []byte { b[entries+8+5] = 0xaa; return b },
			strict: setupbin.ErrEntry, offset: entries + 8 + 5, entries: 3},
		{name: "bytes after the last entry", edit: func(b []byte) []byte { b[len(b)-1] = 1; return b },
			strict: setupbin.ErrEntry, entries: 3},
		{name: "an entry overruns the record: the walk ends", edit: func(b []byte) []byte { u16(b, lastEntry(b)+4, 600); return b },
			strict: setupbin.ErrEntry, entries: 2},
		{name: "header of two chunks", edit: func(b []byte) []byte {
			out := append(append(append([]byte(nil), b[:rec]...), make([]byte, rec)...), b[rec:]...)
			u16(out, 16, 2)
			return out
		}, strict: setupbin.ErrFileHeader, offset: 16, entries: 3},
		{name: "record header of 32 bytes", edit: func(b []byte) []byte {
			body := append([]byte(nil), b[entries:len(b)-8]...)
			copy(b[entries+8:], body)
			clear(b[entries : entries+8])
			u16(b, rec+18, 32)
			return b
		}, strict: setupbin.ErrRecordHeader, offset: rec + 18, entries: 3},
		{name: "PID with its dash (9 bytes)", edit: func(b []byte) []byte {
			off := lastEntry(b)
			u16(b, off, 2)
			u16(b, off+2, 1)
			return b
		}, strict: setupbin.ErrVarLength, entries: 3, check: func(t *testing.T, f *setupbin.File) {
			v, ok := f.Records[0].Get(setupbin.VarPID)
			require.True(t, ok)
			assert.Equal(t, "0000-037M", string(v), "kept as it is")
			fs := f.Check(setupbin.CheckOptions{})
			assert.Contains(t, findingCodes(fs), setupbin.FindingVarLength, "Check reports the length")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(lenientBase(t))
			_, err := setupbin.Decode(b)
			require.ErrorIs(t, err, tc.strict, "Decode refuses it")
			f, fs, err := setupbin.DecodeLenient(b)
			require.NoError(t, err)
			require.Len(t, f.Records, 1)
			assert.Len(t, f.Records[0].Entries, tc.entries)
			cur, ok := f.Records[0].CurrentMEBxPassword()
			require.True(t, ok)
			assert.Equal(t, "admin", cur.Reveal())
			if tc.strict == setupbin.ErrVarLength {
				assert.Empty(t, fs, "nothing of the layout was tolerated")
			} else {
				require.NotEmpty(t, fs)
				for _, x := range fs {
					assert.Equal(t, setupbin.FindingLayoutTolerated, x.Code)
					assert.Equal(t, amt.SeverityWarning, x.Severity)
				}
				if tc.offset != 0 {
					assert.Contains(t, fs[0].Message, "offset "+itoa(tc.offset))
				}
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// What the firmware refuses stays an error, and a file Decode reads is read
// the same, with nothing tolerated.
func TestDecodeLenientRefusesWhatFirmwareRefuses(t *testing.T) {
	b := lenientBase(t)
	f, err := setupbin.Decode(b)
	require.NoError(t, err)
	g, fs, err := setupbin.DecodeLenient(b)
	require.NoError(t, err)
	assert.Empty(t, fs)
	assert.Equal(t, f, g)

	_, _, err = setupbin.DecodeLenient(b[:len(b)-1])
	assert.ErrorIs(t, err, setupbin.ErrFileSize)
	bad := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(bad[32:], 2) // consumed 2 of 1
	_, _, err = setupbin.DecodeLenient(bad)
	assert.ErrorIs(t, err, setupbin.ErrFileHeader)
	bad = append([]byte(nil), b...)
	bad[0] ^= 0xff // unknown GUID
	_, _, err = setupbin.DecodeLenient(bad)
	assert.ErrorIs(t, err, setupbin.ErrFileType)
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// FuzzDecodeLenient: DecodeLenient never panics, agrees with Decode on every
// file Decode reads (nothing tolerated), and a file it reads whose Check finds
// no error encodes to one Decode reads.
func FuzzDecodeLenient(f *testing.F) {
	vf := testvectors.Load[setupFileVec](f, "pskx_setupbin")
	for _, v := range vf.Vectors {
		f.Add([]byte(v.File))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		strict, serr := setupbin.Decode(b)
		lf, fs, err := setupbin.DecodeLenient(b)
		if serr == nil {
			require.NoError(t, err)
			require.Empty(t, fs)
			require.Equal(t, strict, lf)
			return
		}
		if err != nil {
			var de *setupbin.DecodeError
			require.ErrorAs(t, err, &de)
			return
		}
		if lf.Check(setupbin.CheckOptions{}).Worst() >= amt.SeverityError {
			return
		}
		out, err := lf.MarshalBinary()
		require.NoError(t, err)
		_, err = setupbin.Decode(out)
		require.NoError(t, err)
	})
}
