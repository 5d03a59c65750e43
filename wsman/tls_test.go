package wsman_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial atomic.Int64

func issue(t *testing.T, tmpl *x509.Certificate, parent *testCert, key crypto.Signer) *testCert {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		key = k
	}
	tmpl.SerialNumber = big.NewInt(100 + serial.Add(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCert{c, key}
}

func ca(t *testing.T, name string, parent *testCert) *testCert {
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, parent, nil)
}

func leaf(t *testing.T, parent *testCert, dns []string, ips []net.IP, key crypto.Signer, usage ...x509.ExtKeyUsage) *testCert {
	if usage == nil {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Intel(R) AMT self-signed certificate"}, DNSNames: dns, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: usage}, parent, key)
}

func tlsServer(t *testing.T, cfg *tls.Config) *httptest.Server {
	srv := httptest.NewUnstartedServer(wsmantest.Handler(gsAnswer))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func serverCfg(chain ...*testCert) *tls.Config {
	c := tls.Certificate{PrivateKey: chain[0].key}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.cert.Raw)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}
}

func pool(cs ...*testCert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c.cert)
	}
	return p
}

func getWith(t *testing.T, url string, opts ...wsman.Option) error {
	c, err := wsman.New(url, opts...)
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.Get(bg, gsURI, nil)
	return err
}

func TestTLSPolicies(t *testing.T) {
	root := ca(t, "Test Root", nil)
	inter := ca(t, "Test Intermediate", root)
	named := leaf(t, inter, []string{"device.example.com"}, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	srv := tlsServer(t, serverCfg(named, inter))
	other := ca(t, "Other Root", nil)

	pin := sha256.Sum256(named.cert.Raw)
	spki := sha256.Sum256(named.cert.RawSubjectPublicKeyInfo)
	tests := []struct {
		name   string
		policy wsman.TLSPolicy
		ok     bool
		is     error
	}{
		{"pin matches", wsman.PinSHA256([32]byte{1}, pin), true, nil},
		{"pin mismatch", wsman.PinSHA256(sha256.Sum256(inter.cert.Raw)), false, wsman.ErrPinMismatch},
		{"spki pin", wsman.PinSPKISHA256(spki), true, nil},
		{"spki pin mismatch", wsman.PinSPKISHA256(pin), false, wsman.ErrPinMismatch},
		{"chain with host", wsman.VerifyChain(pool(root), "device.example.com"), true, nil},
		{"chain with IP", wsman.VerifyChain(pool(root), "127.0.0.1"), true, nil},
		{"chain wrong host", wsman.VerifyChain(pool(root), "other.example.com"), false, nil},
		{"chain empty host refused", wsman.VerifyChain(pool(root), ""), false, nil},
		{"chain untrusted root", wsman.VerifyChain(pool(other), "device.example.com"), false, nil},
		{"chain any host", wsman.VerifyChainAnyHost(pool(root)), true, nil},
		{"chain any host untrusted", wsman.VerifyChainAnyHost(pool(other)), false, nil},
		{"insecure", wsman.InsecureSkipVerify(), true, nil},
		{"custom", wsman.VerifyFunc(func(cs tls.ConnectionState) error {
			if cs.PeerCertificates[0].SerialNumber.Cmp(named.cert.SerialNumber) != 0 {
				return errors.New("not the device")
			}
			return nil
		}), true, nil},
		{"custom refuses", wsman.VerifyFunc(func(tls.ConnectionState) error { return errors.New("no") }), false, nil},
		{"expired by clock", wsman.VerifyChain(pool(root), "device.example.com", wsman.CurrentTime(func() time.Time { return time.Now().Add(48 * time.Hour) })), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := getWith(t, srv.URL+"/wsman", wsman.WithTLS(tc.policy))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, wsman.ErrConnect, "verification failures happen before anything is sent")
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
		})
	}

	// the peer certificate is available for trust on first use
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithTLS(wsman.InsecureSkipVerify()))
	require.NoError(t, err)
	resp, err := c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, pin, sha256.Sum256(resp.TLS.PeerCertificates[0].Raw))
}

