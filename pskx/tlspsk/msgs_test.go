package tlspsk

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/testvectors"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// random32 is 00 01 … 1f.
const random32 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// Encodings written by hand from RFC 5246 §7.4 and RFC 4279 §2: type (1 byte),
// uint24 length, body.
var messageVectors = []struct {
	name string
	hex  string
	msg  interface {
		marshal() []byte
		unmarshal([]byte) error
	}
}{
	{"ClientHello TLS1.2, AES128-SHA + SCSV, no extensions",
		"01 00002b 0303 " + random32 + " 00 0004 008c 00ff 01 00",
		&clientHelloMsg{vers: VersionTLS12, random: unhexMust(random32), sessionID: []byte{}, cipherSuites: []uint16{0x8c, 0xff}, compressionMethods: []uint8{0}}},
	{"ClientHello TLS1.0 with session id and renegotiation_info",
		"01 000034 0301 " + random32 + " 04 aabbccdd 0002 008d 01 00 0005 ff01 0001 00",
		&clientHelloMsg{vers: VersionTLS10, random: unhexMust(random32), sessionID: []byte{0xaa, 0xbb, 0xcc, 0xdd}, cipherSuites: []uint16{0x8d}, compressionMethods: []uint8{0},
			extensions: []extension{{typ: 0xff01, data: []byte{0}}}}},
	{"ServerHello TLS1.1, AES256-SHA",
		"02 000026 0302 " + random32 + " 00 008d 00",
		&serverHelloMsg{vers: VersionTLS11, random: unhexMust(random32), sessionID: []byte{}, cipherSuite: 0x8d}},
	{"ServerHello with renegotiation_info",
		"02 00002d 0303 " + random32 + " 00 008c 00 0005 ff01 0001 00",
		&serverHelloMsg{vers: VersionTLS12, random: unhexMust(random32), sessionID: []byte{}, cipherSuite: 0x8c, extensions: []extension{{typ: 0xff01, data: []byte{0}}}}},
	{"ServerKeyExchange hint \"hint\"", "0c 000006 0004 68696e74", &serverKeyExchangeMsg{identityHint: []byte("hint")}},
	{"ServerKeyExchange empty hint", "0c 000002 0000", &serverKeyExchangeMsg{identityHint: []byte{}}},
	{"ClientKeyExchange identity 0000037M", "10 00000a 0008 303030303033374d", &clientKeyExchangeMsg{identity: []byte("0000037M")}},
	{"Finished", "14 00000c 0102030405060708090a0b0c", &finishedMsg{verifyData: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}},
}

func unhexMust(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestMessagesMarshalUnmarshal(t *testing.T) {
	for _, v := range messageVectors {
		t.Run(v.name, func(t *testing.T) {
			want := unhex(t, v.hex)
			assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(v.msg.marshal()))
			// Decode into a fresh value of the same type and compare.
			fresh := newLike(v.msg)
			require.NoError(t, fresh.unmarshal(want))
			assert.Equal(t, v.msg, fresh)
			// Every strict prefix fails; so does a trailing byte.
			for n := 0; n < len(want); n++ {
				err := newLike(v.msg).unmarshal(want[:n])
				require.Error(t, err, "prefix %d", n)
				var me *MessageError
				require.ErrorAs(t, err, &me)
			}
			assert.Error(t, newLike(v.msg).unmarshal(append(bytes.Clone(want), 0)))
		})
	}
}

func newLike(m interface{ unmarshal([]byte) error }) interface {
	marshal() []byte
	unmarshal([]byte) error
} {
	switch m.(type) {
	case *clientHelloMsg:
		return &clientHelloMsg{}
	case *serverHelloMsg:
		return &serverHelloMsg{}
	case *serverKeyExchangeMsg:
		return &serverKeyExchangeMsg{}
	case *clientKeyExchangeMsg:
		return &clientKeyExchangeMsg{}
	case *finishedMsg:
		return &finishedMsg{}
	}
	panic("unknown message")
}

