package certs_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// exampleNow is the fixed clock of the examples.
func exampleNow() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }

// Make a provisioning chain with certstest, check it against the AMT rules for
// two device DNS suffixes, then check a chain with three things wrong.
func ExampleCheckProvisioning() {
	keys := certstest.NewKeyPool()
	good := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{Keys: keys, Now: exampleNow})
	opts := certs.ProvisioningOptions{Now: exampleNow, DNSSuffixes: []string{"example.com", "sales.example.com"}}
	for _, f := range certs.CheckProvisioning(good.Chain, good.Key, opts) {
		fmt.Println(f.Severity, f.Code)
	}
	fmt.Println("usable:", certs.CheckProvisioning(good.Chain, good.Key, opts).Err() == nil)

	bad := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{
		Keys: keys, Now: exampleNow, Root: good.Root, Marker: certs.MarkerNone, SHA1: true, LeafBits: 1024,
	})
	findings := certs.CheckProvisioning(bad.Chain, bad.Key, opts)
	for _, f := range findings {
		fmt.Println(f.Severity, f.Code)
	}
	err := findings.Err()
	fmt.Println("usable:", err == nil, errors.Is(err, amt.ErrCheckFailed))
	// Output:
	// info root-not-factory
	// usable: true
	// error usage-marker-missing
	// error key-too-short
	// error weak-signature
	// info root-not-factory
	// usable: false true
}

// Choose a bundle for a device by the root hashes in its hello, however the
// hashes were written, and name the public CA behind a hash.
func ExampleMatchRoot() {
	c := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{Now: exampleNow})
	sum := sha256.Sum256(c.Root.RootCertificate().Raw) // what the device would list
	hello := []amt.CertHash{
		mustParse("SHA256: CB:3C:CB:B7:60:31:E5:E0:13:8F:8D:D3:9A:23:F9:DE:47:FF:C3:5E:43:C1:14:4C:EA:27:D4:6A:5A:B1:CB:5F"),
		{Alg: amt.HashSHA256, Sum: sum[:]},
	}
	h, ok := c.MatchRoot(hello)
	fmt.Println("match:", ok, h.Alg)
	if info, ok := amt.LookupDefaultRootHash(hello[0]); ok {
		fmt.Println("first hash is", info.Label)
	}
	_, ok = certs.MatchRoot(c.Chain, hello[:1])
	fmt.Println("match without our root:", ok)
	// Output:
	// match: true SHA-256
	// first hash is DigiCert Global Root G2
	// match without our root: false
}

func mustParse(s string) amt.CertHash {
	h, err := amt.ParseCertHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

// Configuration Manager's expiry thresholds, evaluated at a few points before a
// certificate's NotAfter.
func ExampleExpiryPolicy() {
	var p certs.ExpiryPolicy // zero value: 40/15/42/7 days
	notBefore := exampleNow().Add(-365 * certs.Day)
	notAfter := exampleNow()
	for _, left := range []int{60, 42, 40, 15, 14, 0, -1} {
		now := notAfter.Add(-time.Duration(left) * certs.Day)
		s := p.Provisioning(notBefore, notAfter, now)
		fmt.Printf("%3d days: provisioning %-7s %4d  device %s\n", left, s, s.StatusMessageID(), p.Device(notBefore, notAfter, now))
	}
	// Output:
	//  60 days: provisioning ok         0  device ok
	//  42 days: provisioning ok         0  device renew
	//  40 days: provisioning warning 7210  device renew
	//  15 days: provisioning warning 7210  device renew
	//  14 days: provisioning error   7211  device renew
	//   0 days: provisioning error   7211  device renew
	//  -1 days: provisioning expired    0  device expired
}

// Order a chain that came in any order.
func ExampleOrderChain() {
	c := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{Now: exampleNow})
	chain, err := certs.OrderChain([]*x509.Certificate{c.Chain[2], c.Chain[0], c.Chain[1]})
	if err != nil {
		panic(err)
	}
	for _, x := range chain {
		fmt.Println(x.Subject.CommonName)
	}
	_, err = certs.OrderChain([]*x509.Certificate{c.Chain[0], c.Chain[2]})
	fmt.Println(errors.Is(err, certs.ErrChainGap))
	// Output:
	// prov.example.com
	// amtkit Test Intermediate CA
	// amtkit Test Root CA
	// true
}

