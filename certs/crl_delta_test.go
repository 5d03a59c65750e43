package certs_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// A delta CRL given with its base (Active Directory Certificate Services
// publishes both, numbered from one sequence) is not taken for the newest
// complete CRL: the base decides.
func TestDeltaCRLAlongsideBaseDoesNotHideIt(t *testing.T) {
	f := newFixture(t)
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow})
	pc := f.chain(t, certstest.ProvisioningOptions{Root: root})
	ca := pc.Issuer
	base, _, err := ca.CRL(7 * certs.Day) // complete, does not list the leaf
	require.NoError(t, err)
	baseNum, err := asn1.Marshal(base.Number)
	require.NoError(t, err)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: new(big.Int).Add(base.Number, big.NewInt(1)), ThisUpdate: t0.Add(-time.Minute), NextUpdate: t0.Add(24 * time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: baseNum}}, // deltaCRLIndicator
	}, ca.Leaf(), ca.Key)
	require.NoError(t, err)
	delta, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	rootCRL, _, err := root.CRL(7 * certs.Day)
	require.NoError(t, err)
	opts := func(crls ...*x509.RevocationList) certs.ProvisioningOptions {
		return certs.ProvisioningOptions{Now: fixedNow, Revocation: &certs.RevocationOptions{CRLs: crls}}
	}
	require.False(t, certs.CheckProvisioning(pc.Chain, pc.Key, opts(base, rootCRL)).Has(certs.CodeCRLUnavailable)) // sanity
	got := certs.CheckProvisioning(pc.Chain, pc.Key, opts(base, delta, rootCRL))
	assert.False(t, got.Has(certs.CodeCRLUnavailable), "the complete CRL was given, yet: %v", got)
}

// Names DNS allows in practice pass the device templates' check: an
// underscore (Windows host names), upper case, a trailing dot, a single
// label.
func TestDeviceTemplateAcceptsUnderscoreName(t *testing.T) {
	_, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "pc_0042.sales.contoso.com"})
	require.NoError(t, err)
	_, err = certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{FQDN: "pc_0042.sales.contoso.com"})
	require.NoError(t, err)
	for _, n := range []string{"PC-42.Contoso.COM", "pc-42.contoso.com.", "pc-42", "xn--bcher-kva.example"} {
		_, err = certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: n})
		require.NoError(t, err, n)
	}
}
