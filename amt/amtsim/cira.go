package amtsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/internal/oneline"
)

// The device's outgoing CIRA connection. Once provisioned and configured —
// an MPS (AddMpServer), a periodic remote-access policy linked to it, and an
// environment in which the link applies — the device opens a TLS connection
// to the MPS, verifying the MPS's certificate against the trusted roots in its
// store (AddTrustedRootCertificate) and the MPS's name (AccessInfo, or the CN
// given for an IP address), and speaks APF as firmware does to an MPS:
//
//  1. PROTOCOL_VERSION 1.0 with the trigger and the system UUID;
//  2. SERVICE_REQUEST "auth@amt.intel.com", then USERAUTH_REQUEST with the
//     MPS user name and password (password authentication) for the service
//     "pfwd@amt.intel.com";
//  3. SERVICE_REQUEST "pfwd@amt.intel.com";
//  4. one tcpip-forward GLOBAL_REQUEST per port, each waiting for its reply,
//     in the order MeshCentral's MPS documents (mpsserver.js: 16993, 16992,
//     664, 623, 16995, 16994, 5900; 16992 only where the non-TLS port is open);
//  5. then it answers keep-alives, sends its own at the interval the MPS asks
//     for (KEEPALIVE_OPTIONS_REQUEST; MeshCentral asks 30 s), and connects
//     the channels the MPS opens to 16992 and 16993 to its own listeners, with
//     APF flow control; channels to the other ports are refused (not
//     simulated).
//
// Sources: MeshCentral mpsserver.js (the MPS's parser of what firmware sends),
// go-wsman-messages pkg/apf (the MPS of Intel's toolkit), intel/lms
// LMS_if.h (the messages); the Intel AMT SDK (remote access policies,
// environment detection, MPS credentials). When the tunnel drops, a periodic
// policy reconnects after its interval (or at its daily time); a user-initiated
// connection ([Device.CIRAUserInitiated]) replaces it for its TunnelLifeTime.
// The simulator's choices where no source says: no keep-alives until the MPS
// asks for them; with mutual authentication no USERAUTH_REQUEST is sent (the
// TLS client certificate authenticates); the tcpip-forward address is the
// device's FQDN.

// CIRAEvent is one step of the device's CIRA activity, for tests and logs.
// Details never hold the MPS password.
type CIRAEvent struct {
	Time time.Time
	// Step: "dial", "tls", "protocol", "auth", "forward", "connected",
	// "keepalive", "channel", "closed" or "idle".
	Step string
	// MPS is the address dialled ("" for idle).
	MPS    string
	Detail string
	Err    error
}

