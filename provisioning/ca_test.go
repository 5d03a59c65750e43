package provisioning_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

var caT0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// caClock is a settable clock shared by a test's CA and checks.
type caClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *caClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *caClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *caClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// caFixture: a root and an intermediate (the issuing CA) from certstest.
type caFixture struct {
	keys  *certstest.KeyPool
	clock *caClock
	root  *certstest.CA
	inter *certstest.CA
}

func newCAFixture(t *testing.T) *caFixture {
	t.Helper()
	f := &caFixture{keys: &certstest.KeyPool{Reuse: true}, clock: &caClock{t: caT0}}
	f.root = certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: f.clock.Now})
	inter, err := f.root.NewIntermediate(certstest.CAOptions{CommonName: "amtkit Device CA", NotAfter: caT0.Add(2 * 365 * certs.Day)})
	require.NoError(t, err)
	f.inter = inter
	return f
}

func (f *caFixture) newCA(t *testing.T, o provisioning.CAOptions) *provisioning.CA {
	t.Helper()
	if o.Now == nil {
		o.Now = f.clock.Now
	}
	ca, err := provisioning.NewCA(f.inter.Bundle, o)
	require.NoError(t, err)
	return ca
}

func (f *caFixture) tlsTemplate(t *testing.T, fqdn string) *x509.Certificate {
	t.Helper()
	tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{CertOptions: certs.CertOptions{Now: f.clock.Now}, FQDN: fqdn})
	require.NoError(t, err)
	return tmpl
}

// issue has ca certify a fresh P-256 key (cheap) for fqdn.
func (f *caFixture) issue(t *testing.T, ca *provisioning.CA, fqdn string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	chain, err := ca.Issue(t.Context(), provisioning.IssueRequest{Purpose: provisioning.PurposeTLS, PublicKey: k.Public(), Template: f.tlsTemplate(t, fqdn)})
	require.NoError(t, err)
	return chain[0]
}

func caParseCRL(t *testing.T, der []byte) *x509.RevocationList {
	t.Helper()
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	return crl
}

func caPool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

func TestCAIssue(t *testing.T) {
	f := newCAFixture(t)
	ca := f.newCA(t, provisioning.CAOptions{
		CRLDistributionPoints: []string{"http://pki.example.com/amt.crl"},
		IssuingCertificateURL: []string{"http://pki.example.com/amt-ca.cer"},
	})
	rsaKey := f.keys.MustRSA(t, 2048)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	const fqdn = "amt1.sales.example.com"
	tls, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{CertOptions: certs.CertOptions{Now: f.clock.Now}, FQDN: fqdn})
	require.NoError(t, err)
	dot1x, err := certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{CertOptions: certs.CertOptions{Now: f.clock.Now}, FQDN: fqdn, UPN: "amt1$@example.com"})
	require.NoError(t, err)
	// A template's own OCSP server and distribution point are the CA's business.
	tls.OCSPServer = []string{"http://elsewhere.example.net/ocsp"}
	tls.CRLDistributionPoints = []string{"http://elsewhere.example.net/crl"}

	for _, tc := range []struct {
		name    string
		purpose provisioning.CertificatePurpose
		tmpl    *x509.Certificate
		key     crypto.PublicKey
		eku     x509.ExtKeyUsage
		kind    certs.DeviceKind
	}{
		{"TLS RSA-2048", provisioning.PurposeTLS, tls, rsaKey.Public(), x509.ExtKeyUsageServerAuth, certs.DeviceTLS},
		{"TLS ECDSA P-384", provisioning.PurposeTLS, tls, p384.Public(), x509.ExtKeyUsageServerAuth, certs.DeviceTLS},
		{"802.1X RSA-2048", provisioning.PurposeIEEE8021X, dot1x, rsaKey.Public(), x509.ExtKeyUsageClientAuth, certs.DeviceIEEE8021X},
		{"802.1X ECDSA P-384", provisioning.PurposeIEEE8021X, dot1x, p384.Public(), x509.ExtKeyUsageClientAuth, certs.DeviceIEEE8021X},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := ca.Issue(t.Context(), provisioning.IssueRequest{
				Device: provisioning.Inventory{FQDN: fqdn}, Purpose: tc.purpose, PublicKey: tc.key, Template: tc.tmpl,
			})
			require.NoError(t, err)
			require.Len(t, chain, 3, "leaf, issuing CA, root")
			leaf := chain[0]
			assert.Equal(t, f.inter.Chain, chain[1:])
			assert.True(t, leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.key), "certifies AMT's key")
			_, err = leaf.Verify(x509.VerifyOptions{Roots: caPool(f.root.Certificate()), Intermediates: caPool(chain[1]),
				CurrentTime: caT0, KeyUsages: []x509.ExtKeyUsage{tc.eku}})
			require.NoError(t, err)
			assert.Equal(t, fqdn, leaf.Subject.CommonName)
			assert.Equal(t, tc.tmpl.NotBefore, leaf.NotBefore, "template validity kept")
			assert.Equal(t, tc.tmpl.NotAfter, leaf.NotAfter)
			assert.NotEqual(t, tc.tmpl.SerialNumber, leaf.SerialNumber, "the CA assigns serial numbers")
			assert.Equal(t, []string{"http://pki.example.com/amt.crl"}, leaf.CRLDistributionPoints)
			assert.Equal(t, []string{"http://pki.example.com/amt-ca.cer"}, leaf.IssuingCertificateURL)
			assert.Empty(t, leaf.OCSPServer)
			assert.False(t, leaf.IsCA)
			findings := certs.CheckDeviceCertificate(chain, certs.DeviceOptions{Kind: tc.kind, FQDN: fqdn, Now: f.clock.Now,
				Roots: caPool(f.root.Certificate())})
			for _, fd := range findings {
				if _, ec := tc.key.(*ecdsa.PublicKey); ec && fd.Code == certs.CodeKeyNotRSA {
					continue // certs' rule for AMT's own keys; the CA certifies what it is given
				}
				assert.NotEqual(t, amt.SeverityError, fd.Severity, "%v", fd)
			}
		})
	}
	assert.Equal(t, "http://elsewhere.example.net/crl", tls.CRLDistributionPoints[0], "the caller's template is not modified")

	// Chain is what every issued chain carries after its leaf, and a copy.
	got := ca.Chain()
	assert.Equal(t, f.inter.Chain, got)
	got[0] = nil
	assert.Equal(t, f.inter.Chain, ca.Chain(), "a caller's change does not reach the CA")
	assert.Equal(t, f.inter.Chain[0], ca.Certificate())
}

