package apf

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/amtkit/amtkit/internal/ctxwait"
)

// Transport carries whole APF messages both ways: ReadMessage returns one
// message, WriteMessage sends one. One goroutine reads while others write;
// writes are serialized by the session. [pthi.MEIConn] implements it.
//
// A transport is message-framed — one transport message is one APF message,
// as on the MEI — unless it is a [StreamTransport] (or embeds one). Over a
// message-framed transport the session ignores bytes after a complete message
// ([DecodeLenient]); over a stream it decodes strictly ([Decode]).
type Transport interface {
	ReadMessage(ctx context.Context) ([]byte, error)
	WriteMessage(ctx context.Context, msg []byte) error
	Close() error
}

// Defaults of [Config].
const (
	// DefaultMaxMessageLength is the message bound when Config gives none. The
	// LME reports its own when connected ([OpenLME] uses that).
	DefaultMaxMessageLength = 4096
	// DefaultWindow is the receive window given to AMT for each channel:
	// rpc-go's LME_RX_WINDOW_SIZE and MeshCentral's INITIAL_RXWINDOW_SIZE (LMS
	// gives 1024).
	DefaultWindow = 4096
	// DefaultMaxChannels bounds the channels open at once: AMT's pool of
	// forwarded-tcpip channels has 8 slots (rpc-go internal/lm/engine.go).
	DefaultMaxChannels = 8
	// DefaultHandshakeTimeout bounds NewSession's wait for AMT's version,
	// service request and first forwarded WS-Management port (LMS waits 5 s for
	// the port, LMEConnection.cpp Init).
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultPortWait is how long Dial waits for AMT to forward a port it has
	// not forwarded yet: AMT forwards its ports one global request at a time
	// (rpc-go waits about 3 s for the set).
	DefaultPortWait = 3 * time.Second
	// DefaultOpenTimeout bounds the wait for AMT's answer to a CHANNEL_OPEN:
	// rpc-go's hardware-validated LMEChannelOpenTimeout (pkg/utils/constants.go,
	// HeciReadTimeout + 15 s).
	DefaultOpenTimeout = 18 * time.Second
	// DefaultStreamIdleTimeout ends a session over a stream (an MPS's side
	// of CIRA) that received nothing for this long: MeshCentral's
	// mpsserver.js and Open AMT's MPS (src/server/mpsserver.ts) drop a CIRA
	// socket idle for 90 s, three of the 30 s keep-alive intervals they ask
	// for.
	DefaultStreamIdleTimeout = 90 * time.Second
	// DefaultForwardQuiet is how long NewSession waits, once AMT forwarded a
	// WS-Management port without its redirection partner, for a further
	// tcpip-forward before it counts the session ready: rpc-go ends its
	// handshake after the full pair or its 3 s HECI read timeout
	// (internal/lm/engine.go runAPFHandshake, utils.HeciReadTimeout).
	DefaultForwardQuiet = 3 * time.Second
)

// AMT's WS-Management ports.
const (
	PortHTTP  = 16992
	PortHTTPS = 16993
)

// AMT's redirection ports, forwarded with the WS-Management port of the same
// mode: 623 with 16992, 664 with 16993 (rpc-go internal/lm/engine.go
// apfRedirPorts).
const (
	portRedirection    = 623
	portRedirectionTLS = 664
)

// Open refusals worth another try: AMT transiently refuses channels under
// back-to-back opens (rpc-go internal/local/amt/localTransport.go
// isTransientLMEError; go-wsman-messages pkg/apf ErrChannelOpenFailure: "often
// a transient firmware tcpip-forward teardown/re-advertise race"; PR 1466: AMT
// 16 refused with no slot held). The pauses before the retries.
var openRetryBackoff = [...]time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}

// maxUnanswered bounds the channel numbers remembered after their open timed
// out, so that AMT's late answer is recognised.
const maxUnanswered = 1024

// maxAuthFailures is how many refused USERAUTH_REQUESTs end a session.
const maxAuthFailures = 3

// maxForwardedPorts bounds the ports a peer may have forwarded at once: AMT
// forwards at most seven (16992, 16993, 623, 664, 16994, 16995, 5900); a
// peer that asks for more gets REQUEST_FAILURE, never more memory.
const maxForwardedPorts = 32

// maxControlQueue bounds the control messages (replies, window adjusts,
// closes) waiting for the transport: a peer that makes us answer faster than
// the transport takes answers ends the session instead of growing memory.
const maxControlQueue = 1024

