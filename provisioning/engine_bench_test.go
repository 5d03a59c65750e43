package provisioning_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/internal/testvectors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// End-to-end engine benchmarks (budgets in docs/PERFORMANCE.md): N simulated
// devices send one hello each to a Provisioner's listener (Serve +
// Fleet.SendHellos) and are provisioned concurrently with the default profile
// plus AMT's TLS certificate. The floor is the cryptography that work needs,
// measured alone with the same concurrency on loopback TCP. Per device the
// engine performs (provisioning/session.go, steps.go):
//
//   - connect: one mutual-TLS 1.2 handshake to the device's 16993 role, the
//     client presenting the provisioning chain (RSA-2048 leaf, intermediate,
//     root) and signing CertificateVerify; the device signs its ECDHE
//     parameters with its RSA-2048 key and verifies the chain (two RSA
//     verifications). Every later WS-Management call of the session reuses
//     that connection (Transport.MaxConnsPerHost 1, keep-alive).
//   - configure: the Issuer signs AMT's TLS certificate once (RSA-2048); AMT's
//     key pair comes from the simulator's key pool, never generated.
//   - verify: two server-authenticated TLS 1.2 handshakes to read the state
//     back as the new admin (the device signs with the key AMT generated; the
//     engine pins the installed certificate, verifying no signature). Two,
//     because the first request is answered with the digest challenge and,
//     as AMT does, "Connection: close"; the authenticated requests need a new
//     connection. (Counted with a dialer: three TLS connections per device.)
//
// The device's own self-signed certificate (one signature per simulated
// device) is made before the timer starts: it is the simulator's cost, not the
// SDK's. The benchmark's ns/op is the wall time of the whole fleet; its metrics:
//
//	devices/s       throughput
//	cpu-ms/device   CPU time (user + system) of this process per device while
//	                timed: less sensitive than wall time to other jobs on a
//	                shared machine (the floor reports it too)
//	peak-B/session  the largest memory (live heap + goroutine stacks) held by
//	                running sessions, per running session: sampled every 2 ms
//	                while at least 90% of the peak number ran, above the idle
//	                baseline, less what finished sessions left behind
//	                (B/done-device each); the engine's and the simulated
//	                device's side of a session both count (one process), and
//	                so do the goroutines of hellos waiting for a session slot
//	B/done-device   what one finished session leaves: its MemoryStore record
//	                and the provisioned simulated device's new state
//	B/sim-device    live heap + stacks of one idle simulated device
//	inflight        the peak number of sessions running at once
//
// The 1,000-device pair runs only when AMTKIT_BENCH_ENGINE=1 (the bench tool,
// go run ./internal/cmd/benchtable, sets it); the 100-device pair always runs
// under -bench and is cheap enough for CI with -benchtime=1x.

const (
	// engineBenchEnv enables the 1,000-device benchmarks.
	engineBenchEnv = "AMTKIT_BENCH_ENGINE"
	// engineConcurrency is Config.MaxSessions in the engine run and the
	// number of workers in the floor run.
	engineConcurrency = 64
)

func BenchmarkEngine1000(b *testing.B) {
	needEngineEnv(b)
	benchEngine(b, 1000)
}

func BenchmarkEngine1000Floor(b *testing.B) {
	needEngineEnv(b)
	benchEngineFloor(b, 1000)
}

func BenchmarkEngine100(b *testing.B)      { benchEngine(b, 100) }
func BenchmarkEngine100Floor(b *testing.B) { benchEngineFloor(b, 100) }

func needEngineEnv(b *testing.B) {
	if os.Getenv(engineBenchEnv) != "1" {
		b.Skipf("set %s=1 (or use go run ./internal/cmd/benchtable) to provision 1,000 simulated devices", engineBenchEnv)
	}
}

// engineBench is the fixed part of an engine run: keys, the provisioning chain
// and the integrator's CA.
type engineBench struct {
	keys  *certstest.KeyPool
	chain *certstest.ProvisioningChain
	devCA *certstest.CA
}

func newEngineBench(b *testing.B) *engineBench {
	k := testKeys()
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: k})
	if err != nil {
		b.Fatal(err)
	}
	devCA, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: k})
	if err != nil {
		b.Fatal(err)
	}
	return &engineBench{keys: k, chain: chain, devCA: devCA}
}

