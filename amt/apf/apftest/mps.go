package apftest

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/oneline"
)

// MPSConfig configures a test [MPS].
type MPSConfig struct {
	// Certificate is the MPS's TLS server certificate chain (leaf first) and
	// key; the devices verify it against the root they were given.
	Certificate tls.Certificate
	// Username and Password are the credentials devices must present in
	// USERAUTH_REQUEST (password authentication). Empty Username: any user
	// with Password; zero Password: password authentication is refused.
	Username string
	Password amt.Secret
	// Lookup, when set, gives the credentials of the device with the UUID
	// it sent in PROTOCOL_VERSION (per-device passwords: an MPS of amtkit's
	// looks up the device's record, DeviceRecord.MPSUser and MPSPassword);
	// ok false refuses the device. It replaces Username and Password.
	Lookup func(uuid amt.UUID) (user string, password amt.Secret, ok bool)
	// ClientCAs, when set, makes the MPS require a client certificate issued
	// under them (AddMpServer's mutual authentication).
	ClientCAs *x509.CertPool
	// Now is the clock client certificates are verified at (a test that
	// moves its provisioner's clock moves the MPS's with it). Nil:
	// time.Now.
	Now func() time.Time
	// KeepAlive, when non-zero, is the interval (seconds) the MPS asks for in
	// a KEEPALIVE_OPTIONS_REQUEST once the device forwarded port 5900 (the
	// last of its forwards), as MeshCentral's MPS asks for 30 s.
	KeepAlive uint32
	// Session tunes the APF host side serving each device (apf.Config).
	Session apf.Config
	// Logger receives one record per event. Nil: none.
	Logger *slog.Logger
}

// MPS is a small Management Presence Server for tests: a TLS listener on
// loopback that accepts CIRA connections from (simulated) AMT devices, checks
// what each presents — its TLS client certificate when mutual authentication
// is configured, the protocol version and system UUID, the APF user name and
// password — and serves the APF host side over each accepted tunnel with an
// [apf.Session] on an [apf.StreamTransport], so that a test can open channels
// to the ports the device forwarded (and speak WS-Management through them).
// Every message either way is logged ([MPS.Log]); passwords never are.
type MPS struct {
	cfg MPSConfig
	ln  net.Listener
	log *slog.Logger

	conns chan *MPSConn
	done  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	events []string
	closed bool
	all    []*MPSConn
}

// MPSConn is one device's accepted tunnel.
type MPSConn struct {
	// Session is the APF host side over the tunnel: DialPort opens channels.
	Session *apf.Session
	// Peer is the device's PROTOCOL_VERSION (its APF version, the trigger
	// and the system UUID).
	Peer apf.ProtocolVersion
	// User is the user name the device authenticated with ("" with mutual
	// TLS).
	User string
	// TLS is the tunnel's TLS state (the device's client chain, if any).
	TLS tls.ConnectionState

	tr        *mpsTransport
	keepalive chan uint32
}

// StartMPS listens on 127.0.0.1 (an ephemeral port) and serves until Close.
func StartMPS(cfg MPSConfig) (*MPS, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &MPS{cfg: cfg, ln: ln, log: log, conns: make(chan *MPSConn, 16), done: make(chan struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr is the listener's address (127.0.0.1:port).
func (m *MPS) Addr() string { return m.ln.Addr().String() }

// Port is the listener's port.
func (m *MPS) Port() uint16 { return uint16(m.ln.Addr().(*net.TCPAddr).Port) }

// Log returns the MPS's newest events (at most 1024; older ones are
// dropped), one line each, oldest first. Text a device chose is escaped as in
// a Go quoted string (a line break reads \n), so a test that looks for a
// device's name containing such characters must look for its escaped form.
func (m *MPS) Log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.events...)
}

// maxEvents bounds the events [MPS.Log] keeps: the newest ones.
const maxEvents = 1024

// event records one line. Its text may hold what a device chose (a service
// or user name, a forward's address, a channel type): line breaks and other
// control characters are escaped, so that a device cannot add lines of its
// own; and only the newest maxEvents are kept, so that a device sending
// keep-alives for ever does not grow the MPS (found by review).
func (m *MPS) event(format string, args ...any) {
	s := oneline.Escape(fmt.Sprintf(format, args...))
	m.mu.Lock()
	if len(m.events) >= maxEvents {
		m.events = slices.Delete(m.events, 0, len(m.events)-maxEvents+1)
	}
	m.events = append(m.events, s)
	m.mu.Unlock()
	m.log.Debug("mps: " + s)
}

// Accept returns the next device whose tunnel came up (TLS, APF version,
// authentication, port forwarding), or ctx's error.
func (m *MPS) Accept(ctx context.Context) (*MPSConn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close stops the listener and ends every tunnel.
func (m *MPS) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	all := slices.Clone(m.all) // the forgetting goroutines edit m.all in place
	m.mu.Unlock()
	close(m.done)
	err := m.ln.Close()
	for _, c := range all {
		_ = c.Session.Close()
	}
	m.wg.Wait()
	return err
}

func (m *MPS) acceptLoop() {
	defer m.wg.Done()
	for {
		raw, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.serve(raw)
		}()
	}
}

