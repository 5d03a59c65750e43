package amtsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/amt"
)

type role int

const (
	roleTLS      role = iota // the 16993 role
	roleHTTP                 // the 16992 role (also the local LMS port)
	roleLocalTLS             // the local TLS port (LMS 16993): secure host-based configuration
)

// connInfo is what the device knows about one connection.
type connInfo struct {
	role role
	mu   sync.Mutex
	// served counts the requests read on the connection.
	served int
	// rcfg: the client chain passed the remote-configuration rules on this
	// connection (or a PSK handshake succeeded).
	rcfg  bool
	psk   bool
	chain []*x509.Certificate
	root  amt.CertHash
	// pending runs once the current response is complete.
	pending []func()
}

func (c *connInfo) remoteConfig() (bool, []*x509.Certificate, amt.CertHash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rcfg, c.chain, c.root
}

// simConn is a raw TCP connection the device accepted.
type simConn struct {
	net.Conn
	d    *Device
	info *connInfo
	once sync.Once
	// tls: the connection is served over TLS; verified: its handshake got
	// past the certificate checks (VerifyConnection ran).
	tls      bool
	verified atomic.Bool
}

// lingerFor bounds a lingering close: how long, and how many of the peer's
// bytes, the device reads and discards after refusing a TLS handshake.
const (
	lingerFor   = 2 * time.Second
	lingerBytes = 64 << 10
)

func (c *simConn) Close() error {
	if c.tls && !c.verified.Load() && c.linger() {
		return nil
	}
	err := c.Conn.Close()
	c.once.Do(func() { c.d.untrack(c) })
	return err
}

// linger closes a connection whose TLS handshake the device refused the way
// a client can read the refusal: it ends its sending half (the alert is
// already on the wire) and discards what the peer still sends until the
// peer closes, lingerFor passes, lingerBytes arrive or the device closes.
// Closing at once with the peer's request unread makes the kernel answer
// with a reset, which can discard the alert before the client reads it;
// clients of real firmware report reading it ("tls: certificate
// required", rpc-go commit d8afbf0a, issue 1461).
// It reports false when it did not take the connection (not TCP, or the
// device is closing).
func (c *simConn) linger() bool {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return false
	}
	d := c.d
	d.netMu.Lock()
	if d.closed {
		d.netMu.Unlock()
		return false
	}
	d.wg.Add(1)
	d.netMu.Unlock()
	_ = tc.CloseWrite()
	_ = tc.SetReadDeadline(time.Now().Add(lingerFor))
	go func() {
		defer d.wg.Done()
		// The connection stays tracked: Device.Close closes it, which ends
		// the read.
		_, _ = io.CopyN(io.Discard, tc, lingerBytes)
		_ = tc.Close()
		c.once.Do(func() { d.untrack(c) })
	}()
	return true
}

// simListener accepts connections for one role, applying the device's
// network state: closed interface (refuse), unresponsive (hold), TLS.
type simListener struct {
	net.Listener
	d    *Device
	role role
}

func (l *simListener) Accept() (net.Conn, error) {
	d := l.d
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		sc := &simConn{Conn: c, d: d, info: &connInfo{role: l.role}}
		if !d.track(sc) {
			_ = c.Close()
			return nil, net.ErrClosed
		}
		d.ctr.conns.Add(1)
		d.mu.Lock()
		unresponsive := d.st.unresponsive
		open := (l.role != roleTLS || d.remoteOpenLocked()) && !d.restartingLocked()
		psk := l.role == roleTLS && d.cfg.PSK != nil && d.st.prov != amt.PostProvisioning
		disabled := d.st.opDisabled
		d.mu.Unlock()
		switch {
		case unresponsive:
			d.hold(sc)
			continue
		case disabled:
			d.debug("connection refused: AMT is disabled (operational state)", remoteAttr(c))
			d.ctr.refused.Add(1)
			_ = sc.Close()
			continue
		case !open:
			d.debug("connection refused: network interface closed", remoteAttr(c))
			d.ctr.refused.Add(1)
			_ = sc.Close()
			continue
		case l.role == roleHTTP && d.cfg.LocalTLSEnforced:
			// TLS is enforced on every port: no non-TLS connection at all.
			d.debug("connection refused: TLS is enforced (non-TLS port)", remoteAttr(c))
			d.ctr.refused.Add(1)
			_ = sc.Close()
			continue
		case l.role == roleHTTP:
			return sc, nil
		case l.role == roleLocalTLS:
			return d.tlsServer(sc, d.localTLSConfigFor), nil
		case psk:
			pc, err := d.pskServer(sc)
			if err != nil {
				_ = sc.Close()
				continue
			}
			return pc, nil
		}
		return d.tlsServer(sc, d.tlsConfigFor), nil
	}
}

