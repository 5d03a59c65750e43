package wsman_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"sync"
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
	// Two days on, every certificate of the chain has expired.
	later := wsman.CurrentTime(func() time.Time { return time.Now().Add(48 * time.Hour) })
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
		{"custom", wsman.VerifyFunc(func(_ context.Context, cs tls.ConnectionState) error {
			if cs.PeerCertificates[0].SerialNumber.Cmp(named.cert.SerialNumber) != 0 {
				return errors.New("not the device")
			}
			return nil
		}), true, nil},
		{"custom refuses", wsman.VerifyFunc(func(context.Context, tls.ConnectionState) error { return errNotTheDevice }), false, errNotTheDevice},
		{"expired by clock", wsman.VerifyChain(pool(root), "device.example.com", wsman.CurrentTime(func() time.Time { return time.Now().Add(48 * time.Hour) })), false, nil},
		{"expired but pinned", wsman.VerifyChain(pool(root), "device.example.com", later, wsman.AcceptExpiredPinned([32]byte{1}, pin)), true, nil},
		{"expired, another pinned", wsman.VerifyChain(pool(root), "device.example.com", later, wsman.AcceptExpiredPinned(sha256.Sum256(inter.cert.Raw))), false, nil},
		{"expired pinned, untrusted root", wsman.VerifyChain(pool(other), "device.example.com", later, wsman.AcceptExpiredPinned(pin)), false, nil},
		{"expired pinned, wrong host", wsman.VerifyChain(pool(root), "other.example.com", later, wsman.AcceptExpiredPinned(pin)), false, nil},
		{"expired pinned, revoked", wsman.VerifyChain(pool(root), "device.example.com", later, wsman.AcceptExpiredPinned(pin),
			wsman.CheckRevocation(func(context.Context, *x509.Certificate, *x509.Certificate) error { return errNotTheDevice })), false, wsman.ErrRevocationCheck},
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
			var pe *wsman.TLSPolicyError
			require.ErrorAs(t, err, &pe, "a refusal by the policy is told apart from a failure to connect")
			assert.Equal(t, tc.policy.String(), pe.Policy)
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

var errNotTheDevice = errors.New("not the device")

// CheckRevocation calls the function for each link of the verified chain,
// leaf first, never for the root against itself, and fails closed on any
// error it returns; the error stays reachable. (The CRL semantics of
// certs.CRLRevocation are tested in package certs, also through wsman.)
func TestTLSCheckRevocation(t *testing.T) {
	root := ca(t, "Revocation Root", nil)
	inter := ca(t, "Revocation Intermediate", root)
	dev := leaf(t, inter, []string{"device.example.com"}, nil, nil)
	srv := tlsServer(t, serverCfg(dev, inter))
	type link struct{ cert, issuer string }
	var mu sync.Mutex
	var links []link
	errRevoked := errors.New("revoked by test")
	check := func(refuse string) func(context.Context, *x509.Certificate, *x509.Certificate) error {
		return func(ctx context.Context, cert, issuer *x509.Certificate) error {
			mu.Lock()
			links = append(links, link{cert.Subject.CommonName, issuer.Subject.CommonName})
			mu.Unlock()
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("the revocation check runs without a deadline")
			}
			if cert.Subject.CommonName == refuse {
				return errRevoked
			}
			return nil
		}
	}
	policy := func(refuse string) wsman.Option {
		return wsman.WithTLS(wsman.VerifyChain(pool(root), "device.example.com", wsman.CheckRevocation(check(refuse))))
	}
	require.NoError(t, getWith(t, srv.URL, policy("")))
	assert.Equal(t, []link{{dev.cert.Subject.CommonName, "Revocation Intermediate"}, {"Revocation Intermediate", "Revocation Root"}}, links)

	for _, refused := range []string{dev.cert.Subject.CommonName, "Revocation Intermediate"} {
		err := getWith(t, srv.URL, policy(refused))
		require.ErrorIs(t, err, wsman.ErrConnect, refused)
		require.ErrorIs(t, err, wsman.ErrRevocationCheck)
		require.ErrorIs(t, err, errRevoked, "the function's own error is reachable")
		var pe *wsman.TLSPolicyError
		require.ErrorAs(t, err, &pe)
	}

	// A self-signed device certificate that is its own anchor: no link to check.
	self := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self"}, DNSNames: []string{"device.example.com"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}, nil, nil)
	selfSrv := tlsServer(t, serverCfg(self))
	links = nil
	require.NoError(t, getWith(t, selfSrv.URL, wsman.WithTLS(wsman.VerifyChainAnyHost(pool(self), wsman.CheckRevocation(check("self"))))))
	assert.Empty(t, links, "the root is not checked against itself")
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
	require.NoError(t, getWith(t, srv2.URL, pin, wsman.WithRSAKeyExchange()), "RSA key exchange alone suffices for AMT 11–12 on TLS 1.2")
	require.ErrorIs(t, getWith(t, srv.URL, pin, wsman.WithRSAKeyExchange()), wsman.ErrConnect, "WithRSAKeyExchange keeps TLS 1.2 as the minimum")

	// max version bound
	modern := tlsServer(t, &tls.Config{Certificates: cfg.Certificates, MinVersion: tls.VersionTLS13})
	require.Error(t, getWith(t, modern.URL, pin, wsman.WithTLSVersions(0, tls.VersionTLS12)))
	require.NoError(t, getWith(t, modern.URL, pin))
}

