package wsman

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/amtkit/amtkit/internal/crlext"
	"time"
)

// TLSPolicy decides whether a server's certificate is accepted. Every https
// endpoint needs one ([ErrNoTLSPolicy]); build it with [PinSHA256],
// [PinSPKISHA256], [VerifyChain], [VerifyChainAnyHost], [VerifyFunc] or, named
// so on purpose, [InsecureSkipVerify]. The zero value is invalid.
type TLSPolicy struct {
	name     string
	verify   func(tls.ConnectionState) error
	insecure bool
}

// String names the policy (for logs).
func (p TLSPolicy) String() string { return p.name }

// PinSHA256 accepts a server whose leaf certificate's DER encoding hashes
// (SHA-256) to one of sums. No chain or host name check is made: the pin is
// the trust. Use it for a device whose certificate was recorded earlier.
func PinSHA256(sums ...[32]byte) TLSPolicy {
	pins := append([][32]byte(nil), sums...)
	return TLSPolicy{name: "pin-sha256", verify: func(cs tls.ConnectionState) error {
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
	return TLSPolicy{name: "pin-spki-sha256", verify: func(cs tls.ConnectionState) error {
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
	crl           func(issuer *x509.Certificate) (*x509.RevocationList, error)
	anyUsage      bool
}

// Intermediates adds intermediate certificates to those the server sends.
func Intermediates(pool *x509.CertPool) ChainOption {
	return func(c *chainConfig) { c.intermediates = pool }
}

// CurrentTime sets the clock used for validity checks (nil = time.Now).
func CurrentTime(now func() time.Time) ChainOption {
	return func(c *chainConfig) { c.now = now }
}

// AnyExtKeyUsage accepts chains whatever their extended key usages (some device
// certificates lack serverAuth). By default serverAuth is required.
func AnyExtKeyUsage() ChainOption {
	return func(c *chainConfig) { c.anyUsage = true }
}

// CheckCRL turns on revocation checking: for every certificate of the verified
// chain except the root, fetch returns the CRL of its issuer. The connection
// fails closed — [ErrRevocationUnavailable] — when fetch fails, the CRL's
// signature does not verify with the issuer's key, or the CRL is past its
// NextUpdate; and with [ErrCertificateRevoked] when the certificate is listed.
// fetch is called during the TLS handshake; cache inside it as needed.
func CheckCRL(fetch func(issuer *x509.Certificate) (*x509.RevocationList, error)) ChainOption {
	return func(c *chainConfig) { c.crl = fetch }
}

// VerifyChain accepts a server whose certificate chains to roots and is valid for
// host (a DNS name or IP address). host must not be empty: for certificates
// without a host name (AMT 19+ local certificates) use [VerifyChainAnyHost].
func VerifyChain(roots *x509.CertPool, host string, opts ...ChainOption) TLSPolicy {
	if host == "" || roots == nil {
		return TLSPolicy{name: "verify-chain(invalid)", verify: func(tls.ConnectionState) error {
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
		return TLSPolicy{name: "verify-chain-any-host(invalid)", verify: func(tls.ConnectionState) error {
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
	return TLSPolicy{name: name, verify: func(cs tls.ConnectionState) error {
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
		now := time.Now
		if cc.now != nil {
			now = cc.now
			vo.CurrentTime = now()
		}
		chains, err := cs.PeerCertificates[0].Verify(vo)
		if err != nil {
			return err
		}
		if cc.crl == nil {
			return nil
		}
		return checkRevocation(chains[0], cc.crl, now())
	}}
}

func checkRevocation(chain []*x509.Certificate, fetch func(*x509.Certificate) (*x509.RevocationList, error), now time.Time) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		crl, err := fetch(issuer)
		if err != nil {
			return fmt.Errorf("%w: CRL of %q: %v", ErrRevocationUnavailable, issuer.Subject.CommonName, err)
		}
		if crl == nil {
			return fmt.Errorf("%w: no CRL for %q", ErrRevocationUnavailable, issuer.Subject.CommonName)
		}
		if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || !bytes.Equal(crl.RawIssuer, cert.RawIssuer) {
			return fmt.Errorf("%w: the CRL fetched for %q is issued by %q", ErrRevocationUnavailable, issuer.Subject.CommonName, crl.Issuer.String())
		}
		if err := crl.CheckSignatureFrom(issuer); err != nil {
			return fmt.Errorf("%w: CRL of %q does not verify: %v", ErrRevocationUnavailable, issuer.Subject.CommonName, err)
		}
		if err := crlext.Check(crl); err != nil {
			return fmt.Errorf("%w: CRL of %q is %v", ErrRevocationUnavailable, issuer.Subject.CommonName, err)
		}
		if now.Before(crl.ThisUpdate) {
			return fmt.Errorf("%w: CRL of %q is not valid until %s", ErrRevocationUnavailable, issuer.Subject.CommonName, crl.ThisUpdate.UTC().Format(time.RFC3339))
		}
		if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
			return fmt.Errorf("%w: CRL of %q expired at %s", ErrRevocationUnavailable, issuer.Subject.CommonName, crl.NextUpdate.UTC().Format(time.RFC3339))
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return fmt.Errorf("%w: %q (serial %s) revoked at %s", ErrCertificateRevoked, cert.Subject.CommonName, cert.SerialNumber, e.RevocationTime.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// VerifyFunc accepts a server when f returns nil for the handshake's connection
// state (f sees PeerCertificates; no other check is made). Use it for policies
// such as On-Die CA verification bound to a device UUID.
func VerifyFunc(f func(tls.ConnectionState) error) TLSPolicy {
	return TLSPolicy{name: "custom", verify: f}
}

// InsecureSkipVerify accepts any server certificate. The connection is encrypted
// but not authenticated; anyone on the path can impersonate the device. Use it
// only to record a certificate for later pinning (read it from
// [Response.TLS]), never to send secrets.
func InsecureSkipVerify() TLSPolicy {
	return TLSPolicy{name: "insecure-skip-verify", insecure: true}
}

// legacySuites returns the RSA key-exchange suites old AMT firmware offers.
func legacySuites() []uint16 {
	return []uint16{
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
}

// tlsConfig builds the client tls.Config for the policy and options.
func (c *config) tlsConfig(serverName string) *tls.Config {
	tc := &tls.Config{
		ServerName: serverName,
		// Verification is done by the policy in VerifyConnection, which also
		// runs on resumed sessions.
		InsecureSkipVerify:   true,
		GetClientCertificate: c.clientCert,
	}
	if c.tls != nil && c.tls.verify != nil {
		tc.VerifyConnection = c.tls.verify
	}
	if c.legacyTLS {
		tc.MinVersion = tls.VersionTLS10
		var suites []uint16
		for _, s := range tls.CipherSuites() {
			suites = append(suites, s.ID)
		}
		tc.CipherSuites = append(suites, legacySuites()...)
	}
	if c.minTLS != 0 {
		tc.MinVersion = c.minTLS
	}
	if c.maxTLS != 0 {
		tc.MaxVersion = c.maxTLS
	}
	return tc
}
