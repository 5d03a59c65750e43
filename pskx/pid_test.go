package pskx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/pskx"
)

type pidVector struct {
	Kind      string `json:"kind"`
	Input     string `json:"input"`
	Want      string `json:"want"`
	Canonical string `json:"canonical"`
	Display   string `json:"display"`
	Err       string `json:"err"`
	Groups    []int  `json:"groups"`
	Note      string `json:"note"`
}

var pidErrs = map[string]error{
	"checksum": pskx.ErrChecksum,
	"length":   pskx.ErrLength,
	"dashes":   pskx.ErrDashes,
	"charset":  pskx.ErrCharset,
}

func TestPIDPPSVectors(t *testing.T) {
	vf := testvectors.Load[pidVector](t, "pskx_pidpps")
	for _, v := range vf.Vectors {
		t.Run(v.Kind+" "+v.Input, func(t *testing.T) {
			switch v.Kind {
			case "check":
				assert.Equal(t, v.Want, string(pskx.CheckChar(v.Input)), v.Note)
			case "PID":
				p, err := pskx.ParsePID(v.Input)
				if v.Err != "" {
					requireFormatError(t, err, "PID", pidErrs[v.Err], v.Groups)
					return
				}
				require.NoError(t, err, v.Note)
				assert.Equal(t, v.Canonical, p.Compact())
				assert.Equal(t, v.Display, p.String())
			case "PPS":
				p, err := pskx.ParsePPS(v.Input)
				if v.Err != "" {
					requireFormatError(t, err, "PPS", pidErrs[v.Err], v.Groups)
					// A PPS error never repeats the input's characters.
					assert.NotContains(t, err.Error(), strings.ReplaceAll(v.Input, "-", "")[:8])
					return
				}
				require.NoError(t, err, v.Note)
				assert.Equal(t, v.Canonical, p.Reveal())
				assert.Equal(t, v.Display, p.RevealGrouped())
			default:
				t.Fatalf("unknown kind %q", v.Kind)
			}
		})
	}
}

func requireFormatError(t *testing.T, err error, what string, sentinel error, groups []int) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	var fe *pskx.FormatError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, what, fe.What)
	if groups != nil {
		assert.Equal(t, groups, fe.Groups)
		for _, g := range groups {
			assert.Contains(t, err.Error(), fmt.Sprint(g))
		}
	}
}

func TestPPSNeverPrinted(t *testing.T) {
	pps, err := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	require.NoError(t, err)
	pair := pskx.Pair{PID: pskx.MustParsePID("0000-037M"), PPS: pps, MEBxPassword: amt.NewSecret("P@ssw0rd1")}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("pair", "pps", pps, "pair", pair)
	js, err := json.Marshal(pair)
	require.NoError(t, err)
	outputs := []string{
		fmt.Sprint(pps), fmt.Sprintf("%v %+v %#v %s %q %x", pps, pps, pps, pps, pps, pps),
		fmt.Sprintf("%v %+v %#v", pair, pair, pair), logBuf.String(), string(js), pps.String() + pps.GoString(),
	}
	for _, out := range outputs {
		assert.NotContains(t, out, "NKLD")
		assert.NotContains(t, out, "69XJ")
		assert.NotContains(t, out, "P@ss")
	}
	assert.Contains(t, fmt.Sprint(pair), "0000-037M", "the PID is not secret")
}

func TestPPSEqual(t *testing.T) {
	a, err := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	require.NoError(t, err)
	b, err := pskx.ParsePPS("nkldg5dcrrnqe9yzzijl7lflvjed69xj")
	require.NoError(t, err)
	c, err := pskx.ParsePPS("AAAF-BBBI-CCCL-DDDO-EEER-FFFU-GGGX-HHH0")
	require.NoError(t, err)
	assert.True(t, a.Equal(b))
	assert.False(t, a.Equal(c))
	assert.False(t, a.Equal(pskx.PPS{}))
	assert.True(t, pskx.PPS{}.IsZero())
}

func TestPIDText(t *testing.T) {
	p := pskx.MustParsePID("0000-037M")
	b, err := p.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "0000037M", string(b))
	var q pskx.PID
	require.NoError(t, q.UnmarshalText([]byte("0000-037M")))
	assert.Equal(t, p, q)
	assert.Error(t, q.UnmarshalText([]byte("0000-037X")))
	assert.True(t, pskx.PID{}.IsZero())
	assert.Equal(t, "", pskx.PID{}.String())
	assert.Panics(t, func() { pskx.MustParsePID("bad") })
}

// byteSource returns the given bytes, then an error.
type byteSource struct{ b []byte }

