//go:build linux

package pthi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// MEI is a [Transport] over the Linux MEI character device, connected to one
// firmware client. It is safe for concurrent use: exchanges are serialized.
//
// Unverified on hardware: no machine amtkit is tested on has an Intel ME. The
// ioctl number and data layout, the GUIDs and the framing are unit-tested; the
// system-call sequence follows rpc-go pkg/heci/linux.go and the kernel's
// documented MEI interface (Documentation/driver-api/mei/mei.rst).
type MEI struct {
	mu    sync.Mutex
	f     *os.File
	cfg   MEIConfig
	props MEIProperties
	// stale is set when an exchange was interrupted after its request was written:
	// the firmware's answer may still arrive, so the next Send reconnects first.
	stale    bool
	closed   bool
	pollable bool
}

// OpenMEI opens cfg.Device and connects to cfg.Client (the PTHI client by
// default). A missing device is [ErrNoDevice]; a firmware without the client is
// [ErrClientNotFound]. The connect ioctl cannot be interrupted once issued; ctx is
// checked before it and between its retries: the device answers EBUSY or ENODEV
// for seconds after a reset, which is retried within cfg.ConnectRetry.
func OpenMEI(ctx context.Context, cfg MEIConfig) (*MEI, error) {
	if cfg.Device == "" {
		cfg.Device = DefaultMEIDevice
	}
	m := &MEI{cfg: cfg}
	if err := m.connect(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *MEI) connect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fd, props, err := openClient(ctx, m.cfg)
	if err != nil {
		return err
	}
	// Non-blocking and registered with the poller, reads and writes honour deadlines.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("pthi: MEI device: %w", err)
	}
	f := os.NewFile(uintptr(fd), m.cfg.Device)
	m.pollable = f.SetDeadline(time.Time{}) == nil
	if !m.pollable {
		// Not pollable after all: go back to blocking I/O; cancellation is then
		// only observed between the write and the read.
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), false) })
		}
	}
	m.f, m.props, m.stale = f, props, false
	return nil
}

// openClient opens cfg.Device and connects cfg.Client, for MEI (PTHI) and
// MEIConn (the LME) alike. The device answers EBUSY (busy, or the client held
// by another process) and ENODEV (not ready: the kernel's mei_open and the
// connect ioctl answer it while the ME resets) for seconds after a firmware
// reset; both are retried, each time on a newly opened file, within
// cfg.ConnectRetry and ctx (rpc-go pkg/heci/linux.go retries a busy connect
// for about 21 s and reopens the device on ENODEV; issue 1210, PR 1466). The
// connect ioctl itself cannot be interrupted once issued.
//
// The device is opened with a raw system call and handed to Go's poller only
// after the connect ioctl: the kernel's mei_poll answers EPOLLERR without
// arming its wait queues while the file is unconnected, so a file registered
// with epoll before connecting (as os.OpenFile would do) would never be woken
// for a response.
func openClient(ctx context.Context, cfg MEIConfig) (int, MEIProperties, error) {
	if err := ctx.Err(); err != nil {
		return -1, MEIProperties{}, err
	}
	connect := cfg.connect
	if connect == nil {
		connect = connectClient
	}
	fd := -1
	var props MEIProperties
	err := retryConnect(ctx, cfg, transientConnect, func() error {
		var err error
		fd, props, err = openClientOnce(cfg, connect)
		return err
	})
	if err != nil {
		return -1, MEIProperties{}, err
	}
	return fd, props, nil
}

// transientConnect reports whether an open or connect error is the device's
// "busy" or "not ready" answer, which clears within seconds.
func transientConnect(err error) bool {
	return errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.ENODEV)
}

func openClientOnce(cfg MEIConfig, connect func(int, MEIClient) (MEIProperties, error)) (int, MEIProperties, error) {
	fd, err := syscall.Open(cfg.Device, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		perr := &fs.PathError{Op: "open", Path: cfg.Device, Err: err}
		if errors.Is(err, fs.ErrNotExist) {
			return -1, MEIProperties{}, fmt.Errorf("%w: %s is absent (no Intel ME, or the mei_me driver is not loaded): %w", ErrNoDevice, cfg.Device, perr)
		}
		if transientConnect(err) {
			return -1, MEIProperties{}, fmt.Errorf("pthi: opening the MEI device (not ready): %w", perr)
		}
		return -1, MEIProperties{}, fmt.Errorf("pthi: opening the MEI device (root or the mei group is needed): %w", perr)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
		syscall.Close(fd)
		return -1, MEIProperties{}, fmt.Errorf("%w: %s has mode %#o", ErrNotMEIDevice, cfg.Device, st.Mode)
	}
	props, err := connect(fd, cfg.Client)
	if err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.ENOTTY) {
			return -1, MEIProperties{}, fmt.Errorf("%w: %v client on %s: %w", ErrClientNotFound, cfg.Client, cfg.Device, err)
		}
		return -1, MEIProperties{}, fmt.Errorf("pthi: connecting to the %v client on %s: %w", cfg.Client, cfg.Device, err)
	}
	if err := checkMaxMessageLength(props.MaxMessageLength); err != nil {
		syscall.Close(fd)
		return -1, MEIProperties{}, fmt.Errorf("pthi: %v client on %s: %w", cfg.Client, cfg.Device, err)
	}
	return fd, props, nil
}

