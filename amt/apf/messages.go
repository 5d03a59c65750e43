package apf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/wire"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=MessageType -linecomment -output=messagetype_string.go

// MessageType is the first byte of every APF message. String returns the APF
// name without its APF_ prefix, e.g. "CHANNEL_DATA", or "MessageType(n)".
type MessageType uint8

// Message types (intel/lms UNS/PortForwardingService/LMS_if_constants.h
// APF_MESSAGE_TYPE; the keep-alive types from go-wsman-messages pkg/apf
// types.go and MeshCentral mpsserver.js, which speak APF to firmware over CIRA).
const (
	TypeDisconnect              MessageType = 1   // DISCONNECT
	TypeServiceRequest          MessageType = 5   // SERVICE_REQUEST
	TypeServiceAccept           MessageType = 6   // SERVICE_ACCEPT
	TypeUserAuthRequest         MessageType = 50  // USERAUTH_REQUEST
	TypeUserAuthFailure         MessageType = 51  // USERAUTH_FAILURE
	TypeUserAuthSuccess         MessageType = 52  // USERAUTH_SUCCESS
	TypeGlobalRequest           MessageType = 80  // GLOBAL_REQUEST
	TypeRequestSuccess          MessageType = 81  // REQUEST_SUCCESS
	TypeRequestFailure          MessageType = 82  // REQUEST_FAILURE
	TypeChannelOpen             MessageType = 90  // CHANNEL_OPEN
	TypeChannelOpenConfirmation MessageType = 91  // CHANNEL_OPEN_CONFIRMATION
	TypeChannelOpenFailure      MessageType = 92  // CHANNEL_OPEN_FAILURE
	TypeChannelWindowAdjust     MessageType = 93  // CHANNEL_WINDOW_ADJUST
	TypeChannelData             MessageType = 94  // CHANNEL_DATA
	TypeChannelClose            MessageType = 97  // CHANNEL_CLOSE
	TypeProtocolVersion         MessageType = 192 // PROTOCOL_VERSION
	TypeKeepAliveRequest        MessageType = 208 // KEEPALIVE_REQUEST
	TypeKeepAliveReply          MessageType = 209 // KEEPALIVE_REPLY
	TypeKeepAliveOptionsRequest MessageType = 210 // KEEPALIVE_OPTIONS_REQUEST
	TypeKeepAliveOptionsReply   MessageType = 211 // KEEPALIVE_OPTIONS_REPLY
)

// Names used in APF messages (LMS_if_constants.h).
const (
	// ServicePortForwarding is the service AMT requests before it forwards ports.
	ServicePortForwarding = "pfwd@amt.intel.com"
	// ServiceAuth is the user-authentication service.
	ServiceAuth = "auth@amt.intel.com"
	// RequestTCPForward asks the host to listen on a port for AMT.
	RequestTCPForward = "tcpip-forward"
	// RequestCancelTCPForward withdraws a RequestTCPForward.
	RequestCancelTCPForward = "cancel-tcpip-forward"
	// RequestUDPSendTo asks the host to send a UDP datagram.
	RequestUDPSendTo = "udp-send-to@amt.intel.com"
	// ChannelForwarded is the type of a channel the host opens to a port AMT
	// forwarded.
	ChannelForwarded = "forwarded-tcpip"
	// ChannelDirect is the type of a channel AMT opens to a host address (its
	// WS-Management event deliveries).
	ChannelDirect = "direct-tcpip"
)

// DisconnectReason is the reason code of a DISCONNECT message.
type DisconnectReason uint32

