// Command hello-listener listens for AMT hello packets and prints each one
// decoded: UUID, interface version, retry count, source address and the root
// certificates the device trusts (named when they are factory roots).
//
//	go run ./examples/hello-listener                 # listen on :9971 until interrupted
//	go run ./examples/hello-listener -addr :19971
//	go run ./examples/hello-listener -demo           # three simulated devices say hello, then exit
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/provisioning"
)

func main() {
	addr := flag.String("addr", provisioning.DefaultHelloAddr, "listen address")
	demo := flag.Bool("demo", false, "start three simulated devices that send hellos to the listener, then exit")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored.
		fmt.Fprintf(os.Stderr, "hello-listener: unexpected argument %q: hello-listener takes flags only\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *demo {
		*addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello-listener:", err)
		os.Exit(1)
	}
	if err := run(ctx, ln, os.Stdout, *demo); err != nil {
		fmt.Fprintln(os.Stderr, "hello-listener:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ln net.Listener, w io.Writer, demo bool) error {
	var mu sync.Mutex
	got := make(chan struct{}, 16)
	l := &provisioning.HelloListener{
		Handler: func(_ context.Context, r provisioning.ReceivedHello) {
			mu.Lock()
			print(w, r)
			mu.Unlock()
			select { // only -demo reads it: never block a listener that runs until interrupted
			case got <- struct{}{}:
			default:
			}
		},
		OnEvent: func(e provisioning.ListenerEvent) {
			if e.Kind == provisioning.EventHelloReceived {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(w, "%s from %s (%d bytes)", e.Kind, e.Source, e.Bytes)
			if e.Err != nil {
				fmt.Fprintf(w, ": %v", e.Err)
			}
			fmt.Fprintln(w)
		},
	}
	fmt.Fprintf(w, "listening for AMT hellos on %s\n", ln.Addr())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()
	if demo {
		if err := sendDemo(ctx, ln.Addr().String(), 3); err != nil {
			cancel()
			<-served
			return err
		}
		for i := 0; i < 3; i++ {
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				cancel()
				<-served
				return fmt.Errorf("only %d of 3 hellos arrived", i)
			}
		}
		cancel()
	}
	return <-served
}

func print(w io.Writer, r provisioning.ReceivedHello) {
	h := r.Hello
	fmt.Fprintf(w, "%s  hello v%d from %s: UUID %s, retry %d, admin credentials set %v\n",
		r.Received.Format(time.TimeOnly), h.Version, r.Source, h.UUID, h.RetryCount, h.AdminCredentialsSet)
	if h.Version == hello.VersionPSK {
		fmt.Fprintf(w, "    PSK: PID %s\n", pidText(h.PID))
		return
	}
	for _, x := range h.Hashes {
		name := "(not a factory root)"
		if info, ok := amt.LookupDefaultRootHash(x); ok {
			name = info.Label
		}
		fmt.Fprintf(w, "    %-8s %s  %s\n", x.Alg, x.Hex(), name)
	}
}

// pidText returns a PID as its 8 characters when they are what a PID holds
// (A-Z and 0-9, Intel Technology Journal 2008, "Configuring Intel AMT —
// Pre-Shared Key Protocol"), and quoted otherwise: anyone can send a hello,
// and its bytes must not reach the terminal as control sequences.
func pidText(pid [8]byte) string {
	for _, c := range pid {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return strconv.Quote(string(pid[:]))
		}
	}
	return string(pid[:])
}

// sendDemo starts n simulated devices that each send one hello to addr.
func sendDemo(ctx context.Context, addr string, n int) error {
	fleet, err := amtsim.StartFleet(ctx, amtsim.FleetOptions{N: n, SharedIP: true,
		Configure: func(i int, c *amtsim.Config) {
			// Trust only two factory roots, to keep the output short.
			for _, r := range amt.DefaultRootHashes()[20:22] {
				c.RootHashes = append(c.RootHashes, amtsim.RootHash{Name: r.Label, Hash: r.Hash, Default: true, Active: true})
			}
		}})
	if err != nil {
		return err
	}
	defer fleet.Close()
	_, err = fleet.SendHellos(ctx, amtsim.HelloOptions{Addr: addr, MaxHellos: 1})
	return err
}
