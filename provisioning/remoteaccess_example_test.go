package provisioning_test

import (
	"context"
	"fmt"
	"time"

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
