// Command provision is amtkit's default job, with no hardware: it starts a fleet
// of simulated AMT devices on loopback, a hello listener and a provisioner with a
// throw-away CA, lets the devices send their hellos, provisions them end to end
// and prints each device's progress and a summary.
//
//	go run ./examples/provision              # 25 devices, a crash and a restart
//	go run ./examples/provision -devices 200 -quiet
//	go run ./examples/provision -state ./state.db -crash-after 0
//
// The provisioner keeps its state in a SQLite file (a new one in a temporary
// directory unless -state names one), with every password sealed by a key kept
// beside it. Partway through, the provisioner is stopped as if its process had
// been killed (-crash-after N: once N sessions have configured their device),
// leaving sessions in progress and their leases held; a new provisioner then
// opens the same file and resumes every one of them. The simulated devices
// live in this process, so the crash is simulated in it: the first
// provisioner's store stops answering and its sessions are abandoned.
//
// Some devices are set up to be refused, so the rules can be seen at work: one
// whose firmware does not trust the provisioning certificate's root, one whose
// DNS suffix the certificate does not cover, one whose local agent gave it a
// different one-time password than the console expected, one that is not in the
// inventory, and an impostor that claims a real device's UUID while an On-Die
// certificate is required. The command exits with status 1 if any device ends
// differently than planned.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("devices", 25, "number of devices, the impostor included")
	quiet := flag.Bool("quiet", false, "print only the summary")
	state := flag.String("state", "", "SQLite file for the provisioner's state (default: a new file in a temporary directory, removed at exit)")
	crashAfter := flag.Int("crash-after", 6, "stop the provisioner as if killed once this many sessions have configured their device, then resume from the state file (0: no crash)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored ("provision 100 -quiet" would run 25 devices
		// and print everything).
		fmt.Fprintf(os.Stderr, "provision: unexpected argument %q: provision takes flags only (e.g. -devices 100)\n", flag.Arg(0))
		os.Exit(2)
	}
	// Ctrl-C ends the run through its context, so that the temporary state
	// directory (its sealing key included) is removed as at a normal exit.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, *timeout)
	defer cancel()
	var progress io.Writer = os.Stdout
	if *quiet {
		progress = io.Discard
	}
	res, err := run(ctx, options{devices: *n, progress: progress, summary: os.Stdout, statePath: *state, crashAfter: *crashAfter})
	if err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
	if res.unexpected > 0 {
		fmt.Fprintf(os.Stderr, "provision: %d device(s) ended differently than planned\n", res.unexpected)
		os.Exit(1)
	}
}
