package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/internal/crlext"
)

// MinRSABits is the smallest RSA key the checks accept by default (ME 15H/16+).
const MinRSABits = 2048

// MaxIEEE8021XRSABits is the largest RSA key for AMT's 802.1X certificate
// (Configuration Manager).
const MaxIEEE8021XRSABits = 2048

// RevocationOptions switch on CRL checking in [CheckProvisioning] and
// [CheckDeviceCertificate]. Every certificate of the chain except a self-signed
// root is looked up on the CRL whose issuer is its issuer (of several, the
// newest its issuer signed: highest CRL number, then latest thisUpdate); the
// CRL's signature is verified with the next certificate of the chain when
// there is one.
type RevocationOptions struct {
	CRLs []*x509.RevocationList
	// AllowMissing and AllowStale fail open (see [CRLOptions]); the zero value
	// fails closed.
	AllowMissing bool
	AllowStale   bool
}

// ProvisioningOptions tune [CheckProvisioning]. The zero value checks the AMT
// rules at the current time without device-specific inputs.
type ProvisioningOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DNSSuffixes are device DNS suffixes (DHCP option 15 or the MEBx PKI DNS
	// suffix) the leaf must cover.
	DNSSuffixes []string
	// DeviceHashes, when not nil, are the root hashes a device trusts (from its
	// hello or PTHI); the chain's root must be one of them. When nil the root is
	// compared with the factory list instead, as information.
	DeviceHashes []amt.CertHash
	// Expiry is the expiry policy; the zero value is Configuration Manager's.
	Expiry ExpiryPolicy
	// MinRSABits overrides [MinRSABits] (for fleets of pre-ME-16 devices that
	// accept 1024-bit keys); zero means 2048.
	MinRSABits int
	// AllowSHA1Root reports a root self-signed with SHA-1 (or MD5) as a warning
	// instead of an error, for fleets without ME 15 H or ME 16 and later
	// devices. From those, "none of the certificates in the certificate chain
	// can be SHA1-based, including the root certificate" (Intel KB 000090051),
	// so such a chain is refused: by default it is an error.
	AllowSHA1Root bool
	// TemplateVersion is the Microsoft template schema version the integrator
	// declares (0 = unknown). 3 or more is a finding.
	TemplateVersion int
	// Revocation, when set, checks the chain against CRLs.
	Revocation *RevocationOptions
	// Firmware is the AMT release the chain is meant for (from PTHI, the
	// device's CIM_SoftwareIdentity, or the oldest and newest of a fleet,
	// checked once each). Zero: any, and release-specific rules are skipped.
	// From AMT 22 (amt.Firmware.ProvisioningCertSHA384) a leaf not signed
	// with SHA-384 is reported.
	Firmware amt.Version
}

