package certstest_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// BenchmarkRSASign2048 is the floor: one RSA-2048 PKCS#1 v1.5 signature, the
// unit cost of every certificate made.
func BenchmarkRSASign2048(b *testing.B) {
	k := certstest.NewKeyPool().MustRSA(b, 2048)
	d := sha256.Sum256([]byte("tbs"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSAGenerate2048 is what the pool avoids (run with -benchtime=5x: it
// is slow and its time varies widely).
func BenchmarkRSAGenerate2048(b *testing.B) {
	for b.Loop() {
		if _, err := rsa.GenerateKey(rand.Reader, 2048); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyPoolFirstUse: a fresh pool handing out its first key (reads the
// embedded file and parses one key).
func BenchmarkKeyPoolFirstUse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var p certstest.KeyPool
		if _, err := p.RSA(2048); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProvisioningChain: a whole chain (root, intermediate, leaf: three
// signatures) from pooled keys. Compare with 3 × BenchmarkRSASign2048.
func BenchmarkProvisioningChain(b *testing.B) {
	keys := &certstest.KeyPool{Reuse: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{Keys: keys}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProvisioningLeaf: a chain from an existing issuing CA (one signature).
func BenchmarkProvisioningLeaf(b *testing.B) {
	keys := &certstest.KeyPool{Reuse: true}
	c, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{Keys: keys, Issuer: c.Issuer}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCAIssueDeviceTLS: AMT's TLS certificate for a pooled key, as a
// simulated fleet needs one per device (one signature).
func BenchmarkCAIssueDeviceTLS(b *testing.B) {
	keys := certstest.NewKeyPool()
	ca := certstest.MustRootCA(b, certstest.CAOptions{Keys: keys})
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt.example.com"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		k, err := keys.Cycle(2048)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ca.IssueCert(tmpl, k.Public()); err != nil {
			b.Fatal(err)
		}
	}
}
