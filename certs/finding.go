package certs

import (
	"crypto/x509"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/amt"
)

// Finding codes of [CheckProvisioning] and [CheckDeviceCertificate], typed
// [amt.FindingCode]. Codes are stable: they are part of the API, written to logs
// and matched by integrators; docs/certs.md lists them with their rules. Each
// code has one severity, and the comment on each states the rule.
const (
	// CodeNoCertificates (error): the chain is empty or holds a nil certificate.
	CodeNoCertificates amt.FindingCode = "no-certificates"

	// CodeUsageMarkerMissing (error): the provisioning leaf has neither the EKU
	// 2.16.840.1.113741.1.2.3 nor the Subject OU "Intel(R) Client Setup Certificate".
	CodeUsageMarkerMissing amt.FindingCode = "usage-marker-missing"
	// CodeUsageOUInexact (error): no AMT OID, and an OU that differs from
	// "Intel(R) Client Setup Certificate" only in case, spacing or a trailing
	// period; the firmware compares exactly.
	CodeUsageOUInexact amt.FindingCode = "usage-ou-inexact"
	// CodeUsageOUOnly (info): the leaf is marked by the OU alone. The firmware
	// accepts it; some tools (RPS) insist on the EKU OID.
	CodeUsageOUOnly amt.FindingCode = "usage-ou-only"
	// CodeServerAuthMissing (error): the leaf's extended key usage lacks serverAuth
	// (1.3.6.1.5.5.7.3.1), which AMT requires of provisioning and TLS server
	// certificates. anyExtendedKeyUsage does not count.
	CodeServerAuthMissing amt.FindingCode = "server-auth-missing"
	// CodeClientAuthMissing (error): an 802.1X certificate lacks clientAuth
	// (1.3.6.1.5.5.7.3.2).
	CodeClientAuthMissing amt.FindingCode = "client-auth-missing"

	// CodeKeyNotRSA (error): the leaf's key is not RSA. AMT signs and verifies
	// with RSA only (the AdminSetup nonce signature is RSA PKCS#1 v1.5). For
	// AMT's own certificates ([CheckDeviceCertificate]) ECDSA P-256 and P-384
	// keys pass too: AMT 22 generates ECC P-384 TLS keys.
	CodeKeyNotRSA amt.FindingCode = "key-not-rsa"
	// CodeCAKeyNotRSA (warning): an intermediate or root has a non-RSA key. Some
	// factory roots are ECC, but whether the firmware verifies ECDSA signatures
	// in a provisioning chain is not documented; RPS requires RSA throughout.
	CodeCAKeyNotRSA amt.FindingCode = "ca-key-not-rsa"
	// CodeKeyTooShort (error): an RSA key below the minimum (2048 bits; ME 15H/16+
	// reject shorter keys anywhere in the chain).
	CodeKeyTooShort amt.FindingCode = "key-too-short"
	// CodeKeyTooLong (error): an 802.1X certificate's RSA key exceeds 2048 bits
	// (Configuration Manager: at most 2048).
	CodeKeyTooLong amt.FindingCode = "key-too-long"

	// CodeWeakSignature (error): a certificate below the root is signed with
	// SHA-1, MD5 or MD2. ME 15H/16+ refuse SHA-1 anywhere in the chain, and Go's
	// verifier refuses it too.
	CodeWeakSignature amt.FindingCode = "weak-signature"
	// CodeLeafNotSHA384 (warning): with ProvisioningOptions.Firmware at AMT 22
	// or later (amt.Firmware.ProvisioningCertSHA384), the provisioning leaf is
	// not signed with SHA-384, which that firmware is held to refuse (RPS's
	// reading of Intel's AMT 22 hardening list; no device report shows the
	// refusal, hence a warning).
	CodeLeafNotSHA384 amt.FindingCode = "leaf-not-sha384"
	// CodeWeakRootSignature (warning): the root's self-signature uses SHA-1, MD5
	// or MD2. The self-signature is not what trust rests on (the root hash is),
	// but ME 16+ documentation forbids SHA-1 "anywhere in the chain".
	CodeWeakRootSignature amt.FindingCode = "weak-root-signature"

	// CodeNotYetValid (error): now is before a certificate's NotBefore.
	CodeNotYetValid amt.FindingCode = "not-yet-valid"
	// CodeExpired (error): now is after a certificate's NotAfter.
	CodeExpired amt.FindingCode = "expired"
	// CodeExpiryWarning (warning): Configuration Manager status 7210 — the
	// provisioning chain expires in ExpiryPolicy.Warn (40 days) or less.
	CodeExpiryWarning amt.FindingCode = "expiry-warning"
	// CodeExpiryError (error): Configuration Manager status 7211 — the
	// provisioning chain expires in less than ExpiryPolicy.Error (15 days).
	CodeExpiryError amt.FindingCode = "expiry-error"
	// CodeRenewDue (warning): a device certificate is inside the renewal window
	// (ExpiryPolicy.Renew, 42 days or less left): renew it now.
	CodeRenewDue amt.FindingCode = "renew-due"

	// CodeRootMissing (error): the last certificate is not self-signed, so the
	// root is not in the chain; AMT must receive the root to compare its hash.
	CodeRootMissing amt.FindingCode = "root-missing"
	// CodeRootBadSignature (error): the root names itself as issuer but its
	// self-signature does not verify.
	CodeRootBadSignature amt.FindingCode = "root-bad-signature"
	// CodeChainBroken (error): certificate i is not issued by certificate i+1
	// (names, key identifiers or signature disagree): the chain is out of order
	// or incomplete. Use [OrderChain].
	CodeChainBroken amt.FindingCode = "chain-broken"
	// CodeIssuerNotCA (error): a certificate that issues another is not a CA
	// (basic constraints missing or CA:FALSE).
	CodeIssuerNotCA amt.FindingCode = "issuer-not-ca"
	// CodeChainInvalid (error): x509 path verification fails for a reason no
	// other finding names (path length, name constraints, unknown critical
	// extension, …); the message carries the verifier's reason.
	CodeChainInvalid amt.FindingCode = "chain-invalid"

	// CodeKeyMissing (error): no private key comes with the provisioning chain.
	CodeKeyMissing amt.FindingCode = "key-missing"
	// CodeKeyMismatch (error): the private key does not belong to the leaf.
	CodeKeyMismatch amt.FindingCode = "key-mismatch"

	// CodeNameMissing (error): the provisioning leaf has no subject CN; AMT
	// matches the DNS suffix against the CN.
	CodeNameMissing amt.FindingCode = "cn-missing"
	// CodeNameInvalid (error): the leaf's CN is not a usable DNS name: a single
	// label, a public suffix ("com", "co.uk") or not a host name.
	CodeNameInvalid amt.FindingCode = "cn-invalid"
	// CodeDNSSuffixMismatch (error): the CN (or wildcard) does not cover a given
	// device DNS suffix by the firmware rule ([amt.MatchDNSSuffix]). A SAN that
	// would match is mentioned: the firmware is documented to use the CN.
	CodeDNSSuffixMismatch amt.FindingCode = "dns-suffix-mismatch"
	// CodeDNSSuffixUndocumented (warning): the CN covers a given device DNS
	// suffix only by the per-TLD rule MeshCentral selects certificates by
	// ([amt.ErrSuffixUndocumented]): firmware may accept it; no Intel document
	// says it does. The provisioning engine tries such a certificate when no
	// other covers the suffix.
	CodeDNSSuffixUndocumented amt.FindingCode = "dns-suffix-undocumented"
	// CodeDNSSuffixInvalid (error): a device DNS suffix given to the check is not
	// a usable name (single label such as "corp", a public suffix, empty).
	CodeDNSSuffixInvalid amt.FindingCode = "dns-suffix-invalid"

	// CodeRootNotTrusted (error): the root's hash is not among the device's
	// hashes (ProvisioningOptions.DeviceHashes, from the hello or PTHI).
	CodeRootNotTrusted amt.FindingCode = "root-not-trusted"
	// CodeRootNotFactory (info): with no device hashes given, the root is not one
	// of the factory roots in [amt.DefaultRootHashes]; devices need its hash added
	// (setup.bin or MEBx) before they accept the chain.
	CodeRootNotFactory amt.FindingCode = "root-not-factory"

	// CodeTemplateV1NoOID (error): the leaf comes from a Microsoft v1 template
	// (extension 1.3.6.1.4.1.311.20.2 only) and has no usage marker. v1 templates
	// cannot be edited to add the AMT OID: duplicate the template as v2.
	CodeTemplateV1NoOID amt.FindingCode = "template-v1-no-oid"
	// CodeTemplateV3 (error): the integrator declared a version 3 (or later)
	// Microsoft template. Configuration Manager: "do not use version 3 templates";
	// v2 and v3 look alike in the certificate, so only the declaration tells.
	CodeTemplateV3 amt.FindingCode = "template-v3"
	// CodeTemplateMalformed (warning): a Microsoft template extension cannot be parsed.
	CodeTemplateMalformed amt.FindingCode = "template-malformed"

	// CodeFQDNNotInSubject (error): a device certificate's subject CN is not the
	// device FQDN (Configuration Manager: the subject must hold the FQDN).
	CodeFQDNNotInSubject amt.FindingCode = "fqdn-not-in-subject"
	// CodeFQDNNotInSAN (warning): AMT's TLS certificate has no dNSName SAN for the
	// FQDN; browsers and Go clients match only SANs.
	CodeFQDNNotInSAN amt.FindingCode = "fqdn-not-in-san"
	// CodeUPNMissing (warning): an 802.1X certificate has no UPN in its SAN.
	CodeUPNMissing amt.FindingCode = "upn-missing"
	// CodeUPNMismatch (error): an 802.1X certificate lacks the UPN given in
	// DeviceOptions.UPN.
	CodeUPNMismatch amt.FindingCode = "upn-mismatch"

	// CodeRevoked (error): a certificate of the chain is on its issuer's CRL.
	CodeRevoked amt.FindingCode = "revoked"
	// CodeCRLUnavailable (error): revocation checking is on and a CRL is missing,
	// stale, from the wrong issuer or badly signed (fail closed).
	CodeCRLUnavailable amt.FindingCode = "crl-unavailable"
)

// recorder accumulates findings.
type recorder struct{ out amt.Findings }

// add records a finding about certificate i of the chain (c), or about the
// chain as a whole when c is nil.
func (r *recorder) add(code amt.FindingCode, sev amt.Severity, i int, c *x509.Certificate, format string, args ...any) {
	f := amt.Finding{Code: code, Severity: sev, Index: i, Message: fmt.Sprintf(format, args...)}
	if c != nil {
		f.Subject = "certificate " + strconv.Itoa(i) + " " + Describe(c)
	}
	r.out = append(r.out, f)
}
