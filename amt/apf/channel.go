package apf

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

type chanState int

const (
	chanOpening chanState = iota
	chanOpen
	chanFailed
)

// Channel is one APF channel to an AMT port, as a net.Conn: Read returns what
// AMT sends (io.EOF once AMT closed the channel and everything was read), Write
// sends in pieces that fit AMT's window and the transport's message length,
// waiting for AMT's window adjusts. Deadlines work as net.Conn's do. Close sends
// CHANNEL_CLOSE; the channel's slot is free when AMT answers with its own.
type Channel struct {
	s    *Session
	id   uint32
	port uint32

	wmu sync.Mutex // keeps one Write's pieces together

	mu          sync.Mutex
	changed     chan struct{}
	state       chanState
	err         error
	peerID      uint32
	tx          uint32 // bytes AMT lets us send now
	buf         []byte // received and unread; never more than the window
	rxLeft      uint32 // bytes AMT may still send before our next adjust
	unacked     uint32 // bytes read but not yet credited back to AMT
	closeSent   bool
	closeRecv   bool
	localClosed bool
	abandoned   bool // closed (or its Dial gave up) before AMT confirmed it
	confirmedAt bool // AMT confirmed the channel (it may have failed since)
	rdl, wdl    time.Time
	stopOpen    context.CancelFunc // stops the open's timer; nil without one
}

func newChannel(s *Session, id, port uint32) *Channel {
	return &Channel{s: s, id: id, port: port, changed: make(chan struct{}), rxLeft: s.cfg.Window}
}

func (c *Channel) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// answered stops the open's timer: AMT answered, or the channel failed.
func (c *Channel) answered() {
	if c.stopOpen != nil {
		c.stopOpen()
	}
}