// String renders the event on one line: the control characters of its text,
// which may hold what the MPS chose (a channel type, say), are escaped as Go
// escapes them in a quoted string.
func (e CIRAEvent) String() string {
	s := e.Step
	if e.MPS != "" {
		s += " " + e.MPS
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return oneline.Escape(s)
}

const (
	maxCIRAEvents   = 256
	ciraDialTimeout = 30 * time.Second
	ciraHandshake   = 30 * time.Second
	ciraWindow      = 4096 // the device's receive window per channel
	ciraMaxData     = 4096 // the most data in one CHANNEL_DATA the device sends
	ciraMaxChannels = 8
)

// ciraForwardOrder is the order of the tcpip-forward requests (MeshCentral
// mpsserver.js comment).
var ciraForwardOrder = []uint32{16993, 16992, 664, 623, 16995, 16994, 5900}

// ErrCIRA is returned by [Device.CIRAUserInitiated] when the device cannot
// open a user-initiated connection (not provisioned, no such policy, the
// service disabled, no MPS that applies) or the connection failed.
var ErrCIRA = errors.New("amtsim: CIRA connection not possible")

// ciraRuntime is the device's CIRA machinery: the supervisor goroutine
// (started by the first configuration change after Start), the tunnel when
// one is up, and the event log.
type ciraRuntime struct {
	mu      sync.Mutex
	running bool
	kick    chan struct{}
	user    chan chan error
	tunnel  *ciraTunnel
	events  []CIRAEvent
	idleWhy string
}

// ciraKick tells the supervisor that the configuration changed, starting it
// if the device listens.
func (d *Device) ciraKick() {
	c := &d.cira
	c.mu.Lock()
	if c.kick == nil {
		c.kick = make(chan struct{}, 1)
		c.user = make(chan chan error, 1)
	}
	start := false
	if !c.running {
		d.netMu.Lock()
		if d.started && !d.closed {
			d.wg.Add(1)
			c.running, start = true, true
		}
		d.netMu.Unlock()
	}
	kick := c.kick
	c.mu.Unlock()
	select {
	case kick <- struct{}{}:
	default:
	}
	if start {
		go d.ciraSupervise()
	}
}

func (d *Device) ciraEvent(e CIRAEvent) {
	e.Time = d.now()
	c := &d.cira
	c.mu.Lock()
	if len(c.events) >= maxCIRAEvents {
		c.events = slices.Delete(c.events, 0, 1)
	}
	c.events = append(c.events, e)
	c.mu.Unlock()
	attrs := []slog.Attr{slog.String("step", e.Step), slog.String("mps", e.MPS), slog.String("detail", e.Detail)}
	if e.Err != nil {
		attrs = append(attrs, errAttr(e.Err))
	}
	d.debug("cira", attrs...)
}

// CIRAEvents returns what the device's CIRA connection did, oldest first (the
// last 256 events).
func (d *Device) CIRAEvents() []CIRAEvent {
	d.cira.mu.Lock()
	defer d.cira.mu.Unlock()
	return slices.Clone(d.cira.events)
}

// CIRAConnected reports whether a CIRA tunnel is up (AMT_RemoteAccessService
// IsRemoteTunnelConnected).
func (d *Device) CIRAConnected() bool {
	ok, _ := d.ciraStatus()
	return ok
}

// ciraStatus returns whether the tunnel is up and its keep-alive interval.
func (d *Device) ciraStatus() (bool, uint32) {
	d.cira.mu.Lock()
	defer d.cira.mu.Unlock()
	if t := d.cira.tunnel; t != nil && t.up() {
		return true, t.keepAliveInterval()
	}
	return false, 0
}

// ciraCloseTunnel closes the tunnel (CloseRemoteAccessConnection); a periodic
// policy reconnects after its interval.
func (d *Device) ciraCloseTunnel() {
	d.cira.mu.Lock()
	t := d.cira.tunnel
	d.cira.mu.Unlock()
	if t != nil {
		t.close(errors.New("closed by CloseRemoteAccessConnection"))
	}
}

// CIRAUserInitiated is the user asking for help (Intel's "Fast Call for
// Help", from the OS): it opens a user-initiated tunnel when the
// User Initiated Connection Service allows it from the OS (32770 or 32771)
// and a user-initiated policy names an MPS that applies, replacing a periodic
// tunnel for the policy's TunnelLifeTime. It returns once the tunnel is up
// (nil) or failed ([ErrCIRA]).
func (d *Device) CIRAUserInitiated(ctx context.Context) error {
	d.mu.Lock()
	uic := d.st.ra.uic
	d.mu.Unlock()
	if uic != 32770 && uic != uicBIOSAndOS {
		return fmt.Errorf("%w: the user-initiated connection service is %s", ErrCIRA, amt.UserInitiatedState(uic))
	}
	d.ciraKick()
	d.cira.mu.Lock()
	req, running := d.cira.user, d.cira.running
	d.cira.mu.Unlock()
	if !running {
		return fmt.Errorf("%w: the device is not started", ErrCIRA)
	}
	done := make(chan error, 1)
	select {
	case req <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ciraPlan is what the supervisor connects to.
type ciraPlan struct {
	trigger  apf.TriggerReason
	servers  []mpsEntry // in OrderOfAccess
	lifetime time.Duration
	periodic amt.Periodic
	// rule is the policy the tunnel runs under (compared, never read,
	// outside d.mu): a policy deleted and added again is another one.
	rule *ruleEntry
}

// ciraPlanLocked returns the tunnel the configuration asks for with the given
// policy trigger, or nil and why not. d.mu held.
func (d *Device) ciraPlanLocked(trigger amt.RemoteAccessTrigger) (*ciraPlan, string) {
	st := &d.st
	if st.prov != amt.PostProvisioning {
		return nil, "not provisioned"
	}
	r := st.ra.rule(uint8(trigger))
	if r == nil {
		return nil, "no " + trigger.String() + " remote access policy"
	}
	env := &amt.EnvironmentDetectionSettingData{DetectionStrings: st.ra.env}
	inside := env.Inside(d.cfg.DHCPDNSSuffix)
	links := slices.Clone(r.links)
	slices.SortStableFunc(links, func(a, b policyLink) int { return int(a.order) - int(b.order) })
	p := &ciraPlan{lifetime: time.Duration(r.lifetime) * time.Second, rule: r}
	switch trigger {
	case amt.TriggerPeriodic:
		p.trigger, p.periodic = apf.TriggerPeriodic, periodicOf(r.ext)
	case amt.TriggerUserInitiated:
		p.trigger = apf.TriggerUserInitiated
	default:
		p.trigger = apf.TriggerAlert
	}
	for _, l := range links {
		m := st.ra.mpsByHandle(l.mps)
		if m == nil {
			continue
		}
		// MpsType: 0 external (used outside the home network), 1 internal,
		// 2 both (RPS sets both).
		if (l.mpsType == 0 && inside) || (l.mpsType == 1 && !inside) {
			continue
		}
		p.servers = append(p.servers, *m)
	}
	if len(p.servers) == 0 {
		where := "outside"
		if inside {
			where = "inside (DHCP suffix " + d.cfg.DHCPDNSSuffix + " is a home domain)"
		}
		return nil, "the device is " + where + " and no MPS of the " + trigger.String() + " policy applies there"
	}
	return p, ""
}

// ciraSupervise opens and reopens the tunnel the configuration asks for.
func (d *Device) ciraSupervise() {
	defer d.wg.Done()
	defer func() {
		d.cira.mu.Lock()
		d.cira.running = false
		d.cira.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-d.done
		cancel()
	}()
	d.cira.mu.Lock()
	kick, user := d.cira.kick, d.cira.user
	d.cira.mu.Unlock()
	var pending chan error // a user-initiated request being served
	for ctx.Err() == nil {
		trigger := amt.TriggerPeriodic
		if pending != nil {
			trigger = amt.TriggerUserInitiated
		}
		d.mu.Lock()
		plan, why := d.ciraPlanLocked(trigger)
		d.mu.Unlock()
		if plan == nil {
			if pending != nil {
				pending <- fmt.Errorf("%w: %s", ErrCIRA, why)
				pending = nil
				continue
			}
			d.ciraIdle(why)
			select {
			case <-kick:
			case pending = <-user:
			case <-ctx.Done():
			}
			continue
		}
		d.ciraIdle("")
		err, replan := d.ciraRun(ctx, plan, kick, user, &pending)
		if pending != nil && plan.trigger == apf.TriggerUserInitiated {
			pending <- fmt.Errorf("%w: %w", ErrCIRA, err)
			pending = nil
		}
		if ctx.Err() != nil {
			return
		}
		if plan.trigger == apf.TriggerUserInitiated || pending != nil || replan {
			continue
		}
		// A periodic policy connects again after its interval, or at its
		// daily time; a change of configuration or a user request wakes it.
		wait := time.Duration(plan.periodic.Interval) * time.Second
		if plan.periodic.Daily {
			now := d.clock()
			next := time.Date(now.Year(), now.Month(), now.Day(), int(plan.periodic.Hour), int(plan.periodic.Minute), 0, 0, now.Location())
			if !next.After(now) {
				next = next.AddDate(0, 0, 1)
			}
			wait = next.Sub(now)
		}
		wctx, wcancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-kick:
			case pending = <-user:
			case <-wctx.Done():
				return
			}
			wcancel()
		}()
		_ = d.sleep(wctx, wait)
		wcancel()
	}
}

// ciraIdle records once why no tunnel is wanted.
func (d *Device) ciraIdle(why string) {
	d.cira.mu.Lock()
	same := d.cira.idleWhy == why
	d.cira.idleWhy = why
	d.cira.mu.Unlock()
	if !same && why != "" {
		d.ciraEvent(CIRAEvent{Step: "idle", Detail: why})
	}
}

// ciraRun connects to the plan's MPSs in order (primary, then backup) and
// serves the first tunnel that comes up until it ends, the configuration no
// longer asks for it (replan), or a user-initiated request replaces it.
func (d *Device) ciraRun(ctx context.Context, p *ciraPlan, kick chan struct{}, user chan chan error, pending *chan error) (err error, replan bool) {
	var last error
	for _, m := range p.servers {
		t, err := d.ciraConnect(ctx, p, m)
		if err != nil {
			last = err
			continue
		}
		if *pending != nil && p.trigger == apf.TriggerUserInitiated {
			(*pending) <- nil
			*pending = nil
		}
		var life <-chan time.Time
		if p.lifetime > 0 {
			timer := time.NewTimer(p.lifetime)
			defer timer.Stop()
			life = timer.C
		}
	serve:
		for {
			select {
			case <-t.done:
				break serve
			case <-ctx.Done():
				t.close(ctx.Err())
			case <-life:
				t.close(fmt.Errorf("tunnel lifetime of %v reached", p.lifetime))
			case <-kick:
				trigger := amt.TriggerPeriodic
				if p.trigger == apf.TriggerUserInitiated {
					trigger = amt.TriggerUserInitiated
				}
				d.mu.Lock()
				np, why := d.ciraPlanLocked(trigger)
				d.mu.Unlock()
				// The tunnel ends when its policy was deleted — even if one of
				// the same trigger was added again before the device looked:
				// the outcome does not depend on when it looks — or when its
				// MPS no longer applies.
				if np == nil || np.rule != p.rule || !slices.ContainsFunc(np.servers, func(x mpsEntry) bool { return x.handle == m.handle }) {
					switch {
					case why != "":
					case np != nil && np.rule != p.rule:
						why = "its " + trigger.String() + " policy was replaced"
					default:
						why = "the MPS no longer applies"
					}
					replan = true
					t.close(errors.New(why))
				}
			case req := <-user:
				if p.trigger == apf.TriggerUserInitiated {
					req <- nil // already up
					continue
				}
				d.mu.Lock()
				up, why := d.ciraPlanLocked(amt.TriggerUserInitiated)
				d.mu.Unlock()
				if up == nil {
					req <- fmt.Errorf("%w: %s", ErrCIRA, why) // the periodic tunnel stays
					continue
				}
				*pending = req
				t.close(errors.New("replaced by a user-initiated connection"))
			}
		}
		d.cira.mu.Lock()
		d.cira.tunnel = nil
		d.cira.mu.Unlock()
		d.ciraEvent(CIRAEvent{Step: "closed", MPS: t.addr, Err: t.err()})
		return t.err(), replan
	}
	return last, false
}

// ciraConnect dials an MPS and runs the TLS and APF handshakes.
func (d *Device) ciraConnect(ctx context.Context, p *ciraPlan, m mpsEntry) (*ciraTunnel, error) {
	addr := net.JoinHostPort(m.accessInfo, strconv.Itoa(int(m.port)))
	fail := func(step string, err error) (*ciraTunnel, error) {
		d.ciraEvent(CIRAEvent{Step: step, MPS: addr, Err: err})
		return nil, err
	}
	d.ciraEvent(CIRAEvent{Step: "dial", MPS: addr, Detail: fmt.Sprintf("%s policy, %s authentication", amt.RemoteAccessTrigger(triggerOf(p.trigger)), amt.MPSAuthMethod(m.auth))})
	dctx, cancel := context.WithTimeout(ctx, ciraDialTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return fail("dial", err)
	}
	cfg, err := d.ciraTLSConfig(m)
	if err != nil {
		_ = raw.Close()
		return fail("tls", err)
	}
	tc := tls.Client(raw, cfg)
	hctx, hcancel := context.WithTimeout(ctx, ciraHandshake)
	defer hcancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		return fail("tls", err)
	}
	cs := tc.ConnectionState()
	d.ciraEvent(CIRAEvent{Step: "tls", MPS: addr, Detail: fmt.Sprintf("%s, MPS certificate %q verified for %s against the device's trusted roots",
		tls.VersionName(cs.Version), cs.PeerCertificates[0].Subject.CommonName, cfg.ServerName)})
	t := &ciraTunnel{d: d, addr: addr, st: apf.NewStreamTransport(tc, 0), chans: map[uint32]*ciraChan{}, done: make(chan struct{})}
	if err := t.handshake(hctx, p, m); err != nil {
		t.close(err)
		return fail("protocol", err)
	}
	t.setUp()
	// Connected (IsRemoteTunnelConnected) before the first channel is
	// served: an MPS that managed the device through the tunnel must not
	// then read it disconnected.
	d.cira.mu.Lock()
	d.cira.tunnel = t
	d.cira.mu.Unlock()
	d.ciraEvent(CIRAEvent{Step: "connected", MPS: addr, Detail: fmt.Sprintf("forwarding ports %v", t.portList())})
	go t.readLoop()
	return t, nil
}

