// Command setupbin decodes, prints and creates Intel AMT USB provisioning files
// (setup.bin) — no hardware needed.
//
// With no flags it builds a PKI pre-configuration file in memory (MEBx
// passwords, PKI DNS suffix, provisioning server, a custom root hash, start of
// remote configuration), encodes it, decodes the bytes again and prints the
// result with what the BIOS and MEBx would say about it.
//
//	go run ./examples/setupbin
//	go run ./examples/setupbin -decode /media/usb/setup.bin -target 12.0
//	go run ./examples/setupbin -create pki -suffix vpro.example.com -server 192.0.2.10 \
//	    -root-hash SHA256:e7685634… -mebx 'N3w-Mebx!' -o setup.bin
//	go run ./examples/setupbin -create psk -n 20 -o setup.bin -store pairs.csv
//
// A PSK batch file carries PPS values and MEBx passwords: anyone with the
// stick has them (scrambling is not encryption).
package main

import (
	"crypto/rand"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/boundedread"
	"github.com/amtkit/amtkit/internal/secretfile"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

type options struct {
	decode   string
	create   string
	out      string
	version  string
	target   string
	suffix   string
	server   string
	port     uint
	fqdn     string
	rootHash string
	rootName string
	mebx     string
	current  string
	n        int
	store    string
	plain    bool
	start    bool
	consume  bool
}

func main() {
	var o options
	flag.StringVar(&o.decode, "decode", "", "decode and print this setup.bin")
	flag.StringVar(&o.create, "create", "", `create a file: "pki" (pre-configuration) or "psk" (a batch of PID/PPS records)`)
	flag.StringVar(&o.out, "o", "", "write the created file here, a new file (default: print only; an existing one is refused)")
	flag.StringVar(&o.version, "version", "", "file version 1.0, 2.0, 2.1, 3.0 or 4.0 (default 4.0 for pki, 1.0 for psk)")
	flag.StringVar(&o.target, "target", "", "AMT release the file is meant for, e.g. 11.8, for release-specific warnings")
	flag.StringVar(&o.suffix, "suffix", "", "PKI DNS suffix (pki)")
	flag.StringVar(&o.server, "server", "", "provisioning server IP address (pki)")
	flag.UintVar(&o.port, "port", 0, "provisioning server port (pki; AMT's default is 9971)")
	flag.StringVar(&o.fqdn, "fqdn", "", "configuration server FQDN (pki)")
	flag.StringVar(&o.rootHash, "root-hash", "", "custom trusted root hash, e.g. SHA256:ab12… (pki)")
	flag.StringVar(&o.rootName, "root-name", "Custom Root", "friendly name of the custom root hash (pki)")
	flag.StringVar(&o.mebx, "mebx", "", "new MEBx password (pki: required; psk: the same for every record; default: a random one per record)")
	flag.StringVar(&o.current, "current", "", `current MEBx password (default "admin")`)
	flag.IntVar(&o.n, "n", 5, "number of PID/PPS records (psk)")
	flag.StringVar(&o.store, "store", "", "also write the generated pairs to this new CSV file (psk; an existing one is refused)")
	flag.BoolVar(&o.plain, "plain", false, "write records unscrambled")
	flag.BoolVar(&o.start, "start", true, "start remote configuration after the record is applied (pki)")
	flag.BoolVar(&o.consume, "consumable", false, "let the BIOS consume the record (pki; default: one stick for a fleet)")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored.
		fmt.Fprintf(os.Stderr, "setupbin: unexpected argument %q: setupbin takes flags only (a file goes after -decode, -o or -store)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "setupbin:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, o options) error {
	target, err := parseTarget(o.target)
	if err != nil {
		return err
	}
	if o.decode != "" {
		raw, err := readInput(o.decode)
		if err != nil {
			return err
		}
		// Files other tools wrote may depart from the layout where the
		// firmware does not look: read them as the firmware does and say
		// what was tolerated.
		f, tolerated, err := setupbin.DecodeLenient(raw)
		if err != nil {
			return err
		}
		printFile(w, f, len(raw), target)
		for _, x := range tolerated {
			fmt.Fprintf(w, "  %s\n", x)
		}
		return nil
	}
	if err := refuseExisting(o.out, o.store); err != nil {
		return err
	}
	var f *setupbin.File
	switch o.create {
	case "", "pki":
		if o.create == "" {
			fmt.Fprintln(w, "No flags: building a sample PKI pre-configuration file (see -help).")
			fmt.Fprintln(w)
			o = sampleOptions(o)
		}
		f, err = createPKI(o)
	case "psk":
		f, err = createPSK(w, o)
	default:
		return fmt.Errorf("-create must be pki or psk, got %q", o.create)
	}
	if err != nil {
		return err
	}
	raw, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	g, err := setupbin.Decode(raw)
	if err != nil {
		return fmt.Errorf("re-reading the file we wrote: %w", err)
	}
	printFile(w, g, len(raw), target)
	if o.out != "" {
		if err := secretfile.Write(o.out, raw); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nWrote %s (%d bytes). Copy it to the root of a FAT-formatted USB stick.\n", o.out, len(raw))
	}
	return nil
}

// maxInput bounds what -decode reads: 64 MiB, 131,072 one-chunk records, far
// beyond any USB provisioning batch (the format itself has no limit).
const maxInput = 64 << 20

// readInput reads path, refusing a file over maxInput (boundedread).
func readInput(path string) ([]byte, error) {
	return boundedread.File(path, maxInput, "a setup.bin")
}

func sampleOptions(o options) options {
	o.suffix = "vpro.example.com"
	o.server = "192.0.2.10"
	o.port = 9971
	o.mebx = "N3w-Mebx!"
	o.rootHash = "SHA256:" + strings.Repeat("ab", 32)
	o.rootName = "Example Provisioning Root"
	return o
}

func parseTarget(s string) (amt.Version, error) {
	if s == "" {
		return amt.Version{}, nil
	}
	return amt.ParseVersion(s)
}

func parseFileVersion(s string, def setupbin.FileVersion) (setupbin.FileVersion, error) {
	switch s {
	case "":
		return def, nil
	case "1", "1.0":
		return setupbin.FileVersion10, nil
	case "2", "2.0":
		return setupbin.FileVersion20, nil
	case "2.1":
		return setupbin.FileVersion21, nil
	case "3", "3.0":
		return setupbin.FileVersion30, nil
	case "4", "4.0":
		return setupbin.FileVersion40, nil
	}
	return 0, fmt.Errorf("-version must be 1.0, 2.0, 2.1, 3.0 or 4.0, got %q", s)
}

func createPKI(o options) (*setupbin.File, error) {
	ver, err := parseFileVersion(o.version, setupbin.FileVersion40)
	if err != nil {
		return nil, err
	}
	if o.mebx == "" {
		return nil, errors.New("-mebx (the new MEBx password) is required")
	}
	opts := setupbin.PKIOptions{
		Version:             ver,
		CurrentMEBxPassword: amt.NewSecret(o.current),
		NewMEBxPassword:     amt.NewSecret(o.mebx),
		DNSSuffix:           o.suffix,
		ConfigServerFQDN:    o.fqdn,
		Start:               o.start,
		Consumable:          o.consume,
		Plain:               o.plain,
	}
	if o.server != "" {
		a, err := netip.ParseAddr(o.server)
		if err != nil {
			return nil, fmt.Errorf("-server: %w", err)
		}
		opts.ServerAddress = a
	}
	if o.port > 0xffff {
		return nil, fmt.Errorf("-port %d out of range", o.port)
	}
	opts.ServerPort = uint16(o.port)
	if o.rootHash != "" {
		h, err := amt.ParseCertHash(o.rootHash)
		if err != nil {
			return nil, fmt.Errorf("-root-hash: %w", err)
		}
		opts.RootHashes = []setupbin.CustomRootHash{{Hash: h, Name: o.rootName}}
	}
	return setupbin.NewPKIPreconfigFile(opts)
}

// maxPairs bounds -n: far more records than any USB batch (50 MB of one-chunk
// records, within what -decode reads), and a typo with zeros too many is
// refused rather than running out of memory.
const maxPairs = 100_000

func createPSK(w io.Writer, o options) (*setupbin.File, error) {
	ver, err := parseFileVersion(o.version, setupbin.FileVersion10)
	if err != nil {
		return nil, err
	}
	if o.n < 1 || o.n > maxPairs {
		return nil, fmt.Errorf("-n must be 1–%d, got %d", maxPairs, o.n)
	}
	pairs, err := pskx.GenerateBatch(rand.Reader, o.n)
	if err != nil {
		return nil, err
	}
	if o.mebx != "" {
		for i := range pairs {
			pairs[i].MEBxPassword = amt.NewSecret(o.mebx)
		}
	}
	f, err := setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{
		Version: ver, CurrentMEBxPassword: amt.NewSecret(o.current), Plain: o.plain,
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Generated %d PID/PPS pairs (PPS and MEBx passwords are secrets: keep the CSV safe).\n\n", len(pairs))
	if o.store != "" {
		if err := writePairs(o.store, pairs); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "Wrote the pairs to %s.\n\n", o.store)
	}
	return f, nil
}

// refuseExisting refuses output paths where something already is, before
// anything is generated or written: an earlier setup.bin or pairs CSV may be
// the only record of PPS values already on USB sticks.
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: it may hold the only copy of PPS values already in use; move it away or choose another name", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func writePairs(path string, pairs []pskx.Pair) error {
	fh, err := secretfile.Open(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(fh)
	_ = cw.Write([]string{"pid", "pps", "mebx_password"})
	for _, p := range pairs {
		_ = cw.Write([]string{p.PID.String(), p.PPS.RevealGrouped(), p.MEBxPassword.Reveal()})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func printFile(w io.Writer, f *setupbin.File, size int, target amt.Version) {
	fmt.Fprintf(w, "setup.bin version %v, %d bytes, %d record(s) of %d chunk(s), %d consumed\n",
		f.Version, size, len(f.Records), f.RecordChunks, f.Consumed)
	if f.Flags&setupbin.FlagDontConsume != 0 {
		fmt.Fprintln(w, "  do-not-consume: every machine applies the same record")
	} else {
		fmt.Fprintln(w, "  consumable: each machine takes the next record (the stick must be writable)")
	}
	fmt.Fprintf(w, "  module list %v\n", f.ModuleList)
	for i, r := range f.Records {
		state := "valid"
		if !r.Valid() {
			state = "not valid"
		}
		if f.IsConsumed(i) {
			state += ", consumed"
		}
		if r.Scrambled() {
			state += ", scrambled"
		}
		fmt.Fprintf(w, "record %d (#%d, %s):\n", i+1, r.Number, state)
		for _, e := range r.Entries {
			fmt.Fprintf(w, "  %v\n", e)
		}
	}
	fs := f.Check(setupbin.CheckOptions{Target: target})
	if len(fs) == 0 {
		fmt.Fprintln(w, "checks: nothing to report")
		return
	}
	fmt.Fprintln(w, "checks:")
	for _, fd := range fs {
		fmt.Fprintf(w, "  %v\n", fd)
	}
}
