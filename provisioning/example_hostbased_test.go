package provisioning_test

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// ActivateTLS activates, through AMT's local TLS port, an AMT 22 device whose
// platform enforces TLS on its local ports: StartConfigurationHBased over the
// agent (a *pthi.Client; here the simulator's), mutual TLS with AMT's On-Die
// chain verified and bound to the device, admin account, MEBx password, commit.
func ExampleActivateTLS() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys,
		Leaf: func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }}) // AMT 22 wants SHA-384
	root := chain.Bundle.RootHash(amt.HashSHA256)
	dev, _ := amtsim.New(amtsim.Config{
		Version:          amt.MustParseVersion("22.0.0"),
		LocalTLSEnforced: true,
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "Contoso", Hash: root, Active: true}},
		Keys:             amtsim.PoolKeys(keys),
	})
	_ = dev.Start(ctx)
	defer dev.Close()
	onDie, _ := dev.LocalOnDieCA() // Intel's On-Die root on a real device

	err := provisioning.ActivateTLS(ctx, dev.Agent(), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), provisioning.TLSActivationOptions{
		HostBasedOptions: provisioning.HostBasedOptions{
			MEBxPassword: amt.NewSecret("Mebx-P4ss!"),
			Observer:     func(e provisioning.Event) { fmt.Println(e.Step, "→", e.State) },
		},
		OnDieRoots: onDie.Pool(),
		Addr:       dev.LocalTLSAddr(), // LMS's localhost:16993 on a real device
		RetryDelay: 1,
	})
	fmt.Println("error:", err)
	fmt.Println(dev.Snapshot().ProvisioningState, dev.Snapshot().ControlMode)
	// Output:
	// authorize → Authorized
	// enable-amt → Authorized
	// start-configuration → Authorized
	// connect → Connected
	// configure → Configured
	// commit → Committed
	// verify → Provisioned
	// error: <nil>
	// Post ACM
}

// Deactivate returns a client control mode device to pre-provisioning over the
// host interface, without a password.
func ExampleDeactivate() {
	ctx := context.Background()
	dev, _ := amtsim.New(amtsim.Config{})
	_ = dev.Start(ctx)
	defer dev.Close()
	user, pw := dev.LocalSystemAccount()
	lsa := provisioning.LocalSignIn(dev.HTTPEndpoint())
	c, _ := lsa(ctx, user, pw)
	_ = provisioning.ActivateCCM(ctx, c, amt.NewSecret("N3w-Admin-pw"), provisioning.HostBasedOptions{})
	fmt.Println("before:", dev.Snapshot().ProvisioningState, dev.Snapshot().ControlMode)

	err := provisioning.Deactivate(ctx, dev.Agent(), provisioning.DeactivateOptions{
		Observer: func(e provisioning.Event) { fmt.Println(e.Step, "-", e.Detail) },
	})
	fmt.Println("error:", err)
	// Output:
	// before: Post CCM
	// unprovision - client control mode: Unprovision over PTHI
	// verify - Pre, None (read over PTHI)
	// error: <nil>
}