// Config tunes a [Session]. The zero value is usable.
type Config struct {
	// MaxMessageLength bounds every message written (the MEI client's maximum
	// message length); data is split to fit. Default DefaultMaxMessageLength.
	MaxMessageLength int
	// Window is the receive window each channel gives AMT, and so the most a
	// channel buffers. Default DefaultWindow.
	Window uint32
	// MaxChannels bounds the channels open (or closing) at once. Default
	// DefaultMaxChannels.
	MaxChannels int
	// HandshakeTimeout bounds NewSession. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// PortWait bounds Dial's wait for a port AMT has not forwarded yet, and
	// for a free channel slot. Default DefaultPortWait; negative: do not wait.
	PortWait time.Duration
	// OpenTimeout bounds the wait for AMT's answer to a CHANNEL_OPEN. When it
	// passes, the Dial fails with [ErrOpenTimeout] and the channel's slot is
	// free again; a late confirmation is answered with CHANNEL_CLOSE. Default
	// DefaultOpenTimeout (18 s, rpc-go's LMEChannelOpenTimeout); negative: no
	// bound but the Dial's context.
	OpenTimeout time.Duration
	// ForwardQuiet: once AMT forwarded 16992 or 16993 but not its redirection
	// partner (623 or 664), NewSession returns only after no further
	// tcpip-forward arrived for this long, or at the handshake timeout. A
	// CHANNEL_OPEN racing AMT's trailing forwards can lose its confirmation
	// (rpc-go commit 7a279b94, AMT 18). Default DefaultForwardQuiet (3 s);
	// negative: ready at the first WS-Management port.
	ForwardQuiet time.Duration
	// Sleep waits for d or until ctx ends, returning ctx's error then. The
	// session's timed waits — ForwardQuiet, OpenTimeout and the pauses before
	// a refused open is tried again — run on it. Nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand seeds the session's channel numbers, so that numbers of a previous
	// session (a previous MEI connection) do not name this one's channels when
	// AMT replays a stale message. Nil: crypto/rand.
	Rand io.Reader
	// Logger receives debug records of the conversation (message types,
	// channel numbers, ports; never data or passwords). Nil: none.
	Logger *slog.Logger

	// Authenticate decides a USERAUTH_REQUEST from the peer that sent the
	// PROTOCOL_VERSION peer; an error refuses it (USERAUTH_FAILURE, the
	// peer may try again) and the port-forwarding service stays closed until
	// one succeeds. Nil accepts every request, as LMS does on the LME, which
	// only this host reaches. Over a stream ([StreamTransport]: an MPS's side
	// of CIRA, which anyone on the network reaches) NewSession refuses to
	// start unless Authenticate or PreAuthenticated is set.
	Authenticate func(peer ProtocolVersion, req UserAuthRequest) error
	// PreAuthenticated says the transport proved the peer already (a TLS
	// client certificate the MPS verified): no USERAUTH is needed before the
	// port-forwarding service, and one that comes is passed to Authenticate
	// when set, accepted otherwise. The MPS must then tie the certificate to
	// the UUID the device announces (Session.Peer) before trusting the
	// tunnel as that device's.
	PreAuthenticated bool
	// IdleTimeout ends the session (DISCONNECT, connection lost, and
	// [ErrIdle]) when nothing arrived from the peer for this long; keep-alives
	// count. Over a stream, a session that heard nothing for half of it sends
	// the peer a KEEPALIVE_REQUEST, which a live device answers. It runs on
	// Sleep. Default: DefaultStreamIdleTimeout over a stream, none over a
	// message transport (the LME); negative: none.
	IdleTimeout time.Duration
}

