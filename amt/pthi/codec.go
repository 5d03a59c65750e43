package pthi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/wire"
)

// HeaderSize is the size of the PTHI message header: version (2 bytes), reserved
// (2), command (4), length (4), all little-endian.
const HeaderSize = 12

// ResponseHeaderSize is [HeaderSize] plus the 4-byte status that starts every
// response.
const ResponseHeaderSize = HeaderSize + 4

// Protocol version written in requests and required in responses (major 1, minor at
// least 1; Ylianst/MeshAgent microlms/heci/PTHICommand.c _verifyResponseHeader).
const (
	VersionMajor = 1
	VersionMinor = 1
)

// MaxMessageSize bounds what [EncodeRequest] builds and [DecodeResponse] accepts.
// The MEI client reports its own maximum at connect time (4096 bytes on the
// firmware rpc-go and LMS talk to); the largest message amtkit sends is
// StartConfigurationHBased at 402 bytes.
const MaxMessageSize = 64 << 10

// Header is the 12-byte header of every PTHI message.
type Header struct {
	Major, Minor uint8
	Reserved     uint16
	Command      Command
	// Length counts the bytes after the header (the status and payload of a
	// response, the payload of a request).
	Length uint32
}

// AppendBinary appends the 12 header bytes to b.
func (h Header) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, h.Major, h.Minor)
	b = binary.LittleEndian.AppendUint16(b, h.Reserved)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Command))
	return binary.LittleEndian.AppendUint32(b, h.Length), nil
}

// ParseHeader reads a header from the first 12 bytes of b without checking it.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	var cmd uint32
	r := wire.NewReader(b)
	if !r.ReadU8(&h.Major) || !r.ReadU8(&h.Minor) || !r.ReadU16(&h.Reserved) || !r.ReadU32(&cmd) || !r.ReadU32(&h.Length) {
		return Header{}, &FormatError{Kind: ErrTruncated, Detail: fmt.Sprintf("header needs %d bytes, got %d", HeaderSize, len(b))}
	}
	h.Command = Command(cmd)
	return h, nil
}

// Errors. Every malformed message is reported as a [*FormatError] whose Kind is one
// of the sentinels below; errors.Is(err, ErrMalformed) holds for all of them.
var (
	// ErrMalformed is matched by every decoding error.
	ErrMalformed = errors.New("pthi: malformed message")
	// ErrTruncated: the message is shorter than its fields require.
	ErrTruncated = errors.New("pthi: message truncated")
	// ErrLengthMismatch: the header's Length does not match the bytes received.
	ErrLengthMismatch = errors.New("pthi: header length does not match message size")
	// ErrWrongCommand: the response answers another command (or is not a response).
	ErrWrongCommand = errors.New("pthi: response for another command")
	// ErrProtocolVersion: the header carries a version other than 1.1 or later, or a
	// non-zero reserved field.
	ErrProtocolVersion = errors.New("pthi: unsupported protocol version")
	// ErrBadValue: a field holds a value outside its documented range.
	ErrBadValue = errors.New("pthi: field value out of range")
	// ErrTooLarge: a message or field exceeds its limit.
	ErrTooLarge = errors.New("pthi: message too large")
)

// Errors for arguments a caller passes (never for what the firmware sends).
var (
	// ErrInvalidArgument is matched by every argument error.
	ErrInvalidArgument = errors.New("pthi: invalid argument")
	// ErrOTPFormat: the OTP is not 8-31 printable ASCII characters. The message never
	// contains the OTP.
	ErrOTPFormat = errors.New("pthi: OTP must be 8-31 printable ASCII characters")
)

func argErr(cmd Command, format string, args ...any) error {
	return fmt.Errorf("%w (%s): %s", ErrInvalidArgument, cmd.Request(), fmt.Sprintf(format, args...))
}

// FormatError describes a malformed message: what was expected and what came.
type FormatError struct {
	// Command is the command whose response was being decoded (0 if unknown).
	Command Command
	// Kind is one of the sentinel errors above.
	Kind error
	// Detail says what was expected and what came.
	Detail string
}

