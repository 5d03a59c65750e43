package setupbin_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

// --- shared real files -------------------------------------------------------

func TestACUFileDecodesAndReencodesByteForByte(t *testing.T) {
	raw := testvectors.SharedFile(t, "setupbin-acu-default-v4.bin")
	sum := sha256.Sum256(raw)
	require.Equal(t, "366c6376a96c748b11980f7adc74d8cc6947e8d1cc35544245a4de4084965ac5", hex.EncodeToString(sum[:]))

	f, err := setupbin.Decode(raw)
	require.NoError(t, err)
	// Expected content: read from the file by hand (rgl/intel-amt-notes
	// Setup-default.bin, written by Intel's ACU 12.1).
	assert.Equal(t, setupbin.FileVersion40, f.Version)
	assert.Equal(t, setupbin.FlagDontConsume, f.Flags)
	assert.False(t, f.Consumable())
	assert.Equal(t, uint32(0), f.Consumed)
	assert.Equal(t, uint16(1), f.RecordChunks)
	assert.Equal(t, []uint16{1, 2}, f.ModuleList)
	require.Len(t, f.Records, 1)
	r := f.Records[0]
	assert.Equal(t, setupbin.RecordValid|setupbin.RecordScrambled, r.Flags)
	assert.Equal(t, uint32(1), r.Number)

	cur, ok := r.CurrentMEBxPassword()
	require.True(t, ok)
	assert.Equal(t, "admin", cur.Reveal())
	nw, ok := r.NewMEBxPassword()
	require.True(t, ok)
	assert.Equal(t, "HeyH0Password!", nw.Reveal())
	pp, ok := r.PowerPackage()
	require.True(t, ok)
	assert.Equal(t, "46732273-dc23-2f43-a98a-13d37982d855", pp.String())
	dhcp, ok := r.DHCP()
	require.True(t, ok)
	assert.Equal(t, setupbin.DHCPEnabled, dhcp)
	for v, want := range map[setupbin.Var]uint8{
		setupbin.VarSharedFQDN: 1, setupbin.VarKVM: 1, setupbin.VarUserConsent: 0,
		setupbin.VarRemoteITConsent: 1, setupbin.VarManualSetup: 1,
	} {
		got, ok := r.Uint8(v)
		require.True(t, ok, v.String())
		assert.Equal(t, want, got, v.String())
	}
	vars := make([]string, len(r.Entries))
	for i, e := range r.Entries {
		vars[i] = fmt.Sprintf("%d/%d", e.Var.Module(), e.Var.ID())
	}
	assert.Equal(t, []string{"1/1", "1/2", "1/6", "2/13", "2/23", "2/25", "2/26", "2/27", "2/29"}, vars)

	out, err := f.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, raw, out, "ACU file must re-encode byte for byte")

	// No error-severity finding on a file a BIOS accepted.
	for _, fd := range f.Check(setupbin.CheckOptions{Target: amt.MustParseVersion("12.0")}) {
		assert.Equal(t, amt.SeverityWarning, fd.Severity, fd.String())
	}
	// Printing the file never shows the passwords.
	s := fmt.Sprintf("%v %+v", f, f.Records[0])
	assert.NotContains(t, s, "HeyH0")
	assert.NotContains(t, s, "admin")
}

func TestMeshCommanderFileDecodes(t *testing.T) {
	raw := testvectors.SharedFile(t, "setupbin-meshcommander-v4.bin")
	f, err := setupbin.Decode(raw)
	require.NoError(t, err)
	assert.Empty(t, f.ModuleList, "MeshCommander left the module list empty")
	r := f.Records[0]
	sel, ok := r.Uint8(setupbin.VarManageabilitySelection)
	require.True(t, ok)
	assert.Equal(t, uint8(1), sel)
	red, ok := r.Redirection()
	require.True(t, ok)
	assert.Equal(t, setupbin.RedirectSOL|setupbin.RedirectStorage|setupbin.RedirectUserPasswordAuth, red)

	// Re-encoding writes the module list (so the bytes differ) but keeps the content.
	out, err := f.MarshalBinary()
	require.NoError(t, err)
	g, err := setupbin.Decode(out)
	require.NoError(t, err)
	assert.Equal(t, []uint16{1, 2}, g.ModuleList)
	assert.Equal(t, f.Records, g.Records)
}

func TestSharedFilesEveryStrictPrefixFails(t *testing.T) {
	for _, name := range []string{"setupbin-acu-default-v4.bin", "setupbin-meshcommander-v4.bin"} {
		raw := testvectors.SharedFile(t, name)
		for n := 0; n < len(raw); n++ {
			_, err := setupbin.Decode(raw[:n])
			require.ErrorIs(t, err, setupbin.ErrFileSize, "%s prefix %d", name, n)
		}
	}
}

// --- constructed vectors -----------------------------------------------------

type setupEntryVec struct {
	Module uint16          `json:"module"`
	Var    uint16          `json:"var"`
	Value  testvectors.Hex `json:"value"`
}

type setupRecordVec struct {
	Flags   uint32          `json:"flags"`
	Number  uint32          `json:"number"`
	Entries []setupEntryVec `json:"entries"`
}

type setupFileVec struct {
	Name         string           `json:"name"`
	Version      string           `json:"version"`
	Flags        uint16           `json:"flags"`
	Consumed     uint32           `json:"consumed"`
	RecordChunks uint16           `json:"record_chunks"`
	Records      []setupRecordVec `json:"records"`
	File         testvectors.Hex  `json:"file"`
}

func (v setupFileVec) setupFile(t *testing.T) *setupbin.File {
	maj, min, ok := strings.Cut(v.Version, ".")
	require.True(t, ok)
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	f := &setupbin.File{
		Version: setupbin.FileVersion(a<<8 | b), Flags: setupbin.FileFlags(v.Flags),
		Consumed: v.Consumed, RecordChunks: v.RecordChunks,
	}
	for _, rv := range v.Records {
		r := &setupbin.DataRecord{Flags: setupbin.RecordFlags(rv.Flags), Number: rv.Number}
		for _, e := range rv.Entries {
			r.Add(setupbin.MakeVar(e.Module, e.Var), e.Value)
		}
		f.Records = append(f.Records, r)
	}
	return f
}