// wait releases c.mu until the channel changes or dl passes.
func (c *Channel) waitLocked(ctx context.Context, dl time.Time) error {
	ch := c.changed
	c.mu.Unlock()
	defer c.mu.Lock()
	var tc <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-ch:
		return nil
	case <-tc:
		return os.ErrDeadlineExceeded
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Events from the session's read loop. Each returns false when it ended the
// session.

func (c *Channel) confirmed(m ChannelOpenConfirmation) bool {
	c.mu.Lock()
	if c.state != chanOpening {
		state, was := c.state, c.confirmedAt
		c.mu.Unlock()
		if state == chanFailed {
			if !was {
				// AMT's late answer to an open that failed meanwhile (its
				// timer ran out just now): AMT holds a slot until it sees a
				// close.
				c.s.queue(ChannelClose{Recipient: m.Sender})
			}
			return true
		}
		c.s.protocolError("second CHANNEL_OPEN_CONFIRMATION for channel %d", c.id)
		return false
	}
	c.state, c.peerID, c.tx, c.confirmedAt = chanOpen, m.Sender, m.Window, true
	c.answered()
	closeNow := c.abandoned
	if closeNow {
		c.closeSent = true
	}
	c.broadcastLocked()
	c.mu.Unlock()
	if closeNow {
		c.s.queue(ChannelClose{Recipient: m.Sender})
	}
	c.s.log.Debug("apf: channel open", "channel", c.id, "amt channel", m.Sender, "window", m.Window, "port", c.port)
	return true
}

func (c *Channel) refused(m ChannelOpenFailure) bool {
	c.mu.Lock()
	if c.state != chanOpening {
		c.mu.Unlock()
		c.s.protocolError("CHANNEL_OPEN_FAILURE for channel %d, which is not opening", c.id)
		return false
	}
	c.state, c.err = chanFailed, &OpenError{Port: c.port, Reason: m.Reason}
	c.answered()
	c.broadcastLocked()
	c.mu.Unlock()
	c.s.release(c)
	return true
}

func (c *Channel) credit(n uint32) bool {
	c.mu.Lock()
	if c.state != chanOpen {
		c.mu.Unlock()
		return true // an adjust racing our close or a failure
	}
	if uint64(c.tx)+uint64(n) > 1<<32-1 {
		c.mu.Unlock()
		c.s.protocolError("window of channel %d adjusted past 2^32-1", c.id)
		return false
	}
	c.tx += n
	c.broadcastLocked()
	c.mu.Unlock()
	return true
}

func (c *Channel) deliver(data []byte) bool {
	c.mu.Lock()
	switch {
	case c.state == chanOpening:
		c.mu.Unlock()
		c.s.protocolError("CHANNEL_DATA for channel %d before its confirmation", c.id)
		return false
	case c.state == chanFailed || c.closeSent || c.closeRecv:
		c.mu.Unlock()
		return true // data in flight when we closed or gave up; dropped
	}
	if uint64(len(data)) > uint64(c.rxLeft) {
		// AMT overran the window we gave: the channel cannot be trusted any
		// more (LMS drops such data silently, which loses bytes); close it.
		c.state, c.err = chanFailed, fmt.Errorf("%w: %d bytes with %d left (channel %d)", ErrWindowExceeded, len(data), c.rxLeft, c.id)
		c.closeSent = true
		peer := c.peerID
		c.broadcastLocked()
		c.mu.Unlock()
		c.s.queue(ChannelClose{Recipient: peer})
		return true
	}
	c.rxLeft -= uint32(len(data))
	c.buf = append(c.buf, data...)
	c.broadcastLocked()
	c.mu.Unlock()
	return true
}

func (c *Channel) peerClosed() bool {
	c.mu.Lock()
	if c.state == chanOpening {
		// AMT replays stale CHANNEL_CLOSE frames for old channels after an
		// MEI reinit (rpc-go internal/lm/engine.go acts only on a close for
		// the confirmed channel; go-wsman-messages pkg/apf/processor.go
		// ignores a close before OPEN_CONFIRMATION). The answer to the open
		// is still to come.
		c.mu.Unlock()
		c.s.log.Debug("apf: ignored CHANNEL_CLOSE for a channel still opening", "channel", c.id)
		return true
	}
	c.closeRecv = true
	reply := !c.closeSent && c.state == chanOpen
	c.closeSent = true
	peer := c.peerID
	c.broadcastLocked()
	c.mu.Unlock()
	if reply {
		c.s.queue(ChannelClose{Recipient: peer})
	}
	c.s.release(c)
	c.s.log.Debug("apf: channel closed by AMT", "channel", c.id, "answered", reply)
	return true
}

// abort fails the channel because the session ended or restarted.
func (c *Channel) abort(err error) {
	c.mu.Lock()
	if c.state != chanFailed {
		c.state, c.err = chanFailed, err
	}
	c.answered()
	c.broadcastLocked()
	c.mu.Unlock()
}

// waitOpen waits for AMT's answer to the channel open.
func (c *Channel) waitOpen(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.state == chanOpening {
		if err := c.waitLocked(ctx, time.Time{}); err != nil {
			// The open is on its way; if AMT confirms it later the
			// confirmation closes it.
			c.abandoned = true
			return err
		}
	}
	if c.state == chanFailed && !c.confirmedAt {
		return c.err
	}
	// Confirmed: a failure since (AMT overran the window at once) is the
	// channel's to report on Read and Write.
	return nil
}

// Read reads what AMT sent on the channel. It credits AMT's window back once
// half of it was read.
func (c *Channel) Read(p []byte) (int, error) {
	c.mu.Lock()
	// The window adjust is queued under c.mu, so that no CHANNEL_CLOSE (from
	// AMT's close or Close, which take c.mu) overtakes it: a late credit
	// could land on a new channel AMT gave the same number. A queue overflow
	// fails the session only once c.mu is let go, since failing aborts c.
	var failed error
	defer func() {
		c.mu.Unlock()
		if failed != nil {
			c.s.fail(failed)
		}
	}()
	for {
		if c.localClosed {
			return 0, net.ErrClosed
		}
		if len(c.buf) > 0 {
			n := copy(p, c.buf)
			c.buf = c.buf[n:]
			if len(c.buf) == 0 {
				c.buf = nil
			}
			c.unacked += uint32(n)
			if c.state == chanOpen && !c.closeSent && !c.closeRecv && c.unacked >= max(1, c.s.cfg.Window/2) {
				failed = c.s.enqueue(WindowAdjust{Recipient: c.peerID, Bytes: c.unacked})
				c.rxLeft += c.unacked
				c.unacked = 0
			}
			return n, nil
		}
		if len(p) == 0 {
			return 0, nil
		}
		if c.state == chanFailed {
			return 0, c.err
		}
		if c.closeRecv {
			return 0, io.EOF
		}
		if err := c.waitLocked(context.Background(), c.rdl); err != nil {
			return 0, err
		}
	}
}

// Write sends p, in CHANNEL_DATA messages no larger than AMT's window and the
// transport's message length allow, waiting for window adjusts as needed.
func (c *Channel) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	maxData := c.s.cfg.MaxMessageLength - ChannelDataHeaderLen
	total := 0
	var wait, send context.Context // writeContext's, from the first message on
	for len(p) > 0 {
		c.mu.Lock()
		for {
			var err error
			switch {
			case c.localClosed:
				err = net.ErrClosed
			case c.state == chanFailed:
				err = c.err
			case c.closeRecv || c.closeSent:
				err = fmt.Errorf("apf: channel %d to port %d is closed: %w", c.id, c.port, io.ErrClosedPipe)
			case c.tx > 0:
			default:
				err = c.waitLocked(context.Background(), c.wdl)
				if err == nil {
					continue
				}
			}
			if err != nil {
				c.mu.Unlock()
				return total, err
			}
			break
		}
		n := min(len(p), int(min(uint64(c.tx), uint64(maxData))))
		c.tx -= uint32(n)
		peer := c.peerID
		c.mu.Unlock()

		b, err := Encode(ChannelData{Recipient: peer, Data: p[:n]})
		if err != nil {
			return total, err
		}
		// Close, a deadline or the channel's failure end the wait for the
		// writer's turn. Once the message is in the transport, over a stream
		// only a deadline (or the session's end) interrupts it: a message cut
		// half-sent ends the stream, and closing one channel must not end
		// every other channel of the tunnel. The watchers serve every
		// message of this Write (they were started for each one).
		if wait == nil {
			var cancelWait, cancelSend context.CancelFunc
			wait, cancelWait = c.writeContext(true)
			defer cancelWait()
			send = wait
			if c.s.strict {
				send, cancelSend = c.writeContext(false)
				defer cancelSend()
			}
		}
		err = c.s.writeSplit(wait, send, b)
		if err != nil {
			if wait.Err() != nil || send.Err() != nil {
				err = c.writeStopped()
			}
			return total, err
		}
		total += n
		p = p[n:]
	}
	return total, nil
}