func (c *Config) defaults() {
	if c.MaxMessageLength <= 0 {
		c.MaxMessageLength = DefaultMaxMessageLength
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MaxChannels <= 0 {
		c.MaxChannels = DefaultMaxChannels
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.PortWait == 0 {
		c.PortWait = DefaultPortWait
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.ForwardQuiet == 0 {
		c.ForwardQuiet = DefaultForwardQuiet
	}
	if c.Sleep == nil {
		c.Sleep = ctxwait.Sleep
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(discardHandler{})
	}
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

// Errors of a session.
var (
	// ErrHandshake: AMT did not complete the version exchange, the
	// port-forwarding service request and the forwarding of a WS-Management
	// port in time.
	ErrHandshake = errors.New("apf: handshake with AMT did not complete")
	// ErrProtocol: AMT sent something the protocol does not allow at that
	// point; the session ends with a DISCONNECT (protocol error).
	ErrProtocol = errors.New("apf: protocol violation")
	// ErrSessionClosed: the session was closed by Close.
	ErrSessionClosed = errors.New("apf: session closed")
	// ErrSessionReset: AMT restarted the protocol (a new PROTOCOL_VERSION);
	// the channels it had are gone.
	ErrSessionReset = errors.New("apf: AMT restarted the session")
	// ErrPortNotForwarded: AMT has not forwarded the port asked for.
	ErrPortNotForwarded = errors.New("apf: AMT does not forward this port")
	// ErrTooManyChannels: Config.MaxChannels channels are open.
	ErrTooManyChannels = errors.New("apf: too many channels open")
	// ErrNotLocal: Dial was asked for an address that is not AMT's local one.
	ErrNotLocal = errors.New("apf: not a local AMT address")
	// ErrWindowExceeded: AMT sent more data than the channel's window allowed;
	// the channel is closed.
	ErrWindowExceeded = errors.New("apf: AMT overran the channel window")
	// ErrOpenTimeout: AMT did not answer a CHANNEL_OPEN within
	// Config.OpenTimeout; the channel's slot is free again.
	ErrOpenTimeout = errors.New("apf: AMT did not answer the channel open")
	// ErrIdle: nothing arrived from the peer for Config.IdleTimeout.
	ErrIdle = errors.New("apf: the peer sent nothing for the idle timeout")
	// ErrNoAuthentication: a session over a stream was started without
	// Config.Authenticate or Config.PreAuthenticated.
	ErrNoAuthentication = errors.New("apf: a session over a stream (an MPS's side of CIRA) authenticates its peer: set Config.Authenticate, or Config.PreAuthenticated when the transport verified a client certificate")
)

// OpenError is AMT's refusal of a channel (CHANNEL_OPEN_FAILURE). Dial
// returns it for a transient reason (administratively prohibited, resource
// shortage) only after trying again three times.
type OpenError struct {
	Port   uint32
	Reason OpenFailureReason
}

// transient reports whether AMT may accept the same open a moment later.
func (e *OpenError) transient() bool {
	return e.Reason == OpenAdministrativelyProhibited || e.Reason == OpenResourceShortage
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("apf: AMT refused a channel to port %d: %v", e.Port, e.Reason)
}

// DisconnectError is AMT's DISCONNECT, which ends the session.
type DisconnectError struct{ Reason DisconnectReason }

func (e *DisconnectError) Error() string { return "apf: AMT disconnected: " + e.Reason.String() }

// Session is the host's side of one APF conversation with AMT: what Intel's LMS
// does, without listening sockets. Create it with [NewSession] (or [OpenLME]);
// it is safe for concurrent use.
type Session struct {
	t   Transport
	cfg Config
	log *slog.Logger

	ctx    context.Context // ends with the session
	cancel context.CancelFunc

	wsem chan struct{} // serializes transport writes; acquiring it honours the writer's ctx

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every state change
	ctl       [][]byte      // control messages waiting for the writer
	ctlReady  chan struct{} // signalled when ctl grows
	versionOK bool
	pfwd      bool
	authed    bool   // a USERAUTH_REQUEST succeeded, or Config.PreAuthenticated
	needAuth  bool   // the port-forwarding service waits for authed
	received  uint64 // messages read, for the idle timeout
	authFails int    // refused USERAUTH_REQUESTs
	probes    uint32 // KEEPALIVE_REQUESTs the idle loop sent (only it touches this)
	peer      ProtocolVersion
	ports     map[uint32]string
	forwards  int // tcpip-forward requests seen
	chans     map[uint32]*Channel
	nextID    uint32
	// unanswered holds our numbers of channels whose open timed out: AMT's
	// late answer to one is a confirmation to close, not an unknown channel.
	unanswered map[uint32]struct{}
	strict     bool // decode strictly: the transport is a stream
	err        error
	done       chan struct{}
	wg         sync.WaitGroup
}

// NewSession starts the host's side of APF over t: it sends the protocol
// version (1.0; AMT sends its own unasked on the LME, and LMS answers it —
// sending first works as well, as rpc-go does), answers AMT's messages from
// then on, and returns when AMT has agreed the version, requested the
// port-forwarding service and forwarded a WS-Management port with its
// redirection partner (16992 with 623, or 16993 with 664, as rpc-go's
// handshake waits for), or a WS-Management port and then no further forward
// for Config.ForwardQuiet. It fails with [ErrHandshake] after
// Config.HandshakeTimeout unless a WS-Management port was forwarded by then (or
// when ctx ends), closing t. The session owns t from then on.
func NewSession(ctx context.Context, t Transport, cfg Config) (*Session, error) {
	cfg.defaults()
	if cfg.MaxMessageLength <= ChannelDataHeaderLen {
		return nil, fmt.Errorf("apf: MaxMessageLength %d leaves no room for data", cfg.MaxMessageLength)
	}
	// Channel numbers start from a random seed (below 2^31), not 1: AMT
	// replays stale CHANNEL_CLOSE frames for old channels after an MEI reinit
	// (rpc-go internal/lm/engine.go), and a new session over a new MEI
	// connection would otherwise reuse the old numbers.
	var seed [4]byte
	if _, err := io.ReadFull(cfg.Rand, seed[:]); err != nil {
		return nil, fmt.Errorf("apf: seeding channel numbers: %w", err)
	}
	_, stream := t.(interface{ streamFramed() })
	if stream && cfg.Authenticate == nil && !cfg.PreAuthenticated {
		return nil, ErrNoAuthentication
	}
	if cfg.IdleTimeout == 0 && stream {
		cfg.IdleTimeout = DefaultStreamIdleTimeout
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		t: t, cfg: cfg, log: cfg.Logger, ctx: sctx, cancel: cancel,
		changed: make(chan struct{}), ctlReady: make(chan struct{}, 1), wsem: make(chan struct{}, 1),
		ports: map[uint32]string{}, chans: map[uint32]*Channel{}, done: make(chan struct{}),
		unanswered: map[uint32]struct{}{}, strict: stream,
		nextID:   binary.BigEndian.Uint32(seed[:]) & 0x7FFFFFFF,
		authed:   cfg.PreAuthenticated,
		needAuth: stream || cfg.Authenticate != nil,
	}
	s.wg.Add(2)
	go s.readLoop()
	go s.writeLoop()
	if cfg.IdleTimeout > 0 {
		s.wg.Add(1)
		go s.idleLoop()
	}
	s.queue(ProtocolVersion{Major: 1, Minor: 0})

	hctx, hcancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer hcancel()
	// The quiet period runs from the last tcpip-forward, on cfg.Sleep.
	var quiet <-chan struct{}
	stopQuiet := func() {}
	defer func() { stopQuiet() }()
	quietFor, quietDone := -1, -1 // the forward count the timer runs for, and has run out for
	for {
		s.mu.Lock()
		mgmt := s.versionOK && s.pfwd && (s.hasPort(PortHTTP) || s.hasPort(PortHTTPS))
		pair := (s.hasPort(PortHTTP) && s.hasPort(portRedirection)) || (s.hasPort(PortHTTPS) && s.hasPort(portRedirectionTLS))
		forwards := s.forwards
		err, ch := s.err, s.changed
		state := fmt.Sprintf("version agreed %v, port forwarding %v, ports %v", s.versionOK, s.pfwd, s.portListLocked())
		s.mu.Unlock()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		if mgmt && (pair || cfg.ForwardQuiet < 0 || quietDone == forwards) {
			return s, nil
		}
		if mgmt && quietFor != forwards {
			stopQuiet()
			quiet, stopQuiet = s.after(hctx, cfg.ForwardQuiet)
			quietFor = forwards
		}
		select {
		case <-ch:
		case <-quiet:
			quietDone = quietFor
			s.log.Debug("apf: no further forward; session ready", "ports", state, "quiet", cfg.ForwardQuiet)
		case <-hctx.Done():
			if ctx.Err() == nil && mgmt {
				// A WS-Management port is there; its partner is not coming.
				return s, nil
			}
			s.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w within %v (%s)", ErrHandshake, cfg.HandshakeTimeout, state)
		}
	}
}

// after returns a channel closed once cfg.Sleep waited d, and a function that
// stops the wait (and must be called).
func (s *Session) after(ctx context.Context, d time.Duration) (<-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{})
	go func() {
		if s.cfg.Sleep(ctx, d) == nil && ctx.Err() == nil {
			close(ch)
		}
	}()
	return ch, cancel
}

func (s *Session) hasPort(p uint32) bool { _, ok := s.ports[p]; return ok }

func (s *Session) portListLocked() []uint32 {
	out := make([]uint32, 0, len(s.ports))
	for p := range s.ports {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// broadcastLocked wakes every waiter on the session's state.
func (s *Session) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Ports returns the ports AMT forwards now, sorted.
func (s *Session) Ports() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.portListLocked()
}

// Peer returns AMT's PROTOCOL_VERSION: its APF version and the system UUID.
func (s *Session) Peer() ProtocolVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer
}

// Done is closed when the session has ended; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the session: a DISCONNECT (by application) goes to AMT when the
// transport takes it within a second, every channel fails with
// ErrSessionClosed, and the transport is closed. It is safe to call more than
// once.
func (s *Session) Close() error {
	s.mu.Lock()
	running := s.err == nil
	s.mu.Unlock()
	if running {
		if b, err := Encode(Disconnect{Reason: DisconnectByApplication}); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.write(ctx, b)
			cancel()
		}
	}
	s.fail(ErrSessionClosed)
	s.wg.Wait()
	return nil
}

// fail ends the session with err (the first error wins).
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	chans := make([]*Channel, 0, len(s.chans))
	for _, c := range s.chans {
		chans = append(chans, c)
	}
	s.chans = map[uint32]*Channel{}
	s.broadcastLocked()
	s.mu.Unlock()
	for _, c := range chans {
		c.abort(err)
	}
	s.cancel()
	_ = s.t.Close()
	close(s.done)
	s.log.Debug("apf session ended", "err", err)
}

// protocolError disconnects AMT with a protocol error and ends the session.
func (s *Session) protocolError(format string, args ...any) {
	s.disconnect(DisconnectProtocolError, fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...))
}

