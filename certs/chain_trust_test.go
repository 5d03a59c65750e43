package certs_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// signedBy signs tmpl for pub with parent/parentKey (self-signed when parent is nil).
func signedBy(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		s, err := certs.RandomSerial(nil)
		require.NoError(t, err)
		tmpl.SerialNumber = s
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

type trustPKI struct {
	keys    *certstest.KeyPool
	root    *x509.Certificate
	rootKey crypto.Signer
}

func newTrustPKI(t *testing.T) *trustPKI {
	keys := &certstest.KeyPool{Reuse: true}
	k := keys.MustRSA(t, 2048)
	root := signedBy(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Trust Root"}, NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.Add(3650 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, k.Public(), k)
	return &trustPKI{keys: keys, root: root, rootKey: k}
}

// intermediate issues a CA certificate under p's root with ik's key, edited
// by edit (constraints, EKUs).
func (p *trustPKI) intermediate(t *testing.T, ik crypto.Signer, name string, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.Add(3000 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	edit(tmpl)
	return signedBy(t, tmpl, p.root, ik.Public(), p.rootKey)
}

func provLeafTemplate(cn string, sans ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:            pkix.Name{CommonName: cn, OrganizationalUnit: []string{certs.ClientSetupOU}},
		NotBefore:          t0.Add(-time.Hour),
		NotAfter:           t0.Add(365 * 24 * time.Hour),
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{certs.OIDAMTActivation()},
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:           sans,
	}
}

// A CA name-constrained to example.com issues a provisioning certificate whose
// CN — the only name the firmware matches the DNS suffix against — is in
// another domain, and no SAN. Go's verifier ignores the CN, so nothing was
// reported and CheckProvisioning passed the chain for victim.com; OpenSSL
// 3.0 refuses the same chain ("permitted subtree violation": it checks a
// host-name CN against DNS constraints when the leaf has no DNS SAN), and so
// does CheckProvisioning now (chain-invalid).
func TestNameConstraintsApplyToTheCN(t *testing.T) {
	p := newTrustPKI(t)
	ik := p.keys.MustRSA(t, 2048)
	inter := p.intermediate(t, ik, "Constrained Intermediate", func(c *x509.Certificate) {
		c.PermittedDNSDomainsCritical, c.PermittedDNSDomains = true, []string{"example.com"}
	})
	lk := p.keys.MustRSA(t, 2048)
	leaf := signedBy(t, provLeafTemplate("prov.victim.com"), inter, lk.Public(), ik)
	chain := []*x509.Certificate{leaf, inter, p.root}

	f := certs.CheckProvisioning(chain, lk, certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"victim.com"}})
	require.Error(t, f.Err(), "CN outside the issuer's permitted subtree accepted: %v", f)
}

// A subject with two CN attributes: Go's pkix.Name keeps the last, node-forge's
// getField('CN') (RPS, MeshCentral) the first. The checks passed the
// certificate for the suffix of the last CN without a word; such a subject is
// now refused (cn-invalid, and Bundle.Covers).
func TestTwoCommonNamesRefused(t *testing.T) {
	p := newTrustPKI(t)
	lk := p.keys.MustRSA(t, 2048)
	tmpl := provLeafTemplate("", "prov.example.com")
	oidCN := asn1.ObjectIdentifier{2, 5, 4, 3}
	tmpl.Subject = pkix.Name{
		OrganizationalUnit: []string{certs.ClientSetupOU},
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidCN, Value: "prov.evil.com"},
			{Type: oidCN, Value: "prov.example.com"},
		},
	}
	leaf := signedBy(t, tmpl, p.root, lk.Public(), p.rootKey)
	require.Equal(t, "prov.example.com", leaf.Subject.CommonName) // Go's reading: the last
	chain := []*x509.Certificate{leaf, p.root}
	f := certs.CheckProvisioning(chain, lk, certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"example.com"}})
	require.Error(t, f.Err(), "a subject with two CNs (first prov.evil.com) passed for example.com: %v", f)
	_ = amt.HashSHA256
	_ = big.NewInt
}

// An intermediate whose extended key usage confines it to clientAuth issues a
// provisioning leaf with serverAuth. Go (with a usage asked for), Windows and
// NSS refuse the path (EKU nesting); CheckProvisioning verifies with
// ExtKeyUsageAny, which skips every EKU check, and passed it (it now verifies
// a serverAuth leaf for serverAuth). CheckDeviceCertificate asks for
// serverAuth and refuses the same shape.
func TestIntermediateEKUConstraintApplies(t *testing.T) {
	p := newTrustPKI(t)
	ik := p.keys.MustRSA(t, 2048)
	inter := p.intermediate(t, ik, "Client-auth-only Intermediate", func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	lk := p.keys.MustRSA(t, 2048)
	leaf := signedBy(t, provLeafTemplate("prov.example.com", "prov.example.com"), inter, lk.Public(), ik)
	chain := []*x509.Certificate{leaf, inter, p.root}
	roots, ip := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(p.root)
	ip.AddCert(inter)
	_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: ip, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	require.Error(t, verr, "Go refuses it when asked for serverAuth")

	f := certs.CheckProvisioning(chain, lk, certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"example.com"}})
	require.Error(t, f.Err(), "a serverAuth leaf under a clientAuth-only CA accepted: %v", f)
}

// The trust anchor CheckDeviceCertificate takes from DeviceOptions.Roots was
// never checked for validity: checkValidity looked at the chain the device
// sent (AMT sends no root). A device certificate under a root that expired a
// year ago passed, while wsman.VerifyChain over the same pool refuses the
// device at connect time ("certificate has expired"); it is now reported
// expired.
func TestDeviceCheckJudgesTheAnchorsValidity(t *testing.T) {
	keys := &certstest.KeyPool{Reuse: true}
	rk := keys.MustRSA(t, 2048)
	root := signedBy(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Lapsed Root"}, NotBefore: t0.Add(-3 * 365 * 24 * time.Hour), NotAfter: t0.Add(-365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, rk.Public(), rk)
	ik := keys.MustRSA(t, 2048)
	inter := signedBy(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Intermediate"}, NotBefore: t0.Add(-2 * 365 * 24 * time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, root, ik.Public(), rk)
	lk := keys.MustRSA(t, 2048)
	leaf := signedBy(t, deviceLeafTemplate(), inter, lk.Public(), ik)
	pool := x509.NewCertPool()
	pool.AddCert(root)

	// What the connection policy (Go's verifier at now) says.
	ip := x509.NewCertPool()
	ip.AddCert(inter)
	_, verr := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: ip, CurrentTime: t0, DNSName: "amt1.example.com"})
	require.Error(t, verr)

	f := certs.CheckDeviceCertificate([]*x509.Certificate{leaf, inter}, certs.DeviceOptions{Now: fixedNow, FQDN: "amt1.example.com", Roots: pool})
	require.Error(t, f.Err(), "a chain to an anchor that expired a year ago passed: %v", f)
}

// deviceLeafTemplate is AMT's TLS certificate for amt1.example.com, valid
// from an hour before t0 for 300 days.
func deviceLeafTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: "amt1.example.com"}, DNSNames: []string{"amt1.example.com"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(300 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
}
