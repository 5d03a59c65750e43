package pthi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/ctxwait"
)

// This file holds the platform-independent half of the MEI transport: client GUIDs,
// the connect ioctl's number and data layout, and the framing rules. The Linux half
// (mei_linux.go) does the system calls; it has not been run against hardware.

// DefaultMEIDevice is the Linux MEI character device.
const DefaultMEIDevice = "/dev/mei0"

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=MEIClient -linecomment -output=meiclient_string.go

// MEIClient names a firmware client behind the MEI (HECI) device. String returns
// "AMTHI", "watchdog", "LME" or "MEIClient(n)".
type MEIClient uint8

// MEI clients.
const (
	// ClientAMTHI is the PTHI/AMTHI client, GUID 12F80028-B4B7-4B2D-ACA8-46E0FF65814C
	// (intel/lms MEIClient/Include/HECI_if.h HECI_AMTHI_GUID; rpc-go
	// pkg/heci/linux.go MEI_IAMTHIF holds the same GUID as wire bytes).
	ClientAMTHI MEIClient = iota // AMTHI
	// ClientWatchdog is the client that answers the IsChangeToAMTEnabled query, GUID
	// 05B79A6F-4628-4D7F-899D-A91514CB32AB (intel/lms HECI_WATCHDOG_GUID; rpc-go
	// MEI_WDIF).
	ClientWatchdog // watchdog
	// ClientLME is the Local Manageability Engine client, GUID
	// 6733A4DB-0476-4E7B-B3AF-BCFC29BEE7A7 (intel/lms HECI_if.h LME_GUID; rpc-go
	// pkg/heci/linux.go MEI_LMEIF): AMT's port forwarding (APF) to its local
	// WS-Management ports, what Intel's LMS relays. Open it with [OpenMEIConn];
	// package amt/apf speaks APF over it.
	ClientLME // LME
)

// GUID returns the client's GUID in canonical byte order. The connect ioctl takes
// it in the kernel's guid_t (little-endian, "mixed-endian") order: [amt.UUID.Wire].
func (c MEIClient) GUID() amt.UUID {
	switch c {
	case ClientAMTHI:
		return amt.UUID{0x12, 0xf8, 0x00, 0x28, 0xb4, 0xb7, 0x4b, 0x2d, 0xac, 0xa8, 0x46, 0xe0, 0xff, 0x65, 0x81, 0x4c}
	case ClientWatchdog:
		return amt.UUID{0x05, 0xb7, 0x9a, 0x6f, 0x46, 0x28, 0x4d, 0x7f, 0x89, 0x9d, 0xa9, 0x15, 0x14, 0xcb, 0x32, 0xab}
	case ClientLME:
		return amt.UUID{0x67, 0x33, 0xa4, 0xdb, 0x04, 0x76, 0x4e, 0x7b, 0xb3, 0xaf, 0xbc, 0xfc, 0x29, 0xbe, 0xe7, 0xa7}
	}
	return amt.UUID{}
}

// MEIConfig configures [OpenMEI]. The zero value connects to the PTHI client on
// /dev/mei0.
type MEIConfig struct {
	// Device is the MEI character device (default [DefaultMEIDevice]).
	Device string
	// Client is the firmware client to connect to (default [ClientAMTHI]).
	Client MEIClient
	// Timeout bounds each exchange when the caller's context has no earlier
	// deadline, so that a firmware that never answers cannot block forever
	// (default [DefaultMEITimeout]; negative: no bound).
	Timeout time.Duration
	// ConnectRetry bounds the waits between attempts to open the device and
	// connect the client while the driver answers busy (EBUSY) or not ready
	// (ENODEV), as it does for seconds after a firmware reset or while another
	// process holds the client. The waits ramp 250 ms, 500 ms, 750 ms, … and
	// end with ctx. Default [DefaultMEIConnectRetry]; negative: one attempt.
	// Linux only: Windows keeps LMS's three attempts 500 ms apart.
	ConnectRetry time.Duration
	// Sleep waits for d or until ctx ends; it returns ctx's error in the second
	// case. The connect retries and the retries of a busy write wait with it.
	// Nil: a timer. Tests inject one to make the waits instantaneous.
	Sleep func(ctx context.Context, d time.Duration) error

	// connect replaces the connect ioctl (Linux), for tests.
	connect func(fd int, c MEIClient) (MEIProperties, error)
	// write replaces the write of a request to the device (Linux), for tests.
	write func(f *os.File, b []byte) (int, error)
}

// DefaultMEITimeout is the default bound of one MEI exchange. The peers wait
// less (rpc-go's HeciReadTimeout 3 s, MeshAgent 2 s): amtkit waits longer
// because some commands (StartConfigurationHBased, Unprovision) make the
// firmware work for seconds before it answers, and a timed-out exchange
// forces a reconnect; a firmware that never answers holds a caller this long
// per command (set MEIConfig.Timeout for less).
const DefaultMEITimeout = 30 * time.Second

// DefaultMEIConnectRetry is the default of MEIConfig.ConnectRetry: rpc-go
// retries a busy connect for up to about 21 s (pkg/heci/linux.go, 8 attempts
// 750 ms × attempt apart); its issue 1210 logs five busy retries over 5 s
// before the connect went through, and PR 1466 calls busy connects and writes
// an expected transient of every local activation.
const DefaultMEIConnectRetry = 20 * time.Second

// meiConnectStep is the ramp of the connect retries: the n-th wait is n steps.
// The ME is usually ready within milliseconds of a reset (rpc-go starts short
// and ramps for the same reason), so the first waits are short.
const meiConnectStep = 250 * time.Millisecond

func (cfg *MEIConfig) sleep(ctx context.Context, d time.Duration) error {
	if cfg.Sleep != nil {
		return cfg.Sleep(ctx, d)
	}
	return ctxwait.Sleep(ctx, d)
}