func TestCAIssueValidity(t *testing.T) {
	f := newCAFixture(t)
	key := f.keys.MustRSA(t, 2048).Public()
	caEnd := f.inter.Certificate().NotAfter
	for _, tc := range []struct {
		name               string
		lifetime           time.Duration
		notBefore, notAft  time.Time
		wantBefore, wantAf time.Time
	}{
		{"zero validity: back-dated for the lifetime", 30 * certs.Day, time.Time{}, time.Time{}, caT0.Add(-certs.DefaultBackdate), caT0.Add(-certs.DefaultBackdate + 30*certs.Day)},
		{"zero validity, default lifetime", 0, time.Time{}, time.Time{}, caT0.Add(-certs.DefaultBackdate), caT0.Add(-certs.DefaultBackdate + certs.DefaultLeafLifetime)},
		{"lifetime beyond the CA is cut", 20 * 365 * certs.Day, time.Time{}, time.Time{}, caT0.Add(-certs.DefaultBackdate), caEnd},
		{"NotAfter beyond the CA is cut", 0, caT0, caT0.Add(10 * 365 * certs.Day), caT0, caEnd},
		{"explicit validity kept", 0, caT0, caT0.Add(90 * certs.Day), caT0, caT0.Add(90 * certs.Day)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := f.newCA(t, provisioning.CAOptions{Lifetime: tc.lifetime})
			tmpl := f.tlsTemplate(t, "amt.example.com")
			tmpl.NotBefore, tmpl.NotAfter = tc.notBefore, tc.notAft
			chain, err := ca.Issue(t.Context(), provisioning.IssueRequest{PublicKey: key, Template: tmpl})
			require.NoError(t, err)
			assert.Equal(t, tc.wantBefore, chain[0].NotBefore)
			assert.Equal(t, tc.wantAf, chain[0].NotAfter)
		})
	}
}

func TestCAIssueRefused(t *testing.T) {
	f := newCAFixture(t)
	ca := f.newCA(t, provisioning.CAOptions{})
	key := f.keys.MustRSA(t, 2048).Public()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	ext := func(oid asn1.ObjectIdentifier) *x509.Certificate {
		tm := f.tlsTemplate(t, "amt.example.com")
		tm.ExtraExtensions = append(tm.ExtraExtensions, pkix.Extension{Id: oid, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}})
		return tm
	}
	withCA := f.tlsTemplate(t, "amt.example.com")
	withCA.IsCA = true
	withCertSign := f.tlsTemplate(t, "amt.example.com")
	withCertSign.KeyUsage |= x509.KeyUsageCertSign
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		at    time.Time
		req   provisioning.IssueRequest
		is    error
		issue bool
	}{
		{"no template", nil, caT0, provisioning.IssueRequest{PublicKey: key}, provisioning.ErrCARequest, false},
		{"no public key", nil, caT0, provisioning.IssueRequest{Template: f.tlsTemplate(t, "amt.example.com")}, provisioning.ErrCARequest, false},
		{"CA template", nil, caT0, provisioning.IssueRequest{PublicKey: key, Template: withCA}, provisioning.ErrCARequest, false},
		{"keyCertSign", nil, caT0, provisioning.IssueRequest{PublicKey: key, Template: withCertSign}, provisioning.ErrCARequest, false},
		{"basicConstraints smuggled in ExtraExtensions", nil, caT0, provisioning.IssueRequest{PublicKey: key, Template: ext(asn1.ObjectIdentifier{2, 5, 29, 19})}, provisioning.ErrCARequest, false},
		{"CRL distribution point in ExtraExtensions", nil, caT0, provisioning.IssueRequest{PublicKey: key, Template: ext(asn1.ObjectIdentifier{2, 5, 29, 31})}, provisioning.ErrCARequest, false},
		{"context ended", canceled, caT0, provisioning.IssueRequest{PublicKey: key, Template: f.tlsTemplate(t, "amt.example.com")}, context.Canceled, false},
		{"CA expired", nil, f.inter.Certificate().NotAfter.Add(time.Second), provisioning.IssueRequest{PublicKey: key, Template: f.tlsTemplate(t, "amt.example.com")}, certs.ErrExpired, false},
		{"CA not yet valid", nil, f.inter.Certificate().NotBefore.Add(-time.Second), provisioning.IssueRequest{PublicKey: key, Template: f.tlsTemplate(t, "amt.example.com")}, certs.ErrNotYetValid, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			f.clock.Set(tc.at)
			defer f.clock.Set(caT0)
			chain, err := ca.Issue(ctx, tc.req)
			require.ErrorIs(t, err, tc.is)
			assert.Nil(t, chain)
		})
	}
}

