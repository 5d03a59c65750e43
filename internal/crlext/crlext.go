// Package crlext holds the CRL extension rule of certs' revocation checks: a CRL
// whose critical extensions are not understood cannot be trusted to list every
// revoked certificate, so revocation checks refuse it.
package crlext

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// Extensions amtkit evaluates or that cannot hide entries.
var (
	oidAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber      = asn1.ObjectIdentifier{2, 5, 29, 20}
	// OIDDeltaCRLIndicator marks a delta CRL (RFC 5280 §5.2.4): it lists only
	// changes since a base CRL, so a certificate revoked earlier is absent.
	OIDDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}
	// OIDIssuingDistributionPoint scopes a CRL (RFC 5280 §5.2.5): it may cover
	// only some certificates or reasons.
	OIDIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
)

// Check returns an error when l is a delta CRL, carries an issuing distribution
// point (a partial CRL), or has any other critical extension this package does
// not know. Go's x509.ParseRevocationList accepts all of these.
func Check(l *x509.RevocationList) error {
	for _, e := range l.Extensions {
		switch {
		case e.Id.Equal(OIDDeltaCRLIndicator):
			return fmt.Errorf("a delta CRL (it lists only changes since its base CRL)")
		case e.Id.Equal(OIDIssuingDistributionPoint):
			return fmt.Errorf("a partial CRL (issuing distribution point), which may not cover this certificate")
		case e.Critical && !e.Id.Equal(oidAuthorityKeyID) && !e.Id.Equal(oidCRLNumber):
			return fmt.Errorf("an unknown critical extension %v", e.Id)
		}
	}
	return nil
}
