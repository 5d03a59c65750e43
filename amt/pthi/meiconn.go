package pthi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// This file holds the platform-independent half of the message connection to an
// MEI client (MEIConn): the framing rules, the one-reader/one-writer discipline
// and close. The platform halves (meiconn_linux.go, mei_windows.go) only open the
// device, connect the client and move bytes; they implement meiHandle.

// meiHandle is one connected MEI client handle of the platform. Read returns one
// message (the driver never merges two); Write sends one. Both honour ctx
// (cancellation and deadline) and may run at the same time as each other, never
// two of the same kind. Close makes pending and later calls fail.
type meiHandle interface {
	Read(ctx context.Context, p []byte) (int, error)
	Write(ctx context.Context, p []byte) (int, error)
	Close() error
}

// MEIConn is a connection to one MEI firmware client that carries whole
// messages both ways at once: one goroutine may read while another writes. It
// is what a streaming client such as the LME (AMT's port forwarding, package
// amt/apf) needs; the request/response [MEI] is what PTHI needs.
//
// A message is at most the client's maximum length ([MEIProperties]) in either
// direction: one write is one message, one read returns one message.
// ReadMessage and WriteMessage are each serialized (one reader and one writer
// at a time). After a failed read or write the connection is broken: every
// later call fails with the same error, because the firmware's view of the
// exchange is then unknown. Two transients do not break it: a write the
// firmware refuses as busy is tried again (three times, 1.5 s, 3 s and 4.5 s
// apart, as rpc-go pkg/heci/linux.go does), and a zero-length message is
// skipped (up to [MaxEmptyReads] in a row, as Intel's LMS
// LMEConnection::_doRX does).
type MEIConn struct {
	h      meiHandle
	props  MEIProperties
	client MEIClient
	wto    time.Duration
	cfg    MEIConfig

	rmu, wmu  sync.Mutex
	mu        sync.Mutex
	closed    bool
	broken    error
	closeOnce sync.Once
	closeErr  error
}

// OpenMEIConn opens cfg.Device (on Windows: the HECI device interface) and
// connects to cfg.Client. cfg.Timeout bounds each write (default
// [DefaultMEITimeout]; negative: no bound); reads wait as long as their context
// allows, since a streaming client's firmware speaks when it has something to
// say. Errors are those of [OpenMEI]: [ErrNoDevice], [ErrClientNotFound],
// [ErrMEIUnsupported] on other platforms.
func OpenMEIConn(ctx context.Context, cfg MEIConfig) (*MEIConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, props, err := openMEIHandle(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return newMEIConn(h, props, cfg), nil
}

func newMEIConn(h meiHandle, props MEIProperties, cfg MEIConfig) *MEIConn {
	wto := cfg.Timeout
	if wto == 0 {
		wto = DefaultMEITimeout
	}
	return &MEIConn{h: h, props: props, client: cfg.Client, wto: wto, cfg: cfg}
}

// MaxEmptyReads bounds the zero-length messages [MEIConn.ReadMessage] skips in
// a row before it gives up with [ErrEmptyResponse]: Intel's LMS logs "Receive
// zero-length data from HECI" and reads on (LMEConnection::_doRX), rpc-go's
// LME loop does the same (internal/lm/engine.go); a device that returns
// nothing but empty messages must not spin forever.
const MaxEmptyReads = 8

// Busy writes: rpc-go pkg/heci/linux.go retries a write that fails with EBUSY
// three times, HeciRetryDelay (1.5 s) × attempt apart, before it counts as an
// error; PR 1466 (issue 1460) records busy writes on every local activation.
const (
	meiWriteBusyRetries = 3
	meiWriteBusyStep    = 1500 * time.Millisecond
)

// Properties returns what the client reported when it was connected.
func (c *MEIConn) Properties() MEIProperties { return c.props }

// MaxMessageLength returns the client's maximum message length.
func (c *MEIConn) MaxMessageLength() int { return int(c.props.MaxMessageLength) }

// state returns the error that stops every call, or nil.
func (c *MEIConn) state() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.broken
}

// fail records the first error that breaks the connection and returns it.
func (c *MEIConn) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.broken == nil {
		c.broken = err
	}
	return err
}

// ReadMessage waits for the next message from the firmware client and returns
// it (a new slice). A zero-length message is skipped; more than
// [MaxEmptyReads] in a row break the connection with [ErrEmptyResponse]. It
// returns when ctx is done, with ctx's error; the connection is then broken (a
// message may have been half consumed).
func (c *MEIConn) ReadMessage(ctx context.Context) ([]byte, error) {
	return c.readMessage(ctx, MaxEmptyReads)
}

