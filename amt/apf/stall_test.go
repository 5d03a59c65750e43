package apf_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
)

// Channel.Read held c.mu while it queued its WINDOW_ADJUST. When the control
// queue was full, queue() failed the session, which aborts every channel —
// including this one — and c.abort locked c.mu again: a self-deadlock. fail
// never reached s.cancel / t.Close / close(done), so the whole session hung
// (Done never closed, Close waited for the write loop forever). Read now
// queues the adjust after it unlocks (found by review, which wrote this
// test).
//
// Firmware that stops reading the MEI while it keeps asking for answers
// (keep-alives here) fills the control queue; then one byte of data and an
// application Read trigger it.
func TestReadWindowAdjustOnFullQueue(t *testing.T) {
	s, f := handshake(t, apf.Config{Window: 2}) // adjust after every byte read
	dc := make(chan error, 1)
	var ch *apf.Channel
	go func() {
		c, err := s.DialPort(context.Background(), 16992)
		ch = c
		dc <- err
	}()
	open := f.recv().(apf.ChannelOpen)
	f.send(apf.ChannelOpenConfirmation{Recipient: open.Sender, Sender: 5, Window: 100})
	require.NoError(t, <-dc)
	// From here on the firmware reads nothing. Unblock the session's writer at
	// the end so that cleanup (s.Close) does not hang as well.
	t.Cleanup(func() { f.end.Close() })

	// 16 answers fill the pipe, one more blocks in the writer.
	for i := range apftest.DefaultQueue + 1 {
		f.send(apf.KeepAliveRequest{Cookie: uint32(i)})
	}
	require.Eventually(t, func() bool { return f.end.WaitingWriters() == 1 }, 5*time.Second, time.Millisecond)
	// 1024 more fill the control queue exactly (maxControlQueue).
	for i := range 1024 {
		f.send(apf.KeepAliveRequest{Cookie: uint32(1000 + i)})
	}
	readDone := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := ch.Read(b)
		readDone <- err
	}()
	f.send(apf.ChannelData{Recipient: open.Sender, Data: []byte("x")})

	select {
	case <-s.Done():
	case <-time.After(3 * time.Second):
		t.Fatalf("session never ended after its control queue overflowed: Read deadlocked in queue->fail->abort (Err=%v)", s.Err())
	}
	select {
	case <-readDone:
	case <-time.After(3 * time.Second):
		t.Fatal("Read never returned")
	}
}

// Close promises to wait "at most a second" for the transport to take its
// DISCONNECT, but Session.write took its write lock before the 1 s context
// applied. With the write loop blocked in WriteMessage (AMT not reading the
// MEI; its ctx is cancelled only by fail, which Close calls after the
// write), Close waited for the lock until the transport's own write bound
// (30 s on MEIConn; forever on a transport without one), and so did every
// protocol-error DISCONNECT from the read loop. Writes now wait for their
// turn under their own context (found by review, which wrote this test).
func TestCloseWhileWriterBlocked(t *testing.T) {
	s, f := handshake(t, apf.Config{})
	t.Cleanup(func() { f.end.Close() })
	for i := range apftest.DefaultQueue + 1 {
		f.send(apf.KeepAliveRequest{Cookie: uint32(i)})
	}
	require.Eventually(t, func() bool { return f.end.WaitingWriters() == 1 }, 5*time.Second, time.Millisecond, "the writer blocks in WriteMessage")
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return within 3 s (documented: waits at most a second for the DISCONNECT)")
	}
}