func triggerOf(r apf.TriggerReason) amt.RemoteAccessTrigger {
	switch r {
	case apf.TriggerUserInitiated:
		return amt.TriggerUserInitiated
	case apf.TriggerAlert:
		return amt.TriggerAlert
	}
	return amt.TriggerPeriodic
}

// ciraTLSConfig is the device's TLS client configuration for an MPS: the
// trusted roots of its store, the MPS's name, the platform's TLS versions and
// suites, and — with mutual authentication — the MPS's client certificate.
func (d *Device) ciraTLSConfig(m mpsEntry) (*tls.Config, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	roots := x509.NewCertPool()
	n := 0
	for _, c := range d.st.certs {
		if c.trustedRoot {
			roots.AddCert(c.cert)
			n++
		}
	}
	if n == 0 {
		return nil, errors.New("no trusted root certificate to verify the MPS by")
	}
	name := m.accessInfo
	if m.format != 201 && m.cn != "" {
		name = m.cn // "A common name used when AccessInfo is an IP address"
	}
	cfg := &tls.Config{
		RootCAs: roots, ServerName: name,
		MinVersion: d.plat.minTLS, MaxVersion: d.plat.maxTLS, CipherSuites: d.plat.suites,
		Rand: d.rand, Time: d.clock,
	}
	if m.auth == 1 {
		ce := d.certByID(certIDPrefix + strconv.Itoa(m.cert))
		if ce == nil {
			return nil, errors.New("the MPS's client certificate is gone")
		}
		k := d.keyFor(ce.cert)
		if k == nil {
			return nil, errors.New("the key of the MPS's client certificate is gone")
		}
		cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{ce.cert.Raw}, PrivateKey: k.key, Leaf: ce.cert}}
	}
	return cfg, nil
}

