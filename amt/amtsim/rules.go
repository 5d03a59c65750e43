package amtsim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/amtkit/amtkit/amt"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=Rule -linecomment -output=rule_string.go

// Rule names one firmware rule a provisioning certificate chain must pass,
// both for the TLS client certificate of remote configuration and for the
// chain injected with AddNextCertInChain before AdminSetup or
// UpgradeClientToAdmin. String names the rule ("root hash", …; "Rule(n)" for
// another value).
type Rule int

// The rules, in the order they are checked.
const (
	// RuleChain: the chain is empty, does not parse, or is longer than the
	// firmware accepts.
	RuleChain Rule = iota + 1 // chain
	// RuleRootHash: the hash of the last certificate (the root) is not an active
	// entry of the device's root-hash table.
	RuleRootHash // root hash
	// RuleSignature: a certificate is not issued by the next one (names differ,
	// the issuer is not a CA, or the signature does not verify).
	RuleSignature // chain signature
	// RuleAlgorithm: a signature algorithm the firmware refuses (MD2/MD5
	// always; SHA-1 on strict firmware, root included).
	RuleAlgorithm // signature algorithm
	// RuleKey: the leaf key is not RSA, or an RSA key is shorter than 2048 bits
	// on strict firmware.
	RuleKey // key
	// RuleValidity: the leaf or an intermediate is expired or not yet valid by
	// the device's clock.
	RuleValidity // validity
	// RuleUsage: the leaf carries neither the extended key usage
	// 2.16.840.1.113741.1.2.3 nor the subject OU "Intel(R) Client Setup
	// Certificate" (exact, case-sensitive).
	RuleUsage // usage marker
	// RuleServerAuth: the leaf restricts its extended key usage without
	// including serverAuth.
	RuleServerAuth // serverAuth usage
	// RuleSuffix: no name of the leaf (CN, then DNS SANs) matches the device's
	// DNS suffix by the firmware rule.
	RuleSuffix // DNS suffix
)

// ErrRuleViolation is wrapped by every [*RuleError].
var ErrRuleViolation = errors.New("amtsim: firmware rule refused the certificate chain")

// RuleError says which rule refused a chain and why.
type RuleError struct {
	Rule Rule
	// Cert is the index in the chain (0 = leaf) of the certificate at fault,
	// or -1.
	Cert int
	// Expected and Got describe the failure.
	Expected, Got string
}

func (e *RuleError) Error() string {
	where := ""
	if e.Cert >= 0 {
		where = " (certificate " + strconv.Itoa(e.Cert) + ")"
	}
	return fmt.Sprintf("amtsim: %s rule%s: expected %s, got %s", e.Rule, where, e.Expected, e.Got)
}

// Unwrap returns ErrRuleViolation.
func (e *RuleError) Unwrap() error { return ErrRuleViolation }

// Is matches a *RuleError with the same Rule (so errors.Is(err,
// &amtsim.RuleError{Rule: amtsim.RuleSuffix}) works).
func (e *RuleError) Is(target error) bool {
	t, ok := target.(*RuleError)
	return ok && t.Rule == e.Rule
}

// OIDClientSetup is the Intel AMT "Client Setup Certificate (Zero-Touch)"
// extended key usage.
var OIDClientSetup = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3}

// ClientSetupOU is the subject OU that marks a provisioning certificate
// without the OID.
const ClientSetupOU = "Intel(R) Client Setup Certificate"

var oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}

// maxChainLen bounds the chains the simulator accepts (AddNextCertInChain
// returns "chain length exceeded" beyond it; no documented maximum exists).
const maxChainLen = 8

// chainPolicy is what a chain is checked against.
type chainPolicy struct {
	fw     amt.Firmware
	plat   platform
	hashes []RootHash
	suffix string
	perTLD bool // Behavior.PerTLDSuffixRule
	now    time.Time
}

