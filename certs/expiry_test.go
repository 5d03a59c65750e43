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

// TestExpiryBoundaries pins Configuration Manager's thresholds exactly: a warning
// (7210) when 40 days or less remain, an error (7211) when less than 15 remain,
// renewal of device certificates at 42 days or less, expired after NotAfter.
func TestExpiryBoundaries(t *testing.T) {
	nb := t0.Add(-365 * certs.Day)
	na := t0.Add(365 * certs.Day)
	var p certs.ExpiryPolicy // zero value = defaults
	const ns = time.Nanosecond
	day := certs.Day
	cases := []struct {
		left       time.Duration // NotAfter - now
		prov, dev  certs.ExpiryStatus
		provStatus int
	}{
		{365 * day, certs.ExpiryOK, certs.ExpiryOK, 0},
		{42*day + ns, certs.ExpiryOK, certs.ExpiryOK, 0},
		{42 * day, certs.ExpiryOK, certs.ExpiryRenew, 0},
		{41 * day, certs.ExpiryOK, certs.ExpiryRenew, 0},
		{40*day + ns, certs.ExpiryOK, certs.ExpiryRenew, 0},
		{40 * day, certs.ExpiryWarning, certs.ExpiryRenew, 7210},
		{40*day - ns, certs.ExpiryWarning, certs.ExpiryRenew, 7210},
		{15*day + ns, certs.ExpiryWarning, certs.ExpiryRenew, 7210},
		{15 * day, certs.ExpiryWarning, certs.ExpiryRenew, 7210},
		{15*day - ns, certs.ExpiryError, certs.ExpiryRenew, 7211},
		{14 * day, certs.ExpiryError, certs.ExpiryRenew, 7211},
		{ns, certs.ExpiryError, certs.ExpiryRenew, 7211},
		{0, certs.ExpiryError, certs.ExpiryRenew, 7211}, // NotAfter itself is still valid
		{-ns, certs.ExpiryExpired, certs.ExpiryExpired, 0},
		{-day, certs.ExpiryExpired, certs.ExpiryExpired, 0},
	}
	for _, tc := range cases {
		now := na.Add(-tc.left)
		t.Run(tc.left.String(), func(t *testing.T) {
			got := p.Provisioning(nb, na, now)
			assert.Equal(t, tc.prov, got, "provisioning")
			assert.Equal(t, tc.provStatus, got.StatusMessageID())
			assert.Equal(t, tc.dev, p.Device(nb, na, now), "device")
		})
	}
	assert.Equal(t, certs.ExpiryNotYetValid, p.Provisioning(nb, na, nb.Add(-ns)))
	assert.Equal(t, certs.ExpiryNotYetValid, p.Device(nb, na, nb.Add(-ns)))
	assert.Equal(t, certs.ExpiryOK, p.Provisioning(nb, na, nb), "NotBefore itself is valid")
}

// Defaults shrink with a short certificate (a third of the lifetime for the
// warning and the renewal, an eighth for the error); set fields do not.
func TestExpiryDefaultsScaleWithLifetime(t *testing.T) {
	day := certs.Day
	var p certs.ExpiryPolicy
	for _, tc := range []struct {
		lifetime, left time.Duration
		prov, dev      certs.ExpiryStatus
	}{
		{365 * day, 40 * day, certs.ExpiryWarning, certs.ExpiryRenew}, // a year: the fixed defaults
		{47 * day, 37 * day, certs.ExpiryOK, certs.ExpiryOK},          // 47 days, on the tenth
		{47 * day, 47 * day / 3, certs.ExpiryWarning, certs.ExpiryRenew},
		{47 * day, 47*day/3 + time.Second, certs.ExpiryOK, certs.ExpiryOK},
		{47 * day, 47*day/8 - time.Second, certs.ExpiryError, certs.ExpiryRenew},
		{30 * day, 10 * day, certs.ExpiryWarning, certs.ExpiryRenew},
		{30 * day, 11 * day, certs.ExpiryOK, certs.ExpiryOK},
		{24 * time.Hour, 7 * time.Hour, certs.ExpiryWarning, certs.ExpiryRenew}, // step-ca's default lifetime
		{24 * time.Hour, 9 * time.Hour, certs.ExpiryOK, certs.ExpiryOK},
	} {
		nb := t0
		na := nb.Add(tc.lifetime)
		now := na.Add(-tc.left)
		assert.Equal(t, tc.prov, p.Provisioning(nb, na, now), "provisioning, %v of %v left", tc.left, tc.lifetime)
		assert.Equal(t, tc.dev, p.Device(nb, na, now), "device, %v of %v left", tc.left, tc.lifetime)
	}
	set := certs.ExpiryPolicy{Warn: 40 * day, Renew: 42 * day}
	assert.Equal(t, certs.ExpiryWarning, set.Provisioning(t0, t0.Add(47*day), t0.Add(10*day)), "a set Warn applies as it is")
	assert.Equal(t, certs.ExpiryRenew, set.Device(t0, t0.Add(47*day), t0.Add(10*day)), "a set Renew applies as it is")
}