func TestMalformedMessages(t *testing.T) {
	ch := func(body string) []byte {
		b := unhex(t, body)
		return append([]byte{1, 0, byte(len(b) >> 8), byte(len(b))}, b...)
	}
	rnd := random32
	tests := []struct {
		name string
		msg  []byte
		dec  func([]byte) error
		want string
	}{
		{"session id 33 bytes", ch("0303" + rnd + "21" + strings.Repeat("00", 33) + "0002008c0100"), (&clientHelloMsg{}).unmarshal, "session_id"},
		{"odd cipher suite length", ch("0303" + rnd + "00" + "0003008c00" + "0100"), (&clientHelloMsg{}).unmarshal, "cipher_suites"},
		{"no cipher suites", ch("0303" + rnd + "00" + "0000" + "0100"), (&clientHelloMsg{}).unmarshal, "cipher_suites"},
		{"no compression methods", ch("0303" + rnd + "00" + "0002008c" + "00"), (&clientHelloMsg{}).unmarshal, "compression"},
		{"duplicate extension", ch("0303" + rnd + "00" + "0002008c0100" + "0009 ff01000100 ff01 0000"), (&clientHelloMsg{}).unmarshal, "twice"},
		{"extension overruns block", ch("0303" + rnd + "00" + "0002008c0100" + "0004 ff01 0005"), (&clientHelloMsg{}).unmarshal, "overruns"},
		{"bytes after extensions", ch("0303" + rnd + "00" + "0002008c0100" + "0000 00"), (&clientHelloMsg{}).unmarshal, "after the extensions"},
		{"wrong type", unhex(t, "02 000002 0000"), (&clientKeyExchangeMsg{}).unmarshal, "type 2"},
		{"identity overruns", unhex(t, "10 000002 0005"), (&clientKeyExchangeMsg{}).unmarshal, "psk_identity"},
		{"finished 11 bytes", unhex(t, "14 00000b 0102030405060708090a0b"), (&finishedMsg{}).unmarshal, "12 bytes"},
		{"ServerHelloDone with body", unhex(t, "0e 000001 00"), func(b []byte) error { return unmarshalEmpty(b, typeServerHelloDone) }, "empty"},
		{"length beyond message", unhex(t, "0e 000005 00"), func(b []byte) error { return unmarshalEmpty(b, typeServerHelloDone) }, "header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dec(tc.msg)
			require.Error(t, err)
			var me *MessageError
			require.ErrorAs(t, err, &me)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.NoError(t, unmarshalEmpty(unhex(t, "0e000000"), typeServerHelloDone))
	assert.NoError(t, unmarshalEmpty(unhex(t, "00000000"), typeHelloRequest))
	assert.Equal(t, unhex(t, "0e000000"), marshalEmpty(typeServerHelloDone))
}

func TestRenegotiationInfo(t *testing.T) {
	for _, tc := range []struct {
		in        string
		empty, ok bool
	}{
		{"00", true, true},
		{"0100", false, true},
		{"", false, false},
		{"0200", false, false},
		{"0000", false, false},
	} {
		empty, ok := renegotiationInfo(unhex(t, tc.in))
		assert.Equal(t, tc.empty, empty, tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
	}
}

func TestCBCPadding(t *testing.T) {
	tests := []struct {
		name     string
		payload  []byte
		toRemove int
		good     byte
	}{
		{"empty", nil, 0, 0},
		{"pad 0", []byte{9, 9, 0}, 1, 0xff},
		{"pad 3", []byte{9, 3, 3, 3, 3}, 4, 0xff},
		{"pad 3, one byte wrong", []byte{9, 2, 3, 3, 3}, 1, 0},
		{"pad 3, last-but-one wrong", []byte{9, 3, 3, 7, 3}, 1, 0},
		{"pad longer than payload", []byte{4, 4, 4, 4}, 1, 0},
		{"pad fills payload exactly", []byte{3, 3, 3, 3}, 4, 0xff},
		{"pad 255 in 256 bytes", bytes.Repeat([]byte{255}, 256), 256, 0xff},
		{"pad 255 in 300 bytes, byte 256 from the end wrong", append(append([]byte{1}, bytes.Repeat([]byte{0}, 43)...), append([]byte{0}, bytes.Repeat([]byte{255}, 255)...)...), 1, 0},
	}
	for _, tc := range tests {
		n, good := cbcPadding(tc.payload)
		assert.Equal(t, tc.toRemove, n, tc.name)
		assert.Equal(t, tc.good, good, tc.name)
	}
}

func TestPSKPremaster(t *testing.T) {
	// RFC 4279 §2 for Intel's example PPS (Intel AMT SDK, pidppschecksum.htm):
	// 0020 ‖ 32×00 ‖ 0020 ‖ hex("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ").
	want := "0020" + strings.Repeat("00", 32) + "0020" + hex.EncodeToString([]byte("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"))
	assert.Equal(t, want, hex.EncodeToString(pskPremaster([]byte("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"))))
	assert.Equal(t, "0001 00 0001 ff", spaced(pskPremaster([]byte{0xff}), 2, 1, 2, 1))
}

func spaced(b []byte, parts ...int) string {
	var out []string
	for _, n := range parts {
		out = append(out, hex.EncodeToString(b[:n]))
		b = b[n:]
	}
	return strings.Join(out, " ")
}

type prfVector struct {
	Name   string          `json:"name"`
	Digest string          `json:"digest"`
	Secret testvectors.Hex `json:"secret"`
	Label  string          `json:"label"`
	Seed   testvectors.Hex `json:"seed"`
	Out    testvectors.Hex `json:"out"`
}

func TestPRFAgainstOpenSSL(t *testing.T) {
	vf := testvectors.Load[prfVector](t, "pskx_prf")
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			out := make([]byte, len(v.Out))
			switch v.Digest {
			case "MD5-SHA1":
				prf10(out, v.Secret, v.Label, v.Seed)
			case "SHA256":
				prf12(suiteByID(TLS_PSK_WITH_AES_128_CBC_SHA).prfHash)(out, v.Secret, v.Label, v.Seed)
			case "SHA384":
				prf12(suiteByID(TLS_PSK_WITH_AES_256_CBC_SHA384).prfHash)(out, v.Secret, v.Label, v.Seed)
			default:
				t.Fatalf("digest %q", v.Digest)
			}
			assert.Equal(t, hex.EncodeToString(v.Out), hex.EncodeToString(out))
		})
	}
}

