package provisioning

import (
	"context"
	"crypto"
	"crypto/x509"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
)

// IssueRequest asks the integrator's CA for a certificate for a key that lives in
// AMT (generated there by GenerateKeyPair; it never leaves the device).
type IssueRequest struct {
	Device  Inventory
	Purpose CertificatePurpose
	// PublicKey is AMT's key, as read from AMT_PublicPrivateKeyPair.DERKey.
	PublicKey crypto.PublicKey
	// Template is amtkit's suggestion from the certs templates (AMT TLS server or
	// 802.1X client certificate for the device FQDN). The CA may use it as is,
	// map it to a CA template, or ignore it.
	Template *x509.Certificate
	// MinSignatureHash is the weakest hash the firmware accepts in the
	// signature of the certificate (amt.Firmware.TLSCertMinHash): SHA-384 on
	// AMT 22, which refuses to bind a SHA-256-signed leaf; SHA-256 before. The
	// engine refuses a certificate signed with a weaker hash before it reaches
	// the device ([ReasonIssueFailed]). [CA] honours it.
	MinSignatureHash crypto.Hash
}

// RevokeRequest asks the integrator's CA to revoke a certificate it issued.
type RevokeRequest struct {
	Device      amt.UUID
	Certificate *x509.Certificate
	Reason      certs.RevocationReason
}

// Issuer is the integrator's certificate authority for AMT's own certificates
// (TLS server, 802.1X client). The provisioning key is never involved. Its
// methods are called from many sessions and, since Maintainer.Concurrency,
// from several Maintainer devices at once: an Issuer must be safe for
// concurrent use (one built on a single HSM session that allows one operation
// at a time serializes its calls itself, or the Maintainer runs with a
// Concurrency of -1).
type Issuer interface {
	// Issue returns the new certificate first, then any intermediates. The root
	// may be included.
	Issue(ctx context.Context, req IssueRequest) ([]*x509.Certificate, error)
	// Revoke revokes a certificate: superseded after a renewal,
	// cessationOfOperation when a device is unprovisioned or a certificate's
	// profile removed, privilegeWithdrawn when a device is blocked.
	Revoke(ctx context.Context, req RevokeRequest) error
}

// IssuerPolicy describes how an Issuer's CA approves requests, for [Audit]. An
// Issuer may implement [IssuerPolicyReporter] to report it.
type IssuerPolicy struct {
	// StandAloneAutoApprove: a stand-alone (non-enterprise) Microsoft CA that
	// approves every request automatically; Configuration Manager does not
	// support it because nothing controls who may enrol.
	StandAloneAutoApprove bool
	// TemplateVersion is the Microsoft certificate template schema version the CA
	// issues AMT certificates from (0 if unknown). Configuration Manager says not
	// to use version 3 templates. A certificate cannot tell v2 from v3, so only
	// the integrator can declare it.
	TemplateVersion int
}

// IssuerPolicyReporter is implemented by Issuers that can describe their policy.
type IssuerPolicyReporter interface {
	IssuerPolicy() IssuerPolicy
}
