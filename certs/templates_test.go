package certs_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/internal/testvectors"
)

func TestProvisioningTemplate(t *testing.T) {
	f := newFixture(t)
	key := f.keys.MustRSA(t, 2048)
	cases := []struct {
		marker     certs.UsageMarker
		clientAuth bool
		ou         []string
		unknown    []asn1.ObjectIdentifier
		eku        []x509.ExtKeyUsage
	}{
		{certs.MarkerOIDAndOU, false, []string{"Intel(R) Client Setup Certificate"}, []asn1.ObjectIdentifier{oidAMT}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{certs.MarkerOID, true, nil, []asn1.ObjectIdentifier{oidAMT}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{certs.MarkerOU, false, []string{"Intel(R) Client Setup Certificate"}, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{certs.MarkerNone, false, nil, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
	}
	for _, tc := range cases {
		tmpl, err := certs.ProvisioningTemplate(certs.ProvisioningTemplateOptions{
			FQDN: "prov.example.com", Organization: []string{"Example"}, Marker: tc.marker, ClientAuth: tc.clientAuth,
			CertOptions: certs.CertOptions{Now: fixedNow, SerialNumber: big.NewInt(42)},
		})
		require.NoError(t, err)
		c, err := f.inter.IssueCert(tmpl, key.Public())
		require.NoError(t, err)
		assert.Equal(t, "prov.example.com", c.Subject.CommonName)
		assert.Equal(t, []string{"Example"}, c.Subject.Organization)
		assert.Equal(t, tc.ou, c.Subject.OrganizationalUnit)
		assert.Equal(t, []string{"prov.example.com"}, c.DNSNames)
		assert.Equal(t, tc.eku, c.ExtKeyUsage)
		assert.Equal(t, tc.unknown, c.UnknownExtKeyUsage)
		assert.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, c.KeyUsage)
		assert.True(t, c.BasicConstraintsValid)
		assert.False(t, c.IsCA)
		assert.Equal(t, int64(42), c.SerialNumber.Int64())
		assert.Equal(t, t0.Add(-certs.DefaultBackdate), c.NotBefore)
		assert.Equal(t, t0.Add(-certs.DefaultBackdate+365*certs.Day), c.NotAfter)
		assert.Equal(t, x509.SHA256WithRSA, c.SignatureAlgorithm)
	}
	_, err := certs.ProvisioningTemplate(certs.ProvisioningTemplateOptions{})
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
}

func TestDeviceTemplates(t *testing.T) {
	f := newFixture(t)
	key := f.keys.MustRSA(t, 2048)
	tlsT, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{
		FQDN: "amt-1.example.com", DNSNames: []string{"amt-1"}, IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}, ClientAuth: true,
		CertOptions: certs.CertOptions{Now: fixedNow, Lifetime: 30 * certs.Day},
	})
	require.NoError(t, err)
	c, err := f.inter.IssueCert(tlsT, key.Public())
	require.NoError(t, err)
	assert.Equal(t, "amt-1.example.com", c.Subject.CommonName)
	assert.Equal(t, []string{"amt-1.example.com", "amt-1"}, c.DNSNames)
	assert.Equal(t, "192.0.2.1", c.IPAddresses[0].String())
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage)
	assert.Equal(t, t0.Add(-certs.DefaultBackdate+30*certs.Day), c.NotAfter)
	assert.Equal(t, 16, len(c.SerialNumber.Bytes()), "random 128-bit serial")

	dot, err := certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{FQDN: "amt-1.example.com", UPN: "AMT-1$@example.com",
		CertOptions: certs.CertOptions{Now: fixedNow}})
	require.NoError(t, err)
	c, err = f.inter.IssueCert(dot, key.Public())
	require.NoError(t, err)
	assert.Equal(t, "amt-1.example.com", c.Subject.CommonName)
	assert.Empty(t, c.DNSNames, "Configuration Manager clears the DNS name")
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage)
	assert.Equal(t, []string{"AMT-1$@example.com"}, certs.UPNs(c))
	// The SAN, decoded without amtkit: SEQUENCE { [0] { OID upn, [0] { UTF8String } } }.
	var san asn1.RawValue
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			_, err := asn1.Unmarshal(e.Value, &san)
			require.NoError(t, err)
		}
	}
	var other struct {
		ID    asn1.ObjectIdentifier
		Value string `asn1:"explicit,tag:0,utf8"`
	}
	_, err = asn1.UnmarshalWithParams(san.Bytes, &other, "tag:0")
	require.NoError(t, err)
	assert.Equal(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}, other.ID)
	assert.Equal(t, "AMT-1$@example.com", other.Value)

	ca, err := certs.CATemplate(certs.CATemplateOptions{CommonName: "Test CA", MaxPathLen: 0, CertOptions: certs.CertOptions{Now: fixedNow}})
	require.NoError(t, err)
	assert.True(t, ca.IsCA)
	assert.True(t, ca.MaxPathLenZero)
	assert.Equal(t, t0.Add(-certs.DefaultBackdate+10*365*certs.Day), ca.NotAfter)
	ca, err = certs.CATemplate(certs.CATemplateOptions{CommonName: "Test CA", MaxPathLen: 2})
	require.NoError(t, err)
	assert.Equal(t, 2, ca.MaxPathLen)
	ca, err = certs.CATemplate(certs.CATemplateOptions{CommonName: "Test CA", Unlimited: true})
	require.NoError(t, err)
	assert.Equal(t, -1, ca.MaxPathLen)

	for _, err := range []error{
		func() error { _, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{}); return err }(),
		func() error { _, err := certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{}); return err }(),
		func() error { _, err := certs.CATemplate(certs.CATemplateOptions{}); return err }(),
		func() error {
			_, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "a.example.com", CertOptions: certs.CertOptions{NotBefore: t0, NotAfter: t0}})
			return err
		}(),
		func() error {
			_, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "a.example.com", CertOptions: certs.CertOptions{SerialNumber: big.NewInt(-1)}})
			return err
		}(),
	} {
		assert.ErrorIs(t, err, certs.ErrInvalidOption)
	}
}

