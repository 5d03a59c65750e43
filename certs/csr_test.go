package certs_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// requestedEKUs digs the EKU OIDs out of a request's extensionRequest, without
// amtkit code.
func requestedEKUs(t testing.TB, csr *x509.CertificateRequest) []asn1.ObjectIdentifier {
	t.Helper()
	for _, e := range csr.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			var oids []asn1.ObjectIdentifier
			rest, err := asn1.Unmarshal(e.Value, &oids)
			require.NoError(t, err)
			require.Empty(t, rest)
			return oids
		}
	}
	return nil
}

var (
	oidServerAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidClientAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
	oidAMT        = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3}
)

func TestProvisioningRequest(t *testing.T) {
	keys := certstest.NewKeyPool()
	key := keys.MustRSA(t, 2048)
	cases := []struct {
		name   string
		opts   certs.ProvisioningRequestOptions
		signer crypto.Signer
		ou     []string
		ekus   []asn1.ObjectIdentifier
	}{
		{"OID and OU", certs.ProvisioningRequestOptions{FQDN: "prov.example.com", Organization: []string{"Example"}}, key,
			[]string{"Intel(R) Client Setup Certificate"}, []asn1.ObjectIdentifier{oidServerAuth, oidAMT}},
		{"OID only, with clientAuth", certs.ProvisioningRequestOptions{FQDN: "prov.example.com", Marker: certs.MarkerOID, ClientAuth: true}, key,
			nil, []asn1.ObjectIdentifier{oidServerAuth, oidClientAuth, oidAMT}},
		{"OU only, HSM-held key", certs.ProvisioningRequestOptions{FQDN: "prov.example.com", Marker: certs.MarkerOU}, hsmKey{key},
			[]string{"Intel(R) Client Setup Certificate"}, []asn1.ObjectIdentifier{oidServerAuth}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			der, err := certs.ProvisioningRequest(tc.opts, tc.signer, nil)
			require.NoError(t, err)
			csr, err := x509.ParseCertificateRequest(der)
			require.NoError(t, err)
			require.NoError(t, csr.CheckSignature())
			assert.Equal(t, x509.SHA256WithRSA, csr.SignatureAlgorithm)
			assert.Equal(t, "prov.example.com", csr.Subject.CommonName)
			assert.Equal(t, tc.ou, csr.Subject.OrganizationalUnit)
			assert.Equal(t, tc.opts.Organization, csr.Subject.Organization)
			assert.Equal(t, []string{"prov.example.com"}, csr.DNSNames)
			assert.Equal(t, tc.ekus, requestedEKUs(t, csr))
			assert.True(t, key.PublicKey.Equal(csr.PublicKey))
		})
	}
	_, err := certs.ProvisioningRequest(certs.ProvisioningRequestOptions{}, key, nil)
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
	_, err = certs.ProvisioningRequest(certs.ProvisioningRequestOptions{FQDN: "a.example.com"}, nil, nil)
	assert.ErrorIs(t, err, certs.ErrNoKey)
}

