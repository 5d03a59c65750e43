package amtsim

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/amtkit/amtkit/amt"
)

// FleetOptions configures [StartFleet].
type FleetOptions struct {
	// N is the number of devices.
	N int
	// Template is the configuration every device starts from. UUID, ListenIP,
	// TLSPort and HTTPPort are set per device; Keys, OnDieCA, Now and Rand are
	// shared.
	Template Config
	// Configure, if set, edits device i's configuration last.
	Configure func(i int, c *Config)
	// SharedIP puts every device on 127.0.0.1 (ephemeral ports). By default
	// each device gets its own loopback address 127.a.b.c, so that the source
	// address of its hellos identifies it, as on a real network; StartFleet
	// falls back to 127.0.0.1 where loopback aliases cannot be bound.
	SharedIP bool
	// StandardPorts binds each device's listeners to 16993 and 16992 on its
	// own address, so a provisioning engine can connect back to "<hello
	// source>:16993" without a resolver. It needs distinct addresses.
	StandardPorts bool
	// FirstIP is the first device address (default: a random
	// 127.<16–250>.<0–255>.1, so that parallel test processes rarely meet).
	FirstIP netip.Addr
	// Prewarm makes each device's own TLS certificate at start (one RSA
	// signature each) instead of at its first handshake, so that a timed run
	// does not count the simulator's signatures.
	Prewarm bool
}

// Fleet is a set of simulated devices on loopback, for tests, examples and
// benchmarks. It maps hello sources and UUIDs to device addresses, and can
// dial a device by the address a provisioning engine derives from a hello.
type Fleet struct {
	devices []*Device
	rogues  []*Device
	byUUID  map[amt.UUID]*Device
	byIP    map[netip.Addr]*Device
	odca    *OnDieCA
	opts    FleetOptions
	shared  bool
	nextIP  netip.Addr
	ctx     context.Context

	mu       sync.Mutex
	bySource map[netip.AddrPort]*Device
}

// StartFleet creates and starts o.N devices. The devices stop when ctx ends
// or [Fleet.Close] is called.
func StartFleet(ctx context.Context, o FleetOptions) (*Fleet, error) {
	if o.N <= 0 {
		return nil, &ConfigError{Field: "FleetOptions.N", Expected: "at least one device", Got: strconv.Itoa(o.N)}
	}
	if o.StandardPorts && o.SharedIP {
		return nil, &ConfigError{Field: "FleetOptions.StandardPorts", Expected: "distinct addresses (SharedIP false)", Got: "SharedIP true"}
	}
	t := &o.Template
	if t.Keys == nil {
		t.Keys = DefaultKeys()
	}
	if t.Rand == nil {
		t.Rand = cryptorand.Reader
	}
	f := &Fleet{
		byUUID:   map[amt.UUID]*Device{},
		byIP:     map[netip.Addr]*Device{},
		bySource: map[netip.AddrPort]*Device{},
		opts:     o,
		ctx:      ctx,
	}
	if t.OnDie && t.OnDieCA == nil {
		ca, err := NewOnDieCA(t.Keys, t.Now, t.Rand)
		if err != nil {
			return nil, err
		}
		t.OnDieCA = ca
	}
	f.odca = t.OnDieCA
	f.opts = o
	f.shared = o.SharedIP
	if !f.shared {
		first := o.FirstIP
		if !first.IsValid() {
			var b [2]byte
			if _, err := io.ReadFull(t.Rand, b[:]); err != nil {
				return nil, err
			}
			first = netip.AddrFrom4([4]byte{127, 16 + b[0]%235, b[1], 1})
		}
		if !canBind(first) {
			if o.StandardPorts {
				return nil, fmt.Errorf("amtsim: cannot bind loopback address %s for StandardPorts", first)
			}
			f.shared = true
		}
		f.nextIP = first
	}
	for i := 0; i < o.N; i++ {
		cfg := o.Template
		cfg.UUID = amt.UUID{}
		if o.Configure != nil {
			o.Configure(i, &cfg)
		}
		if _, err := f.start(cfg); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("amtsim: device %d: %w", i, err)
		}
	}
	return f, nil
}

