//go:build windows

package pthi

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/windows"
)

// MEI is a [Transport] over the Intel MEI (HECI) driver on Windows, connected to
// one firmware client. It is safe for concurrent use: exchanges are serialized;
// an exchange interrupted after its request was written makes the next one
// reconnect.
//
// Unverified on hardware: no machine amtkit is tested on runs Windows with an
// Intel ME. The device interface GUID, the I/O control codes and the FW_CLIENT
// layout come from Intel's metee library (src/Windows/public.h) and are
// unit-tested on every platform (heci.go); the call sequence — find the
// interface, CreateFile with FILE_FLAG_OVERLAPPED, IOCTL_TEEDRIVER_CONNECT_CLIENT,
// then one ReadFile or WriteFile per message — follows metee
// (src/Windows/metee_win.c, metee_winhelpers.c) and rpc-go pkg/heci/windows.go.
// This file is built and vetted with GOOS=windows in CI.
type MEI struct {
	x *exchange
}

// OpenMEI finds the HECI device interface and connects to cfg.Client (the PTHI
// client by default); cfg.Device is ignored on Windows. No interface is
// [ErrNoDevice]; a firmware without the client is [ErrClientNotFound].
func OpenMEI(ctx context.Context, cfg MEIConfig) (*MEI, error) {
	x, err := newExchange(ctx, cfg, func(ctx context.Context) (*MEIConn, error) { return OpenMEIConn(ctx, cfg) })
	if err != nil {
		return nil, err
	}
	return &MEI{x: x}, nil
}

// Properties returns what the client reported at connect time.
func (m *MEI) Properties() MEIProperties { return m.x.properties() }

// Send writes req as one message and reads one response message. ctx's deadline
// and cancellation interrupt the write or the read (CancelIoEx).
func (m *MEI) Send(ctx context.Context, req []byte) ([]byte, error) { return m.x.send(ctx, req) }

// Close closes the device. Further Sends return [ErrClosed].
func (m *MEI) Close() error { return m.x.close() }

// resync makes the next Send reconnect (see [Client.Call]).
func (m *MEI) resync() { m.x.resync() }

// winHandle is a HECI device handle opened for overlapped I/O and connected to
// one client. Each operation has its own OVERLAPPED and event, so a read and a
// write may be pending at once, as the driver allows.
type winHandle struct {
	h windows.Handle

	mu      sync.Mutex
	closed  bool
	pending int
	idle    *sync.Cond
}

// Connect retries: the driver answers ERROR_GEN_FAILURE while the firmware is
// busy (intel/lms MEIClient/src/heci.cpp retries TEE_UNABLE_TO_COMPLETE_OPERATION
// three times, 500 ms apart; metee reopens the handle before reconnecting).
const (
	heciConnectAttempts = 3
	heciConnectBackoff  = 500 * time.Millisecond
)

func openMEIHandle(ctx context.Context, cfg MEIConfig) (meiHandle, MEIProperties, error) {
	path, err := heciDevicePath()
	if err != nil {
		return nil, MEIProperties{}, err
	}
	for attempt := 1; ; attempt++ {
		h, props, err := connectHECI(ctx, path, cfg.Client)
		if err == nil {
			return h, props, nil
		}
		if !errors.Is(err, windows.ERROR_GEN_FAILURE) || attempt == heciConnectAttempts {
			return nil, MEIProperties{}, err
		}
		if serr := cfg.sleep(ctx, heciConnectBackoff); serr != nil {
			return nil, MEIProperties{}, serr
		}
	}
}

// writeBusy reports false: the Windows driver has no busy answer for writes
// that is known to be safe to repeat.
func writeBusy(error) bool { return false }

// heciDevicePath returns the first present HECI device interface, listed the
// way metee's GetDevicePath does (CM_Get_Device_Interface_List with
// CM_GET_DEVICE_INTERFACE_LIST_PRESENT); rpc-go walks the same list with
// SetupDiGetClassDevs and SetupDiGetDeviceInterfaceDetail.
func heciDevicePath() (string, error) {
	w := heciInterface.Wire()
	g := windows.GUID{
		Data1: uint32(w[0]) | uint32(w[1])<<8 | uint32(w[2])<<16 | uint32(w[3])<<24,
		Data2: uint16(w[4]) | uint16(w[5])<<8,
		Data3: uint16(w[6]) | uint16(w[7])<<8,
	}
	copy(g.Data4[:], w[8:])
	paths, err := windows.CM_Get_Device_Interface_List("", &g, windows.CM_GET_DEVICE_INTERFACE_LIST_PRESENT)
	if errors.Is(err, windows.ERROR_NO_SUCH_DEVICE_INTERFACE) || (err == nil && len(paths) == 0) {
		return "", fmt.Errorf("%w: no HECI device interface %v (no Intel ME, or the Intel MEI driver is not installed)", ErrNoDevice, heciInterface)
	}
	if err != nil {
		return "", fmt.Errorf("pthi: listing HECI device interfaces: %w", err)
	}
	return paths[0], nil
}