// ProvisioningChain scales by the first certificate to expire, not by the
// chain's window: an intermediate issued after the leaf does not make a
// year-long leaf look short.
func TestExpiryProvisioningChain(t *testing.T) {
	day := certs.Day
	leaf := &x509.Certificate{NotBefore: t0.Add(-325 * day), NotAfter: t0.Add(40 * day)}
	inter := &x509.Certificate{NotBefore: t0.Add(-30 * day), NotAfter: t0.Add(3650 * day)}
	root := &x509.Certificate{NotBefore: t0.Add(-3650 * day), NotAfter: t0.Add(3650 * day)}
	var p certs.ExpiryPolicy
	chain := []*x509.Certificate{leaf, inter, root}
	assert.Equal(t, certs.ExpiryWarning, p.ProvisioningChain(chain, t0), "40 days left of a year")
	assert.Equal(t, certs.ExpiryOK, p.Provisioning(inter.NotBefore, leaf.NotAfter, t0), "the chain's 70-day window would scale the warning to 23 days")
	assert.Equal(t, certs.ExpiryNotYetValid, p.ProvisioningChain(chain, t0.Add(-31*day)), "before the intermediate's NotBefore")
	assert.Equal(t, certs.ExpiryExpired, p.ProvisioningChain(nil, t0))
}

func TestExpiryPolicyConfigured(t *testing.T) {
	na := t0.Add(100 * certs.Day)
	nb := t0.Add(-certs.Day)
	p := certs.ExpiryPolicy{Warn: 90 * certs.Day, Error: 30 * certs.Day, Renew: 60 * certs.Day, Every: certs.Day}
	assert.Equal(t, certs.ExpiryOK, p.Provisioning(nb, na, na.Add(-90*certs.Day-time.Second)))
	assert.Equal(t, certs.ExpiryWarning, p.Provisioning(nb, na, na.Add(-90*certs.Day)))
	assert.Equal(t, certs.ExpiryError, p.Provisioning(nb, na, na.Add(-30*certs.Day+time.Second)))
	assert.Equal(t, certs.ExpiryRenew, p.Device(nb, na, na.Add(-60*certs.Day)))
	assert.Equal(t, certs.ExpiryOK, p.Device(nb, na, na.Add(-60*certs.Day-time.Second)))
	assert.Equal(t, t0.Add(certs.Day), p.NextCheck(t0))
	assert.Equal(t, t0.Add(7*certs.Day), certs.ExpiryPolicy{}.NextCheck(t0))

	off := certs.ExpiryPolicy{Warn: -1, Error: -1, Renew: -1}
	assert.Equal(t, certs.ExpiryOK, off.Provisioning(nb, na, na), "negative thresholds switch the rules off")
	assert.Equal(t, certs.ExpiryOK, off.Device(nb, na, na))
	assert.Equal(t, certs.ExpiryExpired, off.Device(nb, na, na.Add(time.Second)))

	c := &x509.Certificate{NotBefore: nb, NotAfter: na}
	assert.Equal(t, certs.ExpiryWarning, certs.ExpiryPolicy{}.ProvisioningCert(c, na.Add(-20*certs.Day)))
	assert.Equal(t, certs.ExpiryRenew, certs.ExpiryPolicy{}.DeviceCert(c, na.Add(-20*certs.Day)))
}