// CheckProvisioning applies AMT's and Configuration Manager's rules for a
// provisioning certificate to chain (leaf first, root last — see [OrderChain])
// and its private key, and returns what it found; an empty result means the chain
// passes. Use [amt.Findings.Err] to turn error findings into an error. docs/certs.md
// lists every rule with its code.
//
// The checks: usage marker (EKU OID or exact OU), serverAuth, RSA keys of at least
// 2048 bits, no SHA-1/MD5 signatures, every certificate valid now, the expiry
// policy (7210/7211), the root present and self-signed, each link issued by the
// next, issuers are CAs, x509 path verification, the key matching the leaf, the
// CN a usable DNS name covering each DNS suffix, the root hash among the device's
// hashes (or, as information, the factory hashes), Microsoft template rules, and
// revocation when asked.
func CheckProvisioning(chain []*x509.Certificate, key crypto.Signer, opts ProvisioningOptions) amt.Findings {
	var r recorder
	now := nowFunc(opts.Now)()
	if !chainPresent(&r, chain) {
		return r.out
	}
	leaf := chain[0]

	// Usage marker and serverAuth.
	hasOID := slices.ContainsFunc(leaf.UnknownExtKeyUsage, oidAMTActivation.Equal)
	hasOU := slices.Contains(leaf.Subject.OrganizationalUnit, ClientSetupOU)
	switch {
	case !hasOID && !hasOU:
		if ou, near := nearOU(leaf.Subject.OrganizationalUnit); near {
			r.add(CodeUsageOUInexact, amt.SeverityError, 0, leaf,
				"OU %q is not exactly %q (the firmware compares case and punctuation) and the EKU lacks %v",
				ou, ClientSetupOU, oidAMTActivation)
		} else {
			r.add(CodeUsageMarkerMissing, amt.SeverityError, 0, leaf,
				"expected EKU %v or OU %q, found neither", oidAMTActivation, ClientSetupOU)
		}
	case hasOU && !hasOID:
		r.add(CodeUsageOUOnly, amt.SeverityInfo, 0, leaf,
			"marked by OU %q only; AMT accepts it, tools that require EKU %v (RPS) do not", ClientSetupOU, oidAMTActivation)
	}
	checkServerAuth(&r, leaf)

	checkKeys(&r, chain, minBits(opts.MinRSABits), 0, false)
	if !opts.Firmware.IsZero() && amt.FirmwareFor(opts.Firmware).ProvisioningCertSHA384 {
		switch leaf.SignatureAlgorithm {
		case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		default:
			r.add(CodeLeafNotSHA384, amt.SeverityWarning, 0, leaf,
				"signed with %v; AMT %v is held to refuse a provisioning certificate not signed with SHA-384 (amt.Firmware.ProvisioningCertSHA384)",
				leaf.SignatureAlgorithm, opts.Firmware)
		}
	}
	sigsOK := checkSignatures(&r, chain, !opts.AllowSHA1Root)
	if checkValidity(&r, chain, now) {
		first := chain[firstToExpire(chain)]
		lifetime := first.NotAfter.Sub(first.NotBefore)
		switch opts.Expiry.ProvisioningChain(chain, now) {
		case ExpiryWarning:
			i := firstToExpire(chain)
			r.add(CodeExpiryWarning, amt.SeverityWarning, i, chain[i], "expires %s, in %s (status 7210: %s or less left)",
				stamp(chain[i].NotAfter), daysLeft(chain[i].NotAfter, now), days(opts.Expiry.warn(lifetime)))
		case ExpiryError:
			i := firstToExpire(chain)
			r.add(CodeExpiryError, amt.SeverityError, i, chain[i], "expires %s, in %s (status 7211: less than %s left)",
				stamp(chain[i].NotAfter), daysLeft(chain[i].NotAfter, now), days(opts.Expiry.err(lifetime)))
		}
	}
	rootOK := checkRoot(&r, chain, true)
	linksOK := checkLinks(&r, chain)
	if rootOK && linksOK && sigsOK {
		// A leaf that names serverAuth is verified for it, so that an
		// intermediate's EKU limits apply (with Any, crypto/x509 checks
		// none); a leaf without EKUs stays unconstrained.
		eku := x509.ExtKeyUsageAny
		if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
			eku = x509.ExtKeyUsageServerAuth
		}
		verifyPath(&r, chain, nil, eku)
		checkCNConstraints(&r, chain)
	}

	// Key.
	switch pub := publicOf(key); {
	case pub == nil:
		r.add(CodeKeyMissing, amt.SeverityError, 0, leaf, "no private key; the provisioning server needs the leaf's key")
	case !keyMatches(pub, leaf):
		r.add(CodeKeyMismatch, amt.SeverityError, 0, leaf, "the private key's public half is not the certificate's public key")
	}

	checkNames(&r, leaf, opts.DNSSuffixes)

	// Root hash.
	if rootOK {
		root := chain[len(chain)-1]
		if opts.DeviceHashes != nil {
			if _, ok := MatchRoot(chain, opts.DeviceHashes); !ok {
				r.add(CodeRootNotTrusted, amt.SeverityError, len(chain)-1, root,
					"root hash (SHA-256 %s) is not among the device's %d trusted hashes",
					RootHash(root, amt.HashSHA256).Hex(), len(opts.DeviceHashes))
			}
		} else if _, ok := IdentifyRoot(root); !ok {
			r.add(CodeRootNotFactory, amt.SeverityInfo, len(chain)-1, root,
				"root (SHA-256 %s) is not a factory root; devices need its hash added (setup.bin or MEBx)",
				RootHash(root, amt.HashSHA256).Hex())
		}
	}

	// Microsoft templates.
	tmpl, err := ReadTemplate(leaf)
	if err != nil {
		r.add(CodeTemplateMalformed, amt.SeverityWarning, 0, leaf, "%v", err)
	}
	if tmpl.Kind == TemplateV1 && !hasOID && !hasOU {
		r.add(CodeTemplateV1NoOID, amt.SeverityError, 0, leaf,
			"issued from v1 template %q, which cannot carry EKU %v; duplicate it as a v2 template and add the OID",
			tmpl.Name, oidAMTActivation)
	}
	checkTemplateVersion(&r, leaf, opts.TemplateVersion)
	checkRevocation(&r, chain, now, opts.Revocation)
	return r.out
}

