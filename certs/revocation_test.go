package certs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// crlCase is a CA with one revoked and one good certificate, and CRLs of
// every kind a revocation check must refuse.
type crlCase struct {
	ca                *certstest.CA
	good, revoked     *x509.Certificate
	crl, otherCRL     *x509.RevocationList
	forged            *x509.RevocationList
	future            *x509.RevocationList
	delta, partial    *x509.RevocationList
	goodKey, revolKey *ecdsa.PrivateKey
}

func newCRLCase(t *testing.T) *crlCase {
	f := newFixture(t)
	c := &crlCase{ca: f.inter}
	issueTLS := func() (*x509.Certificate, *ecdsa.PrivateKey) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		cert, err := f.inter.IssueCert(&x509.Certificate{Subject: pkix.Name{CommonName: "device.example.com"},
			DNSNames: []string{"device.example.com"}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(30 * certs.Day),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, k.Public())
		require.NoError(t, err)
		return cert, k
	}
	c.good, c.goodKey = issueTLS()
	c.revoked, c.revolKey = issueTLS()
	require.NoError(t, f.inter.Revoke(t.Context(), c.revoked, certs.RevocationKeyCompromise))
	var err error
	c.crl, _, err = f.inter.CRL(certs.Day)
	require.NoError(t, err)
	c.otherCRL, _, err = f.root.CRL(certs.Day)
	require.NoError(t, err)
	forged := *c.crl
	forged.Signature = append([]byte(nil), c.crl.Signature...)
	forged.Signature[5] ^= 1
	c.forged = &forged
	special := func(this time.Time, ext ...pkix.Extension) *x509.RevocationList {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(99), ThisUpdate: this,
			NextUpdate: t0.Add(2 * time.Hour), ExtraExtensions: ext}, f.inter.Certificate(), f.inter.Key)
		require.NoError(t, err)
		l, err := x509.ParseRevocationList(der)
		require.NoError(t, err)
		return l
	}
	one, err := asn1.Marshal(1)
	require.NoError(t, err)
	c.future = special(t0.Add(time.Hour))
	c.delta = special(t0.Add(-time.Hour), pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: one})
	c.partial = special(t0.Add(-time.Hour), pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: []byte{0x30, 0}})
	return c
}

// fetchOf returns a CRL source that answers crl (or err) for the CA's
// certificate and refuses any other issuer.
func (c *crlCase) fetchOf(crl *x509.RevocationList, err error) func(context.Context, *x509.Certificate) (*x509.RevocationList, error) {
	return func(ctx context.Context, issuer *x509.Certificate) (*x509.RevocationList, error) {
		if ctx == nil {
			return nil, errors.New("no context")
		}
		if !issuer.Equal(c.ca.Certificate()) {
			return nil, errors.New("unexpected issuer " + issuer.Subject.CommonName)
		}
		return crl, err
	}
}

// CRLRevocation keeps CheckCRL's fail-closed semantics in the shape wsman and
// provisioning take.
func TestCRLRevocation(t *testing.T) {
	c := newCRLCase(t)
	issuer := c.ca.Certificate()
	errLDAP := errors.New("ldap down")
	cases := []struct {
		name string
		cert *x509.Certificate
		crl  *x509.RevocationList
		err  error // of fetch
		opts certs.CRLOptions
		is   []error
	}{
		{"good", c.good, c.crl, nil, certs.CRLOptions{Now: fixedNow}, nil},
		{"revoked", c.revoked, c.crl, nil, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrRevoked}},
		{"fetch fails: closed", c.good, nil, errLDAP, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrCRLMissing, errLDAP}},
		{"fetch fails, even with AllowMissing", c.good, nil, errLDAP, certs.CRLOptions{Now: fixedNow, AllowMissing: true}, []error{certs.ErrCRLMissing}},
		{"no CRL: closed", c.good, nil, nil, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrCRLMissing}},
		{"no CRL, allowed", c.good, nil, nil, certs.CRLOptions{Now: fixedNow, AllowMissing: true}, nil},
		{"expired CRL", c.good, c.crl, nil, certs.CRLOptions{Now: at(t0.Add(2 * certs.Day))}, []error{certs.ErrCRLStale}},
		{"expired CRL, allowed", c.good, c.crl, nil, certs.CRLOptions{Now: at(t0.Add(2 * certs.Day)), AllowStale: true}, nil},
		{"CRL from the future", c.good, c.future, nil, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrCRLStale}},
		{"another CA's CRL", c.good, c.otherCRL, nil, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrCRLIssuer}},
		{"bad signature", c.good, c.forged, nil, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrCRLSignature}},
		{"delta CRL", c.revoked, c.delta, nil, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrCRLUnsupported}},
		{"partial CRL", c.revoked, c.partial, nil, certs.CRLOptions{Now: fixedNow}, []error{certs.ErrCRLUnsupported}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := certs.CRLRevocation(c.fetchOf(tc.crl, tc.err), tc.opts)
			err := check(t.Context(), tc.cert, issuer)
			if tc.is == nil {
				require.NoError(t, err)
				return
			}
			for _, is := range tc.is {
				require.ErrorIs(t, err, is)
			}
		})
	}
	// The issuer of each check is the one whose key verifies the CRL, whatever
	// opts.Issuer says.
	check := certs.CRLRevocation(c.fetchOf(c.crl, nil), certs.CRLOptions{Now: fixedNow, Issuer: c.good})
	require.NoError(t, check(t.Context(), c.good, issuer))
	require.ErrorIs(t, certs.CRLRevocation(nil, certs.CRLOptions{})(t.Context(), c.good, issuer), certs.ErrCRLMissing)
	require.Error(t, check(t.Context(), nil, issuer))
	require.Error(t, check(t.Context(), c.good, nil))
}

