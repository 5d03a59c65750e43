package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=TemplateKind -linecomment -output=templatekind_string.go

// TemplateKind tells which kind of Microsoft certificate template issued a
// certificate, as far as the certificate shows it. String returns "none", "v1"
// or "v2 or later".
type TemplateKind int

// Template kinds. Versions 2, 3 and 4 write the same extension, so a certificate
// cannot tell them apart; only the integrator knows (see
// [ProvisioningOptions.TemplateVersion]).
const (
	// TemplateNone: no template extension; not issued by an enterprise Microsoft CA.
	TemplateNone TemplateKind = iota // none
	// TemplateV1: only the template-name extension (1.3.6.1.4.1.311.20.2).
	TemplateV1 // v1
	// TemplateV2OrLater: the certificate-template extension (1.3.6.1.4.1.311.21.7).
	TemplateV2OrLater // v2 or later
)

// TemplateInfo is what a certificate says about the Microsoft template it was
// issued from (MS-WCCE 2.2.2.7.7).
type TemplateInfo struct {
	Kind TemplateKind
	// Name is the template name from extension 1.3.6.1.4.1.311.20.2 (v1
	// templates; some CAs write it for later versions too).
	Name string
	// OID is the template's object identifier from extension
	// 1.3.6.1.4.1.311.21.7 (v2 and later), normally under 1.3.6.1.4.1.311.21.8.
	OID asn1.ObjectIdentifier
	// Major and Minor are the template's revision from the same extension, or -1
	// where the extension omits them.
	Major, Minor int
}

// String describes the template, such as `v2 or later 1.3.6.1.4.1.311.21.8.1.2 rev 100.4`
// or `v1 "WebServer"`.
func (t TemplateInfo) String() string {
	switch t.Kind {
	case TemplateV1:
		return "v1 " + strconv.Quote(t.Name)
	case TemplateV2OrLater:
		s := "v2 or later " + t.OID.String()
		if t.Major >= 0 {
			s += " rev " + strconv.Itoa(t.Major)
			if t.Minor >= 0 {
				s += "." + strconv.Itoa(t.Minor)
			}
		}
		if t.Name != "" {
			s += " " + strconv.Quote(t.Name)
		}
		return s
	}
	return "none"
}

// ReadTemplate reads the Microsoft template extensions of cert. A certificate
// without them gives Kind TemplateNone and no error; a malformed extension gives
// an error wrapping [ErrTemplateExtension] together with whatever could be read.
//
// The v1 name is accepted as a BMPString (what Active Directory Certificate
// Services is commonly said to write), a UTF8String, PrintableString or IA5String,
// or any of those inside a SEQUENCE (the form MS-WCCE documents).
func ReadTemplate(cert *x509.Certificate) (TemplateInfo, error) {
	info := TemplateInfo{Major: -1, Minor: -1}
	if cert == nil {
		return info, nil
	}
	var firstErr error
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(oidMSTemplateV2):
			oid, major, minor, err := parseTemplateV2(e.Value)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			info.Kind, info.OID, info.Major, info.Minor = TemplateV2OrLater, oid, major, minor
		case e.Id.Equal(oidMSTemplateName):
			name, err := parseTemplateName(e.Value)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			info.Name = name
			if info.Kind == TemplateNone {
				info.Kind = TemplateV1
			}
		}
	}
	return info, firstErr
}

func parseTemplateV2(der []byte) (asn1.ObjectIdentifier, int, int, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1ObjectIdentifier(&oid) {
		return nil, -1, -1, fmt.Errorf("%w: 1.3.6.1.4.1.311.21.7 must be SEQUENCE { OID, INTEGER OPTIONAL, INTEGER OPTIONAL }", ErrTemplateExtension)
	}
	vers := [2]int{-1, -1}
	for i := 0; i < 2 && !seq.Empty(); i++ {
		var v int64
		if !seq.ReadASN1Integer(&v) || v < 0 || v > math.MaxInt32 {
			return nil, -1, -1, fmt.Errorf("%w: 1.3.6.1.4.1.311.21.7 version must be a non-negative 32-bit INTEGER", ErrTemplateExtension)
		}
		vers[i] = int(v)
	}
	if !seq.Empty() {
		return nil, -1, -1, fmt.Errorf("%w: 1.3.6.1.4.1.311.21.7 has trailing data", ErrTemplateExtension)
	}
	return oid, vers[0], vers[1], nil
}

