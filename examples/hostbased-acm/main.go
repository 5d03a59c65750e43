// Command hostbased-acm activates AMT in admin control mode from the host, as an
// agent running on the AMT computer does: it sends the provisioning chain
// (AddNextCertInChain, leaf first), signs ConfigurationNonce ‖ McNonce with the
// provisioning key and calls AdminSetup over the local (LMS) port with the
// $$OsAdmin account.
//
// With no flags it runs against a simulated device and a throw-away provisioning
// certificate. To use a real device, run it on the AMT computer with LMS running
// and give the local system account (read it with amt/pthi's
// LocalSystemAccount) and a provisioning bundle:
//
//	go run ./examples/hostbased-acm
//	AMT_LOCAL_PASSWORD=… AMT_ADMIN_PASSWORD=… PFX_PASSWORD=… go run ./examples/hostbased-acm \
//	    -endpoint http://127.0.0.1:16992/wsman -user '$$OsAdmin' -pfx prov.pfx
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

func main() {
	endpoint := flag.String("endpoint", "", "LMS WS-Management endpoint, e.g. http://127.0.0.1:16992/wsman (empty: a simulated device)")
	user := flag.String("user", "$$OsAdmin", "local system account (with -endpoint; password from $AMT_LOCAL_PASSWORD)")
	pfx := flag.String("pfx", "", "provisioning bundle (PFX or PEM; password from $PFX_PASSWORD)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *endpoint, *user, *pfx); err != nil {
		fmt.Fprintln(os.Stderr, "hostbased-acm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, endpoint, user, pfx string) error {
	var (
		dev    *amt.Device
		bundle certs.Bundle
		admin  = amt.NewSecret(os.Getenv("AMT_ADMIN_PASSWORD"))
		sim    *amtsim.Device
	)
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
		u, pw := sim.LocalSystemAccount()
		endpoint, user = sim.HTTPEndpoint(), u
		os.Setenv("AMT_LOCAL_PASSWORD", pw.Reveal())
		if admin.IsZero() {
			if admin, err = amt.GeneratePassword(rand.Reader); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "simulated AMT %s at %s (local account %s)\n", sim.Version(), endpoint, user)
	} else {
		data, err := os.ReadFile(pfx)
		if err != nil {
			return fmt.Errorf("-pfx: %w", err)
		}
		if bundle, err = certs.Load(data, amt.NewSecret(os.Getenv("PFX_PASSWORD"))); err != nil {
			return err
		}
		if err := amt.CheckPassword(admin.Reveal()); err != nil {
			return fmt.Errorf("$AMT_ADMIN_PASSWORD: %w", err)
		}
	}
	c, err := wsman.New(endpoint, wsman.WithDigestAuth(user, os.Getenv("AMT_LOCAL_PASSWORD")))
	if err != nil {
		return err
	}
	dev = amt.NewDevice(c)
	hb, err := dev.HostBasedSetup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "before: control mode %s, allowed %v\n", hb.CurrentControlMode, hb.AllowedControlModes)
	fmt.Fprintf(w, "provisioning certificate %s, root %s\n", bundle.Leaf().Subject.CommonName, bundle.RootHash(amt.HashSHA256).Hex()[:16]+"…")
	err = provisioning.ActivateACM(ctx, dev, bundle, admin, provisioning.HostBasedOptions{
		Observer: func(e provisioning.Event) { fmt.Fprintf(w, "%s: %s %s\n", e.Step, e.State, e.Detail) },
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
		fmt.Fprintf(w, " (password set: %v)", sim.AdminPasswordIs(admin))
	}
	fmt.Fprintln(w)
	return nil
}