// ciraTunnel is one CIRA connection.
type ciraTunnel struct {
	d    *Device
	addr string
	st   *apf.StreamTransport

	mu        sync.Mutex
	isUp      bool
	ports     []uint32
	keepAlive uint32
	// kaLoop: the keep-alive loop runs (one per tunnel); kaCookie is the
	// last cookie it sent.
	kaLoop   bool
	kaCookie uint32
	chans    map[uint32]*ciraChan
	nextID   uint32
	failure  error
	done     chan struct{}
	once     sync.Once
}

func (t *ciraTunnel) up() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.isUp
}

func (t *ciraTunnel) setUp() {
	t.mu.Lock()
	t.isUp = true
	t.mu.Unlock()
}

func (t *ciraTunnel) keepAliveInterval() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.keepAlive
}

func (t *ciraTunnel) portList() []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ports)
}

func (t *ciraTunnel) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failure
}

// close ends the tunnel (the first reason is kept) and every channel.
func (t *ciraTunnel) close(why error) {
	t.once.Do(func() {
		t.mu.Lock()
		t.failure, t.isUp = why, false
		chans := make([]*ciraChan, 0, len(t.chans))
		for _, c := range t.chans {
			chans = append(chans, c)
		}
		t.chans = map[uint32]*ciraChan{}
		t.mu.Unlock()
		for _, c := range chans {
			c.shut()
		}
		_ = t.st.Close()
		close(t.done)
	})
}

