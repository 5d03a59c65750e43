package wsman

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/amtkit/amtkit/internal/oneline"
)

// Sentinel errors. Test with errors.Is; the concrete error types below carry the
// details.
var (
	// ErrMalformed: a response (or request, in wsmantest) is not a well-formed
	// SOAP envelope of the expected shape.
	ErrMalformed = errors.New("wsman: malformed envelope")
	// ErrUnsafeXML: the XML holds a DOCTYPE, an entity or other declaration
	// (<!…>), or is nested deeper than the configured bound. Such input is
	// refused before it is interpreted.
	ErrUnsafeXML = errors.New("wsman: XML with a declaration or excessive nesting refused")
	// ErrTooLarge: a response body exceeded the configured cap.
	ErrTooLarge = errors.New("wsman: response body too large")
	// ErrRelatesTo: the response's RelatesTo is not the request's MessageID.
	ErrRelatesTo = errors.New("wsman: response does not relate to the request")
	// ErrUnexpectedAction: the response Action is neither the expected response
	// action nor a fault.
	ErrUnexpectedAction = errors.New("wsman: unexpected response action")

	// ErrUnauthorized: the server answered 401 to a request that carried
	// credentials (wrong user name or password, or a challenge we cannot
	// answer). It is returned at once and never retried, so that a wrong
	// password cannot lock the account.
	ErrUnauthorized = errors.New("wsman: unauthorized")
	// ErrForbidden: the server answered 403.
	ErrForbidden = errors.New("wsman: forbidden")
	// ErrBadChallenge: a 401 carried a WWW-Authenticate challenge that could not
	// be parsed or uses an unsupported algorithm or qop.
	ErrBadChallenge = errors.New("wsman: unusable authentication challenge")
	// ErrWeakChallenge: a digest challenge the client's [DigestPolicy] refuses
	// (no qop, or an algorithm below the minimum). It comes with
	// [ErrBadChallenge]; no credentials were sent.
	ErrWeakChallenge = errors.New("wsman: digest challenge refused by the digest policy")

	// ErrConnect: no connection to the endpoint could be made (dial, proxy or
	// TLS handshake failed, or the TLS policy refused the server — then a
	// [*TLSPolicyError] is in the chain). Nothing was sent: the server did not
	// see the request.
	ErrConnect = errors.New("wsman: could not connect")
	// ErrTLSWithCustomTransport: a TLS or dial option (WithTLS,
	// WithClientCertificate, WithGetClientCertificate, WithLegacyTLS,
	// WithRSAKeyExchange, WithTLSVersions, WithDialer, WithSecureDialer) was
	// combined with WithHTTPClient or WithRoundTripper, whose transport would
	// ignore it. Configure that transport instead.
	ErrTLSWithCustomTransport = errors.New("wsman: TLS and dial options cannot apply to a caller's HTTP client or round tripper; configure that transport")
	// ErrTLSWithSecureDialer: a TLS option (WithTLS, WithClientCertificate,
	// WithGetClientCertificate, WithLegacyTLS, WithRSAKeyExchange,
	// WithTLSVersions) or WithDialer was combined with WithSecureDialer, whose
	// connections are already authenticated and encrypted by the caller: the
	// option would be silently ignored.
	ErrTLSWithSecureDialer = errors.New("wsman: TLS options and WithDialer do not apply next to WithSecureDialer, whose connections are already secured")
	// ErrSend: a connection was made but the request could not be written in
	// full. The server cannot have acted on an incomplete HTTP request.
	ErrSend = errors.New("wsman: request not sent")
	// ErrResponseLost: the request was written in full but no complete response
	// came back (connection reset or closed, timeout, cancellation). The server
	// may or may not have acted on it — e.g. AMT 19+ drops the connection when
	// it applies CommitChanges. Read state back to find out.
	ErrResponseLost = errors.New("wsman: connection lost after the request was sent")

	// ErrNoTLSPolicy: an https endpoint was given without a TLS verification
	// policy (and without a caller-supplied transport).
	ErrNoTLSPolicy = errors.New("wsman: https endpoint needs a TLS verification policy")
	// ErrNoHandshake: [Client.Handshake] on a client that does not make its
	// own TLS connections (a plain http endpoint, WithSecureDialer, or the
	// caller's own transport).
	ErrNoHandshake = errors.New("wsman: Handshake needs an https endpoint whose TLS connections the client makes")
	// ErrRevocationCheck: the revocation function given to [CheckRevocation]
	// refused a certificate of the verified chain — it is revoked, or its
	// status could not be read (fail closed). The function's own error is in
	// the chain too (e.g. certs.ErrRevoked or certs.ErrCRLStale from
	// certs.CRLRevocation).
	ErrRevocationCheck = errors.New("wsman: certificate refused by the revocation check")
	// ErrPinMismatch: the server certificate matches none of the pinned hashes.
	ErrPinMismatch = errors.New("wsman: server certificate does not match the pinned hash")

	// ErrTooManyPulls: an enumeration exceeded the configured number of Pull
	// requests without reaching EndOfSequence.
	ErrTooManyPulls = errors.New("wsman: enumeration did not end within the pull limit")
	// ErrEnumerationTooLarge: an enumeration returned more items, or items
	// of more bytes, than its bounds allow ([MaxEnumerationItems],
	// [MaxEnumerationBytes]).
	ErrEnumerationTooLarge = errors.New("wsman: enumeration exceeded its item or byte bound")
	// ErrNoReturnValue: a method response has no ReturnValue element.
	ErrNoReturnValue = errors.New("wsman: method response has no ReturnValue")
)

