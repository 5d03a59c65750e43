package tlspsk

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"strconv"
)

// TLS protocol versions spoken by the TLS-PSK handshake.
const (
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
)

// VersionName returns "TLS 1.0", "TLS 1.1", "TLS 1.2" or the hexadecimal value.
func VersionName(v uint16) string {
	switch v {
	case VersionTLS10:
		return "TLS 1.0"
	case VersionTLS11:
		return "TLS 1.1"
	case VersionTLS12:
		return "TLS 1.2"
	}
	return fmt.Sprintf("0x%04X", v)
}

// Plain PSK cipher suites (RFC 4279 and RFC 5487). All four work with TLS 1.0,
// 1.1 and 1.2; the SHA-256/384 ones use their hash for the TLS 1.2 PRF.
const (
	TLS_PSK_WITH_AES_128_CBC_SHA    uint16 = 0x008C
	TLS_PSK_WITH_AES_256_CBC_SHA    uint16 = 0x008D
	TLS_PSK_WITH_AES_128_CBC_SHA256 uint16 = 0x00AE
	TLS_PSK_WITH_AES_256_CBC_SHA384 uint16 = 0x00AF
)

// Signalling cipher suite values (never negotiated).
const (
	scsvRenegotiation uint16 = 0x00FF // TLS_EMPTY_RENEGOTIATION_INFO_SCSV, RFC 5746
	scsvFallback      uint16 = 0x5600 // TLS_FALLBACK_SCSV, RFC 7507
)

// CipherSuiteName returns the IANA name of a suite this package implements, or
// the hexadecimal value.
func CipherSuiteName(id uint16) string {
	if s := suiteByID(id); s != nil {
		return s.name
	}
	return fmt.Sprintf("0x%04X", id)
}

// DefaultCipherSuites returns the suites used when Config.CipherSuites is nil,
// in preference order. AES-128-CBC-SHA comes first: it is the suite most likely
// to be offered by PSK-era AMT firmware (unconfirmed; see the package guide).
func DefaultCipherSuites() []uint16 {
	return []uint16{
		TLS_PSK_WITH_AES_128_CBC_SHA,
		TLS_PSK_WITH_AES_256_CBC_SHA,
		TLS_PSK_WITH_AES_128_CBC_SHA256,
		TLS_PSK_WITH_AES_256_CBC_SHA384,
	}
}

type cipherSuite struct {
	id      uint16
	name    string
	keyLen  int
	macLen  int
	mac     func() hash.Hash // HMAC hash of the record layer
	prfHash func() hash.Hash // TLS 1.2 PRF and Finished hash
}

func suiteByID(id uint16) *cipherSuite {
	switch id {
	case TLS_PSK_WITH_AES_128_CBC_SHA:
		return &cipherSuite{id, "TLS_PSK_WITH_AES_128_CBC_SHA", 16, sha1.Size, sha1.New, sha256.New}
	case TLS_PSK_WITH_AES_256_CBC_SHA:
		return &cipherSuite{id, "TLS_PSK_WITH_AES_256_CBC_SHA", 32, sha1.Size, sha1.New, sha256.New}
	case TLS_PSK_WITH_AES_128_CBC_SHA256:
		return &cipherSuite{id, "TLS_PSK_WITH_AES_128_CBC_SHA256", 16, sha256.Size, sha256.New, sha256.New}
	case TLS_PSK_WITH_AES_256_CBC_SHA384:
		return &cipherSuite{id, "TLS_PSK_WITH_AES_256_CBC_SHA384", 32, sha512.Size384, sha512.New384, sha512.New384}
	}
	return nil
}

func (s *cipherSuite) newMAC(key []byte) hash.Hash { return hmac.New(s.mac, key) }

const ivLen = aes.BlockSize

// Record and handshake constants.
const (
	recordHeaderLen   = 5
	maxPlaintext      = 1 << 14
	maxCiphertext     = maxPlaintext + 2048
	maxHandshakeLen   = 2 + 0xffff // a ServerKeyExchange or ClientKeyExchange with a 65,535-byte hint or identity (RFC 4279 §2)
	maxUselessRecords = 16         // empty records, warning alerts or refused renegotiations in a row
	maxHelloRequests  = 4          // HelloRequests a client ignores during one handshake
	verifyDataLen     = 12
	masterSecretLen   = 48
	randomLen         = 32
)

type recordType uint8

const (
	recordChangeCipherSpec recordType = 20
	recordAlert            recordType = 21
	recordHandshake        recordType = 22
	recordApplicationData  recordType = 23
)

// Handshake message types.
const (
	typeHelloRequest      uint8 = 0
	typeClientHello       uint8 = 1
	typeServerHello       uint8 = 2
	typeCertificate       uint8 = 11
	typeServerKeyExchange uint8 = 12
	typeCertificateReq    uint8 = 13
	typeServerHelloDone   uint8 = 14
	typeClientKeyExchange uint8 = 16
	typeFinished          uint8 = 20
)

func messageName(t uint8) string {
	switch t {
	case typeHelloRequest:
		return "HelloRequest"
	case typeClientHello:
		return "ClientHello"
	case typeServerHello:
		return "ServerHello"
	case typeCertificate:
		return "Certificate"
	case typeServerKeyExchange:
		return "ServerKeyExchange"
	case typeCertificateReq:
		return "CertificateRequest"
	case typeServerHelloDone:
		return "ServerHelloDone"
	case typeClientKeyExchange:
		return "ClientKeyExchange"
	case typeFinished:
		return "Finished"
	}
	return "handshake message " + strconv.Itoa(int(t))
}

