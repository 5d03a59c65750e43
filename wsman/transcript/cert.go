package transcript

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
)

// Extensions a certificate placeholder keeps: they name no one.
var keptExtensions = []asn1.ObjectIdentifier{
	{2, 5, 29, 19},                 // basic constraints
	{2, 5, 29, 15},                 // key usage
	{2, 5, 29, 37},                 // extended key usage
	{2, 5, 29, 14},                 // subject key identifier
	{1, 3, 6, 1, 4, 1, 311, 21, 7}, // Microsoft certificate template (OID, version)
	{1, 3, 6, 1, 4, 1, 311, 20, 2}, // Microsoft certificate template name (v1)
}

var (
	oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidAKI = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// certificate replaces a base64 DER certificate by one whose names are
// placeholders (see [KindCertificate]). A value that is not a certificate
// becomes a text placeholder.
func (p *placeholders) certificate(v string) string {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
	if err != nil {
		return p.text(v)
	}
	out, err := p.rewriteCertificate(der)
	if err != nil {
		return p.next("certificate", v, func(n int) string { return "certificate-" + strconv.Itoa(n) })
	}
	s := base64.StdEncoding.EncodeToString(out)
	p.produced[s] = true
	return s
}

var errNotCertificate = errors.New("not a certificate")

// rewriteCertificate rebuilds the TBSCertificate (RFC 5280 §4.1) with
// placeholder serial, issuer, subject and subject alternative names, only
// the kept extensions, and no unique identifiers; the signature algorithm
// and signature bytes are kept (the signature no longer verifies).
func (p *placeholders) rewriteCertificate(der []byte) ([]byte, error) {
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, errNotCertificate
	}
	var outer asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) != 0 {
		return nil, errNotCertificate
	}
	parts, err := elements(outer.Bytes)
	if err != nil || len(parts) != 3 {
		return nil, errNotCertificate
	}
	tbs, err := elements(parts[0].Bytes)
	if err != nil {
		return nil, errNotCertificate
	}
	i := 0
	if len(tbs) > 0 && tbs[0].Class == asn1.ClassContextSpecific && tbs[0].Tag == 0 {
		i = 1 // version
	}
	if len(tbs) < i+6 {
		return nil, errNotCertificate
	}
	serial, err := asn1.Marshal(big.NewInt(int64(p.nextSerial(tbs[i].FullBytes))))
	if err != nil {
		return nil, err
	}
	out := append([]asn1.RawValue(nil), tbs[:i]...)
	out = append(out, asn1.RawValue{FullBytes: serial}, tbs[i+1])
	issuer, err := p.name(tbs[i+2].FullBytes)
	if err != nil {
		return nil, err
	}
	subject, err := p.name(tbs[i+4].FullBytes)
	if err != nil {
		return nil, err
	}
	out = append(out, issuer, tbs[i+3], subject, tbs[i+5])
	for _, e := range tbs[i+6:] {
		if e.Class != asn1.ClassContextSpecific || e.Tag != 3 {
			continue // issuerUniqueID, subjectUniqueID
		}
		ext, err := p.extensions(e.Bytes)
		if err != nil {
			return nil, err
		}
		if ext != nil {
			out = append(out, *ext)
		}
	}
	tbsDER, err := sequence(out)
	if err != nil {
		return nil, err
	}
	cert, err := sequence([]asn1.RawValue{{FullBytes: tbsDER}, parts[1], parts[2]})
	if err != nil {
		return nil, err
	}
	if _, err := x509.ParseCertificate(cert); err != nil {
		return nil, err
	}
	return cert, nil
}

func (p *placeholders) nextSerial(raw []byte) int {
	s := p.next("cert-serial", string(raw), func(n int) string { return strconv.Itoa(n) })
	n, _ := strconv.Atoi(s)
	return n
}

