package wsman

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// TLSPolicy decides whether a server's certificate is accepted. Every https
// endpoint needs one ([ErrNoTLSPolicy]); build it with [PinSHA256],
// [PinSPKISHA256], [VerifyChain], [VerifyChainAnyHost], [VerifyFunc] or, named
// so on purpose, [InsecureSkipVerify]. The zero value is invalid.
//
// The client runs the policy itself, after each TLS handshake and before the
// connection carries any request byte, with the dial's context; a refusal
// closes the connection and fails the call with a [*TLSPolicyError] inside a
// [*TransportError] of phase [PhaseConnect] (errors.Is(err, [ErrConnect])).
type TLSPolicy struct {
	name string
	// verify checks a completed handshake; now is the client's clock
	// ([WithClock]).
	verify   func(ctx context.Context, cs tls.ConnectionState, now func() time.Time) error
	insecure bool
}

// check runs the policy on a completed handshake.
func (p *TLSPolicy) check(ctx context.Context, cs tls.ConnectionState, now func() time.Time) error {
	if p.insecure {
		return nil
	}
	if p.verify == nil {
		return errors.New("wsman: empty TLSPolicy")
	}
	return p.verify(ctx, cs, now)
}

// TLSPolicyError is a server the TLS policy refused: a pin that does not
// match, a chain that does not verify, a revocation check that fails (or
// cannot be made), a [VerifyFunc] that says no. The handshake had completed and
// the connection was closed before any request byte was written, so the server
// saw nothing of the call. It is the Err of a [*TransportError] in
// [PhaseConnect]; errors.As reaches it, and through Unwrap the policy's own
// error (e.g. [ErrPinMismatch], [ErrRevocationCheck], a
// *x509.UnknownAuthorityError, or whatever a VerifyFunc or a revocation
// function returned). A failure to connect at all (dial, handshake) is not a
// TLSPolicyError: that tells "the device is not who we expect" from "the device
// could not be reached".
type TLSPolicyError struct {
	Policy string // the policy's name, as [TLSPolicy.String]
	Err    error
}

// Error names the policy and its reason.
func (e *TLSPolicyError) Error() string {
	return "wsman: TLS policy " + e.Policy + " refused the server: " + e.Err.Error()
}

// Unwrap returns the policy's reason.
func (e *TLSPolicyError) Unwrap() error { return e.Err }

// String names the policy (for logs).
func (p TLSPolicy) String() string { return p.name }

// PinSHA256 accepts a server whose leaf certificate's DER encoding hashes
// (SHA-256) to one of sums. No chain or host name check is made: the pin is
// the trust. Use it for a device whose certificate was recorded earlier.
func PinSHA256(sums ...[32]byte) TLSPolicy {
	pins := append([][32]byte(nil), sums...)
	return TLSPolicy{name: "pin-sha256", verify: func(_ context.Context, cs tls.ConnectionState, _ func() time.Time) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: server sent no certificate", ErrPinMismatch)
		}
		return matchPin(sha256.Sum256(cs.PeerCertificates[0].Raw), pins, "certificate")
	}}
}

// PinSPKISHA256 accepts a server whose leaf certificate's public key
// (SubjectPublicKeyInfo DER) hashes to one of sums; it survives re-issuing a
// certificate for the same key.
func PinSPKISHA256(sums ...[32]byte) TLSPolicy {
	pins := append([][32]byte(nil), sums...)
	return TLSPolicy{name: "pin-spki-sha256", verify: func(_ context.Context, cs tls.ConnectionState, _ func() time.Time) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: server sent no certificate", ErrPinMismatch)
		}
		return matchPin(sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo), pins, "public key")
	}}
}

func matchPin(got [32]byte, pins [][32]byte, what string) error {
	ok := 0
	for _, p := range pins {
		ok |= subtle.ConstantTimeCompare(got[:], p[:])
	}
	if ok == 1 {
		return nil
	}
	return fmt.Errorf("%w: server %s SHA-256 %x is not among the %d pinned", ErrPinMismatch, what, got, len(pins))
}

// ChainOption refines [VerifyChain] and [VerifyChainAnyHost].
type ChainOption func(*chainConfig)

type chainConfig struct {
	intermediates *x509.CertPool
	now           func() time.Time
	revocation    func(ctx context.Context, cert, issuer *x509.Certificate) error
	anyUsage      bool
	lapsed        [][32]byte
}

// Intermediates adds intermediate certificates to those the server sends.
func Intermediates(pool *x509.CertPool) ChainOption {
	return func(c *chainConfig) { c.intermediates = pool }
}

// CurrentTime sets the clock used for validity checks. By default the
// client's clock is used ([WithClock]; time.Now without it).
func CurrentTime(now func() time.Time) ChainOption {
	return func(c *chainConfig) { c.now = now }
}

