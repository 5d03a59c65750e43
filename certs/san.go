package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SubjectAltNames lists the names for a subject alternative name extension that
// Go's x509 package cannot write by itself (it has no otherName).
type SubjectAltNames struct {
	DNSNames    []string
	IPAddresses []net.IP
	UPNs        []string // user principal names, written as otherName 1.3.6.1.4.1.311.20.2.3
}

// Extension returns the subjectAltName extension (2.5.29.17) holding the names,
// non-critical. Put it in [x509.Certificate.ExtraExtensions] or
// [x509.CertificateRequest.ExtraExtensions]; x509 then writes no SAN of its own, so
// list every name here.
func (s SubjectAltNames) Extension() (pkix.Extension, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, u := range s.UPNs {
			// otherName [0] { type-id OID, value [0] EXPLICIT UTF8String }
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidUPN)
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
				})
			})
		}
		for _, d := range s.DNSNames {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(d)) })
		}
		for _, ip := range s.IPAddresses {
			v := ip.To4()
			if v == nil {
				v = ip.To16()
			}
			b.AddASN1(cbasn1.Tag(7).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(v) })
		}
	})
	for _, u := range s.UPNs {
		if !utf8.ValidString(u) || u == "" {
			return pkix.Extension{}, fmt.Errorf("%w: UPN %q", ErrInvalidOption, u)
		}
	}
	for _, d := range s.DNSNames {
		if d == "" || !isIA5(d) {
			return pkix.Extension{}, fmt.Errorf("%w: DNS name %q is not ASCII", ErrInvalidOption, d)
		}
	}
	for _, ip := range s.IPAddresses {
		if ip.To16() == nil {
			return pkix.Extension{}, fmt.Errorf("%w: IP address %v", ErrInvalidOption, ip)
		}
	}
	v, err := b.Bytes()
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("%w: %v", ErrInvalidOption, err)
	}
	return pkix.Extension{Id: clone(oidExtSubjectAltName), Value: v}, nil
}

func isIA5(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// UPNs returns the user principal names in cert's subject alternative names.
// Malformed extensions yield no names.
func UPNs(cert *x509.Certificate) []string {
	if cert == nil {
		return nil
	}
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidExtSubjectAltName) {
			return parseUPNs(e.Value)
		}
	}
	return nil
}

func parseUPNs(der []byte) []string {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil
	}
	var out []string
	for !seq.Empty() {
		var v cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1(&v, &tag) {
			return out
		}
		if tag != cbasn1.Tag(0).Constructed().ContextSpecific() {
			continue
		}
		var oid asn1.ObjectIdentifier
		var val, str cryptobyte.String
		if !v.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidUPN) ||
			!v.ReadASN1(&val, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
			!val.ReadASN1(&str, cbasn1.UTF8String) || !utf8.Valid(str) {
			continue
		}
		out = append(out, string(str))
	}
	return out
}

// ExtKeyUsageExtension returns an extended key usage extension (2.5.29.37) with
// the given OIDs, non-critical. [x509.CertificateRequest] has no ExtKeyUsage field,
// so a request that asks for usages carries this in ExtraExtensions.
func ExtKeyUsageExtension(oids ...asn1.ObjectIdentifier) (pkix.Extension, error) {
	v, err := asn1.Marshal(oids)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("%w: %v", ErrInvalidOption, err)
	}
	return pkix.Extension{Id: clone(oidExtExtKeyUsage), Value: v}, nil
}
