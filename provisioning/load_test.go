package provisioning_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/internal/leakcheck"
	"github.com/amtkit/amtkit/internal/testenv"
	"github.com/amtkit/amtkit/provisioning"
)

// Load test of the hello listener: a child process (this test binary run again
// with floodChildEnv set, so that each side has its own file-descriptor
// budget) holds 5,000 idle or slow connections and floods the listener with
// garbage, while this process sends legitimate hellos from their own
// addresses. Every legitimate hello must be delivered; afterwards no goroutine
// and no descriptor of the listener may remain.
//
// Loopback only, bounded (the child stops on its own after floodChildMaxLife
// or when its stdin closes) and skipped with -short (about 20–40 s under the
// race detector).

const (
	floodChildEnv     = "AMTKIT_LISTENER_FLOOD_CHILD" // JSON floodConfig: run as the load generator
	floodLinePrefix   = "FLOODGEN "
	floodChildMaxLife = 3 * time.Minute
	floodIdle         = 5000
	floodLegit        = 200
)

// floodConfig tells the child what to do.
type floodConfig struct {
	Addr string
	// Idle connections to open and hold, from IdleSources (round robin); every
	// SlowEvery-th one trickles a hello prefix one byte at a time.
	Idle        int
	IdleSources []string
	SlowEvery   int
	// Reconnect reopens a held connection the listener closed (a slowloris
	// that keeps its count up).
	Reconnect bool
	// FloodWorkers open garbage connections in a loop from FloodSources.
	FloodWorkers int
	FloodSources []string
}

// floodReport is the child's answer to a command, one JSON line.
type floodReport struct {
	Phase      string         // "held", "flooding", "done"
	Held       int            // connections open right now
	DialErrors int64          // dials that failed
	Reconnects int64          // held connections reopened after the listener closed them
	Sent       map[string]int // garbage connections by kind
}

// garbage kinds the flood cycles through.
var floodKinds = []string{"random", "oversize", "probe", "truncated", "reset", "bad-hash-length", "empty", "slow-partial"}

// TestListenerFloodChild is the child process of TestHelloListenerUnderLoad;
// it skips unless started by it. Commands on stdin, one per line: "flood"
// starts the garbage flood, "stop" (or the end of stdin) stops everything and
// reports.
func TestListenerFloodChild(t *testing.T) {
	raw := os.Getenv(floodChildEnv)
	if raw == "" {
		t.Skip("helper process of TestHelloListenerUnderLoad")
	}
	var cfg floodConfig
	require.NoError(t, json.Unmarshal([]byte(raw), &cfg))
	if err := raiseFDLimit(uint64(cfg.Idle + 1024)); err != nil {
		t.Fatalf("child: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), floodChildMaxLife)
	defer cancel()
	g := &floodGen{cfg: cfg, sent: make(map[string]int)}
	defer g.closeAll()

	g.holdIdle(ctx)
	g.report("held")

	cmds := make(chan string)
	go func() {
		defer close(cmds)
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			cmds <- strings.TrimSpace(in.Text())
		}
	}()
	var floodWG sync.WaitGroup
	floodCtx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	for {
		select {
		case <-ctx.Done():
			stopFlood()
			floodWG.Wait()
			g.report("done")
			return
		case cmd, ok := <-cmds:
			switch {
			case ok && cmd == "flood":
				for w := 0; w < cfg.FloodWorkers; w++ {
					floodWG.Add(1)
					go func() {
						defer floodWG.Done()
						g.flood(floodCtx, w)
					}()
				}
				g.report("flooding")
			case !ok || cmd == "stop":
				stopFlood()
				floodWG.Wait()
				g.report("done")
				return
			}
		}
	}
}

type floodGen struct {
	cfg        floodConfig
	mu         sync.Mutex
	held       map[net.Conn]struct{}
	sent       map[string]int
	dialErrors atomic.Int64
	reconnects atomic.Int64
	wg         sync.WaitGroup
	closing    atomic.Bool
}

func (g *floodGen) report(phase string) {
	g.mu.Lock()
	r := floodReport{Phase: phase, Held: len(g.held), DialErrors: g.dialErrors.Load(), Reconnects: g.reconnects.Load(),
		Sent: make(map[string]int, len(g.sent))}
	for k, v := range g.sent {
		r.Sent[k] = v
	}
	g.mu.Unlock()
	b, _ := json.Marshal(r)
	fmt.Println(floodLinePrefix + string(b))
}

func dialFrom(ctx context.Context, src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d.DialContext(ctx, "tcp", addr)
}

// holdIdle opens cfg.Idle connections, 64 dials at a time, and keeps each in
// a goroutine that notices when the listener closes it.
func (g *floodGen) holdIdle(ctx context.Context) {
	g.held = make(map[net.Conn]struct{}, g.cfg.Idle)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= g.cfg.Idle || ctx.Err() != nil {
					return
				}
				src := g.cfg.IdleSources[i%len(g.cfg.IdleSources)]
				slow := g.cfg.SlowEvery > 0 && i%g.cfg.SlowEvery == 0
				c, err := dialFrom(ctx, src, g.cfg.Addr)
				if err != nil {
					g.dialErrors.Add(1)
					continue
				}
				g.keep(ctx, c, src, slow)
			}
		}()
	}
	wg.Wait()
}

