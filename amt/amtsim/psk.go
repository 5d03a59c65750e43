package amtsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx/tlspsk"
)

// pskServer wraps a connection of a PSK device in tlspsk's TLS-PSK server
// side: identity = the PID, key = the PPS (tlspsk's default derivation, which
// is itself unconfirmed on real firmware: no public source names AMT's PSK
// identity or key).
func (d *Device) pskServer(sc *simConn) (net.Conn, error) {
	d.mu.Lock()
	pair := d.pskPairLocked() // Config.PSK or SetTLSPSK's (cls_psk.go)
	d.mu.Unlock()
	var der tlspsk.Derivation
	cfg := &tlspsk.Config{
		GetKey: func(_ context.Context, identity []byte) (amt.Secret, error) {
			rec := HandshakeRecord{Time: d.now(), Remote: sc.RemoteAddr().String(), Mode: "psk"}
			// The identity is compared byte for byte: the firmware holds
			// the PID's 8 characters (uint8 pid[8] in the hello and in
			// AMTHI), not a parser that would take "0000-037M" or lower case.
			if !bytes.Equal(identity, der.IdentityFor(pair.PID)) {
				rec.Err = fmt.Errorf("%w: identity %q", tlspsk.ErrUnknownIdentity, identity)
				d.recordHandshake(rec)
				d.debug("PSK identity refused", slog.String("identity", string(identity)))
				return amt.Secret{}, rec.Err
			}
			d.recordHandshake(rec)
			// A wrong PPS fails the Finished check afterwards, before any
			// request can be read, so the session may be marked now.
			sc.info.mu.Lock()
			sc.info.rcfg, sc.info.psk = true, true
			sc.info.mu.Unlock()
			return der.KeyFor(pair.PPS), nil
		},
		MinVersion: tls.VersionTLS10,
		MaxVersion: d.plat.maxTLS,
		Rand:       d.rand,
		// AMT's TLS server sends no renegotiation_info (MeshCommander
		// issues 120, 126).
		NoRenegotiationInfo: true,
	}
	return &pskConn{Conn: tlspsk.Server(sc, cfg), d: d}, nil
}

// pskConn counts the TLS-PSK handshake and spends the latency model's time on
// it once it completed.
type pskConn struct {
	*tlspsk.Conn
	d    *Device
	once sync.Once
}

// Read completes the handshake first (as tlspsk does), then counts it.
func (c *pskConn) Read(b []byte) (int, error) {
	c.handshake()
	return c.Conn.Read(b)
}

// Write completes the handshake first, then counts it.
func (c *pskConn) Write(b []byte) (int, error) {
	c.handshake()
	return c.Conn.Write(b)
}

func (c *pskConn) handshake() {
	c.once.Do(func() {
		if c.Conn.HandshakeContext(context.Background()) == nil {
			c.d.handshakeDone(false)
		}
	})
}

// NetConn returns the TCP connection (for the server's connection hooks).
func (c *pskConn) NetConn() net.Conn { return c.Conn.NetConn() }

func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }

func remoteAttr(c net.Conn) slog.Attr { return slog.String("remote", c.RemoteAddr().String()) }