// TestAMTRequest plays AMT with a local key: the body is built around the public
// key alone, "AMT" signs it, and the assembled request passes Go's parser and
// signature check.
func TestAMTRequest(t *testing.T) {
	keys := certstest.NewKeyPool()
	amtKey := keys.MustRSA(t, 2048)
	upn, err := certs.SubjectAltNames{UPNs: []string{"amt$@example.com"}, DNSNames: []string{"amt.example.com"}}.Extension()
	require.NoError(t, err)
	eku, err := certs.ExtKeyUsageExtension(oidClientAuth)
	require.NoError(t, err)
	u, _ := url.Parse("urn:uuid:d2ffc23e-9dd1-412d-860a-54b2039b72ff")
	cases := []struct {
		name  string
		tmpl  *x509.CertificateRequest
		check func(t *testing.T, csr *x509.CertificateRequest)
	}{
		{"subject and names", &x509.CertificateRequest{
			Subject:        pkix.Name{CommonName: "amt-0042.example.com", Organization: []string{"Example"}},
			DNSNames:       []string{"amt-0042.example.com", "amt-0042"},
			IPAddresses:    []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::7")},
			EmailAddresses: []string{"ops@example.com"},
			URIs:           []*url.URL{u},
		}, func(t *testing.T, csr *x509.CertificateRequest) {
			assert.Equal(t, "amt-0042.example.com", csr.Subject.CommonName)
			assert.Equal(t, []string{"amt-0042.example.com", "amt-0042"}, csr.DNSNames)
			assert.Equal(t, "192.0.2.7", csr.IPAddresses[0].String())
			assert.Equal(t, "2001:db8::7", csr.IPAddresses[1].String())
			assert.Equal(t, []string{"ops@example.com"}, csr.EmailAddresses)
			assert.Equal(t, u.String(), csr.URIs[0].String())
		}},
		{"UPN and EKU as extra extensions", &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: "amt.example.com"}, ExtraExtensions: []pkix.Extension{upn, eku},
		}, func(t *testing.T, csr *x509.CertificateRequest) {
			assert.Equal(t, []string{"amt.example.com"}, csr.DNSNames)
			assert.Equal(t, []asn1.ObjectIdentifier{oidClientAuth}, requestedEKUs(t, csr))
		}},
		{"empty", nil, func(t *testing.T, csr *x509.CertificateRequest) {
			assert.Empty(t, csr.Subject.String())
			assert.Empty(t, csr.Extensions)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := certs.NewAMTRequest(tc.tmpl, &amtKey.PublicKey)
			require.NoError(t, err)

			// The null-signed request parses, carries AMT's key, and its placeholder
			// signature does not verify.
			null, err := x509.ParseCertificateRequest(req.NullSigned())
			require.NoError(t, err)
			assert.True(t, amtKey.PublicKey.Equal(null.PublicKey))
			assert.Equal(t, req.Info, null.RawTBSCertificateRequest)
			assert.Error(t, null.CheckSignature())
			tc.check(t, null)

			// "AMT" signs the body with SHA-256 (SigningAlgorithm 1)...
			d := sha256.Sum256(req.Info)
			sig, err := rsa.SignPKCS1v15(rand.Reader, amtKey, crypto.SHA256, d[:])
			require.NoError(t, err)
			der, err := req.Assemble(x509.SHA256WithRSA, sig, true)
			require.NoError(t, err)
			csr, err := x509.ParseCertificateRequest(der)
			require.NoError(t, err)
			require.NoError(t, csr.CheckSignature())
			assert.Equal(t, x509.SHA256WithRSA, csr.SignatureAlgorithm)
			tc.check(t, csr)

			// ...and what AMT returns is verified against its key.
			got, err := req.Verify(der)
			require.NoError(t, err)
			assert.Equal(t, req.Info, got.RawTBSCertificateRequest)
		})
	}
}

func TestAMTRequestSignatures(t *testing.T) {
	keys := certstest.NewKeyPool()
	amtKey, otherKey := keys.MustRSA(t, 2048), keys.MustRSA(t, 2048)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "amt.example.com"}}, &amtKey.PublicKey)
	require.NoError(t, err)

	// SHA-1 (SigningAlgorithm 0) is accepted for requests, as Go accepts it.
	d1 := sha1.Sum(req.Info)
	sig1, err := rsa.SignPKCS1v15(rand.Reader, amtKey, crypto.SHA1, d1[:])
	require.NoError(t, err)
	der, err := req.Assemble(x509.SHA1WithRSA, sig1, true)
	require.NoError(t, err)
	csr, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err)
	assert.Equal(t, x509.SHA1WithRSA, csr.SignatureAlgorithm)

	// A signature from another key, or with the wrong algorithm label, fails.
	d := sha256.Sum256(req.Info)
	bad, err := rsa.SignPKCS1v15(rand.Reader, otherKey, crypto.SHA256, d[:])
	require.NoError(t, err)
	_, err = req.Assemble(x509.SHA256WithRSA, bad, true)
	assert.ErrorIs(t, err, certs.ErrSignature)
	good, err := rsa.SignPKCS1v15(rand.Reader, amtKey, crypto.SHA256, d[:])
	require.NoError(t, err)
	_, err = req.Assemble(x509.SHA384WithRSA, good, true)
	assert.ErrorIs(t, err, certs.ErrSignature)
	_, err = req.Assemble(x509.ECDSAWithSHA256, good, true)
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
	unverified, err := req.Assemble(x509.SHA256WithRSA, bad, false)
	require.NoError(t, err, "without verify the bytes are just assembled")
	assert.NotEmpty(t, unverified)

	// A request for another key is refused even when its signature is good.
	otherReq, err := certs.NewAMTRequest(nil, &otherKey.PublicKey)
	require.NoError(t, err)
	od := sha256.Sum256(otherReq.Info)
	osig, err := rsa.SignPKCS1v15(rand.Reader, otherKey, crypto.SHA256, od[:])
	require.NoError(t, err)
	otherDER, err := otherReq.Assemble(x509.SHA256WithRSA, osig, true)
	require.NoError(t, err)
	_, err = req.Verify(otherDER)
	assert.ErrorIs(t, err, certs.ErrKeyMismatch)
	_, err = req.Verify([]byte{0x30, 0x00})
	assert.ErrorIs(t, err, certs.ErrMalformed)

	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, err = certs.NewAMTRequest(nil, edPriv.Public())
	assert.ErrorIs(t, err, certs.ErrPublicKey, "AMT makes RSA and ECDSA keys only")
	_, err = certs.NewAMTRequest(&x509.CertificateRequest{DNSNames: []string{"bücher.example"}}, &amtKey.PublicKey)
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
}

