package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Severity ranks a [Finding].
type Severity int

// Severities, in increasing order. An Error finding means AMT (or the
// provisioning engine) will refuse the certificate; a Warning means it may work
// but something is fragile or out of policy; Info states a fact worth knowing.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityError
)

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return "Severity(" + strconv.Itoa(int(s)) + ")"
}

// Code identifies the rule behind a [Finding]. Codes are stable: they are part of
// the API, written to logs and matched by integrators; docs/certs.md lists them
// with their rules. Each code has one severity.
type Code string

// Finding codes. The comment on each states the rule.
const (
	// CodeNoCertificates (error): the chain is empty or holds a nil certificate.
	CodeNoCertificates Code = "no-certificates"

	// CodeUsageMarkerMissing (error): the provisioning leaf has neither the EKU
	// 2.16.840.1.113741.1.2.3 nor the Subject OU "Intel(R) Client Setup Certificate".
	CodeUsageMarkerMissing Code = "usage-marker-missing"
	// CodeUsageOUInexact (error): no AMT OID, and an OU that differs from
	// "Intel(R) Client Setup Certificate" only in case, spacing or a trailing
	// period; the firmware compares exactly.
	CodeUsageOUInexact Code = "usage-ou-inexact"
	// CodeUsageOUOnly (info): the leaf is marked by the OU alone. The firmware
	// accepts it; some tools (RPS) insist on the EKU OID.
	CodeUsageOUOnly Code = "usage-ou-only"
	// CodeServerAuthMissing (error): the leaf's extended key usage lacks serverAuth
	// (1.3.6.1.5.5.7.3.1), which AMT requires of provisioning and TLS server
	// certificates. anyExtendedKeyUsage does not count.
	CodeServerAuthMissing Code = "server-auth-missing"
	// CodeClientAuthMissing (error): an 802.1X certificate lacks clientAuth
	// (1.3.6.1.5.5.7.3.2).
	CodeClientAuthMissing Code = "client-auth-missing"

	// CodeKeyNotRSA (error): the leaf's key is not RSA. AMT signs and verifies
	// with RSA only (the AdminSetup nonce signature is RSA PKCS#1 v1.5).
	CodeKeyNotRSA Code = "key-not-rsa"
	// CodeCAKeyNotRSA (warning): an intermediate or root has a non-RSA key. Some
	// factory roots are ECC, but whether the firmware verifies ECDSA signatures
	// in a provisioning chain is not documented; RPS requires RSA throughout.
	CodeCAKeyNotRSA Code = "ca-key-not-rsa"
	// CodeKeyTooShort (error): an RSA key below the minimum (2048 bits; ME 15H/16+
	// reject shorter keys anywhere in the chain).
	CodeKeyTooShort Code = "key-too-short"
	// CodeKeyTooLong (error): an 802.1X certificate's RSA key exceeds 2048 bits
	// (Configuration Manager: at most 2048).
	CodeKeyTooLong Code = "key-too-long"

	// CodeWeakSignature (error): a certificate below the root is signed with
	// SHA-1, MD5 or MD2. ME 15H/16+ refuse SHA-1 anywhere in the chain, and Go's
	// verifier refuses it too.
	CodeWeakSignature Code = "weak-signature"
	// CodeWeakRootSignature (warning): the root's self-signature uses SHA-1, MD5
	// or MD2. The self-signature is not what trust rests on (the root hash is),
	// but ME 16+ documentation forbids SHA-1 "anywhere in the chain".
	CodeWeakRootSignature Code = "weak-root-signature"

	// CodeNotYetValid (error): now is before a certificate's NotBefore.
	CodeNotYetValid Code = "not-yet-valid"
	// CodeExpired (error): now is after a certificate's NotAfter.
	CodeExpired Code = "expired"
	// CodeExpiryWarning (warning): Configuration Manager status 7210 — the
	// provisioning chain expires in ExpiryPolicy.Warn (40 days) or less.
	CodeExpiryWarning Code = "expiry-warning"
	// CodeExpiryError (error): Configuration Manager status 7211 — the
	// provisioning chain expires in less than ExpiryPolicy.Error (15 days).
	CodeExpiryError Code = "expiry-error"
	// CodeRenewDue (warning): a device certificate is inside the renewal window
	// (ExpiryPolicy.Renew, 42 days or less left): renew it now.
	CodeRenewDue Code = "renew-due"

	// CodeRootMissing (error): the last certificate is not self-signed, so the
	// root is not in the chain; AMT must receive the root to compare its hash.
	CodeRootMissing Code = "root-missing"
	// CodeRootBadSignature (error): the root names itself as issuer but its
	// self-signature does not verify.
	CodeRootBadSignature Code = "root-bad-signature"
	// CodeChainBroken (error): certificate i is not issued by certificate i+1
	// (names, key identifiers or signature disagree): the chain is out of order
	// or incomplete. Use [OrderChain].
	CodeChainBroken Code = "chain-broken"
	// CodeIssuerNotCA (error): a certificate that issues another is not a CA
	// (basic constraints missing or CA:FALSE).
	CodeIssuerNotCA Code = "issuer-not-ca"
	// CodeChainInvalid (error): x509 path verification fails for a reason no
	// other finding names (path length, name constraints, unknown critical
	// extension, …); the message carries the verifier's reason.
	CodeChainInvalid Code = "chain-invalid"

	// CodeKeyMissing (error): no private key comes with the provisioning chain.
	CodeKeyMissing Code = "key-missing"
	// CodeKeyMismatch (error): the private key does not belong to the leaf.
	CodeKeyMismatch Code = "key-mismatch"

	// CodeNameMissing (error): the provisioning leaf has no subject CN; AMT
	// matches the DNS suffix against the CN.
	CodeNameMissing Code = "cn-missing"
	// CodeNameInvalid (error): the leaf's CN is not a usable DNS name: a single
	// label, a public suffix ("com", "co.uk") or not a host name.
	CodeNameInvalid Code = "cn-invalid"
	// CodeDNSSuffixMismatch (error): the CN (or wildcard) does not cover a given
	// device DNS suffix by the firmware rule ([amt.MatchDNSSuffix]). A SAN that
	// would match is mentioned: the firmware is documented to use the CN.
	CodeDNSSuffixMismatch Code = "dns-suffix-mismatch"
	// CodeDNSSuffixInvalid (error): a device DNS suffix given to the check is not
	// a usable name (single label such as "corp", a public suffix, empty).
	CodeDNSSuffixInvalid Code = "dns-suffix-invalid"

	// CodeRootNotTrusted (error): the root's hash is not among the device's
	// hashes (ProvisioningOptions.DeviceHashes, from the hello or PTHI).
	CodeRootNotTrusted Code = "root-not-trusted"
	// CodeRootNotFactory (info): with no device hashes given, the root is not one
	// of the factory roots in [amt.DefaultRootHashes]; devices need its hash added
	// (setup.bin or MEBx) before they accept the chain.
	CodeRootNotFactory Code = "root-not-factory"

	// CodeTemplateV1NoOID (error): the leaf comes from a Microsoft v1 template
	// (extension 1.3.6.1.4.1.311.20.2 only) and has no usage marker. v1 templates
	// cannot be edited to add the AMT OID: duplicate the template as v2.
	CodeTemplateV1NoOID Code = "template-v1-no-oid"
	// CodeTemplateV3 (error): the integrator declared a version 3 (or later)
	// Microsoft template. Configuration Manager: "do not use version 3 templates";
	// v2 and v3 look alike in the certificate, so only the declaration tells.
	CodeTemplateV3 Code = "template-v3"
	// CodeTemplateMalformed (warning): a Microsoft template extension cannot be parsed.
	CodeTemplateMalformed Code = "template-malformed"

	// CodeFQDNNotInSubject (error): a device certificate's subject CN is not the
	// device FQDN (Configuration Manager: the subject must hold the FQDN).
	CodeFQDNNotInSubject Code = "fqdn-not-in-subject"
	// CodeFQDNNotInSAN (warning): AMT's TLS certificate has no dNSName SAN for the
	// FQDN; browsers and Go clients match only SANs.
	CodeFQDNNotInSAN Code = "fqdn-not-in-san"
	// CodeUPNMissing (warning): an 802.1X certificate has no UPN in its SAN.
	CodeUPNMissing Code = "upn-missing"
	// CodeUPNMismatch (error): an 802.1X certificate lacks the UPN given in
	// DeviceOptions.UPN.
	CodeUPNMismatch Code = "upn-mismatch"

	// CodeRevoked (error): a certificate of the chain is on its issuer's CRL.
	CodeRevoked Code = "revoked"
	// CodeCRLUnavailable (error): revocation checking is on and a CRL is missing,
	// stale, from the wrong issuer or badly signed (fail closed).
	CodeCRLUnavailable Code = "crl-unavailable"
)