func TestExpiryStrings(t *testing.T) {
	for s, want := range map[certs.ExpiryStatus]string{
		certs.ExpiryOK: "ok", certs.ExpiryWarning: "warning", certs.ExpiryError: "error", certs.ExpiryRenew: "renew",
		certs.ExpiryExpired: "expired", certs.ExpiryNotYetValid: "not-yet-valid", 42: "ExpiryStatus(42)",
	} {
		assert.Equal(t, want, s.String())
	}
	for r, want := range map[certs.RevocationReason]string{
		0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
		5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise", 7: "RevocationReason(7)",
	} {
		assert.Equal(t, want, r.String())
	}
	assert.Equal(t, certs.RevocationReason(4), certs.RevocationSuperseded, "RFC 5280 §5.3.1 superseded(4)")
}

func TestCheckCRL(t *testing.T) {
	f := newFixture(t)
	ca := f.inter
	c := f.chain(t, certstest.ProvisioningOptions{})
	c2 := f.chain(t, certstest.ProvisioningOptions{})
	crlBefore, _, err := ca.CRL(0)
	require.NoError(t, err)
	require.NoError(t, ca.Revoke(t.Context(), c.Leaf(), certs.RevocationSuperseded))
	ca.RevokeSerial(big.NewInt(12345), certs.RevocationKeyCompromise, t0)
	crl, _, err := ca.CRL(certs.Day)
	require.NoError(t, err)
	assert.Equal(t, 2, ca.Revoked())
	otherCRL, _, err := f.root.CRL(0)
	require.NoError(t, err)
	forged := *crl
	forged.Signature = append([]byte(nil), crl.Signature...)
	forged.Signature[5] ^= 1

	issuer := ca.Certificate()
	// A delta CRL and a partial (IDP-scoped) CRL, correctly signed, that do not
	// list the revoked certificate: they cannot clear it.
	scoped := func(id asn1.ObjectIdentifier) *x509.RevocationList {
		val, err := asn1.Marshal(big.NewInt(1))
		require.NoError(t, err)
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(99),
			ThisUpdate: t0.Add(-time.Hour), NextUpdate: t0.Add(time.Hour),
			ExtraExtensions: []pkix.Extension{{Id: id, Critical: true, Value: val}}}, issuer, ca.Key)
		require.NoError(t, err)
		l, err := x509.ParseRevocationList(der)
		require.NoError(t, err)
		return l
	}
	delta, partial := scoped(asn1.ObjectIdentifier{2, 5, 29, 27}), scoped(asn1.ObjectIdentifier{2, 5, 29, 28})
	cases := []struct {
		name string
		cert *x509.Certificate
		crl  *x509.RevocationList
		now  time.Time
		opts certs.CRLOptions
		err  error
	}{
		{"not listed", c2.Leaf(), crl, t0, certs.CRLOptions{Issuer: issuer}, nil},
		{"listed superseded", c.Leaf(), crl, t0, certs.CRLOptions{Issuer: issuer}, certs.ErrRevoked},
		{"listed, issuer not given", c.Leaf(), crl, t0, certs.CRLOptions{}, certs.ErrRevoked},
		{"older CRL without it", c.Leaf(), crlBefore, t0, certs.CRLOptions{Issuer: issuer}, nil},
		{"missing, fail closed", c.Leaf(), nil, t0, certs.CRLOptions{}, certs.ErrCRLMissing},
		{"missing, allowed", c.Leaf(), nil, t0, certs.CRLOptions{AllowMissing: true}, nil},
		{"stale, fail closed", c2.Leaf(), crl, t0.Add(certs.Day + time.Second), certs.CRLOptions{Issuer: issuer}, certs.ErrCRLStale},
		{"stale at NextUpdate is still fresh", c2.Leaf(), crl, t0.Add(certs.Day), certs.CRLOptions{Issuer: issuer}, nil},
		{"from the future", c2.Leaf(), crl, t0.Add(-time.Second), certs.CRLOptions{Issuer: issuer}, certs.ErrCRLStale},
		{"stale, allowed", c2.Leaf(), crl, t0.Add(30 * certs.Day), certs.CRLOptions{Issuer: issuer, AllowStale: true}, nil},
		{"stale but revoked is still revoked", c.Leaf(), crl, t0.Add(30 * certs.Day), certs.CRLOptions{Issuer: issuer}, certs.ErrRevoked},
		{"another CA's CRL", c2.Leaf(), otherCRL, t0, certs.CRLOptions{Issuer: issuer}, certs.ErrCRLIssuer},
		{"issuer given is not the CRL's", c2.Leaf(), crl, t0, certs.CRLOptions{Issuer: f.root.Certificate()}, certs.ErrCRLIssuer},
		{"bad signature", c2.Leaf(), &forged, t0, certs.CRLOptions{Issuer: issuer}, certs.ErrCRLSignature},
		{"delta CRL", c.Leaf(), delta, t0, certs.CRLOptions{Issuer: issuer}, certs.ErrCRLUnsupported},
		{"partial CRL", c.Leaf(), partial, t0, certs.CRLOptions{Issuer: issuer}, certs.ErrCRLUnsupported},
		{"no certificate", nil, crl, t0, certs.CRLOptions{}, certs.ErrNoCertificates},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := certs.CheckCRL(tc.cert, tc.crl, tc.now, tc.opts)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
	err = certs.CheckCRL(c.Leaf(), crl, t0, certs.CRLOptions{Issuer: issuer})
	var re *certs.RevokedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, certs.RevocationSuperseded, re.Reason)
	assert.Equal(t, t0, re.RevokedAt)
	assert.Contains(t, err.Error(), "superseded")
	assert.Contains(t, err.Error(), c.Leaf().SerialNumber.Text(16))

	// Revoking a certificate another CA issued is refused.
	assert.Error(t, ca.Revoke(t.Context(), f.root.Certificate(), certs.RevocationSuperseded))
}