// disconnect sends AMT a DISCONNECT (waiting at most a second for the
// transport) and ends the session with err.
func (s *Session) disconnect(reason DisconnectReason, err error) {
	if b, e := Encode(Disconnect{Reason: reason}); e == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.write(ctx, b)
		cancel()
	}
	s.fail(err)
}

// write sends one message now (serialized with every other write).
func (s *Session) write(ctx context.Context, msg []byte) error {
	return s.writeSplit(ctx, ctx, msg)
}

// writeSplit is write with one context for the wait for the writer's turn
// (wait) and another for the transport write itself (send).
func (s *Session) writeSplit(wait, send context.Context, msg []byte) error {
	select {
	case s.wsem <- struct{}{}:
	case <-wait.Done():
		return wait.Err()
	}
	defer func() { <-s.wsem }()
	if err := s.Err(); err != nil {
		return err
	}
	return s.t.WriteMessage(send, msg)
}

// queue hands a control message to the writer without blocking.
func (s *Session) queue(m Message) {
	if err := s.enqueue(m); err != nil {
		s.fail(err)
	}
}

// enqueue is queue for a caller that holds a channel's lock (which failing
// the session takes to abort the channel): it returns the error that ends
// the session, for the caller to pass to fail once it let the lock go.
func (s *Session) enqueue(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return fmt.Errorf("apf: encoding %v: %w", m.Type(), err)
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil
	}
	if len(s.ctl) >= maxControlQueue {
		s.mu.Unlock()
		return fmt.Errorf("apf: %d control messages wait for the transport", maxControlQueue)
	}
	s.ctl = append(s.ctl, b)
	s.mu.Unlock()
	select {
	case s.ctlReady <- struct{}{}:
	default:
	}
	return nil
}

