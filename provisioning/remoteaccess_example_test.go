package provisioning_test

import (
	"context"
	"fmt"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A device's profile changed — its features and its CIRA policy: the dry run
// prints the difference, reconcile applies it, and the device is in line.
// The Maintainer does the same on its schedule (Maintainer.ReconcileEvery).
func ExampleProvisioner_Reconcile_profileChanged() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	defer dev.Close()
	mpsRoot, _ := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: keys})
	cira := provisioning.RemoteAccessProfile{
		MPS:         provisioning.MPSServer{Address: "127.0.0.1", Port: 9, CommonName: "mps.contoso.com", Username: "contoso"},
		Root:        mpsRoot.RootCertificate(),
		HomeDomains: []string{"corp.contoso.com"},
	}
	cfg.Store = provisioning.NewMemoryStore()
	cfg.Profiles = map[string]provisioning.Profile{"default": {RemoteAccess: &cira, Features: &provisioning.FeaturesProfile{SOL: true}}}
	p, _ := provisioning.New(cfg)
	hello, _ := dev.Hello(0)
	if _, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()}); err != nil {
		panic(err)
	}

	// The profile changes: the device calls every minute, the whole of
	// contoso.com is home, KVM is enabled with consent asked for KVM only.
	changed := cira
	changed.Periodic, changed.HomeDomains = time.Minute, []string{"contoso.com"}
	cfg.Profiles["default"] = provisioning.Profile{RemoteAccess: &changed,
		Features: &provisioning.FeaturesProfile{SOL: true, KVM: true, UserConsent: provisioning.ConsentKVM}}
	p, _ = provisioning.New(cfg)

	plan, _ := p.Reconcile(ctx, dev.UUID(), provisioning.ReconcileOptions{DryRun: true})
	for _, c := range plan.Changes {
		fmt.Println("would", c)
	}
	rep, _ := p.Reconcile(ctx, dev.UUID(), provisioning.ReconcileOptions{})
	fmt.Println(rep.Applied, "applied,", rep.Failed, "failed")
	again, _ := p.Reconcile(ctx, dev.UUID(), provisioning.ReconcileOptions{DryRun: true})
	fmt.Println(len(again.Changes), "changes left")
	// Output:
	// would cira: update Periodic policy "every 25s, tunnel kept open" → "every 60s, tunnel kept open"
	// would cira: update home domains "corp.contoso.com" → "contoso.com"
	// would features: update KVM "off" → "on"
	// would features: update user consent "all" → "KVM"
	// 4 applied, 0 failed
	// 0 changes left
}

// Devices authenticate to their MPS with a certificate instead of a
// password: AMT generates the key, the Issuer (here amtkit's own CA)
// certifies it, and the MPS entry names it. The record holds the certificate
// — no MPS password — and the MPS verifies it against the CA.
func ExampleRemoteAccessProfile_certificateAuthentication() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	defer dev.Close()
	mpsRoot, _ := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: keys})
	deviceCA, _ := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: keys})
	cfg.Issuer, _ = provisioning.NewCA(deviceCA.Bundle, provisioning.CAOptions{})
	cfg.Store = provisioning.NewMemoryStore()
	cfg.Profiles = map[string]provisioning.Profile{"default": {RemoteAccess: &provisioning.RemoteAccessProfile{
		MPS:        provisioning.MPSServer{Address: "127.0.0.1", Port: 9, CommonName: "mps.contoso.com"},
		Root:       mpsRoot.RootCertificate(),
		AuthMethod: amt.MPSMutualAuth,
	}}}
	p, err := provisioning.New(cfg)
	if err != nil {
		panic(err)
	}
	hello, _ := dev.Hello(0)
	rec, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()})
	if err != nil {
		panic(err)
	}
	rec, _ = cfg.Store.Load(ctx, rec.UUID)
	cur, _ := rec.CurrentCertificate(provisioning.PurposeMPS)
	c, _ := cur.Certificate()
	fmt.Println("MPS client certificate:", c.Subject.CommonName, "issued by", c.Issuer.CommonName)
	fmt.Println("MPS password recorded:", !rec.MPSPassword.IsZero())
	fmt.Println("device:", dev.CIRA().MPS[0][len("Intel(r) AMT:Management Presence Server 0 127.0.0.1:9 "):])
	// Output:
	// MPS client certificate: pc-0042.contoso.com issued by Contoso AMT Device CA
	// MPS password recorded: false
	// device: mutual TLS
}