func TestParsePublicKey(t *testing.T) {
	keys := certstest.NewKeyPool()
	k := keys.MustRSA(t, 2048)
	pkcs1 := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	for name, der := range map[string][]byte{"PKCS#1": pkcs1, "SPKI": spki} {
		t.Run(name, func(t *testing.T) {
			pub, err := certs.ParsePublicKey(der)
			require.NoError(t, err)
			assert.True(t, k.PublicKey.Equal(pub))
		})
	}
	ec, err := keys.ECDSA()
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKIXPublicKey(ec.Public())
	require.NoError(t, err)
	pub, err := certs.ParsePublicKey(ecDER)
	require.NoError(t, err)
	assert.True(t, ec.PublicKey.Equal(pub))
	for _, in := range [][]byte{nil, {0x30, 0x00}, pkcs1[:len(pkcs1)-1], spki[:20]} {
		_, err := certs.ParsePublicKey(in)
		assert.ErrorIs(t, err, certs.ErrPublicKey)
	}
}

func TestLocalCA(t *testing.T) {
	f := newFixture(t)
	ca := certs.LocalCA{CA: f.inter.Bundle, Now: fixedNow, Lifetime: 90 * certs.Day}
	amtKey := f.keys.MustRSA(t, 2048)
	der := x509.MarshalPKCS1PublicKey(&amtKey.PublicKey) // as AMT's DERKey
	pub, err := certs.ParsePublicKey(der)
	require.NoError(t, err)
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "amt-7.example.com"})
	require.NoError(t, err)
	tmpl.NotBefore, tmpl.NotAfter = time.Time{}, time.Time{}
	chain, err := ca.Issue(t.Context(), tmpl, pub)
	require.NoError(t, err)
	require.Len(t, chain, 3)
	leaf := chain[0]
	assert.Equal(t, t0.Add(-certs.DefaultBackdate), leaf.NotBefore)
	assert.Equal(t, t0.Add(-certs.DefaultBackdate+90*certs.Day), leaf.NotAfter)
	assert.True(t, amtKey.PublicKey.Equal(leaf.PublicKey))
	assert.Empty(t, certs.CheckDeviceCertificate(chain, certs.DeviceOptions{FQDN: "amt-7.example.com", Now: fixedNow}))

	// NotAfter beyond the CA's own is cut.
	tmpl.NotAfter = f.inter.Certificate().NotAfter.Add(certs.Day)
	chain, err = ca.Issue(t.Context(), tmpl, pub)
	require.NoError(t, err)
	assert.Equal(t, f.inter.Certificate().NotAfter, chain[0].NotAfter)

	_, err = ca.Issue(t.Context(), nil, pub)
	assert.ErrorIs(t, err, certs.ErrInvalidOption)
	_, err = certs.LocalCA{}.Issue(t.Context(), tmpl, pub)
	assert.ErrorIs(t, err, certs.ErrNoCertificates)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = ca.Issue(ctx, tmpl, pub)
	assert.Error(t, err)
}