// retryConnect calls try until it succeeds, fails with an error transient
// does not accept, ctx ends, or the waits would pass cfg.ConnectRetry. An
// ended ctx is returned wrapped with the last transient error.
func retryConnect(ctx context.Context, cfg MEIConfig, transient func(error) bool, try func() error) error {
	budget := cfg.ConnectRetry
	if budget == 0 {
		budget = DefaultMEIConnectRetry
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || !transient(err) || budget < 0 || waited >= budget {
			return err
		}
		d := min(time.Duration(attempt)*meiConnectStep, budget-waited)
		if serr := cfg.sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w (the MEI was still busy after %v: %w)", serr, waited, err)
		}
		waited += d
	}
}

// MEIProperties are what the firmware client reports when the connection opens.
type MEIProperties struct {
	// MaxMessageLength bounds every message in either direction; reads use a buffer
	// of this size. A client that reports 0 or more than 1 MiB is refused at
	// connect time ([ErrMessageTooLarge]).
	MaxMessageLength uint32
	// ProtocolVersion is the client's protocol version.
	ProtocolVersion uint8
}

// Errors of the MEI transport.
var (
	// ErrNoDevice: the MEI device does not exist (no Intel ME, driver not loaded, or
	// not Linux). errors.Is(err, fs.ErrNotExist) also holds when the open failed.
	ErrNoDevice = errors.New("pthi: no MEI device")
	// ErrNotMEIDevice: the path exists but is not a character device.
	ErrNotMEIDevice = errors.New("pthi: not an MEI character device")
	// ErrClientNotFound: the firmware has no such client (AMT absent or disabled).
	ErrClientNotFound = errors.New("pthi: MEI firmware client not found")
	// ErrMEIUnsupported: this platform has no MEI transport (Linux and Windows
	// have one).
	ErrMEIUnsupported = errors.New("pthi: MEI transport is only implemented on Linux and Windows")
	// ErrMessageTooLarge: a request exceeds the client's maximum message
	// length, or (from OpenMEI and OpenMEIConn) the client reported a
	// maximum message length of 0 or above 1 MiB at connect time — a
	// firmware or driver fault that retrying does not clear; the text gives
	// the length reported.
	ErrMessageTooLarge = errors.New("pthi: message exceeds the MEI client's maximum length")
	// ErrEmptyResponse: the device returned zero bytes.
	ErrEmptyResponse = errors.New("pthi: empty response from MEI device")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("pthi: MEI transport closed")
)

// Linux ioctl number encoding (include/uapi/asm-generic/ioctl.h, used by x86 and
// arm64): nr in bits 0–7, type in 8–15, size in 16–29, direction in 30–31
// (1 write, 2 read).
const (
	iocNRShift   = 0
	iocTypeShift = 8
	iocSizeShift = 16
	iocDirShift  = 30
	iocWrite     = 1
	iocRead      = 2
	iocSizeMask  = 1<<14 - 1
)

// iowr computes _IOWR(typ, nr, size).
func iowr(typ byte, nr byte, size uint32) uint32 {
	return (iocRead|iocWrite)<<iocDirShift | (size&iocSizeMask)<<iocSizeShift | uint32(typ)<<iocTypeShift | uint32(nr)<<iocNRShift
}

// meiConnectDataSize is sizeof(struct mei_connect_client_data): a union of the
// 16-byte client GUID (in) and struct mei_client {u32 max_msg_length; u8
// protocol_version; u8 reserved[3]} (out) (include/uapi/linux/mei.h).
const meiConnectDataSize = 16

// ioctlMEIConnectClient is IOCTL_MEI_CONNECT_CLIENT = _IOWR('H', 0x01, struct
// mei_connect_client_data) = 0xC0104801 (the value rpc-go pkg/heci/linux.go uses).
const ioctlMEIConnectClient = 0xC0104801

// meiConnectData is the in/out buffer of the connect ioctl.
type meiConnectData [meiConnectDataSize]byte

func newConnectData(c MEIClient) meiConnectData { return meiConnectData(c.GUID().Wire()) }

// properties decodes the out half of the union.
func (d *meiConnectData) properties() MEIProperties {
	return MEIProperties{
		MaxMessageLength: binary.LittleEndian.Uint32(d[0:4]),
		ProtocolVersion:  d[4],
	}
}

// maxMEIMessageLength bounds the maximum message length a client may report
// at connect time. Every read allocates a buffer of that length; the clients
// amtkit connects report a few KiB (4096 for the PTHI client; rpc-go's
// pkg/heci tests use 5120 and 8192), so 1 MiB leaves room and keeps a
// firmware that reports 4 GiB from making every exchange allocate it.
const maxMEIMessageLength = 1 << 20

// checkMaxMessageLength checks the maximum message length a client reported.
func checkMaxMessageLength(n uint32) error {
	if n == 0 || n > maxMEIMessageLength {
		return fmt.Errorf("%w: client reported a maximum message length of %d (expected 1 to %d)", ErrMessageTooLarge, n, maxMEIMessageLength)
	}
	return nil
}

// checkFrame applies the MEI framing rule: one write is one message, at most the
// client's maximum length; so is one read.
func checkFrame(n int, p MEIProperties) error {
	if p.MaxMessageLength == 0 {
		return fmt.Errorf("%w: client reported a maximum message length of 0", ErrMessageTooLarge)
	}
	if n == 0 {
		return fmt.Errorf("%w: empty request", ErrInvalidArgument)
	}
	if uint64(n) > uint64(p.MaxMessageLength) {
		return fmt.Errorf("%w: %d bytes, client maximum %d", ErrMessageTooLarge, n, p.MaxMessageLength)
	}
	return nil
}
