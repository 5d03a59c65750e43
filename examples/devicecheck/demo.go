package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// demoDevice is a simulated device set up for the check, and how to reach it.
type demoDevice struct {
	sim      *amtsim.Device
	endpoint string
	user     string
	password amt.Secret
	opts     []wsman.Option // TLS policy and the options its firmware needs
	// watch, when set, is called with the device's view of every request it
	// serves (its operation or method name and resource URI; see
	// amtsim.Behavior.DropFunc). The no-write test sets it once the device is
	// provisioned.
	watch atomic.Pointer[func(op, resourceURI string)]
}

func (d *demoDevice) Close() error { return d.sim.Close() }

// startDemo starts an amtsim device of firmware version and, with state
// "provisioned" (the default), provisions it with amtkit's engine the way an
// integrator would — bare-metal remote configuration in admin control mode
// with a TLS certificate from a throw-away CA and one user account — so the
// check finds a configured device. With state "pre" the device stays in
// pre-provisioning and is checked through the local system account on its
// 16992 role (as an agent on the host would, through LMS).
func startDemo(ctx context.Context, version, state string, log io.Writer) (*demoDevice, error) {
	v, err := amt.ParseVersion(version)
	if err != nil {
		return nil, fmt.Errorf("-firmware: %w", err)
	}
	keys := certstest.NewKeyPool()
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys,
		Leaf: func(c *x509.Certificate) {
			if amt.FirmwareFor(v).ProvisioningCertSHA384 {
				c.SignatureAlgorithm = x509.SHA384WithRSA
			}
		}})
	if err != nil {
		return nil, err
	}
	cfg := amtsim.Config{
		Version:          v,
		TrustedDNSSuffix: "contoso.com",
		HostName:         "pc-demo",
		DomainName:       "contoso.com",
		Keys:             amtsim.PoolKeys(keys),
		UserRootHashes:   []amtsim.RootHash{{Name: "Contoso provisioning root", Hash: chain.Bundle.RootHash(amt.HashSHA256), Active: true}},
	}
	d := &demoDevice{}
	cfg.Behavior.DropFunc = func(op, uri string, _ int) amtsim.Drop {
		if f := d.watch.Load(); f != nil {
			(*f)(op, uri)
		}
		return amtsim.DropNone
	}
	sim, err := amtsim.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, err
	}
	d.sim = sim
	fmt.Fprintf(log, "simulated AMT %s (amt/amtsim, not real firmware), UUID %s\n", sim.Version(), sim.UUID())
	if state == "pre" {
		u, pw := sim.LocalSystemAccount()
		d.endpoint, d.user, d.password = sim.HTTPEndpoint(), u, pw
		fmt.Fprintf(log, "left in pre-provisioning; checking through the local account %s on the 16992 role\n", u)
		return d, nil
	}
	if err := d.provision(ctx, chain, keys, log); err != nil {
		sim.Close()
		return nil, err
	}
	return d, nil
}

// provision runs amtkit's engine against the simulated device.
func (d *demoDevice) provision(ctx context.Context, chain *certstest.ProvisioningChain, keys *certstest.KeyPool, log io.Writer) error {
	sim := d.sim
	fw := sim.Firmware()
	deviceCA, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: keys})
	if err != nil {
		return err
	}
	const fqdn = "pc-demo.contoso.com"
	profile := provisioning.Profile{
		TLS:            &provisioning.TLSProfile{KeyRetryDelay: 10 * time.Millisecond},
		AllowLegacyTLS: !fw.TLS12.Any(),
		Users: []provisioning.UserAccount{{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRedirection, amt.RealmHardwareAsset},
			Access: amt.AccessNetwork}},
	}
	p, err := provisioning.New(provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: provisioning.NewInventoryList(provisioning.Inventory{UUID: sim.UUID(), FQDN: fqdn}),
		Profiles:   map[string]provisioning.Profile{provisioning.DefaultProfileName: profile},
		Issuer:     demoIssuer{deviceCA},
		DeviceAddress: func(_ provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
			if port == 16992 {
				return sim.HTTPAddr()
			}
			return sim.TLSAddr()
		},
		CommitVerifyDelay: 50 * time.Millisecond,
		ServerName:        "amtprov.contoso.com",
	})
	if err != nil {
		return err
	}
	defer p.Shutdown(context.WithoutCancel(ctx))
	hello, err := sim.Hello(0)
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(sim.TLSAddr())
	if err != nil {
		return err
	}
	rec, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Source: netip.AddrPortFrom(ap.Addr(), 40000), Received: time.Now()})
	if err != nil {
		return fmt.Errorf("provisioning the simulated device: %w", err)
	}
	fmt.Fprintf(log, "provisioned by amtkit's engine: %s, TLS certificate from %q, user account \"helpdesk\"\n", rec.State, deviceCA.Name().CommonName)
	d.endpoint, d.user, d.password = "https://"+sim.TLSAddr()+"/wsman", rec.AdminUser, rec.AdminPassword
	if d.user == "" {
		d.user = "admin"
	}
	d.opts = append(d.opts, wsman.WithTLS(wsman.VerifyChain(deviceCA.Pool(), fqdn)))
	if !fw.TLS12.Any() {
		d.opts = append(d.opts, wsman.WithLegacyTLS())
	} else if fw.NeedsRSAKeyExchange.Any() {
		d.opts = append(d.opts, wsman.WithRSAKeyExchange())
	}
	return nil
}

// demoIssuer is the integrator's CA, here a throw-away one. It signs an ECC
// P-384 key (what AMT 22 generates for TLS) with SHA-384: AMT 22 refuses a
// SHA-256 TLS certificate at bind time (amt.Firmware.TLSCertSHA384), and the
// engine's IssueRequest does not say which firmware asks.
type demoIssuer struct{ ca *certstest.CA }

func (i demoIssuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	t := req.Template
	if k, ok := req.PublicKey.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P384() && t.SignatureAlgorithm == x509.UnknownSignatureAlgorithm {
		cp := *t
		cp.SignatureAlgorithm = x509.SHA384WithRSA
		t = &cp
	}
	return i.ca.Issue(ctx, t, req.PublicKey)
}

func (i demoIssuer) Revoke(ctx context.Context, req provisioning.RevokeRequest) error {
	return i.ca.Revoke(ctx, req.Certificate, req.Reason)
}