// writeContext returns a context for one write of c: it ends when the write
// deadline passes — the deadline as it is then, so a later SetWriteDeadline
// moves it — when c fails, and (onClose) when c is closed, so that Close and
// deadlines release a Write blocked waiting, as net.Conn promises. A write
// interrupted half sent on a stream ends the session (the stream can no
// longer be framed); one still waiting for its turn leaves it running.
func (c *Channel) writeContext(onClose bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			c.mu.Lock()
			stopped, dl, ch := onClose && c.localClosed || c.state == chanFailed, c.wdl, c.changed
			c.mu.Unlock()
			if stopped {
				cancel()
				return
			}
			var tc <-chan time.Time
			var t *time.Timer
			if !dl.IsZero() {
				d := time.Until(dl)
				if d <= 0 {
					cancel()
					return
				}
				t = time.NewTimer(d)
				tc = t.C
			}
			select {
			case <-ctx.Done():
			case <-ch:
			case <-tc:
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return ctx, cancel
}

// writeStopped is the error of a write writeContext stopped.
func (c *Channel) writeStopped() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.localClosed:
		return net.ErrClosed
	case c.state == chanFailed:
		return c.err
	}
	return os.ErrDeadlineExceeded
}

// Close closes the channel: CHANNEL_CLOSE goes to AMT (once it confirmed the
// channel), reads and writes fail with net.ErrClosed. A Write waiting for the
// peer's window or its turn returns at once; over a stream, one whose message
// is already in the transport returns when that message is sent (cutting it
// would end the whole tunnel), over the LME at once.
func (c *Channel) Close() error {
	c.mu.Lock()
	if c.localClosed {
		c.mu.Unlock()
		return nil
	}
	c.localClosed = true
	var send bool
	switch {
	case c.state == chanOpening:
		c.abandoned = true
	case c.state == chanOpen && !c.closeSent:
		c.closeSent, send = true, true
	}
	done := c.state == chanFailed || c.closeRecv
	peer := c.peerID
	c.buf = nil
	c.broadcastLocked()
	c.mu.Unlock()
	if send {
		c.s.queue(ChannelClose{Recipient: peer})
	}
	if done {
		c.s.release(c)
	}
	return nil
}

// Port returns the AMT port the channel goes to.
func (c *Channel) Port() uint32 { return c.port }

// LocalAddr returns the channel's number on this side.
func (c *Channel) LocalAddr() net.Addr { return Addr{Channel: c.id} }

// RemoteAddr returns AMT's port.
func (c *Channel) RemoteAddr() net.Addr { return Addr{Port: c.port} }

// SetDeadline sets the read and write deadlines.
func (c *Channel) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl, c.wdl = t, t
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Channel) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline sets the write deadline (waits for window and the
// transport write).
func (c *Channel) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}

// Addr is an end of a [Channel]: AMT's port (RemoteAddr) or the channel's
// number on this side (LocalAddr).
type Addr struct {
	Port    uint32
	Channel uint32
}

// Network returns "apf".
func (Addr) Network() string { return "apf" }

// String returns "127.0.0.1:16992" for AMT's end, "channel 3" for ours.
func (a Addr) String() string {
	if a.Port != 0 {
		return net.JoinHostPort("127.0.0.1", strconv.FormatUint(uint64(a.Port), 10))
	}
	return "channel " + strconv.FormatUint(uint64(a.Channel), 10)
}