// Finding is one result of [CheckProvisioning] or [CheckDeviceCertificate].
type Finding struct {
	Code     Code
	Severity Severity
	// Message is a sentence naming the certificate and saying what was expected
	// and what was found.
	Message string
	// Index is the certificate's position in the chain (leaf = 0), or -1 when the
	// finding is about no single certificate.
	Index int
	// Subject is that certificate's subject (RFC 2253), or "".
	Subject string
}

// String returns "<severity> <code>: <message>".
func (f Finding) String() string {
	return f.Severity.String() + " " + string(f.Code) + ": " + f.Message
}

// Findings is the result of a check, in the order the rules ran.
type Findings []Finding

// Has reports whether a finding with code is present.
func (fs Findings) Has(code Code) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}

// Codes returns the codes of the findings, in order (with repeats).
func (fs Findings) Codes() []Code {
	if len(fs) == 0 {
		return nil
	}
	out := make([]Code, len(fs))
	for i, f := range fs {
		out[i] = f.Code
	}
	return out
}

// Worst returns the highest severity present, or 0 for no findings.
func (fs Findings) Worst() Severity {
	var w Severity
	for _, f := range fs {
		if f.Severity > w {
			w = f.Severity
		}
	}
	return w
}

// AtLeast returns the findings of severity s or higher.
func (fs Findings) AtLeast(s Severity) Findings {
	var out Findings
	for _, f := range fs {
		if f.Severity >= s {
			out = append(out, f)
		}
	}
	return out
}

