package apf_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/internal/wire"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	require.NoError(t, err)
	return b
}

var testUUID = amt.UUID{0xd2, 0xff, 0xc2, 0x3e, 0x9d, 0xd1, 0x41, 0x2d, 0x86, 0x0a, 0x54, 0xb2, 0x03, 0x9b, 0x72, 0xff}

// golden pairs every message type with bytes written out by hand from the
// layouts of intel/lms LMS_if.h (packed, big-endian through htonl) and the
// offsets MeshCentral's amt-lme.js and mpsserver.js read.
func golden(t testing.TB) []struct {
	name string
	msg  apf.Message
	wire []byte
} {
	pv := unhex(t, "c0 00000001 00000000 000000fe 3ec2ffd2d19d2d41860a54b2039b72ff"+strings.Repeat("00", 64))
	return []struct {
		name string
		msg  apf.Message
		wire []byte
	}{
		{"protocol version", apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: apf.TriggerLME, UUID: testUUID}, pv},
		{"disconnect", apf.Disconnect{Reason: apf.DisconnectProtocolError}, unhex(t, "01 00000002 0000")},
		{"service request", apf.ServiceRequest{Service: apf.ServicePortForwarding}, append(unhex(t, "05 00000012"), "pfwd@amt.intel.com"...)},
		{"service accept", apf.ServiceAccept{Service: apf.ServiceAuth}, append(unhex(t, "06 00000012"), "auth@amt.intel.com"...)},
		{"userauth none", apf.UserAuthRequest{User: "u", Service: "pfwd@amt.intel.com", Method: "none"},
			append(append(append(unhex(t, "32 00000001 75 00000012"), "pfwd@amt.intel.com"...), unhex(t, "00000004")...), "none"...)},
		{"userauth password", apf.UserAuthRequest{User: "u", Service: "s", Method: "password", Password: amt.NewSecret("pw")},
			append(append(unhex(t, "32 00000001 75 00000001 73 00000008"), "password"...), unhex(t, "00 00000002 7077")...)},
		{"userauth success", apf.UserAuthSuccess{}, unhex(t, "34")},
		{"userauth failure", apf.UserAuthFailure{Methods: "password"}, append(append(unhex(t, "33 00000008"), "password"...), 0)},
		{"tcpip-forward", apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: "127.0.0.1", Port: 16992},
			append(append(append(unhex(t, "50 0000000d"), "tcpip-forward"...), unhex(t, "01 00000009")...), append([]byte("127.0.0.1"), unhex(t, "00004260")...)...)},
		{"cancel-tcpip-forward", apf.GlobalRequest{Name: apf.RequestCancelTCPForward, Address: "::1", Port: 623},
			append(append(append(unhex(t, "50 00000014"), "cancel-tcpip-forward"...), unhex(t, "00 00000003")...), append([]byte("::1"), unhex(t, "0000026f")...)...)},
		{"udp-send-to", apf.GlobalRequest{Name: apf.RequestUDPSendTo, WantReply: true, Address: "a", Port: 1, OriginAddress: "b", OriginPort: 2, Data: []byte{9, 8}},
			append(append(unhex(t, "50 00000019"), "udp-send-to@amt.intel.com"...), unhex(t, "01 00000001 61 00000001 00000001 62 00000002 00000002 0908")...)},
		{"other global request", apf.GlobalRequest{Name: "x", Data: []byte{1, 2}}, unhex(t, "50 00000001 78 00 0102")},
		{"forward reply", apf.TCPForwardSuccess(16993), unhex(t, "51 00004261")},
		{"cancel reply", apf.RequestSuccess{}, unhex(t, "51")},
		{"request failure", apf.RequestFailure{}, unhex(t, "52")},
		{"channel open", apf.ChannelOpen{ChannelType: apf.ChannelForwarded, Sender: 3, Window: 4096, Reserved: 0xffffffff,
			Address: "127.0.0.1", Port: 16992, OriginAddress: "127.0.0.1", OriginPort: 49155},
			append(append(append(append(unhex(t, "5a 0000000f"), "forwarded-tcpip"...), unhex(t, "00000003 00001000 ffffffff 00000009")...),
				append([]byte("127.0.0.1"), unhex(t, "00004260 00000009")...)...), append([]byte("127.0.0.1"), unhex(t, "0000c003")...)...)},
		{"open confirmation", apf.ChannelOpenConfirmation{Recipient: 3, Sender: 7, Window: 2048, Reserved: 0xffffffff}, unhex(t, "5b 00000003 00000007 00000800 ffffffff")},
		{"open failure", apf.ChannelOpenFailure{Recipient: 3, Reason: apf.OpenResourceShortage}, unhex(t, "5c 00000003 00000004 00000000 00000000")},
		{"window adjust", apf.WindowAdjust{Recipient: 7, Bytes: 1460}, unhex(t, "5d 00000007 000005b4")},
		{"data", apf.ChannelData{Recipient: 7, Data: []byte("GET")}, unhex(t, "5e 00000007 00000003 474554")},
		{"empty data", apf.ChannelData{Recipient: 7}, unhex(t, "5e 00000007 00000000")},
		{"close", apf.ChannelClose{Recipient: 7}, unhex(t, "61 00000007")},
		{"keepalive request", apf.KeepAliveRequest{Cookie: 0xdeadbeef}, unhex(t, "d0 deadbeef")},
		{"keepalive reply", apf.KeepAliveReply{Cookie: 1}, unhex(t, "d1 00000001")},
		{"keepalive options request", apf.KeepAliveOptionsRequest{Interval: 30, Timeout: 5}, unhex(t, "d2 0000001e 00000005")},
		{"keepalive options reply", apf.KeepAliveOptionsReply{Interval: 30, Timeout: 5}, unhex(t, "d3 0000001e 00000005")},
		{"unknown", apf.Unknown{Kind: 0x60, Body: []byte{1}}, unhex(t, "60 01")},
	}
}

