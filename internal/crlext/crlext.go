// Package crlext holds the CRL extension rule of certs' revocation checks: a CRL
// whose critical extensions are not understood cannot be trusted to list every
// revoked certificate, so revocation checks refuse it.
package crlext

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
)

// Extensions amtkit evaluates or that cannot hide entries.
var (
	oidAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber      = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidReasonCode     = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidInvalidityDate = asn1.ObjectIdentifier{2, 5, 29, 24}
	// OIDDeltaCRLIndicator marks a delta CRL (RFC 5280 §5.2.4): it lists only
	// changes since a base CRL, so a certificate revoked earlier is absent.
	OIDDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}
	// OIDIssuingDistributionPoint scopes a CRL (RFC 5280 §5.2.5): it may cover
	// only some certificates or reasons.
	OIDIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
)

// Check returns an error when l cannot be trusted to list cert if cert were
// revoked: a delta CRL, a CRL with any other critical extension this package
// does not know, or one whose issuing distribution point does not make it
// complete for cert. Go's x509.ParseRevocationList accepts all of these.
//
// An issuing distribution point is accepted as RFC 5280 §6.3.3 (b)(2)
// accepts it: its distributionPoint, when present, names one of cert's CRL
// distribution point URIs; onlyContainsUserCerts only for an end-entity
// certificate, onlyContainsCACerts only for a CA; never onlySomeReasons,
// indirectCRL or onlyContainsAttributeCerts (a CRL that covers only some
// reasons, or other issuers' certificates, is not complete on its own). Active
// Directory Certificate Services writes one when its distribution point says
// "Include in the IDP extension of issued CRLs".
func Check(l *x509.RevocationList, cert *x509.Certificate) error {
	for _, e := range l.Extensions {
		switch {
		case e.Id.Equal(OIDDeltaCRLIndicator):
			return fmt.Errorf("a delta CRL (it lists only changes since its base CRL)")
		case e.Id.Equal(OIDIssuingDistributionPoint):
			if err := checkIDP(e.Value, cert); err != nil {
				return fmt.Errorf("a partial CRL (issuing distribution point) that does not cover this certificate: %w", err)
			}
		case e.Critical && !e.Id.Equal(oidAuthorityKeyID) && !e.Id.Equal(oidCRLNumber):
			return fmt.Errorf("an unknown critical extension %v", e.Id)
		}
	}
	// RFC 5280 §5.3: a CRL with a critical entry extension the reader cannot
	// process must not decide any certificate's status (a critical
	// certificateIssuer, for one, changes whose serials the entries name).
	for _, r := range l.RevokedCertificateEntries {
		for _, e := range r.Extensions {
			if e.Critical && !e.Id.Equal(oidReasonCode) && !e.Id.Equal(oidInvalidityDate) {
				return fmt.Errorf("an entry with an unknown critical extension %v", e.Id)
			}
		}
	}
	return nil
}

// issuingDistributionPoint is RFC 5280 §5.2.5's IssuingDistributionPoint
// (implicitly tagged).
type issuingDistributionPoint struct {
	DistributionPoint          asn1.RawValue  `asn1:"optional,tag:0"`
	OnlyContainsUserCerts      bool           `asn1:"optional,tag:1"`
	OnlyContainsCACerts        bool           `asn1:"optional,tag:2"`
	OnlySomeReasons            asn1.BitString `asn1:"optional,tag:3"`
	IndirectCRL                bool           `asn1:"optional,tag:4"`
	OnlyContainsAttributeCerts bool           `asn1:"optional,tag:5"`
}

func checkIDP(der []byte, cert *x509.Certificate) error {
	var idp issuingDistributionPoint
	rest, err := asn1.Unmarshal(der, &idp)
	switch {
	case err != nil:
		return fmt.Errorf("malformed: %w", err)
	case len(rest) > 0:
		return errors.New("malformed: trailing data")
	case idp.OnlySomeReasons.BitLength > 0:
		return errors.New("it covers only some revocation reasons")
	case idp.IndirectCRL:
		return errors.New("it is an indirect CRL")
	case idp.OnlyContainsAttributeCerts:
		return errors.New("it covers only attribute certificates")
	case idp.OnlyContainsUserCerts && cert.IsCA:
		return errors.New("it covers only end-entity certificates, and this is a CA")
	case idp.OnlyContainsCACerts && !cert.IsCA:
		return errors.New("it covers only CA certificates, and this is an end-entity certificate")
	}
	if len(idp.DistributionPoint.FullBytes) == 0 {
		if !idp.OnlyContainsUserCerts && !idp.OnlyContainsCACerts {
			// RFC 5280 §5.2.5: an empty sequence must not be issued.
			return errors.New("malformed: an empty issuing distribution point")
		}
		return nil
	}
	uris, err := fullNameURIs(idp.DistributionPoint.Bytes)
	if err != nil {
		return err
	}
	for _, u := range uris {
		if slices.Contains(cert.CRLDistributionPoints, u) {
			return nil
		}
	}
	return fmt.Errorf("it is the CRL of %q, the certificate names %q", uris, cert.CRLDistributionPoints)
}

// fullNameURIs returns the URIs of a DistributionPointName's fullName (the
// contents of the IDP's [0]).
func fullNameURIs(b []byte) ([]string, error) {
	var dpn asn1.RawValue
	rest, err := asn1.Unmarshal(b, &dpn)
	if err != nil || len(rest) > 0 {
		return nil, errors.New("malformed distribution point name")
	}
	if dpn.Class != asn1.ClassContextSpecific || dpn.Tag != 0 {
		return nil, errors.New("a distribution point named relative to the CRL issuer")
	}
	var uris []string
	for in := dpn.Bytes; len(in) > 0; {
		var gn asn1.RawValue
		if in, err = asn1.Unmarshal(in, &gn); err != nil {
			return nil, errors.New("malformed distribution point name")
		}
		if gn.Class == asn1.ClassContextSpecific && gn.Tag == 6 { // uniformResourceIdentifier
			uris = append(uris, string(gn.Bytes))
		}
	}
	if len(uris) == 0 {
		return nil, errors.New("a distribution point without a URI")
	}
	return uris, nil
}

// Covers reports whether l can be the CRL that decides cert's status: a
// complete CRL (not a delta) whose issuing distribution point, if any, covers
// cert. Whether l can be relied on otherwise (an unknown critical extension)
// is Check's concern, not this one's: such a CRL is still the one to decide,
// and then refuses to.
func Covers(l *x509.RevocationList, cert *x509.Certificate) bool {
	for _, e := range l.Extensions {
		switch {
		case e.Id.Equal(OIDDeltaCRLIndicator):
			return false
		case e.Id.Equal(OIDIssuingDistributionPoint):
			if checkIDP(e.Value, cert) != nil {
				return false
			}
		}
	}
	return true
}
