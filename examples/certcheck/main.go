// Command certcheck checks a provisioning certificate bundle (PFX or PEM) against
// the rules Intel AMT firmware and Configuration Manager apply, and prints what it
// finds — no hardware needed.
//
// With no flags it makes two throw-away bundles in memory (a good one and one with
// several faults) and checks both. With -in it checks a file; give the device DNS
// suffixes with -suffix, and the root hashes of a device (from its hello or
// `rpc amtinfo -cert`) with -hashes to see whether that device would accept the
// bundle. The PFX password comes from -password or, better, from the environment
// variable named by -password-env (default AMTKIT_PFX_PASSWORD).
//
//	go run ./examples/certcheck
//	AMTKIT_PFX_PASSWORD=... go run ./examples/certcheck -in prov.pfx -suffix sales.contoso.com
//	go run ./examples/certcheck -in chain.pem -hashes cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f
//
// The exit status is 1 when a checked file has error findings, 2 when the command
// line is wrong or the file cannot be read.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/boundedread"
	"github.com/amtkit/amtkit/internal/oneline"
)

type config struct {
	in              string
	password        amt.Secret
	suffixes        []string
	hashes          []amt.CertHash
	templateVersion int
	minRSABits      int
	now             time.Time
}

// errFindings reports that the checked bundle has error findings.
var errFindings = errors.New("the bundle has error findings")

func main() {
	in := flag.String("in", "", "PFX/PKCS#12 (DER or base64) or PEM file to check; none = demo with made-up bundles")
	password := flag.String("password", "", "PFX password (prefer -password-env)")
	passwordEnv := flag.String("password-env", "AMTKIT_PFX_PASSWORD", "environment variable holding the PFX password")
	suffix := flag.String("suffix", "", "device DNS suffixes the certificate must cover, comma-separated")
	hashes := flag.String("hashes", "", "root hashes a device trusts, comma-separated (hex in any case, ':' allowed, or base64)")
	tv := flag.Int("template-version", 0, "Microsoft template version the CA issued from, if known (3 or more is refused)")
	minBits := flag.Int("min-rsa", 0, "smallest RSA key to accept (default 2048; 1024 only for pre-ME-16 fleets)")
	at := flag.String("now", "", "check as of this time (RFC 3339) instead of now")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored.
		fmt.Fprintf(os.Stderr, "certcheck: unexpected argument %q: certcheck takes flags only (a file goes after -in)\n", flag.Arg(0))
		os.Exit(2)
	}

	cfg := config{in: *in, templateVersion: *tv, minRSABits: *minBits, now: time.Now()}
	pw := *password
	if pw == "" && *passwordEnv != "" {
		pw = os.Getenv(*passwordEnv)
	}
	cfg.password = amt.NewSecret(pw)
	cfg.suffixes = append(cfg.suffixes, split(*suffix)...)
	for _, s := range split(*hashes) {
		h, err := amt.ParseCertHash(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "certcheck: -hashes %q: %v\n", s, err)
			os.Exit(2)
		}
		cfg.hashes = append(cfg.hashes, h)
	}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			fmt.Fprintln(os.Stderr, "certcheck: -now:", err)
			os.Exit(2)
		}
		cfg.now = t
	}
	err := run(os.Stdout, cfg)
	switch {
	case errors.Is(err, errFindings):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "certcheck:", err)
		os.Exit(2)
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func run(w io.Writer, cfg config) error {
	if cfg.in == "" {
		return demo(w, cfg.now)
	}
	data, err := readInput(cfg.in)
	if err != nil {
		return err
	}
	b, err := certs.Load(data, cfg.password)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.in, err)
	}
	if report(w, cfg.in, b, cfg) {
		return errFindings
	}
	return nil
}

// maxInput is the largest input certs.Load accepts (a PKCS#12 of
// certs.MaxFileSize in base64).
const maxInput = certs.MaxFileSize*4/3 + 4

// readInput reads path, refusing a file over maxInput (boundedread).
func readInput(path string) ([]byte, error) {
	return boundedread.File(path, maxInput, "a provisioning bundle")
}