// anchored returns chain with the trust anchor from roots appended when chain
// stops below its root (AMT's chains usually do), so that the top certificate's
// CRL can be checked against its issuer's key; otherwise chain itself.
func anchored(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) []*x509.Certificate {
	if roots == nil || len(chain) == 0 || selfSigned(chain[len(chain)-1]) {
		return chain
	}
	// The anchor is found for the chain's top alone: the whole chain may
	// have no instant at which every certificate is valid (a root that
	// expired after issuing the intermediate), and the anchor's own validity
	// is judged by the caller. It is looked for now and when the top was
	// issued; of several (a lapsed root and its renewal: same name and key),
	// one valid now is taken, else the one that expires last.
	top := chain[len(chain)-1]
	var best *x509.Certificate
	for _, at := range []time.Time{now, top.NotBefore.Add(time.Second)} {
		chains, err := top.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			continue
		}
		for _, vc := range chains {
			if len(vc) != 2 || !vc[0].Equal(top) {
				continue
			}
			c := vc[1]
			validNow := !now.Before(c.NotBefore) && !now.After(c.NotAfter)
			bestNow := best != nil && !now.Before(best.NotBefore) && !now.After(best.NotAfter)
			if best == nil || validNow && !bestNow || validNow == bestNow && c.NotAfter.After(best.NotAfter) {
				best = c
			}
		}
	}
	if best == nil {
		return chain
	}
	return append(slices.Clone(chain), best)
}

// DeviceKind selects the rules [CheckDeviceCertificate] applies.
type DeviceKind int

// Device certificate kinds.
const (
	DeviceTLS       DeviceKind = iota // AMT's TLS server certificate
	DeviceIEEE8021X                   // AMT's 802.1X client certificate
)

// DeviceOptions tune [CheckDeviceCertificate].
type DeviceOptions struct {
	Kind DeviceKind
	// FQDN is the device's name from the inventory; when set the subject CN (and
	// for TLS a dNSName SAN) must hold it.
	FQDN string
	// UPN, for 802.1X, is the user principal name the SAN must hold.
	UPN string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Expiry is the expiry policy (its Renew window applies).
	Expiry ExpiryPolicy
	// MinRSABits overrides [MinRSABits]; zero means 2048.
	MinRSABits int
	// TemplateVersion is the declared Microsoft template version (0 = unknown).
	TemplateVersion int
	// Roots, when set, are the trust anchors the chain is verified against; when
	// nil a self-signed last certificate of the chain serves as the anchor, and a
	// chain without one is not path-verified.
	Roots *x509.CertPool
	// Revocation, when set, checks the chain against CRLs.
	Revocation *RevocationOptions
}