func canBind(a netip.Addr) bool {
	l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// start places, creates and starts one device.
func (f *Fleet) start(cfg Config) (*Device, error) {
	if f.shared {
		cfg.ListenIP = "127.0.0.1"
		cfg.TLSPort, cfg.HTTPPort = 0, 0
	} else {
		ip := f.nextIP
		if !ip.Is4() || ip.As4()[0] != 127 {
			return nil, errors.New("amtsim: ran out of loopback addresses")
		}
		f.nextIP = next4(ip)
		cfg.ListenIP = ip.String()
		if f.opts.StandardPorts {
			cfg.TLSPort, cfg.HTTPPort = 16993, 16992
		}
	}
	d, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if f.opts.Prewarm {
		if _, err := d.DeviceCertificate(); err != nil {
			return nil, err
		}
	}
	if err := d.Start(f.ctx); err != nil {
		return nil, err
	}
	if cfg.Rogue == nil {
		f.devices = append(f.devices, d)
		f.byUUID[d.UUID()] = d
	} else {
		f.rogues = append(f.rogues, d)
	}
	if !f.shared {
		f.byIP[netip.MustParseAddr(cfg.ListenIP)] = d
	}
	return d, nil
}

// next4 returns a+1, skipping .0 and .255 in the last byte.
func next4(a netip.Addr) netip.Addr {
	for {
		a = a.Next()
		b := a.As4()
		if b[3] != 0 && b[3] != 255 {
			return a
		}
	}
}

// RogueKind selects how an impostor differs from the device it claims to be.
type RogueKind int

// Rogue kinds.
const (
	// RogueNoOnDie claims the victim's UUID everywhere but has no On-Die
	// certificate (a self-signed one instead).
	RogueNoOnDie RogueKind = iota + 1
	// RogueOtherCertificate claims the victim's UUID everywhere and has an
	// On-Die certificate of its own (naming its true UUID, holding its own
	// key).
	RogueOtherCertificate
	// RogueWrongUUID claims the victim's UUID in its hellos only; GetUuid
	// reports its true UUID.
	RogueWrongUUID
)

// StartRogue starts an impostor of victim (a device of this fleet) as kind
// describes, with the fleet's template otherwise.
func (f *Fleet) StartRogue(victim *Device, kind RogueKind) (*Device, error) {
	cfg := f.opts.Template
	cfg.UUID = victim.UUID()
	// An impostor copies all it can observe of the device: its UUID (from
	// its hellos) and its digest realm (from any 401 it answers).
	cfg.DigestRealm = victim.DigestRealm()
	cfg.Rogue = &Rogue{ReportTrueUUID: kind == RogueWrongUUID}
	switch kind {
	case RogueNoOnDie:
		cfg.OnDie = false
	case RogueOtherCertificate, RogueWrongUUID:
		cfg.OnDie = true
		if f.odca == nil {
			ca, err := NewOnDieCA(cfg.Keys, cfg.Now, cfg.Rand)
			if err != nil {
				return nil, err
			}
			f.odca = ca
		}
		cfg.OnDieCA = f.odca
	default:
		return nil, &ConfigError{Field: "RogueKind", Expected: "RogueNoOnDie, RogueOtherCertificate or RogueWrongUUID", Got: strconv.Itoa(int(kind))}
	}
	return f.start(cfg)
}

// Devices returns the (non-rogue) devices in creation order.
func (f *Fleet) Devices() []*Device { return f.devices }

// Device returns the device with the given UUID (never a rogue).
func (f *Fleet) Device(id amt.UUID) (*Device, bool) {
	d, ok := f.byUUID[id]
	return d, ok
}

// OnDieCA returns the CA shared by the fleet's On-Die devices (nil if none).
func (f *Fleet) OnDieCA() *OnDieCA { return f.odca }

// DistinctIPs reports whether every device has its own loopback address.
func (f *Fleet) DistinctIPs() bool { return !f.shared }

// Close stops every device.
func (f *Fleet) Close() error {
	var errs []error
	for _, d := range append(f.devices, f.rogues...) {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// Lookup returns the device a hello came from, by its source address: the
// address alone with distinct IPs, else the exact source address and port
// recorded by [Fleet.SendHellos].
func (f *Fleet) Lookup(source net.Addr) (*Device, bool) {
	ap, ok := addrPort(source)
	if !ok {
		return nil, false
	}
	if !f.shared {
		d, ok := f.byIP[ap.Addr()]
		return d, ok
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.bySource[ap]
	return d, ok
}

// Resolve returns the TLS (16993-role) address of the device a hello came
// from.
func (f *Fleet) Resolve(source net.Addr) (string, bool) {
	d, ok := f.Lookup(source)
	if !ok {
		return "", false
	}
	return d.TLSAddr(), true
}

// DialContext is a dialer for a provisioning engine that connects back to
// "<hello source IP>:16993" (or :16992): for a fleet device's address it
// dials the device's actual listener, anything else it dials unchanged.
func (f *Fleet) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var dl net.Dialer
	if ap, err := netip.ParseAddrPort(addr); err == nil && !f.shared {
		if d, ok := f.byIP[ap.Addr()]; ok {
			switch ap.Port() {
			case 16993:
				addr = d.TLSAddr()
			case 16992:
				addr = d.HTTPAddr()
			}
		}
	}
	return dl.DialContext(ctx, network, addr)
}

// SendHellos makes every device (rogues included) send hellos with o,
// concurrently (at most 64 at a time), recording each hello's source for
// [Fleet.Lookup]. It returns each device's result in [Fleet.Devices] order,
// then the rogues', and the devices' errors joined.
func (f *Fleet) SendHellos(ctx context.Context, o HelloOptions) ([]HelloResult, error) {
	all := append(append([]*Device(nil), f.devices...), f.rogues...)
	res := make([]HelloResult, len(all))
	errs := make([]error, len(all))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i, d := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			oo := o
			oo.onConnect = func(src net.Addr) {
				if ap, ok := addrPort(src); ok {
					f.mu.Lock()
					f.bySource[ap] = d
					f.mu.Unlock()
				}
			}
			res[i], errs[i] = d.SendHellos(ctx, oo)
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch x := a.(type) {
	case *net.TCPAddr:
		ap := x.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	case nil:
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}
