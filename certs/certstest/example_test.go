package certstest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

func exampleNow() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }

// A good provisioning chain and one that AMT would refuse, from the same root.
func ExampleNewProvisioningChain() {
	keys := certstest.NewKeyPool()
	good, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{Keys: keys, Now: exampleNow})
	if err != nil {
		panic(err)
	}
	for _, c := range good.Chain {
		fmt.Println(c.Subject.CommonName)
	}
	expired, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{
		Keys: keys, Now: exampleNow, Issuer: good.Issuer, FQDN: "*.example.com", Marker: certs.MarkerOU, Expired: true,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(expired.Leaf().Subject.CommonName, expired.Leaf().Subject.OrganizationalUnit, expired.Leaf().NotAfter.Format(time.DateOnly))
	// Output:
	// prov.example.com
	// amtkit Test Intermediate CA
	// amtkit Test Root CA
	// *.example.com [Intel(R) Client Setup Certificate] 2026-05-31
}

// A thousand simulated devices share the 32 embedded keys.
func ExampleKeyPool_Cycle() {
	keys := certstest.NewKeyPool()
	distinct := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k, err := keys.Cycle(2048)
		if err != nil {
			panic(err)
		}
		distinct[k.N.String()] = true
	}
	fmt.Println(len(distinct))
	// Output:
	// 32
}

// Issue a device certificate, supersede it, and publish the CRL.
func ExampleCA_Revoke() {
	keys := certstest.NewKeyPool()
	ca := certstest.MustRootCA(nil, certstest.CAOptions{Keys: keys, Now: exampleNow})
	amtKey, _ := keys.RSA(2048)
	tmpl, _ := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt-1.example.com", CertOptions: certs.CertOptions{Now: exampleNow}})
	old, err := ca.IssueCert(tmpl, amtKey.Public())
	if err != nil {
		panic(err)
	}
	if err := ca.Revoke(context.Background(), old, certs.RevocationSuperseded); err != nil {
		panic(err)
	}
	crl, _, err := ca.CRL(7 * certs.Day)
	if err != nil {
		panic(err)
	}
	err = certs.CheckCRL(old, crl, exampleNow(), certs.CRLOptions{Issuer: ca.Certificate()})
	fmt.Println(err != nil, crl.NextUpdate.Format(time.DateOnly))
	var re *certs.RevokedError
	if errors.As(err, &re) {
		fmt.Println(re.Reason)
	}
	// Output:
	// true 2026-06-08
	// superseded
}
