//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package wsman

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed reports whether the peer closed conn, or sent something nobody
// asked for, while it sat idle: it asks the socket beneath any TLS layer with
// a receive that peeks and does not wait (MSG_PEEK|MSG_DONTWAIT). Nothing to
// read means the connection is alive; an end of stream, a reset or unasked
// bytes (a TLS close_notify, say) mean it is not. known is false when conn
// has no socket to ask (an APF channel, a pipe) or the answer was
// interrupted.
func peerClosed(conn net.Conn) (closed, known bool) {
	sc := socketOf(conn)
	if sc == nil {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var (
		b    [1]byte
		rerr error
	)
	if err := rc.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for the socket to become readable
	}); err != nil {
		return true, true // the descriptor is closed
	}
	switch {
	case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK):
		return false, true
	case errors.Is(rerr, syscall.EINTR):
		return false, false
	default:
		// nil: an end of stream (0 bytes) or bytes nobody asked for; else a
		// reset or another error of the socket.
		return true, true
	}
}
