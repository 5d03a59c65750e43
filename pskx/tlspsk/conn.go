package tlspsk

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a TLS-PSK connection over a net.Conn: the client side ([Client],
// [Dial]) or the server side ([Server], [NewListener]). It implements
// net.Conn. Read and Write run the handshake first if [Conn.HandshakeContext]
// has not been called. Read and Write may be called concurrently with each
// other; Close may be called at any time.
type Conn struct {
	conn     net.Conn
	isClient bool
	config   *Config

	handshakeMu       sync.Mutex
	handshakeErr      error
	handshakeComplete atomic.Bool
	state             ConnectionState // set once, under handshakeMu, before handshakeComplete

	in, out  halfConn
	rawInput bytes.Buffer // bytes read from conn and not yet consumed (guarded by in)
	input    []byte       // application data not yet returned by Read (guarded by in)
	hand     bytes.Buffer // handshake bytes not yet assembled into a message (guarded by in)
	useless  int          // consecutive empty records and ignored warning alerts (guarded by in)

	sendBuf         []byte // records of the flight being written (guarded by out)
	closeNotifySent bool   // guarded by out

	helloRequests int // HelloRequests ignored during the handshake (guarded by in)

	// The caller's deadlines, kept to bound the alerts Read sends (a peer
	// that asks for renegotiation and stops reading must not hold Read past
	// its deadline) and to restore the write deadline afterwards.
	deadlineMu                  sync.Mutex
	readDeadline, writeDeadline time.Time
	writeDeadlineGen            uint64 // counts SetWriteDeadline and SetDeadline calls

	handshakeFailed atomic.Bool // set with handshakeErr
}

var _ net.Conn = (*Conn)(nil)

// ConnectionState describes a connection for logging and checks.
type ConnectionState struct {
	HandshakeComplete bool
	Version           uint16 // VersionTLS10, VersionTLS11 or VersionTLS12
	CipherSuite       uint16 // e.g. TLS_PSK_WITH_AES_128_CBC_SHA
	// Identity is the psk_identity the client sent (by default the 8-character
	// PID). IdentityHint is the hint the server sent, if any.
	Identity     []byte
	IdentityHint []byte
	// SecureRenegotiation reports whether the peer signalled RFC 5746 support.
	// Renegotiation is refused either way.
	SecureRenegotiation bool
}

// LogValue implements [slog.LogValuer]: version, suite and identity (PSK
// identities are not secret; the default one is the PID, sent in clear in the
// hello).
func (s ConnectionState) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("version", VersionName(s.Version)),
		slog.String("cipher_suite", CipherSuiteName(s.CipherSuite)),
		slog.String("identity", string(s.Identity)),
	)
}

// ClientPSK returns the client side of a TLS-PSK connection over conn. The
// handshake runs on the first Read or Write, or explicitly with
// [Conn.HandshakeContext]. config must set Identity and Key (see
// [Derivation.ClientConfig]) and must not be modified afterwards.
func Client(conn net.Conn, config *Config) *Conn {
	return &Conn{conn: conn, isClient: true, config: config}
}

// ServerPSK returns the server side of a TLS-PSK connection over conn. config
// must set GetKey and must not be modified afterwards.
func Server(conn net.Conn, config *Config) *Conn {
	return &Conn{conn: conn, config: config}
}

// NetConn returns the underlying connection. Writing to or reading from it
// corrupts the TLS session.
func (c *Conn) NetConn() net.Conn { return c.conn }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the read and write deadlines of the underlying connection.
// A Write that times out leaves the TLS state corrupt: later Writes fail.
func (c *Conn) SetDeadline(t time.Time) error {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	c.readDeadline, c.writeDeadline = t, t
	c.writeDeadlineGen++
	return c.conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline of the underlying connection. It
// also bounds the alert a Read may have to send (declining a renegotiation).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	c.readDeadline = t
	return c.conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline of the underlying connection.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	c.writeDeadline = t
	c.writeDeadlineGen++
	return c.conn.SetWriteDeadline(t)
}