// A CRL scoped by an issuing distribution point that names the certificate's
// own distribution point is complete for it (RFC 5280 §6.3.3), as Active
// Directory Certificate Services writes when "Include in the IDP extension of
// issued CRLs" is set: it clears a certificate it does not list and revokes
// one it does. Before, every such CRL was refused as partial.
func TestCheckCRLWithIssuingDistributionPoint(t *testing.T) {
	f := newFixture(t)
	ca := f.inter
	const url = "http://pki.contoso.com/crl/contoso-issuing.crl"
	key, err := f.keys.RSA(2048)
	require.NoError(t, err)
	issue := func(serial int64) *x509.Certificate {
		c, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "pc.contoso.com"},
			NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour), CRLDistributionPoints: []string{url}}, key.Public())
		require.NoError(t, err)
		return c
	}
	good, bad := issue(7001), issue(7002)
	uri, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(url)})
	require.NoError(t, err)
	full, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: uri})
	require.NoError(t, err)
	dp, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: full})
	require.NoError(t, err)
	idp, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: dp})
	require.NoError(t, err)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(5),
		ThisUpdate: t0.Add(-time.Hour), NextUpdate: t0.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: bad.SerialNumber, RevocationTime: t0.Add(-time.Minute)}},
		ExtraExtensions:           []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: idp}}}, ca.Certificate(), ca.Key)
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	opts := certs.CRLOptions{Issuer: ca.Certificate()}
	require.NoError(t, certs.CheckCRL(good, crl, t0, opts))
	require.ErrorIs(t, certs.CheckCRL(bad, crl, t0, opts), certs.ErrRevoked)
	other := *good
	other.CRLDistributionPoints = []string{"http://pki.contoso.com/crl/another.crl"}
	require.ErrorIs(t, certs.CheckCRL(&other, crl, t0, opts), certs.ErrCRLUnsupported, "the CRL of another distribution point")
}