func TestNewCAInvalid(t *testing.T) {
	f := newCAFixture(t)
	good := f.inter.Bundle
	leafKey := f.keys.MustRSA(t, 2048)
	leaf, err := f.inter.IssueCert(f.tlsTemplate(t, "not-a-ca.example.com"), leafKey.Public())
	require.NoError(t, err)
	noCRLSignTmpl, err := certs.CATemplate(certs.CATemplateOptions{CommonName: "No CRL Sign", CertOptions: certs.CertOptions{Now: f.clock.Now}})
	require.NoError(t, err)
	noCRLSignTmpl.KeyUsage = x509.KeyUsageCertSign
	noCRLSign, err := certs.SelfSign(noCRLSignTmpl, leafKey, nil)
	require.NoError(t, err)

	var cfgErr *provisioning.ConfigError
	for _, tc := range []struct {
		name   string
		bundle certs.Bundle
		opts   provisioning.CAOptions
		is     error
		config bool
	}{
		{"no key", certs.Bundle{Chain: good.Chain}, provisioning.CAOptions{}, certs.ErrNoKey, false},
		{"no certificate", certs.Bundle{Key: good.Key}, provisioning.CAOptions{}, certs.ErrNoCertificates, false},
		{"key of another certificate", certs.Bundle{Chain: good.Chain, Key: leafKey}, provisioning.CAOptions{}, certs.ErrKeyMismatch, false},
		{"end-entity certificate", certs.Bundle{Chain: []*x509.Certificate{leaf}, Key: leafKey}, provisioning.CAOptions{}, nil, true},
		{"no cRLSign", certs.Bundle{Chain: []*x509.Certificate{noCRLSign}, Key: leafKey}, provisioning.CAOptions{}, nil, true},
		{"negative lifetime", good, provisioning.CAOptions{Lifetime: -time.Hour}, nil, true},
		{"negative CRL validity", good, provisioning.CAOptions{CRLValidity: -time.Hour}, nil, true},
		{"refresh beyond validity", good, provisioning.CAOptions{CRLValidity: time.Hour, CRLRefresh: 2 * time.Hour}, nil, true},
		{"relative CRL URL", good, provisioning.CAOptions{CRLDistributionPoints: []string{"/amt.crl"}}, nil, true},
		{"AIA URL without host", good, provisioning.CAOptions{IssuingCertificateURL: []string{"http:///ca.cer"}}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := provisioning.NewCA(tc.bundle, tc.opts)
			require.Error(t, err)
			assert.Nil(t, ca)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			if tc.config {
				assert.ErrorAs(t, err, &cfgErr)
			}
		})
	}
}

