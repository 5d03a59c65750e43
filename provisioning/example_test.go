package provisioning_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// The default On-Die binding: the device certificate must name the hello's UUID.
// Intel's real On-Die certificates name none; Config.OnDieBinding replaces it.
func ExampleBindOnDieUUID() {
	id, _ := amt.ParseUUID("d2ffc23e-9dd1-412d-860a-54b2039b72ff")
	hello := &hello.Message{UUID: id}
	named := &x509.Certificate{URIs: []*url.URL{{Scheme: "urn", Opaque: "uuid:" + id.String()}}}
	real := &x509.Certificate{Subject: pkix.Name{CommonName: "AMT RCFG"}}

	fmt.Println(provisioning.BindOnDieUUID([]*x509.Certificate{named}, hello, provisioning.Inventory{}))
	fmt.Println(provisioning.BindOnDieUUID([]*x509.Certificate{real}, hello, provisioning.Inventory{}))
	fmt.Println(provisioning.TrustAnyOnDieDevice([]*x509.Certificate{real}, hello, provisioning.Inventory{}))
	// Output:
	// <nil>
	// the certificate names no UUID (Intel's On-Die certificates do not: set Config.OnDieBinding)
	// <nil>
}

// Provision one simulated device end to end: a throw-away provisioning chain
// whose root the device trusts, an inventory entry, and a hello.
func ExampleProvisioner_Provision() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, _ := amtsim.New(amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "Contoso", Hash: chain.Bundle.RootHash(amt.HashSHA256), Active: true}},
		Keys:             amtsim.PoolKeys(keys),
	})
	_ = dev.Start(ctx)
	defer dev.Close()

	p, err := provisioning.New(provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: provisioning.NewInventoryList(provisioning.Inventory{UUID: dev.UUID(), FQDN: "pc-0042.contoso.com", Address: dev.TLSAddr()}),
		DeviceAddress: func(_ provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
			if port == 16992 {
				return dev.HTTPAddr()
			}
			return dev.TLSAddr()
		},
		Observer: func(e provisioning.Event) { fmt.Println(e.Step, "→", e.State) },
	})
	if err != nil {
		panic(err)
	}
	hello, _ := dev.Hello(0)
	rec, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()})
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.State, rec.ControlMode, dev.AdminPasswordIs(rec.AdminPassword))
	// Output:
	// authorize → Authorized
	// connect → Connected
	// identify → Identified
	// otp → Identified
	// configure → Configured
	// commit → Committed
	// verify → Provisioned
	// Provisioned ACM true
}

// An Authorizer that approves by callback, refusing with a stable reason.
func ExampleAuthorizerFunc() {
	auth := provisioning.AuthorizerFunc(func(ctx context.Context, req provisioning.AuthRequest) (provisioning.Inventory, error) {
		if req.Source.Addr().IsLoopback() {
			return provisioning.Inventory{FQDN: "lab-pc.contoso.com"}, nil
		}
		return provisioning.Inventory{}, provisioning.Reject(provisioning.ReasonNotApproved, "hello from %s outside the lab", req.Source)
	})
	_, err := auth.Authorize(context.Background(), provisioning.AuthRequest{Hello: &hello.Message{}})
	fmt.Println(provisioning.ReasonOf(err), errors.Is(err, provisioning.ErrRejected))
	// Output: not-approved true
}

func ExampleAudit() {
	fs := provisioning.Audit(context.Background(), provisioning.Config{
		Authorizer: provisioning.NewInventoryList(),
		Profiles:   map[string]provisioning.Profile{"default": {AdminPassword: amt.NewSecret("Fleet-wide-1")}},
	})
	for _, f := range fs {
		if f.Severity >= amt.SeverityWarning {
			fmt.Println(f.Severity, f.Code)
		}
	}
	// Output:
	// error no-bundles
	// warning default-server-name
	// warning fleet-admin-password
	// warning no-tls
	// warning uuid-only-approval
}

func ExampleHelloListener() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	got := make(chan provisioning.ReceivedHello, 1)
	l := &provisioning.HelloListener{Handler: func(_ context.Context, r provisioning.ReceivedHello) { got <- r }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Serve(ctx, ln) }()

	h := &hello.Message{Version: hello.VersionPKI, Hashes: []amt.CertHash{amt.DefaultRootHashes()[20].Hash}}
	pkt, _ := h.AppendBinary(nil)
	c, _ := net.Dial("tcp", ln.Addr().String())
	c.Write(pkt)
	c.Close()
	r := <-got
	fmt.Println(r.Hello.Version, len(r.Hello.Hashes), r.Source.Addr().IsLoopback())
	cancel()
	fmt.Println(<-done)
	// Output:
	// 3 1 true
	// <nil>
}