// tlsServer serves sc over TLS with the configuration configFor chooses at
// the handshake, marking sc verified once the handshake passes its checks.
func (d *Device) tlsServer(sc *simConn, configFor func(*simConn) (*tls.Config, error)) *tls.Conn {
	sc.tls = true
	return tls.Server(sc, &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg, err := configFor(sc)
			if cfg == nil {
				return nil, err
			}
			cfg = d.timed(cfg)
			prev := cfg.VerifyConnection
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if err := prev(cs); err != nil {
					return err
				}
				sc.verified.Store(true)
				return nil
			}
			return cfg, err
		},
	})
}

// hold keeps a connection open without ever answering, until the peer or the
// device closes it.
func (d *Device) hold(c *simConn) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer c.Close()
		go func() {
			<-d.done
			_ = c.Conn.Close()
		}()
		_, _ = io.Copy(io.Discard, c.Conn)
	}()
}

func (d *Device) track(c *simConn) bool {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.closed {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *Device) untrack(c *simConn) {
	d.netMu.Lock()
	delete(d.conns, c)
	d.netMu.Unlock()
}

// tlsConfigFor chooses the TLS configuration for one handshake from the
// device's state at that moment.
func (d *Device) tlsConfigFor(sc *simConn) (*tls.Config, error) {
	d.mu.Lock()
	prov := d.st.prov
	zero := d.st.zeroTch
	agent := d.st.agentStarted
	applied := d.st.applied
	if d.st.settleTLS > 0 && prov == amt.PostProvisioning {
		d.st.settleTLS-- // Behavior.CommitSettleReads: the previous certificate a moment longer
		applied = d.st.settlePrev
	}
	var roots *x509.CertPool
	var trustedCN []string
	if prov == amt.PostProvisioning && applied.mutual {
		roots = x509.NewCertPool()
		for _, c := range d.st.certs {
			if c.trustedRoot {
				roots.AddCert(c.cert)
			}
		}
		trustedCN = d.st.tlsRemote.trustedCN
	}
	d.mu.Unlock()

	base := &tls.Config{
		MinVersion:   d.plat.minTLS,
		MaxVersion:   d.plat.maxTLS,
		CipherSuites: d.plat.suites,
		Rand:         d.rand,
		Time:         d.clock,
		// Every connection shows its certificates: a resumed session would
		// skip the firmware rules.
		SessionTicketsDisabled: true,
	}
	if prov != amt.PostProvisioning {
		if !zero || !d.remoteConfigAllowed(agent) {
			return nil, errors.New("amtsim: remote configuration is not enabled")
		}
		id, err := d.identity()
		if err != nil {
			return nil, err
		}
		base.Certificates = []tls.Certificate{*id}
		base.ClientAuth = tls.RequireAnyClientCert
		base.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return d.verifyRemoteConfig(sc, raw)
		}
		return base, nil
	}
	if (!applied.enabled || applied.cert == nil) && d.fw.DefaultTLSCertificate {
		id, err := d.selfSignedTLS()
		if err != nil {
			return nil, err
		}
		base.Certificates = []tls.Certificate{*id}
		return base, nil
	}
	if !applied.enabled || applied.cert == nil {
		return nil, errors.New("amtsim: TLS is not configured on the provisioned device")
	}
	base.Certificates = []tls.Certificate{{Certificate: [][]byte{applied.cert.Raw}, PrivateKey: applied.key, Leaf: applied.cert}}
	if applied.mutual {
		base.ClientAuth = tls.RequireAndVerifyClientCert
		base.ClientCAs = roots
		base.VerifyConnection = func(cs tls.ConnectionState) error {
			ok := len(trustedCN) == 0
			for _, cn := range trustedCN {
				if len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName == cn {
					ok = true
				}
			}
			if !ok {
				return errors.New("amtsim: client certificate CN is not in TrustedCN")
			}
			return nil
		}
	}
	return base, nil
}