func TestCARevokeAndCRL(t *testing.T) {
	f := newCAFixture(t)
	var logBuf bytes.Buffer
	ca := f.newCA(t, provisioning.CAOptions{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	ctx := t.Context()
	a, b, c, d := f.issue(t, ca, "a.example.com"), f.issue(t, ca, "b.example.com"), f.issue(t, ca, "c.example.com"), f.issue(t, ca, "d.example.com")

	// An empty CRL first.
	der0, err := ca.CRL(ctx)
	require.NoError(t, err)
	crl0 := caParseCRL(t, der0)
	assert.Empty(t, crl0.RevokedCertificateEntries)
	require.NoError(t, certs.CheckCRL(a, crl0, caT0, certs.CRLOptions{Issuer: ca.Certificate()}))

	device := amt.UUID{1, 2, 3}
	require.NoError(t, ca.Revoke(ctx, provisioning.RevokeRequest{Device: device, Certificate: a, Reason: certs.RevocationSuperseded}))
	f.clock.Advance(time.Hour)
	require.NoError(t, ca.Revoke(ctx, provisioning.RevokeRequest{Certificate: b, Reason: certs.RevocationKeyCompromise}))
	require.NoError(t, ca.Revoke(ctx, provisioning.RevokeRequest{Certificate: d, Reason: certs.RevocationUnspecified}))
	// Idempotent: the second revocation of a keeps the first time and reason.
	require.NoError(t, ca.Revoke(ctx, provisioning.RevokeRequest{Certificate: a, Reason: certs.RevocationKeyCompromise}))
	assert.Contains(t, logBuf.String(), "serial="+a.SerialNumber.Text(16))
	assert.Contains(t, logBuf.String(), "device="+device.String())

	now := f.clock.Now()
	der, err := ca.CRL(ctx)
	require.NoError(t, err)
	crl := caParseCRL(t, der)
	require.NoError(t, crl.CheckSignatureFrom(f.inter.Certificate()))
	assert.Equal(t, f.inter.Certificate().RawSubject, crl.RawIssuer)
	assert.Equal(t, now.Add(-provisioning.CRLClockSkew), crl.ThisUpdate)
	assert.Equal(t, now.Add(provisioning.DefaultCRLValidity), crl.NextUpdate)
	assert.Equal(t, 7*24*time.Hour, provisioning.DefaultCRLValidity)
	assert.Equal(t, 1, crl.Number.Cmp(crl0.Number), "CRL numbers increase")
	require.Len(t, crl.RevokedCertificateEntries, 3)
	for i, want := range []struct {
		cert   *x509.Certificate
		at     time.Time
		reason certs.RevocationReason
	}{{a, caT0, certs.RevocationSuperseded}, {b, now, certs.RevocationKeyCompromise}, {d, now, certs.RevocationUnspecified}} {
		e := crl.RevokedCertificateEntries[i]
		assert.Equal(t, want.cert.SerialNumber, e.SerialNumber)
		assert.Equal(t, want.at, e.RevocationTime.UTC())
		assert.Equal(t, int(want.reason), e.ReasonCode)
	}

	// certs.CheckCRL with the CA as issuer: a and b are revoked with their
	// reasons, c is not.
	var revoked *certs.RevokedError
	require.ErrorAs(t, certs.CheckCRL(a, crl, now, certs.CRLOptions{Issuer: ca.Certificate()}), &revoked)
	assert.Equal(t, certs.RevocationSuperseded, revoked.Reason)
	assert.Equal(t, caT0, revoked.RevokedAt.UTC())
	require.ErrorAs(t, certs.CheckCRL(b, crl, now, certs.CRLOptions{Issuer: ca.Certificate()}), &revoked)
	assert.Equal(t, certs.RevocationKeyCompromise, revoked.Reason)
	assert.NoError(t, certs.CheckCRL(c, crl, now, certs.CRLOptions{Issuer: ca.Certificate()}))
	assert.NoError(t, certs.CheckCRL(c, crl, now.Add(6*certs.Day), certs.CRLOptions{Issuer: ca.Certificate()}))
	assert.ErrorIs(t, certs.CheckCRL(c, crl, now.Add(8*certs.Day), certs.CRLOptions{Issuer: ca.Certificate()}), certs.ErrCRLStale)

	// Same clock, next CRL: still a higher number.
	der2, err := ca.CRL(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, caParseCRL(t, der2).Number.Cmp(crl.Number))

	// Configured validity.
	short := f.newCA(t, provisioning.CAOptions{CRLValidity: 24 * time.Hour})
	der3, err := short.CRL(ctx)
	require.NoError(t, err)
	assert.Equal(t, now.Add(24*time.Hour), caParseCRL(t, der3).NextUpdate)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ca.CRL(canceled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, ca.Revoke(canceled, provisioning.RevokeRequest{Certificate: c}), context.Canceled)
}

func TestCARevokeRefused(t *testing.T) {
	f := newCAFixture(t)
	ca := f.newCA(t, provisioning.CAOptions{})
	mine := f.issue(t, ca, "amt.example.com")
	// Another CA entirely.
	other := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Other CA", Keys: certstest.NewKeyPool(), Now: f.clock.Now})
	foreign, err := other.IssueCert(f.tlsTemplate(t, "amt.example.com"), f.keys.MustRSA(t, 2048).Public())
	require.NoError(t, err)
	// A CA with the same name as ours but another key: the issuer name matches,
	// the signature does not.
	twin, err := f.root.NewIntermediate(certstest.CAOptions{CommonName: "amtkit Device CA", Keys: certstest.NewKeyPool()})
	require.NoError(t, err)
	require.Equal(t, f.inter.Certificate().RawSubject, twin.Certificate().RawSubject)
	require.False(t, twin.Certificate().PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(f.inter.Certificate().PublicKey))
	forged, err := twin.IssueCert(f.tlsTemplate(t, "amt.example.com"), f.keys.MustRSA(t, 2048).Public())
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		cert   *x509.Certificate
		reason certs.RevocationReason
		is     error
	}{
		{"no certificate", nil, certs.RevocationSuperseded, provisioning.ErrCARequest},
		{"another CA's certificate", foreign, certs.RevocationSuperseded, provisioning.ErrNotIssuedByCA},
		{"same issuer name, other key", forged, certs.RevocationSuperseded, provisioning.ErrNotIssuedByCA},
		{"the CA's own certificate", f.inter.Certificate(), certs.RevocationSuperseded, provisioning.ErrNotIssuedByCA},
		{"certificate hold", mine, certs.RevocationCertificateHold, provisioning.ErrCARequest},
		{"removeFromCRL", mine, certs.RevocationRemoveFromCRL, provisioning.ErrCARequest},
		{"unused code 7", mine, 7, provisioning.ErrCARequest},
		{"code 11", mine, 11, provisioning.ErrCARequest},
		{"negative code", mine, -1, provisioning.ErrCARequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, ca.Revoke(t.Context(), provisioning.RevokeRequest{Certificate: tc.cert, Reason: tc.reason}), tc.is)
		})
	}
	der, err := ca.CRL(t.Context())
	require.NoError(t, err)
	assert.Empty(t, caParseCRL(t, der).RevokedCertificateEntries, "nothing refused was recorded")
}