// The policy runs after the handshake with the dial's context (the call's
// values, a deadline of its own) and a refused server sees no request byte.
func TestTLSPolicyBeforeAnyRequestByte(t *testing.T) {
	root := ca(t, "Root", nil)
	dev := leaf(t, root, []string{"device.example.com"}, nil, nil)
	var requests atomic.Int32
	srv := httptest.NewUnstartedServer(wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
		requests.Add(1)
		return gsAnswer(r)
	}))
	srv.TLS = serverCfg(dev)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	type sessionKey struct{}
	var seen atomic.Value
	policy := wsman.VerifyFunc(func(ctx context.Context, cs tls.ConnectionState) error {
		seen.Store(ctx.Value(sessionKey{}))
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
			return errors.New("handshake not complete")
		}
		return errNotTheDevice
	})
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithTLS(policy))
	require.NoError(t, err)
	ctx := context.WithValue(bg, sessionKey{}, "session-42")
	_, err = c.Get(ctx, gsURI, nil)
	var te *wsman.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, wsman.PhaseConnect, te.Phase)
	assert.False(t, te.RequestSent())
	var pe *wsman.TLSPolicyError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "custom", pe.Policy)
	assert.ErrorIs(t, err, errNotTheDevice)
	assert.Equal(t, "session-42", seen.Load(), "the policy sees the call's context values")
	assert.Zero(t, requests.Load(), "no request reached the refused server")

	// A server that cannot be reached at all is not a policy refusal.
	dead := httptest.NewUnstartedServer(nil)
	addr := dead.Listener.Addr().String()
	dead.Listener.Close()
	c2, err := wsman.New("https://"+addr+"/wsman", wsman.WithTLS(wsman.PinSHA256([32]byte{1})))
	require.NoError(t, err)
	_, err = c2.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrConnect)
	assert.False(t, errors.As(err, &pe), "connect failures carry no TLSPolicyError")
}

func TestSecureDialer(t *testing.T) {
	var dials atomic.Int32
	plain := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.GetResponse(r, gsInstance("h")) })
	tunnel := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, plain.srv.Listener.Addr().String())
	}
	// http:// over an encrypted tunnel (CIRA): Basic is allowed, the tunnel is
	// encrypted.
	c, err := wsman.New("http://device.invalid:16992/wsman", wsman.WithSecureDialer("cira", tunnel), wsman.WithBasicAuth("admin", "x"))
	require.NoError(t, err)
	_, err = c.Get(bg, gsURI, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(1), dials.Load())

	for name, opt := range map[string]wsman.Option{
		"policy":  wsman.WithTLS(wsman.InsecureSkipVerify()),
		"legacy":  wsman.WithLegacyTLS(),
		"rsa":     wsman.WithRSAKeyExchange(),
		"version": wsman.WithTLSVersions(tls.VersionTLS12, 0),
		"client":  wsman.WithClientCertificate(tls.Certificate{Certificate: [][]byte{{1}}, PrivateKey: struct{}{}}),
		"dialer":  wsman.WithDialer(tunnel),
	} {
		_, err := wsman.New("https://device:16993/wsman", wsman.WithSecureDialer("tls-psk", tunnel), opt)
		assert.ErrorIs(t, err, wsman.ErrTLSWithSecureDialer, name)
	}
	_, err = wsman.New("https://device:16993/wsman", wsman.WithSecureDialer("tls-psk", tunnel))
	require.NoError(t, err, "no TLS policy needed for secured connections")
	_, err = wsman.New("https://device:16993/wsman", wsman.WithSecureDialer("", tunnel))
	require.Error(t, err)

	// A failing secure dialer is a connect failure naming the dialer.
	failing, err := wsman.New("https://device:16993/wsman", wsman.WithSecureDialer("tls-psk",
		func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("unknown PSK identity")
		}))
	require.NoError(t, err)
	_, err = failing.Get(bg, gsURI, nil)
	require.ErrorIs(t, err, wsman.ErrConnect)
	assert.Contains(t, err.Error(), "tls-psk")
}