// AcceptExpiredPinned lets a leaf whose DER encoding hashes (SHA-256) to
// one of sums pass after it expired: the chain is then verified as of the
// leaf's NotAfter instead of now (roots, names, usages and, with
// [CheckRevocation], revocation are still checked). Use it for a
// certificate recorded when it was installed, so that a device that was
// off past its certificate's expiry can still be reached to renew it, as a
// pin ([PinSHA256]) would reach it. Any other leaf is checked as of now.
func AcceptExpiredPinned(sums ...[32]byte) ChainOption {
	pins := append([][32]byte(nil), sums...)
	return func(c *chainConfig) { c.lapsed = append(c.lapsed, pins...) }
}

// AnyExtKeyUsage accepts chains whatever their extended key usages (some device
// certificates lack serverAuth). By default serverAuth is required.
func AnyExtKeyUsage() ChainOption {
	return func(c *chainConfig) { c.anyUsage = true }
}

// CheckRevocation turns on revocation checking: after the chain verifies, f
// is called for each link (cert, issuer) of the verified chain, leaf first;
// the root (the anchor from the pool) is not checked against itself. f
// returns nil when cert is in good standing and an error when it is revoked
// or when its status cannot be read — the connection fails closed on any
// error, with [ErrRevocationCheck] and f's error both reachable with
// errors.Is (e.g. certs.ErrRevoked, certs.ErrCRLStale). f runs during the
// connection set-up with the dial's context (which carries the call's
// values and a bound of its own); cache inside f as needed.
//
// The shape is plain standard-library types, shared by wsman, certs and
// provisioning: certs.CRLRevocation builds one from a CRL source.
func CheckRevocation(f func(ctx context.Context, cert, issuer *x509.Certificate) error) ChainOption {
	return func(c *chainConfig) { c.revocation = f }
}

// VerifyChain accepts a server whose certificate chains to roots and is valid for
// host (a DNS name or IP address). host must not be empty: for certificates
// without a host name (AMT 19+ local certificates) use [VerifyChainAnyHost].
func VerifyChain(roots *x509.CertPool, host string, opts ...ChainOption) TLSPolicy {
	if host == "" || roots == nil {
		return TLSPolicy{name: "verify-chain(invalid)", verify: func(context.Context, tls.ConnectionState, func() time.Time) error {
			return errors.New("wsman: VerifyChain needs a root pool and a host name (use VerifyChainAnyHost to skip the name check)")
		}}
	}
	return verifyChain(roots, host, opts)
}

// VerifyChainAnyHost accepts a server whose certificate chains to roots, whatever
// names it carries: AMT 19+ local certificates have no subject alternative name.
// Prefer [VerifyChain] whenever the expected name is known.
func VerifyChainAnyHost(roots *x509.CertPool, opts ...ChainOption) TLSPolicy {
	if roots == nil {
		return TLSPolicy{name: "verify-chain-any-host(invalid)", verify: func(context.Context, tls.ConnectionState, func() time.Time) error {
			return errors.New("wsman: VerifyChainAnyHost needs a root pool")
		}}
	}
	return verifyChain(roots, "", opts)
}

func verifyChain(roots *x509.CertPool, host string, opts []ChainOption) TLSPolicy {
	var cc chainConfig
	for _, o := range opts {
		o(&cc)
	}
	name := "verify-chain(" + host + ")"
	if host == "" {
		name = "verify-chain-any-host"
	}
	return TLSPolicy{name: name, verify: func(ctx context.Context, cs tls.ConnectionState, clock func() time.Time) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("wsman: server sent no certificate")
		}
		inter := x509.NewCertPool()
		if cc.intermediates != nil {
			inter = cc.intermediates.Clone()
		}
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		vo := x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			DNSName:       host,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if cc.anyUsage {
			vo.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		}
		switch {
		case cc.now != nil:
			vo.CurrentTime = cc.now()
		case clock != nil:
			vo.CurrentTime = clock()
		}
		leaf := cs.PeerCertificates[0]
		if len(cc.lapsed) > 0 {
			if vo.CurrentTime.IsZero() {
				vo.CurrentTime = time.Now()
			}
			if vo.CurrentTime.After(leaf.NotAfter) && matchPin(sha256.Sum256(leaf.Raw), cc.lapsed, "certificate") == nil {
				vo.CurrentTime = leaf.NotAfter
			}
		}
		chains, err := leaf.Verify(vo)
		if err != nil {
			return err
		}
		if cc.revocation == nil {
			return nil
		}
		chain := chains[0]
		for i := 0; i+1 < len(chain); i++ {
			if err := cc.revocation(ctx, chain[i], chain[i+1]); err != nil {
				return fmt.Errorf("%w: %q (serial %s): %w", ErrRevocationCheck, chain[i].Subject.String(), chain[i].SerialNumber, err)
			}
		}
		return nil
	}}
}

