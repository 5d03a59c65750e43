package provisioning_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// exampleDevice starts a simulated AMT device that trusts chain's root and a
// Config that reaches it.
func exampleDevice(ctx context.Context, chain *certstest.ProvisioningChain, keys *certstest.KeyPool) (*amtsim.Device, provisioning.Config) {
	dev, _ := amtsim.New(amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "Contoso", Hash: chain.Bundle.RootHash(amt.HashSHA256), Active: true}},
		Keys:             amtsim.PoolKeys(keys),
	})
	_ = dev.Start(ctx)
	return dev, provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: provisioning.NewInventoryList(provisioning.Inventory{UUID: dev.UUID(), FQDN: "pc-0042.contoso.com"}),
		DeviceAddress: func(_ provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
			if port == 16992 {
				return dev.HTTPAddr()
			}
			return dev.TLSAddr()
		},
	}
}

// After provisioning, OpenDevice reaches a device with the credentials,
// address and TLS policy its record holds.
func ExampleProvisioner_OpenDevice() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	defer dev.Close()
	ca, _ := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: keys})
	issuer, _ := provisioning.NewCA(ca.Bundle, provisioning.CAOptions{})
	cfg.Issuer = issuer
	cfg.Profiles = map[string]provisioning.Profile{"default": {TLS: &provisioning.TLSProfile{}}}
	p, _ := provisioning.New(cfg)
	hello, _ := dev.Hello(0)
	if _, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()}); err != nil {
		panic(err)
	}

	d, err := p.OpenDevice(ctx, dev.UUID())
	if err != nil {
		panic(err)
	}
	defer d.Close()
	gs, err := d.GeneralSettings(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(gs.HostName + "." + gs.DomainName)
	fmt.Println(d.How)
	// Output:
	// pc-0042.contoso.com
	// over TLS, certificate pinned to the one installed
}

// New refuses a configuration that can never work, and says what to fix.
func ExampleNew() {
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	rootless := chain.Bundle
	rootless.Chain = rootless.Chain[:len(rootless.Chain)-1] // a PKCS#12 exported without its root

	_, err := provisioning.New(provisioning.Config{
		Authorizer: provisioning.NewInventoryList(),
		Bundles:    []certs.Bundle{rootless},
	})
	var ce *provisioning.ConfigError
	fmt.Println(errors.As(err, &ce), ce.Field)

	_, err = provisioning.New(provisioning.Config{
		Authorizer: provisioning.NewInventoryList(),
		Profiles:   map[string]provisioning.Profile{"laptops": {}},
	})
	fmt.Println(err)
	// Output:
	// true Bundles[0]
	// provisioning: invalid configuration: DefaultProfile: profile "default", used for devices whose inventory names none, is not among Profiles (["laptops"]): add it or set DefaultProfile
}

// Shutdown stops taking hellos and lets the sessions in flight finish, like
// http.Server.Shutdown.
func ExampleProvisioner_Shutdown() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	defer dev.Close()
	done := make(chan struct{})
	cfg.Observer = func(e provisioning.Event) {
		if e.State.Final() {
			fmt.Println(e.Step, "→", e.State)
			close(done)
		}
	}
	p, _ := provisioning.New(cfg)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	_, _ = dev.SendHellos(ctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1})

	// Wait until the session started, then shut down: it finishes first.
	for len(p.Sessions()) == 0 {
		select {
		case <-done:
		case <-time.After(time.Millisecond):
			continue
		}
		break
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	fmt.Println("shutdown:", p.Shutdown(sctx))
	fmt.Println("serve:", <-served)
	fmt.Println("provisioned:", dev.Snapshot().ProvisioningState)
	// Output:
	// verify → Provisioned
	// shutdown: <nil>
	// serve: <nil>
	// provisioned: Post
}

// RunOnce is one maintenance pass: the provisioning bundles' expiry (here a
// bundle 30 days from expiry: Configuration Manager's warning, status 7210)
// and every provisioned device's certificates.
func ExampleMaintainer_RunOnce() {
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	now := chain.Leaf().NotAfter.Add(-30 * 24 * time.Hour) // a year-long certificate near its end
	p, _ := provisioning.New(provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: provisioning.NewInventoryList(),
		Now:        func() time.Time { return now },
	})
	m := p.Maintainer()
	m.Concurrency = 16 // devices worked on at once (default 8)
	rep, err := m.RunOnce(context.Background())
	if err != nil {
		panic(err)
	}
	for _, e := range rep.Bundles {
		fmt.Println(e.Step, e.Reason)
	}
	fmt.Println(rep.Checked, "devices checked")
	// Output:
	// bundle-expiry bundle-expiry-warning
	// 0 devices checked
}

// exampleProvisioned provisions a simulated device and returns the
// Provisioner, the device's UUID and a function that renames the device
// behind the Provisioner's back.
func exampleProvisioned(ctx context.Context) (*provisioning.Provisioner, amt.UUID, func(host string)) {
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	p, _ := provisioning.New(cfg)
	hello, _ := dev.Hello(0)
	if _, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()}); err != nil {
		panic(err)
	}
	return p, dev.UUID(), func(host string) {
		d, err := p.OpenDevice(ctx, dev.UUID())
		if err != nil {
			panic(err)
		}
		defer d.Close()
		if _, err := d.SetHostName(ctx, host, "contoso.com"); err != nil {
			panic(err)
		}
	}
}