// Disconnect reasons (LMS_if_constants.h APF_DISCONNECT_REASON_CODE).
const (
	DisconnectHostNotAllowed       DisconnectReason = 1
	DisconnectProtocolError        DisconnectReason = 2
	DisconnectKeyExchangeFailed    DisconnectReason = 3
	DisconnectMACError             DisconnectReason = 5
	DisconnectCompressionError     DisconnectReason = 6
	DisconnectServiceNotAvailable  DisconnectReason = 7
	DisconnectVersionNotSupported  DisconnectReason = 8
	DisconnectHostKeyNotVerifiable DisconnectReason = 9
	DisconnectConnectionLost       DisconnectReason = 10
	DisconnectByApplication        DisconnectReason = 11
	DisconnectTooManyConnections   DisconnectReason = 12
	DisconnectAuthCancelledByUser  DisconnectReason = 13
	DisconnectNoMoreAuthMethods    DisconnectReason = 14
	DisconnectIllegalUserName      DisconnectReason = 15
)

var disconnectNames = [...]string{"", "host not allowed to connect", "protocol error", "key exchange failed", "reserved",
	"MAC error", "compression error", "service not available", "protocol version not supported",
	"host key not verifiable", "connection lost", "by application", "too many connections",
	"auth cancelled by user", "no more auth methods available", "illegal user name"}

// String returns the reason in words, or "reason n".
func (r DisconnectReason) String() string {
	if r > 0 && uint64(r) < uint64(len(disconnectNames)) {
		return disconnectNames[r]
	}
	return "reason " + strconv.FormatUint(uint64(r), 10)
}

// OpenFailureReason is the reason code of a CHANNEL_OPEN_FAILURE message.
type OpenFailureReason uint32

// Channel open failure reasons (LMS_if_constants.h OPEN_FAILURE_REASON).
const (
	OpenAdministrativelyProhibited OpenFailureReason = 1
	OpenConnectFailed              OpenFailureReason = 2
	OpenUnknownChannelType         OpenFailureReason = 3
	OpenResourceShortage           OpenFailureReason = 4
)

// String returns the reason in words, or "reason n".
func (r OpenFailureReason) String() string {
	switch r {
	case OpenAdministrativelyProhibited:
		return "administratively prohibited"
	case OpenConnectFailed:
		return "connect failed"
	case OpenUnknownChannelType:
		return "unknown channel type"
	case OpenResourceShortage:
		return "resource shortage"
	}
	return "reason " + strconv.FormatUint(uint64(r), 10)
}

// TriggerReason says why AMT opened the APF session (PROTOCOL_VERSION).
type TriggerReason uint32

// Trigger reasons (LMS_if_constants.h APF_TRIGGER_REASON).
const (
	TriggerUserInitiated TriggerReason = 1
	TriggerAlert         TriggerReason = 2
	TriggerProvisioning  TriggerReason = 3
	TriggerPeriodic      TriggerReason = 4
	TriggerLME           TriggerReason = 254
)

// protocolVersionPadding is PROTOCOL_VERSION's reserved tail.
const protocolVersionPadding = 64

// MaxStringLength bounds every length-prefixed string in a message (names,
// addresses, user names): MeshCentral's stream parser refuses longer ones
// (mpsserver.js, 2048), and nothing AMT sends comes close.
const MaxStringLength = 2048

// Message is one decoded APF message. AppendBinary appends its encoding and
// fails only for values that cannot be encoded (a string longer than
// MaxStringLength).
type Message interface {
	Type() MessageType
	AppendBinary(b []byte) ([]byte, error)
}

// Messages. Every multi-byte integer is big-endian (network order), every string
// a big-endian uint32 length and that many bytes (intel/lms LMS_if.h, with
// htonl on every field in LMEConnection.cpp).

// ProtocolVersion is PROTOCOL_VERSION: 1+4+4+4+16+64 = 93 bytes. UUID is the
// system's UUID in AMT's wire order (MeshCentral's guidToStr swaps the first
// three groups); the 64 reserved bytes are zero when encoded and ignored when
// decoded.
type ProtocolVersion struct {
	Major, Minor uint32
	Trigger      TriggerReason
	UUID         amt.UUID
}

