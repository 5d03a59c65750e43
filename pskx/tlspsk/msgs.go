package tlspsk

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Handshake messages of the plain-PSK handshake. Each unmarshal takes the whole
// message (4-byte header included), checks every length with cryptobyte, refuses
// trailing bytes, and never panics; each marshal produces the whole message.

type extension struct {
	typ  uint16
	data []byte
}

type clientHelloMsg struct {
	vers               uint16
	random             []byte
	sessionID          []byte
	cipherSuites       []uint16
	compressionMethods []uint8
	extensions         []extension
}

type serverHelloMsg struct {
	vers              uint16
	random            []byte
	sessionID         []byte
	cipherSuite       uint16
	compressionMethod uint8
	extensions        []extension
}

type serverKeyExchangeMsg struct{ identityHint []byte }

type clientKeyExchangeMsg struct{ identity []byte }

type finishedMsg struct{ verifyData []byte }

func malformed(t uint8, format string, args ...any) error {
	return &MessageError{Message: messageName(t), Reason: fmt.Sprintf(format, args...)}
}

// readMessage checks the 4-byte header of msg and returns its body.
func readMessage(msg []byte, want uint8) (cryptobyte.String, error) {
	s := cryptobyte.String(msg)
	var t uint8
	var body cryptobyte.String
	if !s.ReadUint8(&t) || !s.ReadUint24LengthPrefixed(&body) {
		return nil, malformed(want, "%d bytes cannot hold the 4-byte header and the length it announces", len(msg))
	}
	if t != want {
		return nil, malformed(want, "type %d", t)
	}
	if !s.Empty() {
		return nil, malformed(want, "%d bytes after the message", len(s))
	}
	return body, nil
}

func marshalMessage(t uint8, body func(*cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddUint8(t)
	b.AddUint24LengthPrefixed(body)
	return b.BytesOrPanic() // lengths are bounded by construction
}

func marshalExtensions(b *cryptobyte.Builder, exts []extension) {
	if len(exts) == 0 {
		return
	}
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.typ)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
		}
	})
}

// readExtensions reads the optional extensions block that ends a hello. Absent
// (no bytes left) is fine; otherwise the block must fill the rest exactly and
// name no extension twice.
func readExtensions(t uint8, s *cryptobyte.String) ([]extension, error) {
	if s.Empty() {
		return nil, nil
	}
	var block cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&block) {
		return nil, malformed(t, "extensions block overruns the message")
	}
	if !s.Empty() {
		return nil, malformed(t, "%d bytes after the extensions", len(*s))
	}
	var exts []extension
	seen := map[uint16]bool{}
	for !block.Empty() {
		var e extension
		var data cryptobyte.String
		if !block.ReadUint16(&e.typ) || !block.ReadUint16LengthPrefixed(&data) {
			return nil, malformed(t, "extension overruns the extensions block")
		}
		if seen[e.typ] {
			return nil, malformed(t, "extension %d appears twice", e.typ)
		}
		seen[e.typ] = true
		e.data = append([]byte{}, data...)
		exts = append(exts, e)
	}
	return exts, nil
}

func (m *clientHelloMsg) marshal() []byte {
	return marshalMessage(typeClientHello, func(b *cryptobyte.Builder) {
		b.AddUint16(m.vers)
		b.AddBytes(m.random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.sessionID) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, c := range m.cipherSuites {
				b.AddUint16(c)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.compressionMethods) })
		marshalExtensions(b, m.extensions)
	})
}

func (m *clientHelloMsg) unmarshal(msg []byte) error {
	const t = typeClientHello
	s, err := readMessage(msg, t)
	if err != nil {
		return err
	}
	*m = clientHelloMsg{}
	var random, sid, suites, comp cryptobyte.String
	if !s.ReadUint16(&m.vers) || !s.ReadBytes((*[]byte)(&random), randomLen) {
		return malformed(t, "too short for version and random")
	}
	if !s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 {
		return malformed(t, "session_id must be 0–32 bytes within the message")
	}
	if !s.ReadUint16LengthPrefixed(&suites) || len(suites) < 2 || len(suites)%2 != 0 {
		return malformed(t, "cipher_suites must be a non-empty list of 2-byte values within the message")
	}
	if !s.ReadUint8LengthPrefixed(&comp) || len(comp) < 1 {
		return malformed(t, "compression_methods must be a non-empty list within the message")
	}
	m.random = append([]byte{}, random...)
	m.sessionID = append([]byte{}, sid...)
	m.cipherSuites = make([]uint16, 0, len(suites)/2)
	for !suites.Empty() {
		var c uint16
		suites.ReadUint16(&c)
		m.cipherSuites = append(m.cipherSuites, c)
	}
	m.compressionMethods = append([]byte{}, comp...)
	m.extensions, err = readExtensions(t, &s)
	return err
}