// CheckDeviceCertificate applies the rules for AMT's own TLS or 802.1X
// certificate to chain (the device certificate first, then its issuers; AMT sends
// its chain without the root). See docs/certs.md for the rules and codes.
func CheckDeviceCertificate(chain []*x509.Certificate, opts DeviceOptions) amt.Findings {
	var r recorder
	now := nowFunc(opts.Now)()
	if !chainPresent(&r, chain) {
		return r.out
	}
	leaf := chain[0]
	eku := x509.ExtKeyUsageServerAuth
	switch opts.Kind {
	case DeviceTLS:
		checkServerAuth(&r, leaf)
	case DeviceIEEE8021X:
		eku = x509.ExtKeyUsageClientAuth
		if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			r.add(CodeClientAuthMissing, amt.SeverityError, 0, leaf, "extended key usage lacks clientAuth (%v)", oidEKUClientAuth)
		}
	}
	maxBits := 0
	if opts.Kind == DeviceIEEE8021X {
		maxBits = MaxIEEE8021XRSABits
	}
	checkKeys(&r, chain, minBits(opts.MinRSABits), maxBits, true)
	sigsOK := checkSignatures(&r, chain, false)
	// The chain as verified: AMT sends it without its root, which comes from
	// opts.Roots and must be inside its validity too.
	full := anchored(chain, opts.Roots, now)
	if checkValidity(&r, full, now) && opts.Expiry.DeviceCert(leaf, now) == ExpiryRenew {
		r.add(CodeRenewDue, amt.SeverityWarning, 0, leaf, "expires %s, in %s: inside the %s renewal window",
			stamp(leaf.NotAfter), daysLeft(leaf.NotAfter, now), days(opts.Expiry.renew(leaf.NotAfter.Sub(leaf.NotBefore))))
	}

	if opts.FQDN != "" {
		want := canonicalName(opts.FQDN)
		if canonicalName(leaf.Subject.CommonName) != want {
			r.add(CodeFQDNNotInSubject, amt.SeverityError, 0, leaf, "subject CN %q is not the device FQDN %q",
				leaf.Subject.CommonName, opts.FQDN)
		}
		if opts.Kind == DeviceTLS && !slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return canonicalName(n) == want }) {
			r.add(CodeFQDNNotInSAN, amt.SeverityWarning, 0, leaf, "no dNSName SAN %q (found %q)", opts.FQDN, leaf.DNSNames)
		}
	}
	if opts.Kind == DeviceIEEE8021X {
		upns := UPNs(leaf)
		switch {
		case opts.UPN != "" && !slices.ContainsFunc(upns, func(u string) bool { return strings.EqualFold(u, opts.UPN) }):
			r.add(CodeUPNMismatch, amt.SeverityError, 0, leaf, "SAN lacks UPN %q (found %q)", opts.UPN, upns)
		case opts.UPN == "" && len(upns) == 0:
			r.add(CodeUPNMissing, amt.SeverityWarning, 0, leaf, "SAN holds no UPN (otherName %v)", oidUPN)
		}
	}

	linksOK := checkLinks(&r, chain)
	last := chain[len(chain)-1]
	if claimsSelfIssued(last) && len(chain) > 1 {
		linksOK = checkRoot(&r, chain, false) && linksOK
	}
	if linksOK && sigsOK && (opts.Roots != nil || selfSigned(last)) {
		verifyPath(&r, chain, opts.Roots, eku)
	}
	if _, err := ReadTemplate(leaf); err != nil {
		r.add(CodeTemplateMalformed, amt.SeverityWarning, 0, leaf, "%v", err)
	}
	checkTemplateVersion(&r, leaf, opts.TemplateVersion)
	checkRevocation(&r, full, now, opts.Revocation)
	return r.out
}

func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}

func minBits(n int) int {
	if n <= 0 {
		return MinRSABits
	}
	return n
}

func chainPresent(r *recorder, chain []*x509.Certificate) bool {
	if len(chain) == 0 {
		r.add(CodeNoCertificates, amt.SeverityError, -1, nil, "the chain is empty")
		return false
	}
	for i, c := range chain {
		if c == nil {
			r.add(CodeNoCertificates, amt.SeverityError, i, nil, "certificate %d is missing (nil)", i)
			return false
		}
	}
	return true
}

// nearOU finds an OU that is the client-setup OU up to case, spaces and a
// trailing period.
func nearOU(ous []string) (string, bool) {
	norm := func(s string) string {
		s = strings.TrimSuffix(strings.TrimSpace(s), ".")
		return strings.ToLower(strings.Join(strings.Fields(s), " "))
	}
	want := norm(ClientSetupOU)
	for _, ou := range ous {
		if norm(ou) == want {
			return ou, true
		}
	}
	return "", false
}

func isRoot(chain []*x509.Certificate, i int) bool {
	return i == len(chain)-1 && selfSigned(chain[i])
}

