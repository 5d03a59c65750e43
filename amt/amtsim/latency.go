package amtsim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyModel says how long the simulated firmware takes, so that a fleet
// spends its time the way real devices do: on an embedded CPU a WS-Management
// exchange, a TLS handshake and a key generation take tenths of a second to
// seconds, which decides how many sessions a provisioning server must hold at
// once, not its own CPU. Every delay runs on [Behavior.Sleep] (the injected
// sleep; a timer without it), so unit tests that inject an instantaneous sleep
// stay fast. The zero value adds nothing; [FirmwareLatency] returns defaults
// from public timings. Set it per device with [Behavior.LatencyModel] (a
// [Fleet] template and FleetOptions.Configure give each device its own).
type LatencyModel struct {
	// Exchange is the time the firmware takes to answer one WS-Management
	// request on an open connection: every HTTP exchange, a digest challenge
	// (401) included. It is added before the request is read.
	Exchange time.Duration
	// Methods adds to Exchange for the named method or operation (the names
	// of [Behavior.DropFunc]: "AdminSetup", "CommitChanges", "Get", "Pull" …).
	Methods map[string]time.Duration
	// KeyGeneration is the time GenerateKeyPair spends generating the key,
	// added to its exchange.
	KeyGeneration time.Duration
	// FullHandshake is the firmware's share of a full TLS handshake
	// (certificate, key exchange and, when asked for, the client chain's
	// verification), TLS-PSK included. It delays the end of the handshake.
	FullHandshake time.Duration
	// ResumedHandshake is the same for an abbreviated (resumed) handshake;
	// only devices that resume sessions have them ([Behavior.TLSResumption]).
	ResumedHandshake time.Duration
	// CommitRestart is how long the network stack restarts after a
	// CommitChanges that took effect: connections made meanwhile are closed at
	// once, as by a closed port.
	CommitRestart time.Duration
}

// FirmwareLatency returns the defaults of the latency model, from public
// timings of real firmware (docs/amtsim.md cites each one):
//
//   - Exchange 200 ms: rpc-go's LMS relay waits 100 ms of silence to end a
//     response "AMT streams … contiguously" and gives each response 4 s
//     (pkg/utils/constants.go AMTResponseTimeout); its trace logs show
//     several request/response pairs per second over LMS (rpc-go issue 1310).
//   - AdminSetup, Setup and UpgradeClientToAdmin +800 ms: "runs provisioning
//     crypto before answering and its first byte can land ~1s out
//     (hardware-validated on AMT16/AMT18)" (rpc-go internal/lm/service.go).
//   - FullHandshake 1.5 s: the firmware's RSA-2048 operations on its embedded
//     CPU; rpc-go bounds a TLS handshake round at 2 s (tlsFirstByteTimeout),
//     MeshCentral's AMT sockets time out after 6 s idle (amt-wsman-comm.js).
//   - ResumedHandshake 300 ms: no public figure; an abbreviated handshake does
//     no public-key operation, so it costs about an exchange.
//   - KeyGeneration 3 s: RSA-2048 key generation in firmware; MeshCentral
//     retries GenerateKeyPair because "Intel AMT is not always in a good spot
//     to generate a key pair" (amtmanager.js), rpc-go and amtkit retry it.
//   - CommitRestart 5 s: MeshCentral holds 5 s after CommitChanges
//     (amtprovisioningserver.js "Commited, holding 5 seconds"); rpc-go
//     re-reads the state 3 times 1 s apart after AMT 19's post-commit port
//     restart (internal/commands/activate/local.go).
func FirmwareLatency() LatencyModel {
	slow := 800 * time.Millisecond
	return LatencyModel{
		Exchange:         200 * time.Millisecond,
		Methods:          map[string]time.Duration{"AdminSetup": slow, "Setup": slow, "UpgradeClientToAdmin": slow},
		KeyGeneration:    3 * time.Second,
		FullHandshake:    1500 * time.Millisecond,
		ResumedHandshake: 300 * time.Millisecond,
		CommitRestart:    5 * time.Second,
	}
}

// Scaled returns m with every delay multiplied by f (0.1 gives a fleet ten
// times faster than the model, with the same proportions).
func (m LatencyModel) Scaled(f float64) LatencyModel {
	s := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
	out := LatencyModel{
		Exchange:         s(m.Exchange),
		KeyGeneration:    s(m.KeyGeneration),
		FullHandshake:    s(m.FullHandshake),
		ResumedHandshake: s(m.ResumedHandshake),
		CommitRestart:    s(m.CommitRestart),
	}
	if m.Methods != nil {
		out.Methods = make(map[string]time.Duration, len(m.Methods))
		for k, v := range m.Methods {
			out.Methods[k] = s(v)
		}
	}
	return out
}

// Counters are what a device counted of its traffic since it started (or
// since [Device.ResetCounters]): the round trips a client made, which is what
// real firmware makes slow.
type Counters struct {
	// Exchanges counts HTTP request/response exchanges on the WS-Management
	// listeners (every request read, answered or not), digest challenges
	// included.
	Exchanges int64
	// Unauthorized counts the exchanges answered with a digest challenge
	// (401, which closes the connection).
	Unauthorized int64
	// FullHandshakes and ResumedHandshakes count completed TLS handshakes
	// (TLS-PSK included) on any TLS listener.
	FullHandshakes, ResumedHandshakes int64
	// Connections counts TCP connections accepted; Refused those closed at
	// once (interface closed, network stack restarting, TLS enforced).
	Connections, Refused int64
}

