// Command pskgen generates Intel AMT PID/PPS pairs for PSK ("USB one-touch")
// provisioning, checks pairs typed in by hand, and can write the batch as a
// setup.bin — no hardware needed.
//
// With no flags it generates three pairs (each with its own random MEBx
// password) from crypto/rand and prints them. PSK provisioning works on AMT
// 2.x–10.x only; AMT 11 removed it.
//
//	go run ./examples/pskgen
//	go run ./examples/pskgen -n 100 -csv pairs.csv -setupbin setup.bin
//	go run ./examples/pskgen -check NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ
//
// The output and the CSV hold secrets (PPS values, MEBx passwords): treat them
// like passwords.
package main

import (
	"crypto/rand"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/amtkit/amtkit/internal/secretfile"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

func main() {
	n := flag.Int("n", 3, "number of pairs to generate")
	csvPath := flag.String("csv", "", "write the pairs (PID, PPS, MEBx password) to this new CSV file (mode 0600; an existing one is refused) instead of printing them")
	binPath := flag.String("setupbin", "", "also write a version 1.0 setup.bin with one record per pair (a new file; an existing one is refused)")
	check := flag.String("check", "", "check a PID or PPS typed by hand and say which group is wrong")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: whatever followed (a
		// -csv, say) would be ignored and the secrets printed instead.
		fmt.Fprintf(os.Stderr, "pskgen: unexpected argument %q: pskgen takes flags only (a file goes after -csv or -setupbin)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(os.Stdout, *n, *csvPath, *binPath, *check); err != nil {
		fmt.Fprintln(os.Stderr, "pskgen:", err)
		os.Exit(1)
	}
}

// maxPairs bounds -n: far more pairs than any USB batch (a setup.bin of as many
// one-chunk records is 50 MB), and a typo with zeros too many is refused
// rather than running out of memory.
const maxPairs = 100_000

func run(w io.Writer, n int, csvPath, binPath, check string) error {
	if check != "" {
		return checkValue(w, check)
	}
	if n < 1 || n > maxPairs {
		return fmt.Errorf("-n must be 1–%d, got %d", maxPairs, n)
	}
	if err := refuseExisting(csvPath, binPath); err != nil {
		return err
	}
	pairs, err := pskx.GenerateBatch(rand.Reader, n)
	if err != nil {
		return err
	}
	if csvPath != "" {
		if err := writeCSV(csvPath, pairs); err != nil {
			return err
		}
		fmt.Fprintf(w, "Wrote %d pairs to %s (mode 0600).\n", len(pairs), csvPath)
	} else {
		fmt.Fprintf(w, "%-9s  %-39s  %s\n", "PID", "PPS", "MEBx password")
		for _, p := range pairs {
			fmt.Fprintf(w, "%-9s  %-39s  %s\n", p.PID, p.PPS.RevealGrouped(), p.MEBxPassword.Reveal())
		}
	}
	if binPath != "" {
		f, err := setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{})
		if err != nil {
			return err
		}
		raw, err := f.MarshalBinary()
		if err != nil {
			return err
		}
		if err := secretfile.Write(binPath, raw); err != nil {
			return err
		}
		fmt.Fprintf(w, "Wrote %s: %d consumable records, %d bytes.\n", binPath, len(f.Records), len(raw))
	}
	return nil
}

// refuseExisting refuses output paths where something already is, before
// anything is generated or written: an earlier pairs CSV or setup.bin may be
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

func checkValue(w io.Writer, s string) error {
	compact := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	var err error
	what := "PID"
	if len(compact) > pskx.PIDLen {
		what = "PPS"
		var p pskx.PPS
		if p, err = pskx.ParsePPS(s); err == nil {
			fmt.Fprintf(w, "valid PPS %s\n", p.RevealGrouped())
			return nil
		}
	} else {
		var p pskx.PID
		if p, err = pskx.ParsePID(s); err == nil {
			fmt.Fprintf(w, "valid PID %s\n", p)
			return nil
		}
	}
	var fe *pskx.FormatError
	if errors.As(err, &fe) && errors.Is(err, pskx.ErrChecksum) {
		return fmt.Errorf("not a valid %s: look for a mistyped character in group(s) %v: %w", what, fe.Groups, err)
	}
	return err
}

func writeCSV(path string, pairs []pskx.Pair) error {
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
