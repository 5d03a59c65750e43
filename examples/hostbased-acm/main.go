// Command hostbased-acm activates AMT in admin control mode from the host, as an
// agent running on the AMT computer does.
//
// Without -tls it uses host-based AdminSetup over LMS's non-TLS port: it sends
// the provisioning chain (AddNextCertInChain, leaf first), signs
// ConfigurationNonce ‖ McNonce with the provisioning key, calls AdminSetup with
// the $$OsAdmin account and sets the MEBx password as the new admin.
//
// With -tls it uses secure host-based configuration, the path of AMT 19 and
// later platforms that enforce TLS on their local ports (AdminSetup without TLS
// is gone there): StartConfigurationHBased over MEI, mutual TLS to AMT's local
// TLS port through LMS with the provisioning chain as client certificate, AMT's
// On-Die certificate chain verified and bound to the device, the admin account,
// the MEBx password and CommitChanges.
//
// With no -endpoint / -mei it runs against simulated devices and a throw-away
// provisioning certificate (with -tls: simulated AMT 19, 21 and 22 devices). On
// a real device, run it on the AMT computer with LMS running:
//
//	go run ./examples/hostbased-acm
//	go run ./examples/hostbased-acm -tls
//	AMT_LOCAL_PASSWORD=… AMT_ADMIN_PASSWORD=… AMT_MEBX_PASSWORD=… PFX_PASSWORD=… go run ./examples/hostbased-acm \
//	    -endpoint http://127.0.0.1:16992/wsman -user '$$OsAdmin' -pfx prov.pfx
//	AMT_ADMIN_PASSWORD=… AMT_MEBX_PASSWORD=… PFX_PASSWORD=… go run ./examples/hostbased-acm -tls \
//	    -mei /dev/mei0 -ondie-root OnDie_CA_RootCA_Certificate.cer -pfx prov.pfx
//
// -ondie-root is Intel's On-Die CA root certificate (DER or PEM); the program
// checks it is Intel's by its SHA-256 (provisioning.IntelOnDieRootSHA256).
package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/boundedread"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