// checkKeys checks the chain's keys. device: the chain of a certificate AMT
// presents (TLS, 802.1X), whose leaf may carry an ECDSA P-256 or P-384 key
// (AMT 22 generates ECC P-384 TLS keys: amt.Firmware.TLSKeyAlgorithm) and
// whose issuers AMT never verifies (its peers do), so their key type is not
// AMT's concern.
func checkKeys(r *recorder, chain []*x509.Certificate, minBits, maxBits int, device bool) {
	for i, c := range chain {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			switch {
			case device && i > 0:
			case device && deviceECDSA(c.PublicKey):
			case device:
				r.add(CodeKeyNotRSA, amt.SeverityError, i, c, "key is %v, expected RSA or ECDSA P-256/P-384", c.PublicKeyAlgorithm)
			case i == 0:
				r.add(CodeKeyNotRSA, amt.SeverityError, i, c, "key is %v, expected RSA", c.PublicKeyAlgorithm)
			default:
				r.add(CodeCAKeyNotRSA, amt.SeverityWarning, i, c, "key is %v, expected RSA", c.PublicKeyAlgorithm)
			}
			continue
		}
		bits := pub.N.BitLen()
		if bits < minBits {
			r.add(CodeKeyTooShort, amt.SeverityError, i, c, "RSA key of %d bits, expected at least %d", bits, minBits)
		}
		if i == 0 && maxBits > 0 && bits > maxBits {
			r.add(CodeKeyTooLong, amt.SeverityError, i, c, "RSA key of %d bits, expected at most %d", bits, maxBits)
		}
	}
}

// checkServerAuth reports a leaf without serverAuth: an error when its
// extended key usage lists other purposes, a warning when it has no extended
// key usage at all, which RFC 5280 §4.2.1.12 reads as no restriction (the
// Intel AMT SDK asks for "SSL Server"; MeshCentral accepts the leaf, and so
// does amtsim).
func checkServerAuth(r *recorder, leaf *x509.Certificate) {
	if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return
	}
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		r.add(CodeServerAuthMissing, amt.SeverityWarning, 0, leaf, "no extended key usage, so no serverAuth (%v): no restriction by RFC 5280, but the Intel AMT SDK asks for it", oidEKUServerAuth)
		return
	}
	r.add(CodeServerAuthMissing, amt.SeverityError, 0, leaf, "extended key usage lacks serverAuth (%v)", oidEKUServerAuth)
}

// deviceECDSA reports whether pub is an ECDSA key on a curve AMT generates
// keys on.
func deviceECDSA(pub any) bool {
	k, ok := pub.(*ecdsa.PublicKey)
	return ok && (k.Curve == elliptic.P256() || k.Curve == elliptic.P384())
}

