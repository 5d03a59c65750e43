package simfleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
)

// Main parses the fleet command's flags from args and runs [Serve]; it
// returns the process exit code.
//
//	-n 1000                 devices
//	-root-hash <hex>        SHA-256 of the provisioning root the devices trust (required)
//	-suffix contoso.com     the devices' trusted DNS suffix
//	-version 16.1.25        firmware version
//	-latency firmware       "firmware" (amtsim.FirmwareLatency) or "none"
//	-latency-scale 1        multiply every delay of the model
//	-resume                 devices resume TLS sessions
//	-first-ip 127.20.0.1    first device address (default random)
//	-floor                  serve the crypto floor's listeners instead
func Main(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(errOut)
	n := fs.Int("n", 100, "number of simulated devices")
	rootHex := fs.String("root-hash", "", "SHA-256 (hex) of the provisioning root certificate the devices trust")
	suffix := fs.String("suffix", "contoso.com", "the devices' trusted (MEBx) DNS suffix")
	version := fs.String("version", "", "firmware version (default: amtsim's)")
	latency := fs.String("latency", "none", `latency model: "firmware" (public timings of real firmware) or "none"`)
	scale := fs.Float64("latency-scale", 1, "multiply every delay of the latency model")
	resume := fs.Bool("resume", false, "devices resume TLS sessions (unverified on real firmware)")
	firstIP := fs.String("first-ip", "", "first device's loopback address (default: random 127.x.y.1)")
	floor := fs.Bool("floor", false, "serve the crypto floor's two TLS listeners instead of devices")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := Options{N: *n, Suffix: *suffix, Resume: *resume, Floor: *floor}
	var err error
	if *rootHex != "" {
		if o.RootHash, err = amt.ParseCertHashAlg(amt.HashSHA256, *rootHex); err != nil {
			fmt.Fprintln(errOut, "fleet: -root-hash:", err)
			return 2
		}
	}
	if *version != "" {
		if o.Version, err = amt.ParseVersion(*version); err != nil {
			fmt.Fprintln(errOut, "fleet: -version:", err)
			return 2
		}
	}
	switch *latency {
	case "none", "":
	case "firmware":
		m := amtsim.FirmwareLatency().Scaled(*scale)
		o.Latency = &m
	default:
		fmt.Fprintf(errOut, "fleet: -latency %q: want firmware or none\n", *latency)
		return 2
	}
	if *firstIP != "" {
		if o.FirstIP, err = netip.ParseAddr(*firstIP); err != nil {
			fmt.Fprintln(errOut, "fleet: -first-ip:", err)
			return 2
		}
	}
	if err := Serve(ctx, o, in, out); err != nil {
		fmt.Fprintln(errOut, "fleet:", err)
		return 1
	}
	return 0
}

// Args returns the command-line flags of [Main] for o.
func Args(o Options) []string {
	args := []string{"-n", strconv.Itoa(o.N)}
	if o.RootHash.Valid() {
		args = append(args, "-root-hash", o.RootHash.Hex())
	}
	if o.Suffix != "" {
		args = append(args, "-suffix", o.Suffix)
	}
	if !o.Version.IsZero() {
		args = append(args, "-version", o.Version.String())
	}
	if o.Resume {
		args = append(args, "-resume")
	}
	if o.FirstIP.IsValid() {
		args = append(args, "-first-ip", o.FirstIP.String())
	}
	if o.Floor {
		args = append(args, "-floor")
	}
	return args
}

// Process is a running fleet process driven over its stdin and stdout.
type Process struct {
	// Ready is what the fleet reported once its devices listened.
	Ready Ready

	cmd  *exec.Cmd
	in   io.WriteCloser
	dec  *json.Decoder
	mu   sync.Mutex
	done chan error
}

// Launch starts cmd (the fleet command, or any program running [Main]) and
// waits for its Ready line. Its stderr goes where cmd.Stderr says.
func Launch(cmd *exec.Cmd) (*Process, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, in: in, dec: json.NewDecoder(bufio.NewReaderSize(out, 1<<20)), done: make(chan error, 1)}
	if err := p.dec.Decode(&p.Ready); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("simfleet: reading the fleet's ready line: %w", err)
	}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// call sends one command and decodes its answer into v.
func (p *Process) call(line string, v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		return err
	}
	return p.dec.Decode(v)
}

// Hellos makes every device send one hello to addr.
func (p *Process) Hellos(addr string) (HelloReport, error) {
	var r HelloReport
	if err := p.call("hellos "+addr, &r); err != nil {
		return r, err
	}
	if r.Error != "" {
		return r, errors.New("simfleet: " + r.Error)
	}
	return r, nil
}

// Counters returns the fleet's traffic counters.
func (p *Process) Counters() (amtsim.Counters, error) {
	var c amtsim.Counters
	return c, p.call("counters", &c)
}

// Reset zeroes the fleet's counters.
func (p *Process) Reset() error {
	var ok map[string]bool
	return p.call("reset", &ok)
}

// Stats returns the fleet process's CPU time and memory.
func (p *Process) Stats() (Stats, error) {
	var s Stats
	return s, p.call("stats", &s)
}

// Close asks the fleet to quit and waits for it to exit.
func (p *Process) Close() error {
	p.mu.Lock()
	_, _ = io.WriteString(p.in, "quit\n")
	_ = p.in.Close()
	p.mu.Unlock()
	err := <-p.done
	p.done <- err
	var ee *exec.ExitError
	if errors.As(err, &ee) && strings.Contains(ee.Error(), "killed") {
		return nil
	}
	return err
}