// wsman's CRL checking (wsman.CheckCRL) accepts the CA's CRL, fetched over
// HTTP from CRLHandler at the distribution point, and refuses a revoked device.
func TestCACRLWithWsman(t *testing.T) {
	f := newCAFixture(t)
	mux := http.NewServeMux()
	crlSrv := httptest.NewServer(mux)
	t.Cleanup(crlSrv.Close)
	ca := f.newCA(t, provisioning.CAOptions{CRLDistributionPoints: []string{crlSrv.URL + "/amt.crl"}})
	mux.Handle("/amt.crl", ca.CRLHandler())

	const fqdn = "amt.example.com"
	devKey := f.keys.MustRSA(t, 2048)
	chain, err := ca.Issue(t.Context(), provisioning.IssueRequest{PublicKey: devKey.Public(), Template: f.tlsTemplate(t, fqdn)})
	require.NoError(t, err)
	dev := httptest.NewUnstartedServer(wsmantest.Handler(func(*wsmantest.Request) wsmantest.Reply {
		return wsmantest.IdentifyResponse("Intel Corporation", "16.1.25")
	}))
	dev.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{chain[0].Raw, chain[1].Raw}, PrivateKey: devKey}}}
	dev.StartTLS()
	t.Cleanup(dev.Close)

	var fetched atomic.Int32
	fetch := func(_ context.Context, issuer *x509.Certificate) (*x509.RevocationList, error) {
		if !issuer.Equal(ca.Certificate()) { // the root's CRL, for the issuing CA
			crl, _, err := f.root.CRL(0)
			return crl, err
		}
		// Ours: from the distribution point named in the certificate.
		resp, err := crlSrv.Client().Get(chain[0].CRLDistributionPoints[0])
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/pkix-crl" {
			return nil, fmt.Errorf("content type %q", ct)
		}
		der, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		fetched.Add(1)
		return x509.ParseRevocationList(der)
	}
	identify := func() error {
		c, err := wsman.New(dev.URL+"/wsman", wsman.WithTLS(wsman.VerifyChain(caPool(f.root.Certificate()), fqdn,
			wsman.CheckRevocation(certs.CRLRevocation(fetch, certs.CRLOptions{Now: f.clock.Now})), wsman.CurrentTime(f.clock.Now))))
		require.NoError(t, err)
		defer c.CloseIdleConnections()
		_, err = c.Identify(t.Context())
		return err
	}
	require.NoError(t, identify())
	assert.Equal(t, int32(1), fetched.Load())

	f.clock.Advance(time.Minute)
	require.NoError(t, ca.Revoke(t.Context(), provisioning.RevokeRequest{Certificate: chain[0], Reason: certs.RevocationSuperseded}))
	err = identify()
	require.ErrorIs(t, err, certs.ErrRevoked)

	// A CRL past its NextUpdate fails closed in wsman: the handler re-signs
	// after CRLRefresh, so a device is never judged on a stale list.
	f.clock.Advance(8 * certs.Day)
	require.ErrorIs(t, identify(), certs.ErrRevoked, "a fresh CRL is served, not a stale one that fails closed")
}

