package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
)

// MaxChainCertificates is the largest set of certificates [OrderChain] accepts.
// Real provisioning chains have two to five certificates; the limit keeps work
// bounded on hostile input.
const MaxChainCertificates = 16

// ErrUnrelatedCertificate: the set holds a certificate that belongs to no chain
// through the leaf (for example a second, unrelated root).
var ErrUnrelatedCertificate = errors.New("certs: certificate unrelated to the chain")

// OrderChain returns certs ordered leaf first, root (or the highest certificate
// present) last, whatever the input order. PKCS#12 files and PEM bundles come in
// any order, and go-pkcs12's DecodeChain simply calls the first bag the leaf, so
// every loader in this package passes its certificates through OrderChain.
//
// Certificates are linked by name (a child's issuer equals its parent's subject)
// and, where both are present, by key identifier (authority key ID equals the
// parent's subject key ID). When several certificates could issue the same child
// (a re-keyed CA with the same name), the one whose key verifies the child's
// signature wins; SHA-1 signatures count for this purpose.
//
// Exact duplicates are dropped. When the set holds both a self-signed and a
// cross-signed certificate for the same CA (same subject and key), the
// self-signed one ends the chain if it is signed with SHA-2: the cross-signed
// path usually leads to an older root self-signed with SHA-1, which ME 15 H and
// ME 16+ refuse (rpc-go issue #413, the GoDaddy G2/Class 2 bundle). The
// cross-signed version and the CAs above it are then dropped. With a SHA-1
// twin the longer path is taken. AMT decides by the root hash, so to force the
// other path pass only its certificates.
//
// The leaf is the one certificate that issued no other certificate in the set. A
// self-signed certificate is the leaf only when it is alone. OrderChain returns a
// [*ChainError] wrapping
//   - [ErrNoCertificates] for an empty input;
//   - [ErrTooManyCertificates] above [MaxChainCertificates];
//   - [ErrMultipleLeaves] when two end-entity certificates (or, with none, two
//     CA certificates) issued nothing;
//   - [ErrChainGap] when the walk up from the leaf stops at a missing issuer while
//     other certificates remain;
//   - [ErrUnrelatedCertificate] when the walk reached a self-signed root and
//     certificates remain;
//   - [ErrChainCycle] when no certificate can be the leaf.
//
// A chain that simply stops below the root (no leftovers) is returned as is; the
// checks in this package report the missing root.
func OrderChain(certs []*x509.Certificate) ([]*x509.Certificate, error) {
	set := make([]*x509.Certificate, 0, len(certs))
	for _, c := range certs {
		if c == nil {
			continue
		}
		dup := false
		for _, s := range set {
			if bytes.Equal(s.Raw, c.Raw) {
				dup = true
				break
			}
		}
		if !dup {
			if len(set) == MaxChainCertificates {
				return nil, &ChainError{Err: ErrTooManyCertificates}
			}
			set = append(set, c)
		}
	}
	if len(set) == 0 {
		return nil, &ChainError{Err: ErrNoCertificates}
	}
	if len(set) == 1 {
		return set, nil
	}

	self := make([]bool, len(set))
	for i, c := range set {
		self[i] = selfSigned(c)
	}
	issuedOther := make([]bool, len(set))
	for i, p := range set {
		for j, c := range set {
			if i != j && issues(p, c) {
				issuedOther[i] = true
				break
			}
		}
	}
	var cands []int
	for i := range set {
		if !issuedOther[i] && !self[i] {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		for i := range set {
			if !issuedOther[i] && self[i] {
				cands = append(cands, i)
			}
		}
	}
	if len(cands) == 0 {
		return nil, &ChainError{Err: ErrChainCycle, Certs: set}
	}
	leaf := cands[0]
	if len(cands) > 1 {
		var ee []int
		for _, i := range cands {
			if !isCA(set[i]) {
				ee = append(ee, i)
			}
		}
		switch len(ee) {
		case 1:
			leaf = ee[0]
		case 0:
			return nil, &ChainError{Err: ErrMultipleLeaves, Certs: pick(set, cands)}
		default:
			return nil, &ChainError{Err: ErrMultipleLeaves, Certs: pick(set, ee)}
		}
	}

	used := make([]bool, len(set))
	used[leaf] = true
	chain := []*x509.Certificate{set[leaf]}
	for cur := leaf; !self[cur]; {
		var next []int
		for j, p := range set {
			if !used[j] && issues(p, set[cur]) {
				next = append(next, j)
			}
		}
		if len(next) == 0 {
			break
		}
		if len(next) > 1 {
			var ok []int
			for _, j := range next {
				c := set[cur]
				if set[j].CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
					ok = append(ok, j)
				}
			}
			if len(ok) > 0 {
				next = ok
			}
		}
		best := next[0]
		if len(next) > 1 {
			best = preferContinuing(set, self, used, next)
			for _, j := range next {
				if self[j] && !weakAlgorithm(set[j].SignatureAlgorithm) {
					best = j // a SHA-2 self-signed twin ends the chain
					break
				}
			}
		}
		used[best] = true
		cur = best
		chain = append(chain, set[cur])
	}

	// Drop the other versions of the chain's CAs, then, repeatedly, whatever
	// only issued something dropped (the path above a cross-signed twin).
	dropped := make([]bool, len(set))
	for i, c := range set {
		dropped[i] = !used[i] && alternateOf(c, chain)
	}
	for changed := true; changed; {
		changed = false
		for i, c := range set {
			if used[i] || dropped[i] {
				continue
			}
			for j, d := range set {
				if dropped[j] && i != j && issues(c, d) {
					dropped[i], changed = true, true
					break
				}
			}
		}
	}
	var left []*x509.Certificate
	for i, c := range set {
		if used[i] || dropped[i] {
			continue
		}
		left = append(left, c)
	}
	if len(left) > 0 {
		top := chain[len(chain)-1]
		if selfSigned(top) {
			return nil, &ChainError{Err: ErrUnrelatedCertificate, Certs: left}
		}
		return nil, &ChainError{Err: ErrChainGap, Certs: append([]*x509.Certificate{top}, left...)}
	}
	return chain, nil
}

