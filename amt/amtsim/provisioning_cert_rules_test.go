package amtsim_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// The firmware compares the provisioning leaf's subject CN with the device's
// DNS suffix (Intel AMT SDK "Acquiring an Intel vPro certificate"; MeshCentral
// amtprovisioningserver.js checkAcmActivation matches cert.cn; RPS
// src/routes/admin/domains/domain.ts compares the CN's domain). amtkit's own
// certs.CheckProvisioning says "the firmware matches the CN" and flags a
// SAN-only match as dns-suffix-mismatch (an error). The simulator's
// checkLeafSuffix (rules.go) also accepted a DNS SAN, so a chain amtkit
// itself calls refused was accepted here.
func TestSuffixMatchesCNOnly(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{
		FQDN: "prov.other.org", // CN: does not cover example.com
		Leaf: func(c *x509.Certificate) {
			c.Subject = pkix.Name{CommonName: "prov.other.org", OrganizationalUnit: []string{amtsim.ClientSetupOU}}
			c.DNSNames = []string{"prov.example.com"} // SAN: would cover example.com
		},
	})
	// amtkit's own rule refuses it.
	rep := certs.CheckProvisioning(pc.Bundle.Chain, pc.Bundle.Key, certs.ProvisioningOptions{DNSSuffixes: []string{"example.com"}})
	if rep.Err() == nil {
		t.Fatalf("precondition: certs.CheckProvisioning accepts a SAN-only suffix match: %v", rep)
	}
	t.Logf("certs findings: %v", rep.Codes())
	d := start(t, trusting(pc))
	rc := rcfgClient(t, d, pc)
	_, err := rc.Get(t.Context(), uriSetup, nil)
	if err == nil {
		t.Fatal("the simulator accepted a remote-configuration chain whose leaf CN does not cover the DNS suffix (only a DNS SAN does); firmware matches the CN, and certs.CheckProvisioning refuses this chain")
	}
}

// Intel asks for serverAuth (1.3.6.1.5.5.7.3.1) in the provisioning leaf's
// EKU; amtkit's certs.CheckProvisioning says "anyExtendedKeyUsage does not
// count" (docs/certs.md, server-auth-missing: error). The simulator's
// checkChain accepts x509.ExtKeyUsageAny in place of serverAuth.
func TestAnyEKUIsNotServerAuth(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{
		Leaf: func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		},
	})
	rep := certs.CheckProvisioning(pc.Bundle.Chain, pc.Bundle.Key, certs.ProvisioningOptions{DNSSuffixes: []string{"example.com"}})
	if rep.Err() == nil {
		t.Fatalf("precondition: certs.CheckProvisioning accepts anyExtendedKeyUsage as serverAuth: %v", rep)
	}
	t.Logf("certs findings: %v", rep.Codes())
	d := start(t, trusting(pc))
	rc := rcfgClient(t, d, pc)
	if _, err := rc.Get(t.Context(), uriSetup, nil); err == nil {
		t.Fatal("the simulator accepted a provisioning leaf whose EKU is anyExtendedKeyUsage (+ the AMT OID) without serverAuth; certs.CheckProvisioning calls this chain refused")
	}
}