// verifyRemoteConfig applies the firmware rules to a remote-configuration
// client chain (leaf first). A non-nil error aborts the handshake with an
// alert.
func (d *Device) verifyRemoteConfig(sc *simConn, raw [][]byte) error {
	rec := HandshakeRecord{Time: d.now(), Remote: sc.RemoteAddr().String(), Mode: "remote configuration"}
	chain := make([]*x509.Certificate, 0, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			rec.Err = &RuleError{Rule: RuleChain, Cert: i, Expected: "DER X.509 certificates", Got: err.Error()}
			d.recordHandshake(rec)
			return rec.Err
		}
		chain = append(chain, c)
	}
	rec.Chain = chain
	d.mu.Lock()
	p := d.chainPolicyLocked()
	d.mu.Unlock()
	root, err := checkChain(chain, p)
	rec.RootHash, rec.Err = root, err
	d.recordHandshake(rec)
	if err != nil {
		d.debug("remote-configuration chain refused", remoteAttr(sc), errAttr(err))
		return err
	}
	sc.info.mu.Lock()
	sc.info.rcfg, sc.info.chain, sc.info.root = true, chain, root
	sc.info.mu.Unlock()
	return nil
}

// Start binds the listeners (the 16993 TLS role and the 16992 HTTP role) and
// serves until ctx ends or [Device.Close] is called.
func (d *Device) Start(ctx context.Context) error {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.started {
		return fmt.Errorf("%w: already started", ErrState)
	}
	ip := d.listenIP()
	tl, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(d.cfg.TLSPort)))
	if err != nil {
		return fmt.Errorf("amtsim: TLS listener: %w", err)
	}
	hl, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(d.cfg.HTTPPort)))
	if err != nil {
		_ = tl.Close()
		return fmt.Errorf("amtsim: HTTP listener: %w", err)
	}
	ll, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		_ = tl.Close()
		_ = hl.Close()
		return fmt.Errorf("amtsim: local TLS listener: %w", err)
	}
	d.started = true
	d.done = make(chan struct{})
	d.conns = map[*simConn]struct{}{}
	d.tlsLn = &simListener{Listener: tl, d: d, role: roleTLS}
	d.httpLn = &simListener{Listener: hl, d: d, role: roleHTTP}
	d.localLn = &simListener{Listener: ll, d: d, role: roleLocalTLS}
	for _, ln := range []*simListener{d.tlsLn, d.httpLn, d.localLn} {
		srv := &http.Server{
			Handler:           d,
			ConnContext:       connContext,
			ConnState:         connState,
			TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
			ErrorLog:          log.New(io.Discard, "", 0),
			ReadHeaderTimeout: time.Minute,
			IdleTimeout:       2 * time.Minute,
		}
		d.servers = append(d.servers, srv)
		d.wg.Add(1)
		go func(ln net.Listener) {
			defer d.wg.Done()
			_ = srv.Serve(ln)
		}(ln)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-ctx.Done():
			go d.Close()
		case <-d.done:
		}
	}()
	return nil
}

// Close stops the listeners and closes every connection. It is safe to call
// more than once.
func (d *Device) Close() error {
	d.netMu.Lock()
	if !d.started || d.closed {
		d.closed = true
		d.netMu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	servers := d.servers
	conns := make([]*simConn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.netMu.Unlock()
	for _, s := range servers {
		_ = s.Close()
	}
	for _, c := range conns {
		_ = c.Conn.Close()
	}
	d.wg.Wait()
	return nil
}

// TLSAddr returns the address of the 16993-role listener ("" before Start).
func (d *Device) TLSAddr() string {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.tlsLn == nil {
		return ""
	}
	return d.tlsLn.Addr().String()
}

// HTTPAddr returns the address of the 16992-role listener ("" before Start).
func (d *Device) HTTPAddr() string {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.httpLn == nil {
		return ""
	}
	return d.httpLn.Addr().String()
}

// TLSEndpoint returns https://<TLSAddr>/wsman.
func (d *Device) TLSEndpoint() string { return "https://" + d.TLSAddr() + "/wsman" }

// HTTPEndpoint returns http://<HTTPAddr>/wsman.
func (d *Device) HTTPEndpoint() string { return "http://" + d.HTTPAddr() + "/wsman" }

type ctxKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	var sc *simConn
	switch x := c.(type) {
	case *simConn:
		sc = x
	case interface{ NetConn() net.Conn }:
		sc, _ = x.NetConn().(*simConn)
	}
	if sc == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, sc)
}

func connFrom(ctx context.Context) *simConn {
	sc, _ := ctx.Value(ctxKey{}).(*simConn)
	return sc
}
