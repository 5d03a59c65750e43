package pthi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

func TestCommandNames(t *testing.T) {
	tests := []struct {
		c    pthi.Command
		want string
	}{
		{pthi.CmdGetUUID, "GetUUID"},
		{pthi.CmdGetUUID.Response(), "GetUUID response"},
		{0x0480005C, "GetUUID response"},
		{pthi.CmdStartConfigurationHBased, "StartConfigurationHBased"},
		{0x04000044, "Command(0x4000044)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.c.String())
	}
	assert.Equal(t, pthi.Command(0x0480002D), pthi.CmdGetCertHashEntry.Response())
	assert.Equal(t, pthi.CmdGetCertHashEntry, pthi.Command(0x0480002D).Request())
	assert.True(t, pthi.Command(0x0480002D).IsResponse())
	assert.False(t, pthi.CmdGetCertHashEntry.IsResponse())
	for _, c := range pthi.Commands() {
		assert.Equal(t, uint32(0x04), uint32(c)>>24, "%v is a configuration-class command", c)
		assert.NotContains(t, c.String(), "Command(", "%#x has a name", uint32(c))
	}
}

func TestEncodeRequestHeader(t *testing.T) {
	// Hand-written: major 1, minor 1, reserved 0, command 0x0400002D LE, length 4 LE, handle 7.
	want := []byte{1, 1, 0, 0, 0x2d, 0, 0, 0x04, 4, 0, 0, 0, 7, 0, 0, 0}
	got, err := pthi.EncodeRequest(pthi.CmdGetCertHashEntry, []byte{7, 0, 0, 0})
	require.NoError(t, err)
	assert.Equal(t, want, got)

	h, err := pthi.ParseHeader(got)
	require.NoError(t, err)
	assert.Equal(t, pthi.Header{Major: 1, Minor: 1, Command: pthi.CmdGetCertHashEntry, Length: 4}, h)

	_, err = pthi.EncodeRequest(pthi.CmdGetUUID.Response(), nil)
	assert.ErrorIs(t, err, pthi.ErrInvalidArgument)
	_, err = pthi.EncodeRequest(pthi.CmdGetUUID, make([]byte, pthi.MaxMessageSize))
	assert.ErrorIs(t, err, pthi.ErrInvalidArgument)
}

func TestRequestResponseRoundTrip(t *testing.T) {
	req, err := pthi.EncodeRequest(pthi.CmdGetLANInterfaceSettings, []byte{1, 0, 0, 0})
	require.NoError(t, err)
	cmd, payload, err := pthi.DecodeRequest(req)
	require.NoError(t, err)
	assert.Equal(t, pthi.CmdGetLANInterfaceSettings, cmd)
	assert.Equal(t, []byte{1, 0, 0, 0}, payload)

	resp, err := pthi.AppendResponse(nil, cmd, amt.StatusSuccess, []byte{9, 8})
	require.NoError(t, err)
	// Hand-derived: response code has bit 23 set, length = status (4) + payload (2).
	assert.Equal(t, []byte{1, 1, 0, 0, 0x48, 0, 0x80, 0x04, 6, 0, 0, 0, 0, 0, 0, 0, 9, 8}, resp)
	p, err := pthi.DecodeResponse(cmd, resp)
	require.NoError(t, err)
	assert.Equal(t, []byte{9, 8}, p)

	_, _, err = pthi.DecodeRequest(resp)
	assert.ErrorIs(t, err, pthi.ErrWrongCommand)
	for n := range len(req) {
		_, _, err := pthi.DecodeRequest(req[:n])
		assert.ErrorIs(t, err, pthi.ErrMalformed, "prefix %d", n)
	}
}

func TestCommandErrorIsStatus(t *testing.T) {
	resp, err := pthi.AppendResponse(nil, pthi.CmdStopConfiguration, amt.StatusInvalidPTMode, nil)
	require.NoError(t, err)
	_, err = pthi.DecodeResponse(pthi.CmdStopConfiguration, resp)
	require.Error(t, err)
	assert.ErrorIs(t, err, amt.StatusInvalidPTMode)
	assert.NotErrorIs(t, err, amt.StatusInvalidPTMode+1)
	var ce *pthi.CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, pthi.CmdStopConfiguration, ce.Command)
	assert.Equal(t, "pthi: StopConfiguration failed: PT_STATUS_INVALID_PT_MODE (3)", err.Error())
}

