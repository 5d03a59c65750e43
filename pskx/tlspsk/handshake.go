package tlspsk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/amtkit/amtkit/pskx"
)

// handshakeState holds what one handshake needs. The client and server
// handshakes below are straight-line sequences of named steps over it.
type handshakeState struct {
	c          *Conn
	ctx        context.Context
	suites     []*cipherSuite // configured, in preference order
	lo, hi     uint16
	vers       uint16
	suite      *cipherSuite
	random     struct{ client, server []byte }
	transcript []byte
	master     []byte
	identity   []byte
	hint       []byte
	secReneg   bool
}

func newHandshakeState(c *Conn, ctx context.Context) (*handshakeState, error) {
	if c.config == nil {
		return nil, errors.New("tlspsk: nil Config")
	}
	suites, err := c.config.suites()
	if err != nil {
		return nil, err
	}
	lo, hi, err := c.config.versions()
	if err != nil {
		return nil, err
	}
	return &handshakeState{c: c, ctx: ctx, suites: suites, lo: lo, hi: hi}, nil
}

func (hs *handshakeState) newRandom() ([]byte, error) {
	r := make([]byte, randomLen)
	if _, err := io.ReadFull(hs.c.config.rand(), r); err != nil {
		return nil, fmt.Errorf("tlspsk: reading randomness: %w", err)
	}
	return r, nil
}

// nextMessage reads the next handshake message, skipping HelloRequest on the
// client (RFC 5246 §7.4.1.1 says to ignore it during a handshake) up to
// maxHelloRequests times: a peer that keeps sending them ends the handshake
// with unexpected_message instead of holding it until its context ends.
func (hs *handshakeState) nextMessage() ([]byte, error) {
	for {
		msg, err := hs.c.readHandshake()
		if err != nil {
			return nil, err
		}
		if hs.c.isClient && msg[0] == typeHelloRequest {
			if err := unmarshalEmpty(msg, typeHelloRequest); err != nil {
				return nil, hs.c.fail(AlertDecodeError, err)
			}
			if err := hs.c.ignoreHelloRequest(); err != nil {
				return nil, err
			}
			continue
		}
		return msg, nil
	}
}

// expect reads the next message and checks its type.
func (hs *handshakeState) expect(t uint8) ([]byte, error) {
	msg, err := hs.nextMessage()
	if err != nil {
		return nil, err
	}
	if msg[0] != t {
		return nil, hs.unexpected(msg[0], messageName(t))
	}
	return msg, nil
}

func (hs *handshakeState) unexpected(got uint8, want string) error {
	reason := fmt.Errorf("%w: %s where %s was due", ErrUnexpectedMessage, messageName(got), want)
	if got == typeCertificate || got == typeCertificateReq {
		reason = fmt.Errorf("%w: %s where %s was due (the peer is not using a plain-PSK suite)", ErrUnexpectedMessage, messageName(got), want)
	}
	return hs.c.fail(AlertUnexpectedMessage, reason)
}

func (hs *handshakeState) setVersion(v uint16) {
	hs.vers = v
	hs.c.in.version = v
	hs.c.out.Lock()
	hs.c.out.version = v
	hs.c.out.Unlock()
}

// establishKeys derives the master secret and loads the pending keys of both
// directions.
func (hs *handshakeState) establishKeys(key []byte) error {
	pre := pskPremaster(key)
	hs.master = masterSecret(hs.vers, hs.suite, pre, hs.random.client, hs.random.server)
	clear(pre)
	k := deriveKeys(hs.vers, hs.suite, hs.master, hs.random.client, hs.random.server)
	c := hs.c
	readKey, readMAC, readIV := k.serverKey, k.serverMAC, k.serverIV
	writeKey, writeMAC, writeIV := k.clientKey, k.clientMAC, k.clientIV
	if !c.isClient {
		readKey, readMAC, readIV, writeKey, writeMAC, writeIV = writeKey, writeMAC, writeIV, readKey, readMAC, readIV
	}
	c.in.isRead = true
	if err := c.in.prepare(readKey, readMAC, readIV, hs.suite); err != nil {
		return c.fail(AlertInternalError, err)
	}
	c.out.Lock()
	err := c.out.prepare(writeKey, writeMAC, writeIV, hs.suite)
	c.out.Unlock()
	if err != nil {
		return c.fail(AlertInternalError, err)
	}
	if w := c.config.KeyLogWriter; w != nil {
		_, _ = fmt.Fprintf(w, "CLIENT_RANDOM %x %x\n", hs.random.client, hs.master)
	}
	return nil
}