func TestRecordProtection(t *testing.T) {
	s := suiteByID(TLS_PSK_WITH_AES_128_CBC_SHA)
	key, macKey, iv := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 20), bytes.Repeat([]byte{3}, 16)
	for _, vers := range []uint16{VersionTLS10, VersionTLS11, VersionTLS12} {
		pair := func() (*halfConn, *halfConn) {
			w, r := &halfConn{version: vers}, &halfConn{version: vers, isRead: true}
			require.NoError(t, w.prepare(key, macKey, iv, s))
			require.NoError(t, r.prepare(key, macKey, iv, s))
			require.True(t, w.changeCipherSpec())
			require.True(t, r.changeCipherSpec())
			return w, r
		}
		w, r := pair()
		var rec []byte
		var err error
		for i, msg := range []string{"a", "hello, world", strings.Repeat("x", 1000)} {
			rec, err = w.encrypt(nil, recordApplicationData, []byte(msg), randReader{})
			require.NoError(t, err)
			// Size by hand: [IV] + data + 20-byte MAC + padding to 16.
			want := (len(msg)+20)/16*16 + 16
			if vers >= VersionTLS11 {
				want += 16
			}
			assert.Equal(t, want, len(rec)-5, "record %d", i)
			got, err := r.decrypt(bytes.Clone(rec))
			require.NoError(t, err)
			assert.Equal(t, msg, string(got))
		}
		// Replay (wrong sequence number), flipped MAC byte, flipped padding byte,
		// truncated record: all the same error.
		w, r = pair()
		rec, err = w.encrypt(nil, recordApplicationData, []byte("payload"), randReader{})
		require.NoError(t, err)
		for name, bad := range map[string][]byte{
			"first ciphertext byte": flip(rec, 5),
			"last (padding) byte":   flip(rec, len(rec)-1),
			"short":                 append(bytes.Clone(rec[:5]), rec[5:5+16]...),
			"not block multiple":    append(bytes.Clone(rec), 0),
		} {
			_, r2 := pair()
			_, err := r2.decrypt(bad)
			assert.ErrorIs(t, err, ErrBadRecordMAC, "%s %s", VersionName(vers), name)
		}
		_, err = r.decrypt(bytes.Clone(rec))
		require.NoError(t, err)
		_, err = r.decrypt(bytes.Clone(rec))
		assert.ErrorIs(t, err, ErrBadRecordMAC, "replayed record")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x80
	return c
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

func TestMACInput(t *testing.T) {
	// HMAC-SHA1 over seq ‖ type ‖ version ‖ length ‖ data, against crypto/hmac fed
	// the header written by hand.
	macKey := []byte("0123456789abcdef0123")
	hc := &halfConn{version: VersionTLS11, mac: hmac.New(sha1.New, macKey)}
	got := hc.macInput(nil, [8]byte{0, 0, 0, 0, 0, 0, 0, 5}, recordApplicationData, []byte("abc"), nil)
	ref := hmac.New(sha1.New, macKey)
	ref.Write(unhex(t, "0000000000000005 17 0302 0003"))
	ref.Write([]byte("abc"))
	assert.Equal(t, ref.Sum(nil), got)
}

func TestAlertStrings(t *testing.T) {
	assert.Equal(t, "bad_record_mac", AlertBadRecordMAC.String())
	assert.Equal(t, "unknown_psk_identity", AlertUnknownPSKIdentity.String())
	assert.Equal(t, "alert(200)", Alert(200).String())
	e := &AlertError{Alert: AlertDecodeError, Err: &MessageError{Message: "Finished", Reason: "x"}}
	assert.True(t, errors.Is(e, AlertDecodeError))
	var me *MessageError
	assert.True(t, errors.As(e, &me))
	assert.Equal(t, "TLS 1.1", VersionName(VersionTLS11))
	assert.Equal(t, "0x0300", VersionName(0x0300))
	assert.Equal(t, "TLS_PSK_WITH_AES_256_CBC_SHA384", CipherSuiteName(TLS_PSK_WITH_AES_256_CBC_SHA384))
	assert.Equal(t, "0x002F", CipherSuiteName(0x2f))
}

// --- fuzz targets for every handshake message decoder -------------------------

func fuzzMessage(f *testing.F, fresh func() interface {
	marshal() []byte
	unmarshal([]byte) error
}, seeds ...string) {
	for _, s := range seeds {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := fresh()
		if err := m.unmarshal(b); err != nil {
			var me *MessageError
			require.ErrorAs(t, err, &me)
			return
		}
		again := fresh()
		require.NoError(t, again.unmarshal(m.marshal()))
		require.Equal(t, m, again)
	})
}