func TestConstructedSetupFiles(t *testing.T) {
	vf := testvectors.Load[setupFileVec](t, "pskx_setupbin")
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			want := v.setupFile(t)
			// Encode: byte for byte what the independent encoder wrote.
			out, err := want.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(v.File), hex.EncodeToString(out))

			// Decode: same records; entries in file (sorted) order.
			got, err := setupbin.Decode(v.File)
			require.NoError(t, err)
			assert.Equal(t, want.Version, got.Version)
			assert.Equal(t, want.Flags, got.Flags)
			assert.Equal(t, want.Consumed, got.Consumed)
			require.Len(t, got.Records, len(want.Records))
			for i, r := range got.Records {
				assert.Equal(t, want.Records[i].Flags, r.Flags)
				assert.Equal(t, uint32(i+1), r.Number)
				assert.ElementsMatch(t, want.Records[i].Entries, r.Entries)
				assert.True(t, isSortedByVar(r.Entries), "decoded entries follow the file's sorted order")
			}
			// Round trip of the decoded form.
			again, err := got.MarshalBinary()
			require.NoError(t, err)
			assert.Equal(t, []byte(v.File), again)
			// Every strict prefix fails.
			for n := 0; n < len(v.File); n += 7 {
				_, err := setupbin.Decode(v.File[:n])
				require.Error(t, err, "prefix %d", n)
			}
		})
	}
}

func isSortedByVar(es []setupbin.Entry) bool {
	for i := 1; i < len(es); i++ {
		if es[i-1].Var > es[i].Var {
			return false
		}
	}
	return true
}

func loadSetupVector(t *testing.T, prefix string) setupFileVec {
	t.Helper()
	for _, v := range testvectors.Load[setupFileVec](t, "pskx_setupbin").Vectors {
		if strings.HasPrefix(v.Name, prefix) {
			return v
		}
	}
	t.Fatalf("no vector %q", prefix)
	return setupFileVec{}
}

func TestConstructedTypedAccessors(t *testing.T) {
	t.Run("v1 PSK", func(t *testing.T) {
		f, err := setupbin.Decode(loadSetupVector(t, "v1.0 PSK batch").File)
		require.NoError(t, err)
		assert.True(t, f.Consumable())
		p, err := f.Records[0].Pair()
		require.NoError(t, err)
		assert.Equal(t, "0000-037M", p.PID.String())
		assert.Equal(t, "NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ", p.PPS.RevealGrouped())
		assert.Equal(t, "P@ssw0rd1", p.MEBxPassword.Reveal())
		// Scrambled body: the first entry header 01 00 01 00 05 00 00 00 is stored +17.
		assert.Equal(t, "1211121116111111", hex.EncodeToString(loadSetupVector(t, "v1.0 PSK batch").File[512+24:512+32]))
	})
	t.Run("v1 consumed", func(t *testing.T) {
		raw := loadSetupVector(t, "v1.0, first record consumed").File
		f, err := setupbin.Decode(raw)
		require.NoError(t, err)
		assert.Empty(t, f.Records[0].Entries)
		assert.False(t, f.Records[0].Valid())
		assert.True(t, f.IsConsumed(0))
		assert.False(t, f.IsConsumed(1))
		assert.Equal(t, 1, f.Remaining())
		r, i, ok := f.Next()
		require.True(t, ok)
		assert.Equal(t, 1, i)
		pid, err := r.PID()
		require.NoError(t, err)
		assert.Equal(t, "ABCDEFG8", pid.Compact())
		assert.True(t, allZeroBytes(raw[512+24:1024]), "a consumed record's body is zero")
	})
	t.Run("v2.0 PKI", func(t *testing.T) {
		f, err := setupbin.Decode(loadSetupVector(t, "v2.0 PKI").File)
		require.NoError(t, err)
		r := f.Records[0]
		s, ok := r.PKIDNSSuffix()
		require.True(t, ok)
		assert.Equal(t, "vpro.example.com", s)
		hs, err := r.CustomRootHashes()
		require.NoError(t, err)
		require.Len(t, hs, 1)
		assert.Equal(t, amt.HashSHA1, hs[0].Hash.Alg)
		assert.Equal(t, "amtkit test root", hs[0].Name)
		cfg, ok := r.UserCertsConfig()
		require.True(t, ok)
		assert.Equal(t, setupbin.UserCertsEnable, cfg)
		red, _ := r.Redirection()
		assert.Equal(t, "SOL+storage", red.String())
		// The vector lists 2/10 first; the file has it after 1/x and 2/3, 2/7, 2/8.
		assert.Equal(t, setupbin.VarCurrentMEBxPassword, r.Entries[0].Var)
		assert.Equal(t, setupbin.VarNewMEBxPassword, r.Entries[1].Var)
	})
	t.Run("v2.1 network", func(t *testing.T) {
		raw := loadSetupVector(t, "v2.1 network").File
		f, err := setupbin.Decode(raw)
		require.NoError(t, err)
		r := f.Records[0]
		a, ok := r.ProvisioningServerAddress()
		require.True(t, ok)
		assert.Equal(t, netip.MustParseAddr("192.168.1.10"), a)
		port, ok := r.ProvisioningServerPort()
		require.True(t, ok)
		assert.Equal(t, uint16(9971), port)
		ito, ok := r.IdleTimeout()
		require.True(t, ok)
		assert.Equal(t, uint32(300), ito)
		st, ok := r.StaticIPv4()
		require.True(t, ok)
		assert.Equal(t, setupbin.StaticIPv4{
			Address: netip.MustParseAddr("10.0.0.5"), Mask: netip.MustParseAddr("255.255.255.0"),
			Gateway: netip.MustParseAddr("10.0.0.1"), DNS1: netip.MustParseAddr("10.0.0.53"), DNS2: netip.MustParseAddr("10.0.0.54"),
		}, st)
		h, _ := r.Hostname()
		d, _ := r.DomainName()
		assert.Equal(t, "pc-0042.corp.example.com", h+"."+d)
		dhcp, _ := r.DHCP()
		assert.Equal(t, setupbin.DHCPDisabled, dhcp)
	})
	t.Run("v3.0 bare metal", func(t *testing.T) {
		f, err := setupbin.Decode(loadSetupVector(t, "v3.0").File)
		require.NoError(t, err)
		r := f.Records[0]
		a, _ := r.ProvisioningServerAddress()
		assert.Equal(t, netip.MustParseAddr("2001:db8::10"), a)
		act, ok := r.ProvisioningAction()
		require.True(t, ok)
		assert.Equal(t, setupbin.ProvisioningStart, act)
		c, _ := r.UserConsent()
		assert.Equal(t, setupbin.ConsentAll, c)
		unk, ok := r.Get(setupbin.MakeVar(3, 7))
		require.True(t, ok)
		assert.Equal(t, []byte{1, 2, 3, 4, 5}, unk)
		// Halt/start is written after the suffix and the server address.
		assert.Equal(t, setupbin.VarProvisioningAction, r.Entries[len(r.Entries)-2].Var)
		codes := findingCodes(f.Check(setupbin.CheckOptions{}))
		assert.Contains(t, codes, setupbin.FindingVarUnknown)
	})
	t.Run("v4.0 two chunks", func(t *testing.T) {
		v := loadSetupVector(t, "v4.0 two-chunk")
		require.Len(t, v.File, 3*512)
		f, err := setupbin.Decode(v.File)
		require.NoError(t, err)
		assert.Equal(t, uint16(2), f.RecordChunks)
		hs, err := f.Records[0].CustomRootHashes()
		require.NoError(t, err)
		require.Len(t, hs, 3)
		assert.Equal(t, strings.Repeat("C", 31), hs[2].Name)
		// With RecordChunks zero, the encoder picks 2 by itself.
		f.RecordChunks = 0
		out, err := f.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, []byte(v.File), out)
	})
}