func (s *byteSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, errors.New("byteSource exhausted")
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func TestGeneratePIDFromKnownBytes(t *testing.T) {
	// The generator reads as many bytes as it needs; bytes 252–255 are rejected,
	// the rest map to b%36 → 0-9A-Z. Hand-derived: 0xFC rejected, 0x00→'0', 0x24(36)→'0',
	// 0x47(71)→'Z', 0xFF rejected, 0x0A(10)→'A', 0x2E(46)→'A', 0xFB(251)→251-216=35→'Z',
	// 0x23(35)→'Z'. Chars "00ZAAZZ": 48+48+90+65+65+90+90 = 496; 496-468 = 28 → 'S'.
	src := []byte{0xFC, 0x00, 0x24, 0x47, 0xFF, 0x0A, 0x2E, 0xFB, 0x23}
	p, err := pskx.GeneratePID(&byteSource{b: src})
	require.NoError(t, err)
	assert.Equal(t, "00ZA-AZZS", p.String())
}

func TestGenerateUnbiased(t *testing.T) {
	// Feed every byte value exactly once per 256 draws: with rejection sampling
	// each of the 36 symbols must come out exactly 7 times per cycle (252 = 7×36).
	// A modulo-biased generator would give 0–3 eight times.
	cycles := 4
	src := make([]byte, 0, 256*cycles)
	for range cycles {
		for b := 0; b < 256; b++ {
			src = append(src, byte(b))
		}
	}
	counts := map[byte]int{}
	rd := &byteSource{b: src}
	// 4 cycles × 252 accepted bytes = 1008 symbols = 144 PIDs of 7 random symbols.
	for range 144 {
		p, err := pskx.GeneratePID(rd)
		require.NoError(t, err)
		c := p.Compact()
		for i := 0; i < 7; i++ {
			counts[c[i]]++
		}
	}
	require.Len(t, counts, 36)
	for sym, n := range counts {
		assert.Equal(t, 7*cycles, n, "symbol %c", sym)
	}
}

func TestGenerateValidAndDistinct(t *testing.T) {
	pairs, err := pskx.GenerateBatch(nil, 50)
	require.NoError(t, err)
	require.Len(t, pairs, 50)
	seen := map[pskx.PID]bool{}
	for _, p := range pairs {
		assert.False(t, seen[p.PID])
		seen[p.PID] = true
		_, err := pskx.ParsePID(p.PID.Compact())
		assert.NoError(t, err)
		_, err = pskx.ParsePPS(p.PPS.RevealGrouped())
		assert.NoError(t, err)
		assert.NoError(t, amt.CheckPassword(p.MEBxPassword.Reveal()))
	}
	_, err = pskx.GenerateBatch(nil, -1)
	assert.Error(t, err)
	_, err = pskx.GeneratePPS(&byteSource{})
	assert.Error(t, err)
}

func FuzzParsePID(f *testing.F) {
	for _, s := range []string{"0000-037M", "0000037M", "abcd-efg8", "0000--037M", "", "-", "ZZZZZZZZZ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := pskx.ParsePID(s)
		if err != nil {
			var fe *pskx.FormatError
			require.ErrorAs(t, err, &fe)
			return
		}
		c := p.Compact()
		require.Len(t, c, pskx.PIDLen)
		require.Equal(t, pskx.CheckChar(c[:7]), c[7])
		q, err := pskx.ParsePID(p.String())
		require.NoError(t, err)
		require.Equal(t, p, q)
	})
}

func FuzzParsePPS(f *testing.F) {
	for _, s := range []string{"NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ", "nkldg5dcrrnqe9yzzijl7lflvjed69xj", "AAAF-BBBI", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := pskx.ParsePPS(s)
		if err != nil {
			var fe *pskx.FormatError
			require.ErrorAs(t, err, &fe)
			return
		}
		c := p.Reveal()
		require.Len(t, c, pskx.PPSLen)
		for g := 0; g < 8; g++ {
			require.Equal(t, pskx.CheckChar(c[g*4:g*4+3]), c[g*4+3])
		}
		q, err := pskx.ParsePPS(p.RevealGrouped())
		require.NoError(t, err)
		require.True(t, p.Equal(q))
	})
}

func TestGeneratePPSFromKnownBytes(t *testing.T) {
	// Bytes 0..23 give symbols 0-9A-N; check characters by hand:
	// "012" 147%36=3, "345" 156%36=12 C, "678" 165%36=21 L, "9AB" 188%36=8,
	// "CDE" 204%36=24 O, "FGH" 213%36=33 X, "IJK" 222%36=6, "LMN" 231%36=15 F.
	src := make([]byte, 24)
	for i := range src {
		src[i] = byte(i)
	}
	p, err := pskx.GeneratePPS(&byteSource{b: src})
	require.NoError(t, err)
	assert.Equal(t, "0123-345C-678L-9AB8-CDEO-FGHX-IJK6-LMNF", p.RevealGrouped())
}