// checkChain applies the firmware rules to chain (leaf first, root last) and
// returns the matched root hash.
func checkChain(chain []*x509.Certificate, p chainPolicy) (amt.CertHash, error) {
	if len(chain) == 0 {
		return amt.CertHash{}, &RuleError{Rule: RuleChain, Cert: -1, Expected: "a certificate chain", Got: "none"}
	}
	if len(chain) > maxChainLen {
		return amt.CertHash{}, &RuleError{Rule: RuleChain, Cert: -1, Expected: "at most " + strconv.Itoa(maxChainLen) + " certificates", Got: strconv.Itoa(len(chain))}
	}
	root := chain[len(chain)-1]
	matched, ok := activeHashOf(root.Raw, p)
	if !ok {
		return amt.CertHash{}, &RuleError{Rule: RuleRootHash, Cert: len(chain) - 1,
			Expected: "a root whose hash is an active entry of the device's table",
			Got:      "root " + strconv.Quote(root.Subject.CommonName) + " (SHA-256 " + sha256Hex(root.Raw) + ")"}
	}
	for i := 0; i+1 < len(chain); i++ {
		child, parent := chain[i], chain[i+1]
		if err := checkAlgorithm(child, i, p.plat.strict); err != nil {
			return matched, err
		}
		if string(child.RawIssuer) != string(parent.RawSubject) {
			return matched, &RuleError{Rule: RuleSignature, Cert: i, Expected: "issuer " + strconv.Quote(parent.Subject.String()),
				Got: strconv.Quote(child.Issuer.String())}
		}
		if parent.Version >= 3 && !(parent.BasicConstraintsValid && parent.IsCA) {
			return matched, &RuleError{Rule: RuleSignature, Cert: i + 1, Expected: "a CA certificate as issuer", Got: "a certificate without the CA basic constraint"}
		}
		if err := parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature); err != nil {
			return matched, &RuleError{Rule: RuleSignature, Cert: i, Expected: "a signature by certificate " + strconv.Itoa(i+1), Got: err.Error()}
		}
	}
	if p.plat.strict {
		if err := checkAlgorithm(root, len(chain)-1, true); err != nil {
			return matched, err
		}
	}
	if p.fw.ProvisioningCertSHA384 && !isSHA384(chain[0]) {
		return matched, &RuleError{Rule: RuleAlgorithm, Cert: 0, Expected: "a SHA-384 signature (AMT 22)", Got: chain[0].SignatureAlgorithm.String()}
	}
	leafKey, isRSA := chain[0].PublicKey.(*rsa.PublicKey)
	if !isRSA {
		return matched, &RuleError{Rule: RuleKey, Cert: 0, Expected: "an RSA leaf key", Got: fmt.Sprintf("%T", chain[0].PublicKey)}
	}
	_ = leafKey
	for i, c := range chain {
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < p.plat.minRSA {
			return matched, &RuleError{Rule: RuleKey, Cert: i, Expected: "RSA keys of at least " + strconv.Itoa(p.plat.minRSA) + " bits", Got: "RSA-" + strconv.Itoa(k.N.BitLen())}
		}
	}
	for i, c := range chain[:len(chain)-1] {
		if p.now.Before(c.NotBefore) || p.now.After(c.NotAfter) {
			return matched, &RuleError{Rule: RuleValidity, Cert: i,
				Expected: "valid at " + p.now.UTC().Format(time.RFC3339),
				Got:      c.NotBefore.UTC().Format(time.RFC3339) + " to " + c.NotAfter.UTC().Format(time.RFC3339)}
		}
	}
	leaf := chain[0]
	if !hasClientSetupMarker(leaf) {
		return matched, &RuleError{Rule: RuleUsage, Cert: 0, Expected: "EKU 2.16.840.1.113741.1.2.3 or OU " + strconv.Quote(ClientSetupOU), Got: "neither"}
	}
	// anyExtendedKeyUsage does not count (certs' server-auth-missing, after
	// the Intel AMT SDK's certificate requirements; no source says the
	// firmware takes it for serverAuth).
	if len(leaf.ExtKeyUsage)+len(leaf.UnknownExtKeyUsage) > 0 &&
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return matched, &RuleError{Rule: RuleServerAuth, Cert: 0, Expected: "serverAuth among the extended key usages", Got: "an EKU list without it"}
	}
	if err := checkLeafSuffix(leaf, p.suffix, p.fw.TwoLabelSuffixMatch, p.perTLD); err != nil {
		return matched, err
	}
	return matched, nil
}

func activeHashOf(der []byte, p chainPolicy) (amt.CertHash, bool) {
	for _, h := range p.hashes {
		if !h.Active || !h.Hash.Alg.Known() {
			continue
		}
		if p.plat.strict && h.Hash.Alg == amt.HashSHA1 {
			continue
		}
		sum, err := h.Hash.Alg.Sum(der)
		if err == nil && sum.Equal(h.Hash) {
			return sum, true
		}
	}
	return amt.CertHash{}, false
}

func checkAlgorithm(c *x509.Certificate, i int, strict bool) error {
	switch c.SignatureAlgorithm {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		return nil
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1:
		if !strict {
			return nil
		}
	}
	return &RuleError{Rule: RuleAlgorithm, Cert: i, Expected: "a SHA-2 signature", Got: c.SignatureAlgorithm.String()}
}

func hasClientSetupMarker(c *x509.Certificate) bool {
	for _, o := range c.UnknownExtKeyUsage {
		if o.Equal(OIDClientSetup) {
			return true
		}
	}
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(oidOU) {
			if s, ok := atv.Value.(string); ok && s == ClientSetupOU {
				return true
			}
		}
	}
	return false
}

// checkLeafSuffix matches the leaf's subject CN — the name the firmware
// matches (MeshCentral amtprovisioningserver.js checkAcmActivation compares
// cert.cn; RPS's domain check reads the CN); a SAN does not count.
func checkLeafSuffix(leaf *x509.Certificate, suffix string, twoLabel, perTLD bool) error {
	var names []string
	if leaf.Subject.CommonName != "" {
		names = append(names, leaf.Subject.CommonName)
	}
	if len(names) == 0 {
		return &RuleError{Rule: RuleSuffix, Cert: 0, Expected: "a subject CN", Got: "none"}
	}
	first := suffixOK
	for _, n := range names {
		v := matchSuffixFor(n, suffix, twoLabel, perTLD)
		if v == suffixOK {
			return nil
		}
		if first == suffixOK {
			first = v
		}
	}
	return &RuleError{Rule: RuleSuffix, Cert: 0, Expected: "a name covering the device suffix " + strconv.Quote(suffix),
		Got: strconv.Quote(names[0]) + ": " + string(first)}
}