// serve runs one device's TLS handshake and APF session.
func (m *MPS) serve(raw net.Conn) {
	cfg := &tls.Config{Certificates: []tls.Certificate{m.cfg.Certificate}, MinVersion: tls.VersionTLS12}
	if m.cfg.ClientCAs != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, m.cfg.ClientCAs
	}
	cfg.Time = m.cfg.Now
	tc := tls.Server(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		m.event("tls from %s refused: %v", raw.RemoteAddr(), err)
		_ = raw.Close()
		return
	}
	cs := tc.ConnectionState()
	client := "no client certificate"
	if len(cs.PeerCertificates) > 0 {
		client = fmt.Sprintf("client certificate %q verified", cs.PeerCertificates[0].Subject.CommonName)
	}
	m.event("tls from %s: %s, %s", raw.RemoteAddr(), tls.VersionName(cs.Version), client)
	c := &MPSConn{TLS: cs, keepalive: make(chan uint32, 8)}
	c.tr = &mpsTransport{StreamTransport: apf.NewStreamTransport(tc, 0), m: m, c: c}
	scfg := m.cfg.Session
	if scfg.MaxMessageLength == 0 {
		scfg.MaxMessageLength = 16 << 10
	}
	if scfg.HandshakeTimeout == 0 {
		scfg.HandshakeTimeout = 30 * time.Second
	}
	if scfg.IdleTimeout == 0 && m.cfg.KeepAlive > 0 {
		// Three keep-alive intervals, as MeshCentral's and Open AMT's MPS.
		scfg.IdleTimeout = 3 * time.Duration(m.cfg.KeepAlive) * time.Second
	}
	// The session checks the credentials (and so refuses the port-forwarding
	// service before they were good); a verified client certificate is
	// authentication enough.
	scfg.Authenticate = c.tr.authenticate
	scfg.PreAuthenticated = m.cfg.ClientCAs != nil
	s, err := apf.NewSession(ctx, c.tr, scfg)
	if err != nil {
		m.event("apf session with %s failed: %v", raw.RemoteAddr(), err)
		return
	}
	c.Session, c.Peer = s, s.Peer()
	c.tr.mu.Lock()
	if c.tr.authErr != nil {
		err = c.tr.authErr
	} else if !c.tr.authed && m.cfg.ClientCAs == nil {
		err = errors.New("the device forwarded ports without authenticating")
	}
	c.User = c.tr.user
	c.tr.mu.Unlock()
	if err != nil {
		m.event("refused %s: %v", raw.RemoteAddr(), err)
		_ = s.Close()
		return
	}
	m.event("tunnel up: device %s, APF %d.%d, trigger %d, forwarding %v", c.Peer.UUID, c.Peer.Major, c.Peer.Minor, c.Peer.Trigger, s.Ports())
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = s.Close()
		return
	}
	m.all = append(m.all, c)
	m.mu.Unlock()
	// An ended tunnel is forgotten: a device that connects and hangs up in a
	// loop must not grow the list.
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		<-s.Done()
		m.mu.Lock()
		m.all = slices.DeleteFunc(m.all, func(x *MPSConn) bool { return x == c })
		m.mu.Unlock()
	}()
	select {
	case m.conns <- c:
	default:
		m.event("accept queue full: tunnel from %s dropped", raw.RemoteAddr())
		_ = s.Close()
	}
}

