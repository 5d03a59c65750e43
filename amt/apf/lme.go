package apf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt/pthi"
)

// LMEConfig configures [OpenLME].
type LMEConfig struct {
	// Device is the MEI character device on Linux (default /dev/mei0); Windows
	// finds the HECI device interface itself.
	Device string
	// WriteTimeout bounds each MEI write (default pthi.DefaultMEITimeout).
	WriteTimeout time.Duration
	// Session tunes the APF session; its MaxMessageLength is lowered to the
	// LME client's.
	Session Config
}

// OpenLME connects to the LME client of the MEI ([pthi.ClientLME]) and starts
// an APF session over it. Errors from the MEI are pthi's: [pthi.ErrNoDevice],
// [pthi.ErrClientNotFound] (AMT absent or disabled), [pthi.ErrMEIUnsupported].
//
// Unverified on hardware: the LME's message sizes and the order of AMT's
// messages come from the public sources the package documentation names.
func OpenLME(ctx context.Context, cfg LMEConfig) (*Session, error) {
	conn, err := pthi.OpenMEIConn(ctx, pthi.MEIConfig{Device: cfg.Device, Client: pthi.ClientLME, Timeout: cfg.WriteTimeout})
	if err != nil {
		return nil, err
	}
	sc := cfg.Session
	if m := conn.MaxMessageLength(); sc.MaxMessageLength <= 0 || sc.MaxMessageLength > m {
		sc.MaxMessageLength = m
	}
	return NewSession(ctx, conn, sc)
}

// Dialer opens channels through one session and starts another when it ended
// (AMT resets the LME on firmware events; rpc-go reopens the MEI in the same
// case). Its DialContext has the shape wsman.WithDialer and net/http take. The
// zero value is not usable: set Open, or use [NewLMEDialer].
type Dialer struct {
	// Open starts a session. It is called on the first Dial and whenever the
	// current session has ended.
	Open func(ctx context.Context) (*Session, error)

	mu     sync.Mutex
	s      *Session
	closed bool
}

// NewLMEDialer returns a Dialer whose sessions run over the LME ([OpenLME]).
func NewLMEDialer(cfg LMEConfig) *Dialer {
	return &Dialer{Open: func(ctx context.Context) (*Session, error) { return OpenLME(ctx, cfg) }}
}

// Session returns the running session, starting one if there is none.
func (d *Dialer) Session(ctx context.Context) (*Session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrSessionClosed
	}
	if d.s != nil && d.s.Err() == nil {
		return d.s, nil
	}
	if d.Open == nil {
		return nil, errors.New("apf: Dialer without Open")
	}
	s, err := d.Open(ctx)
	if err != nil {
		return nil, err
	}
	d.s = s
	return s, nil
}

// DialContext opens a channel to AMT's port in addr (see [Session.Dial]). When
// the session ends while dialing, it starts a new one and tries once more.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if _, err := localPort(network, addr); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s, err := d.Session(ctx)
		if err != nil {
			return nil, err
		}
		c, err := s.Dial(ctx, network, addr)
		if err == nil || attempt == 1 || s.Err() == nil || ctx.Err() != nil {
			return c, err
		}
	}
}

// Close ends the current session; later Dials fail with ErrSessionClosed.
func (d *Dialer) Close() error {
	d.mu.Lock()
	s := d.s
	d.closed, d.s = true, nil
	d.mu.Unlock()
	if s != nil {
		return s.Close()
	}
	return nil
}

// Path is how an agent reaches its local AMT.
type Path string

// Paths.
const (
	// PathLMS: through Intel's LMS, which listens on 127.0.0.1:16992/16993.
	PathLMS Path = "LMS"
	// PathLME: through the LME client of the MEI, speaking APF ourselves.
	PathLME Path = "LME/APF"
)

// LocalConfig configures [ChooseLocal]. The zero value probes LMS on
// 127.0.0.1:16992 and 16993 and falls back to [OpenLME] with defaults.
type LocalConfig struct {
	// LMSHost is where LMS listens (default "127.0.0.1").
	LMSHost string
	// LMSPorts are probed in order (default 16992, 16993).
	LMSPorts []uint32
	// ProbeTimeout bounds each probe (default 1 s).
	ProbeTimeout time.Duration
	// ProbeDial dials the probes and, on the LMS path, the connections
	// (default a net.Dialer).
	ProbeDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OpenLME starts an LME session (default OpenLME with LME).
	OpenLME func(ctx context.Context) (*Session, error)
	// LME configures the default OpenLME.
	LME LMEConfig
	// Logger receives one Info record saying which path was chosen and why.
	Logger *slog.Logger
}