// sendFinished writes ChangeCipherSpec and Finished (and, for the client, the
// ClientKeyExchange before them) as one flight.
func (hs *handshakeState) sendFinished(before []byte, label string) error {
	c := hs.c
	c.out.Lock()
	defer c.out.Unlock()
	if before != nil {
		c.appendHandshake(before)
	}
	c.appendRecord(recordChangeCipherSpec, []byte{1})
	c.out.changeCipherSpec()
	fin := (&finishedMsg{verifyData: finishedData(hs.vers, hs.suite, hs.master, label, hs.transcript)}).marshal()
	hs.transcript = append(hs.transcript, fin...)
	c.appendHandshake(fin)
	return c.flush()
}

// readFinished reads the peer's ChangeCipherSpec and Finished and checks
// verify_data in constant time.
func (hs *handshakeState) readFinished(label string) error {
	c := hs.c
	for c.in.nextBlock != nil {
		if err := c.readRecord(true); err != nil {
			return err
		}
	}
	msg, err := hs.expect(typeFinished)
	if err != nil {
		return err
	}
	var fin finishedMsg
	if err := fin.unmarshal(msg); err != nil {
		return c.fail(AlertDecodeError, err)
	}
	want := finishedData(hs.vers, hs.suite, hs.master, label, hs.transcript)
	if !verifyDataEqual(fin.verifyData, want) {
		return c.fail(AlertDecryptError, ErrFinishedMismatch)
	}
	hs.transcript = append(hs.transcript, msg...)
	return nil
}

func (hs *handshakeState) complete() {
	c := hs.c
	c.state = ConnectionState{
		HandshakeComplete:   true,
		Version:             hs.vers,
		CipherSuite:         hs.suite.id,
		Identity:            hs.identity,
		IdentityHint:        hs.hint,
		SecureRenegotiation: hs.secReneg,
	}
	clear(hs.master)
	c.handshakeComplete.Store(true)
}

// clientHandshake runs the client side: ClientHello; ServerHello,
// [ServerKeyExchange], ServerHelloDone; ClientKeyExchange, ChangeCipherSpec,
// Finished; ChangeCipherSpec, Finished.
func (c *Conn) clientHandshake(ctx context.Context) error {
	cfg := c.config
	if cfg != nil && (cfg.Key.IsZero() || cfg.Key.Len() > 0xffff || len(cfg.Identity) > 0xffff) {
		return fmt.Errorf("%w: the client needs Config.Key (1–65535 bytes) and an Identity of at most 65535 bytes", ErrNoKey)
	}
	hs, err := newHandshakeState(c, ctx)
	if err != nil {
		return err
	}
	hs.identity = slices.Clone(cfg.Identity)
	hello, err := hs.sendClientHello()
	if err != nil {
		return err
	}
	if err := hs.readServerHello(hello); err != nil {
		return err
	}
	if err := hs.readServerHelloDone(); err != nil {
		return err
	}
	key := []byte(cfg.Key.Reveal())
	err = hs.establishKeys(key)
	clear(key)
	if err != nil {
		return err
	}
	cke := (&clientKeyExchangeMsg{identity: hs.identity}).marshal()
	hs.transcript = append(hs.transcript, cke...)
	if err := hs.sendFinished(cke, "client finished"); err != nil {
		return err
	}
	if err := hs.readFinished("server finished"); err != nil {
		return err
	}
	hs.complete()
	return nil
}

func (hs *handshakeState) sendClientHello() (*clientHelloMsg, error) {
	c := hs.c
	r, err := hs.newRandom()
	if err != nil {
		return nil, err
	}
	hs.random.client = r
	ids := make([]uint16, 0, len(hs.suites)+1)
	for _, s := range hs.suites {
		ids = append(ids, s.id)
	}
	ids = append(ids, scsvRenegotiation) // RFC 5746: we never renegotiate, but say we are not vulnerable
	hello := &clientHelloMsg{vers: hs.hi, random: r, sessionID: []byte{}, cipherSuites: ids, compressionMethods: []uint8{0}}
	msg := hello.marshal()
	hs.transcript = append(hs.transcript, msg...)
	c.out.Lock()
	defer c.out.Unlock()
	c.out.version = VersionTLS10 // the usual record version of a ClientHello
	c.appendHandshake(msg)
	return hello, c.flush()
}

