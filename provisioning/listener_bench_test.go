package provisioning_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/provisioning"
)

// Listener benchmarks (budgets in docs/PERFORMANCE.md): hellos per second
// through a HelloListener against a floor of a bare accept–read–close TCP
// server measured the same way, and the memory the listener holds under 5,000
// idle connections. The load generator is this test binary re-executed as a
// child process (TestHelloLoadGenerator with AMTKIT_HELLO_LOADGEN set), so
// that the server and the generator each have their own file-descriptor budget
// and runtime.
//
// The generator sends the real 841-byte, 24-hash hello (MeshCentral sample C)
// from loopback with 64 connections at a time: dial, write, close. Every
// hello comes from 127.0.0.1, so the listener runs with its per-source limit
// off (PerSourceBurst -1), as behind a relay; everything else is default.
// Metrics: hellos/s (the budgeted figure: at least 0.5× the floor) and
// cpu-µs/hello, the server process's own CPU time per hello.

const (
	loadgenEnv  = "AMTKIT_HELLO_LOADGEN" // "send" or "idle": run as the load generator
	loadgenAddr = "AMTKIT_HELLO_ADDR"
	loadgenN    = "AMTKIT_HELLO_N"
	loadgenConc = 64
)

// TestHelloLoadGenerator is the child process of the listener benchmarks; it
// skips unless started by them. Protocol on stdin/stdout, one line each:
// child "ready", parent "go", child "done <delivered> <errors>"; in idle mode
// the parent may then send "hellos <n>" (answered "done …" again) and closes
// stdin to end the child.
func TestHelloLoadGenerator(t *testing.T) {
	mode := os.Getenv(loadgenEnv)
	if mode == "" {
		t.Skip("helper process of the listener benchmarks")
	}
	addr := os.Getenv(loadgenAddr)
	n, err := strconv.Atoi(os.Getenv(loadgenN))
	if err != nil || addr == "" {
		t.Fatalf("%s and %s must be set", loadgenAddr, loadgenN)
	}
	pkt := loadHellos(t)[2].Packet
	in := bufio.NewScanner(os.Stdin)
	switch mode {
	case "send":
		fmt.Println("ready")
		if !in.Scan() || in.Text() != "go" {
			t.Fatal("no go")
		}
		ok, bad := sendHellos(addr, pkt, n, loadgenConc)
		fmt.Printf("done %d %d\n", ok, bad)
	case "idle":
		conns, bad := openIdle(addr, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		fmt.Printf("ready %d %d\n", len(conns), bad)
		for in.Scan() {
			f := strings.Fields(in.Text())
			if len(f) == 2 && f[0] == "hellos" {
				k, _ := strconv.Atoi(f[1])
				ok, bad := sendHellos(addr, pkt, k, 8)
				fmt.Printf("done %d %d\n", ok, bad)
			}
		}
	default:
		t.Fatalf("%s=%q", loadgenEnv, mode)
	}
}

// sendHellos sends n hellos with conc connections at a time.
func sendHellos(addr string, pkt []byte, n, conc int) (ok, bad int64) {
	var next, okc, badc atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second}
			for next.Add(1) <= int64(n) {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					badc.Add(1)
					continue
				}
				if _, err := c.Write(pkt); err != nil {
					badc.Add(1)
				} else {
					okc.Add(1)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	return okc.Load(), badc.Load()
}

// openIdle opens n connections that send nothing.
func openIdle(addr string, n int) ([]net.Conn, int) {
	var mu sync.Mutex
	conns := make([]net.Conn, 0, n)
	bad := 0
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second}
			for next.Add(1) <= int64(n) {
				c, err := d.Dial("tcp", addr)
				mu.Lock()
				if err != nil {
					bad++
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, bad
}

// loadgen is a running child process.
type loadgen struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startLoadgen(b *testing.B, mode, addr string, n int) (*loadgen, []string) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelloLoadGenerator$", "-test.v=false")
	cmd.Env = append(os.Environ(), loadgenEnv+"="+mode, loadgenAddr+"="+addr, loadgenN+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	g := &loadgen{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	return g, g.expect(b, "ready")
}

// expect reads lines until one starts with word and returns its fields.
func (g *loadgen) expect(b *testing.B, word string) []string {
	for g.out.Scan() {
		if f := strings.Fields(g.out.Text()); len(f) > 0 && f[0] == word {
			return f
		}
	}
	b.Fatalf("load generator ended before %q: %v", word, g.out.Err())
	return nil
}

func (g *loadgen) send(b *testing.B, line string) {
	if _, err := io.WriteString(g.in, line+"\n"); err != nil {
		b.Fatal(err)
	}
}

func (g *loadgen) stop() {
	g.in.Close()
	_ = g.cmd.Wait()
}

// helloServer is what the benchmark loads: it counts connections finished
// and complete hellos among them.
type helloServer struct {
	hellos   atomic.Int64 // complete hellos handled
	finished atomic.Int64 // connections done with, hello or not
	evicted  atomic.Int64
	target   int64
	reached  chan struct{}
	once     sync.Once
}

// done records one finished connection; hello says whether it delivered one.
func (s *helloServer) done(hello bool) {
	if hello {
		s.hellos.Add(1)
	}
	if s.finished.Add(1) == s.target {
		s.once.Do(func() { close(s.reached) })
	}
}

func BenchmarkHelloListener(b *testing.B) {
	benchHelloServer(b, func(ctx context.Context, ln net.Listener, s *helloServer) {
		l := &provisioning.HelloListener{
			Handler:        func(context.Context, provisioning.ReceivedHello) {},
			PerSourceBurst: -1,
			// Every connection ends in exactly one event.
			OnEvent: func(e provisioning.ListenerEvent) {
				if e.Kind == provisioning.EventEvicted {
					s.evicted.Add(1)
				}
				s.done(e.Kind == provisioning.EventHelloReceived)
			},
		}
		_ = l.Serve(ctx, ln)
	})
}

// BenchmarkHelloListenerFloor is a bare accept–read–close server: a goroutine
// per connection reads to EOF and closes.
func BenchmarkHelloListenerFloor(b *testing.B) {
	benchHelloServer(b, func(ctx context.Context, ln net.Listener, s *helloServer) {
		stop := context.AfterFunc(ctx, func() { ln.Close() })
		defer stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 1024)
				n := 0
				for {
					k, err := c.Read(buf)
					n += k
					if err != nil {
						break
					}
				}
				c.Close()
				s.done(n > 0)
			}()
		}
	})
}