func TestGolden(t *testing.T) {
	for _, g := range golden(t) {
		t.Run(g.name, func(t *testing.T) {
			b, err := apf.Encode(g.msg)
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(g.wire), hex.EncodeToString(b), "encoding")
			m, err := apf.Decode(g.wire)
			require.NoError(t, err)
			assertSame(t, g.msg, m)
			assert.Equal(t, g.msg.Type(), m.Type())
		})
	}
}

// assertSame compares messages, secrets by value.
func assertSame(t *testing.T, want, got apf.Message) {
	t.Helper()
	if w, ok := want.(apf.UserAuthRequest); ok {
		g, ok := got.(apf.UserAuthRequest)
		require.True(t, ok)
		assert.True(t, w.Password.Equal(g.Password), "password")
		w.Password, g.Password = amt.Secret{}, amt.Secret{}
		assert.Equal(t, w, g)
		return
	}
	wb, err := apf.Encode(want)
	require.NoError(t, err)
	gb, err := apf.Encode(got)
	require.NoError(t, err)
	assert.Equal(t, wb, gb)
}

// openEnded are the messages whose last field has no length of its own (the
// MEI message ends it, as in SSH): a prefix of them is itself a message.
func openEnded(m apf.Message) bool {
	switch m := m.(type) {
	case apf.RequestSuccess, apf.Unknown:
		return true
	case apf.GlobalRequest:
		return m.Name != apf.RequestTCPForward && m.Name != apf.RequestCancelTCPForward && m.Name != apf.RequestUDPSendTo
	}
	return false
}

// Every strict prefix of every message whose layout fixes its length is
// refused with a *FormatError, and so is every message with a byte more.
func TestStrictPrefixesRefused(t *testing.T) {
	for _, g := range golden(t) {
		if openEnded(g.msg) {
			continue
		}
		for n := range len(g.wire) {
			_, err := apf.Decode(g.wire[:n])
			require.Error(t, err, "%s: %d of %d bytes", g.name, n, len(g.wire))
			var fe *apf.FormatError
			require.ErrorAs(t, err, &fe)
			assert.ErrorIs(t, err, apf.ErrMalformed)
		}
		_, err := apf.Decode(append(bytes.Clone(g.wire), 0))
		assert.ErrorIs(t, err, apf.ErrMalformed, "%s with a trailing byte", g.name)
	}
	// The open-ended ones: their fixed part is still checked.
	for _, b := range [][]byte{unhex(t, "50"), unhex(t, "50 000000"), unhex(t, "50 00000001 78")} {
		_, err := apf.Decode(b)
		assert.ErrorIs(t, err, apf.ErrMalformed, "%x", b)
	}
}