// HTTPError is a response with an HTTP status that is not 2xx and a body that is
// not a SOAP fault (a 401 HTML page, a proxy's 502, a 403 …). errors.Is matches
// [ErrUnauthorized] for 401 and [ErrForbidden] for 403.
type HTTPError struct {
	StatusCode  int
	Status      string // e.g. "401 Unauthorized"
	ContentType string
	// Challenges are the WWW-Authenticate values of a 401 (challenges are not
	// secret; credentials never appear here).
	Challenges []string
	// Header holds the response headers (e.g. AMT's Server header names the
	// firmware version even on a 401).
	Header http.Header
	// Body is the start of the response body (at most 512 bytes), for
	// diagnostics.
	Body string
	// Err is an underlying cause, e.g. [ErrBadChallenge].
	Err error
}

// Error describes the response on one line: the status, the cause, and
// (except for a 401) the answer's Content-Type, with the device's control characters and
// line separators escaped as in a Go quoted string (the ContentType field
// keeps the text as sent). Body and Header are not printed.
func (e *HTTPError) Error() string {
	var b strings.Builder
	b.WriteString("wsman: HTTP ")
	if e.Status != "" {
		b.WriteString(e.Status)
	} else {
		b.WriteString(strconv.Itoa(e.StatusCode))
	}
	switch e.StatusCode {
	case 401:
		b.WriteString(" (credentials rejected; not retried)")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.ContentType != "" && e.StatusCode != 401 {
		b.WriteString("; expected a SOAP envelope, got ")
		b.WriteString(oneline.Escape(e.ContentType)) // the device's text: C1 controls pass net/http
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *HTTPError) Unwrap() error { return e.Err }

// Is matches ErrUnauthorized (401) and ErrForbidden (403).
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == 401
	case ErrForbidden:
		return e.StatusCode == 403
	}
	return false
}

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=Phase -linecomment -output=phase_string.go

// Phase says how far an HTTP exchange got before a transport failure. String
// returns "connect", "send" or "receive" ("Phase(n)" for another value).
type Phase int

const (
	// PhaseConnect: no connection was obtained (dial or TLS failed).
	PhaseConnect Phase = iota // connect
	// PhaseSend: connected, but the request was not written in full.
	PhaseSend // send
	// PhaseReceive: the request was written in full; the response did not
	// arrive complete.
	PhaseReceive // receive
)

// TransportError is a failure below HTTP: the connection could not be made, or it
// broke. errors.Is matches [ErrConnect], [ErrSend] or [ErrResponseLost] by
// Phase, and the cause (e.g. context.Canceled, a *tls.CertificateVerificationError
// or a *net.OpError) through Unwrap.
type TransportError struct {
	Action   string // the WS-Management action of the request
	Endpoint string // the endpoint URL (without user info)
	Phase    Phase
	// Reused reports whether the failed attempt used a kept-alive connection.
	Reused bool
	Err    error
}

func (e *TransportError) Error() string {
	var what string
	switch e.Phase {
	case PhaseConnect:
		what = "could not connect to "
	case PhaseSend:
		what = "request not sent to "
	default:
		what = "connection lost after the request was sent to "
	}
	return fmt.Sprintf("wsman: %s%s (%s): %v", what, e.Endpoint, shortAction(e.Action), e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Is matches the phase sentinels.
func (e *TransportError) Is(target error) bool {
	switch target {
	case ErrConnect:
		return e.Phase == PhaseConnect
	case ErrSend:
		return e.Phase == PhaseSend
	case ErrResponseLost:
		return e.Phase == PhaseReceive
	}
	return false
}

// RequestSent reports whether the request was written in full before the
// failure, i.e. whether the server may have acted on it.
func (e *TransportError) RequestSent() bool { return e.Phase == PhaseReceive }

// shortAction trims a well-known action URI to its last segment for messages.
func shortAction(a string) string {
	if i := strings.LastIndexByte(a, '/'); i >= 0 && i+1 < len(a) {
		return a[i+1:]
	}
	return a
}