func (s *Session) writeLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.ctlReady:
		}
		for {
			s.mu.Lock()
			if len(s.ctl) == 0 || s.err != nil {
				s.mu.Unlock()
				break
			}
			b := s.ctl[0]
			s.ctl[0] = nil
			s.ctl = s.ctl[1:]
			s.mu.Unlock()
			if err := s.write(s.ctx, b); err != nil {
				s.fail(fmt.Errorf("apf: writing to AMT: %w", err))
				return
			}
		}
	}
}

func (s *Session) readLoop() {
	defer s.wg.Done()
	for {
		b, err := s.t.ReadMessage(s.ctx)
		if err != nil {
			s.fail(fmt.Errorf("apf: reading from AMT: %w", err))
			return
		}
		s.mu.Lock()
		s.received++
		s.mu.Unlock()
		var m Message
		if s.strict {
			m, err = Decode(b)
		} else {
			var extra int
			m, extra, err = DecodeLenient(b)
			if err == nil && extra > 0 {
				s.log.Debug("apf: ignored bytes after a message", "type", m.Type(), "bytes", extra)
			}
		}
		if err != nil {
			s.protocolError("%w", err)
			return
		}
		if !s.handle(m) {
			return
		}
	}
}

// idleSteps divides Config.IdleTimeout: a peer is dropped after between
// IdleTimeout and IdleTimeout·(1+1/idleSteps) of silence, never sooner.
const idleSteps = 4

// idleLoop ends the session once idleSteps whole steps of
// Config.IdleTimeout/idleSteps pass without a message from the peer (a silent
// peer holds no goroutine or connection for ever).
func (s *Session) idleLoop() {
	defer s.wg.Done()
	step := s.cfg.IdleTimeout / idleSteps
	s.mu.Lock()
	seen := s.received
	s.mu.Unlock()
	quiet := 0
	for {
		if s.cfg.Sleep(s.ctx, step) != nil {
			return
		}
		s.mu.Lock()
		now, running := s.received, s.err == nil
		s.mu.Unlock()
		if !running {
			return
		}
		if now != seen {
			seen, quiet = now, 0
			continue
		}
		quiet++
		if quiet == idleSteps/2 && s.strict {
			// Halfway: ask a device that may just have nothing to say. AMT
			// sends keep-alives of its own only at the interval an MPS set
			// (KEEPALIVE_OPTIONS_REQUEST), and answers a KEEPALIVE_REQUEST
			// (MeshCentral's and Open AMT's MPS rely on both), so a live
			// tunnel is never dropped for being quiet.
			s.probes++
			s.queue(KeepAliveRequest{Cookie: s.probes})
		}
		if quiet >= idleSteps {
			s.log.Debug("apf: idle timeout", "after", s.cfg.IdleTimeout)
			s.disconnect(DisconnectConnectionLost, fmt.Errorf("%w (%v)", ErrIdle, s.cfg.IdleTimeout))
			return
		}
	}
}