func allZeroBytes(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

func findingCodes(fs amt.Findings) []amt.FindingCode {
	var out []amt.FindingCode
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

// --- strict decoding ---------------------------------------------------------

func TestDecodeStrictErrors(t *testing.T) {
	base := loadSetupVector(t, "v2.1 network").File // one scrambled record, 1024 bytes
	plain := loadSetupVector(t, "v2.0 PKI").File    // one unscrambled record
	le := binary.LittleEndian
	mut := func(src []byte, f func(b []byte)) []byte {
		b := bytes.Clone(src)
		f(b)
		return b
	}
	// Entry offsets in the v2.0 file, by hand: record at 512, body at 536; 1/1 "admin"
	// (8+5+3 pad) at 536, 1/2 "N3w-Mebx!" (8+9+3) at 552, 1/3 (8+1+3) at 572, 2/3
	// "vpro.example.com" (8+16) at 584, 2/7 at 608, 2/8 (8+39+1) at 620, 2/10 at 668,
	// end marker at 680.
	tests := []struct {
		name   string
		in     []byte
		err    error
		record int
		offset int
		v      setupbin.Var
	}{
		{"empty", nil, setupbin.ErrFileSize, 0, 0, 0},
		{"short header", base[:511], setupbin.ErrFileSize, 0, 511, 0},
		{"extra chunk", append(bytes.Clone(base), make([]byte, 512)...), setupbin.ErrFileSize, 0, 28, 0},
		{"unknown GUID", mut(base, func(b []byte) { b[0] ^= 1 }), setupbin.ErrFileType, 0, 0, 0},
		{"v2 GUID says 3.0", mut(base, func(b []byte) { b[24] = 3 }), setupbin.ErrFileVersion, 0, 24, 0},
		{"v2 GUID says 2.2", mut(base, func(b []byte) { b[25] = 2 }), setupbin.ErrFileVersion, 0, 24, 0},
		{"header chunks 0", mut(base, func(b []byte) { le.PutUint16(b[16:], 0) }), setupbin.ErrFileHeader, 0, 16, 0},
		{"header bytes odd", mut(base, func(b []byte) { le.PutUint16(b[18:], 45) }), setupbin.ErrFileHeader, 0, 18, 0},
		{"header record number", mut(base, func(b []byte) { b[20] = 1 }), setupbin.ErrFileHeader, 0, 20, 0},
		{"record chunks 0", mut(base, func(b []byte) { le.PutUint16(b[36:], 0) }), setupbin.ErrFileHeader, 0, 36, 0},
		{"record chunks 11", mut(base, func(b []byte) { le.PutUint16(b[36:], 11) }), setupbin.ErrFileHeader, 0, 36, 0},
		{"consumed > count", mut(base, func(b []byte) { le.PutUint32(b[32:], 2) }), setupbin.ErrFileHeader, 0, 32, 0},
		{"module list unterminated", mut(base, func(b []byte) { le.PutUint16(b[18:], 44) }), setupbin.ErrFileHeader, 0, 44, 0},
		{"record type 0", mut(base, func(b []byte) { b[512] = 0 }), setupbin.ErrRecordHeader, 1, 512, 0},
		{"record chunk mismatch", mut(base, func(b []byte) { b[512+16] = 2 }), setupbin.ErrRecordHeader, 1, 528, 0},
		{"record header bytes", mut(base, func(b []byte) { b[512+18] = 28 }), setupbin.ErrRecordHeader, 1, 530, 0},
		{"1/1 length 33", mut(plain, func(b []byte) { le.PutUint16(b[540:], 33) }), setupbin.ErrVarLength, 1, 540, setupbin.VarCurrentMEBxPassword},
		{"entry overruns record", mut(plain, func(b []byte) { le.PutUint16(b[540:], 600) }), setupbin.ErrEntry, 1, 540, setupbin.VarCurrentMEBxPassword},
		{"1/3 length 2", mut(plain, func(b []byte) { le.PutUint16(b[576:], 2) }), setupbin.ErrVarLength, 1, 576, setupbin.VarManageabilitySelection},
		{"reserved field", mut(plain, func(b []byte) { b[542] = 1 }), setupbin.ErrEntry, 1, 542, setupbin.VarCurrentMEBxPassword},
		{"padding not zero", mut(plain, func(b []byte) { b[549] = 1 }), setupbin.ErrEntry, 1, 549, setupbin.VarCurrentMEBxPassword},
		{"module 0", mut(plain, func(b []byte) { le.PutUint16(b[536:], 0) }), setupbin.ErrEntry, 1, 536, setupbin.MakeVar(0, 1)},
		{"custom hash name length", mut(plain, func(b []byte) { b[628+21] = 15 }), setupbin.ErrVarLength, 1, 628, setupbin.VarCustomRootHash},
		{"custom hash algorithm 5", mut(plain, func(b []byte) { b[628] = 5 }), setupbin.ErrVarLength, 1, 628, setupbin.VarCustomRootHash},
		{"garbage after end marker", mut(plain, func(b []byte) { b[700] = 1 }), setupbin.ErrEntry, 1, 680, 0},
		{"short non-zero tail", mut(plain, func(b []byte) { b[1023] = 1 }), setupbin.ErrEntry, 1, 680, 0},
		{"scrambled garbage", mut(base, func(b []byte) { b[1023] = 0 }), setupbin.ErrEntry, 1, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := setupbin.Decode(tc.in)
			require.ErrorIs(t, err, tc.err)
			var de *setupbin.DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.record, de.Record)
			if tc.offset != 0 {
				assert.Equal(t, tc.offset, de.Offset)
			}
			assert.Equal(t, tc.v, de.Var)
			assert.Contains(t, err.Error(), "offset "+strconv.Itoa(de.Offset))
			assert.NotContains(t, err.Error(), "admin")
		})
	}
}

