//go:build linux

package pthi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// linuxHandle is a connected MEI client on the Linux character device, handed to
// Go's poller after the connect ioctl (see MEI.connect for why the order
// matters), so reads and writes honour deadlines and may run at the same time.
type linuxHandle struct {
	f *os.File
}

// openMEIHandle opens cfg.Device and connects cfg.Client, retrying EBUSY and
// ENODEV as OpenMEI does (openClient). Unverified on hardware, like MEI.
func openMEIHandle(ctx context.Context, cfg MEIConfig) (meiHandle, MEIProperties, error) {
	if cfg.Device == "" {
		cfg.Device = DefaultMEIDevice
	}
	fd, props, err := openClient(ctx, cfg)
	if err != nil {
		return nil, MEIProperties{}, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, MEIProperties{}, fmt.Errorf("pthi: MEI device: %w", err)
	}
	f := os.NewFile(uintptr(fd), cfg.Device)
	if f.SetDeadline(time.Time{}) != nil {
		// A streaming client cannot work without the poller: a blocked read
		// would hold every write behind it on some drivers, and could never be
		// interrupted.
		f.Close()
		return nil, MEIProperties{}, fmt.Errorf("pthi: %s cannot be polled; the %v client needs a pollable MEI device", cfg.Device, cfg.Client)
	}
	return &linuxHandle{f: f}, props, nil
}

// Read reads one message, interrupted by ctx through the file's read deadline.
// A zero-length message is (0, nil): os.File reports a read of zero bytes as
// io.EOF, which an MEI client, whose end is ENODEV, never means.
func (h *linuxHandle) Read(ctx context.Context, p []byte) (int, error) {
	stop := watchDeadline(ctx, h.f.SetReadDeadline)
	defer stop()
	n, err := h.f.Read(p)
	if n == 0 && errors.Is(err, io.EOF) {
		return 0, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		err = context.DeadlineExceeded
	}
	return n, err
}

// Write writes one message, interrupted by ctx through the file's write deadline.
func (h *linuxHandle) Write(ctx context.Context, p []byte) (int, error) {
	stop := watchDeadline(ctx, h.f.SetWriteDeadline)
	defer stop()
	n, err := h.f.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		err = context.DeadlineExceeded
	}
	return n, err
}

func (h *linuxHandle) Close() error { return h.f.Close() }

// writeBusy reports whether a write failed because the firmware was busy
// (EBUSY): nothing was written, and the write can be tried again.
func writeBusy(err error) bool { return errors.Is(err, syscall.EBUSY) }

// watchDeadline applies ctx's deadline with set and expires it when ctx is
// cancelled. The returned stop waits for a running expiry, so the next call
// never sees it.
func watchDeadline(ctx context.Context, set func(time.Time) error) (stop func()) {
	dl, _ := ctx.Deadline()
	_ = set(dl)
	done := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = set(time.Unix(1, 0))
	})
	return func() {
		if !cancel() {
			<-done
		}
	}
}
