package provisioning_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/internal/cmd/fleet/simfleet"
	"github.com/amtkit/amtkit/provisioning"
)

// Fleet benchmarks: the simulated devices run in processes of their own
// (internal/cmd/fleet's simfleet, here this test binary re-run as
// TestFleetProcess), so the CPU time, memory and goroutines measured in this
// process are the engine's alone. Every device listens on its own loopback
// address on 16993/16992; the engine connects back to "<hello source>:16993"
// with its default dialer and address rule, as on a real network.
//
//   - BenchmarkFleetEngine1000 and BenchmarkFleetEngine1000Floor: 1,000
//     devices without latency, the engine against the cryptography its side
//     of the work needs (the floor's servers out of process too): the budget
//     is the engine's CPU per device ≤ 1.5× the floor's.
//   - BenchmarkFleet10000: 10,000 devices that take the time real firmware
//     takes (amtsim.FirmwareLatency: per exchange, TLS handshake, key
//     generation, network restart after commit), every session allowed to run
//     at once (AMTKIT_BENCH_FLEET_SESSIONS overrides): wall time, sessions in
//     flight, engine memory and goroutines per in-flight session (budget ≤ 64
//     KB), and what is left when all have ended.
//
// Metrics besides devices/s and cpu-ms/device (this process only):
//
//	peak-B/session      engine heap + stacks per running session (sampled every
//	                    10 ms while ≥ 90% of the peak number ran, above the
//	                    baseline, less what finished sessions left behind)
//	held-B/session      the same, read right after two forced collections at
//	                    the plateau (latency runs): what the sessions hold,
//	                    without the garbage a concurrent collection marks live
//	goroutines/session  engine goroutines per running session, same samples
//	inflight            the peak number of sessions running at once
//	leaked-goroutines   goroutines left 10 s after the provisioner stopped,
//	                    above those before it started
//	B/done-device       what a finished session leaves (its store record)
//	exchanges/device, 401/device, full-handshakes/device,
//	resumed-handshakes/device
//	                    round trips counted by the devices
//	fleet-cpu-ms/device the fleet processes' CPU per device (not the engine's)
//	hello-rounds-resent how often the devices not yet contacted resent their
//	                    hello (every 20 s, as devices retry; 0 when none was lost)
//	hellos-undelivered  hellos a device could not deliver (the listener evicted
//	                    its connection under the burst); it sends again later
//
// The 1,000-device pair runs with AMTKIT_BENCH_ENGINE=1, the 10,000-device run
// with AMTKIT_BENCH_FLEET=1; the bench tool sets both unless -short.

const (
	fleetChildEnv    = "AMTKIT_FLEET_CHILD"          // the flags of a fleet process
	fleetBenchEnv    = "AMTKIT_BENCH_FLEET"          // enables BenchmarkFleet10000
	fleetSessionsEnv = "AMTKIT_BENCH_FLEET_SESSIONS" // Config.MaxSessions of BenchmarkFleet10000 (default: all)
	fleetNEnv        = "AMTKIT_BENCH_FLEET_N"        // its number of devices (default 10,000)
	fleetScaleEnv    = "AMTKIT_BENCH_FLEET_SCALE"    // its latency scale (default 1: the model's timings)
	// fleetShard is the most devices one fleet process serves: three
	// listening sockets each, under a 20,000 descriptor limit.
	fleetShard = 4000
)

// TestFleetProcess is a fleet process of the fleet benchmarks; it skips
// unless started by them.
func TestFleetProcess(t *testing.T) {
	args := os.Getenv(fleetChildEnv)
	if args == "" {
		t.Skip("helper process of the fleet benchmarks")
	}
	os.Exit(simfleet.Main(context.Background(), strings.Fields(args), os.Stdin, os.Stdout, os.Stderr))
}

// oopFleet is a fleet spread over processes.
type oopFleet struct {
	procs   []*simfleet.Process
	devices []simfleet.Device
}