// --- encoding rules and checks -----------------------------------------------

func validRecord(t *testing.T) *setupbin.DataRecord {
	r := &setupbin.DataRecord{Flags: setupbin.RecordValid}
	require.NoError(t, r.SetCurrentMEBxPassword(amt.NewSecret("admin")))
	require.NoError(t, r.SetNewMEBxPassword(amt.NewSecret("N3w-Mebx!")))
	return r
}

func TestEncodeOrdering(t *testing.T) {
	r := &setupbin.DataRecord{Flags: setupbin.RecordValid}
	require.NoError(t, r.SetProvisioningAction(setupbin.ProvisioningStart))
	require.NoError(t, r.SetProvisioningServerAddress(netip.MustParseAddr("10.1.2.3")))
	require.NoError(t, r.SetNewMEBxPassword(amt.NewSecret("N3w-Mebx!")))
	require.NoError(t, r.SetPKIDNSSuffix("example.com"))
	require.NoError(t, r.SetCurrentMEBxPassword(amt.NewSecret("admin")))
	f := &setupbin.File{Version: setupbin.FileVersion30, Records: []*setupbin.DataRecord{r}}
	out, err := f.MarshalBinary()
	require.NoError(t, err)
	// Walk the entry headers by hand: 1/1 (5 → 8+8), 1/2 (9 → 8+12), 2/3 (11 → 8+12),
	// 2/17 (4 → 8+4), 2/28 (1 → 8+4).
	want := []struct{ off, mod, id int }{{536, 1, 1}, {552, 1, 2}, {572, 2, 3}, {592, 2, 17}, {604, 2, 28}}
	for _, w := range want {
		assert.Equal(t, w.mod, int(binary.LittleEndian.Uint16(out[w.off:])), "module at %d", w.off)
		assert.Equal(t, w.id, int(binary.LittleEndian.Uint16(out[w.off+2:])), "variable at %d", w.off)
	}
	// 10.1.2.3 is stored byte-reversed.
	assert.Equal(t, []byte{3, 2, 1, 10}, out[600:604])
	// Header: module list {1,2}, header byte count 46.
	assert.Equal(t, uint16(46), binary.LittleEndian.Uint16(out[18:]))
	assert.Equal(t, []byte{1, 0, 2, 0, 0, 0}, out[40:46])
	// The caller's entry order is left alone.
	assert.Equal(t, setupbin.VarProvisioningAction, r.Entries[0].Var)
}

