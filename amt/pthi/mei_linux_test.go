//go:build linux

package pthi

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests never touch an MEI device: they check the errors for an absent device
// and for a path that is not a character device.

func TestOpenMEIAbsentDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mei0")
	m, err := OpenMEI(context.Background(), MEIConfig{Device: path})
	assert.Nil(t, m)
	require.ErrorIs(t, err, ErrNoDevice)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), path)
}

func TestOpenMEINotCharDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regular")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	_, err := OpenMEI(context.Background(), MEIConfig{Device: path})
	assert.ErrorIs(t, err, ErrNotMEIDevice)
}

func TestOpenMEICancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := OpenMEI(ctx, MEIConfig{Device: filepath.Join(t.TempDir(), "mei0")})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestClosedMEI(t *testing.T) {
	m := &MEI{}
	require.NoError(t, m.Close())
	_, err := m.Send(context.Background(), []byte{1})
	assert.ErrorIs(t, err, ErrClosed)
}

// /dev/null is a character device without the MEI ioctl: the connect fails with
// ENOTTY, which is what a kernel without the firmware client answers.
func TestOpenMEIWithoutClient(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	_, err := OpenMEI(context.Background(), MEIConfig{Device: "/dev/null"})
	assert.ErrorIs(t, err, ErrClientNotFound)
}

// fakeSleep records the waits it is asked for and returns at once, unless
// ctx has ended: a clock that only moves when the code under test waits.
type fakeSleep struct {
	waits []time.Duration
}

func (s *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.waits = append(s.waits, d)
	return nil
}

func (s *fakeSleep) total() time.Duration {
	var t time.Duration
	for _, d := range s.waits {
		t += d
	}
	return t
}

// After a firmware reset the MEI answers EBUSY and ENODEV for seconds (rpc-go
// issue 1210: five busy retries over 5 s; PR 1466: on every activation). The
// open is retried on a ramp within ConnectRetry, for PTHI (OpenMEI) and the
// LME (OpenMEIConn) alike. /dev/null stands in for the device; the connect
// ioctl is replaced.
func TestOpenMEIRetriesBusyAndNotReady(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	for _, tt := range []struct {
		name    string
		errs    func(clock time.Duration) error // the connect's answer at a time on the fake clock
		retry   time.Duration
		wantErr error
		calls   int
		waited  time.Duration
	}{
		{name: "busy then not ready for 5 s", errs: func(c time.Duration) error {
			switch {
			case c < 2*time.Second:
				return syscall.EBUSY
			case c < 5*time.Second:
				return syscall.ENODEV
			}
			return nil
		}, calls: 7, waited: 250 * time.Millisecond * (1 + 2 + 3 + 4 + 5 + 6)},
		{name: "busy for ever: the budget", errs: func(time.Duration) error { return syscall.EBUSY },
			wantErr: syscall.EBUSY, calls: 14, waited: DefaultMEIConnectRetry},
		{name: "a shorter budget", errs: func(time.Duration) error { return syscall.ENODEV }, retry: time.Second,
			wantErr: syscall.ENODEV, calls: 4, waited: time.Second},
		{name: "no retry", errs: func(time.Duration) error { return syscall.EBUSY }, retry: -1,
			wantErr: syscall.EBUSY, calls: 1},
		{name: "not transient", errs: func(time.Duration) error { return syscall.ENOTTY },
			wantErr: ErrClientNotFound, calls: 1},
	} {
		for _, conn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/conn=%v", tt.name, conn), func(t *testing.T) {
				var clock fakeSleep
				calls := 0
				cfg := MEIConfig{Device: "/dev/null", ConnectRetry: tt.retry, Sleep: clock.sleep,
					connect: func(fd int, c MEIClient) (MEIProperties, error) {
						calls++
						if err := tt.errs(clock.total()); err != nil {
							return MEIProperties{}, err
						}
						return MEIProperties{MaxMessageLength: 512, ProtocolVersion: 1}, nil
					}}
				var err error
				if conn {
					var c *MEIConn
					c, err = OpenMEIConn(context.Background(), cfg)
					if err == nil {
						c.Close()
					}
				} else {
					var m *MEI
					m, err = OpenMEI(context.Background(), cfg)
					if err == nil {
						assert.Equal(t, uint32(512), m.Properties().MaxMessageLength)
						m.Close()
					}
				}
				switch {
				case tt.wantErr != nil:
					require.ErrorIs(t, err, tt.wantErr)
				case conn:
					// Connected: /dev/null then fails the LME's need of a
					// pollable device, the step after the connect.
					require.ErrorContains(t, err, "cannot be polled")
				default:
					require.NoError(t, err)
				}
				assert.Equal(t, tt.calls, calls, "connect attempts")
				assert.Equal(t, tt.waited, clock.total(), "waited %v", clock.waits)
			})
		}
	}
}