// handle processes one message from AMT; false ends the read loop.
func (s *Session) handle(m Message) bool {
	s.mu.Lock()
	versionOK, pfwd, authed, peer := s.versionOK, s.pfwd, s.authed || !s.needAuth, s.peer
	s.mu.Unlock()
	switch m := m.(type) {
	case ProtocolVersion:
		return s.onVersion(m)
	case Disconnect:
		s.fail(&DisconnectError{Reason: m.Reason})
		return false
	case KeepAliveRequest:
		s.queue(KeepAliveReply(m))
		return true
	case KeepAliveOptionsRequest:
		s.queue(KeepAliveOptionsReply(m))
		return true
	case KeepAliveReply, KeepAliveOptionsReply, Unknown, RequestSuccess, RequestFailure:
		// Nothing of ours asked for these; LMS ignores what it does not expect.
		s.log.Debug("apf: ignored", "type", m.Type())
		return true
	}
	if !versionOK {
		s.protocolError("%v before the protocol versions were exchanged", m.Type())
		return false
	}
	switch m := m.(type) {
	case ServiceRequest:
		if m.Service != ServicePortForwarding && m.Service != ServiceAuth {
			s.disconnect(DisconnectServiceNotAvailable, fmt.Errorf("%w: AMT requested the service %q", ErrProtocol, m.Service))
			return false
		}
		if m.Service == ServicePortForwarding && !authed {
			s.disconnect(DisconnectNoMoreAuthMethods, fmt.Errorf("%w: the port-forwarding service was requested before authentication", ErrProtocol))
			return false
		}
		s.queue(ServiceAccept(m))
		if m.Service == ServicePortForwarding {
			s.mu.Lock()
			s.pfwd = true
			s.broadcastLocked()
			s.mu.Unlock()
		}
		s.log.Debug("apf: service accepted", "service", m.Service)
		return true
	case UserAuthRequest:
		// LMS answers every user-authentication request with success
		// (Protocol.cpp); the LME is only reachable from this host. An MPS
		// checks the credentials (Config.Authenticate).
		if f := s.cfg.Authenticate; f != nil {
			if err := f(peer, m); err != nil {
				s.log.Debug("apf: authentication refused", "user", m.User, "method", m.Method, "err", err)
				s.mu.Lock()
				s.authFails++
				fails := s.authFails
				s.mu.Unlock()
				if fails >= maxAuthFailures {
					// A peer guessing passwords on one connection gets a
					// few tries, as an SSH server gives (OpenSSH's
					// MaxAuthTries is 6).
					s.disconnect(DisconnectNoMoreAuthMethods, fmt.Errorf("%w: %d authentication requests refused", ErrProtocol, fails))
					return false
				}
				s.queue(UserAuthFailure{Methods: MethodPassword})
				return true
			}
		}
		s.mu.Lock()
		s.authed = true
		s.mu.Unlock()
		s.queue(UserAuthSuccess{})
		return true
	case UserAuthSuccess, UserAuthFailure, ServiceAccept:
		s.log.Debug("apf: ignored", "type", m.Type())
		return true
	}
	if !pfwd {
		s.protocolError("%v before the port-forwarding service was requested", m.Type())
		return false
	}
	switch m := m.(type) {
	case GlobalRequest:
		s.onGlobalRequest(m)
	case ChannelOpen:
		// AMT opens direct-tcpip channels to deliver WS-Management events to a
		// subscriber on the host; an agent using this package subscribes to
		// none.
		s.log.Debug("apf: refused a channel from AMT", "type", m.ChannelType, "to", net.JoinHostPort(m.Address, strconv.FormatUint(uint64(m.Port), 10)))
		s.queue(ChannelOpenFailure{Recipient: m.Sender, Reason: OpenAdministrativelyProhibited})
	case ChannelOpenConfirmation:
		if s.lateAnswer(m.Recipient) {
			// The Dial gave up; AMT holds a slot for the channel until it
			// sees a close (rpc-go 07aa0f4e).
			s.log.Debug("apf: late confirmation of a timed-out open; closing", "channel", m.Recipient, "amt channel", m.Sender)
			s.queue(ChannelClose{Recipient: m.Sender})
			return true
		}
		return s.onChannel(m.Recipient, func(c *Channel) bool { return c.confirmed(m) })
	case ChannelOpenFailure:
		if s.lateAnswer(m.Recipient) {
			return true
		}
		return s.onChannel(m.Recipient, func(c *Channel) bool { return c.refused(m) })
	case WindowAdjust:
		return s.onChannel(m.Recipient, func(c *Channel) bool { return c.credit(m.Bytes) })
	case ChannelData:
		return s.onChannel(m.Recipient, func(c *Channel) bool { return c.deliver(m.Data) })
	case ChannelClose:
		return s.onChannel(m.Recipient, func(c *Channel) bool { return c.peerClosed() })
	}
	return true
}