// End to end through wsman (the CRL tests wsman had before its revocation
// check took this shape): a device whose certificate is on its issuer's CRL is
// refused before any request, every unusable CRL fails closed, and the
// typed errors of both packages are reachable.
func TestCRLRevocationWithWsman(t *testing.T) {
	c := newCRLCase(t)
	var requests atomic.Int32
	server := func(cert *x509.Certificate, key *ecdsa.PrivateKey) *httptest.Server {
		srv := httptest.NewUnstartedServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
			requests.Add(1)
			return wsmantest.IdentifyResponse("Intel Corporation", "16.1.25")
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw, c.ca.Certificate().Raw}, PrivateKey: key}}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	goodSrv, revokedSrv := server(c.good, c.goodKey), server(c.revoked, c.revolKey)
	rootCRL, _, err := c.ca.RootCA().CRL(certs.Day)
	require.NoError(t, err)
	identify := func(url string, crl *x509.RevocationList, ferr error) error {
		fetch := func(ctx context.Context, issuer *x509.Certificate) (*x509.RevocationList, error) {
			if issuer.Equal(c.ca.RootCertificate()) {
				return rootCRL, nil // the intermediate's link
			}
			return c.fetchOf(crl, ferr)(ctx, issuer)
		}
		cl, err := wsman.New(url+"/wsman", wsman.WithClock(fixedNow), wsman.WithTLS(wsman.VerifyChain(c.ca.Pool(), "device.example.com",
			wsman.CheckRevocation(certs.CRLRevocation(fetch, certs.CRLOptions{Now: fixedNow})))))
		require.NoError(t, err)
		defer cl.CloseIdleConnections()
		_, err = cl.Identify(t.Context())
		return err
	}
	require.NoError(t, identify(goodSrv.URL, c.crl, nil))
	served := requests.Load()

	err = identify(revokedSrv.URL, c.crl, nil)
	require.ErrorIs(t, err, wsman.ErrConnect)
	require.ErrorIs(t, err, wsman.ErrRevocationCheck)
	require.ErrorIs(t, err, certs.ErrRevoked)
	var pe *wsman.TLSPolicyError
	require.ErrorAs(t, err, &pe)
	var re *certs.RevokedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, certs.RevocationKeyCompromise, re.Reason)

	for name, tc := range map[string]struct {
		crl *x509.RevocationList
		err error
		is  error
	}{
		"fetch fails":   {nil, errors.New("ldap down"), certs.ErrCRLMissing},
		"no CRL":        {nil, nil, certs.ErrCRLMissing},
		"bad signature": {c.forged, nil, certs.ErrCRLSignature},
		"another CA's":  {c.otherCRL, nil, certs.ErrCRLIssuer},
		"future":        {c.future, nil, certs.ErrCRLStale},
		"delta":         {c.delta, nil, certs.ErrCRLUnsupported},
		"partial":       {c.partial, nil, certs.ErrCRLUnsupported},
	} {
		err := identify(revokedSrv.URL, tc.crl, tc.err)
		require.ErrorIs(t, err, wsman.ErrRevocationCheck, name)
		require.ErrorIs(t, err, tc.is, name)
	}
	assert.Equal(t, served, requests.Load(), "no request reached a refused device")
}