// startFleetProcesses starts ceil(n/fleetShard) fleet processes; extra are
// more flags for each.
func startFleetProcesses(b *testing.B, n int, root amt.CertHash, extra ...string) *oopFleet {
	b.Helper()
	f := &oopFleet{}
	seed := byte(rand.N(64)) // parallel runs rarely meet
	for k := 0; n > 0; k++ {
		m := min(n, fleetShard)
		n -= m
		first := netip.AddrFrom4([4]byte{127, 100 + seed + byte(k), 0, 1})
		args := append(simfleet.Args(simfleet.Options{N: m, RootHash: root, Suffix: "contoso.com", FirstIP: first}), extra...)
		cmd := exec.Command(os.Args[0], "-test.run", "^TestFleetProcess$", "-test.count", "1")
		cmd.Env = append(os.Environ(), fleetChildEnv+"="+strings.Join(args, " "))
		cmd.Stderr = os.Stderr
		p, err := simfleet.Launch(cmd)
		if err != nil {
			f.close()
			b.Fatal(err)
		}
		f.procs = append(f.procs, p)
		f.devices = append(f.devices, p.Ready.Devices...)
	}
	return f
}

// hellos has every fleet process send its devices' hellos to addr and returns
// how many were not delivered (the listener, under a burst, may evict a
// connection before reading it; such a device sends again later, as devices
// retry).
func (f *oopFleet) hellos(addr string) (failed int, err error) {
	errs := make([]error, len(f.procs))
	fails := make([]int, len(f.procs))
	var wg sync.WaitGroup
	for i, p := range f.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.Hellos(addr)
			errs[i], fails[i] = err, r.Failed
		}()
	}
	wg.Wait()
	for _, n := range fails {
		failed += n
	}
	return failed, errors.Join(errs...)
}

func (f *oopFleet) counters() (amtsim.Counters, time.Duration, error) {
	var sum amtsim.Counters
	var cpu time.Duration
	for _, p := range f.procs {
		c, err := p.Counters()
		if err != nil {
			return sum, cpu, err
		}
		st, err := p.Stats()
		if err != nil {
			return sum, cpu, err
		}
		sum, cpu = sum.Add(c), cpu+st.CPU
	}
	return sum, cpu, nil
}

func (f *oopFleet) reset() (time.Duration, error) {
	var cpu time.Duration
	for _, p := range f.procs {
		if err := p.Reset(); err != nil {
			return 0, err
		}
		st, err := p.Stats()
		if err != nil {
			return 0, err
		}
		cpu += st.CPU
	}
	return cpu, nil
}

func (f *oopFleet) close() {
	for _, p := range f.procs {
		_ = p.Close()
	}
}

func needFleetEnv(b *testing.B) {
	if os.Getenv(fleetBenchEnv) != "1" {
		b.Skipf("set %s=1 (or use go run ./internal/cmd/benchtable) to provision 10,000 simulated devices under the firmware latency model", fleetBenchEnv)
	}
}

func BenchmarkFleetEngine1000(b *testing.B) {
	needEngineEnv(b)
	benchFleetEngine(b, fleetRun{n: 1000, sessions: engineConcurrency, verifyDelay: 20 * time.Millisecond})
}

func BenchmarkFleetEngine1000Floor(b *testing.B) {
	needEngineEnv(b)
	benchFleetFloor(b, 1000)
}

func BenchmarkFleetEngine100(b *testing.B) {
	benchFleetEngine(b, fleetRun{n: 100, sessions: engineConcurrency, verifyDelay: 20 * time.Millisecond})
}

func BenchmarkFleetEngine100Floor(b *testing.B) { benchFleetFloor(b, 100) }

func BenchmarkFleet10000(b *testing.B) {
	needFleetEnv(b)
	n := 10000
	if s, err := strconv.Atoi(os.Getenv(fleetNEnv)); err == nil && s > 0 {
		n = s // a smaller fleet for a quick look; the figure is 10,000's
	}
	sessions := n
	if s, err := strconv.Atoi(os.Getenv(fleetSessionsEnv)); err == nil && s > 0 {
		sessions = s
	}
	scale := 1.0
	if s, err := strconv.ParseFloat(os.Getenv(fleetScaleEnv), 64); err == nil && s > 0 {
		scale = s
	}
	benchFleetEngine(b, fleetRun{n: n, sessions: sessions, latency: true, scale: scale})
}