func (s *Session) onVersion(m ProtocolVersion) bool {
	if m.Major != 1 {
		s.disconnect(DisconnectVersionNotSupported, fmt.Errorf("%w: AMT speaks APF %d.%d, this package 1.x", ErrProtocol, m.Major, m.Minor))
		return false
	}
	s.mu.Lock()
	again := s.versionOK
	if again && m.UUID != s.peer.UUID {
		// A system keeps its UUID: a peer that names another after its
		// first version (and perhaps after authenticating as the first)
		// must not become that device (MeshCentral's mpsserver.js fixes the
		// device at USERAUTH and never changes it).
		was := s.peer.UUID
		s.mu.Unlock()
		s.protocolError("the peer's UUID changed from %s to %s", was, m.UUID)
		return false
	}
	var chans []*Channel
	if again {
		// AMT started over: what it knew of channels and forwards is gone.
		for _, c := range s.chans {
			chans = append(chans, c)
		}
		s.chans = map[uint32]*Channel{}
		s.ports = map[uint32]string{}
		s.pfwd = false
	}
	s.versionOK, s.peer = true, m
	s.broadcastLocked()
	s.mu.Unlock()
	for _, c := range chans {
		c.abort(ErrSessionReset)
	}
	if again {
		// LMS answers a version it did not ask for with its own (Protocol.cpp).
		s.queue(ProtocolVersion{Major: 1, Minor: 0})
	}
	s.log.Debug("apf: protocol version", "major", m.Major, "minor", m.Minor, "trigger", m.Trigger, "again", again)
	return true
}

func (s *Session) onGlobalRequest(m GlobalRequest) {
	switch m.Name {
	case RequestTCPForward:
		// LMS, rpc-go and MeshCentral answer every tcpip-forward with the
		// port, whatever want-reply says; so do we. The answer is queued
		// before the port is usable, so no CHANNEL_OPEN to it can overtake it.
		s.mu.Lock()
		_, known := s.ports[m.Port]
		full := !known && len(s.ports) >= maxForwardedPorts
		s.mu.Unlock()
		if m.Port > 65535 || full {
			s.log.Debug("apf: refused a forward", "port", m.Port, "forwarded", maxForwardedPorts)
			s.queue(RequestFailure{})
			return
		}
		s.queue(TCPForwardSuccess(m.Port))
		s.mu.Lock()
		s.ports[m.Port] = m.Address
		s.forwards++
		s.broadcastLocked()
		s.mu.Unlock()
		s.log.Debug("apf: AMT forwards a port", "port", m.Port, "address", m.Address)
	case RequestCancelTCPForward:
		s.mu.Lock()
		delete(s.ports, m.Port)
		s.broadcastLocked()
		s.mu.Unlock()
		s.log.Debug("apf: AMT stops forwarding a port", "port", m.Port)
		s.queue(RequestSuccess{})
	default:
		// udp-send-to and anything else: not offered (MeshCentral's LME
		// answers udp-send-to with failure too). Only a request that wants
		// a reply gets one (RFC 4254 section 4, which APF follows; LMS
		// LMEConnection::_doRX ignores names it does not know).
		if m.WantReply {
			s.queue(RequestFailure{})
		} else {
			s.log.Debug("apf: ignored a global request", "name", m.Name)
		}
	}
}

// onChannel runs f on the channel numbered id (ours); unknown numbers are
// late messages for channels already gone, ignored as LMS ignores them.
func (s *Session) onChannel(id uint32, f func(*Channel) bool) bool {
	s.mu.Lock()
	c := s.chans[id]
	s.mu.Unlock()
	if c == nil {
		s.log.Debug("apf: message for an unknown channel", "channel", id)
		return true
	}
	return f(c)
}

// lateAnswer reports whether id is a channel whose open timed out, and
// forgets it: AMT answered after all.
func (s *Session) lateAnswer(id uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.unanswered[id]; !ok || s.chans[id] != nil {
		return false
	}
	delete(s.unanswered, id)
	return true
}

// openExpired fails a channel AMT has not answered within
// Config.OpenTimeout and frees its slot, remembering its number.
func (s *Session) openExpired(c *Channel) {
	c.mu.Lock()
	if c.state != chanOpening {
		c.mu.Unlock()
		return
	}
	c.state = chanFailed
	c.err = fmt.Errorf("%w within %v (port %d, channel %d)", ErrOpenTimeout, s.cfg.OpenTimeout, c.port, c.id)
	c.broadcastLocked()
	c.mu.Unlock()
	s.mu.Lock()
	if s.chans[c.id] == c {
		delete(s.chans, c.id)
		if len(s.unanswered) < maxUnanswered {
			s.unanswered[c.id] = struct{}{}
		}
		s.broadcastLocked()
	}
	s.mu.Unlock()
	s.log.Debug("apf: channel open not answered", "channel", c.id, "port", c.port, "after", s.cfg.OpenTimeout)
}

// release forgets a channel once both sides closed it (or it failed).
func (s *Session) release(c *Channel) {
	s.mu.Lock()
	if s.chans[c.id] == c {
		delete(s.chans, c.id)
		s.broadcastLocked()
	}
	s.mu.Unlock()
}

