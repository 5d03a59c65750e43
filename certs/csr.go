package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ProvisioningRequestOptions describe a PKCS#10 request for a provisioning
// certificate, for CAs that take a request file.
type ProvisioningRequestOptions struct {
	// FQDN is the provisioning server's name: subject CN and a dNSName SAN. Required.
	FQDN string
	// Organization, when set, is the subject O.
	Organization []string
	// Marker selects the usage marker requested: the OU in the subject and/or the
	// AMT OID in the requested extended key usage. The zero value asks for both.
	Marker UsageMarker
	// ClientAuth also requests the clientAuth EKU.
	ClientAuth bool
}

// ProvisioningRequest returns a DER PKCS#10 request for a provisioning
// certificate, signed by key (any crypto.Signer: an HSM-held key works). The
// subject is CN = FQDN (plus O and, unless MarkerOID, OU = [ClientSetupOU]); the
// request's extensionRequest attribute asks for a dNSName SAN of FQDN and the EKU
// serverAuth plus 2.16.840.1.113741.1.2.3 (unless MarkerOU). Whether the CA honours
// requested extensions is the CA's policy (a Microsoft CA takes the usages from its
// template). rnd is passed to the signer; nil means crypto/rand.
func ProvisioningRequest(o ProvisioningRequestOptions, key crypto.Signer, rnd io.Reader) ([]byte, error) {
	if strings.TrimSpace(o.FQDN) == "" {
		return nil, fmt.Errorf("%w: provisioning request needs an FQDN", ErrInvalidOption)
	}
	if publicOf(key) == nil {
		return nil, ErrNoKey
	}
	eku := []asn1.ObjectIdentifier{oidEKUServerAuth}
	if o.ClientAuth {
		eku = append(eku, oidEKUClientAuth)
	}
	if o.Marker.hasOID() {
		eku = append(eku, oidAMTActivation)
	}
	ekuExt, err := ExtKeyUsageExtension(eku...)
	if err != nil {
		return nil, err
	}
	t := &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: o.FQDN, Organization: o.Organization},
		DNSNames:        []string{o.FQDN},
		ExtraExtensions: []pkix.Extension{ekuExt},
	}
	if o.Marker.hasOU() {
		t.Subject.OrganizationalUnit = []string{ClientSetupOU}
	}
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		t.SignatureAlgorithm = x509.SHA256WithRSA
	}
	der, err := x509.CreateCertificateRequest(randOrDefault(rnd), t, key)
	if err != nil {
		return nil, fmt.Errorf("certs: creating provisioning request for %q: %w", o.FQDN, err)
	}
	return der, nil
}

// AMTRequest is a PKCS#10 request for a key that AMT holds: the private key never
// leaves the firmware, so the request body is built here and AMT signs it
// (AMT_PublicKeyManagementService.GeneratePKCS10RequestEx).
//
// Go's x509.CreateCertificateRequest cannot make such a request (it needs the
// private key and checks the signature it gets), so the CertificationRequestInfo is
// assembled with cryptobyte (the null-signed request nomis/amt README.rst makes
// with OpenSSL).
//
// The flow:
//  1. [NewAMTRequest] with AMT's public key ([ParsePublicKey] of DERKey);
//  2. send [AMTRequest.NullSigned] (base64) as NullSignedCertificateRequest;
//  3. check what AMT returns with [AMTRequest.Verify] (or, when only a signature
//     comes back, build the request with [AMTRequest.Assemble]);
//  4. hand the signed request to a CA that wants one (others take the public key).
type AMTRequest struct {
	// Info is the DER CertificationRequestInfo: the bytes AMT signs.
	Info []byte
	// PublicKey is the key the request is for: an *rsa.PublicKey, or an
	// *ecdsa.PublicKey on P-256 or P-384 (AMT 22 generates ECC P-384 TLS
	// keys: amt.Firmware.TLSKeyAlgorithm).
	PublicKey crypto.PublicKey
}