// Local is the chosen path to the local AMT. DialContext goes to AMT's port in
// addr by that path: a plain TCP connection to LMS, or an APF channel.
type Local struct {
	// Path is the path chosen.
	Path Path
	// Reason says why, e.g. "LMS answered on 127.0.0.1:16992" or "LMS did not
	// answer on 127.0.0.1:16992, 127.0.0.1:16993 (connection refused)".
	Reason string

	host   string
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	dialer *Dialer
}

// ChooseLocal picks how to reach the local AMT, as an agent should: LMS when
// it answers on one of its ports (an installed LMS owns the LME, so a second
// APF session beside it would compete with it), LME/APF over the MEI
// otherwise. On the LME path it opens the session at once, so a failure to
// reach AMT either way is reported here, with both reasons.
func ChooseLocal(ctx context.Context, cfg LocalConfig) (*Local, error) {
	if cfg.LMSHost == "" {
		cfg.LMSHost = "127.0.0.1"
	}
	if len(cfg.LMSPorts) == 0 {
		cfg.LMSPorts = []uint32{PortHTTP, PortHTTPS}
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = time.Second
	}
	if cfg.ProbeDial == nil {
		cfg.ProbeDial = (&net.Dialer{}).DialContext
	}
	if cfg.OpenLME == nil {
		lc := cfg.LME
		cfg.OpenLME = func(ctx context.Context) (*Session, error) { return OpenLME(ctx, lc) }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(discardHandler{})
	}
	var refused []string
	slow := ""
	for _, p := range cfg.LMSPorts {
		addr := net.JoinHostPort(cfg.LMSHost, strconv.FormatUint(uint64(p), 10))
		pctx, cancel := context.WithTimeout(ctx, cfg.ProbeTimeout)
		c, err := cfg.ProbeDial(pctx, "tcp", addr)
		cancel()
		if err == nil {
			_ = c.Close()
			l := &Local{Path: PathLMS, Reason: "LMS answered on " + addr, host: cfg.LMSHost, dial: cfg.ProbeDial}
			log.Info("local AMT path", "path", string(l.Path), "reason", l.Reason)
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		if slow == "" && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
			slow = addr
		}
		refused = append(refused, addr)
		if len(refused) == len(cfg.LMSPorts) {
			refused[len(refused)-1] += " (" + shortNetErr(err) + ")"
		}
	}
	if slow != "" {
		// A port nobody listens on refuses at once; one that times out has a
		// listener that is not accepting: LMS restarting its port stack. An
		// agent that fell back to the LME then would compete with it for the
		// MEI (device busy), as rpc-go did before pull request 1466, which
		// now waits for LMS instead (lmsUpButUnready).
		l := &Local{Path: PathLMS, Reason: "LMS did not accept on " + slow + " within " + cfg.ProbeTimeout.String() +
			" but the port is open (LMS restarting): not competing with it for the MEI", host: cfg.LMSHost, dial: cfg.ProbeDial}
		log.Info("local AMT path", "path", string(l.Path), "reason", l.Reason)
		return l, nil
	}
	reason := "LMS did not answer on " + strings.Join(refused, ", ")
	d := &Dialer{Open: cfg.OpenLME}
	if _, err := d.Session(ctx); err != nil {
		return nil, fmt.Errorf("apf: no path to the local AMT: %s; LME: %w", reason, err)
	}
	l := &Local{Path: PathLME, Reason: reason, dialer: d}
	log.Info("local AMT path", "path", string(l.Path), "reason", l.Reason)
	return l, nil
}

func shortNetErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// DialContext connects to AMT's port in addr by the chosen path. On the LMS
// path the host is LMS's (LocalConfig.LMSHost).
func (l *Local) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if l.dialer != nil {
		return l.dialer.DialContext(ctx, network, addr)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return l.dial(ctx, network, net.JoinHostPort(l.host, port))
}

// Endpoint returns the WS-Management endpoint to give wsman with this
// dialer: http://127.0.0.1:16992/wsman, or https://127.0.0.1:16993/wsman when
// tls is set.
func (l *Local) Endpoint(tls bool) string {
	if tls {
		return "https://127.0.0.1:16993/wsman"
	}
	return "http://127.0.0.1:16992/wsman"
}

// Session returns the APF session on the LME path (nil on the LMS path).
func (l *Local) Session(ctx context.Context) (*Session, error) {
	if l.dialer == nil {
		return nil, nil
	}
	return l.dialer.Session(ctx)
}

// Close ends the LME session, if any.
func (l *Local) Close() error {
	if l.dialer != nil {
		return l.dialer.Close()
	}
	return nil
}