type options struct {
	endpoint, user, pfx string
	tls                 bool
	mei, ondieRoot      string
	versions            []string
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", "", "LMS WS-Management endpoint on this computer (a loopback address), e.g. http://127.0.0.1:16992/wsman (empty: a simulated device)")
	flag.StringVar(&o.user, "user", "$$OsAdmin", "local system account (with -endpoint; password from $AMT_LOCAL_PASSWORD)")
	flag.StringVar(&o.pfx, "pfx", "", "provisioning bundle (PFX or PEM; password from $PFX_PASSWORD)")
	flag.BoolVar(&o.tls, "tls", false, "secure host-based configuration over AMT's local TLS port (AMT 19 and later)")
	flag.StringVar(&o.mei, "mei", "", "with -tls: the MEI device of a real AMT computer, e.g. /dev/mei0 (empty: simulated devices)")
	flag.StringVar(&o.ondieRoot, "ondie-root", "", "with -tls -mei: Intel's On-Die CA root certificate file")
	versions := flag.String("versions", "19.0.5,21.0.6,22.0.0", "with -tls and no -mei: the simulated firmware versions")
	flag.Parse()
	if flag.NArg() > 0 {
		// Flag parsing stops at the first argument: it and every flag after
		// it would be ignored.
		fmt.Fprintf(os.Stderr, "hostbased-acm: unexpected argument %q: hostbased-acm takes flags only (a file goes after -pfx)\n", flag.Arg(0))
		os.Exit(2)
	}
	o.versions = strings.Split(*versions, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "hostbased-acm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, o options) error {
	if o.tls {
		if o.mei != "" {
			return runTLSDevice(ctx, w, o)
		}
		for _, v := range o.versions {
			if err := runTLSSimulated(ctx, w, strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("AMT %s: %w", v, err)
			}
		}
		return nil
	}
	return runLegacy(ctx, w, o)
}

// printEvents prints each activation event on one line.
func printEvents(w io.Writer) provisioning.Observer {
	return func(e provisioning.Event) {
		fmt.Fprintf(w, "  %-19s %-11s %s", e.Step, e.State, e.Detail)
		if e.Err != nil {
			fmt.Fprintf(w, " [%s: %v]", e.Reason, e.Err)
		}
		fmt.Fprintln(w)
	}
}

// secretFromEnv returns the variable's value, or a generated password when it
// is empty and gen is set.
func secretFromEnv(name string, gen func(io.Reader) (amt.Secret, error)) (amt.Secret, error) {
	if v := os.Getenv(name); v != "" {
		return amt.NewSecret(v), nil
	}
	if gen == nil {
		return amt.Secret{}, fmt.Errorf("$%s is not set", name)
	}
	return gen(rand.Reader)
}

// runTLSSimulated activates one simulated device over TLS: a platform that
// enforces TLS on its local ports, trusting a throw-away provisioning root.
func runTLSSimulated(ctx context.Context, w io.Writer, version string) error {
	v, err := amt.ParseVersion(version)
	if err != nil {
		return err
	}
	fw := amt.FirmwareFor(v)
	po := certstest.ProvisioningOptions{FQDN: "prov.contoso.com"}
	if fw.ProvisioningCertSHA384 {
		po.Leaf = func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }
	}
	chain, err := certstest.NewProvisioningChain(po)
	if err != nil {
		return err
	}
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, err := amtsim.New(amtsim.Config{
		Version:          v,
		LocalTLSEnforced: true,
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "Contoso provisioning root", Hash: root, Active: true}},
	})
	if err != nil {
		return err
	}
	if err := sim.Start(ctx); err != nil {
		return err
	}
	defer sim.Close()
	ca, err := sim.LocalOnDieCA()
	if err != nil {
		return err
	}
	admin, err := amt.GeneratePassword(rand.Reader)
	if err != nil {
		return err
	}
	mebx, err := amt.GeneratePassword(rand.Reader)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "simulated AMT %s (TLS enforced on local ports), local TLS port %s, provisioning leaf %s\n",
		sim.Version(), sim.LocalTLSAddr(), chain.Bundle.Leaf().SignatureAlgorithm)
	err = provisioning.ActivateTLS(ctx, sim.Agent(), chain.Bundle, admin, provisioning.TLSActivationOptions{
		HostBasedOptions: provisioning.HostBasedOptions{
			UUID:          sim.UUID(),
			TrustedHashes: []amt.CertHash{root},
			MEBxPassword:  mebx,
			Observer:      printEvents(w),
		},
		OnDieRoots: ca.Pool(),
		Addr:       sim.LocalTLSAddr(),
		RetryDelay: 100 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	s := sim.Snapshot()
	fmt.Fprintf(w, "after: %s, control mode %s; admin password set: %v, MEBx password set: %v\n",
		s.ProvisioningState, s.ControlMode, sim.AdminPasswordIs(admin), sim.MEBxPasswordIs(mebx))
	return nil
}

// runTLSDevice activates the real device this program runs on over TLS.
func runTLSDevice(ctx context.Context, w io.Writer, o options) error {
	bundle, err := loadBundle(o.pfx)
	if err != nil {
		return err
	}
	roots, err := loadOnDieRoot(o.ondieRoot)
	if err != nil {
		return err
	}
	admin, err := secretFromEnv("AMT_ADMIN_PASSWORD", nil)
	if err != nil {
		return err
	}
	mebx, err := secretFromEnv("AMT_MEBX_PASSWORD", nil)
	if err != nil {
		return err
	}
	m, err := pthi.OpenMEI(ctx, pthi.MEIConfig{Device: o.mei})
	if err != nil {
		return err
	}
	defer m.Close()
	agent := &pthi.Client{Transport: m}
	if wd, err := pthi.OpenMEI(ctx, pthi.MEIConfig{Device: o.mei, Client: pthi.ClientWatchdog}); err == nil {
		defer wd.Close()
		agent.Watchdog = wd
	}
	u, err := agent.UUID(ctx)
	if err != nil {
		return err
	}
	hashes, err := agent.CertHashes(ctx)
	if err != nil {
		return err
	}
	var trusted []amt.CertHash
	for _, h := range hashes {
		if h.Active {
			trusted = append(trusted, h.Hash)
		}
	}
	return provisioning.ActivateTLS(ctx, agent, bundle, admin, provisioning.TLSActivationOptions{
		HostBasedOptions: provisioning.HostBasedOptions{UUID: u, TrustedHashes: trusted, MEBxPassword: mebx, Observer: printEvents(w)},
		OnDieRoots:       roots,
	})
}

func loadBundle(path string) (certs.Bundle, error) {
	// A PKCS#12 of certs.MaxFileSize in base64 at most.
	data, err := boundedread.File(path, certs.MaxFileSize*4/3+4, "a provisioning bundle")
	if err != nil {
		return certs.Bundle{}, fmt.Errorf("-pfx: %w", err)
	}
	return certs.Load(data, amt.NewSecret(os.Getenv("PFX_PASSWORD")))
}

// loadOnDieRoot reads Intel's On-Die root (DER or PEM) and refuses anything
// else.
func loadOnDieRoot(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, errors.New("-ondie-root: Intel's On-Die CA root certificate is needed to verify AMT")
	}
	data, err := boundedread.File(path, 64<<10, "a certificate")
	if err != nil {
		return nil, fmt.Errorf("-ondie-root: %w", err)
	}
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("-ondie-root: %w", err)
	}
	if !provisioning.IsIntelOnDieRoot(c) {
		return nil, fmt.Errorf("-ondie-root: %q is not Intel's On-Die CA root (SHA-256 %s expected)", c.Subject.CommonName, provisioning.IntelOnDieRootSHA256)
	}
	p := x509.NewCertPool()
	p.AddCert(c)
	return p, nil
}