// NewAMTRequest builds the request body for pub from template. It uses Subject
// (or RawSubject when set), DNSNames, EmailAddresses, IPAddresses and URIs (as a
// subjectAltName, unless ExtraExtensions already holds one) and ExtraExtensions
// (for example [ExtKeyUsageExtension] or a [SubjectAltNames] with a UPN), all
// inside one extensionRequest attribute. Other fields are ignored. pub must be an
// RSA key, or an ECDSA key on P-256 or P-384 (AMT 22's TLS keys are ECC P-384);
// anything else gives [ErrPublicKey].
func NewAMTRequest(template *x509.CertificateRequest, pub crypto.PublicKey) (*AMTRequest, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := CheckDeviceKey(k); err != nil {
			return nil, err
		}
	case *ecdsa.PublicKey:
		if k == nil || !deviceECDSA(k) {
			return nil, fmt.Errorf("%w: AMT's ECDSA keys are P-256 or P-384", ErrPublicKey)
		}
	default:
		return nil, fmt.Errorf("%w: AMT keys are RSA or ECDSA, got %T", ErrPublicKey, pub)
	}
	if template == nil {
		template = &x509.CertificateRequest{}
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPublicKey, err)
	}
	subject := template.RawSubject
	if len(subject) == 0 {
		if subject, err = asn1.Marshal(template.Subject.ToRDNSequence()); err != nil {
			return nil, fmt.Errorf("%w: subject: %v", ErrInvalidOption, err)
		}
	}
	exts := append([]pkix.Extension(nil), template.ExtraExtensions...)
	hasSAN := false
	for _, e := range exts {
		if e.Id.Equal(oidExtSubjectAltName) {
			hasSAN = true
		}
	}
	if !hasSAN && (len(template.DNSNames) > 0 || len(template.IPAddresses) > 0 ||
		len(template.EmailAddresses) > 0 || len(template.URIs) > 0) {
		san, err := buildSAN(template)
		if err != nil {
			return nil, err
		}
		exts = append([]pkix.Extension{san}, exts...)
	}
	var extDER []byte
	if len(exts) > 0 {
		if extDER, err = asn1.Marshal(exts); err != nil {
			return nil, fmt.Errorf("%w: extensions: %v", ErrInvalidOption, err)
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0) // version v1(0)
		b.AddBytes(subject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			if extDER == nil {
				return
			}
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Attribute
				b.AddASN1ObjectIdentifier(oidExtensionRequest)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(extDER) })
			})
		})
	})
	info, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOption, err)
	}
	return &AMTRequest{Info: info, PublicKey: pub}, nil
}

func buildSAN(t *x509.CertificateRequest) (pkix.Extension, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, d := range t.DNSNames {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(d)) })
		}
		for _, e := range t.EmailAddresses {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(e)) })
		}
		for _, ip := range t.IPAddresses {
			v := ip.To4()
			if v == nil {
				v = ip.To16()
			}
			b.AddASN1(cbasn1.Tag(7).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(v) })
		}
		for _, u := range t.URIs {
			s := u.String()
			b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
		}
	})
	for _, s := range append(append([]string(nil), t.DNSNames...), t.EmailAddresses...) {
		if s == "" || !isIA5(s) {
			return pkix.Extension{}, fmt.Errorf("%w: name %q is not ASCII", ErrInvalidOption, s)
		}
	}
	for _, ip := range t.IPAddresses {
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

// NullSigned returns the request with a placeholder signature: for an RSA key
// algorithm sha256WithRSAEncryption and a BIT STRING of zero bytes as long as
// the modulus; for an ECDSA key ecdsa-with-SHA256 (P-256) or -SHA384 (P-384)
// and an ECDSA-Sig-Value of zeros. This is the NullSignedCertificateRequest
// AMT expects; AMT replaces the signature with its own, so the placeholder is
// never verified (OpenSSL-based recipes put a signature from a throw-away key
// there instead, to the same end). What AMT 22 does with an ECC key here is
// not documented publicly: the ECDSA form is amtkit's reading, untested on a
// device.
func (r *AMTRequest) NullSigned() []byte {
	if k, ok := r.PublicKey.(*ecdsa.PublicKey); ok {
		alg := x509.ECDSAWithSHA256
		if k.Curve == elliptic.P384() {
			alg = x509.ECDSAWithSHA384
		}
		out, _ := r.Assemble(alg, []byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00}, false)
		return out
	}
	n := 256
	if k, ok := r.PublicKey.(*rsa.PublicKey); ok {
		n = k.Size()
	}
	out, _ := r.Assemble(x509.SHA256WithRSA, make([]byte, n), false)
	return out
}