// Disconnect is DISCONNECT: reason code and a reserved uint16 (7 bytes, LMS_if.h
// APF_DISCONNECT_MESSAGE; mpsserver.js consumes 7).
type Disconnect struct{ Reason DisconnectReason }

// ServiceRequest is SERVICE_REQUEST.
type ServiceRequest struct{ Service string }

// ServiceAccept is SERVICE_ACCEPT.
type ServiceAccept struct{ Service string }

// UserAuthRequest is USERAUTH_REQUEST: user, service and method names and, for
// the "password" method, a zero byte and the password (mpsserver.js,
// LMEConnection.cpp). The password is a secret.
type UserAuthRequest struct {
	User, Service, Method string
	Password              amt.Secret
}

// MethodPassword is the USERAUTH_REQUEST method that carries a password.
const MethodPassword = "password"

// UserAuthSuccess is USERAUTH_SUCCESS (the type byte alone).
type UserAuthSuccess struct{}

// UserAuthFailure is USERAUTH_FAILURE: the methods that may continue and the
// partial-success flag.
type UserAuthFailure struct {
	Methods        string
	PartialSuccess bool
}

// GlobalRequest is GLOBAL_REQUEST: the request name, want-reply and the
// request's data. For tcpip-forward and cancel-tcpip-forward the data are
// Address and Port; udp-send-to@amt.intel.com adds OriginAddress, OriginPort
// and Data; any other name keeps its data raw in Data.
type GlobalRequest struct {
	Name          string
	WantReply     bool
	Address       string
	Port          uint32
	OriginAddress string
	OriginPort    uint32
	Data          []byte
}

// RequestSuccess is REQUEST_SUCCESS. Data is the request-specific reply data:
// the bound port (4 bytes) for tcpip-forward, nothing for
// cancel-tcpip-forward (LMEConnection.cpp TcpForwardReplySuccess and
// TcpForwardCancelReplySuccess). As in SSH it has no length of its own: the
// MEI message ends it.
type RequestSuccess struct{ Data []byte }

// TCPForwardSuccess returns the REQUEST_SUCCESS answering tcpip-forward on port.
func TCPForwardSuccess(port uint32) RequestSuccess {
	return RequestSuccess{Data: binary.BigEndian.AppendUint32(nil, port)}
}

