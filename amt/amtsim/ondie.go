package amtsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// OnDieCA is the simulator's stand-in for Intel's On-Die Certificate Authority
// (ODCA): a throw-away root that issues the TLS certificates of devices
// configured with [Config.OnDie], and the Intel-shaped hierarchy the local TLS
// port presents during secure host-based configuration. Tests give its
// [OnDieCA.Root] to the code under test as the trusted On-Die root.
//
// The root is, like Intel's "OnDie CA Root Cert Signing" root (rpc-go
// internal/certs/trustedstore), an ECDSA P-384 self-signed CA; its subject
// carries the same OU but names amtsim as organisation, and it is NOT
// Intel's.
//
// Remote configuration (the 16993 role): the device certificate it issues has
// the subject CN "AMT RCFG", the device UUID as subject serialNumber and as a
// URI SAN "urn:uuid:<uuid>" (how the simulator binds a certificate to a UUID;
// Intel's real certificates do not name the UUID, which [Config.OnDieUnnamed]
// reproduces), no extended key usage, and — before AMT 19 — the device's host
// name and IP address; it is issued by the root directly.
//
// The local TLS port (see [Device.LocalTLSEndpoint]) presents the chain real
// AMT 19+ devices send, six certificates below the root (rpc-go pull request
// 1329 logs one from a Lunar Lake device; rpc-go issue 1068 shows a leaf's
// bytes):
//
//	AMT RCFG                                   leaf, ECDSA P-384, fresh per StartConfigurationHBased
//	ODCA 2 CSME <PLT> SOC SVN 01 AMT   CA      per device
//	ODCA 2 CSME <PLT> SOC SVN 01 Kernel CA     per device
//	ODCA 2 CSME <PLT> SOC ROM CA               per device (its hash is the platform's hardware ID)
//	www.intel.com, OU=ODCA 2 CSME P_<PLT> SOC 00003648 ZE Issuing CA   per platform
//	www.intel.com, OU=ODCA CA2 CSME Intermediate CA                    one per CA
//	(root, not sent)
//
// The leaf has, as Intel's, a critical basicConstraints CA:FALSE, a critical
// key usage digitalSignature|keyEncipherment, a critical extended key usage
// serverAuth and a CRL distribution point (a placeholder .invalid URL, not
// Intel's). <PLT> is a platform label chosen from the version (LNL for 19 and
// 20, PTL for 21, NVL from 22): illustrative only. The CA is safe for
// concurrent use.
type OnDieCA struct {
	root *x509.Certificate
	key  crypto.Signer
	rand io.Reader
	now  func() time.Time

	mu   sync.Mutex
	mid  *odcaNode            // ODCA CA2 CSME Intermediate CA
	plat map[string]*odcaNode // Issuing CA per platform label
}