func FuzzClientHelloMsg(f *testing.F) {
	fuzzMessage(f, func() interface {
		marshal() []byte
		unmarshal([]byte) error
	} {
		return &clientHelloMsg{}
	}, messageVectors[0].hex, messageVectors[1].hex)
}

func FuzzServerHelloMsg(f *testing.F) {
	fuzzMessage(f, func() interface {
		marshal() []byte
		unmarshal([]byte) error
	} {
		return &serverHelloMsg{}
	}, messageVectors[2].hex, messageVectors[3].hex)
}

func FuzzServerKeyExchangeMsg(f *testing.F) {
	fuzzMessage(f, func() interface {
		marshal() []byte
		unmarshal([]byte) error
	} {
		return &serverKeyExchangeMsg{}
	}, messageVectors[4].hex)
}

func FuzzClientKeyExchangeMsg(f *testing.F) {
	fuzzMessage(f, func() interface {
		marshal() []byte
		unmarshal([]byte) error
	} {
		return &clientKeyExchangeMsg{}
	}, messageVectors[6].hex)
}

func FuzzFinishedMsg(f *testing.F) {
	fuzzMessage(f, func() interface {
		marshal() []byte
		unmarshal([]byte) error
	} {
		return &finishedMsg{}
	}, messageVectors[7].hex)
}

func FuzzEmptyMsg(f *testing.F) {
	f.Add([]byte{14, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range []uint8{typeServerHelloDone, typeHelloRequest} {
			if err := unmarshalEmpty(b, typ); err == nil {
				require.Equal(t, marshalEmpty(typ), b)
			}
		}
	})
}

func FuzzRenegotiationInfo(f *testing.F) {
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		empty, ok := renegotiationInfo(b)
		if ok {
			require.Equal(t, int(b[0])+1, len(b))
			require.Equal(t, b[0] == 0, empty)
		}
	})
}