func TestFormatErrorSaysExpectedAndGot(t *testing.T) {
	_, err := pthi.DecodeUUID(make([]byte, 15))
	require.Error(t, err)
	assert.Equal(t, "pthi: message truncated (GetUUID): UUID is 16 bytes, got 15", err.Error())
	assert.ErrorIs(t, err, pthi.ErrTruncated)
	assert.ErrorIs(t, err, pthi.ErrMalformed)
}

func TestDecoderRanges(t *testing.T) {
	u32 := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	tests := []struct {
		name string
		f    func([]byte) error
		ok   []uint32
		bad  []uint32
	}{
		{"state", func(b []byte) error { _, err := pthi.DecodeProvisioningState(b); return err }, []uint32{0, 1, 2}, []uint32{3, 0xFFFFFFFF}},
		{"mode", func(b []byte) error { _, err := pthi.DecodeControlMode(b); return err }, []uint32{0, 1, 2}, []uint32{3, 256}},
		{"tls", func(b []byte) error { _, err := pthi.DecodeTLSMode(b); return err }, []uint32{0, 1, 2}, []uint32{3}},
		{"rng", func(b []byte) error { _, err := pthi.DecodeRNGSeedStatus(b); return err }, []uint32{0, 1, 2}, []uint32{3}},
		// An AMT_BOOLEAN other than 0 or 1 is true, as rpc-go reads it (divergence 8).
		{"ztc", func(b []byte) error { _, err := pthi.DecodeZeroTouchEnabled(b); return err }, []uint32{0, 1, 2, 0x100}, nil},
	}
	for _, tt := range tests {
		for _, v := range tt.ok {
			assert.NoError(t, tt.f(u32(v)), "%s %d", tt.name, v)
		}
		for _, v := range tt.bad {
			assert.ErrorIs(t, tt.f(u32(v)), pthi.ErrBadValue, "%s %d", tt.name, v)
		}
		// Bytes after the last field are ignored, as rpc-go ignores them (divergence 8).
		assert.NoError(t, tt.f(append(u32(0), 0)), tt.name)
		assert.ErrorIs(t, tt.f(nil), pthi.ErrTruncated, tt.name)
	}
	on, err := pthi.DecodeZeroTouchEnabled(u32(2))
	require.NoError(t, err)
	assert.True(t, on, "AMT_BOOLEAN 2 is true")
}

func TestCodeVersionsRoundTrip(t *testing.T) {
	v := pthi.CodeVersions{BIOS: "BIOS 1.0", Entries: []pthi.VersionEntry{
		{Description: "AMT", Version: "11.8.50"}, {Description: "Build Number", Version: "3425"}, {Description: "", Version: ""},
	}}
	b, err := v.AppendBinary(nil)
	require.NoError(t, err)
	assert.Len(t, b, 65+4+3*44)
	got, err := pthi.DecodeCodeVersions(b)
	require.NoError(t, err)
	assert.Equal(t, v, got)
	ver, err := got.AMTVersion()
	require.NoError(t, err)
	assert.Equal(t, amt.Version{Major: 11, Minor: 8, Build: 50, Revision: 3425}, ver)

	// Bytes after the counted entries are ignored (divergence 8: rpc-go).
	for _, pad := range []int{43, 44, 200} {
		got, err = pthi.DecodeCodeVersions(append(b, make([]byte, pad)...))
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
	for n := range len(b) {
		_, err := pthi.DecodeCodeVersions(b[:n])
		assert.ErrorIs(t, err, pthi.ErrMalformed, "prefix %d", n)
	}

	_, err = pthi.CodeVersions{Entries: []pthi.VersionEntry{{Description: "Flash", Version: "1"}}}.AMTVersion()
	assert.ErrorIs(t, err, pthi.ErrBadValue)
	_, err = pthi.CodeVersions{Entries: make([]pthi.VersionEntry, 51)}.AppendBinary(nil)
	assert.ErrorIs(t, err, pthi.ErrInvalidArgument)
}

func TestCertHashEntryRoundTrip(t *testing.T) {
	for _, alg := range []amt.HashAlgorithm{0, amt.HashSHA1, amt.HashSHA256, amt.HashSHA384, 4, amt.HashSHA512} {
		size := map[amt.HashAlgorithm]int{0: 16, 1: 20, 2: 32, 3: 48, 4: 28, 5: 64}[alg]
		e := pthi.CertHashEntry{Name: "Root " + alg.String(), Hash: amt.CertHash{Alg: alg, Sum: make([]byte, size)}, Default: alg%2 == 0, Active: true}
		for i := range e.Hash.Sum {
			e.Hash.Sum[i] = byte(i + 1)
		}
		b, err := e.AppendBinary(nil)
		require.NoError(t, err)
		assert.Len(t, b, 4+4+64+1+2+len(e.Name))
		got, err := pthi.DecodeCertHashEntry(b)
		require.NoError(t, err)
		assert.Equal(t, e, got)
	}
	_, err := pthi.CertHashEntry{Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 31)}}.AppendBinary(nil)
	assert.ErrorIs(t, err, pthi.ErrInvalidArgument)
}