// preferContinuing returns the first candidate in next that is not self-signed
// and whose own issuer is still unused in set (so the path goes on), else next[0].
func preferContinuing(set []*x509.Certificate, self, used []bool, next []int) int {
	for _, j := range next {
		if self[j] {
			continue
		}
		for k, q := range set {
			if !used[k] && k != j && issues(q, set[j]) {
				return j
			}
		}
	}
	return next[0]
}

func pick(set []*x509.Certificate, idx []int) []*x509.Certificate {
	out := make([]*x509.Certificate, len(idx))
	for i, j := range idx {
		out[i] = set[j]
	}
	return out
}

// issues reports whether parent's name (and key ID, when both sides have one)
// matches child's issuer. It says nothing about the signature.
func issues(parent, child *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) && keyIDsAgree(child.AuthorityKeyId, parent.SubjectKeyId)
}

func keyIDsAgree(aki, ski []byte) bool {
	return len(aki) == 0 || len(ski) == 0 || bytes.Equal(aki, ski)
}

// claimsSelfIssued reports whether c names itself as issuer, by name and, where
// both are present, key identifier.
func claimsSelfIssued(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && keyIDsAgree(c.AuthorityKeyId, c.SubjectKeyId)
}

// selfSigned reports whether c is a self-signed root. When key identifiers do not
// settle it (Go, for one, writes no authority key ID into a certificate whose
// issuer name equals its subject, even when another key signed it), the
// signature decides; a signature in an algorithm that can no longer be checked
// (MD2, MD5 on old roots) counts as self-signed.
func selfSigned(c *x509.Certificate) bool {
	if !claimsSelfIssued(c) {
		return false
	}
	if len(c.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 {
		return true
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	return err == nil || insecure(err) || errors.Is(err, x509.ErrUnsupportedAlgorithm)
}

func isCA(c *x509.Certificate) bool { return c.BasicConstraintsValid && c.IsCA }

// alternateOf reports whether c is another version (same subject and key) of a
// certificate in chain, such as a cross-signed copy of a root.
func alternateOf(c *x509.Certificate, chain []*x509.Certificate) bool {
	for _, m := range chain {
		if bytes.Equal(c.RawSubject, m.RawSubject) && bytes.Equal(c.RawSubjectPublicKeyInfo, m.RawSubjectPublicKeyInfo) {
			return true
		}
	}
	return false
}
