//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package wsman

import (
	"errors"
	"net"
	"syscall"
)

// peerState asks the socket beneath any TLS layer of a kept-alive
// connection, without waiting, whether the peer closed it while it sat idle:
// a receive that peeks and does not wait (MSG_PEEK|MSG_DONTWAIT). Nothing to
// read: alive; an end of stream or a reset: gone; bytes: something to read
// through the TLS layer first (a close_notify, or a post-handshake message
// such as a TLS 1.3 session ticket). Unknown when conn has no socket to ask
// (an APF channel, a pipe) or the answer was interrupted.
func peerState(conn net.Conn) peer {
	sc := socketOf(conn)
	if sc == nil {
		return peerUnknown
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return peerUnknown
	}
	var (
		b    [1]byte
		n    int
		rerr error
	)
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for the socket to become readable
	}); err != nil {
		return peerGone // the descriptor is closed
	}
	switch {
	case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK):
		return peerAlive
	case errors.Is(rerr, syscall.EINTR):
		return peerUnknown
	case rerr != nil, n == 0:
		return peerGone // a reset or another error of the socket; an end of stream
	default:
		return peerData
	}
}