// Assemble returns the DER CertificationRequest made of Info, alg and sig — the
// request as AMT would have returned it when only the signature is at hand. alg
// must fit PublicKey: SHA1WithRSA, SHA256WithRSA, SHA384WithRSA or
// SHA512WithRSA for an RSA key (GeneratePKCS10RequestEx's SigningAlgorithm 0
// is SHA-1, 1 SHA-256, 2 SHA-384), ECDSAWithSHA256 or ECDSAWithSHA384 for an
// ECDSA key. With verify set, the result is parsed with
// x509.ParseCertificateRequest and its signature checked against PublicKey; a
// bad signature gives [ErrSignature].
func (r *AMTRequest) Assemble(alg x509.SignatureAlgorithm, sig []byte, verify bool) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	_, ec := r.PublicKey.(*ecdsa.PublicKey)
	switch {
	case alg == x509.SHA1WithRSA && !ec:
		oid = oidSHA1WithRSA
	case alg == x509.SHA256WithRSA && !ec:
		oid = oidSHA256WithRSA
	case alg == x509.SHA384WithRSA && !ec:
		oid = oidSHA384WithRSA
	case alg == x509.SHA512WithRSA && !ec:
		oid = oidSHA512WithRSA
	case alg == x509.ECDSAWithSHA256 && ec:
		oid = oidECDSAWithSHA256
	case alg == x509.ECDSAWithSHA384 && ec:
		oid = oidECDSAWithSHA384
	default:
		return nil, fmt.Errorf("%w: signature algorithm %v for a %T (AMT signs with RSA SHA-1/256/384, or ECDSA SHA-256/384 for an ECC key)", ErrInvalidOption, alg, r.PublicKey)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(r.Info)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			if !ec {
				b.AddASN1NULL() // RFC 4055: NULL parameters for RSA; none for ECDSA (RFC 5758)
			}
		})
		b.AddASN1BitString(sig)
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOption, err)
	}
	if verify {
		if _, err := r.Verify(der); err != nil {
			return nil, err
		}
	}
	return der, nil
}

// Verify parses a signed request (what GeneratePKCS10RequestEx returns, after
// base64) and checks that its signature verifies, that it is for PublicKey and
// that it asks for what r asked for: the same subject, subject alternative
// names and extensions (whoever holds the key could otherwise return a
// request for any name, which a CA that takes names from requests would
// sign). It returns the parsed request, or an error wrapping [ErrMalformed],
// [ErrSignature], [ErrKeyMismatch] or [ErrRequestChanged]. SHA-1 signatures
// are accepted, as x509.CertificateRequest.CheckSignature accepts them.
func (r *AMTRequest) Verify(der []byte) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#10 request: %v", ErrMalformed, err)
	}
	if k, ok := r.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(csr.PublicKey) {
		return nil, fmt.Errorf("%w: request is for another public key than AMT's", ErrKeyMismatch)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: PKCS#10 request: %v", ErrSignature, err)
	}
	if !bytes.Equal(csr.RawTBSCertificateRequest, r.Info) {
		sent, err := x509.ParseCertificateRequest(r.NullSigned())
		if err != nil {
			return nil, fmt.Errorf("%w: the request built: %v", ErrMalformed, err)
		}
		if what := requestDiffers(sent, csr); what != "" {
			return nil, fmt.Errorf("%w: %s", ErrRequestChanged, what)
		}
	}
	return csr, nil
}

// ErrRequestChanged: the signed request AMT returned asks for other names or
// extensions than the request sent to it.
var ErrRequestChanged = errors.New("certs: signed request differs from the request sent")

