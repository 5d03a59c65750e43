//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package wsman

import "net"

// peerState cannot ask the socket on this platform: a connection idle for
// more than serialCheckAfter is checked by a short read instead (see
// serialTransport.reusable).
func peerState(net.Conn) peer { return peerUnknown }