// The connect retries end with ctx, which is returned with the last busy
// answer.
func TestOpenMEIRetryEndsWithContext(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	cfg := MEIConfig{Device: "/dev/null",
		Sleep: func(ctx context.Context, d time.Duration) error {
			if calls == 3 {
				cancel()
			}
			return ctx.Err()
		},
		connect: func(int, MEIClient) (MEIProperties, error) { calls++; return MEIProperties{}, syscall.EBUSY }}
	_, err := OpenMEI(ctx, cfg)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, syscall.EBUSY)
	assert.Equal(t, 3, calls)
}

// A write the firmware refuses as busy is tried again (rpc-go
// pkg/heci/linux.go: three times, 1.5 s × attempt apart) instead of breaking
// the LME connection and every channel on it.
func TestMEIConnWriteRetriesBusy(t *testing.T) {
	ctx := context.Background()
	var clock fakeSleep
	h := newFakeHandle()
	c := newMEIConn(h, MEIProperties{MaxMessageLength: 64}, MEIConfig{Client: ClientLME, Sleep: clock.sleep})
	h.errs = []error{syscall.EBUSY, syscall.EBUSY}
	require.NoError(t, c.WriteMessage(ctx, []byte("a")))
	assert.Equal(t, []time.Duration{1500 * time.Millisecond, 3 * time.Second}, clock.waits)
	require.NoError(t, c.WriteMessage(ctx, []byte("b")), "the connection still works")
	assert.Equal(t, [][]byte{[]byte("a"), []byte("b")}, h.written)

	// Busy four times: the fourth is an error, and the connection is broken.
	h.errs = []error{syscall.EBUSY, syscall.EBUSY, syscall.EBUSY, syscall.EBUSY}
	require.ErrorIs(t, c.WriteMessage(ctx, []byte("c")), syscall.EBUSY)
	assert.ErrorIs(t, c.WriteMessage(ctx, []byte("d")), syscall.EBUSY)

	// Any other error breaks it at once.
	clock = fakeSleep{}
	h = newFakeHandle()
	c = newMEIConn(h, MEIProperties{MaxMessageLength: 64}, MEIConfig{Client: ClientLME, Sleep: clock.sleep})
	h.errs = []error{syscall.EIO}
	require.ErrorIs(t, c.WriteMessage(ctx, []byte("e")), syscall.EIO)
	assert.Empty(t, clock.waits)
}

// os.File reports a zero-length read as io.EOF; the Linux handle gives the
// MEIConn a zero-length message instead, which it skips.
func TestLinuxHandleZeroRead(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	w.Close() // every read now returns 0 bytes
	h := &linuxHandle{f: r}
	n, err := h.Read(context.Background(), make([]byte, 8))
	assert.Equal(t, 0, n)
	assert.NoError(t, err)
}

// A PTHI write the firmware refuses as busy (EBUSY: nothing was written) is
// tried again, 1.5 s × attempt apart, as MEIConn and rpc-go
// (pkg/heci/linux.go) do; before, the first busy answer failed the command.
// A device busy for longer than three retries still fails, with EBUSY.
func TestMEISendRetriesBusyWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		busy  int
		err   error
		waits []time.Duration
	}{
		{"busy twice", 2, nil, []time.Duration{1500 * time.Millisecond, 3 * time.Second}},
		{"busy for ever", 100, syscall.EBUSY, []time.Duration{1500 * time.Millisecond, 3 * time.Second, 4500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			t.Cleanup(func() { r.Close(); w.Close() })
			_, err = w.Write([]byte{0xAA, 0xBB})
			require.NoError(t, err)
			var waits []time.Duration
			writes := 0
			m := &MEI{f: r, props: MEIProperties{MaxMessageLength: 64}, cfg: MEIConfig{
				Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
				write: func(_ *os.File, b []byte) (int, error) {
					if writes++; writes <= tc.busy {
						return 0, &os.PathError{Op: "write", Path: "/dev/mei0", Err: syscall.EBUSY}
					}
					return len(b), nil
				},
			}}
			resp, err := m.Send(context.Background(), []byte{1, 2, 3})
			assert.Equal(t, tc.waits, waits)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Equal(t, 4, writes, "the first write and three retries")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []byte{0xAA, 0xBB}, resp)
			assert.Equal(t, tc.busy+1, writes)
		})
	}
}
