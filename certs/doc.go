// Package certs handles the certificates of Intel AMT provisioning: the
// provisioning ("Intel Client Setup") certificate a configuration server presents
// to AMT, and the TLS and 802.1X certificates AMT itself is given. It loads and
// writes them, orders chains, checks them against the firmware's and
// Configuration Manager's rules, matches them to the root hashes a device trusts,
// watches their expiry and revocation, and issues certificates for keys that live
// inside AMT.
//
// Everything here is computation on certificates: no network, no global state.
// Keys are [crypto.Signer] throughout, so a provisioning key can stay in an HSM
// or TPM; only [EncodePKCS12] and [EncodePEM] need an in-memory key.
//
// # Bundles and chains
//
// A [Bundle] is a chain, leaf first and root last, with the leaf's private key.
// [Load] reads one from PEM, DER PKCS#12 or base64 PKCS#12 ([LoadPEM] and
// [LoadPKCS12] for one form); both put the certificates in order with
// [OrderChain], because neither PFX bag order nor PEM order can be trusted. A
// wrong PKCS#12 password is recognisable with
//
//	errors.Is(err, pkcs12.ErrIncorrectPassword)
//
// The bundle gives what a provisioning server needs: [Bundle.TLSCertificate] and
// [Bundle.GetClientCertificate] present the whole chain including the root (AMT
// checks the root's hash, and Go sends no client certificate unless forced when
// the server's CA list does not match), [Bundle.CertificatesDER] is the chain for
// AddNextCertInChain, and [Bundle.NotAfter] is when it stops working.
//
// # Which bundle for which device
//
// A device in setup mode lists the hashes of the roots it trusts (hello packet or
// PTHI). [MatchRoot] (or [Bundle.MatchRoot]) compares the root of a chain with them
// under each hash's algorithm; [RootHash] computes one; [IdentifyRoot] names a
// factory root. The device also checks that the leaf's common name covers its DNS
// suffix: [Bundle.Covers] applies [amt.MatchDNSSuffix].
//
// # Checks
//
// [CheckProvisioning] applies every rule known for a provisioning chain and
// returns [amt.Findings]; [CheckDeviceCertificate] does the same for AMT's TLS
// and 802.1X certificates. Each [amt.Finding] has a stable code (this package's
// Code… constants), a severity, the certificate it is about (Subject, and Index
// in the chain) and a message; docs/certs.md lists the codes and rules.
// [amt.Findings.Err] turns the errors into one error value for callers that only
// want a yes or no.
//
// # Expiry and revocation
//
// [ExpiryPolicy] carries Configuration Manager's thresholds: for the
// provisioning certificate a warning (status 7210) at 40 days or less and an
// error (7211) below 15 days; for device certificates renewal at 42 days or less,
// re-checked every 7 days. [CheckCRL] looks a certificate up on a CRL and fails
// closed when the CRL is missing or out of date; [CRLRevocation] turns a CRL
// source into the revocation check wsman.CheckRevocation and provisioning take
// (func(ctx, cert, issuer) error); renewals revoke the replaced certificate
// with [RevocationSuperseded].
//
// # Making certificates
//
// [ProvisioningTemplate], [DeviceTLSTemplate], [IEEE8021XTemplate] and
// [CATemplate] return templates for x509.CreateCertificate, each documenting the
// fields it fills. [Issue] and [SelfSign] sign them; [LocalCA] is a small issuer
// over a CA bundle. [ProvisioningRequest] writes a PKCS#10 request for a CA that
// takes request files.
//
// AMT generates its own TLS key and never reveals it. [ParsePublicKey] reads the
// public half AMT returns (PKCS#1 or SPKI); a certificate can be issued for it
// directly, or, for CAs that want a request, [NewAMTRequest] builds the request
// body that AMT signs with GeneratePKCS10RequestEx (Go's x509 package cannot build
// a request without the private key) and [AMTRequest.Verify] checks what AMT
// returns.
//
// # Microsoft templates
//
// [ReadTemplate] tells whether a Microsoft CA issued a certificate from a version
// 1 template (the name extension only) or a version 2-or-later one (the template
// extension with OID and revision). Version 2 and 3 templates look the same in a
// certificate; Configuration Manager says not to use version 3, so the checks take
// the version the integrator declares.
//
// Package [github.com/amtkit/amtkit/certs/certstest] makes throw-away CAs and
// provisioning chains for tests.
package certs
