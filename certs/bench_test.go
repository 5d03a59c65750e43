package certs_test

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// BenchmarkRSAVerify2048 is the floor for the checks: one RSA-2048 signature
// verification (CheckProvisioning verifies each link, the root, and the path).
func BenchmarkRSAVerify2048(b *testing.B) {
	f := newFixture(b)
	c := f.chain(b, certstest.ProvisioningOptions{})
	leaf, issuer := c.Chain[0], c.Chain[1]
	d := sha256.Sum256(leaf.RawTBSCertificate)
	pub := issuer.PublicKey.(*rsa.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(pub, 5, d[:], leaf.Signature); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckProvisioning(b *testing.B) {
	f := newFixture(b)
	c := f.chain(b, certstest.ProvisioningOptions{})
	hashes := []amt.CertHash{c.RootHash(amt.HashSHA256)}
	opts := certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"sales.example.com"}, DeviceHashes: hashes}
	b.ReportAllocs()
	for b.Loop() {
		if fs := certs.CheckProvisioning(c.Chain, c.Key, opts); len(fs) != 0 {
			b.Fatal(fs)
		}
	}
}

func BenchmarkOrderChain(b *testing.B) {
	f := newFixture(b)
	c := f.chain(b, certstest.ProvisioningOptions{})
	in := []*x509.Certificate{c.Chain[2], c.Chain[0], c.Chain[1]}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := certs.OrderChain(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatchRoot(b *testing.B) {
	f := newFixture(b)
	c := f.chain(b, certstest.ProvisioningOptions{})
	hashes := make([]amt.CertHash, 0, 24)
	for _, r := range amt.DefaultRootHashes()[:23] {
		hashes = append(hashes, r.Hash)
	}
	hashes = append(hashes, c.RootHash(amt.HashSHA256))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := certs.MatchRoot(c.Chain, hashes); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkLoadPKCS12(b *testing.B) {
	f := newFixture(b)
	c := f.chain(b, certstest.ProvisioningOptions{})
	der, err := certs.EncodePKCS12(c.Bundle, pw, certs.PKCS12Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := certs.LoadPKCS12(der, pw); err != nil {
			b.Fatal(err)
		}
	}
}