func TestLANSettingsRoundTrip(t *testing.T) {
	s := pthi.LANSettings{Enabled: true, IPv4: netip.MustParseAddr("10.1.2.3"), DHCPEnabled: false,
		DHCPMode: pthi.DHCPModeActive, LinkUp: false, MAC: net.HardwareAddr{0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}}
	b, err := s.AppendBinary(nil)
	require.NoError(t, err)
	// Hand-derived bytes: enabled, 0x0A010203 LE, dhcp 0, mode 1, link 0, MAC.
	assert.Equal(t, []byte{1, 0, 0, 0, 3, 2, 1, 10, 0, 0, 0, 0, 1, 0, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}, b)
	got, err := pthi.DecodeLANSettings(b)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	b[13] = 2 // link status 2
	_, err = pthi.DecodeLANSettings(b)
	assert.ErrorIs(t, err, pthi.ErrBadValue)
}

func TestLocalSystemAccount(t *testing.T) {
	a := pthi.LocalSystemAccount{Username: "$$OsAdmin", Password: amt.NewSecret("p4ss!Word-xyz")}
	b, err := a.AppendBinary(nil)
	require.NoError(t, err)
	assert.Len(t, b, 66)
	for _, extra := range []int{0, 1, 2} {
		got, err := pthi.DecodeLocalSystemAccount(append(b, make([]byte, extra)...))
		require.NoError(t, err)
		assert.Equal(t, a.Username, got.Username)
		assert.True(t, a.Password.Equal(got.Password))
	}
	_, err = pthi.DecodeLocalSystemAccount(append(b, 0, 0, 0)) // more padding: ignored (divergence 8)
	assert.NoError(t, err)
	_, err = pthi.DecodeLocalSystemAccount(b[:65])
	assert.ErrorIs(t, err, pthi.ErrTruncated)

	// The password never prints.
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a)} {
		assert.NotContains(t, s, "p4ss")
	}
}

func TestOTPNeverInErrors(t *testing.T) {
	tests := []struct {
		otp     string
		wantErr bool
	}{
		{"short7!", true},
		{"exactly8", false},
		{strings.Repeat("a", 31), false},
		{strings.Repeat("b", 32), true}, // 33 bytes with the NUL: more than LMS ever sent
		{"with\x00nul-byte", true},
		{"tab\tinside-otp", true},
		{"spaces are fine", false},
	}
	for _, tt := range tests {
		replay := pthitest.NewReplay()
		err := pthi.NewClient(replay).SetProvisioningServerOTP(context.Background(), amt.NewSecret(tt.otp))
		if !tt.wantErr {
			// A valid OTP reaches the transport (whose empty script refuses it).
			assert.ErrorIs(t, err, pthitest.ErrScriptExhausted, "%q", tt.otp)
			continue
		}
		assert.ErrorIs(t, err, pthi.ErrOTPFormat, "%q", tt.otp)
		assert.ErrorIs(t, err, pthi.ErrInvalidArgument)
		assert.NotContains(t, err.Error(), tt.otp)
		assert.NoError(t, replay.Done(), "nothing was sent")
	}
}

