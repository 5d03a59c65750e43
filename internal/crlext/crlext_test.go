package crlext

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/assert"
)

// idp encodes an IssuingDistributionPoint: fullName URIs (none: no
// distributionPoint), then the raw flag fields given.
func idp(t *testing.T, uris []string, flags ...asn1.RawValue) []byte {
	t.Helper()
	var seq []byte
	if uris != nil {
		var names []byte
		for _, u := range uris {
			b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u)})
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, b...)
		}
		full, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: names})
		if err != nil {
			t.Fatal(err)
		}
		dp, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: full})
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, dp...)
	}
	for _, f := range flags {
		b, err := asn1.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, b...)
	}
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: seq})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flag(tag int) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: []byte{0xff}}
}

func TestCheck(t *testing.T) {
	ext := func(id asn1.ObjectIdentifier, critical bool) pkix.Extension {
		return pkix.Extension{Id: id, Critical: critical, Value: []byte{5, 0}}
	}
	const url = "http://pki.contoso.com/crl/issuing-ca.crl"
	leaf := &x509.Certificate{CRLDistributionPoints: []string{"ldap:///CN=x", url}}
	ca := &x509.Certificate{IsCA: true, CRLDistributionPoints: []string{url}}
	scoped := func(v []byte) []pkix.Extension {
		return []pkix.Extension{{Id: OIDIssuingDistributionPoint, Critical: true, Value: v}}
	}
	reasons := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 3, Bytes: []byte{7, 0x80}}
	for _, tt := range []struct {
		name string
		exts []pkix.Extension
		cert *x509.Certificate
		ok   bool
	}{
		{"none", nil, leaf, true},
		{"CRL number and AKI", []pkix.Extension{ext(oidCRLNumber, false), ext(oidAuthorityKeyID, false)}, leaf, true},
		{"unknown non-critical", []pkix.Extension{ext(asn1.ObjectIdentifier{1, 2, 3}, false)}, leaf, true},
		{"delta", []pkix.Extension{ext(OIDDeltaCRLIndicator, true)}, leaf, false},
		{"delta marked non-critical", []pkix.Extension{ext(OIDDeltaCRLIndicator, false)}, leaf, false},
		{"malformed issuing distribution point", []pkix.Extension{ext(OIDIssuingDistributionPoint, true)}, leaf, false},
		{"empty issuing distribution point", scoped(idp(t, nil)), leaf, false},
		{"unknown critical", []pkix.Extension{ext(asn1.ObjectIdentifier{1, 2, 3}, true)}, leaf, false},
		// RFC 5280 §6.3.3 (b)(2): complete for the certificates it names.
		{"IDP naming the certificate's distribution point (AD CS)", scoped(idp(t, []string{url})), leaf, true},
		{"IDP naming another distribution point", scoped(idp(t, []string{"http://pki.contoso.com/crl/other.crl"})), leaf, false},
		{"IDP with a point, certificate naming none", scoped(idp(t, []string{url})), &x509.Certificate{}, false},
		{"only user certificates, an end-entity", scoped(idp(t, []string{url}, flag(1))), leaf, true},
		{"only user certificates, a CA", scoped(idp(t, []string{url}, flag(1))), ca, false},
		{"only CA certificates, a CA", scoped(idp(t, nil, flag(2))), ca, true},
		{"only CA certificates, an end-entity", scoped(idp(t, nil, flag(2))), leaf, false},
		{"only some reasons", scoped(idp(t, []string{url}, reasons)), leaf, false},
		{"indirect", scoped(idp(t, []string{url}, flag(4))), leaf, false},
		{"only attribute certificates", scoped(idp(t, []string{url}, flag(5))), leaf, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(&x509.RevocationList{Extensions: tt.exts}, tt.cert)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// FuzzCheckIDP: any issuing distribution point is judged without a panic,
// and Check and Covers agree on it (for a CA and an end-entity certificate):
// a CRL Check trusts for a certificate is one Covers lets decide it.
func FuzzCheckIDP(f *testing.F) {
	f.Add([]byte{0x30, 0})
	f.Add([]byte{0x30, 0x03, 0x81, 0x01, 0xff})
	// distributionPoint [0] { fullName [0] { URI "http://x" } }
	f.Add([]byte{0x30, 0x0e, 0xa0, 0x0c, 0xa0, 0x0a, 0x86, 0x08, 'h', 't', 't', 'p', ':', '/', '/', 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		l := &x509.RevocationList{Extensions: []pkix.Extension{{Id: OIDIssuingDistributionPoint, Critical: true, Value: b}}}
		for _, ca := range []bool{false, true} {
			cert := &x509.Certificate{CRLDistributionPoints: []string{"http://x"}, IsCA: ca}
			if trusted, covers := Check(l, cert) == nil, Covers(l, cert); trusted != covers {
				t.Fatalf("CA %v: Check trusts the CRL: %v, Covers: %v", ca, trusted, covers)
			}
		}
	})
}