func (e *engineBench) fleet(ctx context.Context, b *testing.B, n int) *amtsim.Fleet {
	tmpl := amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "Contoso test root", Hash: e.chain.Bundle.RootHash(amt.HashSHA256), Active: true}},
		Keys:             amtsim.PoolKeys(e.keys),
	}
	fleet, err := amtsim.StartFleet(ctx, amtsim.FleetOptions{N: n, Template: tmpl})
	if err != nil {
		b.Fatal(err)
	}
	// Each device's own certificate, made now rather than in its first
	// handshake (the simulator's signature, not the engine's).
	devs := fleet.Devices()
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(devs); i += len(errs) {
				if _, err := devs[i].DeviceCertificate(); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fleet.Close()
		b.Fatal(err)
	}
	return fleet
}

// sessionTracker follows sessions through the Observer: started at their
// authorize event, ended at a final state.
type sessionTracker struct {
	n           int
	mu          sync.Mutex
	running     map[amt.UUID]bool
	inflight    int
	peak        int
	provisioned int
	ended       int
	firstErr    error
	done        chan struct{}
}

func newSessionTracker(n int) *sessionTracker {
	return &sessionTracker{n: n, running: make(map[amt.UUID]bool, n), done: make(chan struct{})}
}

func (t *sessionTracker) counts() (ended, inflight int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended, t.inflight
}

func (t *sessionTracker) observe(e provisioning.Event) {
	switch e.Step {
	case provisioning.StepAuthorize, provisioning.StepConnect, provisioning.StepIdentify, provisioning.StepOTP,
		provisioning.StepConfigure, provisioning.StepCommit, provisioning.StepVerify:
	default:
		return
	}
	if e.State == provisioning.StateNew {
		return // a duplicate hello, ignored
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.running[e.Device] && !e.State.Final() {
		t.running[e.Device] = true
		t.inflight++
		t.peak = max(t.peak, t.inflight)
	}
	if !e.State.Final() {
		return
	}
	if t.running[e.Device] {
		t.inflight--
	}
	delete(t.running, e.Device)
	if e.State == provisioning.StateProvisioned {
		t.provisioned++
	} else if t.firstErr == nil {
		t.firstErr = fmt.Errorf("device %s: %s in %s: %v", e.Device, e.State, e.Step, e.Err)
	}
	t.ended++
	if t.ended == t.n {
		close(t.done)
	}
}

// memSampler samples live heap + goroutine stacks, and the tracker's counts,
// while the fleet is provisioned.
type memSampler struct {
	stop    chan struct{}
	done    chan struct{}
	samples []memSample
}

type memSample struct {
	mem             uint64
	ended, inflight int
}

var memMetrics = []string{"/gc/heap/live:bytes", "/memory/classes/heap/stacks:bytes"}

// liveMem returns the heap marked live by the last GC plus goroutine stacks.
func liveMem(s []metrics.Sample) uint64 {
	metrics.Read(s)
	var sum uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			sum += x.Value.Uint64()
		}
	}
	return sum
}

func newSamples() []metrics.Sample {
	s := make([]metrics.Sample, len(memMetrics))
	for i, name := range memMetrics {
		s[i].Name = name
	}
	return s
}

// settledMem runs a GC and returns liveMem.
func settledMem() uint64 {
	runtime.GC()
	return liveMem(newSamples())
}