// alertFromRead sends an alert on behalf of Read (out must be locked), its
// write bounded by the caller's read deadline as well as the write deadline.
// The deadline methods do not wait for the write (SetDeadline in the past
// still interrupts it), and a write deadline set meanwhile is kept: the one
// seen before is restored only if none was set since.
func (c *Conn) alertFromRead(a Alert) error {
	c.deadlineMu.Lock()
	rd, wd, gen := c.readDeadline, c.writeDeadline, c.writeDeadlineGen
	if rd.IsZero() || (!wd.IsZero() && wd.Before(rd)) {
		c.deadlineMu.Unlock()
		return c.sendAlertLocked(a)
	}
	_ = c.conn.SetWriteDeadline(rd)
	c.deadlineMu.Unlock()
	err := c.sendAlertLocked(a)
	c.deadlineMu.Lock()
	if gen == c.writeDeadlineGen && !c.closeNotifySent {
		_ = c.conn.SetWriteDeadline(wd)
	}
	c.deadlineMu.Unlock()
	return err
}

// declineRenegotiation answers a renegotiation request with a no_renegotiation
// warning, from Read. The answer is optional (RFC 5246 §7.4.1.1: a client may
// ignore a HelloRequest), so it is not sent when a Write holds the write side
// or the read deadline has passed: Read must not wait beyond its deadline, and
// a write that timed out would end the write side for good.
func (c *Conn) declineRenegotiation() error {
	if !c.out.TryLock() {
		return nil
	}
	defer c.out.Unlock()
	c.deadlineMu.Lock()
	rd := c.readDeadline
	c.deadlineMu.Unlock()
	if !rd.IsZero() && !time.Now().Before(rd) {
		return nil
	}
	return c.alertFromRead(AlertNoRenegotiation)
}

// ConnectionState returns the negotiated parameters (zero before the handshake).
func (c *Conn) ConnectionState() ConnectionState {
	c.handshakeMu.Lock()
	defer c.handshakeMu.Unlock()
	return c.state
}

// HandshakeContext runs the handshake if it has not run yet. If ctx is cancelled
// or its deadline passes first, the handshake is abandoned, the underlying
// connection closed, and an error wrapping ctx.Err() returned. Once the
// handshake has completed, ctx no longer affects the connection. A failed
// handshake fails every later call with the same error.
func (c *Conn) HandshakeContext(ctx context.Context) (err error) {
	if c.handshakeComplete.Load() {
		return nil
	}
	// A handshake that failed before this call keeps its own error, even
	// under a ctx already done; one our ctx failed (by closing the
	// connection) answers with ctx's.
	failedBefore := c.handshakeFailed.Load()
	// Armed before waiting for a handshake another goroutine runs (an
	// implicit one, from Read or Write), so that ctx bounds the wait too.
	stop := func() bool { return true }
	interrupted := make(chan struct{})
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() {
			_ = c.conn.Close() // unblocks the handshake's reads and writes
			close(interrupted)
		})
	}
	c.handshakeMu.Lock()
	defer c.handshakeMu.Unlock()
	if c.handshakeErr != nil {
		if !stop() {
			<-interrupted
			if !failedBefore {
				// ctx ended while another goroutine's handshake ran,
				// and failed it by closing the connection.
				return fmt.Errorf("tlspsk: handshake: %w", ctx.Err())
			}
		}
		return c.handshakeErr
	}
	if c.handshakeComplete.Load() {
		if !stop() {
			// ctx ended while another goroutine's handshake completed: the
			// connection is closed now.
			<-interrupted
			return fmt.Errorf("tlspsk: handshake: %w", ctx.Err())
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		if !stop() {
			<-interrupted
		}
		_ = c.conn.Close()
		c.handshakeErr = fmt.Errorf("tlspsk: handshake: %w", err)
		c.handshakeFailed.Store(true)
		return c.handshakeErr
	}
	c.in.Lock()
	defer c.in.Unlock()

	if c.isClient {
		err = c.clientHandshake(ctx)
	} else {
		err = c.serverHandshake(ctx)
	}
	if !stop() {
		<-interrupted
		if err == nil {
			c.handshakeComplete.Store(false)
		}
		err = fmt.Errorf("tlspsk: handshake: %w", ctx.Err())
	}
	if err != nil {
		c.handshakeErr = err
		c.handshakeFailed.Store(true)
		return err
	}
	return nil
}