// KeepAlive sends KEEPALIVE_REQUEST with cookie and waits for the device's
// KEEPALIVE_REPLY with the same cookie.
func (c *MPSConn) KeepAlive(ctx context.Context, cookie uint32) error {
	b, err := apf.Encode(apf.KeepAliveRequest{Cookie: cookie})
	if err != nil {
		return err
	}
	if err := c.tr.WriteMessage(ctx, b); err != nil {
		return err
	}
	for {
		select {
		case got := <-c.keepalive:
			if got == cookie {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Session.Done():
			return c.Session.Err()
		}
	}
}

// DeviceKeepAlives returns a channel that receives the cookie of every
// KEEPALIVE_REQUEST the device sends.
func (c *MPSConn) DeviceKeepAlives() <-chan uint32 { return c.tr.deviceKA() }

// mpsTransport is the MPS's transport: it logs every message, checks the
// device's credentials for the session (Config.Authenticate) and asks for
// keep-alives.
type mpsTransport struct {
	*apf.StreamTransport
	m *MPS
	c *MPSConn

	mu      sync.Mutex
	authed  bool
	user    string
	authErr error
	dka     chan uint32
}

func (t *mpsTransport) deviceKA() chan uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dka == nil {
		t.dka = make(chan uint32, 64)
	}
	return t.dka
}

func (t *mpsTransport) ReadMessage(ctx context.Context) ([]byte, error) {
	b, err := t.StreamTransport.ReadMessage(ctx)
	if err != nil {
		return nil, err
	}
	msg, err := apf.Decode(b)
	if err != nil {
		return b, nil // the session refuses it as a protocol error
	}
	t.m.event("<- %s", describe(msg))
	switch msg := msg.(type) {
	case apf.KeepAliveReply:
		select {
		case t.c.keepalive <- msg.Cookie:
		default:
		}
	case apf.KeepAliveRequest:
		select {
		case t.deviceKA() <- msg.Cookie:
		default:
		}
	}
	return b, nil
}

// authenticate is the session's Config.Authenticate: the device's
// credentials against the configured ones (or Lookup's for the UUID the
// session holds, which it never lets change).
func (t *mpsTransport) authenticate(peer apf.ProtocolVersion, r apf.UserAuthRequest) error {
	if ok, why := t.check(peer.UUID, r); !ok {
		t.mu.Lock()
		t.authErr = errors.New(why)
		t.mu.Unlock()
		t.m.event("   %s", why)
		return t.authErr
	}
	t.mu.Lock()
	t.authed, t.user, t.authErr = true, r.User, nil
	t.mu.Unlock()
	return nil
}

// check compares the device's credentials with the configured ones, in
// constant time.
func (t *mpsTransport) check(peer amt.UUID, r apf.UserAuthRequest) (bool, string) {
	cfg := &t.m.cfg
	wantUser, wantPass := cfg.Username, cfg.Password
	if cfg.Lookup != nil {
		u, pw, ok := cfg.Lookup(peer)
		if !ok {
			return false, fmt.Sprintf("unknown device %s", peer)
		}
		wantUser, wantPass = u, pw
	}
	switch {
	case r.Method != apf.MethodPassword:
		return false, fmt.Sprintf("refused method %q", r.Method)
	case r.Service != apf.ServicePortForwarding:
		return false, fmt.Sprintf("refused service %q", r.Service)
	case wantPass.IsZero():
		return false, "password authentication is not accepted"
	case wantUser != "" && subtle.ConstantTimeCompare([]byte(r.User), []byte(wantUser)) != 1:
		return false, fmt.Sprintf("unknown user %q", r.User)
	case !r.Password.Equal(wantPass):
		return false, fmt.Sprintf("wrong password for user %q", r.User)
	}
	return true, ""
}

func (t *mpsTransport) WriteMessage(ctx context.Context, b []byte) error {
	msg, derr := apf.Decode(b)
	if derr == nil {
		t.m.event("-> %s", describe(msg))
	}
	if err := t.StreamTransport.WriteMessage(ctx, b); err != nil {
		return err
	}
	// Once the device's last forward (5900) is answered, ask for keep-alives:
	// MeshCentral's mpsserver.js and Open AMT's APFProcessor.ts send
	// KEEPALIVE_OPTIONS_REQUEST after that REQUEST_SUCCESS, never before.
	if rs, ok := msg.(apf.RequestSuccess); derr == nil && ok && t.m.cfg.KeepAlive > 0 {
		if p, ok := rs.Port(); ok && p == 5900 {
			opts, err := apf.Encode(apf.KeepAliveOptionsRequest{Interval: t.m.cfg.KeepAlive})
			if err != nil {
				return err
			}
			t.m.event("-> %s", describe(apf.KeepAliveOptionsRequest{Interval: t.m.cfg.KeepAlive}))
			return t.StreamTransport.WriteMessage(ctx, opts)
		}
	}
	return nil
}

