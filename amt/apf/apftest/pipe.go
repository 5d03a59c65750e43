package apftest

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Errors of a Pipe end.
var (
	// ErrClosed: the end, or its peer, was closed.
	ErrClosed = errors.New("apftest: pipe closed")
	// ErrTooLarge: a message longer than the pipe's maximum (the MEI driver
	// refuses such a write).
	ErrTooLarge = errors.New("apftest: message longer than the MEI maximum")
	// ErrEmpty: an empty message (the MEI driver refuses it too).
	ErrEmpty = errors.New("apftest: empty message")
)

// DefaultQueue is how many messages a pipe direction holds before a write
// waits, like the driver's queue of pending messages.
const DefaultQueue = 16

// End is one end of a [Pipe]: an apf.Transport. Messages keep their
// boundaries and are copied on write.
type End struct {
	in, out *queue
	max     int
	once    sync.Once
}

type queue struct {
	mu      sync.Mutex
	msgs    [][]byte
	limit   int
	closed  bool
	change  chan struct{}
	waiting int // writes waiting for room
}

func newQueue(limit int) *queue { return &queue{limit: limit, change: make(chan struct{})} }

func (q *queue) broadcastLocked() {
	close(q.change)
	q.change = make(chan struct{})
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.broadcastLocked()
	q.mu.Unlock()
}

// Pipe returns the two ends of an in-memory MEI client connection whose
// messages are at most max bytes (like the LME's maximum message length);
// each direction holds DefaultQueue messages before writes wait. Closing either
// end closes both directions.
func Pipe(max int) (host, device *End) {
	a, b := newQueue(DefaultQueue), newQueue(DefaultQueue)
	return &End{in: a, out: b, max: max}, &End{in: b, out: a, max: max}
}

// MaxMessageLength returns the pipe's maximum message length.
func (e *End) MaxMessageLength() int { return e.max }

// ReadMessage returns the next message, waiting for one until ctx ends.
func (e *End) ReadMessage(ctx context.Context) ([]byte, error) {
	q := e.in
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if len(q.msgs) > 0 {
			m := q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			q.broadcastLocked()
			return m, nil
		}
		if q.closed {
			return nil, ErrClosed
		}
		ch := q.change
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			q.mu.Lock()
			return nil, ctx.Err()
		}
		q.mu.Lock()
	}
}

// WriteMessage queues a copy of msg, waiting while the direction is full.
func (e *End) WriteMessage(ctx context.Context, msg []byte) error {
	if len(msg) == 0 {
		return ErrEmpty
	}
	if len(msg) > e.max {
		return fmt.Errorf("%w: %d bytes, maximum %d", ErrTooLarge, len(msg), e.max)
	}
	q := e.out
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return ErrClosed
		}
		if len(q.msgs) < q.limit {
			q.msgs = append(q.msgs, append([]byte(nil), msg...))
			q.broadcastLocked()
			return nil
		}
		ch := q.change
		q.waiting++
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			q.mu.Lock()
			q.waiting--
			return ctx.Err()
		}
		q.mu.Lock()
		q.waiting--
	}
}

// WaitingWriters returns how many writes by the other end wait for room
// because this end reads nothing: a test that stops reading (as firmware
// that stops taking MEI messages) waits for the peer's writer to block
// without sleeping.
func (e *End) WaitingWriters() int {
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	return e.in.waiting
}

// Close closes both directions.
func (e *End) Close() error {
	e.once.Do(func() {
		e.in.close()
		e.out.close()
	})
	return nil
}