// AMT 19+ local certificates: self-signed, no SAN; verify the chain (the
// recorded certificate is its own root) without a host name.
func TestTLSNoSANSelfSigned(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	self := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Intel(R) AMT self-signed certificate"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}, nil, k)
	srv := tlsServer(t, serverCfg(self))
	require.NoError(t, getWith(t, srv.URL, wsman.WithTLS(wsman.VerifyChainAnyHost(pool(self)))))
	require.Error(t, getWith(t, srv.URL, wsman.WithTLS(wsman.VerifyChain(pool(self), "127.0.0.1"))), "no name to match")

	noUsage := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "no eku"}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true, IsCA: true}, nil, nil)
	srv2 := tlsServer(t, serverCfg(noUsage))
	require.Error(t, getWith(t, srv2.URL, wsman.WithTLS(wsman.VerifyChainAnyHost(pool(noUsage)))))
	require.NoError(t, getWith(t, srv2.URL, wsman.WithTLS(wsman.VerifyChainAnyHost(pool(noUsage), wsman.AnyExtKeyUsage()))))
}

func TestTLSCRL(t *testing.T) {
	root := ca(t, "CRL Root", nil)
	good := leaf(t, root, []string{"device.example.com"}, nil, nil)
	revoked := leaf(t, root, []string{"device.example.com"}, nil, nil)
	now := time.Now()
	makeCRL := func(signer *testCert, next time.Time, serials ...*big.Int) *x509.RevocationList {
		var entries []x509.RevocationListEntry
		for _, s := range serials {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now.Add(-time.Minute)})
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour),
			NextUpdate: next, RevokedCertificateEntries: entries}, signer.cert, signer.key)
		require.NoError(t, err)
		crl, err := x509.ParseRevocationList(der)
		require.NoError(t, err)
		return crl
	}
	crl := makeCRL(root, now.Add(time.Hour), revoked.cert.SerialNumber)
	goodSrv := tlsServer(t, serverCfg(good))
	revokedSrv := tlsServer(t, serverCfg(revoked))
	fetch := func(c *x509.RevocationList, err error) func(*x509.Certificate) (*x509.RevocationList, error) {
		return func(issuer *x509.Certificate) (*x509.RevocationList, error) {
			if !issuer.Equal(root.cert) {
				return nil, errors.New("unexpected issuer")
			}
			return c, err
		}
	}
	policy := func(f func(*x509.Certificate) (*x509.RevocationList, error)) wsman.Option {
		return wsman.WithTLS(wsman.VerifyChain(pool(root), "device.example.com", wsman.CheckCRL(f)))
	}
	require.NoError(t, getWith(t, goodSrv.URL, policy(fetch(crl, nil))))
	err := getWith(t, revokedSrv.URL, policy(fetch(crl, nil)))
	require.ErrorIs(t, err, wsman.ErrCertificateRevoked)
	require.ErrorIs(t, err, wsman.ErrConnect)
	require.ErrorIs(t, getWith(t, goodSrv.URL, policy(fetch(nil, errors.New("ldap down")))), wsman.ErrRevocationUnavailable, "fails closed")
	require.ErrorIs(t, getWith(t, goodSrv.URL, policy(fetch(nil, nil))), wsman.ErrRevocationUnavailable)
	require.ErrorIs(t, getWith(t, goodSrv.URL, policy(fetch(makeCRL(root, now.Add(-time.Minute)), nil))), wsman.ErrRevocationUnavailable, "expired CRL")
	forged := ca(t, "CRL Root", nil) // same name, other key
	require.ErrorIs(t, getWith(t, goodSrv.URL, policy(fetch(makeCRL(forged, now.Add(time.Hour)), nil))), wsman.ErrRevocationUnavailable, "bad signature")

	// Signed by the right CA but unusable: from the future, a delta CRL (lists
	// only changes), a partial CRL (issuing distribution point).
	special := func(this time.Time, ext ...pkix.Extension) *x509.RevocationList {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(2), ThisUpdate: this,
			NextUpdate: now.Add(2 * time.Hour), ExtraExtensions: ext}, root.cert, root.key)
		require.NoError(t, err)
		crl, err := x509.ParseRevocationList(der)
		require.NoError(t, err)
		return crl
	}
	one, err := asn1.Marshal(1)
	require.NoError(t, err)
	for name, crl := range map[string]*x509.RevocationList{
		"future":  special(now.Add(time.Hour)),
		"delta":   special(now.Add(-time.Hour), pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: one}),
		"partial": special(now.Add(-time.Hour), pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: []byte{0x30, 0}}),
	} {
		require.ErrorIs(t, getWith(t, revokedSrv.URL, policy(fetch(crl, nil))), wsman.ErrRevocationUnavailable, name)
	}
}