// send writes one message (a bounded wait: an MPS that stops reading ends
// the tunnel).
func (t *ciraTunnel) send(m apf.Message) error {
	b, err := apf.Encode(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ciraHandshake)
	defer cancel()
	if err := t.st.WriteMessage(ctx, b); err != nil {
		t.close(fmt.Errorf("writing to the MPS: %w", err))
		return err
	}
	return nil
}

// next reads the next message of the handshake, answering keep-alives and
// skipping the MPS's own PROTOCOL_VERSION (go-wsman-messages' MPS sends one;
// MeshCentral's does not).
func (t *ciraTunnel) next(ctx context.Context) (apf.Message, error) {
	for {
		b, err := t.st.ReadMessage(ctx)
		if err != nil {
			return nil, err
		}
		m, err := apf.Decode(b)
		if err != nil {
			return nil, err
		}
		switch m := m.(type) {
		case apf.ProtocolVersion:
			continue
		case apf.KeepAliveRequest:
			if err := t.send(apf.KeepAliveReply(m)); err != nil {
				return nil, err
			}
			continue
		case apf.KeepAliveOptionsRequest:
			t.setKeepAlive(m)
			if err := t.send(apf.KeepAliveOptionsReply(m)); err != nil {
				return nil, err
			}
			continue
		case apf.Disconnect:
			return nil, fmt.Errorf("the MPS disconnected: %v", m.Reason)
		}
		return m, nil
	}
}

func (t *ciraTunnel) setKeepAlive(m apf.KeepAliveOptionsRequest) {
	t.mu.Lock()
	start := !t.kaLoop && m.Interval > 0
	t.keepAlive = m.Interval
	t.kaLoop = t.kaLoop || start
	t.mu.Unlock()
	t.d.ciraEvent(CIRAEvent{Step: "keepalive", MPS: t.addr, Detail: fmt.Sprintf("the MPS asks for keep-alives every %ds (timeout %ds)", m.Interval, m.Timeout)})
	if start {
		go t.keepAliveLoop()
	}
}

// keepAliveLoop sends KEEPALIVE_REQUEST at the interval the MPS asked for,
// and ends when the MPS asks for an interval of 0 (none): one loop per
// tunnel, however often the MPS changes its mind (before, an interval of 0
// made the loop send without a pause, and a positive one after it started a
// second loop; found by review).
func (t *ciraTunnel) keepAliveLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-t.done
		cancel()
	}()
	for {
		iv := time.Duration(t.keepAliveInterval()) * time.Second
		if iv > 0 {
			if err := t.d.sleep(ctx, iv); err != nil {
				return
			}
		}
		t.mu.Lock()
		if t.keepAlive == 0 {
			t.kaLoop = false
			t.mu.Unlock()
			return
		}
		t.kaCookie++
		cookie := t.kaCookie
		t.mu.Unlock()
		if t.send(apf.KeepAliveRequest{Cookie: cookie}) != nil {
			return
		}
	}
}