// Err returns nil when no finding is an error, otherwise a [*CheckError] holding
// the error findings; errors.Is(err, [ErrCheckFailed]) holds for it.
func (fs Findings) Err() error {
	errs := fs.AtLeast(SeverityError)
	if len(errs) == 0 {
		return nil
	}
	return &CheckError{Findings: errs}
}

// ErrCheckFailed is matched by every [*CheckError].
var ErrCheckFailed = errors.New("certs: certificate check failed")

// CheckError carries the error findings of a failed check.
type CheckError struct {
	Findings Findings
}

// Error lists the error findings by code and message.
func (e *CheckError) Error() string {
	parts := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		parts[i] = string(f.Code) + ": " + f.Message
	}
	return ErrCheckFailed.Error() + ": " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrCheckFailed) true.
func (e *CheckError) Is(target error) bool { return target == ErrCheckFailed }

// recorder accumulates findings.
type recorder struct{ out Findings }

func (r *recorder) add(code Code, sev Severity, i int, c *x509.Certificate, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f := Finding{Code: code, Severity: sev, Index: i}
	if c != nil {
		f.Subject = c.Subject.String()
		msg = "certificate " + strconv.Itoa(i) + " " + Describe(c) + ": " + msg
	}
	f.Message = msg
	r.out = append(r.out, f)
}
