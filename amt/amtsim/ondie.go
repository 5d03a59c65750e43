package amtsim

import (
	"crypto"
	cryptorand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// OnDieCA is the simulator's stand-in for Intel's On-Die Certificate Authority:
// a throw-away root that issues the TLS certificates of devices configured
// with [Config.OnDie]. Tests give its [OnDieCA.Root] to the code under test as
// the trusted On-Die root.
//
// A device certificate it issues has the subject CN "AMT RCFG", the device
// UUID as subject serialNumber and as a URI SAN "urn:uuid:<uuid>" (how the
// simulator binds a certificate to a UUID; Intel's real certificates do not
// name the UUID, which [Config.OnDieUnnamed] reproduces), no extended key usage (like the
// real remote-configuration certificate, which lacks serverAuth), and — before
// AMT 19 — the device's host name and IP address. The CA is safe for
// concurrent use.
type OnDieCA struct {
	root *x509.Certificate
	key  crypto.Signer
	rand io.Reader
	now  func() time.Time
}

// NewOnDieCA makes a CA whose RSA-2048 key comes from keys (nil: [DefaultKeys]),
// valid from a year before now for 30 years. now and rand may be nil.
func NewOnDieCA(keys KeySource, now func() time.Time, rand io.Reader) (*OnDieCA, error) {
	if keys == nil {
		keys = DefaultKeys()
	}
	if now == nil {
		now = time.Now
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	key, err := keys.RSAKey(2048)
	if err != nil {
		return nil, fmt.Errorf("amtsim: On-Die CA key: %w", err)
	}
	t := now()
	serial, err := randomSerial(rand)
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         "amtsim On-Die CSME Root CA (TEST ONLY)",
			OrganizationalUnit: []string{"On Die CSME"},
			Organization:       []string{"amtsim simulated ODCA"},
		},
		NotBefore:             t.Add(-365 * 24 * time.Hour),
		NotAfter:              t.Add(30 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand, tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: On-Die CA certificate: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &OnDieCA{root: root, key: key, rand: rand, now: now}, nil
}

// Root returns the CA's self-signed certificate.
func (ca *OnDieCA) Root() *x509.Certificate { return ca.root }

// Pool returns a pool holding only [OnDieCA.Root].
func (ca *OnDieCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}

// UUIDOf returns the UUID a certificate issued by an OnDieCA binds to (its URI
// SAN urn:uuid:…), or false.
func UUIDOf(cert *x509.Certificate) (amt.UUID, bool) {
	for _, u := range cert.URIs {
		if u.Scheme == "urn" && len(u.Opaque) == len("uuid:")+36 && u.Opaque[:5] == "uuid:" {
			id, err := amt.ParseUUID(u.Opaque[5:])
			if err == nil {
				return id, true
			}
		}
	}
	return amt.UUID{}, false
}

// issue makes the device certificate for uuid and pub; named puts the UUID in
// the subject serialNumber and a urn:uuid SAN.
func (ca *OnDieCA) issue(uuid amt.UUID, pub crypto.PublicKey, names deviceNames, named bool) (*x509.Certificate, error) {
	serial, err := randomSerial(ca.rand)
	if err != nil {
		return nil, err
	}
	t := ca.now()
	tpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   "AMT RCFG",
			SerialNumber: uuid.String(),
			Organization: []string{"amtsim simulated device"},
		},
		NotBefore:          t.Add(-24 * time.Hour),
		NotAfter:           t.Add(20 * 365 * 24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		URIs:               []*url.URL{{Scheme: "urn", Opaque: "uuid:" + uuid.String()}},
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	if !named {
		tpl.Subject.SerialNumber = ""
		tpl.URIs = nil
	}
	names.apply(tpl)
	der, err := x509.CreateCertificate(ca.rand, tpl, ca.root, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: issuing On-Die device certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// deviceNames are the host names and addresses a pre-19 device certificate
// carries.
type deviceNames struct {
	dns []string
	ips []net.IP
}

func (n deviceNames) apply(t *x509.Certificate) {
	t.DNSNames = append(t.DNSNames, n.dns...)
	t.IPAddresses = append(t.IPAddresses, n.ips...)
}

// selfSigned makes the self-signed device certificate older platforms (and
// rogue devices without an On-Die certificate) present.
func selfSigned(rand io.Reader, now time.Time, key crypto.Signer, names deviceNames, hostless bool) (*x509.Certificate, error) {
	serial, err := randomSerial(rand)
	if err != nil {
		return nil, err
	}
	cn := "Intel(R) AMT"
	if hostless {
		cn = "Intel(R) AMT self-signed certificate"
	} else if len(names.dns) > 0 {
		cn = names.dns[0]
	}
	tpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: cn, Organization: []string{"amtsim simulated device"}},
		NotBefore:          now.Add(-24 * time.Hour),
		NotAfter:           now.Add(20 * 365 * 24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	names.apply(tpl)
	der, err := x509.CreateCertificate(rand, tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: self-signed device certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func randomSerial(rand io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, errors.Join(errors.New("amtsim: reading randomness"), err)
	}
	b[0] &= 0x7f
	b[0] |= 0x01
	return new(big.Int).SetBytes(b[:]), nil
}