// odcaNode is one CA of the hierarchy with its key.
type odcaNode struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewOnDieCA makes a CA with a new ECDSA P-384 root key, valid from a year
// before now for 30 years. rand draws the serial numbers and is passed to
// crypto/ecdsa and crypto/x509, which since Go 1.26 ignore it for keys and
// signatures unless GODEBUG=cryptocustomrand=1 is set. keys is not used (the
// root was RSA before the hierarchy took Intel's shape; the parameter is
// kept). now and rand may be nil.
func NewOnDieCA(keys KeySource, now func() time.Time, rand io.Reader) (*OnDieCA, error) {
	_ = keys
	if now == nil {
		now = time.Now
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand)
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
			OrganizationalUnit: []string{"OnDie CA Root Cert Signing"},
			Organization:       []string{"amtsim simulated ODCA"},
		},
		NotBefore:             t.Add(-365 * 24 * time.Hour),
		NotAfter:              t.Add(30 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand, tpl, tpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("amtsim: On-Die CA certificate: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &OnDieCA{root: root, key: key, rand: rand, now: now, plat: map[string]*odcaNode{}}, nil
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
		NotBefore: t.Add(-24 * time.Hour),
		NotAfter:  t.Add(20 * 365 * 24 * time.Hour),
		KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		URIs:      []*url.URL{{Scheme: "urn", Opaque: "uuid:" + uuid.String()}},
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

// The hierarchy of the local TLS port.

// odcaCRL is the CRL distribution point written to the hierarchy's
// certificates: where Intel's point to tsci.intel.com's ODCA CRLs, the
// simulator's point nowhere (.invalid).
const odcaCRL = "http://odca.amtsim.invalid/content/OnDieCA/crls/ODCA_CA2_CSME_Indirect.crl"

// platformLabel is the SoC label in the hierarchy's names for a firmware
// version: illustrative, not a claim about which platform runs which release.
func platformLabel(v amt.Version) string {
	switch {
	case v.Major >= 22:
		return "NVL"
	case v.Major == 21:
		return "PTL"
	}
	return "LNL"
}

// signNode issues a CA (or, with leaf, an end-entity) certificate for a fresh
// ECDSA P-384 key under parent.
func (ca *OnDieCA) signNode(parent *odcaNode, subject pkix.Name, isCA bool, mutate func(*x509.Certificate)) (*odcaNode, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), ca.rand)
	if err != nil {
		return nil, fmt.Errorf("amtsim: On-Die key: %w", err)
	}
	serial, err := randomSerial(ca.rand)
	if err != nil {
		return nil, err
	}
	t := ca.now()
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             t.Add(-30 * 24 * time.Hour),
		NotAfter:              t.Add(25 * 365 * 24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		CRLDistributionPoints: []string{odcaCRL},
	}
	if isCA {
		tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if mutate != nil {
		mutate(tpl)
	}
	pc, pk := ca.root, ca.key
	if parent != nil {
		pc, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(ca.rand, tpl, pc, key.Public(), pk)
	if err != nil {
		return nil, fmt.Errorf("amtsim: issuing On-Die certificate %q: %w", subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &odcaNode{cert: c, key: key}, nil
}

// issuing returns the platform's Issuing CA (and the CA's intermediate),
// made on first use.
func (ca *OnDieCA) issuing(label string) (mid, iss *odcaNode, err error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.mid == nil {
		n, err := ca.signNode(nil, pkix.Name{CommonName: "www.intel.com", OrganizationalUnit: []string{"ODCA CA2 CSME Intermediate CA"},
			Organization: []string{"amtsim simulated ODCA"}}, true, nil)
		if err != nil {
			return nil, nil, err
		}
		ca.mid = n
	}
	if ca.plat == nil {
		ca.plat = map[string]*odcaNode{}
	}
	if n := ca.plat[label]; n != nil {
		return ca.mid, n, nil
	}
	n, err := ca.signNode(ca.mid, pkix.Name{CommonName: "www.intel.com",
		OrganizationalUnit: []string{"ODCA 2 CSME P_" + label + " SOC 00003648 ZE Issuing CA"},
		Organization:       []string{"amtsim simulated ODCA"}}, true, nil)
	if err != nil {
		return nil, nil, err
	}
	ca.plat[label] = n
	return ca.mid, n, nil
}

// odcaDevice is one device's part of the hierarchy: ROM, Kernel and AMT CAs
// over the platform's Issuing CA and the CA's intermediate.
type odcaDevice struct {
	ca                           *OnDieCA
	rom, kernel, amtCA, iss, mid *odcaNode
}

// newDevice makes a device's ROM, Kernel and AMT CAs.
func (ca *OnDieCA) newDevice(label string) (*odcaDevice, error) {
	mid, iss, err := ca.issuing(label)
	if err != nil {
		return nil, err
	}
	d := &odcaDevice{ca: ca, mid: mid, iss: iss}
	prefix := "ODCA 2 CSME " + label + " SOC "
	if d.rom, err = ca.signNode(iss, pkix.Name{CommonName: prefix + "ROM CA"}, true, nil); err != nil {
		return nil, err
	}
	if d.kernel, err = ca.signNode(d.rom, pkix.Name{CommonName: prefix + "SVN 01 Kernel CA"}, true, nil); err != nil {
		return nil, err
	}
	if d.amtCA, err = ca.signNode(d.kernel, pkix.Name{CommonName: prefix + "SVN 01 AMT   CA"}, true, nil); err != nil {
		return nil, err
	}
	return d, nil
}

// hardwareID is what the platform's UPID carries to bind the chain to it: the
// first 20 bytes of the SHA-256 of the ROM CA certificate (rpc-go
// internal/certs/lmsTls.go, VerifyUPIDBinding).
func (d *odcaDevice) hardwareID() []byte {
	sum := sha256.Sum256(d.rom.cert.Raw)
	return append([]byte(nil), sum[:20]...)
}

// criticalServerAuth is an extended key usage extension holding serverAuth,
// marked critical as in Intel's AMT RCFG leaf (Go writes the EKU extension
// non-critical).
var criticalServerAuth = func() pkix.Extension {
	v, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}})
	if err != nil {
		panic(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: v}
}()

// issueLeaf makes a fresh "AMT RCFG" leaf and returns it with the chain the
// local TLS port sends (leaf first, the root left out).
func (d *odcaDevice) issueLeaf() (*tls.Certificate, error) {
	n, err := d.ca.signNode(d.amtCA, pkix.Name{CommonName: "AMT RCFG"}, false, func(t *x509.Certificate) {
		t.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		t.ExtraExtensions = append(t.ExtraExtensions, criticalServerAuth)
	})
	if err != nil {
		return nil, err
	}
	chain := [][]byte{n.cert.Raw}
	for _, c := range []*odcaNode{d.amtCA, d.kernel, d.rom, d.iss, d.mid} {
		chain = append(chain, c.cert.Raw)
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: n.key, Leaf: n.cert}, nil
}
