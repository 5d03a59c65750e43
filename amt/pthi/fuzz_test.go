package pthi_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/internal/testvectors"
)

// seedPayloads adds the payload of every golden response for cmd to the corpus.
func seedPayloads(f *testing.F, cmd pthi.Command) {
	f.Helper()
	for _, name := range []string{"pthi_commands", "pthi_errors"} {
		for _, v := range testvectors.Load[commandVector](f, name).Vectors {
			if v.Command != upperHex(cmd) || len(v.Response) < pthi.ResponseHeaderSize {
				continue
			}
			f.Add([]byte(v.Response[pthi.ResponseHeaderSize:]))
		}
	}
	f.Add([]byte{})
}

// fuzzDecoder checks that decode never panics and, where an encoder exists, that
// decode(encode(decode(x))) == decode(x).
func fuzzDecoder[T any](f *testing.F, cmd pthi.Command, decode func([]byte) (T, error), encode func(T) ([]byte, error)) {
	seedPayloads(f, cmd)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decode(b)
		if err != nil || encode == nil {
			return
		}
		enc, err := encode(v)
		require.NoError(t, err)
		v2, err := decode(enc)
		require.NoError(t, err)
		require.Equal(t, v, v2)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"pthi_commands", "pthi_errors"} {
		for _, v := range testvectors.Load[commandVector](f, name).Vectors {
			f.Add(uint32(pthi.CmdGetUUID), []byte(v.Response))
		}
	}
	f.Fuzz(func(t *testing.T, cmd uint32, b []byte) {
		p, err := pthi.DecodeResponse(pthi.Command(cmd), b)
		if err == nil {
			require.LessOrEqual(t, len(p), len(b)-pthi.ResponseHeaderSize)
			resp, err := pthi.AppendResponse(nil, pthi.Command(cmd), 0, p)
			require.NoError(t, err)
			// Equal but for the minor version, which may be any value from 1 up.
			require.True(t, bytes.Equal(resp[2:], b[2:]))
			require.Equal(t, byte(pthi.VersionMajor), b[0])
			require.GreaterOrEqual(t, b[1], byte(pthi.VersionMinor))
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, v := range testvectors.Load[commandVector](f, "pthi_commands").Vectors {
		f.Add([]byte(v.Request))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, p, err := pthi.DecodeRequest(b)
		if err == nil {
			req, err := pthi.EncodeRequest(cmd, p)
			require.NoError(t, err)
			require.Equal(t, b[2:], req[2:]) // the minor version may be any value from 1 up
		}
	})
}

func FuzzDecodeCodeVersions(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetCodeVersions, pthi.DecodeCodeVersions, func(v pthi.CodeVersions) ([]byte, error) { return v.AppendBinary(nil) })
}

func FuzzDecodeUUID(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetUUID, pthi.DecodeUUID, nil)
}

func FuzzDecodeProvisioningState(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetProvisioningState, pthi.DecodeProvisioningState, nil)
}

func FuzzDecodeControlMode(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetControlMode, pthi.DecodeControlMode, nil)
}

func FuzzDecodeTLSMode(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetProvisioningTLSMode, pthi.DecodeTLSMode, nil)
}

func FuzzDecodeZeroTouchEnabled(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetZeroTouchEnabled, pthi.DecodeZeroTouchEnabled, nil)
}

func FuzzDecodeRNGSeedStatus(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetRNGSeedStatus, pthi.DecodeRNGSeedStatus, nil)
}

func FuzzDecodeHashHandles(f *testing.F) {
	fuzzDecoder(f, pthi.CmdEnumerateHashHandles, pthi.DecodeHashHandles, nil)
}

func FuzzDecodeCertHashEntry(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetCertHashEntry, pthi.DecodeCertHashEntry, func(e pthi.CertHashEntry) ([]byte, error) { return e.AppendBinary(nil) })
}

func FuzzDecodePKIDNSSuffix(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetPKIDNSSuffix, pthi.DecodePKIDNSSuffix, nil)
}

func FuzzDecodeLocalSystemAccount(f *testing.F) {
	seedPayloads(f, pthi.CmdGetLocalSystemAccount)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := pthi.DecodeLocalSystemAccount(b)
		if err != nil {
			return
		}
		enc, err := a.AppendBinary(nil)
		require.NoError(t, err)
		a2, err := pthi.DecodeLocalSystemAccount(enc)
		require.NoError(t, err)
		require.Equal(t, a.Username, a2.Username)
		require.True(t, a.Password.Equal(a2.Password))
	})
}

func FuzzDecodeLANSettings(f *testing.F) {
	fuzzDecoder(f, pthi.CmdGetLANInterfaceSettings, pthi.DecodeLANSettings, func(s pthi.LANSettings) ([]byte, error) { return s.AppendBinary(nil) })
}

func FuzzDecodeHBasedResponse(f *testing.F) {
	fuzzDecoder(f, pthi.CmdStartConfigurationHBased, pthi.DecodeHBasedResponse, nil)
}

func FuzzDecodeChangeEnabled(f *testing.F) {
	f.Add([]byte{0xC3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := pthi.DecodeChangeEnabled(b)
		if err == nil {
			require.Equal(t, b[0], uint8(c))
		}
	})
}