func weakAlgorithm(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// checkSignatures reports weak signature algorithms; it returns false when a
// certificate below the root has one (path verification then cannot run). A
// weak root self-signature is an error when strictRoot is set.
func checkSignatures(r *recorder, chain []*x509.Certificate, strictRoot bool) bool {
	ok := true
	for i, c := range chain {
		if !weakAlgorithm(c.SignatureAlgorithm) {
			continue
		}
		if isRoot(chain, i) && len(chain) > 1 {
			if strictRoot {
				r.add(CodeWeakRootSignature, amt.SeverityError, i, c, "self-signed with %v; ME 15 H and ME 16 and later refuse SHA-1 anywhere in the chain, root included (set AllowSHA1Root for older fleets)", c.SignatureAlgorithm)
				continue
			}
			r.add(CodeWeakRootSignature, amt.SeverityWarning, i, c, "self-signed with %v; ME 15 H and ME 16 and later refuse it", c.SignatureAlgorithm)
		} else {
			r.add(CodeWeakSignature, amt.SeverityError, i, c, "signed with %v, expected SHA-256 or stronger", c.SignatureAlgorithm)
			ok = false
		}
	}
	return ok
}

// checkValidity reports certificates outside their validity at now and returns
// true when all are inside.
func checkValidity(r *recorder, chain []*x509.Certificate, now time.Time) bool {
	ok := true
	for i, c := range chain {
		switch {
		case now.Before(c.NotBefore):
			r.add(CodeNotYetValid, amt.SeverityError, i, c, "valid from %s, now is %s", stamp(c.NotBefore), stamp(now))
			ok = false
		case now.After(c.NotAfter):
			r.add(CodeExpired, amt.SeverityError, i, c, "expired %s, now is %s", stamp(c.NotAfter), stamp(now))
			ok = false
		}
	}
	return ok
}

func firstToExpire(chain []*x509.Certificate) int {
	j := 0
	for i, c := range chain {
		if c.NotAfter.Before(chain[j].NotAfter) {
			j = i
		}
	}
	return j
}

// checkRoot reports a missing or badly self-signed root and returns true when the
// chain ends in a good self-signed root. With required false a missing root is not
// reported.
func checkRoot(r *recorder, chain []*x509.Certificate, required bool) bool {
	i := len(chain) - 1
	root := chain[i]
	if !claimsSelfIssued(root) {
		if required {
			r.add(CodeRootMissing, amt.SeverityError, i, root, "issued by %q, which is not in the chain; AMT needs the root to compare its hash",
				root.Issuer.String())
		}
		return false
	}
	err := root.CheckSignature(root.SignatureAlgorithm, root.RawTBSCertificate, root.Signature)
	if err != nil && !insecure(err) && !errors.Is(err, x509.ErrUnsupportedAlgorithm) {
		r.add(CodeRootBadSignature, amt.SeverityError, i, root, "self-signature does not verify: %v", err)
		return false
	}
	return true
}

func insecure(err error) bool {
	var ia x509.InsecureAlgorithmError
	return errors.As(err, &ia)
}

// checkLinks checks that chain[i] is issued by chain[i+1] and that issuers are
// CAs; it returns true when every link holds.
func checkLinks(r *recorder, chain []*x509.Certificate) bool {
	ok := true
	for i := 0; i+1 < len(chain); i++ {
		child, parent := chain[i], chain[i+1]
		switch {
		case !bytes.Equal(child.RawIssuer, parent.RawSubject):
			r.add(CodeChainBroken, amt.SeverityError, i, child, "issuer %q is not the subject %q of certificate %d",
				child.Issuer.String(), parent.Subject.String(), i+1)
			ok = false
			continue
		case !keyIDsAgree(child.AuthorityKeyId, parent.SubjectKeyId):
			r.add(CodeChainBroken, amt.SeverityError, i, child, "authority key ID %x is not the subject key ID %x of certificate %d",
				child.AuthorityKeyId, parent.SubjectKeyId, i+1)
			ok = false
			continue
		}
		if err := parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature); err != nil && !insecure(err) {
			r.add(CodeChainBroken, amt.SeverityError, i, child, "signature does not verify with the key of certificate %d: %v", i+1, err)
			ok = false
		}
		if !isCA(parent) {
			r.add(CodeIssuerNotCA, amt.SeverityError, i+1, parent, "issues certificate %d but is not a CA (basic constraints CA:TRUE missing)", i)
			ok = false
		}
	}
	return ok
}

// verifyPath runs x509 path verification at a time inside every certificate's
// validity (expiry is reported separately) and reports what no other rule did.
func verifyPath(r *recorder, chain []*x509.Certificate, roots *x509.CertPool, eku x509.ExtKeyUsage) {
	inter := x509.NewCertPool()
	mid := chain[1:]
	if roots == nil {
		roots = x509.NewCertPool()
		roots.AddCert(chain[len(chain)-1])
		if len(chain) > 1 {
			mid = chain[1 : len(chain)-1]
		}
	}
	for _, c := range mid {
		inter.AddCert(c)
	}
	b := Bundle{Chain: chain}
	at := b.NotBefore()
	if at.After(b.NotAfter()) {
		at = chain[0].NotBefore
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{eku},
	})
	if err == nil || insecure(err) {
		return
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && (inv.Reason == x509.Expired || inv.Reason == x509.NotAuthorizedToSign) {
		return
	}
	r.add(CodeChainInvalid, amt.SeverityError, 0, chain[0], "path verification failed: %v", err)
}

