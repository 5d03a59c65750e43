package certs_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// A root re-issued with the same key and subject (validity extended: the
// usual root renewal) sits in Roots next to the lapsed original. Go's
// verifier at "now" anchors the chain to the renewed root. anchored() once
// took whichever Verify returned first at the top's NotBefore, where both
// roots are valid, and CheckDeviceCertificate then reported the lapsed copy
// as an expired anchor; it prefers a root valid now.
func TestAnchoredPrefersTheRenewedTwinOfALapsedRoot(t *testing.T) {
	keys := &certstest.KeyPool{Reuse: true}
	rk := keys.MustRSA(t, 2048)
	subj := pkix.Name{CommonName: "Renewed Root"}
	old := signedBy(t, &x509.Certificate{
		Subject: subj, NotBefore: t0.Add(-6 * 365 * 24 * time.Hour), NotAfter: t0.Add(-30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, rk.Public(), rk)
	renewed := signedBy(t, &x509.Certificate{
		Subject: subj, NotBefore: t0.Add(-6 * 365 * 24 * time.Hour), NotAfter: t0.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, rk.Public(), rk)
	ik := keys.MustRSA(t, 2048)
	inter := signedBy(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Intermediate"}, NotBefore: t0.Add(-2 * 365 * 24 * time.Hour), NotAfter: t0.Add(3 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, old, ik.Public(), rk)
	lk := keys.MustRSA(t, 2048)
	leaf := signedBy(t, deviceLeafTemplate(), inter, lk.Public(), ik)
	for _, order := range []string{"lapsed first", "renewed first"} {
		t.Run(order, func(t *testing.T) {
			pool := x509.NewCertPool()
			if order == "lapsed first" {
				pool.AddCert(old)
				pool.AddCert(renewed)
			} else {
				pool.AddCert(renewed)
				pool.AddCert(old)
			}
			ip := x509.NewCertPool()
			ip.AddCert(inter)
			_, verr := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: ip, CurrentTime: t0, DNSName: "amt1.example.com"})
			require.NoError(t, verr, "Go's verifier (the connection policy) accepts the chain today")
			f := certs.CheckDeviceCertificate([]*x509.Certificate{leaf, inter}, certs.DeviceOptions{Now: fixedNow, FQDN: "amt1.example.com", Roots: pool})
			require.NoError(t, f.Err(), "the chain anchors to the renewed root: %v", f)
		})
	}
}

// A sub-CA permitted ".example.com" (RFC 5280: subdomains only) issues a
// provisioning leaf "*.example.com", whose names are all subdomains of
// example.com: permitted, as Go's verifier permits it as a dNSName SAN. The
// same wildcard under a CA that excludes bad.example.com covers a name the
// CA may not issue for: refused.
func TestWildcardCNAgainstNameConstraints(t *testing.T) {
	p := newTrustPKI(t)
	ik := p.keys.MustRSA(t, 2048)
	inter := p.intermediate(t, ik, "Constrained Intermediate", func(c *x509.Certificate) {
		c.PermittedDNSDomainsCritical, c.PermittedDNSDomains = true, []string{".example.com"}
	})
	lk := p.keys.MustRSA(t, 2048)
	leaf := signedBy(t, provLeafTemplate("*.example.com", "*.example.com"), inter, lk.Public(), ik)
	chain := []*x509.Certificate{leaf, inter, p.root}
	roots, ip := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(p.root)
	ip.AddCert(inter)
	_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: ip, CurrentTime: t0})
	require.NoError(t, verr, "Go permits *.example.com under .example.com")
	f := certs.CheckProvisioning(chain, lk, certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"sales.example.com"}})
	require.NoError(t, f.Err(), "%v", f)

	excluding := p.intermediate(t, ik, "Excluding Intermediate", func(c *x509.Certificate) {
		c.PermittedDNSDomainsCritical, c.ExcludedDNSDomains = true, []string{"bad.example.com"}
	})
	wild := signedBy(t, provLeafTemplate("*.example.com", "*.example.com"), excluding, lk.Public(), ik)
	f = certs.CheckProvisioning([]*x509.Certificate{wild, excluding, p.root}, lk, certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"sales.example.com"}})
	assert.True(t, f.Has(certs.CodeChainInvalid), "*.example.com covers bad.example.com, which the CA may not issue for: %v", f)
}