// Write a bundle as PKCS#12 and read it back; a wrong password is recognisable.
func ExampleLoadPKCS12() {
	c := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{Now: exampleNow})
	pfx, err := certs.EncodePKCS12(c.Bundle, amt.NewSecret("s3cret-pfx-password"), certs.PKCS12Options{})
	if err != nil {
		panic(err)
	}
	b, err := certs.LoadPKCS12(pfx, amt.NewSecret("s3cret-pfx-password"))
	fmt.Println(len(b.Chain), b.Leaf().Subject.CommonName, err)
	_, err = certs.LoadPKCS12(pfx, amt.NewSecret("guess"))
	fmt.Println(errors.Is(err, pkcs12.ErrIncorrectPassword))
	// Output:
	// 3 prov.example.com <nil>
	// true
}

// Read a PEM bundle; a damaged block (here a key whose base64 lost a
// character) is refused with ErrMalformed, naming its line, instead of the
// bundle loading without it.
func ExampleLoadPEM() {
	c := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{Now: exampleNow})
	pemData, err := certs.EncodePEM(c.Bundle)
	if err != nil {
		panic(err)
	}
	b, err := certs.LoadPEM(pemData)
	fmt.Println(len(b.Chain), b.Key != nil, err)

	begin := []byte("-----BEGIN PRIVATE KEY-----\n")
	at := bytes.Index(pemData, begin) + len(begin)
	damaged := append(append(bytes.Clone(pemData[:at]), '*'), pemData[at+1:]...)
	_, err = certs.LoadPEM(damaged)
	fmt.Println(errors.Is(err, certs.ErrMalformed))
	// Output:
	// 3 true <nil>
	// true
}

// Build the request AMT signs for its own key (GeneratePKCS10RequestEx), let a
// local key play AMT, and check the signed request.
func ExampleNewAMTRequest() {
	amtKey, _ := certstest.NewKeyPool().RSA(2048) // stands in for the key inside AMT
	derKey := x509.MarshalPKCS1PublicKey(&amtKey.PublicKey)

	pub, err := certs.ParsePublicKey(derKey)
	if err != nil {
		panic(err)
	}
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "amt-0042.example.com"},
		DNSNames: []string{"amt-0042.example.com"},
	}, pub)
	if err != nil {
		panic(err)
	}
	_ = req.NullSigned() // base64 of this goes to GeneratePKCS10RequestEx

	// AMT signs the request body with SHA-256 and returns the signed request.
	digest := sha256.Sum256(req.Info)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, amtKey, crypto.SHA256, digest[:])
	signed, _ := req.Assemble(x509.SHA256WithRSA, sig, false)

	csr, err := req.Verify(signed)
	fmt.Println(csr.Subject.CommonName, csr.DNSNames, err)
	// Output:
	// amt-0042.example.com [amt-0042.example.com] <nil>
}

// Issue AMT's TLS certificate for the key AMT generated, from a local CA.
func ExampleLocalCA() {
	keys := certstest.NewKeyPool()
	root := certstest.MustRootCA(nil, certstest.CAOptions{Keys: keys, Now: exampleNow})
	amtKey, _ := keys.RSA(2048)
	pub, _ := certs.ParsePublicKey(x509.MarshalPKCS1PublicKey(&amtKey.PublicKey))

	tmpl, _ := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt-0042.example.com"})
	tmpl.NotBefore, tmpl.NotAfter = time.Time{}, time.Time{} // let the CA decide
	ca := certs.LocalCA{CA: root.Bundle, Now: exampleNow, Lifetime: 397 * certs.Day}
	chain, err := ca.Issue(context.Background(), tmpl, pub)
	if err != nil {
		panic(err)
	}
	fmt.Println(chain[0].Subject.CommonName, chain[0].DNSNames, chain[0].NotAfter.Format(time.DateOnly))
	fmt.Println(certs.CheckDeviceCertificate(chain, certs.DeviceOptions{FQDN: "amt-0042.example.com", Now: exampleNow}).Codes())
	// Output:
	// amt-0042.example.com [amt-0042.example.com] 2027-07-01
	// []
}

// A key a device supplies (AMT_PublicPrivateKeyPair.DERKey) is parsed with
// ParsePublicKey, which refuses what CheckDeviceKey refuses: an RSA key AMT
// would never generate, too short to trust or too long to verify quickly.
func ExampleCheckDeviceKey() {
	keys := certstest.NewKeyPool()
	amtKey := keys.MustRSA(nil, 2048)
	pub, err := certs.ParsePublicKey(x509.MarshalPKCS1PublicKey(&amtKey.PublicKey))
	fmt.Println(pub != nil, err)

	weak := &rsa.PublicKey{N: amtKey.N, E: 1} // anyone could "sign" for it
	fmt.Println(errors.Is(certs.CheckDeviceKey(weak), certs.ErrPublicKey))
	// Output:
	// true <nil>
	// true
}