func TestCheckFindings(t *testing.T) {
	sha256Hash := setupbin.CustomRootHash{Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 32)}, Name: "root"}
	sha1Hash := setupbin.CustomRootHash{Hash: amt.CertHash{Alg: amt.HashSHA1, Sum: make([]byte, 20)}, Name: "root"}
	pid := pskx.MustParsePID("0000-037M")
	pps, err := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	require.NoError(t, err)

	tests := []struct {
		name    string
		version setupbin.FileVersion
		flags   setupbin.FileFlags
		edit    func(t *testing.T, r *setupbin.DataRecord)
		target  string
		code    amt.FindingCode
		sev     amt.Severity
		err     error
	}{
		{"do-not-consume on 1.0", setupbin.FileVersion10, setupbin.FlagDontConsume, nil, "", setupbin.FindingFlagsVersion, amt.SeverityError, setupbin.ErrFileLayout},
		{"reserved flag", setupbin.FileVersion40, 4, nil, "", setupbin.FindingFlagsReserved, amt.SeverityWarning, nil},
		{"unknown version", 0x0500, 0, nil, "", setupbin.FindingFileVersion, amt.SeverityError, setupbin.ErrFileLayout},
		{"PKI suffix in 1.0", setupbin.FileVersion10, 0, func(t *testing.T, r *setupbin.DataRecord) { require.NoError(t, r.SetPKIDNSSuffix("a.com")) }, "", setupbin.FindingVarVersion, amt.SeverityError, setupbin.ErrVarVersion},
		{"KVM in 2.1 (assumed)", setupbin.FileVersion21, 0, func(t *testing.T, r *setupbin.DataRecord) { require.NoError(t, r.SetBool(setupbin.VarKVM, true)) }, "", setupbin.FindingVarVersionAssumed, amt.SeverityWarning, nil},
		{"SHA-256 hash in 2.1", setupbin.FileVersion21, 0, func(t *testing.T, r *setupbin.DataRecord) { require.NoError(t, r.AddCustomRootHash(sha256Hash)) }, "", setupbin.FindingRootHashNeedsV3, amt.SeverityError, setupbin.ErrVarVersion},
		{"four hashes", setupbin.FileVersion30, 0, func(t *testing.T, r *setupbin.DataRecord) {
			for range 4 {
				require.NoError(t, r.AddCustomRootHash(sha256Hash))
			}
		}, "", setupbin.FindingTooManyRootHashes, amt.SeverityError, setupbin.ErrVarValue},
		{"SHA-1 hash for ME 16", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { require.NoError(t, r.AddCustomRootHash(sha1Hash)) }, "16.1", setupbin.FindingSHA1RootHashRemoved, amt.SeverityWarning, nil},
		{"duplicate suffix", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) {
			r.Add(setupbin.VarPKIDNSSuffix, []byte("a.com"))
			r.Add(setupbin.VarPKIDNSSuffix, []byte("b.com"))
		}, "", setupbin.FindingVarDuplicate, amt.SeverityError, setupbin.ErrVarDuplicate},
		{"DHCP 3", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.VarDHCP, []byte{3}) }, "", setupbin.FindingVarValue, amt.SeverityError, setupbin.ErrVarValue},
		{"manageability 0", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.VarManageabilitySelection, []byte{0}) }, "", setupbin.FindingVarValue, amt.SeverityError, setupbin.ErrVarValue},
		{"port 3 bytes", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.VarProvisioningServerPort, []byte{1, 2, 3}) }, "", setupbin.FindingVarLength, amt.SeverityError, setupbin.ErrVarLength},
		{"weak new password", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.VarNewMEBxPassword, []byte("password")) }, "", setupbin.FindingWeakPassword, amt.SeverityError, amt.ErrPasswordNoUpper},
		{"no current password", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Delete(setupbin.VarCurrentMEBxPassword) }, "", setupbin.FindingCurrentPassword, amt.SeverityError, setupbin.ErrMissingVar},
		{"admin without new password", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Delete(setupbin.VarNewMEBxPassword) }, "", setupbin.FindingNewPassword, amt.SeverityError, setupbin.ErrMissingVar},
		{"PID without PPS", setupbin.FileVersion10, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.VarPID, []byte(pid.Compact())) }, "", setupbin.FindingPairIncomplete, amt.SeverityError, setupbin.ErrMissingVar},
		{"bad PID check character", setupbin.FileVersion10, 0, func(t *testing.T, r *setupbin.DataRecord) {
			require.NoError(t, r.SetPair(pskx.Pair{PID: pid, PPS: pps}))
			r.Set(setupbin.VarPID, []byte("0000037N"))
		}, "", setupbin.FindingVarValue, amt.SeverityError, pskx.ErrChecksum},
		{"lower-case PID", setupbin.FileVersion10, 0, func(t *testing.T, r *setupbin.DataRecord) {
			require.NoError(t, r.SetPair(pskx.Pair{PID: pid, PPS: pps}))
			r.Set(setupbin.VarPID, []byte("0000037m"))
		}, "", setupbin.FindingVarValue, amt.SeverityError, setupbin.ErrVarValue},
		{"lower-case PPS", setupbin.FileVersion10, 0, func(t *testing.T, r *setupbin.DataRecord) {
			require.NoError(t, r.SetPair(pskx.Pair{PID: pid, PPS: pps}))
			r.Set(setupbin.VarPPS, []byte(strings.ToLower(pps.Reveal())))
		}, "", setupbin.FindingVarValue, amt.SeverityError, setupbin.ErrVarValue},
		{"PSK for AMT 11", setupbin.FileVersion10, 0, func(t *testing.T, r *setupbin.DataRecord) {
			require.NoError(t, r.SetPair(pskx.Pair{PID: pid, PPS: pps}))
		}, "11.0", setupbin.FindingPSKRemoved, amt.SeverityError, setupbin.ErrNotForTarget},
		{"unknown variable", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.MakeVar(9, 9), []byte{1}) }, "", setupbin.FindingVarUnknown, amt.SeverityWarning, nil},
		{"VLAN", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.VarVLAN, []byte{1, 0}) }, "", setupbin.FindingModernAborts, amt.SeverityWarning, nil},
		{"IPv6 old form", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) { r.Set(setupbin.VarIPv6, make([]byte, 204)) }, "", setupbin.FindingVarLength, amt.SeverityWarning, nil},
		{"idle timeout > 16 bits", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) {
			require.NoError(t, r.SetUint32(setupbin.VarIdleTimeout, 70000))
		}, "", setupbin.FindingIdleTimeoutTruncated, amt.SeverityWarning, nil},
		{"236 modules", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) {
			for m := range 236 {
				r.Add(setupbin.MakeVar(uint16(3+m), 1), nil)
			}
		}, "", setupbin.FindingTooManyModules, amt.SeverityError, setupbin.ErrFileLayout},
		{"server address without port", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) {
			require.NoError(t, r.SetProvisioningServerAddress(netip.MustParseAddr("192.0.2.10")))
		}, "", setupbin.FindingServerPortMissing, amt.SeverityWarning, nil},
		{"port without server", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) {
			require.NoError(t, r.SetProvisioningServerPort(9971))
		}, "", setupbin.FindingServerPortIgnored, amt.SeverityWarning, nil},
		{"static IPv4 with DHCP on", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) {
			r.Set(setupbin.VarStaticIPv4, make([]byte, 20))
			r.Set(setupbin.VarDHCP, []byte{2})
		}, "", setupbin.FindingStaticIPv4DHCP, amt.SeverityWarning, nil},
		{"record too large", setupbin.FileVersion40, 0, func(t *testing.T, r *setupbin.DataRecord) {
			for range 30 {
				r.Add(setupbin.MakeVar(9, 1), make([]byte, 200))
			}
		}, "", setupbin.FindingRecordSize, amt.SeverityError, setupbin.ErrRecordTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := validRecord(t)
			if tc.edit != nil {
				tc.edit(t, r)
			}
			f := &setupbin.File{Version: tc.version, Flags: tc.flags, Records: []*setupbin.DataRecord{r}}
			var opts setupbin.CheckOptions
			if tc.target != "" {
				opts.Target = amt.MustParseVersion(tc.target)
			}
			fs := f.Check(opts)
			var found *amt.Finding
			for i := range fs {
				if fs[i].Code == tc.code {
					found = &fs[i]
					break
				}
			}
			require.NotNil(t, found, "want %s in %v", tc.code, fs)
			assert.Equal(t, tc.sev, found.Severity)
			if found.Index >= 0 {
				assert.Equal(t, 0, found.Index, "the only record")
				assert.True(t, strings.HasPrefix(found.Subject, "record 1"), found.Subject)
			} else {
				assert.True(t, strings.HasPrefix(found.Subject, "file"), found.Subject)
			}
			_, err := f.MarshalBinary()
			if tc.sev == amt.SeverityError && tc.target != "" {
				// The encoder knows no target: a file meant for another
				// release is still written.
				require.ErrorIs(t, found.Err, tc.err)
				assert.NoError(t, err)
			} else if tc.sev == amt.SeverityError {
				require.Error(t, err)
				var ee *setupbin.EncodeError
				require.ErrorAs(t, err, &ee)
				require.ErrorIs(t, err, tc.err)
			} else if !hasError(fs) {
				assert.NoError(t, err)
			}
		})
	}
}

func hasError(fs amt.Findings) bool {
	for _, f := range fs {
		if f.Severity == amt.SeverityError {
			return true
		}
	}
	return false
}

func TestRecordChunksTooSmall(t *testing.T) {
	r := validRecord(t)
	r.Add(setupbin.MakeVar(9, 1), make([]byte, 600))
	f := &setupbin.File{Version: setupbin.FileVersion40, RecordChunks: 1, Records: []*setupbin.DataRecord{r}}
	_, err := f.MarshalBinary()
	require.ErrorIs(t, err, setupbin.ErrRecordTooLarge)
	f.RecordChunks = 0
	out, err := f.MarshalBinary()
	require.NoError(t, err)
	assert.Len(t, out, 3*512) // 24 + 8 + 600 + the passwords > 512
}

