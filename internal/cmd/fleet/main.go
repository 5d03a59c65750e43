// Command fleet serves a simulated AMT fleet (amt/amtsim) on loopback in a
// process of its own, so that a provisioning engine running elsewhere is
// measured alone: its CPU, memory and goroutines. Each device listens on its
// own loopback address on 16993 and 16992 and takes the time real firmware
// takes when -latency firmware is given.
//
//	go run ./internal/cmd/fleet -n 1000 -root-hash <sha256 hex> -latency firmware
//
// It prints one JSON line describing the fleet (process id, root hash,
// firmware version, each device's UUID, address and listeners), then reads
// commands on stdin, one per line, answering each with one JSON line:
// "hellos <host:port>" (every device sends one hello there), "counters" (the
// exchanges, digest challenges, full and resumed TLS handshakes the devices
// counted), "reset", "stats" (this process's CPU time and memory) and "quit".
// With -floor it serves instead the two bare TLS listeners of an engine's
// crypto floor. The protocol and flags are those of internal/cmd/fleet/simfleet.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/amtkit/amtkit/internal/cmd/fleet/simfleet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := simfleet.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