// Add returns the sum of c and o.
func (c Counters) Add(o Counters) Counters {
	return Counters{
		Exchanges:         c.Exchanges + o.Exchanges,
		Unauthorized:      c.Unauthorized + o.Unauthorized,
		FullHandshakes:    c.FullHandshakes + o.FullHandshakes,
		ResumedHandshakes: c.ResumedHandshakes + o.ResumedHandshakes,
		Connections:       c.Connections + o.Connections,
		Refused:           c.Refused + o.Refused,
	}
}

// Sub returns c minus o (the traffic between two readings).
func (c Counters) Sub(o Counters) Counters {
	return Counters{
		Exchanges:         c.Exchanges - o.Exchanges,
		Unauthorized:      c.Unauthorized - o.Unauthorized,
		FullHandshakes:    c.FullHandshakes - o.FullHandshakes,
		ResumedHandshakes: c.ResumedHandshakes - o.ResumedHandshakes,
		Connections:       c.Connections - o.Connections,
		Refused:           c.Refused - o.Refused,
	}
}

// counters is the device's live count.
type counters struct {
	exchanges, unauthorized, full, resumed, conns, refused atomic.Int64
}

// Counters returns what the device counted of its traffic.
func (d *Device) Counters() Counters {
	c := &d.ctr
	return Counters{
		Exchanges:         c.exchanges.Load(),
		Unauthorized:      c.unauthorized.Load(),
		FullHandshakes:    c.full.Load(),
		ResumedHandshakes: c.resumed.Load(),
		Connections:       c.conns.Load(),
		Refused:           c.refused.Load(),
	}
}

// ResetCounters sets the device's counters to zero.
func (d *Device) ResetCounters() {
	c := &d.ctr
	for _, x := range []*atomic.Int64{&c.exchanges, &c.unauthorized, &c.full, &c.resumed, &c.conns, &c.refused} {
		x.Store(0)
	}
}

// Counters returns the sum of every device's counters (rogues included).
func (f *Fleet) Counters() Counters {
	var sum Counters
	for _, d := range append(append([]*Device(nil), f.devices...), f.rogues...) {
		sum = sum.Add(d.Counters())
	}
	return sum
}

// model returns the device's latency model, or nil.
func (d *Device) model() *LatencyModel { return d.cfg.Behavior.LatencyModel }

// exchangeDelay is the model's time for one exchange before its request is
// read (nil model: none).
func (d *Device) exchangeDelay() time.Duration {
	if m := d.model(); m != nil {
		return m.Exchange
	}
	return 0
}

// methodDelay is what the model adds for op once the request is read: the
// method's own time and, for GenerateKeyPair, the key generation; plus the
// flat Behavior.Latency.
func (d *Device) methodDelay(op string) time.Duration {
	dur := d.cfg.Behavior.Latency
	if m := d.model(); m != nil {
		dur += m.Methods[op]
		if op == "GenerateKeyPair" {
			dur += m.KeyGeneration
		}
	}
	return dur
}

// handshakeDone counts a completed handshake and spends the model's time on
// it (the firmware's public-key operations).
func (d *Device) handshakeDone(resumed bool) {
	var dur time.Duration
	m := d.model()
	if resumed {
		d.ctr.resumed.Add(1)
		if m != nil {
			dur = m.ResumedHandshake
		}
	} else {
		d.ctr.full.Add(1)
		if m != nil {
			dur = m.FullHandshake
		}
	}
	if dur > 0 {
		_ = d.sleepUntilClosed(dur)
	}
}

// sleepUntilClosed sleeps dur, or until the device closes.
func (d *Device) sleepUntilClosed(dur time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if done := d.done; done != nil {
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return d.sleep(ctx, dur)
}

// timed makes cfg count its completed handshakes and spend the model's time
// on them. cfg is the device's own (built per connection).
func (d *Device) timed(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return nil
	}
	prev := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		d.handshakeDone(cs.DidResume)
		return nil
	}
	if d.cfg.Behavior.TLSResumption.resolve(false) && cfg.ClientAuth == tls.NoClientCert {
		// A device that resumes sessions (unverified on real firmware, see
		// Behavior.TLSResumption): server-authenticated connections only;
		// the remote-configuration and mutual-TLS ones must show their
		// certificates every time.
		cfg.SessionTicketsDisabled = false
		cfg.SetSessionTicketKeys([][32]byte{d.tickets.key()})
	}
	return cfg
}

// ticketKeys is a device's session-ticket key: one per network-stack start,
// so a commit's restart invalidates the sessions issued before it.
type ticketKeys struct {
	mu  sync.Mutex
	k   [32]byte
	set bool
}

func (t *ticketKeys) key() [32]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.set {
		_, _ = io.ReadFull(rand.Reader, t.k[:])
		t.set = true
	}
	return t.k
}

func (t *ticketKeys) rotate() {
	t.mu.Lock()
	t.set = false
	t.mu.Unlock()
}

// commitRestartLocked starts the network-stack restart of a CommitChanges
// that took effect: new connections are refused for the model's
// CommitRestart, and session tickets issued before are void. d.mu held.
func (d *Device) commitRestartLocked() {
	d.tickets.rotate()
	if m := d.model(); m != nil && m.CommitRestart > 0 {
		d.st.restartUntil = d.now().Add(m.CommitRestart)
	}
}

// restartingLocked reports whether the network stack is restarting. d.mu
// held.
func (d *Device) restartingLocked() bool {
	return !d.st.restartUntil.IsZero() && d.now().Before(d.st.restartUntil)
}

// serverHeader is the HTTP Server header of every response, digest
// challenges included: "Intel(R) Active Management Technology <version>" as
// real firmware sends it (schnoddelbotz/amtc issue 2 shows 8.0.3,
// device-management-toolkit/rps issue 779 16.1.25.1917), which MeshCentral
// reads the firmware version from (amt-wsman-comm.js, amtVersion).
func (d *Device) serverHeader() string { return d.wr.Server }
