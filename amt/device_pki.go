package amt

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// KeyAlgorithm is the KeyAlgorithm of GenerateKeyPair.
type KeyAlgorithm uint32

// Key algorithms. Older class versions define only RSA; ECC-384 comes from the
// newer class reference cited by RPS (AMT 22 wants it for TLS).
const (
	KeyAlgorithmRSA    KeyAlgorithm = 0 // KeyLength 2048
	KeyAlgorithmECC384 KeyAlgorithm = 1 // KeyLength 384
)

// CSRSigningAlgorithm is the SigningAlgorithm of GeneratePKCS10RequestEx.
type CSRSigningAlgorithm uint32

// CSR signing algorithms (SHA-1 is refused from CSME 18). For an ECC key pair
// (AMT 22) amtsim reads 1 and 2 as ECDSA with SHA-256 and SHA-384; no public
// source says what the firmware reads.
const (
	CSRSigningSHA1RSA   CSRSigningAlgorithm = 0
	CSRSigningSHA256RSA CSRSigningAlgorithm = 1
	CSRSigningSHA384RSA CSRSigningAlgorithm = 2
)

// AMT_PublicKeyManagementService methods return PT_STATUS: 2058
// StatusDuplicate (already stored; look the handle up), 2063 StatusInvalidCert,
// 2062 StatusInvalidKey, 2066 StatusUnsupported (e.g. RSA-3072), 23
// StatusMaxLimitReached, 2082 StatusOperationInProgress …

// createdInstanceID reads an EPR-valued output (KeyPair, CreatedKey,
// CreatedCertificate) and returns its InstanceID selector. The EPR's
// ResourceURI is not checked: recorded AddKey responses name
// AMT_PublicKeyCertificate for a key.
func createdInstanceID(out *etree.Element, name string) (string, error) {
	el := wsman.Child(out, "", name)
	if el == nil {
		return "", fmt.Errorf("%w: no %s in %s", ErrBadResponse, name, out.Tag)
	}
	epr, err := wsman.ParseEPR(el)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrBadResponse, name, err)
	}
	id, ok := epr.Selectors.Get("InstanceID")
	if !ok || id == "" {
		return "", fmt.Errorf("%w: %s has no InstanceID selector", ErrBadResponse, name)
	}
	return id, nil
}

func instanceEPR(uri, id string) wsman.EPR {
	return wsman.EPR{ResourceURI: uri, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", id)}}
}

// GenerateKeyPair makes AMT generate a key pair (RSA 2048, or ECC 384 on
// firmware that supports it) and returns the new AMT_PublicPrivateKeyPair's
// InstanceID ("Intel(r) AMT Key: Handle: n"). The firmware is not always ready
// (MeshCentral retries every 10 s, up to 20 times); 2066 StatusUnsupported
// answers an unsupported length.
func (d *Device) GenerateKeyPair(ctx context.Context, alg KeyAlgorithm, keyLength uint32) (string, error) {
	const method = "GenerateKeyPair"
	out, err := d.invoke(ctx, URIPublicKeyManagementService, method, nil,
		wsman.Prop("KeyAlgorithm", strconv.FormatUint(uint64(alg), 10)),
		wsman.Prop("KeyLength", strconv.FormatUint(uint64(keyLength), 10)))
	if err != nil {
		return "", err
	}
	id, err := createdInstanceID(out, "KeyPair")
	return id, opError(URIPublicKeyManagementService, method, err)
}

// AddKey stores an RSA private key in AMT (KeyBlob: DER PKCS#1, not PKCS#8)
// and returns the key pair's InstanceID. The key leaves the process: prefer
// [Device.GenerateKeyPair], which keeps it in AMT.
func (d *Device) AddKey(ctx context.Context, key *rsa.PrivateKey) (string, error) {
	const method = "AddKey"
	if key == nil {
		return "", opError(URIPublicKeyManagementService, method, fmt.Errorf("%w: no key", ErrInvalidArgument))
	}
	blob := x509.MarshalPKCS1PrivateKey(key)
	b64 := base64.StdEncoding.EncodeToString(blob)
	clear(blob)
	out, err := d.invoke(ctx, URIPublicKeyManagementService, method, nil, wsman.Prop("KeyBlob", b64))
	if err != nil {
		return "", err
	}
	id, err := createdInstanceID(out, "CreatedKey")
	return id, opError(URIPublicKeyManagementService, method, err)
}

// AddCertificate stores cert (whose private key must already be in AMT) and
// returns the new AMT_PublicKeyCertificate's InstanceID.
func (d *Device) AddCertificate(ctx context.Context, cert *x509.Certificate) (string, error) {
	return d.addCert(ctx, "AddCertificate", cert)
}

// AddTrustedRootCertificate stores cert as a trusted root (intermediates are
// accepted from AMT 11.8) and returns its InstanceID. AMT refuses it while
// either interface is in mutual-TLS mode.
func (d *Device) AddTrustedRootCertificate(ctx context.Context, cert *x509.Certificate) (string, error) {
	return d.addCert(ctx, "AddTrustedRootCertificate", cert)
}

func (d *Device) addCert(ctx context.Context, method string, cert *x509.Certificate) (string, error) {
	if cert == nil || len(cert.Raw) == 0 {
		return "", opError(URIPublicKeyManagementService, method, fmt.Errorf("%w: no certificate", ErrInvalidArgument))
	}
	out, err := d.invoke(ctx, URIPublicKeyManagementService, method, nil,
		wsman.Prop("CertificateBlob", base64.StdEncoding.EncodeToString(cert.Raw)))
	if err != nil {
		return "", err
	}
	id, err := createdInstanceID(out, "CreatedCertificate")
	return id, opError(URIPublicKeyManagementService, method, err)
}

// parseSignedCSR reads SignedCertificateRequest and checks the firmware's
// signature.
func parseSignedCSR(out *etree.Element) (*x509.CertificateRequest, error) {
	s, ok := propertyText(out, "SignedCertificateRequest")
	if !ok {
		return nil, fmt.Errorf("%w: no SignedCertificateRequest", ErrBadResponse)
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: SignedCertificateRequest is not base64", ErrBadResponse)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: SignedCertificateRequest: %w", ErrBadResponse, err)
	}
	// Before the signature check, whose cost grows with the square of the
	// key's size and which no context interrupts.
	if err := checkDeviceKeySize(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: SignedCertificateRequest: %w", ErrBadResponse, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: SignedCertificateRequest signature: %w", ErrBadResponse, err)
	}
	return csr, nil
}