// VerifyFunc accepts a server when f returns nil for the completed
// handshake's connection state (f sees PeerCertificates; no other check is
// made). f runs with the dial's context, after the handshake and before any
// request byte; its error is kept whole inside the [*TLSPolicyError], so a
// caller's own error types stay reachable with errors.As. Use it for policies
// such as On-Die CA verification bound to a device UUID.
func VerifyFunc(f func(ctx context.Context, cs tls.ConnectionState) error) TLSPolicy {
	if f == nil {
		return TLSPolicy{name: "custom(invalid)", verify: func(context.Context, tls.ConnectionState, func() time.Time) error {
			return errors.New("wsman: VerifyFunc(nil)")
		}}
	}
	return TLSPolicy{name: "custom", verify: func(ctx context.Context, cs tls.ConnectionState, _ func() time.Time) error {
		return f(ctx, cs)
	}}
}

// InsecureSkipVerify accepts any server certificate. The connection is encrypted
// but not authenticated; anyone on the path can impersonate the device. Use it
// only to record a certificate for later pinning (read it from
// [Response.TLS]), never to send secrets.
func InsecureSkipVerify() TLSPolicy {
	return TLSPolicy{name: "insecure-skip-verify", insecure: true}
}

// rsaKeyExchangeSuites are the RSA key-exchange cipher suites old AMT
// firmware (11 and 12) needs, offered only with [WithRSAKeyExchange] or
// [WithLegacyTLS]: the three go-wsman-messages' client adds when weak suites
// are allowed (pkg/wsman/client/wsman.go, AllowInsecureCipherSuites) and
// Device Management Toolkit console issue 445 lists for AMT 11 and 12 (its
// fourth, TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, is not implemented by
// crypto/tls). Go has not offered them by default since Go 1.22 (golang/go
// issue 63413). This is the module's only list of legacy suites.
func rsaKeyExchangeSuites() []uint16 {
	return []uint16{
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
}

// connectTimeout bounds a new connection of the default transport: the dial,
// the TLS handshake and the policy together. net/http dials apart from the
// call's cancellation (a connection may serve a later call), so the dial needs
// a bound of its own.
const connectTimeout = 30 * time.Second

// tlsConfig builds the client tls.Config for the options.
func (c *config) tlsConfig(serverName string) *tls.Config {
	tc := &tls.Config{
		ServerName: serverName,
		// The module's one InsecureSkipVerify: crypto/tls's own check (system
		// roots and host name) is replaced by the client's TLSPolicy, which
		// dialTLS runs on every handshake, resumed ones included, before the
		// connection is used. No connection of this config is used unverified
		// unless the policy is the one named InsecureSkipVerify.
		InsecureSkipVerify:   true,
		GetClientCertificate: c.clientCert,
		Rand:                 c.rand,
		Time:                 c.now,
		MinVersion:           tls.VersionTLS12,
	}
	if c.rsaKEX || c.legacyTLS {
		var suites []uint16
		for _, s := range tls.CipherSuites() {
			suites = append(suites, s.ID)
		}
		tc.CipherSuites = append(suites, rsaKeyExchangeSuites()...)
	}
	if c.legacyTLS {
		tc.MinVersion = tls.VersionTLS10
	}
	if c.minTLS != 0 {
		tc.MinVersion = c.minTLS
	}
	if c.maxTLS != 0 {
		tc.MaxVersion = c.maxTLS
	}
	tc.ClientSessionCache = c.sessions
	return tc
}

// dialFunc is the shape of net.Dialer.DialContext.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// bounded wraps dial so that it gives up after connectTimeout.
func bounded(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		return dial(ctx, network, addr)
	}
}

// tlsDialer makes the https connections of the default transport: it dials
// with the client's dialer, runs the handshake itself and then the policy, so
// that a refused server never sees a request byte.
type tlsDialer struct {
	dial   dialFunc
	config *tls.Config
	policy TLSPolicy
	now    func() time.Time
}

func (d *tlsDialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	raw, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, d.config)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if err := d.check(ctx, conn); err != nil {
		// Close the socket, not the TLS session: nothing more is written,
		// not even a close_notify a stalled server could block.
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// handshake dials and completes a handshake under the policy, then closes the
// connection without writing anything more. When the handshake itself fails
// after the server's certificates arrived, the state (HandshakeComplete
// false) is returned with the error: what the server presented, unverified.
func (d *tlsDialer) handshake(ctx context.Context, network, addr string) (*tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	raw, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	conn := tls.Client(raw, d.config)
	if err := conn.HandshakeContext(ctx); err != nil {
		if cs := conn.ConnectionState(); len(cs.PeerCertificates) > 0 {
			return &cs, err
		}
		return nil, err
	}
	if err := d.check(ctx, conn); err != nil {
		return nil, err
	}
	cs := conn.ConnectionState()
	return &cs, nil
}

// check runs the policy on conn's handshake. It is a function of its own so
// that the connection state it copies does not widen dialTLS's frame, which
// is on a session's stack while the device takes its second or more to answer
// a handshake (a goroutine's stack is halved only when less than a quarter of
// it is in use).
//
//go:noinline
func (d *tlsDialer) check(ctx context.Context, conn *tls.Conn) error {
	if err := d.policy.check(ctx, conn.ConnectionState(), d.now); err != nil {
		return &TLSPolicyError{Policy: d.policy.name, Err: err}
	}
	return nil
}