func (hs *handshakeState) readServerHello(hello *clientHelloMsg) error {
	c := hs.c
	msg, err := hs.expect(typeServerHello)
	if err != nil {
		return err
	}
	var sh serverHelloMsg
	if err := sh.unmarshal(msg); err != nil {
		return c.fail(AlertDecodeError, err)
	}
	if sh.vers < hs.lo || sh.vers > hs.hi {
		return c.fail(AlertProtocolVersion, fmt.Errorf("%w: server chose %s, client allows %s to %s", ErrVersion, VersionName(sh.vers), VersionName(hs.lo), VersionName(hs.hi)))
	}
	for _, s := range hs.suites {
		if s.id == sh.cipherSuite {
			hs.suite = s
		}
	}
	if hs.suite == nil {
		return c.fail(AlertIllegalParameter, fmt.Errorf("%w: server chose %s, which was not offered", ErrNoCommonSuite, CipherSuiteName(sh.cipherSuite)))
	}
	if sh.compressionMethod != 0 {
		return c.fail(AlertIllegalParameter, &MessageError{Message: "ServerHello", Reason: fmt.Sprintf("compression method %d was not offered", sh.compressionMethod)})
	}
	for _, e := range sh.extensions {
		if e.typ != extRenegotiationInfo {
			return c.fail(AlertUnsupportedExtension, &MessageError{Message: "ServerHello", Reason: fmt.Sprintf("extension %d was not offered", e.typ)})
		}
		empty, ok := renegotiationInfo(e.data)
		if !ok {
			return c.fail(AlertDecodeError, &MessageError{Message: "ServerHello", Reason: "malformed renegotiation_info"})
		}
		if !empty {
			return c.fail(AlertHandshakeFailure, fmt.Errorf("%w: renegotiation_info not empty on an initial handshake", ErrRenegotiation))
		}
		hs.secReneg = true
	}
	hs.random.server = sh.random
	hs.setVersion(sh.vers)
	hs.transcript = append(hs.transcript, msg...)
	return nil
}

func (hs *handshakeState) readServerHelloDone() error {
	c := hs.c
	msg, err := hs.nextMessage()
	if err != nil {
		return err
	}
	if msg[0] == typeServerKeyExchange {
		var ske serverKeyExchangeMsg
		if err := ske.unmarshal(msg); err != nil {
			return c.fail(AlertDecodeError, err)
		}
		hs.hint = ske.identityHint
		hs.transcript = append(hs.transcript, msg...)
		if msg, err = hs.nextMessage(); err != nil {
			return err
		}
	}
	if msg[0] != typeServerHelloDone {
		return hs.unexpected(msg[0], "ServerHelloDone")
	}
	if err := unmarshalEmpty(msg, typeServerHelloDone); err != nil {
		return c.fail(AlertDecodeError, err)
	}
	hs.transcript = append(hs.transcript, msg...)
	return nil
}

// serverHandshake runs the server side: ClientHello; ServerHello,
// [ServerKeyExchange], ServerHelloDone; ClientKeyExchange, ChangeCipherSpec,
// Finished; ChangeCipherSpec, Finished.
func (c *Conn) serverHandshake(ctx context.Context) error {
	if c.config != nil && c.config.GetKey == nil {
		return fmt.Errorf("%w: the server needs Config.GetKey", ErrNoKey)
	}
	if c.config != nil && len(c.config.IdentityHint) > 0xffff {
		return errors.New("tlspsk: Config.IdentityHint exceeds 65535 bytes")
	}
	hs, err := newHandshakeState(c, ctx)
	if err != nil {
		return err
	}
	if err := hs.readClientHello(); err != nil {
		return err
	}
	if err := hs.sendServerHello(); err != nil {
		return err
	}
	if err := hs.readClientKeyExchange(); err != nil {
		return err
	}
	if err := hs.readFinished("client finished"); err != nil {
		return err
	}
	if err := hs.sendFinished(nil, "server finished"); err != nil {
		return err
	}
	hs.complete()
	return nil
}