func TestHBasedRequestArguments(t *testing.T) {
	sha256 := amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 32)}
	tests := []struct {
		name string
		r    pthi.HBasedRequest
	}{
		{"sha1", pthi.HBasedRequest{ServerHash: amt.CertHash{Alg: amt.HashSHA1, Sum: make([]byte, 20)}}},
		{"short digest", pthi.HBasedRequest{ServerHash: amt.CertHash{Alg: amt.HashSHA384, Sum: make([]byte, 32)}}},
		{"six suffixes", pthi.HBasedRequest{ServerHash: sha256, DNSSuffixes: []string{"a", "b", "c", "d", "e", "f"}}},
		{"long suffix", pthi.HBasedRequest{ServerHash: sha256, DNSSuffixes: []string{strings.Repeat("x", 64)}}},
		{"empty suffix", pthi.HBasedRequest{ServerHash: sha256, DNSSuffixes: []string{""}}},
		{"NUL in suffix", pthi.HBasedRequest{ServerHash: sha256, DNSSuffixes: []string{"a\x00b"}}},
	}
	for _, tt := range tests {
		_, err := tt.r.AppendBinary(nil)
		assert.ErrorIs(t, err, pthi.ErrInvalidArgument, tt.name)
	}
	b, err := pthi.HBasedRequest{ServerHash: sha256, DNSSuffixes: []string{strings.Repeat("x", 63), "a", "b", "c", "d"}}.AppendBinary(nil)
	require.NoError(t, err)
	assert.Len(t, b, 390)
}

func TestClientWithoutTransport(t *testing.T) {
	var c *pthi.Client
	_, err := c.UUID(context.Background())
	assert.ErrorIs(t, err, pthi.ErrNoTransport)
	_, err = pthi.NewClient(nil).UUID(context.Background())
	assert.ErrorIs(t, err, pthi.ErrNoTransport)
	_, err = pthi.QueryChangeEnabled(context.Background(), nil)
	assert.ErrorIs(t, err, pthi.ErrNoTransport)
}

func TestTransportErrorWrapped(t *testing.T) {
	boom := errors.New("device reset")
	replay := pthitest.NewReplay(pthitest.Exchange{Request: mustEncode(t, pthi.CmdGetUUID, nil), Err: boom})
	_, err := pthi.NewClient(replay).UUID(context.Background())
	assert.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "GetUUID")
}

func TestChangeEnabled(t *testing.T) {
	tests := []struct {
		b                           byte
		allowed, newIf, amtOn, tlsL bool
	}{
		{0x00, false, false, false, false},
		{0x43, true, false, false, true}, // bit 1 means nothing without bit 7; bit 6 counts alone (rpc-go, current intel/lms)
		{0xC3, true, true, true, true},
		{0x82, false, true, true, false},
		{0xE0, false, true, false, true},
	}
	for _, tt := range tests {
		c, err := pthi.DecodeChangeEnabled([]byte{tt.b, 0xFF})
		require.NoError(t, err)
		assert.Equal(t, tt.allowed, c.Allowed(), "%#x", tt.b)
		assert.Equal(t, tt.newIf, c.NewInterface(), "%#x", tt.b)
		assert.Equal(t, tt.amtOn, c.AMTEnabled(), "%#x", tt.b)
		assert.Equal(t, tt.tlsL, c.TLSEnforcedOnLocalPorts(), "%#x", tt.b)
	}
	assert.Equal(t, "0xc3 (allowed, operational, tls-local, new-interface)", pthi.ChangeEnabled(0xC3).String())
	_, err := pthi.DecodeChangeEnabled(nil)
	assert.ErrorIs(t, err, pthi.ErrTruncated)
}

func mustEncode(t testing.TB, cmd pthi.Command, payload []byte) []byte {
	t.Helper()
	b, err := pthi.EncodeRequest(cmd, payload)
	require.NoError(t, err)
	return b
}