// Error returns the kind, the command and the detail.
func (e *FormatError) Error() string {
	s := e.Kind.Error()
	if e.Command != 0 {
		s += " (" + e.Command.Request().String() + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns Kind and [ErrMalformed].
func (e *FormatError) Unwrap() []error { return []error{e.Kind, ErrMalformed} }

func formatErr(cmd Command, kind error, format string, args ...any) error {
	return &FormatError{Command: cmd, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// CommandError is a PTHI response whose status is not PT_STATUS_SUCCESS. Its Status
// is an [amt.Status], so
//
//	errors.Is(err, amt.StatusInvalidPTMode)
//
// works on any error chain that contains it.
type CommandError struct {
	Command Command
	Status  amt.Status
}

// Error returns, e.g., "pthi: StopConfiguration failed: PT_STATUS_INVALID_PT_MODE (3)".
func (e *CommandError) Error() string {
	return "pthi: " + e.Command.Request().String() + " failed: " + e.Status.String()
}

// Unwrap returns the status.
func (e *CommandError) Unwrap() error { return e.Status }

// EncodeRequest returns a request message: the header for cmd (version 1.1,
// Length = len(payload)) followed by payload.
func EncodeRequest(cmd Command, payload []byte) ([]byte, error) {
	return AppendRequest(make([]byte, 0, HeaderSize+len(payload)), cmd, payload)
}

// AppendRequest appends a request message to b; see [EncodeRequest].
func AppendRequest(b []byte, cmd Command, payload []byte) ([]byte, error) {
	if cmd.IsResponse() {
		return b, argErr(cmd, "request code %#08x has the response bit set", uint32(cmd))
	}
	if len(payload) > MaxMessageSize-HeaderSize {
		return b, argErr(cmd, "payload of %d bytes exceeds %d", len(payload), MaxMessageSize-HeaderSize)
	}
	b, _ = Header{Major: VersionMajor, Minor: VersionMinor, Command: cmd, Length: uint32(len(payload))}.AppendBinary(b)
	return append(b, payload...), nil
}

// AppendResponse appends a response message for the request cmd to b: the header
// (command with [ResponseBit] set, Length = 4 + len(payload)), the status and the
// payload. Fakes and simulators use it; a failed status normally has no payload.
func AppendResponse(b []byte, cmd Command, status amt.Status, payload []byte) ([]byte, error) {
	if len(payload) > MaxMessageSize-ResponseHeaderSize {
		return b, argErr(cmd, "payload of %d bytes exceeds %d", len(payload), MaxMessageSize-ResponseHeaderSize)
	}
	b, _ = Header{Major: VersionMajor, Minor: VersionMinor, Command: cmd.Response(), Length: uint32(4 + len(payload))}.AppendBinary(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(status))
	return append(b, payload...), nil
}

// DecodeRequest checks a request message and returns its command and payload. It is
// the firmware's side of [EncodeRequest], for fakes and simulators.
func DecodeRequest(msg []byte) (Command, []byte, error) {
	h, err := ParseHeader(msg)
	if err != nil {
		return 0, nil, err
	}
	if err := checkHeader(h, 0, len(msg)); err != nil {
		return h.Command, nil, err
	}
	if h.Command.IsResponse() {
		return h.Command, nil, formatErr(h.Command, ErrWrongCommand, "expected a request, got response code %#08x", uint32(h.Command))
	}
	return h.Command, msg[HeaderSize:], nil
}

// DecodeResponse checks a response message to the request cmd and returns the
// payload that follows the status. The checks are those of Intel's PTHI sample code
// (Ylianst/MeshAgent microlms/heci/PTHICommand.c) and intel/lms AMTHICommand.h:
// at least 16 bytes, protocol version 1.1 or later, reserved field zero, the command
// code equal to cmd with [ResponseBit] set, and Length equal to the bytes after the
// header. A non-zero status is returned as a [*CommandError] (the payload, if any, is
// then ignored).
func DecodeResponse(cmd Command, msg []byte) ([]byte, error) {
	h, err := ParseHeader(msg)
	if err != nil {
		return nil, &FormatError{Command: cmd, Kind: ErrTruncated, Detail: err.(*FormatError).Detail}
	}
	if err := checkHeader(h, cmd, len(msg)); err != nil {
		return nil, err
	}
	if h.Command != cmd.Response() {
		return nil, formatErr(cmd, ErrWrongCommand, "expected command %#08x, got %#08x", uint32(cmd.Response()), uint32(h.Command))
	}
	r := wire.NewReaderAt(msg[HeaderSize:], HeaderSize)
	var st uint32
	if !r.ReadU32(&st) {
		return nil, formatErr(cmd, ErrTruncated, "response needs at least %d bytes for header and status, got %d", ResponseHeaderSize, len(msg))
	}
	if amt.Status(st) != amt.StatusSuccess {
		return nil, &CommandError{Command: cmd.Request(), Status: amt.Status(st)}
	}
	return r.Rest(), nil
}

func checkHeader(h Header, cmd Command, n int) error {
	if n > MaxMessageSize {
		return formatErr(cmd, ErrTooLarge, "message of %d bytes exceeds %d", n, MaxMessageSize)
	}
	if h.Major != VersionMajor || h.Minor < VersionMinor || h.Reserved != 0 {
		return formatErr(cmd, ErrProtocolVersion, "expected version 1.1+ and reserved 0, got %d.%d and %#04x", h.Major, h.Minor, h.Reserved)
	}
	if uint64(h.Length) != uint64(n-HeaderSize) {
		return formatErr(cmd, ErrLengthMismatch, "header says %d bytes follow, got %d", h.Length, n-HeaderSize)
	}
	return nil
}
