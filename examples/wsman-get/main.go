// Command wsman-get reads one instance (Get) or all instances (Enumerate) of a
// WS-Management class from an endpoint and prints their properties.
//
//	wsman-get -endpoint https://10.0.0.5:16993/wsman -user admin -pin <sha256> -class AMT_GeneralSettings
//	wsman-get -endpoint http://10.0.0.5:16992/wsman -class AMT_PublicKeyCertificate -enumerate
//	wsman-get -endpoint … -class CIM_SoftwareIdentity -selector InstanceID=AMT
//
// The password is read from the AMT_PASSWORD environment variable (or
// -password). With no -endpoint it queries a built-in simulated device, so it
// runs anywhere.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/oneline"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
)

type selectors wsman.SelectorSet

func (s *selectors) String() string { return wsman.SelectorSet(*s).String() }
func (s *selectors) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want Name=Value")
	}
	*s = append(*s, wsman.Sel(k, val))
	return nil
}

func main() {
	var sel selectors
	endpoint := flag.String("endpoint", "", "WS-Management endpoint URL (empty: a built-in simulated device)")
	user := flag.String("user", "admin", "digest user name")
	password := flag.String("password", "", "digest password (default: $AMT_PASSWORD)")
	class := flag.String("class", "AMT_GeneralSettings", "class name (AMT_*, CIM_*, IPS_*) or full resource URI")
	enumerate := flag.Bool("enumerate", false, "enumerate all instances instead of Get")
	flag.Var(&sel, "selector", "selector Name=Value (repeatable)")
	pin := flag.String("pin", "", "https: accept only a server certificate with this SHA-256 (hex)")
	caFile := flag.String("ca", "", "https: PEM file of trusted roots")
	host := flag.String("host", "", "https with -ca: expected host name (empty: any, for AMT 19+ certificates without names)")
	insecure := flag.Bool("insecure", false, "https: accept any certificate (unauthenticated; for recording a pin)")
	legacy := flag.Bool("legacy-tls", false, "allow TLS 1.0/1.1 and RSA key exchange for old firmware")
	certFile := flag.String("client-cert", "", "PEM client certificate chain (leaf first) for mutual TLS")
	keyFile := flag.String("client-key", "", "PEM private key of -client-cert")
	asXML := flag.Bool("xml", false, "print instances as XML")
	timeout := flag.Duration("timeout", 60*time.Second, "overall timeout")
	debug := flag.Bool("debug", false, "log envelopes (secrets redacted) to stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored.
		fmt.Fprintf(os.Stderr, "wsman-get: unexpected argument %q: wsman-get takes flags only (a class goes after -class)\n", flag.Arg(0))
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *password == "" {
		*password = os.Getenv("AMT_PASSWORD")
	}
	if *endpoint != "" {
		if err := checkTLSFlags(*endpoint, *pin, *caFile, *host, *certFile, *insecure); err != nil {
			fail(err)
		}
	}
	if *endpoint == "" {
		srv := simulatedDevice()
		defer srv.Close()
		*endpoint, *password = srv.URL+"/wsman", "P@ssw0rd"
		fmt.Fprintln(os.Stderr, "no -endpoint given: querying a built-in simulated device")
	}

	// AMT's client options: its call defaults, and the redaction of AMT's
	// secret fields (ProvisioningServerOTP, passwords) that -debug relies on.
	opts := append(amt.ClientOptions(), wsman.WithDigestAuth(*user, *password))
	if *debug {
		opts = append(opts, wsman.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	if strings.HasPrefix(*endpoint, "https:") {
		policy, err := tlsPolicy(*pin, *caFile, *host, *insecure)
		if err != nil {
			fail(err)
		}
		opts = append(opts, wsman.WithTLS(policy))
		if *legacy {
			opts = append(opts, wsman.WithLegacyTLS())
		}
		if *certFile != "" {
			cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				fail(err)
			}
			opts = append(opts, wsman.WithClientCertificate(cert))
		}
	}
	c, err := wsman.New(*endpoint, opts...)
	if err != nil {
		fail(err)
	}
	uri := resourceURI(*class)
	if *enumerate {
		n := 0
		for item, err := range c.Enumerate(ctx, uri) {
			if err != nil {
				fail(err)
			}
			n++
			fmt.Printf("--- %s #%d\n", wsman.ClassName(uri), n)
			printInstance(os.Stdout, item.Object, *asXML)
		}
		return
	}
	resp, err := c.Get(ctx, uri, wsman.SelectorSet(sel))
	if err != nil {
		fail(err)
	}
	inst, err := resp.Instance()
	if err != nil {
		fail(err)
	}
	printInstance(os.Stdout, inst, *asXML)
}

// resourceURI maps a class name to its resource URI by prefix.
func resourceURI(class string) string {
	switch {
	case strings.Contains(class, "://"):
		return class
	case strings.HasPrefix(class, "AMT_"):
		return "http://intel.com/wbem/wscim/1/amt-schema/1/" + class
	case strings.HasPrefix(class, "IPS_"):
		return "http://intel.com/wbem/wscim/1/ips-schema/1/" + class
	default:
		return "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/" + class
	}
}

// checkTLSFlags refuses the TLS flags with an endpoint that is not https:
// ignored, they would leave the operator believing the device authenticated
// while the digest exchange went out in plain HTTP.
func checkTLSFlags(endpoint, pin, caFile, host, certFile string, insecure bool) error {
	if strings.HasPrefix(endpoint, "https:") || (pin == "" && caFile == "" && host == "" && certFile == "" && !insecure) {
		return nil
	}
	return fmt.Errorf("-pin, -ca, -host, -insecure and -client-cert are for an https:// endpoint, not %s: use https://…:16993/wsman or leave them out", endpoint)
}

func tlsPolicy(pin, caFile, host string, insecure bool) (wsman.TLSPolicy, error) {
	switch {
	case pin != "":
		b, err := hex.DecodeString(strings.ReplaceAll(pin, ":", ""))
		if err != nil || len(b) != 32 {
			return wsman.TLSPolicy{}, fmt.Errorf("-pin: want 64 hex digits")
		}
		return wsman.PinSHA256([32]byte(b)), nil
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return wsman.TLSPolicy{}, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return wsman.TLSPolicy{}, fmt.Errorf("-ca: no certificates in %s", caFile)
		}
		if host == "" {
			return wsman.VerifyChainAnyHost(pool), nil
		}
		return wsman.VerifyChain(pool, host), nil
	case insecure:
		return wsman.InsecureSkipVerify(), nil
	}
	return wsman.TLSPolicy{}, errors.New("https needs -pin, -ca or -insecure")
}

func printInstance(w io.Writer, el *etree.Element, asXML bool) {
	if asXML {
		doc := etree.NewDocument()
		doc.SetRoot(wsman.Detach(el))
		doc.Indent(2)
		doc.WriteTo(w)
		return
	}
	fields := wsman.Fields(el)
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range fields[k] {
			if v == "" {
				if child := wsman.Child(el, "", k); child != nil {
					if epr, err := wsman.ParseEPR(child); err == nil {
						v = epr.String()
					}
				}
			}
			// The device's text, escaped: it cannot write control sequences
			// or a line of its own to the terminal.
			fmt.Fprintf(w, "%s: %s\n", oneline.Escape(k), oneline.Escape(v))
		}
	}
}

