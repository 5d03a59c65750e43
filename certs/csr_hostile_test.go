package certs_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// AMTRequest.Verify compared subjects with pkix.Name.String(), which keeps
// one CN (crypto/x509 keeps the last): a request whose subject is
// "CN=*.contoso.com, CN=dev1.contoso.com" printed as CN=dev1.contoso.com and
// passed as the request sent. A CA that copies the request's subject signs a
// certificate whose first CN is the wildcard (the CN RPS, node-forge and
// other first-CN readers match; chain_trust_test refuses two CNs for the
// same reason).
func TestAMTRequestVerifyRefusesExtraCN(t *testing.T) {
	amtKey := certstest.NewKeyPool().MustRSA(t, 2048)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev1.contoso.com"},
		DNSNames: []string{"dev1.contoso.com"}}, amtKey.Public())
	require.NoError(t, err)
	rawSubject, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "*.contoso.com"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "dev1.contoso.com"}},
	})
	require.NoError(t, err)
	returned, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: rawSubject,
		DNSNames: []string{"dev1.contoso.com"}}, amtKey)
	require.NoError(t, err)
	_, err = req.Verify(returned)
	assert.ErrorIs(t, err, certs.ErrRequestChanged, "subject with an extra CN *.contoso.com passed as the request sent")
}

// AMTRequest.Verify compared no attribute of the request but the extensions
// Go extracts. A device holding AMT's key can add the Microsoft
// enrolment name-value pair attribute (szOID_ENROLLMENT_NAME_VALUE_PAIR,
// 1.3.6.1.4.1.311.13.2.1) "SAN" = "dns=dc01.contoso.com&upn=administrator@contoso.com",
// which an AD CS CA with EDITF_ATTRIBUTESUBJECTALTNAME2 writes into the
// certificate (ESC6): exactly the "request for other names" Verify is meant to
// refuse.
func TestAMTRequestVerifyRefusesExtraAttribute(t *testing.T) {
	amtKey := certstest.NewKeyPool().MustRSA(t, 2048)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev1.contoso.com"},
		DNSNames: []string{"dev1.contoso.com"}}, amtKey.Public())
	require.NoError(t, err)

	// Rebuild req.Info with one more attribute after the extensionRequest.
	in := cryptobyte.String(req.Info)
	var info, subject, spki, attrs cryptobyte.String
	require.True(t, in.ReadASN1(&info, cbasn1.SEQUENCE))
	require.True(t, info.SkipASN1(cbasn1.INTEGER))
	require.True(t, info.ReadASN1Element(&subject, cbasn1.SEQUENCE))
	require.True(t, info.ReadASN1Element(&spki, cbasn1.SEQUENCE))
	require.True(t, info.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()))
	bmp := func(b *cryptobyte.Builder, s string) {
		b.AddASN1(cbasn1.Tag(30), func(b *cryptobyte.Builder) { // BMPString
			for _, u := range utf16.Encode([]rune(s)) {
				b.AddUint16(u)
			}
		})
	}
	var tb cryptobyte.Builder
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		b.AddBytes(subject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddBytes(attrs)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 13, 2, 1})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						bmp(b, "SAN")
						bmp(b, "dns=dc01.contoso.com&upn=administrator@contoso.com")
					})
				})
			})
		})
	})
	tbs := tb.BytesOrPanic()
	sum := sha256.Sum256(tbs)
	sig, err := amtKey.Sign(rand.Reader, sum[:], crypto.SHA256)
	require.NoError(t, err)
	returned, err := (&certs.AMTRequest{Info: tbs, PublicKey: amtKey.Public()}).Assemble(x509.SHA256WithRSA, sig, false)
	require.NoError(t, err)
	csr, err := x509.ParseCertificateRequest(returned)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature())

	_, err = req.Verify(returned)
	assert.ErrorIs(t, err, certs.ErrRequestChanged, "a request carrying an extra SAN name-value attribute passed as the request sent")
}

// A device's public key is bounded where it enters (ParsePublicKey) and where
// it is certified (NewAMTRequest, LocalCA.Issue), as amt.ParseDERKey bounds
// it: a 1-Mbit "key" cost 16 s of CPU in one AMTRequest.Verify that no
// context interrupts, and a 512-bit key or one with e = 1 (anyone can make a
// signature verify) was certified.
func TestParsePublicKeyBoundsRSA(t *testing.T) {
	key := func(bits int, e int) *rsa.PublicKey {
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		n.Add(n, big.NewInt(12345)) // odd, bits long
		return &rsa.PublicKey{N: n, E: e}
	}
	ca := newFixture(t).inter
	for _, tc := range []struct {
		name string
		key  *rsa.PublicKey
		ok   bool
	}{
		{"2048-bit", key(2048, 65537), true},
		{"8192-bit", key(8192, 65537), true},
		{"8200-bit", key(8200, 65537), false},
		{"1 Mbit", key(1<<20, 65537), false},
		{"512-bit", key(512, 65537), false},
		{"e = 1", key(2048, 1), false},
		{"e even", key(2048, 65536), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, der := range [][]byte{x509.MarshalPKCS1PublicKey(tc.key), func() []byte {
				b, err := x509.MarshalPKIXPublicKey(tc.key)
				require.NoError(t, err)
				return b
			}()} {
				_, err := certs.ParsePublicKey(der)
				if tc.ok {
					require.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, certs.ErrPublicKey, "ParsePublicKey accepted it")
				}
			}
			if tc.ok {
				return
			}
			_, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev1.contoso.com"}}, tc.key)
			assert.ErrorIs(t, err, certs.ErrPublicKey, "NewAMTRequest took it")
			_, err = certs.LocalCA{CA: ca.Bundle, Now: fixedNow}.Issue(t.Context(),
				&x509.Certificate{Subject: pkix.Name{CommonName: "dev1.contoso.com"}, DNSNames: []string{"dev1.contoso.com"}}, tc.key)
			assert.ErrorIs(t, err, certs.ErrPublicKey, "LocalCA certified it")
		})
	}
}

// The refusal names both subjects as they are, attribute by attribute: with
// pkix.Name's String a second CN vanished from the message, which then
// showed the same subject twice.
func TestAMTRequestVerifyNamesBothSubjects(t *testing.T) {
	amtKey := certstest.NewKeyPool().MustRSA(t, 2048)
	req, err := certs.NewAMTRequest(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev1.contoso.com"}}, amtKey.Public())
	require.NoError(t, err)
	rawSubject, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "*.contoso.com"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "dev1.contoso.com"}},
	})
	require.NoError(t, err)
	returned, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: rawSubject}, amtKey)
	require.NoError(t, err)
	_, err = req.Verify(returned)
	require.ErrorIs(t, err, certs.ErrRequestChanged)
	assert.Contains(t, err.Error(), "*.contoso.com")
}