// Port returns the bound port of a tcpip-forward reply, and false when Data is
// not exactly one uint32.
func (m RequestSuccess) Port() (uint32, bool) {
	if len(m.Data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(m.Data), true
}

// RequestFailure is REQUEST_FAILURE (the type byte alone).
type RequestFailure struct{}

// ChannelOpen is CHANNEL_OPEN: the channel type, the sender's channel number
// and initial window, a reserved word (0xFFFFFFFF when LMS sends it), the
// address and port connected to and the originator's address and port
// (LMEConnection.cpp ChannelOpenForwardedRequest; mpsserver.js).
type ChannelOpen struct {
	ChannelType   string
	Sender        uint32
	Window        uint32
	Reserved      uint32
	Address       string
	Port          uint32
	OriginAddress string
	OriginPort    uint32
}

// ChannelOpenConfirmation is CHANNEL_OPEN_CONFIRMATION (17 bytes): Recipient
// is the opener's channel number, Sender the confirmer's, Window the
// confirmer's initial receive window.
type ChannelOpenConfirmation struct {
	Recipient, Sender, Window uint32
	Reserved                  uint32
}

// ChannelOpenFailure is CHANNEL_OPEN_FAILURE (17 bytes; two reserved words).
type ChannelOpenFailure struct {
	Recipient uint32
	Reason    OpenFailureReason
}

// WindowAdjust is CHANNEL_WINDOW_ADJUST: the receiver of data lets the sender
// send Bytes more.
type WindowAdjust struct{ Recipient, Bytes uint32 }

// ChannelData is CHANNEL_DATA. Decoded Data aliases the input.
type ChannelData struct {
	Recipient uint32
	Data      []byte
}

// ChannelClose is CHANNEL_CLOSE.
type ChannelClose struct{ Recipient uint32 }

// KeepAliveRequest is KEEPALIVE_REQUEST.
type KeepAliveRequest struct{ Cookie uint32 }

// KeepAliveReply is KEEPALIVE_REPLY.
type KeepAliveReply struct{ Cookie uint32 }

// KeepAliveOptionsRequest is KEEPALIVE_OPTIONS_REQUEST (seconds).
type KeepAliveOptionsRequest struct{ Interval, Timeout uint32 }

// KeepAliveOptionsReply is KEEPALIVE_OPTIONS_REPLY (seconds).
type KeepAliveOptionsReply struct{ Interval, Timeout uint32 }

// Unknown is a message of a type this package does not know. Its body (after
// the type byte) is kept raw; like RequestSuccess, only the MEI message ends it.
type Unknown struct {
	Kind MessageType
	Body []byte
}

// Type implementations.

func (ProtocolVersion) Type() MessageType         { return TypeProtocolVersion }
func (Disconnect) Type() MessageType              { return TypeDisconnect }
func (ServiceRequest) Type() MessageType          { return TypeServiceRequest }
func (ServiceAccept) Type() MessageType           { return TypeServiceAccept }
func (UserAuthRequest) Type() MessageType         { return TypeUserAuthRequest }
func (UserAuthSuccess) Type() MessageType         { return TypeUserAuthSuccess }
func (UserAuthFailure) Type() MessageType         { return TypeUserAuthFailure }
func (GlobalRequest) Type() MessageType           { return TypeGlobalRequest }
func (RequestSuccess) Type() MessageType          { return TypeRequestSuccess }
func (RequestFailure) Type() MessageType          { return TypeRequestFailure }
func (ChannelOpen) Type() MessageType             { return TypeChannelOpen }
func (ChannelOpenConfirmation) Type() MessageType { return TypeChannelOpenConfirmation }
func (ChannelOpenFailure) Type() MessageType      { return TypeChannelOpenFailure }
func (WindowAdjust) Type() MessageType            { return TypeChannelWindowAdjust }
func (ChannelData) Type() MessageType             { return TypeChannelData }
func (ChannelClose) Type() MessageType            { return TypeChannelClose }
func (KeepAliveRequest) Type() MessageType        { return TypeKeepAliveRequest }
func (KeepAliveReply) Type() MessageType          { return TypeKeepAliveReply }
func (KeepAliveOptionsRequest) Type() MessageType { return TypeKeepAliveOptionsRequest }
func (KeepAliveOptionsReply) Type() MessageType   { return TypeKeepAliveOptionsReply }

// Type returns the unknown message's type byte.
func (m Unknown) Type() MessageType { return m.Kind }

// Errors of the codec.
var (
	// ErrMalformed matches every decoding error (a *FormatError).
	ErrMalformed = errors.New("apf: malformed message")
	// ErrStringTooLong: a string longer than MaxStringLength, decoding or encoding.
	ErrStringTooLong = errors.New("apf: string longer than 2048 bytes")
)

// FormatError is a message that cannot be decoded: what was wrong and where.
// errors.Is(err, ErrMalformed) holds; a truncated message also unwraps to the
// reader's *wire.ShortError.
type FormatError struct {
	Type   MessageType // the message's type byte (0 for an empty input)
	Offset int         // where decoding stopped
	Err    error
}

func (e *FormatError) Error() string {
	if e.Type == 0 && e.Offset == 0 {
		return "apf: " + e.Err.Error()
	}
	return fmt.Sprintf("apf: %v at offset %d: %v", e.Type, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *FormatError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformed.
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }

// reader reads APF's big-endian fields over internal/wire's bounds-checked
// reader (whose own integers are little-endian).
type reader struct{ wire.Reader }

func (r *reader) u32(v *uint32) bool {
	b, ok := r.Bytes(4)
	if ok {
		*v = binary.BigEndian.Uint32(b)
	}
	return ok
}

func (r *reader) u16(v *uint16) bool {
	b, ok := r.Bytes(2)
	if ok {
		*v = binary.BigEndian.Uint16(b)
	}
	return ok
}

// str reads a length-prefixed string of at most MaxStringLength bytes.
func (r *reader) str(s *string) error {
	var n uint32
	if !r.u32(&n) {
		return r.Err()
	}
	if n > MaxStringLength {
		return fmt.Errorf("%w: length %d", ErrStringTooLong, n)
	}
	b, ok := r.Bytes(int(n))
	if !ok {
		return r.Err()
	}
	*s = string(b)
	return nil
}

// Decode decodes one APF message that fills b exactly: one MEI message
// carries one APF message (LMS reads them one per read), and a message's
// layout fixes its length, so bytes left over mean a layout this package does
// not understand and are refused. Decode never panics and allocates no more
// than the input's size (strings are copied; ChannelData.Data, Unknown.Body,
// RequestSuccess.Data and GlobalRequest.Data alias b). [DecodeLenient]
// accepts the bytes left over.
func Decode(b []byte) (Message, error) {
	m, trailing, err := DecodeLenient(b)
	if err == nil && trailing > 0 {
		return nil, &FormatError{Type: MessageType(b[0]), Offset: len(b) - trailing, Err: fmt.Errorf("%d bytes after the message", trailing)}
	}
	return m, err
}

// DecodeLenient decodes the APF message at the start of b as [Decode] does,
// but ignores bytes after a complete message and returns how many there were.
// Every peer that runs against real firmware checks only minimum lengths on
// what AMT sends over the LME (Intel's LMS LMEConnection::_doRX,
// go-wsman-messages pkg/apf/validator.go, MeshCentral amt-lme.js), so a
// [Session] decodes this way over a message-framed transport such as the MEI,
// where padding cannot shift the next message. Messages whose last field takes
// the rest of the input (REQUEST_SUCCESS, a GLOBAL_REQUEST of an unknown
// name, an unknown type) never leave bytes over.
func DecodeLenient(b []byte) (m Message, trailing int, err error) {
	if len(b) == 0 {
		return nil, 0, &FormatError{Err: errors.New("empty message")}
	}
	t := MessageType(b[0])
	r := reader{wire.NewReaderAt(b[1:], 1)}
	m, err = decodeBody(t, &r)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		return nil, 0, &FormatError{Type: t, Offset: r.Offset(), Err: err}
	}
	return m, r.Len(), nil
}

func decodeBody(t MessageType, r *reader) (Message, error) {
	switch t {
	case TypeProtocolVersion:
		var m ProtocolVersion
		var trig uint32
		r.u32(&m.Major)
		r.u32(&m.Minor)
		r.u32(&trig)
		m.Trigger = TriggerReason(trig)
		if u, ok := r.Bytes(16); ok {
			m.UUID, _ = amt.UUIDFromWire(u) // 16 bytes: cannot fail
		}
		r.Skip(protocolVersionPadding)
		return m, nil
	case TypeDisconnect:
		var reason uint32
		var reserved uint16
		r.u32(&reason)
		r.u16(&reserved)
		return Disconnect{Reason: DisconnectReason(reason)}, nil
	case TypeServiceRequest:
		var m ServiceRequest
		err := r.str(&m.Service)
		return m, err
	case TypeServiceAccept:
		var m ServiceAccept
		err := r.str(&m.Service)
		return m, err
	case TypeUserAuthRequest:
		var m UserAuthRequest
		for _, s := range []*string{&m.User, &m.Service, &m.Method} {
			if err := r.str(s); err != nil {
				return nil, err
			}
		}
		if m.Method == MethodPassword {
			var zero uint8
			if !r.ReadU8(&zero) {
				return nil, r.Err()
			}
			if zero != 0 {
				return nil, fmt.Errorf("password flag is %d, expected 0", zero)
			}
			var pw string
			if err := r.str(&pw); err != nil {
				return nil, err
			}
			m.Password = amt.NewSecret(pw)
		}
		return m, nil
	case TypeUserAuthSuccess:
		return UserAuthSuccess{}, nil
	case TypeUserAuthFailure:
		var m UserAuthFailure
		if err := r.str(&m.Methods); err != nil {
			return nil, err
		}
		var partial uint8
		r.ReadU8(&partial)
		if partial > 1 {
			return nil, fmt.Errorf("partial-success flag is %d, expected 0 or 1", partial)
		}
		m.PartialSuccess = partial == 1
		return m, nil
	case TypeGlobalRequest:
		return decodeGlobalRequest(r)
	case TypeRequestSuccess:
		return RequestSuccess{Data: restOf(r)}, nil
	case TypeRequestFailure:
		return RequestFailure{}, nil
	case TypeChannelOpen:
		var m ChannelOpen
		if err := r.str(&m.ChannelType); err != nil {
			return nil, err
		}
		r.u32(&m.Sender)
		r.u32(&m.Window)
		r.u32(&m.Reserved)
		if err := r.str(&m.Address); err != nil {
			return nil, err
		}
		r.u32(&m.Port)
		if err := r.str(&m.OriginAddress); err != nil {
			return nil, err
		}
		r.u32(&m.OriginPort)
		return m, nil
	case TypeChannelOpenConfirmation:
		var m ChannelOpenConfirmation
		r.u32(&m.Recipient)
		r.u32(&m.Sender)
		r.u32(&m.Window)
		r.u32(&m.Reserved)
		return m, nil
	case TypeChannelOpenFailure:
		var m ChannelOpenFailure
		var reason, res uint32
		r.u32(&m.Recipient)
		r.u32(&reason)
		r.u32(&res)
		r.u32(&res)
		m.Reason = OpenFailureReason(reason)
		return m, nil
	case TypeChannelWindowAdjust:
		var m WindowAdjust
		r.u32(&m.Recipient)
		r.u32(&m.Bytes)
		return m, nil
	case TypeChannelData:
		var m ChannelData
		var n uint32
		r.u32(&m.Recipient)
		if !r.u32(&n) {
			return nil, r.Err()
		}
		if uint64(n) > uint64(r.Len()) {
			return nil, fmt.Errorf("data length %d, %d bytes left", n, r.Len())
		}
		m.Data, _ = r.Bytes(int(n))
		return m, nil
	case TypeChannelClose:
		var m ChannelClose
		r.u32(&m.Recipient)
		return m, nil
	case TypeKeepAliveRequest:
		var m KeepAliveRequest
		r.u32(&m.Cookie)
		return m, nil
	case TypeKeepAliveReply:
		var m KeepAliveReply
		r.u32(&m.Cookie)
		return m, nil
	case TypeKeepAliveOptionsRequest:
		var m KeepAliveOptionsRequest
		r.u32(&m.Interval)
		r.u32(&m.Timeout)
		return m, nil
	case TypeKeepAliveOptionsReply:
		var m KeepAliveOptionsReply
		r.u32(&m.Interval)
		r.u32(&m.Timeout)
		return m, nil
	}
	return Unknown{Kind: t, Body: restOf(r)}, nil
}

func restOf(r *reader) []byte {
	b, _ := r.Bytes(r.Len())
	if len(b) == 0 {
		return nil
	}
	return b
}

func decodeGlobalRequest(r *reader) (Message, error) {
	var m GlobalRequest
	if err := r.str(&m.Name); err != nil {
		return nil, err
	}
	var want uint8
	if !r.ReadU8(&want) {
		return nil, r.Err()
	}
	if want > 1 {
		return nil, fmt.Errorf("want-reply is %d, expected 0 or 1", want)
	}
	m.WantReply = want == 1
	switch m.Name {
	case RequestTCPForward, RequestCancelTCPForward:
		if err := r.str(&m.Address); err != nil {
			return nil, err
		}
		r.u32(&m.Port)
	case RequestUDPSendTo:
		if err := r.str(&m.Address); err != nil {
			return nil, err
		}
		r.u32(&m.Port)
		if err := r.str(&m.OriginAddress); err != nil {
			return nil, err
		}
		r.u32(&m.OriginPort)
		var n uint32
		if !r.u32(&n) {
			return nil, r.Err()
		}
		if uint64(n) > uint64(r.Len()) {
			return nil, fmt.Errorf("data length %d, %d bytes left", n, r.Len())
		}
		m.Data, _ = r.Bytes(int(n))
	default:
		m.Data = restOf(r)
	}
	return m, nil
}

// Encoders.

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func appendStr(b []byte, s string) ([]byte, error) {
	if len(s) > MaxStringLength {
		return nil, fmt.Errorf("%w: %d bytes", ErrStringTooLong, len(s))
	}
	b = appendU32(b, uint32(len(s)))
	return append(b, s...), nil
}

func appendStrs(b []byte, t MessageType, ss ...string) ([]byte, error) {
	b = append(b, byte(t))
	var err error
	for _, s := range ss {
		if b, err = appendStr(b, s); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// AppendBinary appends the 93-byte message.
func (m ProtocolVersion) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(TypeProtocolVersion))
	b = appendU32(b, m.Major)
	b = appendU32(b, m.Minor)
	b = appendU32(b, uint32(m.Trigger))
	w := m.UUID.Wire()
	b = append(b, w[:]...)
	return append(b, make([]byte, protocolVersionPadding)...), nil
}

// AppendBinary appends the 7-byte message.
func (m Disconnect) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(TypeDisconnect))
	b = appendU32(b, uint32(m.Reason))
	return append(b, 0, 0), nil
}