func TestConsume(t *testing.T) {
	pairs := testPairs(t)
	f, err := setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{})
	require.NoError(t, err)
	i, err := f.Consume()
	require.NoError(t, err)
	assert.Equal(t, 0, i)
	out, err := f.MarshalBinary()
	require.NoError(t, err)
	// What the BIOS leaves: counter at 32 is 1, record 1 lost its Valid flag
	// (flags 0x02) and its body is zero; record 2 is untouched and scrambled.
	assert.Equal(t, uint32(1), binary.LittleEndian.Uint32(out[32:]))
	assert.Equal(t, uint32(2), binary.LittleEndian.Uint32(out[512+4:]))
	assert.True(t, allZeroBytes(out[512+24:1024]))
	assert.Equal(t, byte(0x12), out[1024+24], "record 2 still scrambled (module 1 + 17)")
	g, err := setupbin.Decode(out)
	require.NoError(t, err)
	assert.Equal(t, 1, g.Remaining())
	_, err = g.Consume()
	require.NoError(t, err)
	_, err = g.Consume()
	require.ErrorIs(t, err, setupbin.ErrNothingToConsume)

	shared, err := setupbin.NewPKIPreconfigFile(setupbin.PKIOptions{NewMEBxPassword: amt.NewSecret("N3w-Mebx!"), DNSSuffix: "example.com"})
	require.NoError(t, err)
	_, err = shared.Consume()
	require.ErrorIs(t, err, setupbin.ErrNothingToConsume, "do-not-consume files stay as they are")
}

func testPairs(t *testing.T) []pskx.Pair {
	p1, err := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	require.NoError(t, err)
	p2, err := pskx.ParsePPS("AAAF-BBBI-CCCL-DDDO-EEER-FFFU-GGGX-HHH0")
	require.NoError(t, err)
	return []pskx.Pair{
		{PID: pskx.MustParsePID("0000-037M"), PPS: p1, MEBxPassword: amt.NewSecret("P@ssw0rd1")},
		{PID: pskx.MustParsePID("ABCD-EFG8"), PPS: p2, MEBxPassword: amt.NewSecret("Secr3t!pw")},
	}
}

func TestNewPSKBatchFileMatchesVector(t *testing.T) {
	f, err := setupbin.NewPSKBatchFile(testPairs(t), setupbin.PSKBatchOptions{})
	require.NoError(t, err)
	out, err := f.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, []byte(loadSetupVector(t, "v1.0 PSK batch").File), out)

	// A pair without a MEBx password takes the options' one; none at all fails.
	pairs := testPairs(t)
	pairs[1].MEBxPassword = amt.Secret{}
	_, err = setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{})
	require.ErrorIs(t, err, setupbin.ErrMissingVar)
	f, err = setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{NewMEBxPassword: amt.NewSecret("Secr3t!pw"), Plain: true, Version: setupbin.FileVersion21})
	require.NoError(t, err)
	assert.Equal(t, setupbin.RecordValid, f.Records[1].Flags)
	nw, _ := f.Records[1].NewMEBxPassword()
	assert.Equal(t, "Secr3t!pw", nw.Reveal())

	_, err = setupbin.NewPSKBatchFile(nil, setupbin.PSKBatchOptions{})
	require.ErrorIs(t, err, setupbin.ErrEmptyBatch)
	dup := testPairs(t)
	dup[1].PID = dup[0].PID
	_, err = setupbin.NewPSKBatchFile(dup, setupbin.PSKBatchOptions{})
	require.Error(t, err)

	// The AMT 11+ warning.
	fs := f.Check(setupbin.CheckOptions{Target: amt.MustParseVersion("11.8.50")})
	assert.Contains(t, findingCodes(fs), setupbin.FindingPSKRemoved)
	assert.NotContains(t, findingCodes(f.Check(setupbin.CheckOptions{Target: amt.MustParseVersion("10.0")})), setupbin.FindingPSKRemoved)
}

func TestNewPKIPreconfigFile(t *testing.T) {
	sum := sha256.Sum256([]byte("a root"))
	h := setupbin.CustomRootHash{Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: sum[:]}, Name: "Contoso Root"}
	f, err := setupbin.NewPKIPreconfigFile(setupbin.PKIOptions{
		NewMEBxPassword: amt.NewSecret("N3w-Mebx!"), DNSSuffix: "contoso.com",
		ServerAddress: netip.MustParseAddr("192.168.1.10"), ServerPort: 9971,
		RootHashes: []setupbin.CustomRootHash{h}, Start: true,
	})
	require.NoError(t, err)
	assert.Equal(t, setupbin.FileVersion40, f.Version)
	assert.Equal(t, setupbin.FlagDontConsume, f.Flags)
	out, err := f.MarshalBinary()
	require.NoError(t, err)
	g, err := setupbin.Decode(out)
	require.NoError(t, err)
	r := g.Records[0]
	// Raw values by hand: address reversed, port little-endian, hash entry =
	// alg 02 ‖ 32-byte digest ‖ name length 0x0c ‖ "Contoso Root".
	addr, _ := r.Get(setupbin.VarProvisioningServerAddress)
	assert.Equal(t, []byte{10, 1, 168, 192}, addr)
	port, _ := r.Get(setupbin.VarProvisioningServerPort)
	assert.Equal(t, []byte{0xf3, 0x26}, port)
	raw, _ := r.Get(setupbin.VarCustomRootHash)
	assert.Equal(t, append(append([]byte{2}, sum[:]...), append([]byte{12}, "Contoso Root"...)...), raw)
	act, _ := r.ProvisioningAction()
	assert.Equal(t, setupbin.ProvisioningStart, act)
	assert.Equal(t, setupbin.VarProvisioningAction, r.Entries[len(r.Entries)-1].Var)

	sel, ok := r.Uint8(setupbin.VarManageabilitySelection)
	assert.True(t, ok && sel == 1, "the manageability selection enables AMT on a platform that ships it disabled")

	// An address without a port gets AMT's hello port, as MeshCentral's
	// bare-metal file always writes one; a 2.1 file still selects AMT, a
	// 1.0 file cannot carry the selection.
	f, err = setupbin.NewPKIPreconfigFile(setupbin.PKIOptions{Version: setupbin.FileVersion21, NewMEBxPassword: amt.NewSecret("N3w-Mebx!"), ServerAddress: netip.MustParseAddr("192.0.2.10")})
	require.NoError(t, err)
	p, ok := f.Records[0].ProvisioningServerPort()
	assert.True(t, ok)
	assert.Equal(t, uint16(setupbin.DefaultProvisioningServerPort), p)
	assert.Empty(t, f.Check(setupbin.CheckOptions{}))
	_, ok = f.Records[0].Uint8(setupbin.VarManageabilitySelection)
	assert.True(t, ok)
	psk, err := setupbin.NewPSKBatchFile(testPairs(t), setupbin.PSKBatchOptions{})
	require.NoError(t, err)
	_, ok = psk.Records[0].Uint8(setupbin.VarManageabilitySelection)
	assert.False(t, ok, "version 1.0 does not carry it")

	_, err = setupbin.NewPKIPreconfigFile(setupbin.PKIOptions{DNSSuffix: "contoso.com"})
	require.ErrorIs(t, err, setupbin.ErrMissingVar, "factory password needs a new one")
	_, err = setupbin.NewPKIPreconfigFile(setupbin.PKIOptions{Version: setupbin.FileVersion21, NewMEBxPassword: amt.NewSecret("N3w-Mebx!"), RootHashes: []setupbin.CustomRootHash{h}})
	require.ErrorIs(t, err, setupbin.ErrVarVersion)
	_, err = setupbin.NewPKIPreconfigFile(setupbin.PKIOptions{NewMEBxPassword: amt.NewSecret("weak")})
	require.ErrorIs(t, err, setupbin.ErrVarValue)
}