// WithClock is the default time of chain policies and of the handshake;
// WithRand feeds the handshake's randomness.
func TestTLSClockAndRand(t *testing.T) {
	root := ca(t, "Clock Root", nil)
	dev := leaf(t, root, []string{"device.example.com"}, nil, nil)
	srv := tlsServer(t, serverCfg(dev))
	policy := wsman.WithTLS(wsman.VerifyChain(pool(root), "device.example.com"))
	later := func() time.Time { return time.Now().Add(48 * time.Hour) }
	err := getWith(t, srv.URL, policy, wsman.WithClock(later))
	require.ErrorIs(t, err, wsman.ErrConnect)
	var inv x509.CertificateInvalidError
	require.ErrorAs(t, err, &inv, "expired by the client's clock")
	assert.Equal(t, x509.Expired, inv.Reason)
	require.NoError(t, getWith(t, srv.URL, policy, wsman.WithClock(time.Now)))
	// A policy's own CurrentTime wins over the client's clock.
	require.NoError(t, getWith(t, srv.URL, wsman.WithTLS(wsman.VerifyChain(pool(root), "device.example.com", wsman.CurrentTime(time.Now))), wsman.WithClock(later)))

	var n atomic.Int64
	counting := readerFunc(func(p []byte) (int, error) {
		n.Add(int64(len(p)))
		return rand.Read(p)
	})
	require.NoError(t, getWith(t, srv.URL, policy, wsman.WithRand(counting)))
	assert.Greater(t, n.Load(), int64(16+32), "more than the MessageID: the handshake drew from it")
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestTLSSessionCacheResumesAndKeepsPolicy(t *testing.T) {
	root := ca(t, "Root", nil)
	dev := leaf(t, root, []string{"device.example.com"}, nil, nil)
	cfg := serverCfg(dev)
	var resumed, full atomic.Int32
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.DidResume {
			resumed.Add(1)
		} else {
			full.Add(1)
		}
		return nil
	}
	srv := tlsServer(t, cfg)
	pin := sha256.Sum256(dev.cert.Raw)
	cache := tls.NewLRUClientSessionCache(2)
	var policyRuns atomic.Int32
	policy := wsman.VerifyFunc(func(_ context.Context, cs tls.ConnectionState) error {
		policyRuns.Add(1)
		if len(cs.PeerCertificates) == 0 || sha256.Sum256(cs.PeerCertificates[0].Raw) != pin {
			return errNotTheDevice
		}
		return nil
	})
	for range 2 { // two clients, two connections
		require.NoError(t, getWith(t, srv.URL+"/wsman", wsman.WithTLS(policy), wsman.WithTLSSessionCache(cache)))
	}
	assert.Equal(t, int32(1), full.Load())
	assert.Equal(t, int32(1), resumed.Load(), "the second connection resumed the first one's session")
	assert.Equal(t, int32(2), policyRuns.Load(), "the policy runs on the resumed connection too")

	// A policy that refuses still refuses a resumed connection. (Whether
	// it resumed is read on the client's side: a client that refuses aborts
	// before the server's VerifyConnection may have run.)
	var sawResumed atomic.Bool
	refuse := wsman.VerifyFunc(func(_ context.Context, cs tls.ConnectionState) error {
		sawResumed.Store(cs.DidResume)
		return errNotTheDevice
	})
	err := getWith(t, srv.URL+"/wsman", wsman.WithTLS(refuse), wsman.WithTLSSessionCache(cache))
	require.ErrorIs(t, err, errNotTheDevice)
	assert.True(t, sawResumed.Load(), "the refused connection had resumed a session")
	err = getWith(t, srv.URL+"/wsman", wsman.WithTLS(wsman.PinSHA256([32]byte{1})), wsman.WithTLSSessionCache(cache))
	require.ErrorIs(t, err, wsman.ErrPinMismatch)

	// The option needs the client's own transport.
	_, err = wsman.New(srv.URL+"/wsman", wsman.WithTLSSessionCache(cache), wsman.WithHTTPClient(srv.Client()))
	require.ErrorIs(t, err, wsman.ErrTLSWithCustomTransport)
}

// A device that sends its leaf without the intermediate verifies only when
// the caller supplies the intermediate with Intermediates; the pool adds to
// what the server sends and is never a trust anchor.
func TestTLSIntermediates(t *testing.T) {
	root := ca(t, "Test Root", nil)
	inter := ca(t, "Test Intermediate", root)
	named := leaf(t, inter, []string{"device.example.com"}, nil, nil)
	alone := tlsServer(t, serverCfg(named)) // the leaf alone, no intermediate
	tests := []struct {
		name   string
		policy wsman.TLSPolicy
		ok     bool
	}{
		{"missing intermediate", wsman.VerifyChain(pool(root), "device.example.com"), false},
		{"intermediate supplied", wsman.VerifyChain(pool(root), "device.example.com", wsman.Intermediates(pool(inter))), true},
		{"any host, intermediate supplied", wsman.VerifyChainAnyHost(pool(root), wsman.Intermediates(pool(inter))), true},
		{"an intermediate is no anchor", wsman.VerifyChain(pool(ca(t, "Other Root", nil)), "device.example.com", wsman.Intermediates(pool(inter))), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := getWith(t, alone.URL+"/wsman", wsman.WithTLS(tc.policy))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			var pe *wsman.TLSPolicyError
			require.ErrorAs(t, err, &pe)
			var ua x509.UnknownAuthorityError
			assert.ErrorAs(t, err, &ua)
		})
	}
}