// GeneratePKCS10RequestEx has AMT sign a certificate request with the key pair
// keyPairID (an AMT_PublicPrivateKeyPair InstanceID, sent as an EPR).
// nullSigned is a DER PKCS#10 request carrying that key pair's public key and
// a placeholder signature. The result is parsed and its signature verified;
// checking that its public key is the key pair's is the caller's business.
func (d *Device) GeneratePKCS10RequestEx(ctx context.Context, keyPairID string, alg CSRSigningAlgorithm, nullSigned []byte) (*x509.CertificateRequest, error) {
	const method = "GeneratePKCS10RequestEx"
	if keyPairID == "" || len(nullSigned) == 0 {
		return nil, opError(URIPublicKeyManagementService, method, fmt.Errorf("%w: key pair and request are required", ErrInvalidArgument))
	}
	out, err := d.invoke(ctx, URIPublicKeyManagementService, method, nil,
		wsman.PropEPR("KeyPair", instanceEPR(URIPublicPrivateKeyPair, keyPairID)),
		wsman.Prop("SigningAlgorithm", strconv.FormatUint(uint64(alg), 10)),
		wsman.Prop("NullSignedCertificateRequest", base64.StdEncoding.EncodeToString(nullSigned)))
	if err != nil {
		return nil, err
	}
	csr, err := parseSignedCSR(out)
	return csr, opError(URIPublicKeyManagementService, method, err)
}

// PublicKeyCertificate is an AMT_PublicKeyCertificate instance (Intel AMT SDK
// class reference; intel/lms AMT_PublicKeyCertificate.h).
type PublicKeyCertificate struct {
	InstanceID  string // "Intel(r) AMT Certificate: Handle: n"
	ElementName string
	// X509Certificate is the DER certificate. Parse it with [PublicKeyCertificate.Parse].
	X509Certificate []byte
	// TrustedRoot is AMT's TrustedRootCertficate (sic): added with
	// AddTrustedRootCertificate.
	TrustedRoot bool `wsman:"TrustedRootCertficate"`
	// ReadOnly is ReadOnlyCertificate: AMT's own certificate, which cannot be
	// deleted.
	ReadOnly bool `wsman:"ReadOnlyCertificate"`
	// Issuer and Subject as AMT writes them ("C=unknown,O=unknown,CN=…").
	Issuer  string
	Subject string
}

// Parse parses X509Certificate.
func (c PublicKeyCertificate) Parse() (*x509.Certificate, error) {
	return x509.ParseCertificate(c.X509Certificate)
}