func (hs *handshakeState) readClientHello() error {
	c := hs.c
	msg, err := hs.expect(typeClientHello)
	if err != nil {
		return err
	}
	var ch clientHelloMsg
	if err := ch.unmarshal(msg); err != nil {
		return c.fail(AlertDecodeError, err)
	}
	if ch.vers < VersionTLS10 {
		return c.fail(AlertProtocolVersion, fmt.Errorf("%w: client offers %s at most", ErrVersion, VersionName(ch.vers)))
	}
	vers := min(ch.vers, hs.hi)
	if vers < hs.lo {
		return c.fail(AlertProtocolVersion, fmt.Errorf("%w: client offers %s at most, server needs %s", ErrVersion, VersionName(ch.vers), VersionName(hs.lo)))
	}
	if containsSuite(ch.cipherSuites, scsvFallback) && ch.vers < hs.hi {
		return c.fail(AlertInappropriateFallback, fmt.Errorf("%w: client fell back to %s though %s is available", ErrVersion, VersionName(ch.vers), VersionName(hs.hi)))
	}
	if !slices.Contains(ch.compressionMethods, 0) {
		return c.fail(AlertIllegalParameter, &MessageError{Message: "ClientHello", Reason: "compression_methods lacks null"})
	}
	hs.secReneg = containsSuite(ch.cipherSuites, scsvRenegotiation)
	for _, e := range ch.extensions {
		if e.typ != extRenegotiationInfo {
			continue // other extensions are ignored, and not answered
		}
		empty, ok := renegotiationInfo(e.data)
		if !ok {
			return c.fail(AlertDecodeError, &MessageError{Message: "ClientHello", Reason: "malformed renegotiation_info"})
		}
		if !empty {
			return c.fail(AlertHandshakeFailure, fmt.Errorf("%w: renegotiation_info not empty on an initial handshake", ErrRenegotiation))
		}
		hs.secReneg = true
	}
	for _, s := range hs.suites {
		if containsSuite(ch.cipherSuites, s.id) {
			hs.suite = s
			break
		}
	}
	if hs.suite == nil {
		return c.fail(AlertHandshakeFailure, fmt.Errorf("%w: client offers none of the configured PSK suites", ErrNoCommonSuite))
	}
	hs.random.client = ch.random
	hs.setVersion(vers)
	hs.transcript = append(hs.transcript, msg...)
	return nil
}

func (hs *handshakeState) sendServerHello() error {
	c := hs.c
	r, err := hs.newRandom()
	if err != nil {
		return c.fail(AlertInternalError, err)
	}
	hs.random.server = r
	sh := &serverHelloMsg{vers: hs.vers, random: r, sessionID: []byte{}, cipherSuite: hs.suite.id}
	if hs.secReneg && !c.config.NoRenegotiationInfo {
		sh.extensions = []extension{{typ: extRenegotiationInfo, data: []byte{0}}}
	}
	flight := [][]byte{sh.marshal()}
	if hint := c.config.IdentityHint; len(hint) > 0 {
		hs.hint = slices.Clone(hint)
		flight = append(flight, (&serverKeyExchangeMsg{identityHint: hs.hint}).marshal())
	}
	flight = append(flight, marshalEmpty(typeServerHelloDone))
	c.out.Lock()
	defer c.out.Unlock()
	for _, m := range flight {
		hs.transcript = append(hs.transcript, m...)
		c.appendHandshake(m)
	}
	return c.flush()
}

func (hs *handshakeState) readClientKeyExchange() error {
	c := hs.c
	msg, err := hs.expect(typeClientKeyExchange)
	if err != nil {
		return err
	}
	var cke clientKeyExchangeMsg
	if err := cke.unmarshal(msg); err != nil {
		return c.fail(AlertDecodeError, err)
	}
	hs.identity = cke.identity
	secret, err := c.config.GetKey(hs.ctx, cke.identity)
	if err != nil {
		if errors.Is(err, ErrUnknownIdentity) || errors.Is(err, pskx.ErrPairNotFound) {
			return c.fail(AlertUnknownPSKIdentity, fmt.Errorf("%w %q: %w", ErrUnknownIdentity, cke.identity, err))
		}
		return c.fail(AlertInternalError, fmt.Errorf("tlspsk: key lookup for identity %q: %w", cke.identity, err))
	}
	if secret.IsZero() || secret.Len() > 0xffff {
		return c.fail(AlertInternalError, fmt.Errorf("%w: GetKey returned a key of %d bytes for identity %q", ErrNoKey, secret.Len(), cke.identity))
	}
	hs.transcript = append(hs.transcript, msg...)
	key := []byte(secret.Reveal())
	err = hs.establishKeys(key)
	clear(key)
	return err
}