// name replaces a DER Name by CN=subject-N (the same common name, the same
// N, also across AMT's Subject and Issuer texts).
func (p *placeholders) name(raw []byte) (asn1.RawValue, error) {
	key := "der:" + string(raw)
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdn); err == nil && len(rest) == 0 {
		var name pkix.Name
		name.FillFromRDNSequence(&rdn)
		if name.CommonName != "" {
			key = "cn:" + name.CommonName
		}
	}
	cn := p.next("dn", key, func(n int) string { return "CN=subject-" + strconv.Itoa(n) })
	b, err := asn1.Marshal(pkix.Name{CommonName: strings.TrimPrefix(cn, "CN=")}.ToRDNSequence())
	return asn1.RawValue{FullBytes: b}, err
}

func (p *placeholders) extensions(b []byte) (*asn1.RawValue, error) {
	var exts []pkix.Extension
	if rest, err := asn1.Unmarshal(b, &exts); err != nil || len(rest) != 0 {
		return nil, errNotCertificate
	}
	var kept []pkix.Extension
	for _, e := range exts {
		switch {
		case e.Id.Equal(oidSAN):
			v, err := p.altNames(e.Value)
			if err != nil {
				return nil, err
			}
			if v != nil {
				e.Value = v
				kept = append(kept, e)
			}
		case e.Id.Equal(oidAKI):
			if v := keyIdentifierOnly(e.Value); v != nil {
				e.Value = v
				kept = append(kept, e)
			}
		default:
			for _, k := range keptExtensions {
				if e.Id.Equal(k) {
					kept = append(kept, e)
					break
				}
			}
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	inner, err := asn1.Marshal(kept)
	if err != nil {
		return nil, err
	}
	return &asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 3, IsCompound: true, Bytes: inner}, nil
}

// altNames rewrites GeneralNames: DNS names, IP addresses, e-mail addresses
// and URIs become placeholders; other forms are dropped. Nil: none left.
func (p *placeholders) altNames(b []byte) ([]byte, error) {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(b, &seq); err != nil || len(rest) != 0 {
		return nil, errNotCertificate
	}
	names, err := elements(seq.Bytes)
	if err != nil {
		return nil, errNotCertificate
	}
	var out []asn1.RawValue
	add := func(tag int, v []byte) {
		out = append(out, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: v})
	}
	for _, n := range names {
		if n.Class != asn1.ClassContextSpecific {
			continue
		}
		switch n.Tag {
		case 1: // rfc822Name
			local, domain, _ := strings.Cut(string(n.Bytes), "@")
			add(1, []byte(p.text(local)+"@"+p.dnsName(domain)))
		case 2: // dNSName
			add(2, []byte(p.dnsName(string(n.Bytes))))
		case 6: // uniformResourceIdentifier
			u := string(n.Bytes)
			if strings.HasPrefix(strings.ToLower(u), "urn:uuid:") {
				add(6, []byte(p.uuid(u)))
			} else {
				add(6, []byte("urn:placeholder:"+p.text(u)))
			}
		case 7: // iPAddress
			if a, ok := netip.AddrFromSlice(n.Bytes); ok {
				r, err := netip.ParseAddr(p.ip(a.String()))
				if err == nil {
					add(7, r.AsSlice())
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return sequence(out)
}

// keyIdentifierOnly keeps the keyIdentifier of an AuthorityKeyIdentifier
// (dropping an issuer name and serial); nil when it has none.
func keyIdentifierOnly(b []byte) []byte {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(b, &seq); err != nil || len(rest) != 0 {
		return nil
	}
	els, err := elements(seq.Bytes)
	if err != nil {
		return nil
	}
	for _, e := range els {
		if e.Class == asn1.ClassContextSpecific && e.Tag == 0 {
			out, err := sequence([]asn1.RawValue{e})
			if err != nil {
				return nil
			}
			return out
		}
	}
	return nil
}

// elements splits the contents of a constructed value.
func elements(b []byte) ([]asn1.RawValue, error) {
	var out []asn1.RawValue
	for len(b) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(b, &v)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

// sequence encodes a SEQUENCE of the values.
func sequence(vs []asn1.RawValue) ([]byte, error) {
	var body []byte
	for _, v := range vs {
		b, err := asn1.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = append(body, b...)
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
}