// AppendBinary appends the message.
func (m ServiceRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendStrs(b, TypeServiceRequest, m.Service)
}

// AppendBinary appends the message.
func (m ServiceAccept) AppendBinary(b []byte) ([]byte, error) {
	return appendStrs(b, TypeServiceAccept, m.Service)
}

// AppendBinary appends the message; the password goes out only with the
// "password" method.
func (m UserAuthRequest) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendStrs(b, TypeUserAuthRequest, m.User, m.Service, m.Method)
	if err != nil || m.Method != MethodPassword {
		return b, err
	}
	return appendStr(append(b, 0), m.Password.Reveal())
}

// AppendBinary appends the 1-byte message.
func (UserAuthSuccess) AppendBinary(b []byte) ([]byte, error) {
	return append(b, byte(TypeUserAuthSuccess)), nil
}

// AppendBinary appends the message.
func (m UserAuthFailure) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendStrs(b, TypeUserAuthFailure, m.Methods)
	if err != nil {
		return nil, err
	}
	if m.PartialSuccess {
		return append(b, 1), nil
	}
	return append(b, 0), nil
}

// AppendBinary appends the message; which fields go out depends on Name (see
// GlobalRequest).
func (m GlobalRequest) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendStrs(b, TypeGlobalRequest, m.Name)
	if err != nil {
		return nil, err
	}
	if m.WantReply {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	switch m.Name {
	case RequestTCPForward, RequestCancelTCPForward:
		if b, err = appendStr(b, m.Address); err != nil {
			return nil, err
		}
		return appendU32(b, m.Port), nil
	case RequestUDPSendTo:
		if b, err = appendStr(b, m.Address); err != nil {
			return nil, err
		}
		b = appendU32(b, m.Port)
		if b, err = appendStr(b, m.OriginAddress); err != nil {
			return nil, err
		}
		b = appendU32(b, m.OriginPort)
		b = appendU32(b, uint32(len(m.Data)))
		return append(b, m.Data...), nil
	}
	return append(b, m.Data...), nil
}