func startMemSampler(every time.Duration, tr *sessionTracker) *memSampler {
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		s := newSamples()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			mem := liveMem(s)
			ended, inflight := tr.counts()
			m.samples = append(m.samples, memSample{mem: mem, ended: ended, inflight: inflight})
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// Stop ends sampling and estimates the peak memory held by running sessions:
// at each sample, the memory above base minus what the sessions that had
// ended leave behind for good (their store records and the provisioned
// devices' new state: residual per device), divided by the number of
// sessions running then; the largest such figure while at least 90% of the
// peak number of sessions ran.
func (m *memSampler) Stop(base uint64, residual float64) float64 {
	close(m.stop)
	<-m.done
	peak := 0
	for _, x := range m.samples {
		peak = max(peak, x.inflight)
	}
	best := 0.0
	for _, x := range m.samples {
		if x.inflight == 0 || 10*x.inflight < 9*peak {
			continue // ramp-up and tail: too few sessions to divide by
		}
		est := float64(int64(x.mem)-int64(base)) - residual*float64(x.ended)
		best = max(best, est/float64(x.inflight))
	}
	return best
}

func benchEngine(b *testing.B, n int) {
	e := newEngineBench(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wall, cpu time.Duration
	var peakPerSession, perDevice, residual float64
	var inflight int
	b.ReportAllocs()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		before := settledMem()
		fleet := e.fleet(ctx, b, n)
		idle := settledMem()
		perDevice += float64(int64(idle)-int64(before)) / float64(n)

		inv := provisioning.NewInventoryList()
		for j, d := range fleet.Devices() {
			inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: deviceName(j) + ".contoso.com"})
		}
		tr := newSessionTracker(n)
		p, err := provisioning.New(provisioning.Config{
			Bundles:    []certs.Bundle{e.chain.Bundle},
			Authorizer: inv,
			Profiles: map[string]provisioning.Profile{
				provisioning.DefaultProfileName: {TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}},
			},
			Issuer:            &testIssuer{ca: e.devCA},
			Observer:          tr.observe,
			Dial:              fleet.DialContext,
			DeviceAddress:     fleetAddress(fleet),
			CommitVerifyDelay: 20 * time.Millisecond,
			MaxSessions:       engineConcurrency,
			MaxQueued:         n, // every device sends one hello: none may be dropped
			ServerName:        "amtprov.contoso.com",
		})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		served := make(chan error, 1)
		base := settledMem()
		ms := startMemSampler(2*time.Millisecond, tr)

		b.StartTimer()
		start := time.Now()
		cpu0, _ := processCPU()
		go func() {
			served <- p.Serve(sctx, ln, func(l *provisioning.HelloListener) {
				if !fleet.DistinctIPs() {
					l.PerSourceBurst = -1 // every hello comes from 127.0.0.1
				}
			})
		}()
		if _, err := fleet.SendHellos(sctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-tr.done:
		case <-time.After(10 * time.Minute):
			b.Fatalf("%d of %d sessions ended within 10 minutes", tr.ended, n)
		}
		wall += time.Since(start)
		if cpu1, ok := processCPU(); ok {
			cpu += cpu1 - cpu0
		}
		b.StopTimer()

		stop()
		if err := <-served; err != nil {
			b.Fatal(err)
		}
		// What every finished session leaves: its store record and the
		// provisioned device's state.
		left := float64(int64(settledMem())-int64(base)) / float64(n)
		residual += left
		peakPerSession += ms.Stop(base, left)
		fleet.Close()
		if tr.provisioned != n {
			b.Fatalf("%d of %d devices provisioned; first failure: %v", tr.provisioned, n, tr.firstErr)
		}
		inflight = max(inflight, tr.peak)
	}
	reportEngine(b, n, wall, cpu)
	b.ReportMetric(peakPerSession/float64(b.N), "peak-B/session")
	b.ReportMetric(residual/float64(b.N), "B/done-device")
	b.ReportMetric(perDevice/float64(b.N), "B/sim-device")
	b.ReportMetric(float64(inflight), "inflight")
}

func reportEngine(b *testing.B, n int, wall, cpu time.Duration) {
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "devices/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(n*b.N), "cpu-ms/device")
	}
}

// fleetAddress maps a hello's source to the simulated device's listeners.
func fleetAddress(f *amtsim.Fleet) func(provisioning.ReceivedHello, provisioning.Inventory, int) string {
	return func(hello provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
		d, ok := f.Lookup(net.TCPAddrFromAddrPort(hello.Source))
		if !ok {
			d, ok = f.Device(hello.Hello.UUID)
		}
		if !ok {
			return ""
		}
		if port == 16992 {
			return d.HTTPAddr()
		}
		return d.TLSAddr()
	}
}

// floorDevice is what one device's cryptography needs: its certificate and key
// for the provisioning handshake, and the key AMT generates for its TLS
// certificate.
type floorDevice struct {
	id     tls.Certificate // the device's self-signed certificate
	amtKey tls.Certificate // AMT's TLS key with a certificate issued in setup
	pub    any
}