func TestRandomSerial(t *testing.T) {
	s, err := certs.RandomSerial(bytes.NewReader(make([]byte, 16)))
	require.NoError(t, err)
	assert.Equal(t, "40000000000000000000000000000000", s.Text(16), "zero bytes still give a positive 16-byte serial")
	s, err = certs.RandomSerial(bytes.NewReader(bytes.Repeat([]byte{0xff}, 16)))
	require.NoError(t, err)
	assert.Equal(t, "7fffffffffffffffffffffffffffffff", s.Text(16))
	_, err = certs.RandomSerial(bytes.NewReader(make([]byte, 15)))
	assert.Error(t, err)
}

type templateVector struct {
	Name        string          `json:"name"`
	OID         string          `json:"oid"`
	DER         testvectors.Hex `json:"der"`
	Kind        string          `json:"kind"`
	TemplateOID string          `json:"template_oid"`
	Major       int             `json:"major"`
	Minor       int             `json:"minor"`
	NameValue   string          `json:"name_value"`
	Note        string          `json:"note"`
}

func parseOID(t testing.TB, s string) asn1.ObjectIdentifier {
	t.Helper()
	var o asn1.ObjectIdentifier
	var n int
	for _, c := range s + "." {
		if c == '.' {
			o = append(o, n)
			n = 0
			continue
		}
		n = n*10 + int(c-'0')
	}
	return o
}