// keep holds c: a slow one writes a hello prefix a byte every 200 ms; every
// one reads until the listener closes it and then, with Reconnect, dials again
// after a pause.
func (g *floodGen) keep(ctx context.Context, c net.Conn, src string, slow bool) {
	g.mu.Lock()
	g.held[c] = struct{}{}
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			done := make(chan struct{})
			if slow {
				go trickle(c, done)
			}
			_, _ = io.Copy(io.Discard, c) // returns when the listener (or closeAll) closes it
			close(done)
			c.Close()
			g.mu.Lock()
			delete(g.held, c)
			g.mu.Unlock()
			if !g.cfg.Reconnect || g.closing.Load() || ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(1000+rand.IntN(1000)) * time.Millisecond):
			}
			nc, err := dialFrom(ctx, src, g.cfg.Addr)
			if err != nil {
				g.dialErrors.Add(1)
				continue
			}
			g.reconnects.Add(1)
			g.mu.Lock()
			if g.closing.Load() {
				g.mu.Unlock()
				nc.Close()
				return
			}
			g.held[nc] = struct{}{}
			g.mu.Unlock()
			c = nc
		}
	}()
}

func trickle(c net.Conn, done <-chan struct{}) {
	prefix := floodHello(amt.UUID{0xff})
	for i := 0; i < len(prefix)-1; i++ {
		select {
		case <-done:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := c.Write(prefix[i : i+1]); err != nil {
			return
		}
	}
}

func (g *floodGen) closeAll() {
	g.closing.Store(true)
	g.mu.Lock()
	for c := range g.held {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// flood opens garbage connections one after the other until ctx ends.
func (g *floodGen) flood(ctx context.Context, worker int) {
	rng := rand.New(rand.NewPCG(uint64(worker), 42))
	for n := worker; ctx.Err() == nil; n++ {
		kind := floodKinds[n%len(floodKinds)]
		src := g.cfg.FloodSources[n%len(g.cfg.FloodSources)]
		c, err := dialFrom(ctx, src, g.cfg.Addr)
		if err != nil {
			g.dialErrors.Add(1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		switch kind {
		case "random":
			b := make([]byte, 1+rng.IntN(2000))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			_, _ = c.Write(b)
		case "oversize":
			_, _ = c.Write(make([]byte, hello.MaxSize+1000))
		case "probe":
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			_, _ = io.Copy(io.Discard, c)
		case "truncated":
			h := floodHello(amt.UUID{byte(n), byte(n >> 8), 0xee})
			_, _ = c.Write(h[:rng.IntN(len(h))])
		case "reset":
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		case "bad-hash-length":
			h := floodHello(amt.UUID{byte(n), 0xdd})
			h[len(h)-33] = 7 // SHA-256's algorithm with a 7-byte digest
			_, _ = c.Write(h)
		case "empty":
		case "slow-partial":
			_, _ = c.Write([]byte{0x00, 0x03})
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
		g.mu.Lock()
		g.sent[kind]++
		g.mu.Unlock()
	}
}

// floodHello encodes a one-hash version 3 hello for u.
func floodHello(u amt.UUID) []byte {
	sum, _ := amt.HashSHA256.Sum(u[:])
	h := &hello.Message{Version: hello.VersionPKI, UUID: u, Hashes: []amt.CertHash{sum}}
	b, err := h.AppendBinary(nil)
	if err != nil {
		panic(err)
	}
	return b
}

// loopbackRange returns n loopback addresses 127.a.b.c counting up from first.
func loopbackRange(first string, n int) []string {
	a := netip.MustParseAddr(first)
	out := make([]string, n)
	for i := range out {
		out[i] = a.String()
		a = a.Next()
		if b := a.As4(); b[3] == 0 {
			a = a.Next() // skip .0
		}
	}
	return out
}

// loopbackAliases reports whether this system routes all of 127/8 to the
// loopback interface (Linux does; some others only 127.0.0.1).
func loopbackAliases(t *testing.T) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := dialFrom(context.Background(), "127.103.0.1", ln.Addr().String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// floodChild is the running child process.
type floodChild struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan floodReport
	done  chan error
}

func startFloodChild(t *testing.T, cfg floodConfig) *floodChild {
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), floodChildMaxLife+30*time.Second)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestListenerFloodChild$", "-test.count=1",
		"-test.timeout="+(floodChildMaxLife+15*time.Second).String())
	cmd.Env = append(os.Environ(), floodChildEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &floodChild{cmd: cmd, in: in, lines: make(chan floodReport, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), floodLinePrefix)
			if !ok {
				continue
			}
			var r floodReport
			if json.Unmarshal([]byte(line), &r) == nil {
				c.lines <- r
			}
		}
		close(c.lines)
		c.done <- cmd.Wait()
		cancel()
	}()
	t.Cleanup(func() {
		c.in.Close()
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

func (c *floodChild) expect(t *testing.T, phase string) floodReport {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case r, ok := <-c.lines:
			if !ok {
				t.Fatalf("load generator exited before reporting %q: %v", phase, <-c.done)
			}
			if r.Phase == phase {
				return r
			}
		case <-timeout:
			t.Fatalf("load generator did not report %q", phase)
		}
	}
}

func (c *floodChild) send(t *testing.T, cmd string) {
	t.Helper()
	_, err := io.WriteString(c.in, cmd+"\n")
	require.NoError(t, err)
}

// loadCounters is what the listener did, from its Handler and a sampler.
type loadCounters struct {
	mu        sync.Mutex
	legit     map[amt.UUID]bool // legitimate UUIDs delivered to Handler
	maxActive atomic.Int64      // ListenerStats.Active
	maxFDs    atomic.Int64      // open descriptors of this process
}

func TestHelloListenerUnderLoad(t *testing.T) {
	testenv.Long(t) // 5,000 connections in a child process
	if runtime.GOOS != "linux" || !loopbackAliases(t) {
		t.Skip("needs the whole 127/8 on loopback (Linux) for per-source addresses")
	}
	need := uint64(floodIdle + 1024)
	if err := raiseFDLimit(need); err != nil {
		if os.Getenv("AMTKIT_REQUIRE_INTEROP") == "1" {
			t.Fatalf("load test needs %d file descriptors: %v", need, err)
		}
		t.Skipf("load test needs %d file descriptors: %v", need, err)
	}

	tests := []struct {
		name      string
		configure func(l *provisioning.HelloListener)
		cfg       floodConfig
		// held: the listener must hold all idle connections at once.
		held bool
	}{
		{
			name: "5000 held, per-source limit off (relay)",
			configure: func(l *provisioning.HelloListener) {
				l.MaxConns = floodIdle + 1000
				l.PerSourceBurst = -1
				l.ReadTimeout = time.Minute
			},
			cfg: floodConfig{Idle: floodIdle, IdleSources: loopbackRange("127.101.0.1", 50), SlowEvery: 10,
				FloodWorkers: 16, FloodSources: loopbackRange("127.102.0.1", 16)},
			held: true,
		},
		{
			name:      "defaults, slowloris that reconnects",
			configure: func(l *provisioning.HelloListener) {},
			cfg: floodConfig{Idle: floodIdle, IdleSources: loopbackRange("127.101.0.1", floodIdle/20), SlowEvery: 10, Reconnect: true,
				FloodWorkers: 16, FloodSources: loopbackRange("127.102.0.1", 16)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Verify(t, leakcheck.Options{Timeout: 30 * time.Second})
			runListenerLoad(t, tt.configure, tt.cfg, tt.held)
		})
	}
}

func runListenerLoad(t *testing.T, configure func(*provisioning.HelloListener), cfg floodConfig, held bool) {
	counters := &loadCounters{legit: make(map[amt.UUID]bool)}
	l := &provisioning.HelloListener{
		Handler: func(_ context.Context, r provisioning.ReceivedHello) {
			if r.Hello.UUID[0] == 0xa1 { // legitimate hellos are marked
				counters.mu.Lock()
				counters.legit[r.Hello.UUID] = true
				counters.mu.Unlock()
			}
		},
	}
	configure(l)
	maxConns := l.MaxConns
	if maxConns == 0 {
		maxConns = 1024
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()
	stopServe := func() {
		cancel()
		select {
		case err := <-served:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return after cancel")
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stopServe()
		}
	}()

	// Sample the number of connections being read.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var samplerWG sync.WaitGroup
	samplerWG.Add(1)
	go func() {
		defer samplerWG.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
				if a := l.Stats().Active; a > counters.maxActive.Load() {
					counters.maxActive.Store(a)
				}
				if n%4 == 0 {
					if f := int64(leakcheck.CountFDs()); f > counters.maxFDs.Load() {
						counters.maxFDs.Store(f)
					}
				}
			}
		}
	}()
	defer func() { stopSampling(); samplerWG.Wait() }()

	memBefore := settledMemory()
	fdsBefore := leakcheck.CountFDs()
	cfg.Addr = ln.Addr().String()
	child := startFloodChild(t, cfg)
	rep := child.expect(t, "held")
	t.Logf("child holds %d connections (%d dial errors)", rep.Held, rep.DialErrors)
	var perConn float64
	if held {
		require.Equal(t, cfg.Idle, rep.Held, "the child must open every connection")
		require.Eventually(t, func() bool { return l.Stats().Active >= int64(cfg.Idle) }, time.Minute, 10*time.Millisecond,
			"the listener must hold all %d connections (it has %d)", cfg.Idle, l.Stats().Active)
		active := l.Stats().Active
		grown := float64(settledMemory()) - float64(memBefore)
		perConn = grown / float64(active)
		t.Logf("listener holds %d connections; heap+stacks grew %.1f MiB, %.1f KiB per connection",
			active, grown/(1<<20), perConn/1024)
		// Bounded memory: a goroutine stack and a 1 KiB read buffer per
		// connection, with room for the race detector's larger stacks.
		assert.Less(t, perConn, float64(64<<10), "memory per idle connection")
	}

	// The flood runs alone for a second, then with legitimate hellos paced
	// over about 2.5 s (80 a second), then alone again until all are in.
	child.send(t, "flood")
	child.expect(t, "flooding")
	time.Sleep(time.Second)
	sent, retried := sendLegitHellos(t, cfg.Addr, floodLegit, 100*time.Millisecond)
	require.Eventually(t, func() bool {
		counters.mu.Lock()
		defer counters.mu.Unlock()
		return len(counters.legit) == sent
	}, time.Minute, 10*time.Millisecond, "every legitimate hello must be delivered under the flood")
	activeUnderFlood := l.Stats().Active
	time.Sleep(500 * time.Millisecond)
	child.send(t, "stop")
	final := child.expect(t, "done")
	st := l.Stats()
	stopServe()

	counters.mu.Lock()
	delivered := len(counters.legit)
	counters.mu.Unlock()
	t.Logf("legitimate hellos: %d sent, %d delivered, %d needed a second connection", sent, delivered, retried)
	t.Logf("garbage sent: %v; reconnects %d, dial errors %d", final.Sent, final.Reconnects, final.DialErrors)
	t.Logf("listener: accepted %d, received %d, malformed %d, oversize %d, timeout %d, probes %d, rate-limited %d, evicted %d, read errors %d; max active %d (limit %d), active under flood %d; descriptors: %d before, at most %d",
		st.Accepted, st.Received, st.Malformed, st.Oversize, st.Timeout, st.Probes, st.RateLimited, st.Evicted, st.ReadErrors,
		counters.maxActive.Load(), maxConns, activeUnderFlood, fdsBefore, counters.maxFDs.Load())

	assert.Equal(t, floodLegit, delivered)
	// The cap holds: an evicted connection is closed at once, but its
	// goroutine (counted in Active) and its descriptor (released when the
	// blocked Read wakes) go a moment later, hence the slack. The legitimate
	// senders' 8 client sockets are in this process too.
	slack := int64(maxConns/10 + 8)
	assert.LessOrEqual(t, counters.maxActive.Load(), int64(maxConns)+slack, "the connection cap holds")
	if fdsBefore >= 0 {
		assert.LessOrEqual(t, counters.maxFDs.Load(), int64(fdsBefore+maxConns)+slack, "descriptors stay within the cap")
	}
	assert.Positive(t, st.Malformed, "the flood's garbage is reported as malformed")
	if held {
		assert.GreaterOrEqual(t, activeUnderFlood, int64(cfg.Idle), "idle connections stay held through the flood")
		assert.Zero(t, st.Evicted)
		assert.Positive(t, st.Oversize)
		assert.Positive(t, st.Probes)
	} else {
		assert.Positive(t, st.Evicted, "slow connections are evicted to make room")
		assert.Positive(t, st.RateLimited, "flooding sources are rate limited")
	}
	for _, k := range floodKinds {
		assert.Positive(t, final.Sent[k], "the flood sent %s connections", k)
	}
}

// sendLegitHellos sends n hellos, each from its own loopback address as a
// device would, from 8 senders that pause between hellos. A hello whose
// connection fails is sent again (a device retries), at most 3 times; retried
// counts those.
func sendLegitHellos(t *testing.T, addr string, n int, pause time.Duration) (sent, retried int) {
	srcs := loopbackRange("127.103.0.1", n)
	var next, retries atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				var u amt.UUID
				u[0] = 0xa1
				binary.BigEndian.PutUint32(u[12:], uint32(i))
				pkt := floodHello(u)
				var err error
				for attempt := 0; attempt < 3; attempt++ {
					if attempt > 0 {
						retries.Add(1)
					}
					if err = sendOne(srcs[i], addr, pkt); err == nil {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("hello %d from %s: %w", i, srcs[i], err)
				}
				time.Sleep(pause)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return n, int(retries.Load())
}

func sendOne(src, addr string, pkt []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialFrom(ctx, src, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(pkt); err != nil {
		return err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return errors.New("not TCP")
	}
	return tc.CloseWrite()
}

// settledMemory is the heap in use plus goroutine stacks after a GC.
func settledMemory() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
