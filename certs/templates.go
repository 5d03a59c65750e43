package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"time"
)

// Default lifetimes and back-dating of the templates.
const (
	// DefaultBackdate is how far before "now" a template's NotBefore lies, so
	// that a device whose clock is behind still accepts the certificate (AMT's
	// clock is often wrong until it is synchronised; a platform whose clock
	// keeps local time is hours off). Two days: the peers back-date further
	// still (rpc-go internal/certs a year, RPS and MeshCentral to 2018), and
	// [LocalCA.Issue] never back-dates before its CA's own NotBefore.
	DefaultBackdate = 48 * time.Hour
	// DefaultLeafLifetime is the lifetime of leaf templates: one year.
	DefaultLeafLifetime = 365 * Day
	// DefaultCALifetime is the lifetime of CA templates: ten years.
	DefaultCALifetime = 10 * 365 * Day
)

// CertOptions are the fields every template shares. The zero value gives a random
// 128-bit serial from crypto/rand and validity from DefaultBackdate (two days)
// ago for the template's default lifetime.
type CertOptions struct {
	// SerialNumber, when nil, is 16 random bytes from Rand with the top bit clear
	// (positive, as RFC 5280 and Go's parser require).
	SerialNumber *big.Int
	// NotBefore, when zero, is Now() - DefaultBackdate.
	NotBefore time.Time
	// NotAfter, when zero, is NotBefore + Lifetime.
	NotAfter time.Time
	// Lifetime, when zero, is the template's default (DefaultLeafLifetime or
	// DefaultCALifetime).
	Lifetime time.Duration
	// Rand is the source for serial numbers; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o CertOptions) fill(t *x509.Certificate, lifetime time.Duration) error {
	serial := o.SerialNumber
	if serial == nil {
		var err error
		if serial, err = RandomSerial(o.Rand); err != nil {
			return err
		}
	}
	if serial.Sign() <= 0 {
		return fmt.Errorf("%w: serial number must be positive", ErrInvalidOption)
	}
	nb := o.NotBefore
	if nb.IsZero() {
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		nb = now().Add(-DefaultBackdate)
	}
	na := o.NotAfter
	if na.IsZero() {
		if o.Lifetime > 0 {
			lifetime = o.Lifetime
		}
		na = nb.Add(lifetime)
	}
	if !na.After(nb) {
		return fmt.Errorf("%w: NotAfter %v must be after NotBefore %v", ErrInvalidOption, na, nb)
	}
	t.SerialNumber = new(big.Int).Set(serial)
	t.NotBefore = nb.UTC().Truncate(time.Second)
	t.NotAfter = na.UTC().Truncate(time.Second)
	return nil
}

