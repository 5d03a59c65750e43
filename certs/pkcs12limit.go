package certs

import (
	"encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxPKCS12Iterations bounds every key-derivation iteration count [LoadPKCS12]
// accepts: the MAC's and those of each PBE, PBES2/PBKDF2 and PBMAC1 parameter in
// the clear. Tools write 2,000 to 10,000 (Windows 2000, OpenSSL 2048, Java
// 10,000); a file at this bound takes about a second to decode here, while a
// count near 2^31 in a corrupt or hostile file would take hours.
//
// Counts inside encrypted content (a key bag within an encrypted safe) become
// visible only after decryption with the caller's password; they are bounded
// where LoadPKCS12 decrypts itself (the encodings go-pkcs12 lacks, see
// ownCryptoPKCS12: the decrypted parts are checked again before go-pkcs12
// reads them), not where go-pkcs12 decrypts.
const MaxPKCS12Iterations = 1 << 20

// OIDs whose parameters hold an iteration count.
var (
	oidPKCS12PBE = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1} // pbeWithSHAAnd… (RFC 7292 appendix C), by prefix
	oidPKCS5     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}     // PBES1 (1, 3, 4, 6, 10, 11), PBKDF2 (12)
	oidPBKDF2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
)

// pbeParamsOID reports whether params of id are SEQUENCE { salt, iterations, … }:
// PKCS#12 PBE, PKCS#5 PBES1 and PBKDF2. (PBES2 and PBMAC1 parameters hold a
// PBKDF2 AlgorithmIdentifier, which the walk reaches.)
func pbeParamsOID(id asn1.ObjectIdentifier) bool {
	switch {
	case len(id) == len(oidPKCS12PBE)+1 && id[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		return true
	case id.Equal(oidPBKDF2):
		return true
	case len(id) == len(oidPKCS5)+1 && id[:len(oidPKCS5)].Equal(oidPKCS5):
		switch id[len(oidPKCS5)] {
		case 1, 3, 4, 6, 10, 11:
			return true
		}
	}
	return false
}

// checkPKCS12Iterations refuses a PFX without a MAC, and one whose MAC or any
// PBE parameter in the clear asks for more than MaxPKCS12Iterations
// iterations. Anything else it cannot parse is left to the PKCS#12 decoder to
// report.
func checkPKCS12Iterations(der []byte) error {
	s := cryptobyte.String(der)
	var pfx, authSafe cryptobyte.String
	if !s.ReadASN1(&pfx, cbasn1.SEQUENCE) || !pfx.SkipASN1(cbasn1.INTEGER) || !pfx.ReadASN1Element(&authSafe, cbasn1.SEQUENCE) {
		return nil
	}
	if err := walkIterations(authSafe, 0); err != nil {
		return err
	}
	if pfx.Empty() {
		// go-pkcs12 decodes a file without a MAC when the password is
		// empty: its author then needs no password at all.
		return fmt.Errorf("%w: PKCS#12 file without a MAC (its integrity is not protected; export it again with one)", ErrMalformed)
	}
	// What follows authSafe must be one MacData SEQUENCE and nothing more:
	// go-pkcs12's decoder (encoding/asn1) skips an optional field of another
	// tag and ignores trailing elements, so a NULL after authSafe decoded as
	// a file without a MAC.
	var mac, digestInfo cryptobyte.String
	if !pfx.ReadASN1(&mac, cbasn1.SEQUENCE) || !pfx.Empty() || !mac.ReadASN1Element(&digestInfo, cbasn1.SEQUENCE) {
		return fmt.Errorf("%w: PKCS#12 file without a well-formed MAC (its integrity is not protected; export it again with one)", ErrMalformed)
	}
	if err := walkIterations(digestInfo, 0); err != nil { // PBMAC1
		return err
	}
	if !mac.SkipASN1(cbasn1.OCTET_STRING) || !mac.PeekASN1Tag(cbasn1.INTEGER) {
		return nil
	}
	return checkCount(&mac, "MAC")
}

// maxWalkDepth bounds the nesting walkIterations follows (PFX → ContentInfo →
// OCTET STRING → AuthenticatedSafe → ContentInfo → SafeContents → bag → …
// is about a dozen levels).
const maxWalkDepth = 24

// walkIterations visits every element of one DER element, descending into
// constructed elements and into primitive ones whose content is DER (PKCS#12
// nests its structures in OCTET STRINGs, and go-pkcs12 reads the
// AuthenticatedSafe out of the outer ContentInfo's [0] whatever its tag: an
// OCTET STRING retagged [0] hid every count inside it), and checks the count
// of every AlgorithmIdentifier with salt-and-count parameters.
func walkIterations(elem cryptobyte.String, depth int) error {
	if depth > maxWalkDepth {
		return nil
	}
	var tag cbasn1.Tag
	var body cryptobyte.String
	if !elem.ReadAnyASN1(&body, &tag) {
		return nil
	}
	switch {
	case tag == cbasn1.SEQUENCE:
		if err := checkAlgorithmIdentifier(body); err != nil {
			return err
		}
		return walkChildren(body, depth)
	case tag&0x20 != 0: // any other constructed element (SET, [0] EXPLICIT, …)
		return walkChildren(body, depth)
	default: // primitive: only content that parses to the end as DER elements is followed
		probe := body
		for !probe.Empty() {
			var e cryptobyte.String
			if !probe.ReadAnyASN1Element(&e, nil) {
				return nil
			}
		}
		return walkChildren(body, depth)
	}
}

func walkChildren(body cryptobyte.String, depth int) error {
	for !body.Empty() {
		var child cryptobyte.String
		if !body.ReadAnyASN1Element(&child, nil) {
			return nil
		}
		if err := walkIterations(child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkAlgorithmIdentifier checks seq (the content of a SEQUENCE) when it is an
// AlgorithmIdentifier whose parameters are SEQUENCE { salt, iterations, … }.
func checkAlgorithmIdentifier(seq cryptobyte.String) error {
	var id asn1.ObjectIdentifier
	if !seq.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) || !seq.ReadASN1ObjectIdentifier(&id) || !pbeParamsOID(id) {
		return nil
	}
	var params cryptobyte.String
	if !seq.ReadASN1(&params, cbasn1.SEQUENCE) {
		return nil
	}
	var salt cryptobyte.String
	if !params.ReadAnyASN1Element(&salt, nil) || !params.PeekASN1Tag(cbasn1.INTEGER) {
		return nil
	}
	return checkCount(&params, id.String())
}

// checkCount reads an INTEGER iteration count and refuses one above the bound.
func checkCount(s *cryptobyte.String, where string) error {
	n := new(big.Int)
	if !s.ReadASN1Integer(n) {
		return nil
	}
	if n.Cmp(big.NewInt(MaxPKCS12Iterations)) > 0 {
		return fmt.Errorf("%w: PKCS#12 %s iteration count %s exceeds %d", ErrMalformed, where, n, MaxPKCS12Iterations)
	}
	return nil
}