// report prints the bundle and its findings; it returns true when an error
// finding is among them.
func report(w io.Writer, name string, b certs.Bundle, cfg config) bool {
	// Certificate names come from whoever made the bundle: escaped, so that
	// they cannot write control sequences or extra lines to the terminal.
	fmt.Fprintf(w, "== %s\n", oneline.Escape(name))
	for i, c := range b.Chain {
		fmt.Fprintf(w, "  [%d] %s\n      issuer %s, %s, valid %s to %s\n", i,
			oneline.Escape(c.Subject.String()), oneline.Escape(c.Issuer.String()), c.SignatureAlgorithm,
			c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly))
	}
	if root := b.Root(); root != nil {
		fmt.Fprintf(w, "  root SHA-256 %s\n", b.RootHash(amt.HashSHA256).Hex())
		fmt.Fprintf(w, "  root SHA-384 %s\n", b.RootHash(amt.HashSHA384).Hex())
		if info, ok := certs.IdentifyRoot(root); ok {
			fmt.Fprintf(w, "  root is the factory root %q\n", info.Label)
		}
	}
	if len(cfg.hashes) > 0 {
		if h, ok := b.MatchRoot(cfg.hashes); ok {
			fmt.Fprintf(w, "  the device trusts this root (%v)\n", h.Alg)
		}
	}
	if len(b.Chain) > 0 {
		var p certs.ExpiryPolicy
		fmt.Fprintf(w, "  chain usable until %s: %v\n", b.NotAfter().UTC().Format(time.DateOnly),
			p.ProvisioningChain(b.Chain, cfg.now))
	}
	opts := certs.ProvisioningOptions{
		Now:             func() time.Time { return cfg.now },
		DNSSuffixes:     cfg.suffixes,
		TemplateVersion: cfg.templateVersion,
		MinRSABits:      cfg.minRSABits,
	}
	if len(cfg.hashes) > 0 {
		opts.DeviceHashes = cfg.hashes
	}
	findings := certs.CheckProvisioning(b.Chain, b.Key, opts)
	if len(findings) == 0 {
		fmt.Fprintln(w, "  no findings: AMT will accept this bundle")
	}
	for _, f := range findings {
		msg := f.Message
		if f.Subject != "" {
			msg = f.Subject + ": " + msg
		}
		fmt.Fprintf(w, "  %-7s %-22s %s\n", f.Severity, f.Code, oneline.Escape(msg))
	}
	errs := findings.AtLeast(amt.SeverityError)
	fmt.Fprintf(w, "  %d error(s), %d finding(s) in all\n\n", len(errs), len(findings))
	return len(errs) > 0
}

// demo makes a good bundle and a faulty one with certstest and checks both as a
// device with DNS suffix sales.contoso.com that trusts the demo root would.
func demo(w io.Writer, now time.Time) error {
	keys := certstest.NewKeyPool()
	clock := func() time.Time { return now }
	good, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{Keys: keys, Now: clock, FQDN: "prov.contoso.com",
		RootOptions: certstest.CAOptions{Keys: keys, Now: clock, NotBefore: now.Add(-2 * 365 * certs.Day)}})
	if err != nil {
		return err
	}
	// Issued for a year, with ten days left.
	bad, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{
		Keys: keys, Now: clock, Root: good.Root, FQDN: "*.fabrikam.com", Marker: certs.MarkerNone,
		SHA1: true, LeafBits: 1024, NotBefore: now.Add(-355 * certs.Day), NotAfter: now.Add(10 * certs.Day),
		IntermediateOptions: certstest.CAOptions{Keys: keys, Now: clock, NotBefore: now.Add(-400 * certs.Day)},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "No -in given: checking two made-up bundles as a device with DNS suffix")
	fmt.Fprintln(w, "sales.contoso.com whose hello lists DigiCert Global Root G2 and the demo root.")
	fmt.Fprintln(w)
	g2, err := amt.ParseCertHash("CB:3C:CB:B7:60:31:E5:E0:13:8F:8D:D3:9A:23:F9:DE:47:FF:C3:5E:43:C1:14:4C:EA:27:D4:6A:5A:B1:CB:5F")
	if err != nil {
		return err
	}
	cfg := config{now: now, suffixes: []string{"sales.contoso.com"}, hashes: []amt.CertHash{g2, good.RootHash(amt.HashSHA256)}}
	report(w, "good bundle (made up)", good.Bundle, cfg)
	report(w, "faulty bundle (made up)", bad.Bundle, cfg)
	return nil
}