// TestReadTemplateVectors reads extension values OpenSSL encoded, put into
// certificates made here.
func TestReadTemplateVectors(t *testing.T) {
	f := newFixture(t)
	key := f.keys.MustRSA(t, 2048)
	vs := testvectors.Load[templateVector](t, "certs_mstemplate")
	for _, v := range vs.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			tmpl := mustTemplate(t, "prov.example.com")
			tmpl.ExtraExtensions = []pkix.Extension{{Id: parseOID(t, v.OID), Value: v.DER}}
			c, err := f.inter.IssueCert(tmpl, key.Public())
			require.NoError(t, err)
			info, err := certs.ReadTemplate(c)
			if v.Kind == "malformed" {
				require.ErrorIs(t, err, certs.ErrTemplateExtension)
				assert.Equal(t, certs.TemplateNone, info.Kind)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, v.Kind, info.Kind.String())
			assert.Equal(t, v.NameValue, info.Name)
			if v.TemplateOID != "" {
				assert.Equal(t, v.TemplateOID, info.OID.String())
				assert.Equal(t, v.Major, info.Major)
				assert.Equal(t, v.Minor, info.Minor)
				// Extensions writes the same bytes OpenSSL did.
				exts, err := info.Extensions()
				require.NoError(t, err)
				require.Len(t, exts, 1)
				assert.Equal(t, hex.EncodeToString(v.DER), hex.EncodeToString(exts[0].Value))
			}
			if v.NameValue != "" && v.DER[0] == 0x1e {
				exts, err := certs.TemplateInfo{Name: v.NameValue}.Extensions()
				require.NoError(t, err)
				assert.Equal(t, hex.EncodeToString(v.DER), hex.EncodeToString(exts[0].Value), "BMPString as ADCS writes it")
			}
		})
	}
}

func TestReadTemplateBoth(t *testing.T) {
	f := newFixture(t)
	info := certs.TemplateInfo{OID: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 21, 8, 1, 2}, Major: 100, Minor: 3, Name: "AMTProvisioning"}
	exts, err := info.Extensions()
	require.NoError(t, err)
	require.Len(t, exts, 2)
	tmpl := mustTemplate(t, "prov.example.com")
	tmpl.ExtraExtensions = exts
	c, err := f.inter.IssueCert(tmpl, f.keys.MustRSA(t, 2048).Public())
	require.NoError(t, err)
	got, err := certs.ReadTemplate(c)
	require.NoError(t, err)
	assert.Equal(t, certs.TemplateV2OrLater, got.Kind, "21.7 wins over the name")
	assert.Equal(t, "AMTProvisioning", got.Name)
	assert.Equal(t, `v2 or later 1.3.6.1.4.1.311.21.8.1.2 rev 100.3 "AMTProvisioning"`, got.String())
	none, err := certs.ReadTemplate(f.inter.Certificate())
	require.NoError(t, err)
	assert.Equal(t, certs.TemplateNone, none.Kind)
	assert.Equal(t, "none", none.String())
	assert.Equal(t, `v1 "WebServer"`, certs.TemplateInfo{Kind: certs.TemplateV1, Name: "WebServer"}.String())
	none, err = certs.ReadTemplate(nil)
	require.NoError(t, err)
	assert.Equal(t, certs.TemplateNone, none.Kind)
	_, err = certs.TemplateInfo{Name: "\xff"}.Extensions()
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
}

func TestSubjectAltNames(t *testing.T) {
	_, err := certs.SubjectAltNames{DNSNames: []string{"bücher.example"}}.Extension()
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
	_, err = certs.SubjectAltNames{UPNs: []string{""}}.Extension()
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
	_, err = certs.SubjectAltNames{IPAddresses: []net.IP{{1, 2, 3}}}.Extension()
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
	ext, err := certs.SubjectAltNames{UPNs: []string{"a@example.com", "b@example.com"}, DNSNames: []string{"x.example.com"}}.Extension()
	require.NoError(t, err)
	c := &x509.Certificate{Extensions: []pkix.Extension{ext}}
	assert.Equal(t, []string{"a@example.com", "b@example.com"}, certs.UPNs(c))
	assert.Nil(t, certs.UPNs(nil))
	assert.Nil(t, certs.UPNs(&x509.Certificate{Extensions: []pkix.Extension{{Id: ext.Id, Value: []byte{0x04}}}}))
}