func parseTemplateName(der []byte) (string, error) {
	in := cryptobyte.String(der)
	var v cryptobyte.String
	var tag cbasn1.Tag
	if !in.ReadAnyASN1(&v, &tag) || !in.Empty() {
		return "", fmt.Errorf("%w: 1.3.6.1.4.1.311.20.2 is not one DER value", ErrTemplateExtension)
	}
	if tag == cbasn1.SEQUENCE {
		inner := v
		if !inner.ReadAnyASN1(&v, &tag) || !inner.Empty() {
			return "", fmt.Errorf("%w: 1.3.6.1.4.1.311.20.2 SEQUENCE must hold one string", ErrTemplateExtension)
		}
	}
	switch tag {
	case cbasn1.Tag(30): // BMPString: UTF-16BE
		return decodeBMP(v)
	case cbasn1.UTF8String, cbasn1.PrintableString, cbasn1.IA5String:
		if !utf8.Valid(v) {
			return "", fmt.Errorf("%w: 1.3.6.1.4.1.311.20.2 name is not valid UTF-8", ErrTemplateExtension)
		}
		return string(v), nil
	}
	return "", fmt.Errorf("%w: 1.3.6.1.4.1.311.20.2 name has ASN.1 tag %d, expected BMPString or UTF8String", ErrTemplateExtension, tag)
}

func decodeBMP(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: BMPString of odd length %d", ErrTemplateExtension, len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	for i := 0; i < len(u); i++ {
		switch {
		case utf16.IsSurrogate(rune(u[i])) && u[i] < 0xdc00 && i+1 < len(u) && u[i+1] >= 0xdc00 && u[i+1] <= 0xdfff:
			i++
		case utf16.IsSurrogate(rune(u[i])):
			return "", fmt.Errorf("%w: BMPString has an unpaired surrogate", ErrTemplateExtension)
		}
	}
	return string(utf16.Decode(u)), nil
}

// Extensions returns the extensions a Microsoft CA would write for t: the
// 1.3.6.1.4.1.311.21.7 extension when OID is set (with Major and Minor when they
// are not negative; Minor only with Major), and the 1.3.6.1.4.1.311.20.2 name as a
// BMPString when Name is set. Kind is not consulted. Use it to build test
// certificates (put the result in [x509.Certificate.ExtraExtensions]).
func (t TemplateInfo) Extensions() ([]pkix.Extension, error) {
	var out []pkix.Extension
	if len(t.OID) > 0 {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(t.OID)
			if t.Major >= 0 {
				b.AddASN1Int64(int64(t.Major))
				if t.Minor >= 0 {
					b.AddASN1Int64(int64(t.Minor))
				}
			}
		})
		v, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: template OID %v: %v", ErrInvalidOption, t.OID, err)
		}
		out = append(out, pkix.Extension{Id: clone(oidMSTemplateV2), Value: v})
	}
	if t.Name != "" {
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("%w: template name is not valid UTF-8", ErrInvalidOption)
		}
		u := utf16.Encode([]rune(t.Name))
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.Tag(30), func(b *cryptobyte.Builder) {
			for _, c := range u {
				b.AddUint16(c)
			}
		})
		v, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: template name: %v", ErrInvalidOption, err)
		}
		out = append(out, pkix.Extension{Id: clone(oidMSTemplateName), Value: v})
	}
	return out, nil
}