func connectHECI(ctx context.Context, path string, c MEIClient) (*winHandle, MEIProperties, error) {
	p16, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, MEIProperties{}, fmt.Errorf("pthi: HECI device path: %w", err)
	}
	fh, err := windows.CreateFile(p16, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OVERLAPPED, 0)
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, MEIProperties{}, fmt.Errorf("pthi: opening the HECI device (administrator rights are needed): %w", err)
		}
		return nil, MEIProperties{}, fmt.Errorf("pthi: opening the HECI device %s: %w", path, err)
	}
	h := &winHandle{h: fh}
	h.idle = sync.NewCond(&h.mu)
	in := heciConnectInput(c)
	out := make([]byte, 16)
	n, err := h.do(ctx, func(ov *windows.Overlapped, done *uint32) error {
		return windows.DeviceIoControl(fh, ioctlHECIConnectClient, &in[0], uint32(len(in)), &out[0], uint32(len(out)), done, ov)
	})
	runtime.KeepAlive(in)
	if err != nil {
		h.Close()
		// metee: "Connect IOCTL returns invalid handle if client is not found";
		// Win32ErrorToTee maps ERROR_NOT_FOUND to TEE_CLIENT_NOT_FOUND too.
		if errors.Is(err, windows.ERROR_INVALID_HANDLE) || errors.Is(err, windows.ERROR_NOT_FOUND) {
			return nil, MEIProperties{}, fmt.Errorf("%w: %v client: %w", ErrClientNotFound, c, err)
		}
		return nil, MEIProperties{}, fmt.Errorf("pthi: connecting to the %v client: %w", c, err)
	}
	props, err := decodeFWClient(out, n)
	if err != nil {
		h.Close()
		return nil, MEIProperties{}, err
	}
	return h, props, nil
}

// do starts one overlapped operation and waits for it; ctx cancels it with
// CancelIoEx. The OVERLAPPED and the buffers stay referenced until the driver
// is done with them.
func (h *winHandle) do(ctx context.Context, start func(ov *windows.Overlapped, done *uint32) error) (uint32, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return 0, ErrClosed
	}
	h.pending++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.pending--
		h.idle.Broadcast()
		h.mu.Unlock()
	}()

	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return 0, fmt.Errorf("pthi: CreateEvent: %w", err)
	}
	defer windows.CloseHandle(ev)
	ov := &windows.Overlapped{HEvent: ev}
	done := new(uint32)
	err = start(ov, done)
	if err != nil && !errors.Is(err, windows.ERROR_IO_PENDING) {
		return 0, err
	}
	// A Close that ran between the check above and start has cancelled
	// nothing of this operation: cancel it here.
	h.mu.Lock()
	if h.closed {
		_ = windows.CancelIoEx(h.h, ov)
	}
	h.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = windows.CancelIoEx(h.h, ov) })
	err = windows.GetOverlappedResult(h.h, ov, done, true)
	stop()
	runtime.KeepAlive(ov)
	if err != nil {
		if errors.Is(err, windows.ERROR_OPERATION_ABORTED) {
			if cerr := ctx.Err(); cerr != nil {
				return 0, cerr
			}
			return 0, ErrClosed
		}
		return 0, err
	}
	return *done, nil
}

// Read reads one message.
func (h *winHandle) Read(ctx context.Context, p []byte) (int, error) {
	n, err := h.do(ctx, func(ov *windows.Overlapped, done *uint32) error {
		return windows.ReadFile(h.h, p, done, ov)
	})
	runtime.KeepAlive(p)
	return int(n), err
}

// Write writes one message.
func (h *winHandle) Write(ctx context.Context, p []byte) (int, error) {
	n, err := h.do(ctx, func(ov *windows.Overlapped, done *uint32) error {
		return windows.WriteFile(h.h, p, done, ov)
	})
	runtime.KeepAlive(p)
	return int(n), err
}

// Close cancels pending operations, waits for them to finish and closes the
// handle, so no operation outlives the buffers it was given.
func (h *winHandle) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	_ = windows.CancelIoEx(h.h, nil)
	for h.pending > 0 {
		h.idle.Wait()
	}
	h.mu.Unlock()
	return windows.CloseHandle(h.h)
}