func TestRecordAccessors(t *testing.T) {
	r := &setupbin.DataRecord{}
	r.Add(setupbin.VarCustomRootHash, []byte{1})
	r.Add(setupbin.VarHostname, []byte("a"))
	r.Add(setupbin.VarHostname, []byte("b"))
	require.NoError(t, r.SetHostname("host"))
	assert.Equal(t, [][]byte{[]byte("host")}, r.GetAll(setupbin.VarHostname), "Set leaves one entry")
	assert.Equal(t, setupbin.VarHostname, r.Entries[1].Var, "in place of the first")
	assert.Equal(t, 1, r.Delete(setupbin.VarCustomRootHash))
	_, ok := r.Get(setupbin.VarCustomRootHash)
	assert.False(t, ok)

	assert.ErrorIs(t, r.SetHostname(strings.Repeat("h", 65)), setupbin.ErrVarLength)
	assert.ErrorIs(t, r.SetPKIDNSSuffix(""), setupbin.ErrVarLength)
	assert.ErrorIs(t, r.SetDomainName("bad\x00name"), setupbin.ErrVarValue)
	assert.ErrorIs(t, r.SetDHCP(3), setupbin.ErrVarValue)
	assert.ErrorIs(t, r.SetUserConsent(2), setupbin.ErrVarValue)
	assert.ErrorIs(t, r.SetRedirection(8), setupbin.ErrVarValue)
	assert.ErrorIs(t, r.SetProvisioningServerPort(0), setupbin.ErrVarValue)
	assert.ErrorIs(t, r.SetProvisioningServerAddress(netip.Addr{}), setupbin.ErrVarValue)
	assert.ErrorIs(t, r.SetUint8(setupbin.VarIdleTimeout, 1), setupbin.ErrVarLength)
	assert.ErrorIs(t, r.SetUint32(setupbin.VarKVM, 1), setupbin.ErrVarLength)
	assert.ErrorIs(t, r.SetNewMEBxPassword(amt.NewSecret("short")), setupbin.ErrVarValue)
	assert.ErrorIs(t, r.SetPair(pskx.Pair{}), setupbin.ErrVarValue)
	_, err := r.PID()
	assert.ErrorIs(t, err, setupbin.ErrNotSet)
	_, err = r.PPS()
	assert.ErrorIs(t, err, setupbin.ErrNotSet)
	long := setupbin.CustomRootHash{Hash: amt.CertHash{Alg: amt.HashSHA384, Sum: make([]byte, 48)}, Name: strings.Repeat("n", 32)}
	assert.ErrorIs(t, r.AddCustomRootHash(long), setupbin.ErrVarValue, "48+32+2 = 82 > 81 bytes")
	long.Name = long.Name[:31]
	assert.NoError(t, r.AddCustomRootHash(long))
	assert.ErrorIs(t, r.AddCustomRootHash(setupbin.CustomRootHash{Hash: amt.CertHash{Alg: amt.HashSHA512, Sum: make([]byte, 64)}}), setupbin.ErrVarValue)

	u := amt.UUID{0x46, 0x73, 0x22, 0x73, 0xdc, 0x23, 0x2f, 0x43, 0xa9, 0x8a, 0x13, 0xd3, 0x79, 0x82, 0xd8, 0x55}
	r.SetPowerPackage(u)
	raw, _ := r.Get(setupbin.VarPowerPackage)
	assert.Equal(t, "73227346"+"23dc"+"432f"+"a98a13d37982d855", hex.EncodeToString(raw), "EFI byte order")
	require.NoError(t, r.SetStaticIPv4(setupbin.StaticIPv4{Address: netip.MustParseAddr("10.0.0.2")}))
	raw, _ = r.Get(setupbin.VarStaticIPv4)
	assert.Equal(t, append([]byte{2, 0, 0, 10}, make([]byte, 16)...), raw)
	assert.ErrorIs(t, r.SetStaticIPv4(setupbin.StaticIPv4{Address: netip.MustParseAddr("::1")}), setupbin.ErrVarValue)
}