// RandomSerial returns a positive, non-zero 128-bit serial number read from r
// (nil means crypto/rand).
func RandomSerial(r io.Reader) (*big.Int, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("certs: reading serial number: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // keep it 16 bytes long and non-zero
	return new(big.Int).SetBytes(b[:]), nil
}

// UsageMarker selects how a provisioning certificate shows that it is one.
type UsageMarker int

// Usage markers. AMT accepts either the EKU OID or the exact OU (the SDK; MeshCentral);
// some tools (RPS) insist on the OID, so the default carries both.
const (
	MarkerOIDAndOU UsageMarker = iota // EKU 2.16.840.1.113741.1.2.3 and OU "Intel(R) Client Setup Certificate"
	MarkerOID                         // the EKU OID only
	MarkerOU                          // the OU only
	MarkerNone                        // neither: not a provisioning certificate (for negative tests)
)

func (m UsageMarker) hasOID() bool { return m == MarkerOIDAndOU || m == MarkerOID }
func (m UsageMarker) hasOU() bool  { return m == MarkerOIDAndOU || m == MarkerOU }

// ProvisioningTemplateOptions describe a provisioning (Intel Client Setup)
// certificate.
type ProvisioningTemplateOptions struct {
	CertOptions
	// FQDN is the provisioning server's name (or a wildcard such as
	// "*.example.com"): AMT matches its domain against the device's DNS suffix.
	// Required.
	FQDN string
	// Organization, when set, is the subject O.
	Organization []string
	// Marker selects EKU OID and/or OU; the zero value writes both.
	Marker UsageMarker
	// ClientAuth adds the clientAuth EKU. The provisioning certificate is
	// presented as a TLS client certificate; AMT is documented to require only
	// serverAuth, but TLS stacks that verify client certificates the ordinary way
	// want clientAuth.
	ClientAuth bool
}

// ProvisioningTemplate returns a template for a provisioning certificate. It fills
//   - Subject: CN = FQDN, O = Organization, OU = [ClientSetupOU] (unless MarkerOID);
//   - DNSNames: FQDN;
//   - ExtKeyUsage: serverAuth (+ clientAuth with ClientAuth);
//   - UnknownExtKeyUsage: 2.16.840.1.113741.1.2.3 (unless MarkerOU);
//   - KeyUsage: digitalSignature | keyEncipherment (RSA key transport on old firmware);
//   - BasicConstraintsValid with IsCA false;
//   - SerialNumber, NotBefore, NotAfter from CertOptions.
//
// SignatureAlgorithm is left for x509.CreateCertificate to choose from the issuer's
// key (SHA-256 with RSA for RSA keys).
func ProvisioningTemplate(o ProvisioningTemplateOptions) (*x509.Certificate, error) {
	if strings.TrimSpace(o.FQDN) == "" {
		return nil, fmt.Errorf("%w: provisioning template needs an FQDN", ErrInvalidOption)
	}
	t := &x509.Certificate{
		Subject:               pkix.Name{CommonName: o.FQDN, Organization: o.Organization},
		DNSNames:              []string{o.FQDN},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	if o.Marker.hasOU() {
		t.Subject.OrganizationalUnit = []string{ClientSetupOU}
	}
	if o.Marker.hasOID() {
		t.UnknownExtKeyUsage = append(t.UnknownExtKeyUsage, OIDAMTActivation())
	}
	if o.ClientAuth {
		t.ExtKeyUsage = append(t.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if err := o.fill(t, DefaultLeafLifetime); err != nil {
		return nil, err
	}
	return t, nil
}

// DeviceTLSTemplateOptions describe AMT's own TLS server certificate.
type DeviceTLSTemplateOptions struct {
	CertOptions
	// FQDN is the device's name from the integrator's inventory. Required.
	FQDN string
	// Organization, when set, is the subject O.
	Organization []string
	// DNSNames and IPAddresses are extra subject alternative names.
	DNSNames    []string
	IPAddresses []net.IP
	// ClientAuth adds the clientAuth EKU (MeshCentral issues AMT certificates with
	// both usages).
	ClientAuth bool
	// PublicKey, when set, is the key the certificate is for (AMT's, from
	// [ParsePublicKey]); it decides the key usage (see [LeafKeyUsage]). Nil:
	// an RSA key is assumed.
	PublicKey crypto.PublicKey
}

// LeafKeyUsage returns the key usage of an end-entity certificate for pub:
// digitalSignature and keyEncipherment for RSA (key transport on firmware
// that negotiates RSA key exchange), digitalSignature alone for an EC key
// (RFC 5480 §3: keyEncipherment is not for ECDSA keys; AMT 22 generates ECC
// P-384 TLS keys, amt.Firmware.TLSKeyAlgorithm). A nil pub counts as RSA.
func LeafKeyUsage(pub crypto.PublicKey) x509.KeyUsage {
	switch pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return x509.KeyUsageDigitalSignature
	}
	return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
}

// DeviceTLSTemplate returns a template for AMT's TLS server certificate. It fills
//   - Subject: CN = FQDN (Configuration Manager: the subject must hold the FQDN),
//     O = Organization;
//   - DNSNames: FQDN followed by DNSNames (browsers and Go clients match only
//     SANs); IPAddresses;
//   - ExtKeyUsage: serverAuth (+ clientAuth with ClientAuth);
//   - KeyUsage: [LeafKeyUsage] of PublicKey (digitalSignature |
//     keyEncipherment for RSA, digitalSignature for EC keys);
//   - BasicConstraintsValid with IsCA false;
//   - SerialNumber, NotBefore, NotAfter from CertOptions.
func DeviceTLSTemplate(o DeviceTLSTemplateOptions) (*x509.Certificate, error) {
	if strings.TrimSpace(o.FQDN) == "" {
		return nil, fmt.Errorf("%w: device TLS template needs an FQDN", ErrInvalidOption)
	}
	for _, n := range append([]string{o.FQDN}, o.DNSNames...) {
		if err := checkDeviceName(n); err != nil {
			return nil, err
		}
	}
	t := &x509.Certificate{
		Subject:               pkix.Name{CommonName: o.FQDN, Organization: o.Organization},
		DNSNames:              append([]string{o.FQDN}, o.DNSNames...),
		IPAddresses:           o.IPAddresses,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:              LeafKeyUsage(o.PublicKey),
		BasicConstraintsValid: true,
	}
	if o.ClientAuth {
		t.ExtKeyUsage = append(t.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if err := o.fill(t, DefaultLeafLifetime); err != nil {
		return nil, err
	}
	return t, nil
}

// IEEE8021XTemplateOptions describe AMT's 802.1X client certificate.
type IEEE8021XTemplateOptions struct {
	CertOptions
	// FQDN is the device's name; it becomes the subject CN. Required.
	FQDN string
	// UPN is the user principal name for the subject alternative name
	// (Configuration Manager: "UPN as the alternative name"). Optional.
	UPN string
	// Organization, when set, is the subject O.
	Organization []string
	// PublicKey, when set, is the key the certificate is for; it decides the
	// key usage ([LeafKeyUsage]). Nil: an RSA key is assumed.
	PublicKey crypto.PublicKey
}

// IEEE8021XTemplate returns a template for AMT's 802.1X client certificate. It
// fills
//   - Subject: CN = FQDN, O = Organization;
//   - ExtraExtensions: a subjectAltName holding only the UPN (as otherName
//     1.3.6.1.4.1.311.20.2.3) when UPN is set — no DNS name, as in Configuration
//     Manager's Workstation Authentication template;
//   - ExtKeyUsage: clientAuth;
//   - KeyUsage: [LeafKeyUsage] of PublicKey;
//   - BasicConstraintsValid with IsCA false;
//   - SerialNumber, NotBefore, NotAfter from CertOptions.
//
// The key must be RSA of at most 2048 bits; [CheckDeviceCertificate] reports larger ones.
func IEEE8021XTemplate(o IEEE8021XTemplateOptions) (*x509.Certificate, error) {
	if strings.TrimSpace(o.FQDN) == "" {
		return nil, fmt.Errorf("%w: 802.1X template needs an FQDN", ErrInvalidOption)
	}
	if err := checkDeviceName(o.FQDN); err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		Subject:               pkix.Name{CommonName: o.FQDN, Organization: o.Organization},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:              LeafKeyUsage(o.PublicKey),
		BasicConstraintsValid: true,
	}
	if o.UPN != "" {
		ext, err := SubjectAltNames{UPNs: []string{o.UPN}}.Extension()
		if err != nil {
			return nil, err
		}
		t.ExtraExtensions = append(t.ExtraExtensions, ext)
	}
	if err := o.fill(t, DefaultLeafLifetime); err != nil {
		return nil, err
	}
	return t, nil
}

// CATemplateOptions describe a certificate authority certificate.
type CATemplateOptions struct {
	CertOptions
	// CommonName is the CA's subject CN. Required.
	CommonName   string
	Organization []string
	// MaxPathLen limits the number of intermediates below this CA; a negative
	// value (or zero with Unlimited) means no limit. Zero means this CA signs only
	// leaves.
	MaxPathLen int
	// Unlimited, when true, writes no path length constraint (MaxPathLen ignored).
	Unlimited bool
}

// CATemplate returns a template for a root or intermediate CA. It fills Subject
// (CN, O), IsCA with BasicConstraintsValid, MaxPathLen/MaxPathLenZero, KeyUsage
// certSign | cRLSign | digitalSignature, and SerialNumber, NotBefore and NotAfter
// (default lifetime ten years). SubjectKeyId is derived by x509.CreateCertificate.
func CATemplate(o CATemplateOptions) (*x509.Certificate, error) {
	if strings.TrimSpace(o.CommonName) == "" {
		return nil, fmt.Errorf("%w: CA template needs a common name", ErrInvalidOption)
	}
	t := &x509.Certificate{
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: o.Organization},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	switch {
	case o.Unlimited || o.MaxPathLen < 0:
		t.MaxPathLen = -1
	case o.MaxPathLen == 0:
		t.MaxPathLenZero = true
	default:
		t.MaxPathLen = o.MaxPathLen
	}
	if err := o.fill(t, DefaultCALifetime); err != nil {
		return nil, err
	}
	return t, nil
}

// checkDeviceName refuses a device name no device certificate should carry: a
// wildcard (one device's key would then speak for every host of the domain),
// or a control character, space or anything else outside printable ASCII
// (NUL for one: the NUL-prefix attack on C verifiers). Inventory names often
// come from DHCP, DNS or a CMDB that devices and users can influence. Names
// DNS allows in practice pass: underscores (Windows host names), single
// labels, a trailing dot, upper case.
func checkDeviceName(n string) error {
	if strings.ContainsRune(n, '*') {
		return fmt.Errorf("%w: device name %q is a wildcard", ErrInvalidOption, n)
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: device name %q holds byte %#02x (not printable ASCII)", ErrInvalidOption, n, c)
		}
	}
	return nil
}