// handshake runs the APF handshake of step 1 to 4 (see the top of the file).
func (t *ciraTunnel) handshake(ctx context.Context, p *ciraPlan, m mpsEntry) error {
	d := t.d
	if err := t.send(apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: p.trigger, UUID: d.uuid}); err != nil {
		return err
	}
	t.d.ciraEvent(CIRAEvent{Step: "protocol", MPS: t.addr, Detail: fmt.Sprintf("sent PROTOCOL_VERSION 1.0, trigger %d, UUID %s", p.trigger, d.uuid)})
	expectAccept := func(service string) error {
		if err := t.send(apf.ServiceRequest{Service: service}); err != nil {
			return err
		}
		msg, err := t.next(ctx)
		if err != nil {
			return err
		}
		if a, ok := msg.(apf.ServiceAccept); !ok || a.Service != service {
			return fmt.Errorf("expected SERVICE_ACCEPT %q, got %v", service, msg.Type())
		}
		return nil
	}
	if err := expectAccept(apf.ServiceAuth); err != nil {
		return err
	}
	if m.auth == 2 {
		if err := t.send(apf.UserAuthRequest{User: m.user, Service: apf.ServicePortForwarding, Method: apf.MethodPassword, Password: m.pass}); err != nil {
			return err
		}
		msg, err := t.next(ctx)
		if err != nil {
			return err
		}
		switch msg.(type) {
		case apf.UserAuthSuccess:
			d.ciraEvent(CIRAEvent{Step: "auth", MPS: t.addr, Detail: fmt.Sprintf("USERAUTH_REQUEST user %q, method password: accepted", m.user)})
		case apf.UserAuthFailure:
			_ = t.send(apf.Disconnect{Reason: apf.DisconnectNoMoreAuthMethods})
			return fmt.Errorf("the MPS refused user %q", m.user)
		default:
			return fmt.Errorf("expected USERAUTH_SUCCESS or FAILURE, got %v", msg.Type())
		}
	} else {
		d.ciraEvent(CIRAEvent{Step: "auth", MPS: t.addr, Detail: "mutual TLS: the client certificate authenticated the device"})
	}
	if err := expectAccept(apf.ServicePortForwarding); err != nil {
		return err
	}
	host := d.fqdn()
	t.st.ExpectRequestSuccess(4)
	defer t.st.ExpectRequestSuccess(0)
	for _, port := range d.ciraPorts() {
		if err := t.send(apf.GlobalRequest{Name: apf.RequestTCPForward, WantReply: true, Address: host, Port: port}); err != nil {
			return err
		}
		msg, err := t.forwardReply(ctx)
		if err != nil {
			return err
		}
		switch msg := msg.(type) {
		case apf.RequestSuccess:
			if got, ok := msg.Port(); ok && got != port {
				return fmt.Errorf("tcpip-forward %d answered for port %d", port, got)
			}
			t.mu.Lock()
			t.ports = append(t.ports, port)
			t.mu.Unlock()
		case apf.RequestFailure:
			d.ciraEvent(CIRAEvent{Step: "forward", MPS: t.addr, Detail: fmt.Sprintf("the MPS refused to forward port %d", port)})
		default:
			return fmt.Errorf("expected the reply to tcpip-forward %d, got %v", port, msg.Type())
		}
	}
	if len(t.ports) == 0 {
		return errors.New("the MPS forwards no port")
	}
	return nil
}

// forwardReply reads the reply to a tcpip-forward request. An MPS may open a
// channel to a port as soon as it acknowledged its forward, while the device
// still forwards the others (nothing in the protocol orders them, and an MPS
// may report the device connected to its console earlier still, at
// USERAUTH_SUCCESS): a channel message or another request arriving first is
// served as after the handshake, and the reply is read after it.
func (t *ciraTunnel) forwardReply(ctx context.Context) (apf.Message, error) {
	for {
		msg, err := t.next(ctx)
		if err != nil {
			return nil, err
		}
		switch msg.(type) {
		case apf.RequestSuccess, apf.RequestFailure:
			return msg, nil
		case apf.ChannelOpen, apf.ChannelData, apf.WindowAdjust, apf.ChannelClose, apf.GlobalRequest, apf.KeepAliveReply:
			if !t.handle(msg) {
				return nil, fmt.Errorf("serving %v during the port forwards: %w", msg.Type(), t.err())
			}
		default:
			return nil, fmt.Errorf("expected the reply to a tcpip-forward request, got %v", msg.Type())
		}
	}
}

// fqdn is AMT's host and domain name.
func (d *Device) fqdn() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, dom := d.st.general["HostName"], d.st.general["DomainName"]
	if h != "" && dom != "" {
		return h + "." + dom
	}
	return h
}

// ciraPorts lists the ports the device forwards: 16992 only while the remote
// non-TLS port is open.
func (d *Device) ciraPorts() []uint32 {
	d.mu.Lock()
	nonTLS := d.plat.remoteNonTLS && (!d.st.applied.enabled || d.st.applied.acceptNonSecure)
	d.mu.Unlock()
	var out []uint32
	for _, p := range ciraForwardOrder {
		if p == 16992 && !nonTLS {
			continue
		}
		out = append(out, p)
	}
	return out
}