// Extension numbers.
const (
	extRenegotiationInfo uint16 = 0xff01
)

// Alert is a TLS alert description. An Alert is also an error value, so that
// errors.Is(err, tlspsk.AlertBadRecordMAC) tells which alert ended a connection,
// whichever side sent it (see [*AlertError] for the side).
type Alert uint8

// Alerts used by the TLS-PSK handshake (RFC 5246 §7.2, RFC 4279 §6, RFC 7507).
const (
	AlertCloseNotify            Alert = 0
	AlertUnexpectedMessage      Alert = 10
	AlertBadRecordMAC           Alert = 20
	AlertRecordOverflow         Alert = 22
	AlertHandshakeFailure       Alert = 40
	AlertIllegalParameter       Alert = 47
	AlertDecodeError            Alert = 50
	AlertDecryptError           Alert = 51
	AlertProtocolVersion        Alert = 70
	AlertInsufficientSecurity   Alert = 71
	AlertInternalError          Alert = 80
	AlertInappropriateFallback  Alert = 86
	AlertUserCanceled           Alert = 90
	AlertNoRenegotiation        Alert = 100
	AlertUnsupportedExtension   Alert = 110
	AlertUnknownPSKIdentity     Alert = 115
	alertLevelWarning           uint8 = 1
	alertLevelFatal             uint8 = 2
	alertDecryptionFailedLegacy Alert = 21
)

// String returns the alert's RFC name, e.g. "bad_record_mac".
func (a Alert) String() string {
	switch a {
	case AlertCloseNotify:
		return "close_notify"
	case AlertUnexpectedMessage:
		return "unexpected_message"
	case AlertBadRecordMAC:
		return "bad_record_mac"
	case alertDecryptionFailedLegacy:
		return "decryption_failed"
	case AlertRecordOverflow:
		return "record_overflow"
	case AlertHandshakeFailure:
		return "handshake_failure"
	case AlertIllegalParameter:
		return "illegal_parameter"
	case AlertDecodeError:
		return "decode_error"
	case AlertDecryptError:
		return "decrypt_error"
	case AlertProtocolVersion:
		return "protocol_version"
	case AlertInsufficientSecurity:
		return "insufficient_security"
	case AlertInternalError:
		return "internal_error"
	case AlertInappropriateFallback:
		return "inappropriate_fallback"
	case AlertUserCanceled:
		return "user_canceled"
	case AlertNoRenegotiation:
		return "no_renegotiation"
	case AlertUnsupportedExtension:
		return "unsupported_extension"
	case AlertUnknownPSKIdentity:
		return "unknown_psk_identity"
	}
	return "alert(" + strconv.Itoa(int(a)) + ")"
}

// Error implements error.
func (a Alert) Error() string { return "tls alert " + a.String() }

func (a Alert) level() uint8 {
	switch a {
	case AlertCloseNotify, AlertNoRenegotiation, AlertUserCanceled:
		return alertLevelWarning
	}
	return alertLevelFatal
}

// AlertError is the error a connection ends with when an alert ended it. Remote
// says whether the peer sent the alert (Err is then nil) or this side sent it
// because of Err.
type AlertError struct {
	Alert  Alert
	Remote bool
	Err    error
}

// Error implements error.
func (e *AlertError) Error() string {
	if e.Remote {
		return "tlspsk: peer sent fatal alert " + e.Alert.String()
	}
	if e.Err == nil {
		return "tlspsk: sent alert " + e.Alert.String()
	}
	return "tlspsk: " + e.Err.Error() + " (sent alert " + e.Alert.String() + ")"
}

// Unwrap returns the alert and the cause.
func (e *AlertError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Alert}
	}
	return []error{e.Alert, e.Err}
}

// Sentinel errors of the TLS-PSK layer, found with errors.Is inside
// [*AlertError] and other errors.
var (
	ErrBadRecordMAC        = errors.New("record failed its MAC or padding check")
	ErrRecordOverflow      = errors.New("record exceeds the TLS size limit")
	ErrUnexpectedMessage   = errors.New("unexpected message")
	ErrUnknownIdentity     = errors.New("unknown PSK identity")
	ErrNoCommonSuite       = errors.New("no cipher suite in common")
	ErrVersion             = errors.New("no TLS version in common")
	ErrFinishedMismatch    = errors.New("finished verify_data does not match (wrong key?)")
	ErrRenegotiation       = errors.New("renegotiation is not supported")
	ErrHandshakeIncomplete = errors.New("tlspsk: handshake has not completed")
	ErrNoKey               = errors.New("tlspsk: no pre-shared key configured")
	ErrClosed              = errors.New("tlspsk: connection closed")
)

// MessageError reports a malformed handshake message; it is sent as a
// decode_error (or illegal_parameter) alert.
type MessageError struct {
	Message string // e.g. "ClientHello"
	Reason  string // what was expected and what came
}

// Error implements error.
func (e *MessageError) Error() string { return "malformed " + e.Message + ": " + e.Reason }

// RecordHeaderError reports bytes that are not a TLS record header, such as an
// HTTP request sent to a TLS port. Header holds the five bytes received.
type RecordHeaderError struct {
	Header [5]byte
	Reason string
}

// Error implements error.
func (e *RecordHeaderError) Error() string {
	return fmt.Sprintf("tlspsk: not a TLS record (% x): %s", e.Header[:], e.Reason)
}
