package amt

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=CertChainStatus -linecomment -output=certchainstatus_string.go

// CertChainStatus is IPS_HostBasedSetupService.CertChainStatus: how far
// AddNextCertInChain has got. String returns "NotStarted", "InProgress",
// "Complete" or "CertChainStatus(n)".
type CertChainStatus uint8

// Certificate chain states.
const (
	CertChainNotStarted CertChainStatus = 0 // NotStarted
	// CertChainInProgress: the leaf was added, the root not yet.
	CertChainInProgress CertChainStatus = 1 // InProgress
	// CertChainComplete: the root was added.
	CertChainComplete CertChainStatus = 2 // Complete
)

// SigningAlgorithm is the SigningAlgorithm parameter of Setup, AdminSetup and
// UpgradeClientToAdmin.
type SigningAlgorithm uint16

// Signing algorithms. RSA-SHA-384 (3) is a later addition that only AMT 21 and
// newer accept (RPS observations); send it only with a SHA-384 provisioning
// certificate on such firmware.
const (
	SigningNone      SigningAlgorithm = 0
	SigningOther     SigningAlgorithm = 1
	SigningRSASHA256 SigningAlgorithm = 2
	SigningRSASHA384 SigningAlgorithm = 3
)

// ConfigurationNonceSize is the size of ConfigurationNonce and of the McNonce
// a client sends with it: the signature covers ConfigurationNonce ‖ McNonce.
const ConfigurationNonceSize = 20

// HostBasedSetup is the IPS_HostBasedSetupService singleton (Intel AMT SDK
// class reference; intel/lms IPS_HostBasedSetupService.h).
type HostBasedSetup struct {
	CurrentControlMode ControlMode
	// AllowedControlModes lists the modes the device may be set up in
	// (e.g. [ACM CCM]).
	AllowedControlModes []ControlMode
	// ConfigurationNonce is 20 random bytes, renewed after each successful
	// setup and each unprovision: read it fresh before signing.
	ConfigurationNonce []byte
	CertChainStatus    CertChainStatus
}

func parseHostBasedSetup(el *etree.Element) (*HostBasedSetup, error) {
	h, err := parseAs[HostBasedSetup](el, URIHostBasedSetupService)
	if err != nil {
		return nil, err
	}
	if h.ConfigurationNonce != nil && len(h.ConfigurationNonce) != ConfigurationNonceSize {
		return nil, fmt.Errorf("%w: ConfigurationNonce is %d bytes, expected %d", ErrBadResponse, len(h.ConfigurationNonce), ConfigurationNonceSize)
	}
	return h, nil
}

// HostBasedSetup reads IPS_HostBasedSetupService (Get).
func (d *Device) HostBasedSetup(ctx context.Context) (*HostBasedSetup, error) {
	return getAs(ctx, d, URIHostBasedSetupService, nil, parseHostBasedSetup)
}

// ConfigurationNonce reads the current 20-byte ConfigurationNonce.
func (d *Device) ConfigurationNonce(ctx context.Context) ([]byte, error) {
	h, err := d.HostBasedSetup(ctx)
	if err != nil {
		return nil, err
	}
	if len(h.ConfigurationNonce) == 0 {
		return nil, opError(URIHostBasedSetupService, "Get", fmt.Errorf("%w: no ConfigurationNonce", ErrBadResponse))
	}
	return h.ConfigurationNonce, nil
}

// AddNextCertInChain sends one certificate of the provisioning chain: call it
// leaf first (isLeaf) and root last (isRoot). Errors use the method's own map:
// ErrHostSetupCertVerifyFailed (4), ErrHostSetupChainTooLong (5),
// ErrHostSetupInvalidParameter (1), ErrHostSetupInternalError (2),
// ErrHostSetupInvalidState (3).
func (d *Device) AddNextCertInChain(ctx context.Context, cert *x509.Certificate, isLeaf, isRoot bool) error {
	const method = "AddNextCertInChain"
	if cert == nil || len(cert.Raw) == 0 {
		return opError(URIHostBasedSetupService, method, fmt.Errorf("%w: no certificate", ErrInvalidArgument))
	}
	_, err := d.invoke(ctx, URIHostBasedSetupService, method, nil,
		wsman.Prop("NextCertificate", base64.StdEncoding.EncodeToString(cert.Raw)),
		wsman.Prop("IsLeafCertificate", strconv.FormatBool(isLeaf)),
		wsman.Prop("IsRootCertificate", strconv.FormatBool(isRoot)))
	return err
}

// AddCertChain sends chain (leaf first, root last) with one AddNextCertInChain
// per certificate, stopping at the first failure. A single certificate is both
// leaf and root.
func (d *Device) AddCertChain(ctx context.Context, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return opError(URIHostBasedSetupService, "AddNextCertInChain", fmt.Errorf("%w: empty chain", ErrInvalidArgument))
	}
	for i, c := range chain {
		if err := d.AddNextCertInChain(ctx, c, i == 0, i == len(chain)-1); err != nil {
			return err
		}
	}
	return nil
}