func parsePublicKeyCertificate(el *etree.Element) (*PublicKeyCertificate, error) {
	return parseAs[PublicKeyCertificate](el, URIPublicKeyCertificate)
}

// Certificates enumerates AMT_PublicKeyCertificate.
func (d *Device) Certificates(ctx context.Context) ([]PublicKeyCertificate, error) {
	return valuesOf(enumerateAll(ctx, d, URIPublicKeyCertificate, parsePublicKeyCertificate))
}

// Certificate reads the AMT_PublicKeyCertificate with instanceID.
func (d *Device) Certificate(ctx context.Context, instanceID string) (*PublicKeyCertificate, error) {
	return getAs(ctx, d, URIPublicKeyCertificate, wsman.SelectorSet{wsman.Sel("InstanceID", instanceID)}, parsePublicKeyCertificate)
}

// DeleteCertificate deletes the AMT_PublicKeyCertificate with instanceID. AMT
// refuses while TLS or 802.1X uses it, and for its own read-only certificate.
func (d *Device) DeleteCertificate(ctx context.Context, instanceID string) error {
	return d.del(ctx, URIPublicKeyCertificate, wsman.SelectorSet{wsman.Sel("InstanceID", instanceID)})
}

// KeyPair is an AMT_PublicPrivateKeyPair instance (intel/lms
// AMT_PublicPrivateKeyPair.h). Only the public part leaves AMT.
type KeyPair struct {
	InstanceID  string // "Intel(r) AMT Key: Handle: n"
	ElementName string
	// DERKey is the public key: DER PKCS#1 RSAPublicKey on most firmware, an
	// SPKI on some versions and for ECC keys. Read it with
	// [KeyPair.PublicKey].
	DERKey []byte
}

// PublicKey parses DERKey with [ParseDERKey].
func (k KeyPair) PublicKey() (crypto.PublicKey, error) { return ParseDERKey(k.DERKey) }

// ParseDERKey parses an AMT_PublicPrivateKeyPair DERKey: PKCS#1 RSAPublicKey
// first, then SubjectPublicKeyInfo.
func ParseDERKey(der []byte) (crypto.PublicKey, error) {
	k, err := crypto.PublicKey(nil), error(nil)
	if rk, perr := x509.ParsePKCS1PublicKey(der); perr == nil {
		k = rk
	} else if k, err = x509.ParsePKIXPublicKey(der); err != nil {
		return nil, fmt.Errorf("%w: DERKey is neither a PKCS#1 RSA public key nor a SubjectPublicKeyInfo: %w", ErrBadResponse, err)
	}
	if err := checkDeviceKeySize(k); err != nil {
		return nil, fmt.Errorf("%w: DERKey: %w", ErrBadResponse, err)
	}
	return k, nil
}

// MaxDeviceRSABits bounds the RSA keys a device's answers may carry: AMT
// generates 2048- and 3072-bit keys, and crypto/tls refuses peers' keys over
// 8192 bits for the same reason — RSA operations on a larger key cost
// seconds to minutes of CPU that no context interrupts.
const MaxDeviceRSABits = 8192

// checkDeviceKeySize refuses an RSA key over MaxDeviceRSABits.
func checkDeviceKeySize(k crypto.PublicKey) error {
	if rk, ok := k.(*rsa.PublicKey); ok && rk.N.BitLen() > MaxDeviceRSABits {
		return fmt.Errorf("an RSA key of %d bits (at most %d)", rk.N.BitLen(), MaxDeviceRSABits)
	}
	return nil
}

func parseKeyPair(el *etree.Element) (*KeyPair, error) {
	return parseAs[KeyPair](el, URIPublicPrivateKeyPair)
}

// KeyPairs enumerates AMT_PublicPrivateKeyPair.
func (d *Device) KeyPairs(ctx context.Context) ([]KeyPair, error) {
	return valuesOf(enumerateAll(ctx, d, URIPublicPrivateKeyPair, parseKeyPair))
}

// KeyPair reads the AMT_PublicPrivateKeyPair with instanceID.
func (d *Device) KeyPair(ctx context.Context, instanceID string) (*KeyPair, error) {
	return getAs(ctx, d, URIPublicPrivateKeyPair, wsman.SelectorSet{wsman.Sel("InstanceID", instanceID)}, parseKeyPair)
}

// DeleteKeyPair deletes the AMT_PublicPrivateKeyPair with instanceID (refused
// while a certificate of that key is in use).
func (d *Device) DeleteKeyPair(ctx context.Context, instanceID string) error {
	return d.del(ctx, URIPublicPrivateKeyPair, wsman.SelectorSet{wsman.Sel("InstanceID", instanceID)})
}