func TestEntryString(t *testing.T) {
	tests := []struct {
		e    setupbin.Entry
		want string
	}{
		{setupbin.Entry{Var: setupbin.VarNewMEBxPassword, Value: []byte("N3w-Mebx!")}, "new MEBx password (1/2) = [REDACTED]"},
		{setupbin.Entry{Var: setupbin.VarPPS, Value: []byte("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ")}, "PPS (2/2) = [REDACTED]"},
		{setupbin.Entry{Var: setupbin.VarPID, Value: []byte("0000037M")}, `PID (2/1) = "0000037M"`},
		{setupbin.Entry{Var: setupbin.VarDHCP, Value: []byte{2}}, "DHCP (2/13) = 2 (enabled)"},
		{setupbin.Entry{Var: setupbin.VarProvisioningServerPort, Value: []byte{0xf3, 0x26}}, "provisioning server port (2/18) = 9971"},
		{setupbin.Entry{Var: setupbin.VarProvisioningServerAddress, Value: []byte{10, 1, 168, 192}}, "provisioning server address (2/17) = 192.168.1.10"},
		{setupbin.Entry{Var: setupbin.MakeVar(7, 1), Value: []byte{0xab}}, "unknown (7/1) = ab"},
		{setupbin.Entry{Var: setupbin.VarDHCP, Value: []byte{1, 2}}, "DHCP (2/13) = invalid 2-byte value"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.e.String())
		assert.Equal(t, tc.want, fmt.Sprintf("%v", tc.e))
	}
	assert.True(t, setupbin.VarEnrollmentPasscode.Secret())
	assert.False(t, setupbin.MakeVar(7, 1).Known())
	assert.Equal(t, "2.1", setupbin.FileVersion21.String())
}

// TestFindingSubject: a finding names the file or the record (1-based, as the
// BIOS counts) and the variable; Index is the record's index in File.Records.
func TestFindingSubject(t *testing.T) {
	r := validRecord(t)
	r.Set(setupbin.VarDHCP, []byte{3})
	f := &setupbin.File{Version: setupbin.FileVersion40, Flags: 4, Records: []*setupbin.DataRecord{validRecord(t), r}}
	fs := f.Check(setupbin.CheckOptions{})
	require.Equal(t, []amt.FindingCode{setupbin.FindingVarValue, setupbin.FindingFlagsReserved}, fs.Codes(), "%v", fs)
	assert.Equal(t, "record 2, DHCP (2/13)", fs[0].Subject)
	assert.Equal(t, 1, fs[0].Index)
	assert.ErrorIs(t, fs[0].Err, setupbin.ErrVarValue)
	assert.Equal(t, "error var-value: record 2, DHCP (2/13): "+fs[0].Message, fs[0].String())
	assert.Equal(t, "file", fs[1].Subject)
	assert.Equal(t, -1, fs[1].Index)
	_, err := f.MarshalBinary()
	assert.EqualError(t, err, "setupbin: refusing to encode setup.bin: "+fs[0].String())
	assert.True(t, errors.Is(&setupbin.EncodeError{Finding: amt.Finding{Err: setupbin.ErrVarValue}}, setupbin.ErrVarValue))
}

// FuzzDecode: every refusal is a *DecodeError; a file Decode reads and
// Check accepts encodes to a file of the same size that decodes to the same
// header fields, record numbers (a zero one numbered in file order, as
// DataRecord.Number says), flags and entries, and encodes again to the same
// bytes.
func FuzzDecode(f *testing.F) {
	vf := testvectors.Load[setupFileVec](f, "pskx_setupbin")
	for _, v := range vf.Vectors {
		f.Add([]byte(v.File))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := setupbin.Decode(b)
		if err != nil {
			var de *setupbin.DecodeError
			require.ErrorAs(t, err, &de)
			return
		}
		out, err := sf.MarshalBinary()
		if err != nil {
			var ee *setupbin.EncodeError
			require.ErrorAs(t, err, &ee)
			return
		}
		require.Len(t, out, len(b), "a file the decoder reads encodes to its size (the header's chunk arithmetic)")
		sf2, err := setupbin.Decode(out)
		require.NoError(t, err)
		require.Equal(t, sf.Version, sf2.Version)
		require.Equal(t, sf.Flags, sf2.Flags)
		require.Equal(t, sf.Consumed, sf2.Consumed)
		require.Equal(t, sf.RecordChunks, sf2.RecordChunks)
		require.Equal(t, len(sf.Records), len(sf2.Records))
		for i := range sf.Records {
			require.ElementsMatch(t, sf.Records[i].Entries, sf2.Records[i].Entries)
			require.Equal(t, sf.Records[i].Flags, sf2.Records[i].Flags)
			want := sf.Records[i].Number
			if want == 0 {
				want = uint32(i + 1) // zero asks the encoder to number the record
			}
			require.Equal(t, want, sf2.Records[i].Number)
		}
		out2, err := sf2.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, out, out2, "encoding is canonical")
	})
}

func TestMoreAccessorsRoundTrip(t *testing.T) {
	r := validRecord(t)
	require.NoError(t, r.SetConfigServerFQDN("rcs.example.com"))
	require.NoError(t, r.SetUserCertsConfig(setupbin.UserCertsDelete))
	require.NoError(t, r.SetIdleTimeout(65535))
	require.NoError(t, r.SetBool(setupbin.VarKVM, true))
	require.NoError(t, r.SetBool(setupbin.VarRemoteConfiguration, false))
	f := &setupbin.File{Version: setupbin.FileVersion30, Records: []*setupbin.DataRecord{r}}
	raw, err := f.MarshalBinary()
	require.NoError(t, err)
	var g setupbin.File
	require.NoError(t, g.UnmarshalBinary(raw))
	q := g.Records[0]
	fqdn, ok := q.ConfigServerFQDN()
	assert.True(t, ok)
	assert.Equal(t, "rcs.example.com", fqdn)
	uc, _ := q.UserCertsConfig()
	assert.Equal(t, setupbin.UserCertsDelete, uc)
	ito, _ := q.IdleTimeout()
	assert.Equal(t, uint32(65535), ito)
	kvm, ok := q.Bool(setupbin.VarKVM)
	assert.True(t, ok && kvm)
	rc, ok := q.Bool(setupbin.VarRemoteConfiguration)
	assert.True(t, ok && !rc)
	// The raw bytes of 2/15 by hand: ff ff 00 00.
	v, _ := q.Get(setupbin.VarIdleTimeout)
	assert.Equal(t, []byte{0xff, 0xff, 0, 0}, v)
	assert.Error(t, g.UnmarshalBinary(raw[:600]))
}

func TestModuleListBoundary(t *testing.T) {
	r := validRecord(t)
	for m := range 234 { // module 1 plus 234 others = 235, the most the header holds
		r.Add(setupbin.MakeVar(uint16(3+m), 1), nil)
	}
	f := &setupbin.File{Version: setupbin.FileVersion40, Records: []*setupbin.DataRecord{r}}
	raw, err := f.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, uint16(42+2*235), binary.LittleEndian.Uint16(raw[18:]))
	g, err := setupbin.Decode(raw)
	require.NoError(t, err)
	assert.Len(t, g.ModuleList, 235)
}