// The server's acceptable-CA list names a CA unrelated to the client's chain
// (AMT's list does not name the provisioning root): the chain is sent anyway,
// leaf to root.
func TestTLSClientCertificateChain(t *testing.T) {
	root := ca(t, "Provisioning Root", nil)
	inter := ca(t, "Provisioning Intermediate", root)
	client := leaf(t, inter, nil, nil, nil, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth)
	srvCert := leaf(t, ca(t, "Device Root", nil), nil, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	seen := make(chan int, 4)
	cfg := serverCfg(srvCert)
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.ClientCAs = pool(ca(t, "Unrelated CA", nil))
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		seen <- len(raw)
		return nil
	}
	srv := tlsServer(t, cfg)
	cert := tls.Certificate{Certificate: [][]byte{client.cert.Raw, inter.cert.Raw, root.cert.Raw}, PrivateKey: client.key}
	require.NoError(t, getWith(t, srv.URL, wsman.WithTLS(wsman.PinSHA256(sha256.Sum256(srvCert.cert.Raw))), wsman.WithClientCertificate(cert)))
	assert.Equal(t, 3, <-seen, "leaf, intermediate and root sent")

	// with no client certificate the server refuses
	require.Error(t, getWith(t, srv.URL, wsman.WithTLS(wsman.PinSHA256(sha256.Sum256(srvCert.cert.Raw)))))
	_, err := wsman.New(srv.URL, wsman.WithClientCertificate(tls.Certificate{}))
	require.Error(t, err)
}

func TestTLSLegacyProfile(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	old := leaf(t, nil, nil, nil, rk)
	cfg := serverCfg(old)
	cfg.MinVersion = tls.VersionTLS10
	cfg.MaxVersion = tls.VersionTLS11
	cfg.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
	srv := tlsServer(t, cfg)
	pin := wsman.WithTLS(wsman.PinSHA256(sha256.Sum256(old.cert.Raw)))
	err = getWith(t, srv.URL, pin)
	require.ErrorIs(t, err, wsman.ErrConnect, "modern defaults refuse TLS 1.1 with RSA key exchange")
	require.NoError(t, getWith(t, srv.URL, pin, wsman.WithLegacyTLS()))

	// TLS 1.2 with only RSA key exchange: legacy suites, default versions
	cfg2 := serverCfg(old)
	cfg2.MaxVersion = tls.VersionTLS12
	cfg2.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_256_CBC_SHA}
	srv2 := tlsServer(t, cfg2)
	require.Error(t, getWith(t, srv2.URL, pin))
	require.NoError(t, getWith(t, srv2.URL, pin, wsman.WithLegacyTLS()))

	// max version bound
	modern := tlsServer(t, &tls.Config{Certificates: cfg.Certificates, MinVersion: tls.VersionTLS13})
	require.Error(t, getWith(t, modern.URL, pin, wsman.WithTLSVersions(0, tls.VersionTLS12)))
	require.NoError(t, getWith(t, modern.URL, pin))
}
