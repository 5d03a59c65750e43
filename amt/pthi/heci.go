package pthi

import (
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/wire"
)

// This file holds the platform-independent half of the Windows MEI transport:
// the HECI driver's device interface, its I/O control codes and data layouts.
// They are pure values and functions so that they are tested on every platform;
// mei_windows.go makes the system calls.
//
// Sources: Intel's metee library src/Windows/public.h (GUID_DEVINTERFACE_HECI,
// FILE_DEVICE_HECI, IOCTL_TEEDRIVER_GET_VERSION and IOCTL_TEEDRIVER_CONNECT_CLIENT
// as CTL_CODE(FILE_DEVICE_HECI, 0x800/0x801, METHOD_BUFFERED,
// FILE_READ_ACCESS|FILE_WRITE_ACCESS), the packed FW_CLIENT {UINT32
// MaxMessageLength; UINT8 ProtocolVersion}); intel/lms
// UNS/AMT_COM_Interface/AMT_COM_Interface.cpp (the same interface GUID); rpc-go
// pkg/heci/windows.go (the same codes through its ctl_code helper).

// heciInterface is GUID_DEVINTERFACE_HECI, E2D1FF34-3458-49A9-88DA-8E6915CE9BE5:
// the device interface class the Intel MEI driver registers on Windows.
var heciInterface = amt.UUID{0xe2, 0xd1, 0xff, 0x34, 0x34, 0x58, 0x49, 0xa9, 0x88, 0xda, 0x8e, 0x69, 0x15, 0xce, 0x9b, 0xe5}

// Windows CTL_CODE fields (winioctl.h): device type in bits 16–31, access in
// 14–15, function in 2–13, method in 0–1.
const (
	fileDeviceHECI  = 0x8000
	methodBuffered  = 0
	fileReadAccess  = 1
	fileWriteAccess = 2
)

// ctlCode computes CTL_CODE(deviceType, function, method, access).
func ctlCode(deviceType, function, method, access uint32) uint32 {
	return deviceType<<16 | access<<14 | function<<2 | method
}

// The HECI driver's I/O controls.
const (
	// ioctlHECIGetVersion is IOCTL_TEEDRIVER_GET_VERSION = 0x8000E000.
	ioctlHECIGetVersion = 0x8000E000
	// ioctlHECIConnectClient is IOCTL_TEEDRIVER_CONNECT_CLIENT (alias
	// IOCTL_HECI_CONNECT_CLIENT) = 0x8000E004: in, the client's GUID (16 bytes,
	// Windows GUID layout); out, FW_CLIENT.
	ioctlHECIConnectClient = 0x8000E004
)

// fwClientSize is sizeof(FW_CLIENT) under #pragma pack(1).
const fwClientSize = 5

// heciConnectInput is the connect control's input: the client's GUID as a
// Windows GUID structure (Data1, Data2, Data3 little-endian, then Data4), the
// byte order [amt.UUID.Wire] produces.
func heciConnectInput(c MEIClient) [16]byte { return c.GUID().Wire() }

// decodeFWClient decodes the connect control's output; n is the byte count the
// driver returned. A short answer or a maximum length of zero or above
// maxMEIMessageLength is an error.
func decodeFWClient(out []byte, n uint32) (MEIProperties, error) {
	if uint64(n) > uint64(len(out)) {
		return MEIProperties{}, fmt.Errorf("pthi: HECI connect returned %d bytes for a %d-byte buffer", n, len(out))
	}
	var p MEIProperties
	r := wire.NewReader(out[:n])
	r.ReadU32(&p.MaxMessageLength)
	r.ReadU8(&p.ProtocolVersion)
	if err := r.Err(); err != nil {
		return MEIProperties{}, fmt.Errorf("pthi: HECI connect answer: expected %d bytes (FW_CLIENT), got %d: %w", fwClientSize, n, err)
	}
	if err := checkMaxMessageLength(p.MaxMessageLength); err != nil {
		return MEIProperties{}, err
	}
	return p, nil
}
