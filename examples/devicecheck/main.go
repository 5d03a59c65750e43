// Command devicecheck checks an Intel AMT device against amtkit with reads
// only, prints a report, and optionally writes a redacted transcript of
// everything the device said — evidence amtkit's tests can replay
// (docs/field-kit.md).
//
//	AMT_PASSWORD=… go run ./examples/devicecheck -endpoint https://10.0.0.5:16993/wsman -pin <sha256> -transcript dev.json
//	go run ./examples/devicecheck -endpoint http://10.0.0.5:16992/wsman -user admin     # prompts for the password
//	go run ./examples/devicecheck -demo -firmware 19.0.5 -transcript sim-19.json       # a simulated device
//
// It reads the firmware version and SKU, the provisioning state and control
// mode, the UUID, the trusted root-certificate hashes, the DNS suffixes, the
// digest realm, the TLS settings and the certificates with their expiry, the
// accounts and the clock; it says what provisioning.Audit's rules say of the
// device's state, which of amtkit's flows the firmware supports according to
// amt.FirmwareFor, and where the device differs from that table. It sends no
// Put, Create, Delete or state-changing method: it holds the device through
// an interface of read calls only, and a test checks every action a
// simulated device received.
//
// The password comes from $AMT_PASSWORD, from the first line of standard
// input with -password-stdin, or from a prompt that does not echo (Linux);
// never from a flag. The transcript holds no password, digest, nonce, OTP or
// key; with -anonymize (the default) host and domain names, UUIDs, addresses,
// serial numbers, the realm and certificates' names are placeholders too.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
)

// options are the command line.
type options struct {
	endpoint      string
	user          string
	passwordStdin bool
	pin           string
	caFile        string
	host          string
	insecure      bool
	legacyTLS     bool
	rsaKEX        bool
	demo          bool
	firmware      string
	demoState     string
	transcript    string
	anonymize     bool
	recordedBy    string
	note          string
	timeout       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", "", "device WS-Management endpoint, e.g. https://10.0.0.5:16993/wsman")
	flag.StringVar(&o.user, "user", "admin", "digest user name")
	flag.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of standard input (default: $AMT_PASSWORD, else a prompt)")
	flag.StringVar(&o.pin, "pin", "", "https: accept only a device certificate with this SHA-256 (hex)")
	flag.StringVar(&o.caFile, "ca", "", "https: PEM file of trusted roots for the device certificate")
	flag.StringVar(&o.host, "host", "", "https with -ca: expected host name (empty: any, for AMT 19+ certificates without names)")
	flag.BoolVar(&o.insecure, "insecure", false, "https: accept any device certificate (unauthenticated)")
	flag.BoolVar(&o.legacyTLS, "legacy-tls", false, "allow TLS 1.0/1.1 and RSA key exchange (firmware before 12)")
	flag.BoolVar(&o.rsaKEX, "rsa-kex", false, "offer RSA key-exchange suites (some AMT 11 and 12 platforms)")
	flag.BoolVar(&o.demo, "demo", false, "check a simulated device (amt/amtsim) started in this process")
	flag.StringVar(&o.firmware, "firmware", "16.1.25", "with -demo: the simulated firmware version")
	flag.StringVar(&o.demoState, "demo-state", "provisioned", "with -demo: provisioned (by amtkit's engine, checked over TLS as admin) or pre (checked through the local account)")
	flag.StringVar(&o.transcript, "transcript", "", "write the redacted transcript to this file")
	flag.BoolVar(&o.anonymize, "anonymize", true, "replace identifying values in the transcript by placeholders")
	flag.StringVar(&o.recordedBy, "recorded-by", "", "who recorded the transcript (a name, a team; default: anonymous contributor)")
	flag.StringVar(&o.note, "note", "", "a note for the transcript's provenance (the platform, the device's state)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "overall timeout")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored.
		fmt.Fprintf(os.Stderr, "devicecheck: unexpected argument %q: devicecheck takes flags only (a file goes after -transcript)\n", flag.Arg(0))
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := run(ctx, o, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devicecheck:", err)
		os.Exit(1)
	}
}

// run is the program; tests call it with their own streams.
func run(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) error {
	var (
		endpoint, user string
		password       amt.Secret
		wopts          []wsman.Option
		source         = transcript.SourceDevice
		note           = o.note
	)
	if o.demo {
		if o.endpoint != "" {
			return errors.New("-demo and -endpoint exclude each other")
		}
		d, err := startDemo(ctx, o.firmware, o.demoState, stderr)
		if err != nil {
			return err
		}
		defer d.Close()
		endpoint, user, password, wopts = d.endpoint, d.user, d.password, d.opts
		source = transcript.SourceSimulator
		if note == "" {
			note = "recorded from amtsim, not real firmware (examples/devicecheck -demo, state " + o.demoState + ")"
		}
	} else {
		if o.endpoint == "" {
			return errors.New("give -endpoint (or -demo); see -help")
		}
		// The flags first: no password typed only to be told to add -pin.
		var err error
		if wopts, err = tlsOptions(o); err != nil {
			return err
		}
		if password, err = readPassword(o, stdin, stderr); err != nil {
			return err
		}
		endpoint, user = o.endpoint, o.user
	}
	return checkDevice(ctx, endpoint, user, password, wopts, o, source, note, stdout, stderr)
}

// checkDevice connects, checks, prints and records.
func checkDevice(ctx context.Context, endpoint, user string, password amt.Secret, wopts []wsman.Option, o options,
	source, note string, stdout, stderr io.Writer) error {
	c, err := amt.NewClient(endpoint, append([]wsman.Option{wsman.WithDigestAuth(user, password.Reveal())}, wopts...)...)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	rec := transcript.NewRecorder(transcript.Options{Identifying: o.anonymize})
	rec.AddPassword(user, password.Reveal())
	if u, err := url.Parse(endpoint); err == nil {
		rec.AddIdentifying(transcript.KindDNSName, u.Hostname())
	}
	rc := c.WithRecorder(rec)
	res := check(ctx, amt.NewDevice(rc), rc, time.Now())
	if res.readsTried > 0 && len(res.sections) >= res.readsTried {
		// Nothing was read (a wrong password or address): no report of a
		// device never seen, and no transcript of failures only.
		return fmt.Errorf("no read of %s succeeded (%d tried; the first: %s: %v): check the address, the user and the password",
			endpoint, res.readsTried, res.sections[0].name, res.sections[0].err)
	}
	res.print(stdout, endpoint)
	if o.transcript == "" {
		return nil
	}
	p := transcript.Provenance{Source: source, RecordedBy: o.recordedBy, Tool: "amtkit examples/devicecheck", Note: note}
	if p.RecordedBy == "" {
		p.RecordedBy = "anonymous contributor"
	}
	if res.software != nil {
		p.Firmware = res.software.Version.String()
		p.Build = res.software.Components["Build Number"]
		p.SKU = res.software.Components["Sku"]
	}
	t := rec.Transcript(p)
	if err := t.WriteFile(o.transcript); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "transcript: %d exchanges written to %s (masked %d, replaced %d, removed %d)\n",
		len(t.Exchanges), o.transcript, t.Provenance.Redaction.Masked, t.Provenance.Redaction.Replaced, t.Provenance.Redaction.Removed)
	return nil
}

