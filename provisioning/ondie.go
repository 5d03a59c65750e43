package provisioning

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// IntelOnDieRootSHA256 is the SHA-256 of the DER encoding of Intel's On-Die CA
// root certificate ("OnDie CA Root Cert Signing", www.intel.com, ECDSA P-384,
// valid 2019-04-03 to 2049-12-31): the root rpc-go ships in
// internal/certs/trustedstore/OnDie_CA_RootCA_Certificate.cer and RPS in
// src/certs/amt-odca.ts (both at their commits 596559d9 and dbebd667). amtkit
// does not ship the certificate; check the one you load with
// [IsIntelOnDieRoot].
const IntelOnDieRootSHA256 = "beb40bb7507b33967226aa80e084749fbb6593893c642e818d682e9a8d07fc24"

// IsIntelOnDieRoot reports whether c is Intel's On-Die CA root (its DER hashes
// to [IntelOnDieRootSHA256]).
func IsIntelOnDieRoot(c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%x", sum[:]) == IntelOnDieRootSHA256
}

// On-Die verification errors.
var (
	// ErrOnDieUntrusted: the device's TLS certificate chain is not an On-Die
	// chain bound to this device. An [*OnDieError] says which check failed.
	ErrOnDieUntrusted = errors.New("provisioning: device certificate is not an On-Die chain bound to this device")
	// ErrNoOnDieRoots: On-Die verification was asked for without roots.
	ErrNoOnDieRoots = errors.New("provisioning: no On-Die CA roots to verify the device with")
)

// OnDieError says which On-Die check refused a device chain. It wraps
// [ErrOnDieUntrusted].
type OnDieError struct {
	// Check is "chain", "leaf name", "leaf hash", "ROM CA" or "hardware ID".
	Check string
	// Detail says what was expected and what came.
	Detail string
	Err    error
}

// Error names the check and what was expected.
func (e *OnDieError) Error() string {
	s := "provisioning: On-Die " + e.Check + " check failed: " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrOnDieUntrusted and the cause.
func (e *OnDieError) Unwrap() []error { return []error{ErrOnDieUntrusted, e.Err} }

// OnDieCheck is what [VerifyOnDieChain] checks a device chain against.
type OnDieCheck struct {
	// Roots are the On-Die CA roots (Intel's: see [IsIntelOnDieRoot]). Required.
	Roots *x509.CertPool
	// LeafHash, when set, is the hash of AMT's TLS certificate as the firmware
	// reported it over the host interface (StartConfigurationHBased): the
	// presented leaf must hash to it. It binds the TLS peer to the firmware of
	// the platform the agent runs on, which a process intercepting
	// localhost:16993 cannot fake: the binding rpc-go uses
	// (internal/certs/lmsTls.go, VerifyLeafCertificate) and MeshCentral
	// (amtmanager.js: "Intel AMT leaf TLS cert need to match this hash").
	LeafHash amt.CertHash
	// HardwareID, when set, is the platform's hardware serial from its UPID:
	// its first 20 bytes must equal the first 20 bytes of the SHA-256 of the
	// chain's ROM CA certificate (rpc-go internal/certs/lmsTls.go,
	// VerifyUPIDBinding). amtkit does not read the UPID itself.
	HardwareID []byte
	// Now is the clock for validity; nil: time.Now.
	Now func() time.Time
}

// Names Intel's On-Die chains carry (rpc-go internal/certs/lmsTls.go, and the
// chains logged in rpc-go pull request 1329 and issue 1068).
var (
	onDieLeafNames      = []string{"AMT RCFG", "iAMT CSME IDevID RCFG"}
	onDieROMIssuerOUs   = []string{"ODCA 2 CSME P", "On Die CSME P", "ODCA 2 CSME", "On Die CSME"}
	onDieROMNameMarkers = []string{"ROM CA", "ROM DE"}
)

// VerifyOnDieChain checks the chain AMT presented (leaf first, as sent; the
// root may be left out) as an Intel On-Die chain for this device, the checks
// rpc-go makes before it trusts AMT's local TLS port
// (internal/certs/lmsTls.go), with the hash binding made mandatory when known:
//
//  1. the leaf's hash equals c.LeafHash (when set), compared in constant time;
//  2. the leaf is named "AMT RCFG" (or "iAMT CSME IDevID RCFG");
//  3. the chain verifies to one of c.Roots, at c.Now, any key usage (AMT's
//     leaf lists serverAuth, its CAs nothing);
//  4. the verified path holds the platform's ROM CA: a CA named "… ROM CA"
//     (or "… ROM DE") whose issuer's OU starts with "ODCA 2 CSME" or
//     "On Die CSME";
//  5. that ROM CA hashes to c.HardwareID (when set).
//
// Failures are [*OnDieError] values wrapping [ErrOnDieUntrusted].
func VerifyOnDieChain(chain []*x509.Certificate, c OnDieCheck) error {
	if c.Roots == nil {
		return ErrNoOnDieRoots
	}
	if len(chain) == 0 || chain[0] == nil {
		return &OnDieError{Check: "chain", Detail: "expected the device's certificate chain, got none"}
	}
	leaf := chain[0]
	if c.LeafHash.Alg != 0 {
		got, err := c.LeafHash.Alg.Sum(leaf.Raw)
		if err != nil || len(got.Sum) != len(c.LeafHash.Sum) || subtle.ConstantTimeCompare(got.Sum, c.LeafHash.Sum) != 1 {
			return &OnDieError{Check: "leaf hash", Detail: fmt.Sprintf("expected the certificate the firmware named over the host interface (%s), got one hashing to %s", c.LeafHash, got)}
		}
	}
	if !containsString(onDieLeafNames, leaf.Subject.CommonName) {
		return &OnDieError{Check: "leaf name", Detail: fmt.Sprintf("expected CN %q, got %q", onDieLeafNames[0], leaf.Subject.CommonName)}
	}
	inter := x509.NewCertPool()
	for _, x := range chain[1:] {
		if x != nil {
			inter.AddCert(x)
		}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	paths, err := leaf.Verify(x509.VerifyOptions{Roots: c.Roots, Intermediates: inter, CurrentTime: now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return &OnDieError{Check: "chain", Detail: "expected a chain to the On-Die roots", Err: err}
	}
	var rom *x509.Certificate
	for _, p := range paths {
		for i := 1; i+1 < len(p) && rom == nil; i++ {
			if isROMCA(p[i], p[i+1]) {
				rom = p[i]
			}
		}
	}
	if rom == nil {
		return &OnDieError{Check: "ROM CA", Detail: "expected a platform ROM CA (\"… ROM CA\" issued by an \"ODCA 2 CSME …\" CA) in the chain, found none"}
	}
	if c.HardwareID != nil {
		sum := sha256.Sum256(rom.Raw)
		if len(c.HardwareID) < 20 || subtle.ConstantTimeCompare(sum[:20], c.HardwareID[:20]) != 1 {
			return &OnDieError{Check: "hardware ID", Detail: fmt.Sprintf("expected the ROM CA %q to match the platform's hardware ID, it does not", rom.Subject.CommonName)}
		}
	}
	return nil
}

func isROMCA(c, issuer *x509.Certificate) bool {
	named := false
	for _, m := range onDieROMNameMarkers {
		if strings.Contains(c.Subject.CommonName, m) {
			named = true
		}
	}
	if !named || !c.IsCA {
		return false
	}
	for _, ou := range issuer.Subject.OrganizationalUnit {
		for _, p := range onDieROMIssuerOUs {
			if strings.HasPrefix(ou, p) {
				return true
			}
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
