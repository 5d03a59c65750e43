package certs_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// The newest CRL of the issuer revokes the leaf but carries an entry with an
// unknown critical extension; an older CRL, still current, lists nothing. The
// newest is still the one to decide, and it decides nothing (fail closed:
// crl-unavailable): skipping it let the older one clear the revoked leaf.
func TestNewestCRLWithUnknownCriticalEntryIsNotSkipped(t *testing.T) {
	f := newFixture(t)
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow})
	pc := f.chain(t, certstest.ProvisioningOptions{Root: root})
	ca := pc.Issuer
	ca.Now = at(t0.Add(-24 * time.Hour))
	older, _, err := ca.CRL(7 * certs.Day) // current until t0+6d, lists nothing
	require.NoError(t, err)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: new(big.Int).Add(older.Number, big.NewInt(1)), ThisUpdate: t0.Add(-time.Hour), NextUpdate: t0.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: pc.Chain[0].SerialNumber, RevocationTime: t0.Add(-time.Hour), ReasonCode: 1}, // keyCompromise
			{SerialNumber: big.NewInt(12345), RevocationTime: t0.Add(-time.Hour),
				ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Critical: true, Value: []byte{5, 0}}}},
		},
	}, ca.Leaf(), ca.Key)
	require.NoError(t, err)
	newer, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	rootCRL, _, err := root.CRL(7 * certs.Day)
	require.NoError(t, err)
	opts := certs.ProvisioningOptions{Now: fixedNow, Revocation: &certs.RevocationOptions{CRLs: []*x509.RevocationList{older, newer, rootCRL}}}
	got := certs.CheckProvisioning(pc.Chain, pc.Key, opts)
	require.True(t, got.Has(certs.CodeRevoked) || got.Has(certs.CodeCRLUnavailable),
		"the issuer's newest CRL (number %v) revokes the leaf, yet the older CRL %v cleared it: %v", newer.Number, older.Number, got)
}