func TestCACRLHandler(t *testing.T) {
	f := newCAFixture(t)
	ca := f.newCA(t, provisioning.CAOptions{})
	srv := httptest.NewServer(ca.CRLHandler())
	t.Cleanup(srv.Close)
	get := func(method string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}

	resp, body := get(http.MethodGet)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/pkix-crl", resp.Header.Get("Content-Type"))
	assert.Equal(t, "public, max-age=302400", resp.Header.Get("Cache-Control"), "3.5 days until re-signing")
	crl1 := caParseCRL(t, body)
	etag := resp.Header.Get("ETag")
	assert.Equal(t, `"`+crl1.Number.Text(16)+`"`, etag)

	// Cached: the same bytes, no new signature.
	f.clock.Advance(time.Hour)
	resp, body2 := get(http.MethodGet)
	assert.Equal(t, body, body2)
	assert.Equal(t, "public, max-age=298800", resp.Header.Get("Cache-Control"))
	resp, _ = get(http.MethodGet, "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	resp, body3 := get(http.MethodHead)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, body3)
	assert.Equal(t, "application/pkix-crl", resp.Header.Get("Content-Type"))
	resp, _ = get(http.MethodPost)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))

	// A revocation re-signs at once, within the same second.
	cert := f.issue(t, ca, "amt.example.com")
	require.NoError(t, ca.Revoke(t.Context(), provisioning.RevokeRequest{Certificate: cert, Reason: certs.RevocationSuperseded}))
	resp, body = get(http.MethodGet, "If-None-Match", etag)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	crl2 := caParseCRL(t, body)
	require.Len(t, crl2.RevokedCertificateEntries, 1)
	assert.Equal(t, cert.SerialNumber, crl2.RevokedCertificateEntries[0].SerialNumber)
	assert.Equal(t, 1, crl2.Number.Cmp(crl1.Number))

	// Past CRLRefresh the handler signs a new one.
	f.clock.Advance(provisioning.DefaultCRLValidity/2 + time.Second)
	_, body = get(http.MethodGet)
	crl3 := caParseCRL(t, body)
	assert.Equal(t, 1, crl3.Number.Cmp(crl2.Number))
	assert.Equal(t, f.clock.Now().Add(-provisioning.CRLClockSkew), crl3.ThisUpdate)
	assert.Len(t, crl3.RevokedCertificateEntries, 1)

	// A log that cannot be read: 503, and the error logged.
	var logBuf bytes.Buffer
	broken := f.newCA(t, provisioning.CAOptions{Log: caBrokenLog{}, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	rec := httptest.NewRecorder()
	broken.CRLHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/amt.crl", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, logBuf.String(), "disk on fire")
}

type caBrokenLog struct{}

func (caBrokenLog) Add(context.Context, provisioning.Revocation) error {
	return errors.New("disk on fire")
}
func (caBrokenLog) All(context.Context) ([]provisioning.Revocation, error) {
	return nil, errors.New("disk on fire")
}

func TestCAFileLogSurvivesRestart(t *testing.T) {
	f := newCAFixture(t)
	path := filepath.Join(t.TempDir(), "revocations.log")
	log1, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	assert.Equal(t, path, log1.Path())
	ca1 := f.newCA(t, provisioning.CAOptions{Log: log1})
	a, b, c := f.issue(t, ca1, "a.example.com"), f.issue(t, ca1, "b.example.com"), f.issue(t, ca1, "c.example.com")
	require.NoError(t, ca1.Revoke(t.Context(), provisioning.RevokeRequest{Certificate: a, Reason: certs.RevocationSuperseded}))
	f.clock.Advance(time.Minute)
	require.NoError(t, ca1.Revoke(t.Context(), provisioning.RevokeRequest{Certificate: b, Reason: certs.RevocationCessationOfOperation}))
	der1, err := ca1.CRL(t.Context())
	require.NoError(t, err)
	crl1 := caParseCRL(t, der1)
	require.Len(t, crl1.RevokedCertificateEntries, 2)

	// "Restart": a new log and CA on the same file, the clock even set back.
	f.clock.Advance(-time.Hour)
	log2, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	ca2 := f.newCA(t, provisioning.CAOptions{Log: log2})
	der2, err := ca2.CRL(t.Context())
	require.NoError(t, err)
	crl2 := caParseCRL(t, der2)
	assert.Equal(t, crl1.RevokedCertificateEntries, crl2.RevokedCertificateEntries, "same serials, times and reasons")
	assert.Equal(t, 1, crl2.Number.Cmp(crl1.Number), "the restarted CA numbers above the CRLs it issued before")
	require.ErrorAs(t, certs.CheckCRL(a, crl2, f.clock.Now(), certs.CRLOptions{Issuer: ca2.Certificate()}), new(*certs.RevokedError))
	assert.NoError(t, certs.CheckCRL(c, crl2, f.clock.Now(), certs.CRLOptions{Issuer: ca2.Certificate()}))

	// Revoking again after the restart is still idempotent.
	require.NoError(t, ca2.Revoke(t.Context(), provisioning.RevokeRequest{Certificate: a, Reason: certs.RevocationKeyCompromise}))
	all, err := log2.All(t.Context())
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, certs.RevocationSuperseded, all[0].Reason)

	// The in-memory default, by contrast, starts empty.
	mem := f.newCA(t, provisioning.CAOptions{})
	der3, err := mem.CRL(t.Context())
	require.NoError(t, err)
	assert.Empty(t, caParseCRL(t, der3).RevokedCertificateEntries)
}

// caLogFile writes a log with two revocations and returns its path and bytes.
func caLogFile(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "revocations.log")
	l, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	for i, reason := range []certs.RevocationReason{certs.RevocationSuperseded, certs.RevocationKeyCompromise} {
		require.NoError(t, l.Add(t.Context(), provisioning.Revocation{SerialNumber: big.NewInt(0x1a2b3c + int64(i)), RevokedAt: caT0, Reason: reason}))
	}
	_, err = l.NextCRLNumber(t.Context(), big.NewInt(42))
	require.NoError(t, err)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, data
}

