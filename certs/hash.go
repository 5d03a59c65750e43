package certs

import (
	"crypto/x509"

	"github.com/amtkit/amtkit/amt"
)

// RootHash returns the hash AMT lists for cert: alg's digest of the certificate's
// full DER encoding (not of its public key), as the firmware, rpc-go, RPS and
// MeshCentral all compute it (rpc-go local.go compareCertHashes, RPS
// certManager.ts dumpPfx, MeshCentral certoperations.js loadIntelAmtAcmCerts). For
// an algorithm amt does not know, the result has alg and a nil Sum, which matches
// nothing.
func RootHash(cert *x509.Certificate, alg amt.HashAlgorithm) amt.CertHash {
	if cert == nil {
		return amt.CertHash{Alg: alg}
	}
	h, err := alg.Sum(cert.Raw)
	if err != nil {
		return amt.CertHash{Alg: alg}
	}
	return h
}

// MatchRoot reports whether the root of chain (its last certificate) has one of
// hashes, as a device lists them in its hello or over PTHI, and returns the first
// hash that matched. Each hash is compared under its own algorithm (SHA-1,
// SHA-256, SHA-384 or SHA-512); hashes of unknown algorithms or the wrong length
// are skipped. To compare hashes typed by a person, in whatever case or with ':'
// or space separators, parse them with [amt.ParseCertHash] first.
//
// Only the last certificate counts: AMT checks the root that ends the chain it is
// sent, so a chain that stops below its root never matches.
func MatchRoot(chain []*x509.Certificate, hashes []amt.CertHash) (amt.CertHash, bool) {
	if len(chain) == 0 || chain[len(chain)-1] == nil {
		return amt.CertHash{}, false
	}
	root := chain[len(chain)-1]
	var sums [8]amt.CertHash // memo by algorithm number
	for _, h := range hashes {
		if !h.Valid() || int(h.Alg) >= len(sums) {
			continue
		}
		if sums[h.Alg].Sum == nil {
			sums[h.Alg] = RootHash(root, h.Alg)
		}
		if sums[h.Alg].Equal(h) {
			return h, true
		}
	}
	return amt.CertHash{}, false
}

// IdentifyRoot names the public CA behind cert when its SHA-256 hash is one of
// the factory hashes in [amt.DefaultRootHashes]. A provisioning chain whose root is
// not there works only on devices given a custom hash (setup.bin or MEBx).
func IdentifyRoot(cert *x509.Certificate) (amt.RootHashInfo, bool) {
	return amt.LookupDefaultRootHash(RootHash(cert, amt.HashSHA256))
}
