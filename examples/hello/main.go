// Command hello builds, decodes and explains AMT hello packets and checks whether a
// provisioning certificate name fits a device's DNS suffix — no hardware needed.
//
// With no flags it builds a version 3 (PKI) hello the way a device would, decodes
// it, names the factory roots it lists, and runs the namespace checks on a few
// examples. With -hex it decodes a captured packet instead; with -cert and -suffix
// it checks one certificate name against one DNS suffix.
//
//	go run ./examples/hello
//	go run ./examples/hello -hex 00000200030000003ec2ffd2d19d2d41860a54b2039b72ff4142434432333435
//	go run ./examples/hello -cert prov.contoso.com -suffix sales.contoso.com
package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
)

func main() {
	hexPkt := flag.String("hex", "", "decode this hello packet (hex) instead of a built one")
	cert := flag.String("cert", "", "provisioning certificate name to check (with -suffix)")
	suffix := flag.String("suffix", "", "device DNS suffix to check (with -cert)")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored.
		fmt.Fprintf(os.Stderr, "hello: unexpected argument %q: hello takes flags only (a packet goes after -hex)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(os.Stdout, *hexPkt, *cert, *suffix); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, hexPkt, cert, suffix string) error {
	if cert != "" || suffix != "" {
		checkName(w, cert, suffix)
		return nil
	}
	var pkt []byte
	if hexPkt != "" {
		b, err := hex.DecodeString(strings.Join(strings.Fields(hexPkt), ""))
		if err != nil {
			return fmt.Errorf("-hex: %w", err)
		}
		pkt = b
	} else {
		var err error
		pkt, err = buildSample()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Built a version 3 hello as a device in setup mode would send it (%d bytes):\n%s\n\n", len(pkt), wrapHex(pkt))
	}
	if err := explain(w, pkt); err != nil {
		return err
	}
	if hexPkt == "" {
		fmt.Fprintln(w, "\nNamespace checks (what the firmware accepts, see amt.MatchDNSSuffix):")
		for _, c := range [][2]string{
			{"prov.contoso.com", "sales.contoso.com"},
			{"prov.sales.contoso.com", "marketing.contoso.com"},
			{"*.contoso.co.uk", "branch.contoso.co.uk"},
			{"prov.contoso.com", "northwindtraders.com"},
			{"prov.contoso.com", "corp"},
		} {
			checkName(w, c[0], c[1])
		}
	}
	return nil
}

// buildSample makes the hello a device with two factory roots and one
// integrator-added root would send.
func buildSample() ([]byte, error) {
	u, err := amt.ParseUUID("d2ffc23e-9dd1-412d-860a-54b2039b72ff")
	if err != nil {
		return nil, err
	}
	h := &hello.Message{AdminCredentialsSet: true, Version: hello.VersionPKI, RetryCount: 1, UUID: u}
	for _, r := range amt.DefaultRootHashes() {
		if r.Label == "DigiCert Global Root G2" || r.Label == "Go Daddy Root CA-G2" {
			h.Hashes = append(h.Hashes, r.Hash)
		}
	}
	custom, err := amt.HashSHA384.Sum([]byte("an integrator's own root certificate (DER)"))
	if err != nil {
		return nil, err
	}
	h.Hashes = append(h.Hashes, custom)
	return h.AppendBinary(nil)
}

func explain(w io.Writer, pkt []byte) error {
	h, err := hello.Parse(pkt)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Decoded: %s\n", h)
	fmt.Fprintf(w, "  admin credentials set: %v\n", h.AdminCredentialsSet)
	w2 := h.UUID.Wire()
	fmt.Fprintf(w, "  UUID: %s (wire bytes %x: first three fields little-endian)\n", h.UUID, w2[:])
	fmt.Fprintf(w, "  retry count: %d\n", h.RetryCount)
	switch h.Version {
	case hello.VersionPSK:
		fmt.Fprintf(w, "  PSK hello: PID %q — look up its PPS and open TLS-PSK to the device (AMT 10 and older)\n", h.PIDString())
	case hello.VersionPKI:
		fmt.Fprintf(w, "  PKI hello: %d trusted root hashes; the provisioning chain must end in one of them\n", len(h.Hashes))
		for i, x := range h.Hashes {
			name := "not a known factory root (added by MEBx, setup.bin or an earlier provisioning)"
			if r, ok := amt.LookupDefaultRootHash(x); ok {
				name = r.Label
			}
			fmt.Fprintf(w, "    %2d %-8s %s…  %s\n", i, x.Alg, x.Hex()[:16], name)
		}
	}
	fmt.Fprintln(w, "  A hello proves nothing: authorize the UUID against your inventory before connecting.")
	return nil
}

func checkName(w io.Writer, cert, suffix string) {
	if err := amt.MatchDNSSuffix(cert, suffix); err != nil {
		fmt.Fprintf(w, "  %-24s for suffix %-24s NO:  %v\n", cert, suffix, err)
		return
	}
	fmt.Fprintf(w, "  %-24s for suffix %-24s yes\n", cert, suffix)
}

func wrapHex(b []byte) string {
	s := hex.EncodeToString(b)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString("  " + s[:64] + "\n")
		s = s[64:]
	}
	out.WriteString("  " + s)
	return out.String()
}