// caResum replaces the end line with a correct one, so that only the content
// rule under test is broken.
func caResum(body string) []byte {
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if strings.HasPrefix(lines[len(lines)-1], "end ") {
		lines = lines[:len(lines)-1]
	}
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "revoked ") {
			n++
		}
	}
	pre := strings.Join(lines, "\n") + "\n"
	return fmt.Appendf(nil, "%send %d %x\n", pre, n, sha256.Sum256([]byte(pre)))
}

func TestCAFileLogFormat(t *testing.T) {
	path, data := caLogFile(t)
	assert.Equal(t, string(caResum(
		"amtkit revocation log v1\n"+
			"crl-number 42\n"+
			"revoked 1a2b3c 2026-06-01T12:00:00Z 4\n"+
			"revoked 1a2b3d 2026-06-01T12:00:00Z 1\n")), string(data))
	l, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	all, err := l.All(t.Context())
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, provisioning.Revocation{SerialNumber: big.NewInt(0x1a2b3d), RevokedAt: caT0, Reason: certs.RevocationKeyCompromise}, all[1])
	n, err := l.NextCRLNumber(t.Context(), big.NewInt(7))
	require.NoError(t, err)
	assert.Equal(t, big.NewInt(43), n, "above the recorded 42 even when asked for less")
}

func TestCAFileLogCorrupt(t *testing.T) {
	_, data := caLogFile(t)
	dir := t.TempDir()
	open := func(t *testing.T, content []byte) error {
		t.Helper()
		p := filepath.Join(dir, "log")
		require.NoError(t, os.WriteFile(p, content, 0o600))
		l, err := provisioning.OpenFileRevocationLog(p)
		if err == nil {
			require.NotNil(t, l)
		}
		return err
	}
	require.NoError(t, open(t, data))

	// Every strict prefix is refused: truncation never drops entries silently.
	for i := range len(data) {
		err := open(t, data[:i])
		require.ErrorIs(t, err, provisioning.ErrRevocationLogCorrupt, "prefix of %d bytes", i)
		var le *provisioning.RevocationLogError
		require.ErrorAs(t, err, &le)
	}

	body := string(data)
	for _, tc := range []struct {
		name    string
		content []byte
		line    int
		msg     string
	}{
		{"flipped serial digit", []byte(strings.Replace(body, "1a2b3c", "1a2b3e", 1)), 5, "checksum mismatch"},
		{"changed reason", []byte(strings.Replace(body, " 4\n", " 5\n", 1)), 5, "checksum mismatch"},
		{"entry removed", []byte(strings.Replace(body, "revoked 1a2b3d 2026-06-01T12:00:00Z 1\n", "", 1)), 4, "end line counts 2"},
		{"line after the end", append(bytes.Clone(data), "revoked 1 2026-06-01T12:00:00Z 4\n"...), 6, "after the end line"},
		{"bad header", caResum(strings.Replace(body, "v1", "v2", 1)), 1, "header"},
		{"bad CRL number", caResum(strings.Replace(body, "crl-number 42", "crl-number -1", 1)), 2, "crl-number"},
		{"duplicate serial", caResum(strings.Replace(body, "1a2b3d", "1a2b3c", 1)), 4, "already revoked on line 3"},
		{"upper-case serial", caResum(strings.Replace(body, "1a2b3c", "1A2B3C", 1)), 3, "serial"},
		{"zero serial", caResum(strings.Replace(body, "1a2b3c", "0", 1)), 3, "serial"},
		{"local time", caResum(strings.Replace(body, "2026-06-01T12:00:00Z 4", "2026-06-01T14:00:00+02:00 4", 1)), 3, "time"},
		{"reason hold is fine, 8 is not", caResum(strings.Replace(body, "Z 4\n", "Z 8\n", 1)), 3, "reason"},
		{"unknown record", caResum(strings.Replace(body, "revoked 1a2b3d", "unrevoked 1a2b3d", 1)), 4, "expected"},
		{"empty file", nil, 0, "empty"},
		{"CRLF line ends", caResum(strings.ReplaceAll(body, "\n", "\r\n")), 1, "header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := open(t, tc.content)
			require.ErrorIs(t, err, provisioning.ErrRevocationLogCorrupt)
			var le *provisioning.RevocationLogError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tc.line, le.Line, "%v", err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Contains(t, err.Error(), filepath.Join(dir, "log"))
		})
	}
	// Certificate hold (6) is a valid reason code in a log written by another tool.
	require.NoError(t, open(t, caResum(strings.Replace(body, "Z 4\n", "Z 6\n", 1))))
}

func TestCAFileLogFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "revocations.log")
	_, err := provisioning.OpenFileRevocationLog(filepath.Join(dir, "missing", "revocations.log"))
	require.Error(t, err, "the directory must exist")
	assert.NotErrorIs(t, err, provisioning.ErrRevocationLogCorrupt)

	l1, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	l2, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err, "a freshly created log reopens")
	r := provisioning.Revocation{SerialNumber: big.NewInt(99), RevokedAt: caT0, Reason: certs.RevocationSuperseded}
	require.NoError(t, l1.Add(t.Context(), r))
	// A second writer on the same file would overwrite l1's entry: refused.
	require.ErrorIs(t, l2.Add(t.Context(), provisioning.Revocation{SerialNumber: big.NewInt(100), RevokedAt: caT0}), provisioning.ErrRevocationLogChanged)
	_, err = l2.NextCRLNumber(t.Context(), big.NewInt(1))
	require.ErrorIs(t, err, provisioning.ErrRevocationLogChanged)
	l3, err := provisioning.OpenFileRevocationLog(path)
	require.NoError(t, err)
	all, err := l3.All(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []provisioning.Revocation{r}, all)

	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	var zero provisioning.FileRevocationLog
	require.Error(t, zero.Add(t.Context(), r), "a FileRevocationLog needs OpenFileRevocationLog")
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, l1.Add(canceled, provisioning.Revocation{SerialNumber: big.NewInt(5), RevokedAt: caT0}), context.Canceled)
}

func TestCAMemoryLog(t *testing.T) {
	var l provisioning.MemoryRevocationLog // the zero value works
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		r    provisioning.Revocation
	}{
		{"nil serial", provisioning.Revocation{RevokedAt: caT0}},
		{"zero serial", provisioning.Revocation{SerialNumber: new(big.Int), RevokedAt: caT0}},
		{"negative serial", provisioning.Revocation{SerialNumber: big.NewInt(-5), RevokedAt: caT0}},
		{"no time", provisioning.Revocation{SerialNumber: big.NewInt(5)}},
		{"removeFromCRL", provisioning.Revocation{SerialNumber: big.NewInt(5), RevokedAt: caT0, Reason: certs.RevocationRemoveFromCRL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, l.Add(ctx, tc.r), provisioning.ErrCARequest)
		})
	}
	serial := big.NewInt(5)
	require.NoError(t, l.Add(ctx, provisioning.Revocation{SerialNumber: serial, RevokedAt: caT0, Reason: certs.RevocationSuperseded}))
	require.NoError(t, l.Add(ctx, provisioning.Revocation{SerialNumber: big.NewInt(5), RevokedAt: caT0.Add(time.Hour), Reason: certs.RevocationKeyCompromise}))
	serial.SetInt64(6) // the log kept its own copy
	all, err := l.All(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, provisioning.Revocation{SerialNumber: big.NewInt(5), RevokedAt: caT0, Reason: certs.RevocationSuperseded}, all[0])
	all[0].SerialNumber.SetInt64(7)
	again, err := l.All(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(5), again[0].SerialNumber.Int64(), "All returns copies")
}

// Many goroutines issuing, revoking (each certificate twice, concurrently),
// signing and serving CRLs against one CA on a file log (run with -race).
func TestCAConcurrent(t *testing.T) {
	f := newCAFixture(t)
	l, err := provisioning.OpenFileRevocationLog(filepath.Join(t.TempDir(), "revocations.log"))
	require.NoError(t, err)
	ca := f.newCA(t, provisioning.CAOptions{Log: l})
	const workers, perWorker = 8, 3
	issued := make(chan *x509.Certificate, workers*perWorker)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var numbers []*big.Int
	for w := range workers {
		wg.Go(func() {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if !assert.NoError(t, err) {
				return
			}
			for i := range perWorker {
				tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{CertOptions: certs.CertOptions{Now: f.clock.Now}, FQDN: fmt.Sprintf("amt%d-%d.example.com", w, i)})
				if !assert.NoError(t, err) {
					return
				}
				chain, err := ca.Issue(t.Context(), provisioning.IssueRequest{PublicKey: k.Public(), Template: tmpl})
				if !assert.NoError(t, err) {
					return
				}
				issued <- chain[0]
				var revokers sync.WaitGroup
				for range 2 {
					revokers.Go(func() {
						assert.NoError(t, ca.Revoke(t.Context(), provisioning.RevokeRequest{Certificate: chain[0], Reason: certs.RevocationSuperseded}))
					})
				}
				revokers.Wait()
				der, err := ca.CRL(t.Context())
				if !assert.NoError(t, err) {
					return
				}
				crl, err := x509.ParseRevocationList(der)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				numbers = append(numbers, crl.Number)
				mu.Unlock()
				rec := httptest.NewRecorder()
				ca.CRLHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/amt.crl", nil).WithContext(t.Context()))
				assert.Equal(t, http.StatusOK, rec.Code)
			}
		})
	}
	wg.Wait()
	close(issued)
	der, err := ca.CRL(t.Context())
	require.NoError(t, err)
	crl := caParseCRL(t, der)
	listed := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		listed[e.SerialNumber.String()]++
	}
	n := 0
	for c := range issued {
		n++
		assert.Equal(t, 1, listed[c.SerialNumber.String()], "serial %s listed once", c.SerialNumber)
	}
	assert.Equal(t, workers*perWorker, n)
	assert.Len(t, crl.RevokedCertificateEntries, workers*perWorker)
	seen := map[string]bool{}
	for _, num := range numbers {
		assert.False(t, seen[num.String()], "CRL number %s issued twice", num)
		seen[num.String()] = true
		assert.Equal(t, 1, crl.Number.Cmp(num))
	}
}