// requestDiffers names what b asks for that a did not, or "" when they ask
// for the same (an encoding may differ).
//
// The subject is compared attribute by attribute, in order (pkix.Name keeps
// one CN and sorts the rest: a subject with an extra wildcard CN printed as
// the one sent), and the request's attributes by type and number of values
// (an extra attribute, such as Microsoft's enrolment name-value pair "SAN",
// asks a CA that honours it for other names).
func requestDiffers(a, b *x509.CertificateRequest) string {
	switch {
	case !sameSubject(a.RawSubject, b.RawSubject):
		return fmt.Sprintf("subject %q, sent %q", rdnString(b.RawSubject), rdnString(a.RawSubject))
	case !slices.Equal(csrAttributes(a.RawTBSCertificateRequest), csrAttributes(b.RawTBSCertificateRequest)):
		return fmt.Sprintf("attributes %q, sent %q", csrAttributes(b.RawTBSCertificateRequest), csrAttributes(a.RawTBSCertificateRequest))
	case !slices.Equal(a.DNSNames, b.DNSNames):
		return fmt.Sprintf("DNS names %q, sent %q", b.DNSNames, a.DNSNames)
	case !slices.EqualFunc(a.IPAddresses, b.IPAddresses, func(x, y net.IP) bool { return x.Equal(y) }):
		return fmt.Sprintf("IP addresses %v, sent %v", b.IPAddresses, a.IPAddresses)
	case !slices.Equal(a.EmailAddresses, b.EmailAddresses):
		return fmt.Sprintf("e-mail addresses %q, sent %q", b.EmailAddresses, a.EmailAddresses)
	case !slices.EqualFunc(a.URIs, b.URIs, func(x, y *url.URL) bool { return x.String() == y.String() }):
		return fmt.Sprintf("URIs %v, sent %v", b.URIs, a.URIs)
	case !slices.EqualFunc(a.Extensions, b.Extensions, func(x, y pkix.Extension) bool {
		return x.Id.Equal(y.Id) && x.Critical == y.Critical && bytes.Equal(x.Value, y.Value)
	}):
		return "other extensions than those sent"
	}
	return ""
}

// sameSubject reports whether two DER subjects hold the same attributes in
// the same order, their values equal as text (a CA or firmware may re-encode
// a PrintableString as a UTF8String).
func sameSubject(a, b []byte) bool {
	var x, y pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &x); err != nil || len(rest) > 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &y); err != nil || len(rest) > 0 {
		return false
	}
	return slices.EqualFunc(x, y, func(p, q pkix.RelativeDistinguishedNameSET) bool {
		return slices.EqualFunc(p, q, func(m, n pkix.AttributeTypeAndValue) bool {
			return m.Type.Equal(n.Type) && fmt.Sprint(m.Value) == fmt.Sprint(n.Value)
		})
	})
}

// rdnString renders a DER subject attribute by attribute, in order (pkix.Name's
// String keeps one CN and sorts: two subjects that differ only so would print
// alike).
func rdnString(der []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return fmt.Sprintf("(%d bytes that are not a subject)", len(der))
	}
	return rdns.String()
}

// csrAttributes lists a request's attributes (CertificationRequestInfo's
// [0]) as "type/number of values", in order; a list that does not parse is
// one entry, "malformed".
func csrAttributes(tbs []byte) []string {
	in := cryptobyte.String(tbs)
	var info, attrs cryptobyte.String
	if !in.ReadASN1(&info, cbasn1.SEQUENCE) || !info.SkipASN1(cbasn1.INTEGER) || !info.SkipASN1(cbasn1.SEQUENCE) || !info.SkipASN1(cbasn1.SEQUENCE) {
		return []string{"malformed"}
	}
	if info.Empty() {
		return nil
	}
	if !info.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()) || !info.Empty() {
		return []string{"malformed"}
	}
	var out []string
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var id asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&id) || !attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return []string{"malformed"}
		}
		n := 0
		for ; !values.Empty(); n++ {
			var v cryptobyte.String
			if !values.ReadAnyASN1Element(&v, nil) {
				return []string{"malformed"}
			}
		}
		out = append(out, fmt.Sprintf("%s/%d", id, n))
	}
	return out
}