// Read reads application data, running the handshake first if needed. It
// returns io.EOF after the peer's close_notify, and also, as crypto/tls does,
// when the connection ends at a record boundary without one: a protocol on
// top must frame its messages to see a truncation (HTTP's Content-Length and
// chunked bodies do).
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.HandshakeContext(context.Background()); err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, nil
	}
	c.in.Lock()
	defer c.in.Unlock()
	// One record at a time: a post-handshake message is handled once all its
	// fragments are in, and application data that arrives between its fragments
	// (RFC 5246 §6.2.1 lets record types interleave) is returned in order.
	for len(c.input) == 0 {
		if err := c.readRecord(false); err != nil {
			return 0, err
		}
		for {
			msg, err := c.bufferedHandshake()
			if err != nil {
				return 0, err
			}
			if msg == nil {
				break
			}
			if err := c.handlePostHandshake(msg); err != nil {
				return 0, err
			}
		}
	}
	n := copy(b, c.input)
	c.input = c.input[n:]
	return n, nil
}

// Write writes application data, running the handshake first if needed. On
// TLS 1.0 the first byte of each Write goes in a record of its own (1/n−1
// splitting against the BEAST attack on CBC's predictable IVs).
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.HandshakeContext(context.Background()); err != nil {
		return 0, err
	}
	c.out.Lock()
	defer c.out.Unlock()
	if c.out.err != nil {
		return 0, c.out.err
	}
	if c.closeNotifySent {
		return 0, fmt.Errorf("%w: write after CloseWrite", ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	data := b
	if c.out.version == VersionTLS10 && len(data) > 1 {
		c.appendRecord(recordApplicationData, data[:1])
		data = data[1:]
	}
	// Records go out about 64 KiB at a time: a large Write neither waits
	// for all of it to be encrypted nor leaves its size in sendBuf.
	sent := 0
	for len(data) > 0 {
		n := min(len(data), maxPlaintext)
		c.appendRecord(recordApplicationData, data[:n])
		data = data[n:]
		if len(c.sendBuf) >= writeChunk && len(data) > 0 {
			if err := c.flush(); err != nil {
				return sent, err
			}
			sent = len(b) - len(data)
		}
	}
	if err := c.flush(); err != nil {
		return sent, err
	}
	return len(b), nil
}

// writeChunk is how much a Write encrypts before it sends.
const writeChunk = 64 << 10

// CloseWrite sends close_notify without closing the connection, telling the peer
// that no more data follows. Reads still work.
func (c *Conn) CloseWrite() error {
	if !c.handshakeComplete.Load() {
		return ErrHandshakeIncomplete
	}
	return c.closeNotify()
}

// Close sends close_notify (if the handshake completed) and closes the
// underlying connection. While another goroutine's Write is blocked, Close
// skips close_notify and closes the connection at once, which ends that Write
// (as crypto/tls does).
func (c *Conn) Close() error {
	var alertErr error
	if c.handshakeComplete.Load() && c.out.TryLock() {
		alertErr = c.closeNotifyLocked()
		c.out.Unlock()
	}
	if err := c.conn.Close(); err != nil {
		return err
	}
	return alertErr
}

func (c *Conn) closeNotify() error {
	c.out.Lock()
	defer c.out.Unlock()
	return c.closeNotifyLocked()
}

func (c *Conn) closeNotifyLocked() error {
	if c.closeNotifySent || c.out.err != nil {
		return nil
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.closeNotifySent = true
	err := c.sendAlertLocked(AlertCloseNotify)
	// Nothing is written after close_notify (RFC 5246 §7.2.1): the write
	// side stays closed, as crypto/tls leaves it, with a deadline that has
	// passed, rather than unbounded.
	_ = c.conn.SetWriteDeadline(time.Now())
	return err
}

// halfConn is one direction of the record layer: its cipher state and sequence
// number. A nil block means the null cipher of the first handshake flight.
type halfConn struct {
	sync.Mutex
	err     error
	version uint16 // record-layer version to write and expect; 0 before negotiation
	block   cipher.Block
	cbc     cipher.BlockMode // TLS 1.0: one chained CBC state across records
	mac     hash.Hash
	seq     uint64

	nextBlock cipher.Block
	nextMAC   hash.Hash
	nextIV    []byte
	isRead    bool
}

func (hc *halfConn) prepare(key, macKey, iv []byte, s *cipherSuite) error {
	b, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	hc.nextBlock, hc.nextMAC, hc.nextIV = b, s.newMAC(macKey), iv
	return nil
}

// changeCipherSpec switches to the pending keys (RFC 5246 §7.1) and resets the
// sequence number.
func (hc *halfConn) changeCipherSpec() bool {
	if hc.nextBlock == nil {
		return false
	}
	hc.block, hc.mac = hc.nextBlock, hc.nextMAC
	if hc.version == VersionTLS10 {
		if hc.isRead {
			hc.cbc = cipher.NewCBCDecrypter(hc.block, hc.nextIV)
		} else {
			hc.cbc = cipher.NewCBCEncrypter(hc.block, hc.nextIV)
		}
	}
	hc.nextBlock, hc.nextMAC, hc.nextIV = nil, nil, nil
	hc.seq = 0
	return true
}

func (hc *halfConn) nextSeq() ([8]byte, error) {
	var b [8]byte
	if hc.seq == ^uint64(0) {
		return b, errors.New("tlspsk: record sequence number exhausted")
	}
	s := hc.seq
	for i := 7; i >= 0; i-- {
		b[i] = byte(s)
		s >>= 8
	}
	hc.seq++
	return b, nil
}

// macInput computes HMAC(seq ‖ type ‖ version ‖ length ‖ data) (RFC 5246
// §6.2.3.1) and appends it to out. If extra is not nil, it is hashed afterwards
// (and discarded) so that records whose padding is long and whose data is short
// cost about as many compression-function calls as the other way round; with
// the constant-time padding check this is the usual Lucky Thirteen
// countermeasure.
func (hc *halfConn) macInput(out []byte, seq [8]byte, typ recordType, data, extra []byte) []byte {
	hc.mac.Reset()
	var hdr [13]byte
	copy(hdr[:8], seq[:])
	hdr[8] = byte(typ)
	hdr[9], hdr[10] = byte(hc.version>>8), byte(hc.version)
	hdr[11], hdr[12] = byte(len(data)>>8), byte(len(data))
	hc.mac.Write(hdr[:])
	hc.mac.Write(data)
	out = hc.mac.Sum(out)
	if extra != nil {
		hc.mac.Write(extra)
	}
	return out
}

// cbcPadding returns the number of bytes to strip from the end of a decrypted
// CBC payload (padding length + 1) and 0xff if the padding is well formed (every
// padding byte equals the length, and it fits), else 0, in time that depends
// only on len(payload).
func cbcPadding(payload []byte) (toRemove int, good byte) {
	n := len(payload)
	if n < 1 {
		return 0, 0
	}
	padLen := payload[n-1]
	// good = 0xff when padLen+1 <= n.
	t := uint(n-1) - uint(padLen)
	good = byte(int32(^t) >> 31)
	// Look at up to 256 trailing bytes; those within the padding must equal padLen.
	check := min(256, n)
	for i := 0; i < check; i++ {
		t := uint(padLen) - uint(i)
		inPad := byte(int32(^t) >> 31) // 0xff when i <= padLen
		b := payload[n-1-i]
		good &^= inPad & (padLen ^ b)
	}
	// Collapse: 0xff only if every bit of good is still set.
	good &= good << 4
	good &= good << 2
	good &= good << 1
	good = uint8(int8(good) >> 7)
	// On bad padding strip nothing extra (the MAC check then fails anyway).
	toRemove = int(good&padLen) + 1
	return toRemove, good
}

// decrypt opens one record (header included) in place and returns its
// plaintext. It reports ErrBadRecordMAC for any failure of length, padding or
// MAC, without telling which (RFC 5246 §6.2.3.2).
func (hc *halfConn) decrypt(record []byte) ([]byte, error) {
	typ := recordType(record[0])
	payload := record[recordHeaderLen:]
	if hc.block == nil {
		return payload, nil
	}
	bs := hc.block.BlockSize()
	macSize := hc.mac.Size()
	explicit := 0
	if hc.version >= VersionTLS11 {
		explicit = bs
	}
	minLen := (macSize+1+bs-1)/bs*bs + explicit
	if len(payload) < minLen || len(payload)%bs != 0 {
		return nil, ErrBadRecordMAC
	}
	mode := hc.cbc
	if explicit > 0 {
		mode = cipher.NewCBCDecrypter(hc.block, payload[:bs])
		payload = payload[bs:]
	}
	mode.CryptBlocks(payload, payload)
	toRemove, good := cbcPadding(payload)
	// n = len(payload) - macSize - toRemove, clamped at 0 without branching.
	n := len(payload) - macSize - toRemove
	n = subtle.ConstantTimeSelect(int(uint32(n)>>31), 0, n)
	remoteMAC := payload[n : n+macSize]
	seq, err := hc.nextSeq()
	if err != nil {
		return nil, err
	}
	var buf [64]byte
	localMAC := hc.macInput(buf[:0], seq, typ, payload[:n], payload[n+macSize:])
	ok := subtle.ConstantTimeCompare(localMAC, remoteMAC) & int(good&1)
	if ok != 1 {
		return nil, ErrBadRecordMAC
	}
	return payload[:n], nil
}

// encrypt appends one protected record (header included) to out.
func (hc *halfConn) encrypt(out []byte, typ recordType, data []byte, rand io.Reader) ([]byte, error) {
	start := len(out)
	vers := hc.version
	if vers == 0 {
		vers = VersionTLS10 // an alert before any version was agreed
	}
	out = append(out, byte(typ), byte(vers>>8), byte(vers), 0, 0)
	if hc.block == nil {
		out = append(out, data...)
	} else {
		bs := hc.block.BlockSize()
		seq, err := hc.nextSeq()
		if err != nil {
			return out[:start], err
		}
		if hc.version >= VersionTLS11 {
			iv := make([]byte, bs)
			if _, err := io.ReadFull(rand, iv); err != nil {
				return out[:start], fmt.Errorf("tlspsk: reading randomness: %w", err)
			}
			out = append(out, iv...)
		}
		body := len(out)
		out = append(out, data...)
		out = hc.macInput(out, seq, typ, data, nil)
		padLen := bs - (len(out)-body)%bs - 1
		for i := 0; i <= padLen; i++ {
			out = append(out, byte(padLen))
		}
		mode := hc.cbc
		if hc.version >= VersionTLS11 {
			mode = cipher.NewCBCEncrypter(hc.block, out[body-bs:body])
		}
		mode.CryptBlocks(out[body:], out[body:])
	}
	n := len(out) - start - recordHeaderLen
	out[start+3], out[start+4] = byte(n>>8), byte(n)
	return out, nil
}

// appendRecord adds a record to the pending flight (out must be locked); data
// must fit in one record. Errors are kept in c.out.err and reported by flush.
func (c *Conn) appendRecord(typ recordType, data []byte) {
	if c.out.err != nil {
		return
	}
	var err error
	c.sendBuf, err = c.out.encrypt(c.sendBuf, typ, data, c.config.rand())
	if err != nil {
		c.out.err = err
	}
}

// appendHandshake adds a handshake message to the flight, fragmenting it into
// records of at most 2^14 bytes.
func (c *Conn) appendHandshake(msg []byte) {
	for len(msg) > 0 {
		n := min(len(msg), maxPlaintext)
		c.appendRecord(recordHandshake, msg[:n])
		msg = msg[n:]
	}
}

// flush writes the pending flight (out must be locked).
func (c *Conn) flush() error {
	if c.out.err != nil {
		c.sendBuf = c.sendBuf[:0]
		return c.out.err
	}
	if len(c.sendBuf) == 0 {
		return nil
	}
	_, err := c.conn.Write(c.sendBuf)
	c.sendBuf = c.sendBuf[:0]
	if cap(c.sendBuf) > 2*writeChunk {
		c.sendBuf = nil // a large flight's buffer is not kept for the connection's life
	}
	if err != nil {
		c.out.err = err
	}
	return err
}

// sendAlertLocked sends an alert (out must be locked). A fatal alert poisons the
// write side. Nothing follows our close_notify.
func (c *Conn) sendAlertLocked(a Alert) error {
	if c.closeNotifySent && a != AlertCloseNotify {
		return nil
	}
	c.appendRecord(recordAlert, []byte{a.level(), byte(a)})
	err := c.flush()
	if a.level() == alertLevelFatal && c.out.err == nil {
		c.out.err = &AlertError{Alert: a}
	}
	return err
}

// fail sends alert a because of cause and returns the error the connection ends
// with. (in is locked by the caller; out is taken here.)
func (c *Conn) fail(a Alert, cause error) error {
	// The alert is best effort. After the handshake a Write may hold the
	// write side, blocked on a peer that stopped reading: waiting for it
	// would hold Read (and every Read after it) past its deadline, so the
	// alert is skipped then, as the renegotiation answer is.
	if !c.handshakeComplete.Load() {
		c.out.Lock()
		_ = c.alertFromRead(a)
		c.out.Unlock()
	} else if c.out.TryLock() {
		_ = c.alertFromRead(a)
		c.out.Unlock()
	}
	err := &AlertError{Alert: a, Err: cause}
	if c.in.err == nil {
		c.in.err = err
	}
	return err
}

// readFromUntil reads from the connection until rawInput holds n bytes.
func (c *Conn) readFromUntil(n int) error {
	for c.rawInput.Len() < n {
		c.rawInput.Grow(n - c.rawInput.Len())
		buf := c.rawInput.AvailableBuffer()
		m, err := c.conn.Read(buf[:cap(buf)])
		c.rawInput.Write(buf[:m])
		if err != nil {
			if c.rawInput.Len() >= n {
				return nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readRecord reads one record and deals with it: application data goes to
// c.input, handshake bytes to c.hand, alerts end the connection or are counted,
// and a ChangeCipherSpec switches the read keys when expectCCS is set.
func (c *Conn) readRecord(expectCCS bool) error {
	if c.in.err != nil {
		return c.in.err
	}
	if err := c.readFromUntil(recordHeaderLen); err != nil {
		if isTimeout(err) {
			return err // a read deadline: what was read stays buffered, a later Read resumes
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && c.rawInput.Len() == 0 {
			err = io.EOF // a clean close between records
			if !c.handshakeComplete.Load() {
				err = fmt.Errorf("tlspsk: connection closed during the handshake: %w", io.ErrUnexpectedEOF)
			}
		}
		c.in.err = err
		return err
	}
	hdr := c.rawInput.Bytes()[:recordHeaderLen]
	typ := recordType(hdr[0])
	vers := uint16(hdr[1])<<8 | uint16(hdr[2])
	n := int(hdr[3])<<8 | int(hdr[4])
	if hdr[1] != 3 {
		e := &RecordHeaderError{Reason: fmt.Sprintf("record version 0x%04x is not TLS", vers)}
		copy(e.Header[:], hdr)
		c.in.err = e
		return e
	}
	switch typ {
	case recordChangeCipherSpec, recordAlert, recordHandshake, recordApplicationData:
	default:
		e := &RecordHeaderError{Reason: fmt.Sprintf("unknown record type %d", typ)}
		copy(e.Header[:], hdr)
		return c.fail(AlertUnexpectedMessage, e)
	}
	if c.in.version != 0 && vers != c.in.version {
		return c.fail(AlertProtocolVersion, fmt.Errorf("%w: record version %s, negotiated %s", ErrVersion, VersionName(vers), VersionName(c.in.version)))
	}
	if n > maxCiphertext || (c.in.block == nil && n > maxPlaintext) {
		return c.fail(AlertRecordOverflow, fmt.Errorf("%w: %d-byte record", ErrRecordOverflow, n))
	}
	if err := c.readFromUntil(recordHeaderLen + n); err != nil {
		if !isTimeout(err) {
			c.in.err = err
		}
		return err
	}
	record := c.rawInput.Next(recordHeaderLen + n)
	data, err := c.in.decrypt(record)
	if err != nil {
		if errors.Is(err, ErrBadRecordMAC) {
			return c.fail(AlertBadRecordMAC, err)
		}
		return c.fail(AlertInternalError, err)
	}
	if len(data) > maxPlaintext {
		return c.fail(AlertRecordOverflow, fmt.Errorf("%w: %d bytes of plaintext", ErrRecordOverflow, len(data)))
	}
	switch typ {
	case recordAlert:
		if len(data) != 2 {
			return c.fail(AlertDecodeError, &MessageError{Message: "alert", Reason: fmt.Sprintf("must be 2 bytes, got %d", len(data))})
		}
		a := Alert(data[1])
		if a == AlertCloseNotify {
			c.in.err = io.EOF
			if !c.handshakeComplete.Load() {
				c.in.err = fmt.Errorf("tlspsk: peer closed during the handshake: %w", io.ErrUnexpectedEOF)
			}
			return c.in.err
		}
		if data[0] == alertLevelWarning {
			return c.uselessRecord()
		}
		c.in.err = &AlertError{Alert: a, Remote: true}
		return c.in.err
	case recordChangeCipherSpec:
		if !expectCCS {
			return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: ChangeCipherSpec", ErrUnexpectedMessage))
		}
		if len(data) != 1 || data[0] != 1 {
			return c.fail(AlertDecodeError, &MessageError{Message: "ChangeCipherSpec", Reason: "must be the single byte 1"})
		}
		if c.hand.Len() > 0 {
			return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: ChangeCipherSpec in the middle of a handshake message", ErrUnexpectedMessage))
		}
		if !c.in.changeCipherSpec() {
			return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: ChangeCipherSpec before keys were agreed", ErrUnexpectedMessage))
		}
		c.useless = 0
		return nil
	case recordHandshake:
		if expectCCS {
			// A server's HelloRequest may cross our flight: the client
			// ignores it while negotiating (RFC 5246 §7.4.1.1), here as
			// everywhere else in the handshake, as a useless record.
			if c.isClient && c.hand.Len() == 0 && bytes.Equal(data, []byte{typeHelloRequest, 0, 0, 0}) {
				return c.ignoreHelloRequest()
			}
			return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: handshake record where ChangeCipherSpec was due", ErrUnexpectedMessage))
		}
		if len(data) == 0 {
			return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: empty handshake record", ErrUnexpectedMessage))
		}
		c.hand.Write(data)
		if !c.handshakeComplete.Load() {
			c.useless = 0 // after the handshake, only application data is progress
		}
		return nil
	default: // application data
		if !c.handshakeComplete.Load() || expectCCS {
			return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: application data before the handshake completed", ErrUnexpectedMessage))
		}
		if len(data) == 0 {
			return c.uselessRecord()
		}
		if len(c.input) != 0 {
			// Read never asks for a record while data is pending; dropping it
			// would lose data silently.
			return c.fail(AlertInternalError, errors.New("tlspsk: application data record read while earlier data was unread"))
		}
		c.input = data
		c.useless = 0
		return nil
	}
}

// ignoreHelloRequest counts a HelloRequest the client ignores during the
// handshake (RFC 5246 §7.4.1.1), maxHelloRequests at most: a peer that keeps
// sending them ends the handshake instead of holding it until its context
// ends.
func (c *Conn) ignoreHelloRequest() error {
	if c.helloRequests++; c.helloRequests > maxHelloRequests {
		return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: more than %d HelloRequests during the handshake", ErrUnexpectedMessage, maxHelloRequests))
	}
	return nil
}

func (c *Conn) uselessRecord() error {
	c.useless++
	if c.useless > maxUselessRecords {
		return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: too many empty records or warning alerts", ErrUnexpectedMessage))
	}
	return nil
}

// readHandshake returns the next complete handshake message (header included),
// reading records until it is in. Only the handshake uses it: application data
// is refused until the handshake completes.
func (c *Conn) readHandshake() ([]byte, error) {
	for {
		msg, err := c.bufferedHandshake()
		if err != nil || msg != nil {
			return msg, err
		}
		if err := c.readRecord(false); err != nil {
			return nil, err
		}
	}
}

// bufferedHandshake returns the next handshake message if all of it has
// arrived, or nil if more fragments are due. It fails a message whose length
// exceeds maxHandshakeLen as soon as the length is known.
func (c *Conn) bufferedHandshake() ([]byte, error) {
	h := c.hand.Bytes()
	if len(h) < 4 {
		return nil, nil
	}
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if n > maxHandshakeLen {
		return nil, c.fail(AlertDecodeError, &MessageError{Message: messageName(h[0]), Reason: fmt.Sprintf("%d-byte body exceeds the %d-byte limit", n, maxHandshakeLen)})
	}
	if len(h) < 4+n {
		return nil, nil
	}
	msg := make([]byte, 4+n)
	_, _ = c.hand.Read(msg)
	return msg, nil
}

// handlePostHandshake deals with a handshake message after the handshake:
// renegotiation requests are declined with a no_renegotiation warning (and
// count as useless records, so that a peer cannot keep a reader busy with
// them), anything else is fatal.
func (c *Conn) handlePostHandshake(msg []byte) error {
	switch {
	case c.isClient && msg[0] == typeHelloRequest:
		if err := unmarshalEmpty(msg, typeHelloRequest); err != nil {
			return c.fail(AlertDecodeError, err)
		}
	case !c.isClient && msg[0] == typeClientHello:
	default:
		return c.fail(AlertUnexpectedMessage, fmt.Errorf("%w: %s after the handshake", ErrUnexpectedMessage, messageName(msg[0])))
	}
	if err := c.uselessRecord(); err != nil {
		return err
	}
	return c.declineRenegotiation()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// verifyDataEqual compares verify_data in constant time.
func verifyDataEqual(a, b []byte) bool { return hmac.Equal(a, b) }