// AppendBinary appends the message.
func (m RequestSuccess) AppendBinary(b []byte) ([]byte, error) {
	return append(append(b, byte(TypeRequestSuccess)), m.Data...), nil
}

// AppendBinary appends the 1-byte message.
func (RequestFailure) AppendBinary(b []byte) ([]byte, error) {
	return append(b, byte(TypeRequestFailure)), nil
}

// AppendBinary appends the message.
func (m ChannelOpen) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendStrs(b, TypeChannelOpen, m.ChannelType)
	if err != nil {
		return nil, err
	}
	b = appendU32(b, m.Sender)
	b = appendU32(b, m.Window)
	b = appendU32(b, m.Reserved)
	if b, err = appendStr(b, m.Address); err != nil {
		return nil, err
	}
	b = appendU32(b, m.Port)
	if b, err = appendStr(b, m.OriginAddress); err != nil {
		return nil, err
	}
	return appendU32(b, m.OriginPort), nil
}

// AppendBinary appends the 17-byte message.
func (m ChannelOpenConfirmation) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(TypeChannelOpenConfirmation))
	b = appendU32(b, m.Recipient)
	b = appendU32(b, m.Sender)
	b = appendU32(b, m.Window)
	return appendU32(b, m.Reserved), nil
}

// AppendBinary appends the 17-byte message (reserved words zero).
func (m ChannelOpenFailure) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(TypeChannelOpenFailure))
	b = appendU32(b, m.Recipient)
	b = appendU32(b, uint32(m.Reason))
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0), nil
}

