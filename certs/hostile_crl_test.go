package certs_test

// Hostile and lapsed inputs to revocation checks, issuing and requests.
// Helpers newFixture, fixedNow, t0 and at come from helpers_test.go.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// crlNoNextUpdate signs with ca's key a v2 CRL without nextUpdate
// (x509.CreateRevocationList cannot omit it).
func crlNoNextUpdate(t *testing.T, ca *certstest.CA, thisUpdate time.Time) *x509.RevocationList {
	alg := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}) // sha256WithRSA
			b.AddASN1NULL()
		})
	}
	var tb cryptobyte.Builder
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1) // v2
		alg(b)
		b.AddBytes(ca.Leaf().RawSubject)
		b.AddASN1UTCTime(thisUpdate) // no nextUpdate, no entries
	})
	tbs := tb.BytesOrPanic()
	sum := sha256.Sum256(tbs)
	sig, err := ca.Key.Sign(rand.Reader, sum[:], crypto.SHA256)
	require.NoError(t, err)
	var cb cryptobyte.Builder
	cb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(tbs); alg(b); b.AddASN1BitString(sig) })
	crl, err := x509.ParseRevocationList(cb.BytesOrPanic())
	require.NoError(t, err)
	require.NoError(t, crl.CheckSignatureFrom(ca.Leaf()))
	return crl
}

// A CRL without nextUpdate is out of date (it would otherwise clear a
// certificate for ever, replayed from an http distribution point).
func TestCRLWithoutNextUpdateIsStale(t *testing.T) {
	f := newFixture(t)
	pc := f.chain(t, certstest.ProvisioningOptions{})
	leaf, issuer := pc.Chain[0], pc.Chain[1]
	old := crlNoNextUpdate(t, pc.Issuer, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	err := certs.CheckCRL(leaf, old, t0, certs.CRLOptions{Issuer: issuer})
	assert.ErrorIs(t, err, certs.ErrCRLStale, "a CRL from 2020 with no nextUpdate cleared the certificate in 2026")
	check := certs.CRLRevocation(func(context.Context, *x509.Certificate) (*x509.RevocationList, error) { return old, nil },
		certs.CRLOptions{Now: fixedNow})
	assert.Error(t, check(context.Background(), leaf, issuer), "the wsman/provisioning revocation hook accepted it too")
}

// Of several CRLs from one issuer, the newest decides: an older one first in
// the list does not hide a revocation the newer lists.
func TestRevocationOptionsUsesNewestCRL(t *testing.T) {
	pc, rootCRL := crlChain(t)
	ca := pc.Issuer
	ca.Now = at(t0.Add(-24 * time.Hour))
	older, _, err := ca.CRL(7 * certs.Day) // current until t0+6d, lists nothing
	require.NoError(t, err)
	ca.Now = fixedNow
	require.NoError(t, ca.Revoke(context.Background(), pc.Chain[0], certs.RevocationKeyCompromise))
	newer, _, err := ca.CRL(7 * certs.Day) // lists the leaf
	require.NoError(t, err)
	require.True(t, certs.CheckProvisioning(pc.Chain, pc.Key, withCRLs(newer, rootCRL)).Has(certs.CodeRevoked)) // sanity
	got := certs.CheckProvisioning(pc.Chain, pc.Key, withCRLs(older, newer, rootCRL))
	require.True(t, got.Has(certs.CodeRevoked), "leaf revoked (keyCompromise) on CRL %v, yet findings: %v", newer.Number, got)
}

// A CRL with an unknown critical entry extension decides nothing (RFC 5280
// §5.3).
func TestCRLCriticalUnknownEntryExtension(t *testing.T) {
	f := newFixture(t)
	pc := f.chain(t, certstest.ProvisioningOptions{})
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: t0.Add(-time.Hour), NextUpdate: t0.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(12345), RevocationTime: t0.Add(-time.Hour),
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Critical: true, Value: []byte{5, 0}}}}},
	}, pc.Issuer.Leaf(), pc.Issuer.Key)
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.ErrorIs(t, certs.CheckCRL(pc.Chain[0], crl, t0, certs.CRLOptions{Issuer: pc.Chain[1]}), certs.ErrCRLUnsupported)
}