// tlsOptions turns the TLS flags into wsman options.
func tlsOptions(o options) ([]wsman.Option, error) {
	var opts []wsman.Option
	u, err := url.Parse(o.endpoint)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" && (o.pin != "" || o.caFile != "" || o.host != "" || o.insecure) {
		// Ignored, they would leave the operator believing the device was
		// authenticated while the digest exchange went out in plain HTTP.
		return nil, fmt.Errorf("-pin, -ca, -host and -insecure are for an https:// endpoint, not %s: use https://…:16993/wsman or leave them out", u.Scheme+"://")
	}
	if u.Scheme == "https" {
		switch {
		case o.pin != "":
			b, err := hex.DecodeString(strings.ReplaceAll(o.pin, ":", ""))
			if err != nil || len(b) != 32 {
				return nil, errors.New("-pin: expected 64 hex digits")
			}
			opts = append(opts, wsman.WithTLS(wsman.PinSHA256([32]byte(b))))
		case o.caFile != "":
			pem, err := os.ReadFile(o.caFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("-ca: no certificate in %s", o.caFile)
			}
			if o.host != "" {
				opts = append(opts, wsman.WithTLS(wsman.VerifyChain(pool, o.host)))
			} else {
				opts = append(opts, wsman.WithTLS(wsman.VerifyChainAnyHost(pool)))
			}
		case o.insecure:
			opts = append(opts, wsman.WithTLS(wsman.InsecureSkipVerify()))
		default:
			return nil, errors.New("https needs -pin, -ca or -insecure")
		}
	}
	if o.legacyTLS {
		opts = append(opts, wsman.WithLegacyTLS())
	} else if o.rsaKEX {
		opts = append(opts, wsman.WithRSAKeyExchange())
	}
	return opts, nil
}

// readPassword takes the password from $AMT_PASSWORD, standard input
// (-password-stdin) or a prompt without echo.
func readPassword(o options, stdin io.Reader, stderr io.Writer) (amt.Secret, error) {
	if o.passwordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return amt.Secret{}, err
		}
		return amt.NewSecret(strings.TrimRight(line, "\r\n")), nil
	}
	if pw := os.Getenv("AMT_PASSWORD"); pw != "" {
		return amt.NewSecret(pw), nil
	}
	pw, err := promptPassword(stderr, "password for "+o.user+": ")
	if err != nil {
		return amt.Secret{}, fmt.Errorf("no password: set AMT_PASSWORD or use -password-stdin (%w)", err)
	}
	return amt.NewSecret(pw), nil
}