// AppendBinary appends the 9-byte message.
func (m WindowAdjust) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(TypeChannelWindowAdjust))
	b = appendU32(b, m.Recipient)
	return appendU32(b, m.Bytes), nil
}

// ChannelDataHeaderLen is the size of CHANNEL_DATA without its data: a data
// message fits an MEI message of n bytes when its data is at most
// n-ChannelDataHeaderLen bytes.
const ChannelDataHeaderLen = 9

// AppendBinary appends the message.
func (m ChannelData) AppendBinary(b []byte) ([]byte, error) {
	if uint64(len(m.Data)) > 1<<32-1 {
		return nil, fmt.Errorf("apf: CHANNEL_DATA of %d bytes", len(m.Data))
	}
	b = append(b, byte(TypeChannelData))
	b = appendU32(b, m.Recipient)
	b = appendU32(b, uint32(len(m.Data)))
	return append(b, m.Data...), nil
}

// AppendBinary appends the 5-byte message.
func (m ChannelClose) AppendBinary(b []byte) ([]byte, error) {
	return appendU32(append(b, byte(TypeChannelClose)), m.Recipient), nil
}

// AppendBinary appends the 5-byte message.
func (m KeepAliveRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendU32(append(b, byte(TypeKeepAliveRequest)), m.Cookie), nil
}

// AppendBinary appends the 5-byte message.
func (m KeepAliveReply) AppendBinary(b []byte) ([]byte, error) {
	return appendU32(append(b, byte(TypeKeepAliveReply)), m.Cookie), nil
}

// AppendBinary appends the 9-byte message.
func (m KeepAliveOptionsRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendU32(appendU32(append(b, byte(TypeKeepAliveOptionsRequest)), m.Interval), m.Timeout), nil
}

// AppendBinary appends the 9-byte message.
func (m KeepAliveOptionsReply) AppendBinary(b []byte) ([]byte, error) {
	return appendU32(appendU32(append(b, byte(TypeKeepAliveOptionsReply)), m.Interval), m.Timeout), nil
}

// AppendBinary appends the type byte and the body.
func (m Unknown) AppendBinary(b []byte) ([]byte, error) {
	return append(append(b, byte(m.Kind)), m.Body...), nil
}

// Encode returns m's encoding.
func Encode(m Message) ([]byte, error) { return m.AppendBinary(nil) }