// A lapsed LocalCA issues nothing (it signed a certificate whose NotAfter
// came before its NotBefore).
func TestLocalCAExpiredIssuesNothing(t *testing.T) {
	f := newFixture(t)
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow,
		NotBefore: t0.Add(-400 * certs.Day), NotAfter: t0.Add(-30 * certs.Day)})
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "dev1.example.com"}, DNSNames: []string{"dev1.example.com"}}
	chain, err := certs.LocalCA{CA: ca.Bundle, Now: fixedNow}.Issue(context.Background(), tmpl, f.keys.MustRSA(t, 2048).Public())
	assert.Nil(t, chain)
	require.ErrorIs(t, err, certs.ErrExpired)
}

// Verify refuses a signed request that asks for other names than the
// request sent to AMT.
func TestAMTRequestVerifyRefusesChangedRequest(t *testing.T) {
	f := newFixture(t)
	amtKey := f.keys.MustRSA(t, 2048)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev1.contoso.com"},
		DNSNames: []string{"dev1.contoso.com"}}, amtKey.Public())
	require.NoError(t, err)
	swapped, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{ // what the device returns
		Subject: pkix.Name{CommonName: "*.contoso.com"}, DNSNames: []string{"*.contoso.com", "dc01.contoso.com"}}, amtKey)
	require.NoError(t, err)
	_, err = req.Verify(swapped)
	require.ErrorIs(t, err, certs.ErrRequestChanged)
	assert.ErrorContains(t, err, "*.contoso.com")
}

// Device templates refuse wildcard names and names with NUL bytes.
func TestDeviceTemplateRefusesWildcardAndNUL(t *testing.T) {
	for _, fqdn := range []string{"*.contoso.com", "dev1.contoso.com\x00.attacker.net"} {
		_, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: fqdn})
		require.ErrorIs(t, err, certs.ErrInvalidOption, fqdn)
		_, err = certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "dev1.contoso.com", DNSNames: []string{fqdn}})
		require.ErrorIs(t, err, certs.ErrInvalidOption, fqdn)
		_, err = certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{FQDN: fqdn})
		require.ErrorIs(t, err, certs.ErrInvalidOption, fqdn)
	}
}

// A delta CRL given with its base (Active Directory Certificate Services
// publishes both, numbered from one sequence) is not taken for the newest
// complete CRL: the base decides.
func TestDeltaCRLAlongsideBaseDoesNotHideIt(t *testing.T) {
	pc, rootCRL := crlChain(t)
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
	require.False(t, certs.CheckProvisioning(pc.Chain, pc.Key, withCRLs(base, rootCRL)).Has(certs.CodeCRLUnavailable)) // sanity
	got := certs.CheckProvisioning(pc.Chain, pc.Key, withCRLs(base, delta, rootCRL))
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

// The newest CRL of the issuer revokes the leaf but carries an entry with an
// unknown critical extension; an older CRL, still current, lists nothing. The
// newest is still the one to decide, and it decides nothing (fail closed:
// crl-unavailable): skipping it let the older one clear the revoked leaf.
func TestNewestCRLWithUnknownCriticalEntryIsNotSkipped(t *testing.T) {
	pc, rootCRL := crlChain(t)
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
	got := certs.CheckProvisioning(pc.Chain, pc.Key, withCRLs(older, newer, rootCRL))
	require.True(t, got.Has(certs.CodeRevoked) || got.Has(certs.CodeCRLUnavailable),
		"the issuer's newest CRL (number %v) revokes the leaf, yet the older CRL %v cleared it: %v", newer.Number, older.Number, got)
}

// crlChain is a provisioning chain under a root of its own, and the root's
// CRL (which a revocation check of the chain needs too).
func crlChain(t *testing.T) (*certstest.ProvisioningChain, *x509.RevocationList) {
	f := newFixture(t)
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow})
	pc := f.chain(t, certstest.ProvisioningOptions{Root: root})
	rootCRL, _, err := root.CRL(7 * certs.Day)
	require.NoError(t, err)
	return pc, rootCRL
}

// withCRLs checks revocation against crls.
func withCRLs(crls ...*x509.RevocationList) certs.ProvisioningOptions {
	return certs.ProvisioningOptions{Now: fixedNow, Revocation: &certs.RevocationOptions{CRLs: crls}}
}
