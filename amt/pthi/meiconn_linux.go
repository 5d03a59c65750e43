//go:build linux

package pthi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/amtkit/amtkit/internal/ctxwait"
)

// linuxHandle is a connected MEI client on the Linux character device, handed to
// Go's poller after the connect ioctl (see MEI.connect for why the order
// matters), so reads and writes honour deadlines and may run at the same time.
type linuxHandle struct {
	f *os.File
}

// openMEIHandle opens cfg.Device and connects cfg.Client, retrying EBUSY as
// OpenMEI does. Unverified on hardware, like MEI.
func openMEIHandle(ctx context.Context, cfg MEIConfig) (meiHandle, MEIProperties, error) {
	if cfg.Device == "" {
		cfg.Device = DefaultMEIDevice
	}
	fd, err := syscall.Open(cfg.Device, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		perr := &fs.PathError{Op: "open", Path: cfg.Device, Err: err}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, MEIProperties{}, fmt.Errorf("%w: %s is absent (no Intel ME, or the mei_me driver is not loaded): %w", ErrNoDevice, cfg.Device, perr)
		}
		return nil, MEIProperties{}, fmt.Errorf("pthi: opening the MEI device (root or the mei group is needed): %w", perr)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
		syscall.Close(fd)
		return nil, MEIProperties{}, fmt.Errorf("%w: %s has mode %#o", ErrNotMEIDevice, cfg.Device, st.Mode)
	}
	var props MEIProperties
	for attempt := 1; ; attempt++ {
		props, err = connectClient(fd, cfg.Client)
		if !errors.Is(err, syscall.EBUSY) || attempt == 5 {
			break
		}
		if serr := ctxwait.Sleep(ctx, time.Duration(attempt)*50*time.Millisecond); serr != nil {
			syscall.Close(fd)
			return nil, MEIProperties{}, serr
		}
	}
	if err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.ENOTTY) {
			return nil, MEIProperties{}, fmt.Errorf("%w: %v client on %s: %w", ErrClientNotFound, cfg.Client, cfg.Device, err)
		}
		return nil, MEIProperties{}, fmt.Errorf("pthi: connecting to the %v client on %s: %w", cfg.Client, cfg.Device, err)
	}
	if props.MaxMessageLength == 0 {
		syscall.Close(fd)
		return nil, MEIProperties{}, fmt.Errorf("%w: %v client reported a maximum message length of 0", ErrMessageTooLarge, cfg.Client)
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
func (h *linuxHandle) Read(ctx context.Context, p []byte) (int, error) {
	stop := watchDeadline(ctx, h.f.SetReadDeadline)
	defer stop()
	n, err := h.f.Read(p)
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