func (m *serverHelloMsg) marshal() []byte {
	return marshalMessage(typeServerHello, func(b *cryptobyte.Builder) {
		b.AddUint16(m.vers)
		b.AddBytes(m.random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.sessionID) })
		b.AddUint16(m.cipherSuite)
		b.AddUint8(m.compressionMethod)
		marshalExtensions(b, m.extensions)
	})
}

func (m *serverHelloMsg) unmarshal(msg []byte) error {
	const t = typeServerHello
	s, err := readMessage(msg, t)
	if err != nil {
		return err
	}
	*m = serverHelloMsg{}
	var random, sid cryptobyte.String
	if !s.ReadUint16(&m.vers) || !s.ReadBytes((*[]byte)(&random), randomLen) {
		return malformed(t, "too short for version and random")
	}
	if !s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 {
		return malformed(t, "session_id must be 0–32 bytes within the message")
	}
	if !s.ReadUint16(&m.cipherSuite) || !s.ReadUint8(&m.compressionMethod) {
		return malformed(t, "too short for cipher_suite and compression_method")
	}
	m.random = append([]byte{}, random...)
	m.sessionID = append([]byte{}, sid...)
	m.extensions, err = readExtensions(t, &s)
	return err
}

func (m *serverKeyExchangeMsg) marshal() []byte {
	return marshalMessage(typeServerKeyExchange, func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.identityHint) })
	})
}

func (m *serverKeyExchangeMsg) unmarshal(msg []byte) error {
	const t = typeServerKeyExchange
	s, err := readMessage(msg, t)
	if err != nil {
		return err
	}
	var hint cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&hint) || !s.Empty() {
		return malformed(t, "body must be exactly a psk_identity_hint<0..2^16-1>")
	}
	m.identityHint = append([]byte{}, hint...)
	return nil
}

func (m *clientKeyExchangeMsg) marshal() []byte {
	return marshalMessage(typeClientKeyExchange, func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.identity) })
	})
}

func (m *clientKeyExchangeMsg) unmarshal(msg []byte) error {
	const t = typeClientKeyExchange
	s, err := readMessage(msg, t)
	if err != nil {
		return err
	}
	var id cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&id) || !s.Empty() {
		return malformed(t, "body must be exactly a psk_identity<0..2^16-1>")
	}
	m.identity = append([]byte{}, id...)
	return nil
}

func (m *finishedMsg) marshal() []byte {
	return marshalMessage(typeFinished, func(b *cryptobyte.Builder) { b.AddBytes(m.verifyData) })
}

func (m *finishedMsg) unmarshal(msg []byte) error {
	s, err := readMessage(msg, typeFinished)
	if err != nil {
		return err
	}
	if len(s) != verifyDataLen {
		return malformed(typeFinished, "verify_data must be %d bytes, got %d", verifyDataLen, len(s))
	}
	m.verifyData = append([]byte{}, s...)
	return nil
}

// unmarshalEmpty checks a message with an empty body (ServerHelloDone,
// HelloRequest).
func unmarshalEmpty(msg []byte, t uint8) error {
	s, err := readMessage(msg, t)
	if err != nil {
		return err
	}
	if !s.Empty() {
		return malformed(t, "body must be empty, got %d bytes", len(s))
	}
	return nil
}

func marshalEmpty(t uint8) []byte { return []byte{t, 0, 0, 0} }

// renegotiationInfo reads the renegotiated_connection of a renegotiation_info
// extension (RFC 5746 §3.2); on an initial handshake it must be empty.
func renegotiationInfo(data []byte) (empty, ok bool) {
	s := cryptobyte.String(data)
	var rc cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&rc) || !s.Empty() {
		return false, false
	}
	return len(rc) == 0, true
}