// SetupSignature is the signed part of Setup, AdminSetup and
// UpgradeClientToAdmin: the signature of ConfigurationNonce ‖ McNonce with the
// provisioning certificate's key (package provisioning computes it).
type SetupSignature struct {
	// McNonce is the client's 20 random bytes.
	McNonce []byte
	// Algorithm is SigningAlgorithm; zero means SigningRSASHA256.
	Algorithm SigningAlgorithm
	// Signature is the DigitalSignature (RSASSA-PKCS1-v1_5).
	Signature []byte
	// Certificate is sent by Setup only (a signed client-control-mode setup):
	// the certificate whose key signed. AdminSetup and UpgradeClientToAdmin use
	// the chain sent with AddNextCertInChain and refuse it.
	Certificate *x509.Certificate
}

func (s *SetupSignature) props(withCert bool) ([]wsman.Property, error) {
	if len(s.McNonce) != ConfigurationNonceSize {
		return nil, fmt.Errorf("%w: McNonce must be %d bytes, got %d", ErrInvalidArgument, ConfigurationNonceSize, len(s.McNonce))
	}
	if len(s.Signature) == 0 {
		return nil, fmt.Errorf("%w: no DigitalSignature", ErrInvalidArgument)
	}
	if s.Certificate != nil && !withCert {
		return nil, fmt.Errorf("%w: only Setup sends a Certificate", ErrInvalidArgument)
	}
	alg := s.Algorithm
	if alg == SigningNone {
		alg = SigningRSASHA256
	}
	ps := []wsman.Property{wsman.Prop("McNonce", base64.StdEncoding.EncodeToString(s.McNonce))}
	if s.Certificate != nil {
		ps = append(ps, wsman.Prop("Certificate", base64.StdEncoding.EncodeToString(s.Certificate.Raw)))
	}
	return append(ps,
		wsman.Prop("SigningAlgorithm", strconv.FormatUint(uint64(alg), 10)),
		wsman.Prop("DigitalSignature", base64.StdEncoding.EncodeToString(s.Signature))), nil
}

// netAdminProps returns NetAdminPassEncryptionType (2, HTTP digest MD5(A1))
// and NetworkAdminPassword: MD5("admin:" + realm + ":" + password) as 32 hex
// digits — hexBinary, unlike SetAdminAclEntryEx's base64.
func netAdminProps(password Secret, digestRealm string) ([]wsman.Property, error) {
	if digestRealm == "" {
		return nil, fmt.Errorf("%w: the digest realm (AMT_GeneralSettings.DigestRealm) is required", ErrInvalidArgument)
	}
	if err := checkPassword("admin password", password.Reveal()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return []wsman.Property{
		wsman.Prop("NetAdminPassEncryptionType", "2"),
		wsman.Prop("NetworkAdminPassword", DigestA1Hex("admin", digestRealm, password).Reveal()),
	}, nil
}

// Setup activates the device in client control mode (Pre → Post, no
// CommitChanges). The admin user is "admin" with password; digestRealm is
// AMT_GeneralSettings.DigestRealm. signed is nil for an ordinary setup, or the
// signature (with Certificate) of a signed one. Errors use Setup's map:
// ErrHostSetupAuthFailed (5), ErrHostSetupInvalidState (2),
// ErrHostSetupMethodDisabled (4) …
func (d *Device) Setup(ctx context.Context, password Secret, digestRealm string, signed *SetupSignature) error {
	const method = "Setup"
	ps, err := netAdminProps(password, digestRealm)
	if err == nil && signed != nil {
		var sp []wsman.Property
		sp, err = signed.props(true)
		ps = append(ps, sp...)
	}
	if err != nil {
		return opError(URIHostBasedSetupService, method, err)
	}
	_, err = d.invoke(ctx, URIHostBasedSetupService, method, nil, ps...)
	return err
}

// AdminSetup activates the device in admin control mode (Pre → Post, no
// CommitChanges) after the provisioning chain was sent with
// [Device.AddCertChain]. The admin user is "admin"; NetworkAdminPassword is
// sent as hex. Errors use AdminSetup's map: 5 is ErrHostSetupAuthFailed (bad
// signature or untrusted root), never PT_STATUS 5.
//
// AdminSetup must not be retried blindly: read the provisioning state first.
func (d *Device) AdminSetup(ctx context.Context, password Secret, digestRealm string, sig SetupSignature) error {
	const method = "AdminSetup"
	ps, err := netAdminProps(password, digestRealm)
	if err == nil {
		var sp []wsman.Property
		sp, err = sig.props(false)
		ps = append(ps, sp...)
	}
	if err != nil {
		return opError(URIHostBasedSetupService, method, err)
	}
	_, err = d.invoke(ctx, URIHostBasedSetupService, method, nil, ps...)
	return err
}

// UpgradeClientToAdmin moves a device from client to admin control mode (AMT
// admin credentials, chain sent first with [Device.AddCertChain]). No source
// publishes its ReturnValue map; it is read with Setup's.
func (d *Device) UpgradeClientToAdmin(ctx context.Context, sig SetupSignature) error {
	const method = "UpgradeClientToAdmin"
	ps, err := sig.props(false)
	if err != nil {
		return opError(URIHostBasedSetupService, method, err)
	}
	_, err = d.invoke(ctx, URIHostBasedSetupService, method, nil, ps...)
	return err
}

// DisableClientControlMode removes client control mode from the allowed
// modes. No source publishes its ReturnValue map; it is read with Setup's.
func (d *Device) DisableClientControlMode(ctx context.Context) error {
	_, err := d.invoke(ctx, URIHostBasedSetupService, "DisableClientControlMode", nil)
	return err
}