// fleetRun is one fleet benchmark's shape.
type fleetRun struct {
	n           int
	sessions    int           // Config.MaxSessions
	latency     bool          // devices run amtsim.FirmwareLatency
	scale       float64       // … scaled by this (0: 1)
	verifyDelay time.Duration // Config.CommitVerifyDelay (0: the default, 5 s)
}

// fleetSample is one reading of the engine process.
type fleetSample struct {
	mem             uint64
	goroutines      int
	ended, inflight int
	// settled marks a reading taken right after two forced collections:
	// mem is then what the process holds, without the garbage a concurrent
	// collection marks live because it was allocated during its cycle.
	settled bool
}

func benchFleetEngine(b *testing.B, run fleetRun) {
	if err := raiseFDLimit(uint64(run.sessions) + 4096); err != nil {
		b.Logf("file descriptors: %v", err)
	}
	e := newEngineBench(b)
	root := e.chain.Bundle.RootHash(amt.HashSHA256)
	var extra []string
	if run.latency {
		extra = append(extra, "-latency", "firmware")
		if run.scale > 0 && run.scale != 1 {
			extra = append(extra, "-latency-scale", strconv.FormatFloat(run.scale, 'g', -1, 64))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wall, cpu, fleetCPU time.Duration
	var peakMem, peakG, residual, held float64
	var heldRuns int
	var inflight, leaked, resent, lost int
	var rt amtsim.Counters
	b.ReportAllocs()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		fleet := startFleetProcesses(b, run.n, root, extra...)
		if len(fleet.devices) != run.n {
			fleet.close()
			b.Fatalf("%d devices started, want %d", len(fleet.devices), run.n)
		}
		inv := provisioning.NewInventoryList()
		for j, d := range fleet.devices {
			u, err := amt.ParseUUID(d.UUID)
			if err != nil {
				b.Fatal(err)
			}
			inv.Add(provisioning.Inventory{UUID: u, FQDN: deviceName(j) + ".contoso.com"})
		}
		baseG := runtime.NumGoroutine()
		tr := newSessionTracker(run.n)
		p, err := provisioning.New(provisioning.Config{
			Bundles:    []certs.Bundle{e.chain.Bundle},
			Authorizer: inv,
			Profiles: map[string]provisioning.Profile{
				provisioning.DefaultProfileName: {TLS: &provisioning.TLSProfile{}},
			},
			Issuer:            &testIssuer{ca: e.devCA, forget: true},
			Observer:          tr.observe,
			CommitVerifyDelay: run.verifyDelay,
			MaxSessions:       run.sessions,
			MaxQueued:         run.n,
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
		settleAt := 0
		if run.latency {
			settleAt = run.sessions * 95 / 100 // the plateau, where sessions wait on slow firmware
		}
		stopSampling := sampleFleet(10*time.Millisecond, tr, settleAt)
		fleetCPU0, err := fleet.reset()
		if err != nil {
			b.Fatal(err)
		}

		b.StartTimer()
		start := time.Now()
		cpu0, _ := processCPU()
		go func() { served <- p.Serve(sctx, ln) }()
		undelivered, err := fleet.hellos(ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		lost += undelivered
		// Devices resend their hellos until a configuration server contacts
		// them (DefaultHelloBackoff); a hello the listener dropped under load
		// is sent again here every 20 s, by the devices not yet contacted.
		resend := time.NewTicker(20 * time.Second)
		giveUp := time.After(30 * time.Minute)
	wait:
		for {
			select {
			case <-tr.done:
				break wait
			case <-resend.C:
				ended, inflight := tr.counts()
				if os.Getenv("AMTKIT_BENCH_PROGRESS") != "" {
					fmt.Fprintf(os.Stderr, "%s: %d ended, %d in flight of %d\n", time.Since(start).Round(time.Second), ended, inflight, run.n)
				}
				if ended+inflight < run.n {
					undelivered, err := fleet.hellos(ln.Addr().String())
					if err != nil {
						b.Fatal(err)
					}
					lost += undelivered
					resent++
				}
			case <-giveUp:
				ended, _ := tr.counts()
				b.Fatalf("%d of %d sessions ended within 30 minutes", ended, run.n)
			}
		}
		resend.Stop()
		wall += time.Since(start)
		if cpu1, ok := processCPU(); ok {
			cpu += cpu1 - cpu0
		}
		b.StopTimer()

		ss := stopSampling()
		c, fcpu, err := fleet.counters()
		if err != nil {
			b.Fatal(err)
		}
		rt, fleetCPU = rt.Add(c), fleetCPU+fcpu-fleetCPU0
		stop()
		if err := <-served; err != nil {
			b.Fatal(err)
		}
		left := float64(int64(settledMem())-int64(base)) / float64(run.n)
		residual += left
		m, g, peak := perSession(ss, base, baseG, left, false)
		peakMem, peakG = peakMem+m, peakG+g
		if h, _, _ := perSession(ss, base, baseG, left, true); h > 0 {
			held += h
			heldRuns++
		}
		inflight = max(inflight, peak)
		fleet.close()
		// Nothing of the engine may outlive its sessions.
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > baseG && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		leaked = max(leaked, runtime.NumGoroutine()-baseG)
		if tr.provisioned != run.n {
			b.Fatalf("%d of %d devices provisioned; first failure: %v", tr.provisioned, run.n, tr.firstErr)
		}
	}
	reportEngine(b, run.n, wall, cpu)
	per := float64(run.n * b.N)
	b.ReportMetric(peakMem/float64(b.N), "peak-B/session")
	if heldRuns > 0 {
		b.ReportMetric(held/float64(heldRuns), "held-B/session")
	}
	b.ReportMetric(peakG/float64(b.N), "goroutines/session")
	b.ReportMetric(float64(inflight), "inflight")
	b.ReportMetric(float64(leaked), "leaked-goroutines")
	b.ReportMetric(residual/float64(b.N), "B/done-device")
	b.ReportMetric(float64(rt.Exchanges)/per, "exchanges/device")
	b.ReportMetric(float64(rt.Unauthorized)/per, "401/device")
	b.ReportMetric(float64(rt.FullHandshakes)/per, "full-handshakes/device")
	b.ReportMetric(float64(rt.ResumedHandshakes)/per, "resumed-handshakes/device")
	b.ReportMetric(float64(fleetCPU)/float64(time.Millisecond)/per, "fleet-cpu-ms/device")
	b.ReportMetric(float64(resent), "hello-rounds-resent")
	b.ReportMetric(float64(lost)/float64(b.N), "hellos-undelivered")
}

// sampleFleet samples the engine process's live heap, stacks and goroutines
// with the tracker's counts until the returned function is called, which
// returns the samples. Once at least settleAt sessions are in flight (0:
// never), it also takes up to three settled readings, 2 s apart: two forced
// collections, then the same reading. A sample between collections counts what
// the last concurrent cycle marked, which includes everything allocated while
// it ran (the handshakes' and exchanges' garbage of thousands of sessions); a
// settled reading counts what the sessions hold.
func sampleFleet(every time.Duration, tr *sessionTracker, settleAt int) func() []fleetSample {
	var out []fleetSample
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s := newSamples()
		t := time.NewTicker(every)
		defer t.Stop()
		var settled int
		var lastSettled time.Time
		for {
			ended, inflight := tr.counts()
			out = append(out, fleetSample{mem: liveMem(s), goroutines: runtime.NumGoroutine(), ended: ended, inflight: inflight})
			if settleAt > 0 && inflight >= settleAt && settled < 3 && time.Since(lastSettled) >= 2*time.Second {
				runtime.GC()
				runtime.GC()
				ended, inflight := tr.counts()
				out = append(out, fleetSample{mem: liveMem(s), goroutines: runtime.NumGoroutine(), ended: ended, inflight: inflight, settled: true})
				if os.Getenv("AMTKIT_BENCH_PROGRESS") != "" {
					fmt.Fprintf(os.Stderr, "settled: %d in flight, %d ended; %s\n", inflight, ended, memBreakdown())
				}
				if path := os.Getenv("AMTKIT_BENCH_HEAPPROFILE"); path != "" {
					if f, err := os.Create(fmt.Sprintf("%s.%d", path, settled)); err == nil {
						_ = pprof.WriteHeapProfile(f)
						_ = f.Close()
					}
					if f, err := os.Create(fmt.Sprintf("%s.goroutines.%d", path, settled)); err == nil {
						_ = pprof.Lookup("goroutine").WriteTo(f, 1)
						_ = f.Close()
					}
				}
				settled++
				lastSettled = time.Now()
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() []fleetSample { close(stop); <-done; return out }
}

// perSession estimates, from samples taken while at least 90% of the peak
// number of sessions ran, the largest memory and goroutine count per running
// session above the baselines (less what ended sessions leave behind). With
// settled, only the settled readings count; otherwise only the others.
func perSession(ss []fleetSample, base uint64, baseG int, residual float64, settled bool) (mem, goroutines float64, peak int) {
	for _, x := range ss {
		peak = max(peak, x.inflight)
	}
	for _, x := range ss {
		if x.settled != settled || x.inflight == 0 || 10*x.inflight < 9*peak {
			continue
		}
		est := float64(int64(x.mem)-int64(base)) - residual*float64(x.ended)
		mem = max(mem, est/float64(x.inflight))
		goroutines = max(goroutines, float64(x.goroutines-baseG)/float64(x.inflight))
	}
	return mem, goroutines, peak
}

// benchFleetFloor does, per device and with engineConcurrency workers, the
// engine side's cryptography against the floor listeners of a fleet process:
// one mutual-TLS 1.2 handshake presenting the provisioning chain (the client
// signs; the server, out of process, verifies the chain), the device
// certificate hashed for its pin; the Issuer's RSA-2048 signature of AMT's TLS
// certificate; two server-authenticated TLS 1.2 handshakes whose certificate
// is pinned (the read-back's two connections). No HTTP, no XML.
func benchFleetFloor(b *testing.B, n int) {
	e := newEngineBench(b)
	root := e.chain.Bundle.RootHash(amt.HashSHA256)
	f := startFleetProcesses(b, 1, root, "-floor")
	defer f.close()
	fl := f.procs[0].Ready.Floor
	if fl == nil {
		b.Fatal("the fleet process serves no floor")
	}
	pin, err := hex.DecodeString(fl.Pin)
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "pc-a0.contoso.com"})
	if err != nil {
		b.Fatal(err)
	}
	amtKey, err := e.keys.Cycle(2048)
	if err != nil {
		b.Fatal(err)
	}
	client := e.chain.Bundle.TLSCertificate()
	ctx := context.Background()
	device := func() error {
		cc := &tls.Config{
			MinVersion: tls.VersionTLS12, ServerName: "pc-a0.contoso.com",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client, nil },
			InsecureSkipVerify:   true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				_ = sha256.Sum256(cs.PeerCertificates[0].Raw)
				return nil
			},
		}
		if err := floorHandshake(ctx, fl.Mutual, cc); err != nil {
			return fmt.Errorf("mutual TLS: %w", err)
		}
		if _, err := e.devCA.IssueCert(tmpl, amtKey.Public()); err != nil {
			return err
		}
		// As the engine's read-back to a device it knows speaks TLS 1.2 only.
		sc := &tls.Config{
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, ServerName: "pc-a0.contoso.com", InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if got := sha256.Sum256(cs.PeerCertificates[0].Raw); string(got[:]) != string(pin) {
					return errors.New("pin mismatch")
				}
				return nil
			},
		}
		for range 2 {
			if err := floorHandshake(ctx, fl.Server, sc); err != nil {
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
				for next.Add(1) <= int64(n) {
					if err := device(); err != nil {
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

// memBreakdown names the parts of liveMem and the stack the last collection
// scanned, for AMTKIT_BENCH_PROGRESS.
func memBreakdown() string {
	s := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/stack/starting-size:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(s)
	out := ""
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			out += fmt.Sprintf(" %s=%d", x.Name, x.Value.Uint64())
		}
	}
	return out
}