// localAddr is where a channel to port goes, or "" (not simulated).
func (d *Device) ciraLocalAddr(port uint32) string {
	switch port {
	case 16993:
		return d.TLSAddr()
	case 16992:
		return d.HTTPAddr()
	}
	return ""
}

// readLoop serves the tunnel after the handshake.
func (t *ciraTunnel) readLoop() {
	for {
		b, err := t.st.ReadMessage(context.Background())
		if err != nil {
			t.close(fmt.Errorf("reading from the MPS: %w", err))
			return
		}
		m, err := apf.Decode(b)
		if err != nil {
			_ = t.send(apf.Disconnect{Reason: apf.DisconnectProtocolError})
			t.close(err)
			return
		}
		if !t.handle(m) {
			return
		}
	}
}

func (t *ciraTunnel) handle(m apf.Message) bool {
	switch m := m.(type) {
	case apf.KeepAliveRequest:
		return t.send(apf.KeepAliveReply(m)) == nil
	case apf.KeepAliveOptionsRequest:
		t.setKeepAlive(m)
		return t.send(apf.KeepAliveOptionsReply(m)) == nil
	case apf.KeepAliveReply:
		return true
	case apf.ProtocolVersion:
		// The MPS's own version is informational and may arrive at any
		// time: an MPS built on a queued writer (ours, go-wsman-messages')
		// can send it after the forwards it answered synchronously.
		return true
	case apf.Disconnect:
		t.close(fmt.Errorf("the MPS disconnected: %v", m.Reason))
		return false
	case apf.ChannelOpen:
		t.open(m)
		return true
	case apf.ChannelData:
		return t.onChannel(m.Recipient, func(c *ciraChan) bool { return c.deliver(m.Data) })
	case apf.WindowAdjust:
		return t.onChannel(m.Recipient, func(c *ciraChan) bool { c.credit(m.Bytes); return true })
	case apf.ChannelClose:
		return t.onChannel(m.Recipient, func(c *ciraChan) bool { c.peerClosed(); return true })
	case apf.GlobalRequest:
		if m.WantReply {
			return t.send(apf.RequestFailure{}) == nil
		}
		return true
	}
	// Anything else after the handshake is a protocol error.
	_ = t.send(apf.Disconnect{Reason: apf.DisconnectProtocolError})
	t.close(fmt.Errorf("unexpected %v from the MPS", m.Type()))
	return false
}

func (t *ciraTunnel) onChannel(id uint32, f func(*ciraChan) bool) bool {
	t.mu.Lock()
	c := t.chans[id]
	t.mu.Unlock()
	if c == nil {
		return true // a late message for a channel already gone
	}
	if !f(c) {
		_ = t.send(apf.Disconnect{Reason: apf.DisconnectProtocolError})
		t.close(fmt.Errorf("the MPS overran channel %d's window", id))
		return false
	}
	return true
}

// open answers a CHANNEL_OPEN from the MPS: a forwarded-tcpip channel to a
// forwarded port is connected to the device's own listener.
func (t *ciraTunnel) open(m apf.ChannelOpen) {
	refuse := func(r apf.OpenFailureReason, why string) {
		t.d.ciraEvent(CIRAEvent{Step: "channel", MPS: t.addr, Detail: fmt.Sprintf("refused a channel to port %d: %s", m.Port, why)})
		_ = t.send(apf.ChannelOpenFailure{Recipient: m.Sender, Reason: r})
	}
	if m.ChannelType != apf.ChannelForwarded {
		refuse(apf.OpenUnknownChannelType, "channel type "+m.ChannelType)
		return
	}
	if !slices.Contains(t.portList(), m.Port) {
		refuse(apf.OpenAdministrativelyProhibited, "port not forwarded")
		return
	}
	addr := t.d.ciraLocalAddr(m.Port)
	if addr == "" {
		refuse(apf.OpenConnectFailed, "not simulated")
		return
	}
	t.mu.Lock()
	full := len(t.chans) >= ciraMaxChannels
	t.mu.Unlock()
	if full {
		refuse(apf.OpenResourceShortage, "too many channels")
		return
	}
	conn, err := net.DialTimeout("tcp", addr, ciraDialTimeout)
	if err != nil {
		refuse(apf.OpenConnectFailed, err.Error())
		return
	}
	t.mu.Lock()
	t.nextID++
	c := &ciraChan{t: t, id: t.nextID, peer: m.Sender, port: m.Port, conn: conn, txWin: m.Window, rxLeft: ciraWindow}
	c.cond = sync.NewCond(&c.mu)
	t.chans[c.id] = c
	t.mu.Unlock()
	if t.send(apf.ChannelOpenConfirmation{Recipient: m.Sender, Sender: c.id, Window: ciraWindow, Reserved: 0xFFFFFFFF}) != nil {
		c.shut()
		return
	}
	t.d.ciraEvent(CIRAEvent{Step: "channel", MPS: t.addr, Detail: fmt.Sprintf("channel %d to port %d opened by the MPS", c.id, m.Port)})
	go c.toMPS()
	go c.toLocal()
}