// benchHelloServer measures b.N hello connections from the child process.
// hellos/s counts the hellos handled; a hello the server dropped (the
// listener evicts the oldest unfinished connection when MaxConns are open,
// which happens when the machine starves its goroutines) shows in lost.
func benchHelloServer(b *testing.B, serve func(context.Context, net.Listener, *helloServer)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &helloServer{target: int64(b.N), reached: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(ctx, ln, s)
	}()
	defer func() {
		cancel()
		<-done
	}()
	g, _ := startLoadgen(b, "send", ln.Addr().String(), b.N)
	defer g.stop()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0, _ := processCPU()
	g.send(b, "go")
	res := g.expect(b, "done")
	select {
	case <-s.reached:
	case <-time.After(30 * time.Second):
		b.Fatalf("server finished %d of %d connections (generator: %v)", s.finished.Load(), b.N, res)
	}
	elapsed := time.Since(start)
	cpu1, cpuOK := processCPU()
	b.StopTimer()
	if res[2] != "0" {
		b.Fatalf("generator: %v", res)
	}
	b.ReportMetric(float64(s.hellos.Load())/elapsed.Seconds(), "hellos/s")
	b.ReportMetric(float64(int64(b.N)-s.hellos.Load()), "lost")
	if cpuOK {
		// The server's own CPU time (the generator is another process).
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/hello")
	}
}

// BenchmarkHelloListenerIdle5000: 5,000 connections that send nothing, opened
// by the child process, then 100 real hellos. Metrics: held (connections the
// listener keeps open), heap-B/conn (live heap + goroutine stacks per held
// connection), evicted, and legit (hellos received while the idle connections
// stand), cpu-µs/conn (the listener process's CPU time per idle connection
// accepted, evictions included). With the default limit (MaxConns 1024) the listener holds at most
// 1,024 and evicts the oldest; with MaxConns 8192 it holds all 5,000.
func BenchmarkHelloListenerIdle5000(b *testing.B) {
	for _, tc := range []struct {
		name     string
		maxConns int
	}{{"default-limit", 0}, {"limit-8192", 8192}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchIdle(b, 5000, tc.maxConns)
			}
		})
	}
}

func benchIdle(b *testing.B, n, maxConns int) {
	b.StopTimer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var received atomic.Int64
	l := &provisioning.HelloListener{
		Handler:        func(context.Context, provisioning.ReceivedHello) { received.Add(1) },
		PerSourceBurst: -1,
		MaxConns:       maxConns,
		ReadTimeout:    time.Minute,
	}
	done := make(chan error, 1)
	before := settledMem()
	go func() { done <- l.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	b.StartTimer()
	cpu0, _ := processCPU()
	g, ready := startLoadgen(b, "idle", ln.Addr().String(), n)
	defer g.stop()
	if ready[2] != "0" {
		b.Fatalf("generator: %v", ready)
	}
	want := int64(n)
	if maxConns == 0 {
		want = 1024
	}
	deadline := time.Now().Add(30 * time.Second)
	for l.Stats().Accepted < uint64(n) || l.Stats().Active != want {
		if time.Now().After(deadline) {
			b.Fatalf("listener stats %+v, want %d active", l.Stats(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cpu1, cpuOK := processCPU()
	b.StopTimer()
	held := l.Stats().Active
	heap := settledMem()
	b.StartTimer()
	g.send(b, "hellos 100")
	res := g.expect(b, "done")
	deadline = time.Now().Add(30 * time.Second)
	for received.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	if res[1] != "100" || received.Load() != 100 {
		b.Fatalf("legitimate hellos: generator %v, received %d of 100", res, received.Load())
	}
	st := l.Stats()
	b.ReportMetric(float64(held), "held")
	b.ReportMetric(float64(int64(heap)-int64(before))/float64(held), "heap-B/conn")
	b.ReportMetric(float64(st.Evicted), "evicted")
	b.ReportMetric(float64(received.Load()), "legit")
	if cpuOK {
		// The listener's CPU time per idle connection accepted (evictions
		// included).
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(n), "cpu-µs/conn")
	}
}