// DecodeLenient decodes what Decode decodes, and a message followed by bytes
// it does not know (padding) as the message alone, saying how many there were;
// a strict prefix is still refused.
func TestDecodeLenient(t *testing.T) {
	for _, g := range golden(t) {
		m, trailing, err := apf.DecodeLenient(g.wire)
		require.NoError(t, err, g.name)
		assertSame(t, g.msg, m)
		assert.Zero(t, trailing)
		if openEnded(g.msg) {
			continue
		}
		m, trailing, err = apf.DecodeLenient(append(bytes.Clone(g.wire), 0, 0))
		require.NoError(t, err, g.name)
		assertSame(t, g.msg, m)
		assert.Equal(t, 2, trailing, g.name)
		_, _, err = apf.DecodeLenient(g.wire[:len(g.wire)-1])
		assert.ErrorIs(t, err, apf.ErrMalformed, g.name)
	}
	_, _, err := apf.DecodeLenient(nil)
	assert.ErrorIs(t, err, apf.ErrMalformed)
}

func TestDecodeErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "apf: empty message"},
		{"truncated", unhex(t, "5d 00000007 0000"), "apf: CHANNEL_WINDOW_ADJUST at offset 5: wire: 4 bytes needed at offset 5, 2 left"},
		{"data longer than the message", unhex(t, "5e 00000007 00000004 4745"), "apf: CHANNEL_DATA at offset 9: data length 4, 2 bytes left"},
		{"string too long", unhex(t, "05 00000801"), "string longer than 2048 bytes: length 2049"},
		{"want-reply not boolean", append(append(unhex(t, "50 0000000d"), "tcpip-forward"...), 2), "want-reply is 2"},
		{"password flag", append(append(unhex(t, "32 00000000 00000000 00000008"), "password"...), unhex(t, "01 00000000")...), "password flag is 1"},
		{"trailing", unhex(t, "61 00000007 00"), "1 bytes after the message"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := apf.Decode(tt.b)
			require.ErrorIs(t, err, apf.ErrMalformed)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := apf.Decode(unhex(t, "5d 00000007 0000"))
	var se *wire.ShortError
	assert.True(t, errors.As(err, &se), "a truncation unwraps to the reader's ShortError")
}

func TestEncodeRefusesLongStrings(t *testing.T) {
	long := strings.Repeat("a", apf.MaxStringLength+1)
	for _, m := range []apf.Message{
		apf.ServiceRequest{Service: long},
		apf.GlobalRequest{Name: apf.RequestTCPForward, Address: long},
		apf.ChannelOpen{ChannelType: apf.ChannelForwarded, OriginAddress: long},
		apf.UserAuthRequest{Method: apf.MethodPassword, Password: amt.NewSecret(long)},
	} {
		_, err := apf.Encode(m)
		assert.ErrorIs(t, err, apf.ErrStringTooLong, "%T", m)
	}
	_, err := apf.Encode(apf.ServiceRequest{Service: long[:apf.MaxStringLength]})
	assert.NoError(t, err)
}

func TestNames(t *testing.T) {
	assert.Equal(t, "CHANNEL_DATA", apf.TypeChannelData.String())
	assert.Equal(t, "MessageType(96)", apf.MessageType(96).String())
	assert.Equal(t, "protocol error", apf.DisconnectProtocolError.String())
	assert.Equal(t, "reason 99", apf.DisconnectReason(99).String())
	assert.Equal(t, "resource shortage", apf.OpenResourceShortage.String())
	assert.Equal(t, "reason 0", apf.OpenFailureReason(0).String())
	p, ok := apf.TCPForwardSuccess(16992).Port()
	assert.True(t, ok)
	assert.Equal(t, uint32(16992), p)
	_, ok = apf.RequestSuccess{}.Port()
	assert.False(t, ok)
}

// The password of a user-authentication request never prints.
func TestUserAuthPasswordRedacted(t *testing.T) {
	m, err := apf.Decode(golden(t)[5].wire)
	require.NoError(t, err)
	for _, format := range []string{"%v", "%+v", "%#v"} {
		out := fmt.Sprintf(format, m)
		assert.NotContains(t, out, "pw}", format)
		assert.Contains(t, out, amt.Redacted, format)
	}
}

func asFormatError(err error, fe **apf.FormatError) bool { return errors.As(err, fe) }
