package provisioning_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A profile switched to mutual TLS whose TrustedCN does not list the CN of
// the engine's own client certificate: the area "tls" adds the trusted
// client root but leaves the device on server authentication — switched, it
// would refuse the engine for good — and the failed change matches
// ErrClientCertificateRefused, naming what to fix.
func ExampleErrClientCertificateRefused() {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	defer dev.Close()
	deviceCA, _ := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: keys})
	cfg.Issuer, _ = provisioning.NewCA(deviceCA.Bundle, provisioning.CAOptions{})
	cfg.Store = provisioning.NewMemoryStore()
	cfg.Profiles = map[string]provisioning.Profile{"default": {TLS: &provisioning.TLSProfile{}}}
	p, _ := provisioning.New(cfg)
	hello, _ := dev.Hello(0)
	if _, err := p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()}); err != nil {
		panic(err)
	}

	// The engine presents a certificate for "console.contoso.com"; the
	// profile's TrustedCN names another console.
	clientCA, _ := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso Console CA", Keys: keys})
	key, _ := keys.Cycle(2048)
	leaf, _ := clientCA.IssueCert(&x509.Certificate{Subject: pkix.Name{CommonName: "console.contoso.com"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, key.Public())
	cfg.ClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
	}
	cfg.Profiles["default"] = provisioning.Profile{TLS: &provisioning.TLSProfile{MutualAuthentication: true,
		TrustedClientRoots: []*x509.Certificate{clientCA.RootCertificate()}, TrustedCN: []string{"mgmt.contoso.com"}}}
	p, _ = provisioning.New(cfg)

	rep, _ := p.Reconcile(ctx, dev.UUID(), provisioning.ReconcileOptions{Areas: []string{"tls"}})
	fmt.Println(rep.Applied, "applied,", rep.Failed, "failed")
	fmt.Println(errors.Is(rep.Err(), provisioning.ErrClientCertificateRefused))
	for _, c := range rep.Changes {
		if c.Err != nil {
			fmt.Println(c.Err)
		}
	}
	fmt.Println("mutual:", dev.Snapshot().TLSApplied.MutualAuthentication)
	// Output:
	// 1 applied, 1 failed
	// true
	// provisioning: the engine's client certificate would not be accepted under the profile's mutual TLS: the CN "console.contoso.com" of the certificate Config.ClientCertificate returned is not in the profile's TLS.TrustedCN ["mgmt.contoso.com"] (add it there, or present a certificate with one of those CNs)
	// mutual: false
}