// Dial opens a channel to AMT's port in addr and returns it as a net.Conn
// ([*Channel]). network is "tcp", "tcp4" or "tcp6"; addr's host must be a
// loopback address or "localhost" (AMT's local ports, where LMS would
// listen). It has the shape of net.Dialer.DialContext.
func (s *Session) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	port, err := localPort(network, addr)
	if err != nil {
		return nil, err
	}
	c, err := s.DialPort(ctx, port)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// localPort checks a Dial address and returns its port.
func localPort(network, addr string) (uint32, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return 0, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: network %q (want tcp)", ErrNotLocal, network)}
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return 0, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: host %q (want 127.0.0.1, ::1 or localhost)", ErrNotLocal, host)}
		}
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return 0, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: port %q", ErrNotLocal, ps)}
	}
	return uint32(p), nil
}

// DialPort opens a forwarded-tcpip channel to AMT's port: it waits up to
// Config.PortWait for AMT to forward the port ([ErrPortNotForwarded]) and for
// a free slot among Config.MaxChannels ([ErrTooManyChannels]), then for AMT's
// confirmation, for Config.OpenTimeout ([ErrOpenTimeout]) or for ctx. A
// refusal is an [*OpenError]; one for administrative prohibition or resource
// shortage, which AMT answers transiently, is tried again after 250 ms, 500 ms
// and 1 s, each time with a new channel number, before it is returned.
func (s *Session) DialPort(ctx context.Context, port uint32) (*Channel, error) {
	var wait <-chan time.Time
	if s.cfg.PortWait > 0 {
		t := time.NewTimer(s.cfg.PortWait)
		defer t.Stop()
		wait = t.C
	}
	for attempt := 0; ; attempt++ {
		c, err := s.dialOnce(ctx, port, wait)
		var oe *OpenError
		if err == nil || !errors.As(err, &oe) || !oe.transient() || attempt == len(openRetryBackoff) {
			return c, err
		}
		s.log.Debug("apf: channel refused; trying again", "port", port, "reason", oe.Reason, "attempt", attempt+1)
		if err := s.cfg.Sleep(ctx, openRetryBackoff[attempt]); err != nil {
			return nil, err
		}
	}
}

func (s *Session) dialOnce(ctx context.Context, port uint32, wait <-chan time.Time) (*Channel, error) {
	var c *Channel
	for c == nil {
		s.mu.Lock()
		err, ch := s.err, s.changed
		forwarded := s.hasPort(port)
		full := len(s.chans) >= s.cfg.MaxChannels
		if err == nil && forwarded && !full {
			c = s.newChannelLocked(port)
		}
		ports := s.portListLocked()
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if c != nil {
			break
		}
		// Wait for the port to be forwarded, or for a slot: a closed
		// channel's slot is free once AMT answered the close.
		refuse := fmt.Errorf("%w: %d (AMT forwards %v)", ErrPortNotForwarded, port, ports)
		if forwarded {
			refuse = fmt.Errorf("%w (%d)", ErrTooManyChannels, s.cfg.MaxChannels)
		}
		if wait == nil {
			return nil, refuse
		}
		select {
		case <-ch:
		case <-wait:
			return nil, refuse
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	open := ChannelOpen{
		ChannelType: ChannelForwarded, Sender: c.id, Window: s.cfg.Window, Reserved: 0xFFFFFFFF,
		Address: "127.0.0.1", Port: port, OriginAddress: "127.0.0.1", OriginPort: originPort(c.id),
	}
	// The open goes through the control queue, in order after the answers
	// already queued (the tcpip-forward reply for this port above all).
	s.queue(open)
	s.log.Debug("apf: channel open sent", "channel", c.id, "port", port)
	if err := c.waitOpen(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// originPort is a stand-in for the originator's TCP port LMS would report (its
// client's source port): ephemeral-range, distinct per channel number.
func originPort(id uint32) uint32 { return 49152 + id%16384 }

func (s *Session) newChannelLocked(port uint32) *Channel {
	for {
		s.nextID++
		if s.nextID == 0 {
			continue // rpc-go aee31f2f: never channel 0
		}
		_, used := s.chans[s.nextID]
		_, late := s.unanswered[s.nextID]
		if !used && !late {
			break
		}
	}
	c := newChannel(s, s.nextID, port)
	if d := s.cfg.OpenTimeout; d > 0 {
		// The open's own timer, on the session's Sleep: stopped by AMT's
		// answer or the session's end, it frees the slot when AMT never
		// answers, whether the Dial still waits or gave up.
		tctx, stop := context.WithCancel(s.ctx)
		c.stopOpen = stop
		go func() {
			if s.cfg.Sleep(tctx, d) == nil && tctx.Err() == nil {
				s.openExpired(c)
			}
		}()
	}
	s.chans[c.id] = c
	return c
}
