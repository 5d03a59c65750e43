package pthi

import (
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeHandle is an MEI client handle in memory: the platform half of MEIConn
// replaced, so that the framing, the reader/writer discipline, cancellation
// and the PTHI exchange over MEIConn are tested on every platform.
type fakeHandle struct {
	mu       sync.Mutex
	toHost   chan []byte // messages the "firmware" sends
	written  [][]byte
	short    int     // when > 0, the next write reports this many bytes
	writeErr error   // the next write fails with it
	errs     []error // the next writes fail with these, in order
	closed   chan struct{}
	once     sync.Once
	answer   func(req []byte) []byte // firmware that answers each write
}

func newFakeHandle() *fakeHandle {
	return &fakeHandle{toHost: make(chan []byte, 16), closed: make(chan struct{})}
}

func (f *fakeHandle) Read(ctx context.Context, p []byte) (int, error) {
	select {
	case m := <-f.toHost:
		if len(m) > len(p) {
			// A driver copies at most the buffer; MEIConn reads with the
			// client's maximum, so this never happens there.
			return 0, errors.New("fake: buffer too small")
		}
		return copy(p, m), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-f.closed:
		return 0, ErrClosed
	}
}

func (f *fakeHandle) Write(ctx context.Context, p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closed:
		return 0, ErrClosed
	default:
	}
	if err := f.writeErr; err != nil {
		f.writeErr = nil
		return 0, err
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return 0, err
	}
	f.written = append(f.written, append([]byte(nil), p...))
	if f.short > 0 {
		n := f.short
		f.short = 0
		return n, nil
	}
	if f.answer != nil {
		if a := f.answer(p); a != nil {
			f.toHost <- a
		}
	}
	return len(p), nil
}

func (f *fakeHandle) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func fakeConn(max uint32) (*MEIConn, *fakeHandle) {
	h := newFakeHandle()
	return newMEIConn(h, MEIProperties{MaxMessageLength: max, ProtocolVersion: 1}, MEIConfig{Client: ClientLME}), h
}

func TestMEIConnFraming(t *testing.T) {
	ctx := context.Background()
	c, h := fakeConn(16)
	assert.Equal(t, 16, c.MaxMessageLength())
	assert.Equal(t, MEIProperties{MaxMessageLength: 16, ProtocolVersion: 1}, c.Properties())

	// One write is one message, at most the client's maximum; an empty or
	// oversized message is refused before the driver sees it and does not
	// break the connection.
	require.NoError(t, c.WriteMessage(ctx, make([]byte, 16)))
	assert.ErrorIs(t, c.WriteMessage(ctx, make([]byte, 17)), ErrMessageTooLarge)
	assert.ErrorIs(t, c.WriteMessage(ctx, nil), ErrInvalidArgument)
	require.NoError(t, c.WriteMessage(ctx, []byte{1}))
	assert.Len(t, h.written, 2)

	// One read returns one message, in a slice of its own length.
	h.toHost <- []byte{0x5e, 1, 2}
	h.toHost <- []byte{0x61}
	m, err := c.ReadMessage(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x5e, 1, 2}, m)
	assert.Equal(t, 3, cap(m))
	m, err = c.ReadMessage(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x61}, m)

}

// A zero-length message is skipped, as LMS's LMEConnection::_doRX skips it;
// only more than MaxEmptyReads of them in a row break the connection.
func TestMEIConnSkipsEmptyReads(t *testing.T) {
	ctx := context.Background()
	c, h := fakeConn(16)
	h.toHost <- []byte{}
	h.toHost <- []byte{}
	h.toHost <- []byte{0x5d, 7}
	m, err := c.ReadMessage(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x5d, 7}, m)
	require.NoError(t, c.WriteMessage(ctx, []byte{1}), "not broken")

	for range MaxEmptyReads {
		h.toHost <- []byte{}
	}
	h.toHost <- []byte{0x5d, 8}
	m, err = c.ReadMessage(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x5d, 8}, m, "MaxEmptyReads in a row are skipped")

	c, h = fakeConn(16)
	for range MaxEmptyReads + 1 {
		h.toHost <- []byte{}
	}
	_, err = c.ReadMessage(ctx)
	require.ErrorIs(t, err, ErrEmptyResponse)
	assert.ErrorIs(t, c.WriteMessage(ctx, []byte{1}), ErrEmptyResponse, "broken for writes too")
}