// describe renders a message for the log (never data or passwords).
func describe(m apf.Message) string {
	switch m := m.(type) {
	case apf.ProtocolVersion:
		return fmt.Sprintf("PROTOCOL_VERSION %d.%d trigger %d uuid %s", m.Major, m.Minor, m.Trigger, m.UUID)
	case apf.ServiceRequest:
		return "SERVICE_REQUEST " + m.Service
	case apf.ServiceAccept:
		return "SERVICE_ACCEPT " + m.Service
	case apf.UserAuthRequest:
		pw := "no password"
		if !m.Password.IsZero() {
			pw = fmt.Sprintf("a password of %d characters", m.Password.Len())
		}
		return fmt.Sprintf("USERAUTH_REQUEST user %q service %s method %s with %s", m.User, m.Service, m.Method, pw)
	case apf.UserAuthFailure:
		return "USERAUTH_FAILURE (continue with " + m.Methods + ")"
	case apf.GlobalRequest:
		if m.Name == apf.RequestTCPForward || m.Name == apf.RequestCancelTCPForward {
			return fmt.Sprintf("GLOBAL_REQUEST %s %s:%d", m.Name, m.Address, m.Port)
		}
		return "GLOBAL_REQUEST " + m.Name
	case apf.RequestSuccess:
		if p, ok := m.Port(); ok {
			return fmt.Sprintf("REQUEST_SUCCESS port %d", p)
		}
		return "REQUEST_SUCCESS"
	case apf.ChannelOpen:
		return fmt.Sprintf("CHANNEL_OPEN %s #%d to %s:%d window %d", m.ChannelType, m.Sender, m.Address, m.Port, m.Window)
	case apf.ChannelOpenConfirmation:
		return fmt.Sprintf("CHANNEL_OPEN_CONFIRMATION #%d→#%d window %d", m.Recipient, m.Sender, m.Window)
	case apf.ChannelOpenFailure:
		return fmt.Sprintf("CHANNEL_OPEN_FAILURE #%d: %v", m.Recipient, m.Reason)
	case apf.ChannelData:
		return fmt.Sprintf("CHANNEL_DATA #%d %d bytes", m.Recipient, len(m.Data))
	case apf.WindowAdjust:
		return fmt.Sprintf("CHANNEL_WINDOW_ADJUST #%d +%d", m.Recipient, m.Bytes)
	case apf.ChannelClose:
		return fmt.Sprintf("CHANNEL_CLOSE #%d", m.Recipient)
	case apf.KeepAliveRequest:
		return fmt.Sprintf("KEEPALIVE_REQUEST %d", m.Cookie)
	case apf.KeepAliveReply:
		return fmt.Sprintf("KEEPALIVE_REPLY %d", m.Cookie)
	case apf.KeepAliveOptionsRequest:
		return fmt.Sprintf("KEEPALIVE_OPTIONS_REQUEST interval %ds timeout %ds", m.Interval, m.Timeout)
	case apf.KeepAliveOptionsReply:
		return fmt.Sprintf("KEEPALIVE_OPTIONS_REPLY interval %ds timeout %ds", m.Interval, m.Timeout)
	case apf.Disconnect:
		return "DISCONNECT " + m.Reason.String()
	}
	return m.Type().String()
}

// NewMPSCertificate issues a TLS server certificate for name — a DNS name, or
// an IP address — under ca with an RSA-2048 key from keys (AMT 12 refused a
// 3072-bit MPS key: device-management-toolkit/deployment issue 165), and
// returns it with ca's chain below its root, as an MPS presents it. A nil
// keys means a new pool, as in certstest's options.
func NewMPSCertificate(ca *certstest.CA, keys *certstest.KeyPool, name string) (tls.Certificate, error) {
	if keys == nil {
		keys = certstest.NewKeyPool()
	}
	key, err := keys.Cycle(2048)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	chain, err := ca.Issue(context.Background(), tmpl, key.Public())
	if err != nil {
		return tls.Certificate{}, err
	}
	out := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain[:len(chain)-1] {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}