// checkCNConstraints applies the DNS name constraints of the chain's CAs to
// the leaf's CN, the one name the firmware matches: crypto/x509 applies them
// to SANs only, so a constrained sub-CA could otherwise issue a provisioning
// certificate for any domain (OpenSSL refuses such a chain, "permitted
// subtree violation").
func checkCNConstraints(r *recorder, chain []*x509.Certificate) {
	leaf := chain[0]
	raw := strings.TrimSpace(leaf.Subject.CommonName)
	wildcard := strings.HasPrefix(raw, "*.")
	base, err := amt.NormalizeName(raw) // lower-case A-labels, "*." and a trailing dot stripped
	if err != nil {
		return // cn-invalid says so
	}
	// A wildcard CN stands for every name one label under base: it is
	// permitted where such a name is, and excluded where a constraint
	// covers such a name or lies one label under base.
	cn := base
	if wildcard {
		cn = "x." + base
	}
	excluded := func(d string) bool {
		if inDNSSubtree(cn, d) {
			return true
		}
		d = strings.TrimPrefix(strings.ToLower(d), ".")
		return wildcard && strings.HasSuffix(d, "."+base) && !strings.Contains(strings.TrimSuffix(d, "."+base), ".")
	}
	for i, ca := range chain[1:] {
		if len(ca.PermittedDNSDomains) > 0 && !slices.ContainsFunc(ca.PermittedDNSDomains, func(d string) bool { return inDNSSubtree(cn, d) }) {
			r.add(CodeChainInvalid, amt.SeverityError, 0, leaf, "CN %q is outside the DNS names certificate %d (%q) may issue for (permitted %q)",
				leaf.Subject.CommonName, i+1, ca.Subject.CommonName, ca.PermittedDNSDomains)
			return
		}
		if d := slices.IndexFunc(ca.ExcludedDNSDomains, excluded); d >= 0 {
			r.add(CodeChainInvalid, amt.SeverityError, 0, leaf, "CN %q is among the DNS names certificate %d (%q) may not issue for (excluded %q)",
				leaf.Subject.CommonName, i+1, ca.Subject.CommonName, ca.ExcludedDNSDomains[d])
			return
		}
	}
}

// inDNSSubtree reports whether name is within the dNSName constraint c
// (RFC 5280 section 4.2.1.10): c itself and its subdomains, or only its
// subdomains when c starts with a dot; an empty constraint is every name.
func inDNSSubtree(name, c string) bool {
	c = strings.ToLower(c)
	switch {
	case c == "":
		return true
	case strings.HasPrefix(c, "."):
		return strings.HasSuffix(name, c)
	}
	return name == c || strings.HasSuffix(name, "."+c)
}