func TestMEIConnShortWriteBreaks(t *testing.T) {
	c, h := fakeConn(64)
	h.short = 3
	err := c.WriteMessage(context.Background(), []byte("12345"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wrote 3 of 5 bytes")
	_, err = c.ReadMessage(context.Background())
	assert.Contains(t, err.Error(), "wrote 3 of 5 bytes", "the first failure sticks")
}

// A read waits for the firmware while writes go on: the LME's firmware sends
// when it has something to say, and the host must keep writing meanwhile.
func TestMEIConnFullDuplex(t *testing.T) {
	c, h := fakeConn(64)
	got := make(chan []byte)
	go func() {
		m, err := c.ReadMessage(context.Background())
		assert.NoError(t, err)
		got <- m
	}()
	for i := range 5 {
		require.NoError(t, c.WriteMessage(context.Background(), []byte{byte(i)}))
	}
	h.toHost <- []byte("late")
	assert.Equal(t, []byte("late"), <-got)
}

func TestMEIConnCancelAndClose(t *testing.T) {
	c, _ := fakeConn(64)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.ReadMessage(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = c.ReadMessage(context.Background())
	assert.ErrorIs(t, err, context.DeadlineExceeded, "an interrupted read breaks the connection")

	c, _ = fakeConn(64)
	done := make(chan error)
	go func() {
		_, err := c.ReadMessage(context.Background())
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-done, ErrClosed)
	assert.ErrorIs(t, c.WriteMessage(context.Background(), []byte{1}), ErrClosed)
	assert.NoError(t, c.Close(), "Close twice")
}

// The PTHI exchange over an MEIConn (the Windows MEI): one request, one
// answer; an exchange that failed after its request was written reconnects
// before the next one, so a late answer is never taken for the next one's.
func TestExchangeReconnectsAfterFailure(t *testing.T) {
	var opened []*fakeHandle
	open := func(context.Context) (*MEIConn, error) {
		h := newFakeHandle()
		h.answer = func(req []byte) []byte { return append([]byte("re:"), req...) }
		opened = append(opened, h)
		return newMEIConn(h, MEIProperties{MaxMessageLength: 64}, MEIConfig{}), nil
	}
	x, err := newExchange(context.Background(), MEIConfig{}, open)
	require.NoError(t, err)
	assert.Equal(t, uint32(64), x.properties().MaxMessageLength)
	resp, err := x.send(context.Background(), []byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "re:a", string(resp))

	// The firmware does not answer: the exchange times out, the next one
	// starts on a fresh connection.
	opened[0].answer = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = x.send(ctx, []byte("b"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	resp, err = x.send(context.Background(), []byte("c"))
	require.NoError(t, err)
	assert.Equal(t, "re:c", string(resp))
	assert.Len(t, opened, 2)

	_, err = x.send(context.Background(), make([]byte, 65))
	assert.ErrorIs(t, err, ErrMessageTooLarge)
	require.NoError(t, x.close())
	_, err = x.send(context.Background(), []byte("d"))
	assert.ErrorIs(t, err, ErrClosed)
}

func TestLMEClient(t *testing.T) {
	// intel/lms MEIClient/Include/HECI_if.h LME_GUID {0x6733a4db, 0x0476,
	// 0x4e7b, 0xb3, 0xaf, 0xbc, 0xfc, 0x29, 0xbe, 0xe7, 0xa7}; rpc-go
	// pkg/heci/linux.go MEI_LMEIF holds the wire bytes.
	assert.Equal(t, "6733a4db-0476-4e7b-b3af-bcfc29bee7a7", ClientLME.GUID().String())
	d := newConnectData(ClientLME)
	assert.Equal(t, "dba4336776047b4eb3afbcfc29bee7a7", hex.EncodeToString(d[:]))
	assert.Equal(t, "LME", ClientLME.String())
}