// benchEngineFloor performs, per device and with engineConcurrency workers on
// loopback TCP: one mutual-TLS 1.2 handshake with the provisioning chain as
// client certificate (verified by the server against the root, as the
// firmware does), one RSA-2048 signature of AMT's TLS certificate by the
// Issuer's CA, and two server-authenticated TLS 1.2 handshakes (client pins
// the certificate). Nothing else: no HTTP, no XML.
func benchEngineFloor(b *testing.B, n int) {
	e := newEngineBench(b)
	devs := make([]floorDevice, n)
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "pc-a0.contoso.com"})
	if err != nil {
		b.Fatal(err)
	}
	// The pool's keys repeat: one certificate per key (setup, not measured).
	byKey := map[*rsa.PrivateKey]tls.Certificate{}
	certFor := func(k *rsa.PrivateKey) tls.Certificate {
		c, ok := byKey[k]
		if !ok {
			if c, err = floorCert(e, k); err != nil {
				b.Fatal(err)
			}
			byKey[k] = c
		}
		return c
	}
	for i := range devs {
		idKey, err := e.keys.Cycle(2048)
		if err != nil {
			b.Fatal(err)
		}
		amtKey, err := e.keys.Cycle(2048)
		if err != nil {
			b.Fatal(err)
		}
		devs[i] = floorDevice{id: certFor(idKey), amtKey: certFor(amtKey), pub: amtKey.Public()}
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.chain.Bundle.Chain[len(e.chain.Bundle.Chain)-1])
	client := e.chain.Bundle.TLSCertificate()

	mutualCfg := &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
		// The firmware verifies the chain to a root it trusts (two RSA
		// verifications); the provisioning leaf carries serverAuth, not
		// clientAuth, so any usage is accepted here.
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			chain := make([]*x509.Certificate, len(raw))
			for i, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				chain[i] = c
			}
			inter := x509.NewCertPool()
			for _, c := range chain[1:] {
				inter.AddCert(c)
			}
			_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			return err
		},
	}
	serverCfg := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, SessionTicketsDisabled: true}
	// Each device has its own certificate and key: the server picks them by
	// the device name the client sends as SNI.
	mutualCfg.GetCertificate = func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &devs[deviceIndex(hi.ServerName)].id, nil
	}
	serverCfg.GetCertificate = func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &devs[deviceIndex(hi.ServerName)].amtKey, nil
	}
	mutualLn := floorServer(b, mutualCfg)
	defer mutualLn.Close()
	serverLn := floorServer(b, serverCfg)
	defer serverLn.Close()

	ctx := context.Background()
	device := func(i int) error {
		// Provisioning connection: mutual TLS, device certificate hashed for
		// the pin (the engine records it; no signature verified).
		cc := &tls.Config{
			MinVersion: tls.VersionTLS12, ServerName: deviceName(i),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client, nil },
			InsecureSkipVerify:   true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				_ = sha256.Sum256(cs.PeerCertificates[0].Raw)
				return nil
			},
		}
		if err := floorHandshake(ctx, mutualLn.Addr().String(), cc); err != nil {
			return fmt.Errorf("mutual TLS: %w", err)
		}
		// The Issuer signs AMT's TLS certificate.
		if _, err := e.devCA.IssueCert(tmpl, devs[i].pub); err != nil {
			return err
		}
		// Read-back: two server-authenticated TLS connections, certificate
		// pinned (the device answers the first request with a digest
		// challenge and closes the connection, as AMT does).
		want := sha256.Sum256(devs[i].amtKey.Certificate[0])
		// As the engine's read-back to a device it knows speaks TLS 1.2 only.
		sc := &tls.Config{
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, ServerName: deviceName(i), InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if sha256.Sum256(cs.PeerCertificates[0].Raw) != want {
					return errors.New("pin mismatch")
				}
				return nil
			},
		}
		for range 2 {
			if err := floorHandshake(ctx, serverLn.Addr().String(), sc); err != nil {
				return fmt.Errorf("server TLS: %w", err)
			}
		}
		return nil
	}

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0, _ := processCPU()
	for i := 0; i < b.N; i++ {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, engineConcurrency)
		for w := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					j := int(next.Add(1) - 1)
					if j >= n {
						return
					}
					if err := device(j); err != nil {
						errs[w] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
	}
	wall := time.Since(start)
	var cpu time.Duration
	if cpu1, ok := processCPU(); ok {
		cpu = cpu1 - cpu0
	}
	b.StopTimer()
	reportEngine(b, n, wall, cpu)
}

