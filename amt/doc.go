// Package amt is the vocabulary of Intel Active Management Technology (AMT) that the
// rest of amtkit speaks — identifiers, versions, states, hashes, return codes, the
// password and digest rules of the firmware, and the DNS namespace rules that decide
// whether a provisioning certificate fits a device — and [Device], typed
// WS-Management calls to one AMT device.
//
// The vocabulary is pure computation: no I/O, no global state, no logging.
//
// # Talking to a device
//
// [NewDevice] wraps a *wsman.Client (digest credentials and a TLS policy are the
// client's business) with one method per operation provisioning and certificate
// management use: general settings, software identity, setup and configuration
// (state, UUID, OTP, SetMEBxPassword, CommitChanges, ExtendProvisioningPeriod,
// Unprovision), host-based setup (nonce, AddNextCertInChain, Setup, AdminSetup,
// UpgradeClientToAdmin), authorization (admin and user ACL entries), time
// synchronization, public keys (GenerateKeyPair, AddCertificate,
// GeneratePKCS10RequestEx, …), TLS settings and credential context, and 802.1X.
//
// Every call checks the response against its own <Method>_OUTPUT element and
// turns a non-zero ReturnValue into the error of its family: a [Status] for AMT_
// methods, the method's own enumeration for IPS_HostBasedSetupService (AdminSetup 5
// is [ErrHostSetupAuthFailed], not PT_STATUS 5), 32768+PT_STATUS for CIM methods.
// A Put sends back the instance the device sent with only the changed properties
// replaced. docs/device.md lists every method with its class and codes.
//
// # Identifiers and versions
//
// A device's [UUID] travels on the wire in the SMBIOS/GUID "mixed-endian" order: the
// first three fields (4, 2 and 2 bytes) are little-endian, the last eight bytes are in
// display order. [UUIDFromWire] and [UUID.Wire] convert; [ParseUUID] reads the canonical
// text form. Decoding wire bytes with an RFC 4122 parser such as uuid.FromBytes gives
// the wrong identity — a classic bug.
//
// [Version] parses and compares firmware versions such as "16.1.25" or "11.8.50.3425".
//
// # Certificate hashes
//
// A device trusts provisioning certificates by the hash of their root certificate's
// DER encoding. [HashAlgorithm] numbers the algorithms as the firmware does
// (1 SHA-1, 2 SHA-256, 3 SHA-384, 5 SHA-512); [CertHash] pairs an algorithm with a
// digest and [ParseCertHash] reads the forms tools print (upper or lower case, with
// or without ':' or space separators). [DefaultRootHashes] lists the factory root
// hashes seen on real devices, with names and provenance.
//
// # Return codes
//
// AMT methods report failure as a PT_STATUS code. [Status] is that code as an error
// value, so callers write
//
//	if errors.Is(err, amt.StatusDataMissing) { ... }
//
// and never match error text. Unknown codes still print their number.
//
// # Passwords and digests
//
// [CheckPassword] applies the firmware's strong-password rule and reports which part
// failed; [GeneratePassword] makes passwords that always pass it. [DigestA1] computes
// MD5(user:realm:password), the value AMT stores for a digest account;
// [DigestA1Hex] is the encoding IPS_HostBasedSetupService.AdminSetup wants and
// [DigestA1Base64] the one AMT_AuthorizationService.SetAdminAclEntryEx wants.
// [Secret] holds a password, OTP or similar so that fmt, slog and errors never print it.
//
// # Findings
//
// The checks of other packages — the certificate rules (certs.CheckProvisioning,
// certs.CheckDeviceCertificate), the setup.bin rules (setupbin.File.Check) and
// the configuration audit (provisioning.Audit) — report [Findings] of one shape,
// so a tool sorts, filters and prints them alike: a [Finding] has a stable
// [FindingCode] (each package defines and documents its own), a [Severity], the
// subject it is about and a message. [Findings.Err] turns the error findings into
// one error value.
//
// # Namespace rules
//
// Three distinct checks, all normalising their inputs first (case, one trailing dot,
// IDNA, a leading "*."):
//
//   - [MatchDNSSuffix]: will the firmware accept a provisioning certificate with this
//     name for a device with this DNS suffix?
//   - [SharesNamespace]: Configuration Manager's rule — do two names share a
//     registrable domain by the Public Suffix List?
//   - [CheckDisjointNamespace]: is a computer's DNS suffix the same as its Active
//     Directory domain (a "disjoint namespace" cannot be provisioned)?
package amt