// ciraChan is one channel: its local connection and both windows.
type ciraChan struct {
	t    *ciraTunnel
	id   uint32 // ours
	peer uint32 // the MPS's
	port uint32
	conn net.Conn

	mu        sync.Mutex
	cond      *sync.Cond
	txWin     uint32 // what the device may still send
	rxLeft    uint32 // what the MPS may still send
	in        [][]byte
	closeSent bool
	dead      bool
}

// deliver queues data from the MPS for the local connection; false when the
// MPS overran the window.
func (c *ciraChan) deliver(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(len(b)) > uint64(c.rxLeft) {
		return false
	}
	c.rxLeft -= uint32(len(b))
	c.in = append(c.in, slices.Clone(b))
	c.cond.Broadcast()
	return true
}

func (c *ciraChan) credit(n uint32) {
	c.mu.Lock()
	c.txWin += n
	c.cond.Broadcast()
	c.mu.Unlock()
}

// peerClosed: the MPS closed the channel; answer with our close.
func (c *ciraChan) peerClosed() {
	c.mu.Lock()
	sent := c.closeSent
	c.closeSent = true
	c.mu.Unlock()
	if !sent {
		_ = c.t.send(apf.ChannelClose{Recipient: c.peer})
	}
	c.shut()
}

// shut ends the channel locally.
func (c *ciraChan) shut() {
	c.mu.Lock()
	c.dead = true
	c.cond.Broadcast()
	c.mu.Unlock()
	_ = c.conn.Close()
	c.t.mu.Lock()
	if c.t.chans[c.id] == c {
		delete(c.t.chans, c.id)
	}
	c.t.mu.Unlock()
}

// toMPS copies the local connection's data to the MPS within its window.
func (c *ciraChan) toMPS() {
	buf := make([]byte, ciraMaxData)
	for {
		n, err := c.conn.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			c.mu.Lock()
			for c.txWin == 0 && !c.dead {
				c.cond.Wait()
			}
			if c.dead {
				c.mu.Unlock()
				return
			}
			k := min(uint32(len(data)), c.txWin)
			c.txWin -= k
			c.mu.Unlock()
			if c.t.send(apf.ChannelData{Recipient: c.peer, Data: data[:k]}) != nil {
				return
			}
			data = data[k:]
		}
		if err != nil {
			c.mu.Lock()
			sent := c.closeSent || c.dead
			c.closeSent = true
			c.mu.Unlock()
			if !sent {
				_ = c.t.send(apf.ChannelClose{Recipient: c.peer})
			}
			return
		}
	}
}

// toLocal writes the MPS's data to the local connection and gives the window
// back as it goes.
func (c *ciraChan) toLocal() {
	for {
		c.mu.Lock()
		for len(c.in) == 0 && !c.dead {
			c.cond.Wait()
		}
		if c.dead && len(c.in) == 0 {
			c.mu.Unlock()
			return
		}
		b := c.in[0]
		c.in = c.in[1:]
		c.mu.Unlock()
		if _, err := c.conn.Write(b); err != nil {
			c.shut()
			return
		}
		c.mu.Lock()
		c.rxLeft += uint32(len(b))
		c.mu.Unlock()
		if c.t.send(apf.WindowAdjust{Recipient: c.peer, Bytes: uint32(len(b))}) != nil {
			return
		}
	}
}

// CIRAState is the CIRA configuration the device holds.
type CIRAState struct {
	// MPS lists the configured MPSs ("Name AccessInfo:Port auth").
	MPS []string
	// Policies lists the remote-access policies by name.
	Policies []string
	// DetectionStrings are the home domains.
	DetectionStrings []string
	// UserInitiated is the User Initiated Connection Service's state.
	UserInitiated amt.UserInitiatedState
	// Connected: a tunnel is up.
	Connected bool
}

// CIRA returns the CIRA configuration and whether a tunnel is up.
func (d *Device) CIRA() CIRAState {
	connected := d.CIRAConnected()
	d.mu.Lock()
	defer d.mu.Unlock()
	ra := &d.st.ra
	s := CIRAState{DetectionStrings: slices.Clone(ra.env), UserInitiated: amt.UserInitiatedState(ra.uic), Connected: connected}
	for _, m := range ra.mps {
		s.MPS = append(s.MPS, fmt.Sprintf("%s %s %s", m.name(), net.JoinHostPort(m.accessInfo, strconv.Itoa(int(m.port))), amt.MPSAuthMethod(m.auth)))
	}
	for _, r := range ra.rules {
		s.Policies = append(s.Policies, ruleName(r.trigger))
	}
	return s
}