// deviceIndex parses the index deviceName encoded ("pc-<letter><index>").
func deviceIndex(name string) int {
	i := 0
	for _, c := range name[4:] {
		i = i*10 + int(c-'0')
	}
	return i
}

// floorCert returns a certificate for key, signed by the device CA.
func floorCert(e *engineBench, key *rsa.PrivateKey) (tls.Certificate, error) {
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "pc-a0.contoso.com"})
	if err != nil {
		return tls.Certificate{}, err
	}
	c, err := e.devCA.IssueCert(tmpl, key.Public())
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, nil
}

// floorServer accepts TLS connections, completes each handshake, reads until
// the client closes and closes.
func floorServer(b *testing.B, cfg *tls.Config) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				if err := tc.Handshake(); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()
	return ln
}

// floorHandshake dials addr, completes a TLS handshake and closes; the server
// confirms its side by the handshake's Finished message, which the client has
// verified when HandshakeContext returns.
func floorHandshake(ctx context.Context, addr string, cfg *tls.Config) error {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		return err
	}
	return c.Close()
}

// BenchmarkEngineQueuedHellos measures what a hello waiting for a session slot
// costs: 1,000 hellos handed to HandleHello while the only slot
// (MaxSessions 1) is held by a session blocked in its Authorizer. Metric:
// B/queued-hello, the live heap + goroutine stacks per waiting hello, its
// decoded 24-hash hello included (at most Config.MaxQueued of them wait;
// further hellos are dropped as overloaded). Goroutines start with the
// runtime's average stack size, so in a busy engine a waiting hello can cost
// more than here.
func BenchmarkEngineQueuedHellos(b *testing.B) {
	const n = 1000
	base, err := hello.Parse(loadHellos(b)[2].Packet)
	if err != nil {
		b.Fatal(err)
	}
	var perHello float64
	b.ReportAllocs()
	hello := func(j int) provisioning.ReceivedHello {
		h := *base
		h.Hashes = append([]amt.CertHash(nil), base.Hashes...)
		for k := range h.Hashes {
			h.Hashes[k].Sum = append([]byte(nil), h.Hashes[k].Sum...)
		}
		h.UUID[0], h.UUID[1], h.UUID[2] = byte(j), byte(j>>8), 0xAA
		return provisioning.ReceivedHello{Hello: &h, Received: time.Now()}
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		blocked := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		p, err := provisioning.New(provisioning.Config{
			Authorizer: provisioning.AuthorizerFunc(func(ctx context.Context, _ provisioning.AuthRequest) (provisioning.Inventory, error) {
				once.Do(func() { close(blocked) })
				select {
				case <-release:
				case <-ctx.Done():
				}
				return provisioning.Inventory{}, errors.New("benchmark: not provisioned")
			}),
			MaxSessions: 1,
			MaxQueued:   2 * n,
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		p.HandleHello(ctx, hello(0))
		<-blocked
		// The decoded hellos count: a waiting session keeps its hello.
		before := settledMem()
		b.StartTimer()
		for j := 1; j < n; j++ {
			p.HandleHello(ctx, hello(j))
		}
		b.StopTimer()
		after := settledMem()
		perHello += float64(int64(after)-int64(before)) / float64(n-1)
		cancel()
		close(release)
		p.Wait()
	}
	b.ReportMetric(perHello/float64(b.N), "B/queued-hello")
}

// helloVector is one embedded hello vector (amt/hello's tests describe them).
type helloVector struct {
	Name                string          `json:"name"`
	Note                string          `json:"note"`
	Packet              testvectors.Hex `json:"packet"`
	AdminCredentialsSet bool            `json:"admin_credentials_set"`
	Version             uint16          `json:"version"`
	Retry               uint32          `json:"retry"`
	UUID                string          `json:"uuid"`
	PID                 string          `json:"pid"`
	HashAlgs            []uint8         `json:"hash_algs"`
	Hashes              []string        `json:"hashes"`
}

func loadHellos(tb testing.TB) []helloVector {
	return testvectors.Load[helloVector](tb, "hello").Vectors
}