// connectClient issues IOCTL_MEI_CONNECT_CLIENT with the client's GUID and returns
// the properties the kernel writes back into the same buffer.
func connectClient(fd int, c MEIClient) (MEIProperties, error) {
	data := newConnectData(c)
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(ioctlMEIConnectClient), uintptr(unsafe.Pointer(&data[0])))
	if errno != 0 {
		return MEIProperties{}, errno
	}
	return data.properties(), nil
}

// Properties returns what the client reported at connect time.
func (m *MEI) Properties() MEIProperties {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.props
}

// Send writes req as one message and reads one response message into a buffer of
// the client's maximum length. ctx's deadline and cancellation interrupt the write
// or the read (through the file's deadline); an interrupted exchange makes the next
// Send reconnect, so that a late answer is never taken for the next one's.
func (m *MEI) Send(ctx context.Context, req []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.f == nil || m.stale {
		if m.f != nil {
			m.f.Close()
			m.f = nil
		}
		if err := m.connect(ctx); err != nil {
			return nil, err
		}
	}
	if err := checkFrame(len(req), m.props); err != nil {
		return nil, err
	}
	if d := m.cfg.Timeout; d >= 0 {
		if d == 0 {
			d = DefaultMEITimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	stop := m.watch(ctx)
	defer func() { stop() }()
	// A write the firmware refuses as busy (EBUSY: nothing was written) is
	// tried again, as MEIConn does and rpc-go does for PTHI writes too
	// (pkg/heci/linux.go, three retries 1.5 s × attempt apart).
	n, err := m.write(req)
	for attempt := 1; err != nil && writeBusy(err) && attempt <= meiWriteBusyRetries; attempt++ {
		if serr := m.cfg.sleep(ctx, time.Duration(attempt)*meiWriteBusyStep); serr != nil {
			err = fmt.Errorf("%w (the firmware was busy: %w)", serr, err)
			break
		}
		n, err = m.write(req)
	}
	if err != nil && errors.Is(err, syscall.ENODEV) && ctx.Err() == nil {
		// The ME reset under the open file (after Unprovision,
		// SetAmtOperationalState, a firmware update): reconnect the same
		// client and write the request once more, as rpc-go does for PTHI
		// (pkg/heci/linux.go SendMessage). Nothing was written.
		stop()
		stop = func() {} // stopped: the deferred call must not wait again
		m.f.Close()
		m.f = nil
		if cerr := m.connect(ctx); cerr != nil {
			m.stale = true
			return nil, fmt.Errorf("pthi: MEI write: %w; reconnecting after the reset: %w", err, cerr)
		}
		stop = m.watch(ctx)
		n, err = m.write(req)
	}
	if err == nil && !m.pollable {
		if cerr := ctx.Err(); cerr != nil {
			m.stale = true
			return nil, cerr
		}
	}
	if err != nil {
		m.stale = true
		return nil, m.ioErr(ctx, "write", err)
	}
	if n != len(req) {
		m.stale = true
		return nil, fmt.Errorf("pthi: MEI write: wrote %d of %d bytes", n, len(req))
	}
	buf := make([]byte, m.props.MaxMessageLength)
	n, err = m.f.Read(buf)
	if n == 0 && errors.Is(err, io.EOF) {
		// A zero-length message: os.File reports it as EOF (the LME's
		// linuxHandle.Read maps it the same way).
		return nil, ErrEmptyResponse
	}
	if err != nil {
		m.stale = true
		return nil, m.ioErr(ctx, "read", err)
	}
	if n == 0 {
		return nil, ErrEmptyResponse
	}
	return buf[:n:n], nil
}

// resync makes the next Send reconnect: the answer just read did not match
// its request, so the connection may hold a message too many.
func (m *MEI) resync() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stale = true
}

func (m *MEI) write(b []byte) (int, error) {
	if m.cfg.write != nil {
		return m.cfg.write(m.f, b)
	}
	return m.f.Write(b)
}

// watch applies ctx's deadline to the file and expires it when ctx is cancelled.
// The returned stop waits for a running expiry, so the next exchange never sees it.
func (m *MEI) watch(ctx context.Context) (stop func()) {
	if !m.pollable {
		return func() {}
	}
	dl, _ := ctx.Deadline() // zero when none: no deadline
	_ = m.f.SetDeadline(dl)
	f := m.f
	done := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = f.SetDeadline(time.Unix(1, 0))
	})
	return func() {
		if !cancel() {
			<-done
		}
	}
}

func (m *MEI) ioErr(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("pthi: MEI %s: %w", op, cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("pthi: MEI %s: %w", op, context.DeadlineExceeded)
	}
	return fmt.Errorf("pthi: MEI %s on %s: %w", op, m.cfg.Device, err)
}

// Close closes the device. Further Sends return [ErrClosed].
func (m *MEI) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.f == nil {
		return nil
	}
	err := m.f.Close()
	m.f = nil
	return err
}