// commonNames returns every CN of a subject (Go's CommonName keeps the last).
func commonNames(n pkix.Name) []string {
	var out []string
	for _, atv := range n.Names {
		if atv.Type.Equal(oidCommonName) {
			if s, ok := atv.Value.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

func checkNames(r *recorder, leaf *x509.Certificate, suffixes []string) {
	cn := leaf.Subject.CommonName
	if cns := commonNames(leaf.Subject); len(cns) > 1 {
		// Which one the firmware matches is undocumented: RPS's suffix check
		// reads the first (node-forge getField), crypto/x509 keeps the last.
		r.add(CodeNameInvalid, amt.SeverityError, 0, leaf, "the subject holds %d CNs %q: AMT matches one, and which is undocumented; issue the certificate with one", len(cns), cns)
		return
	}
	if cn == "" {
		r.add(CodeNameMissing, amt.SeverityError, 0, leaf, "no subject CN; AMT matches the DNS suffix against the CN")
		return
	}
	// The CN must be usable at all: a name that covers itself.
	var ne *amt.NameError
	if err := amt.MatchDNSSuffix(cn, strings.TrimPrefix(strings.TrimSpace(cn), "*.")); err != nil && errors.As(err, &ne) &&
		!errors.Is(err, amt.ErrSuffixMismatch) {
		r.add(CodeNameInvalid, amt.SeverityError, 0, leaf, "CN %q is not a usable DNS name: %v", cn, ne.Err)
		return
	}
	for _, sfx := range suffixes {
		err := amt.MatchDNSSuffix(cn, sfx)
		if err == nil {
			continue
		}
		if errors.As(err, &ne) && ne.Role == "DNS suffix" {
			r.add(CodeDNSSuffixInvalid, amt.SeverityError, -1, nil, "device DNS suffix %q is not a usable name: %v", sfx, ne.Err)
			continue
		}
		if errors.Is(err, amt.ErrSuffixUndocumented) {
			r.add(CodeDNSSuffixUndocumented, amt.SeverityWarning, 0, leaf,
				"CN %q covers device DNS suffix %q only by MeshCentral's per-TLD rule; no Intel document says the firmware follows it", cn, sfx)
			continue
		}
		msg := "CN %q does not cover device DNS suffix %q"
		for _, san := range leaf.DNSNames {
			if amt.MatchDNSSuffix(san, sfx) == nil {
				msg += " (SAN " + san + " would, but the firmware matches the CN)"
				break
			}
		}
		r.add(CodeDNSSuffixMismatch, amt.SeverityError, 0, leaf, msg, cn, sfx)
	}
}

func checkTemplateVersion(r *recorder, leaf *x509.Certificate, v int) {
	if v >= 3 {
		r.add(CodeTemplateV3, amt.SeverityError, 0, leaf,
			"issued from a version %d template; Configuration Manager: use version 2 templates (CA compatibility Windows Server 2003)", v)
	}
}

// newestCRL picks, among crls, the one to judge c by: of the complete CRLs
// for c its issuer signed, the newest (highest CRL number, then latest
// thisUpdate), as RFC 5280 §6.3.3 asks — CRLs overlap (a cached one and a
// fresh download, one published before the other's nextUpdate), and an older
// one may not list a certificate revoked since. A delta CRL (which shares the
// complete CRLs' numbers) or one whose scope leaves c out is not a candidate;
// one with an unknown critical extension is, and then decides nothing (fail
// closed, rather than an older CRL clearing c).
// With no issuer, or no candidate, the first of c's issuer's name (CheckCRL
// then says what is wrong with it).
func newestCRL(crls []*x509.RevocationList, c, issuer *x509.Certificate) *x509.RevocationList {
	var first, best *x509.RevocationList
	for _, l := range crls {
		if l == nil || !bytes.Equal(l.RawIssuer, c.RawIssuer) {
			continue
		}
		if first == nil {
			first = l
		}
		if issuer == nil || !crlext.Covers(l, c) || l.CheckSignatureFrom(issuer) != nil {
			continue
		}
		if best == nil || newerCRL(l, best) {
			best = l
		}
	}
	if best != nil {
		return best
	}
	return first
}

func newerCRL(a, b *x509.RevocationList) bool {
	if a.Number != nil && b.Number != nil {
		if c := a.Number.Cmp(b.Number); c != 0 {
			return c > 0
		}
	}
	return a.ThisUpdate.After(b.ThisUpdate)
}

func checkRevocation(r *recorder, chain []*x509.Certificate, now time.Time, ro *RevocationOptions) {
	if ro == nil {
		return
	}
	for i, c := range chain {
		if isRoot(chain, i) {
			continue
		}
		var issuer *x509.Certificate
		if i+1 < len(chain) {
			issuer = chain[i+1]
		}
		crl := newestCRL(ro.CRLs, c, issuer)
		o := CRLOptions{AllowMissing: ro.AllowMissing, AllowStale: ro.AllowStale}
		var err error
		if issuer != nil {
			o.Issuer = issuer
			err = CheckCRL(c, crl, now, o)
		} else if crl != nil || !ro.AllowMissing {
			// The top of a chain without its root: nothing to verify the CRL's
			// signature with, and an unsigned CRL proves nothing (fail closed).
			err = fmt.Errorf("%w: the issuer of %s is neither in the chain nor among the roots given", ErrCRLSignature, Describe(c))
		}
		var rev *RevokedError
		switch {
		case err == nil:
		case errors.As(err, &rev):
			r.add(CodeRevoked, amt.SeverityError, i, c, "revoked %s (%v)", stamp(rev.RevokedAt), rev.Reason)
		default:
			r.add(CodeCRLUnavailable, amt.SeverityError, i, c, "cannot check revocation: %v", err)
		}
	}
}

func canonicalName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func days(d time.Duration) string {
	n := d / Day
	if d%Day != 0 {
		return strconv.FormatFloat(float64(d)/float64(Day), 'f', 1, 64) + " days"
	}
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(int(n)) + " days"
}

func daysLeft(notAfter, now time.Time) string {
	d := notAfter.Sub(now)
	if d < Day {
		return d.Truncate(time.Second).String()
	}
	return strconv.Itoa(int(d/Day)) + " days"
}