// checkLoopback refuses an -endpoint that is not LMS on this computer:
// host-based AdminSetup over the non-TLS port sends the MEBx password (and the
// admin password's digest) in the clear, to whoever answers.
func checkLoopback(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("-endpoint: %w", err)
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); (err == nil && a.Unmap().IsLoopback()) || strings.EqualFold(host, "localhost") {
		return nil
	}
	return fmt.Errorf("-endpoint %s: host-based activation sends the MEBx password in the clear: use LMS on this computer "+
		"at a loopback address, e.g. http://127.0.0.1:16992/wsman", endpoint)
}

// runLegacy is host-based AdminSetup over LMS's non-TLS port.
func runLegacy(ctx context.Context, w io.Writer, o options) error {
	var (
		bundle   certs.Bundle
		sim      *amtsim.Device
		endpoint = o.endpoint
		user     = o.user
		localPW  = amt.NewSecret(os.Getenv("AMT_LOCAL_PASSWORD"))
	)
	// Generated passwords only for the simulated device: a real one would
	// be left in admin control mode with passwords nobody was told.
	gen := amt.GeneratePassword
	if endpoint != "" {
		gen = nil
	}
	admin, err := secretFromEnv("AMT_ADMIN_PASSWORD", gen)
	if err != nil {
		return err
	}
	mebx, err := secretFromEnv("AMT_MEBX_PASSWORD", gen)
	if err != nil {
		return err
	}
	if endpoint == "" {
		// A simulated device that trusts a throw-away provisioning root.
		chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com"})
		if err != nil {
			return err
		}
		bundle = chain.Bundle
		sim, err = amtsim.New(amtsim.Config{
			TrustedDNSSuffix: "contoso.com",
			UserRootHashes:   []amtsim.RootHash{{Name: "Contoso provisioning root", Hash: bundle.RootHash(amt.HashSHA256), Active: true}},
		})
		if err != nil {
			return err
		}
		if err := sim.Start(ctx); err != nil {
			return err
		}
		defer sim.Close()
		endpoint = sim.HTTPEndpoint()
		user, localPW = sim.LocalSystemAccount()
		fmt.Fprintf(w, "simulated AMT %s at %s (local account %s)\n", sim.Version(), endpoint, user)
	} else {
		if err := checkLoopback(endpoint); err != nil {
			return err
		}
		if bundle, err = loadBundle(o.pfx); err != nil {
			return err
		}
		if err := amt.CheckPassword(admin.Reveal()); err != nil {
			return fmt.Errorf("$AMT_ADMIN_PASSWORD: %w", err)
		}
	}
	c, err := wsman.New(endpoint, wsman.WithDigestAuth(user, localPW.Reveal()))
	if err != nil {
		return err
	}
	dev := amt.NewDevice(c)
	hb, err := dev.HostBasedSetup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "before: control mode %s, allowed %v\n", hb.CurrentControlMode, hb.AllowedControlModes)
	fmt.Fprintf(w, "provisioning certificate %s, root %s\n", bundle.Leaf().Subject.CommonName, bundle.RootHash(amt.HashSHA256).Hex()[:16]+"…")
	err = provisioning.ActivateACM(ctx, dev, bundle, admin, provisioning.HostBasedOptions{
		MEBxPassword: mebx,
		SignIn:       provisioning.LocalSignIn(endpoint),
		Observer:     func(e provisioning.Event) { fmt.Fprintf(w, "%s: %s %s\n", e.Step, e.State, e.Detail) },
	})
	if err != nil {
		return err
	}
	hb, err = dev.HostBasedSetup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "after: control mode %s; the admin account is \"admin\"", hb.CurrentControlMode)
	if sim != nil {
		fmt.Fprintf(w, " (password set: %v, MEBx password set: %v)", sim.AdminPasswordIs(admin), sim.MEBxPasswordIs(mebx))
	}
	fmt.Fprintln(w)
	return nil
}
