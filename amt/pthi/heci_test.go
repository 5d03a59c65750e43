package pthi

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Windows half's values, checked on every platform against Intel's metee
// src/Windows/public.h.
func TestHECIControlCodes(t *testing.T) {
	// CTL_CODE(FILE_DEVICE_HECI, 0x801, METHOD_BUFFERED,
	// FILE_READ_ACCESS|FILE_WRITE_ACCESS): 0x8000 << 16 | 3 << 14 | 0x801 << 2.
	assert.Equal(t, uint32(ioctlHECIConnectClient), ctlCode(fileDeviceHECI, 0x801, methodBuffered, fileReadAccess|fileWriteAccess))
	assert.Equal(t, uint32(0x8000E004), uint32(ioctlHECIConnectClient))
	assert.Equal(t, uint32(ioctlHECIGetVersion), ctlCode(fileDeviceHECI, 0x800, methodBuffered, fileReadAccess|fileWriteAccess))
	assert.Equal(t, uint32(0x8000E000), uint32(ioctlHECIGetVersion))
	// A cross-check of the encoder with a Windows code everyone knows:
	// IOCTL_DISK_GET_DRIVE_GEOMETRY = CTL_CODE(7, 0, 0, 0) = 0x70000.
	assert.Equal(t, uint32(0x70000), ctlCode(7, 0, methodBuffered, 0))
}

func TestHECIInterfaceAndInput(t *testing.T) {
	// GUID_DEVINTERFACE_HECI {0xE2D1FF34, 0x3458, 0x49A9, 0x88, 0xDA, 0x8E,
	// 0x69, 0x15, 0xCE, 0x9B, 0xE5} (metee public.h; intel/lms
	// AMT_COM_Interface.cpp heciGuid).
	assert.Equal(t, "e2d1ff34-3458-49a9-88da-8e6915ce9be5", heciInterface.String())
	// The connect input is a Windows GUID structure: Data1, Data2, Data3
	// little-endian, Data4 as is — rpc-go passes windows.GUIDFromString's
	// structure, whose memory is these bytes.
	in := heciConnectInput(ClientAMTHI)
	assert.Equal(t, "2800f812b7b42d4baca846e0ff65814c", hex.EncodeToString(in[:]))
	in = heciConnectInput(ClientLME)
	assert.Equal(t, "dba4336776047b4eb3afbcfc29bee7a7", hex.EncodeToString(in[:]))
}

func TestDecodeFWClient(t *testing.T) {
	// FW_CLIENT under pack(1): UINT32 MaxMessageLength, UINT8 ProtocolVersion.
	out := []byte{0x00, 0x10, 0x00, 0x00, 0x02, 0xee, 0xee}
	p, err := decodeFWClient(out, 5)
	require.NoError(t, err)
	assert.Equal(t, MEIProperties{MaxMessageLength: 4096, ProtocolVersion: 2}, p)
	// A driver that returns more (rpc-go passes a 16-byte buffer) is read
	// the same.
	p, err = decodeFWClient(append(out, make([]byte, 9)...), 16)
	require.NoError(t, err)
	assert.Equal(t, uint32(4096), p.MaxMessageLength)
	// Every shorter answer is refused, and so is a zero maximum.
	for n := range uint32(fwClientSize) {
		_, err := decodeFWClient(out, n)
		assert.Error(t, err, "%d bytes", n)
	}
	_, err = decodeFWClient(out, 8)
	assert.Error(t, err, "more bytes than the buffer")
	_, err = decodeFWClient([]byte{0, 0, 0, 0, 1}, 5)
	assert.ErrorIs(t, err, ErrMessageTooLarge)
}

// FuzzDecodeFWClient: the Windows connect answer never panics a decoder, and
// what it accepts has a maximum message length.
func FuzzDecodeFWClient(f *testing.F) {
	f.Add([]byte{0x00, 0x10, 0x00, 0x00, 0x02}, uint32(5))
	f.Add(make([]byte, 16), uint32(16))
	f.Fuzz(func(t *testing.T, out []byte, n uint32) {
		p, err := decodeFWClient(out, n)
		if err == nil && (p.MaxMessageLength == 0 || n < fwClientSize || uint64(n) > uint64(len(out))) {
			t.Fatalf("accepted %x (n=%d) as %+v", out, n, p)
		}
	})
}

// The Windows half of TestOpenMEIRefusesHugeMaxMessageLength: the HECI
// driver's FW_CLIENT answer is bounded like the Linux connect's.
func TestDecodeFWClientRefusesHugeMaxMessageLength(t *testing.T) {
	out := []byte{0x01, 0x00, 0x10, 0x00, 1} // 1 MiB + 1
	_, err := decodeFWClient(out, 5)
	require.ErrorIs(t, err, ErrMessageTooLarge)
	out = []byte{0x00, 0x00, 0x10, 0x00, 1} // 1 MiB
	p, err := decodeFWClient(out, 5)
	require.NoError(t, err)
	assert.Equal(t, uint32(1<<20), p.MaxMessageLength)
}