func fail(err error) {
	var f *wsman.Fault
	var te *wsman.TransportError
	switch {
	case errors.As(err, &f):
		if s, ok := amt.StatusOfFault(err); ok {
			fmt.Fprintf(os.Stderr, "fault %s (%v): %s\n", oneline.Escape(f.Subcode.Local), s, oneline.Escape(f.Reason))
		} else {
			fmt.Fprintf(os.Stderr, "fault %s: %s\n", oneline.Escape(f.Subcode.Local), oneline.Escape(f.Reason))
		}
	case errors.Is(err, wsman.ErrUnauthorized):
		fmt.Fprintln(os.Stderr, "authentication failed (not retried):", err)
	case errors.As(err, &te):
		fmt.Fprintf(os.Stderr, "transport (%s): %v\n", te.Phase, err)
	default:
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(1)
}

// simulatedDevice serves AMT_GeneralSettings and two certificates behind AMT's
// digest challenge.
func simulatedDevice() *httptest.Server {
	const gs = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	const pkc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	certs := []*etree.Element{
		wsman.NewInstance(pkc, wsman.Prop("InstanceID", "Intel(r) AMT Certificate: Handle: 0"), wsman.Prop("TrustedRootCertficate", "true")),
		wsman.NewInstance(pkc, wsman.Prop("InstanceID", "Intel(r) AMT Certificate: Handle: 1"), wsman.Prop("TrustedRootCertficate", "false")),
	}
	var enums wsmantest.Enumerations
	auth := &wsmantest.DigestAuth{QOP: "auth-int, auth", Password: func(u string) (string, bool) { return "P@ssw0rd", u == "admin" }}
	return httptest.NewServer(auth.Wrap(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		if r.ResourceURI == pkc {
			if rep, ok := enums.Serve(r, certs); ok {
				return rep
			}
		}
		if r.Action == wsman.ActionGet && r.ResourceURI == gs {
			return wsmantest.GetResponse(r, wsman.NewInstance(gs,
				wsman.Prop("AMTNetworkEnabled", "1"),
				wsman.Prop("DigestRealm", auth.RealmName()),
				wsman.Prop("DomainName", "example.com"),
				wsman.Prop("ElementName", "Intel(r) AMT: General Settings"),
				wsman.Prop("HostName", "simulated"),
				wsman.Prop("InstanceID", "Intel(r) AMT: General Settings")))
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})))
}