// readMessage is ReadMessage skipping at most maxEmpty zero-length messages in
// a row; one more breaks the connection with [ErrEmptyResponse].
func (c *MEIConn) readMessage(ctx context.Context, maxEmpty int) ([]byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.state(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	buf := make([]byte, c.props.MaxMessageLength)
	var n int
	for empty := 0; ; empty++ {
		var err error
		n, err = c.h.Read(ctx, buf)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				err = cerr
			}
			return nil, c.fail(fmt.Errorf("pthi: MEI %v read: %w", c.client, err))
		}
		if n > 0 {
			break
		}
		if empty == maxEmpty {
			return nil, c.fail(fmt.Errorf("%w (%v client, %d in a row)", ErrEmptyResponse, c.client, empty+1))
		}
	}
	if n > len(buf) {
		return nil, c.fail(fmt.Errorf("pthi: MEI %v read: driver reported %d bytes for a %d-byte buffer", c.client, n, len(buf)))
	}
	return buf[:n:n], nil
}

// WriteMessage sends msg as one message. An empty message is
// [ErrInvalidArgument] and one longer than the client's maximum is
// [ErrMessageTooLarge]; neither breaks the connection. A write the firmware
// refuses as busy (EBUSY on Linux) is tried again up to three times, 1.5 s ×
// attempt apart, within ctx and the write bound. A write that the driver takes
// only in part, fails otherwise, or outlives ctx or the write bound breaks it.
func (c *MEIConn) WriteMessage(ctx context.Context, msg []byte) error {
	if err := checkFrame(len(msg), c.props); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.state(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.wto > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.wto)
		defer cancel()
	}
	n, err := c.h.Write(ctx, msg)
	for attempt := 1; err != nil && writeBusy(err) && attempt <= meiWriteBusyRetries; attempt++ {
		if serr := c.cfg.sleep(ctx, time.Duration(attempt)*meiWriteBusyStep); serr != nil {
			err = fmt.Errorf("%w (the firmware was busy: %w)", serr, err)
			break
		}
		n, err = c.h.Write(ctx, msg)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return c.fail(fmt.Errorf("pthi: MEI %v write: %w", c.client, err))
	}
	if n != len(msg) {
		return c.fail(fmt.Errorf("pthi: MEI %v write: wrote %d of %d bytes", c.client, n, len(msg)))
	}
	return nil
}

// Close closes the connection; pending and later calls return [ErrClosed]. It is
// safe to call more than once.
func (c *MEIConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.closeOnce.Do(func() { c.closeErr = c.h.Close() })
	return c.closeErr
}

// exchange is the PTHI request/response discipline over a [MEIConn]: one
// exchange at a time; an exchange interrupted after its request was written
// makes the next one reconnect, so that a late answer is never taken for the
// next one's. The Windows [MEI] uses it; Linux's MEI predates it and does the
// same over its file descriptor.
type exchange struct {
	mu     sync.Mutex
	open   func(ctx context.Context) (*MEIConn, error)
	conn   *MEIConn
	stale  bool
	closed bool
	props  MEIProperties
	to     time.Duration
}

func newExchange(ctx context.Context, cfg MEIConfig, open func(context.Context) (*MEIConn, error)) (*exchange, error) {
	x := &exchange{open: open, to: cfg.Timeout}
	if x.to == 0 {
		x.to = DefaultMEITimeout
	}
	c, err := open(ctx)
	if err != nil {
		return nil, err
	}
	x.conn, x.props = c, c.Properties()
	return x, nil
}

func (x *exchange) properties() MEIProperties {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.props
}

func (x *exchange) send(ctx context.Context, req []byte) ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if x.conn == nil || x.stale {
		if x.conn != nil {
			_ = x.conn.Close()
			x.conn = nil
		}
		c, err := x.open(ctx)
		if err != nil {
			return nil, err
		}
		x.conn, x.props, x.stale = c, c.Properties(), false
	}
	if err := checkFrame(len(req), x.props); err != nil {
		return nil, err
	}
	if x.to > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, x.to)
		defer cancel()
	}
	if err := x.conn.WriteMessage(ctx, req); err != nil {
		x.stale = true
		return nil, err
	}
	// A zero-length answer is the firmware's empty response to this request
	// (MeshAgent, rpc-go and intel/lms end the exchange on it), not a message
	// to skip as the LME's stream does.
	resp, err := x.conn.readMessage(ctx, 0)
	if err != nil {
		x.stale = true
		if errors.Is(err, ErrEmptyResponse) {
			return nil, ErrEmptyResponse
		}
		return nil, err
	}
	return resp, nil
}

// resync makes the next exchange start on a new connection.
func (x *exchange) resync() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stale = true
}

func (x *exchange) close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	if x.conn == nil {
		return nil
	}
	err := x.conn.Close()
	x.conn = nil
	return err
}
