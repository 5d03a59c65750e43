//go:build linux

package pthi

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// After an ENODEV write on a pollable file whose reconnect fails, Send calls
// the watcher's stop twice (explicitly, then the deferred closure with the
// same stop): the second call's cancel() returns false and it waits on a done
// channel that is never closed, so Send never returned and m.mu stayed held.
func TestMEISendFailedReconnectDoesNotHang(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	m := &MEI{f: r, pollable: true, props: MEIProperties{MaxMessageLength: 64}, cfg: MEIConfig{
		Device: "/dev/null",
		Sleep:  func(context.Context, time.Duration) error { return nil },
		connect: func(int, MEIClient) (MEIProperties, error) {
			return MEIProperties{}, syscall.EINVAL // reconnect fails, not transient
		},
		write: func(_ *os.File, b []byte) (int, error) {
			return 0, &os.PathError{Op: "write", Path: "/dev/mei0", Err: syscall.ENODEV}
		},
	}}
	done := make(chan error, 1)
	go func() { _, err := m.Send(context.Background(), []byte{1, 2, 3}); done <- err }()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, syscall.ENODEV) {
			t.Fatalf("want the ENODEV/reconnect error, got %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Send hangs after a failed reconnect (stop() called twice waits on a done channel never closed)")
	}
}
