package provisioning

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// SignatureHash returns the hash a signature algorithm signs with (0 for
// Ed25519 and unknown algorithms): how strong an issuer's signature on a
// certificate is, compared with [IssueRequest.MinSignatureHash].
func SignatureHash(a x509.SignatureAlgorithm) crypto.Hash {
	switch a {
	case x509.MD5WithRSA:
		return crypto.MD5
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return crypto.SHA1
	case x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		return crypto.SHA256
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		return crypto.SHA384
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		return crypto.SHA512
	}
	return 0
}

// hashRank orders the hashes a certificate may be signed with.
func hashRank(h crypto.Hash) int {
	switch h {
	case crypto.MD5:
		return 1
	case crypto.SHA1:
		return 2
	case crypto.SHA256:
		return 3
	case crypto.SHA384:
		return 4
	case crypto.SHA512:
		return 5
	}
	return 0
}

// weakerHash reports whether got is weaker than want (want 0: no minimum).
func weakerHash(got, want crypto.Hash) bool {
	return want != 0 && hashRank(got) < hashRank(want)
}

// signatureAlgorithmFor returns the signature algorithm a CA with key pub
// uses to sign with at least min: chosen stays when it is strong enough,
// otherwise PKCS#1 v1.5 RSA or ECDSA with the smallest hash of at least min.
func signatureAlgorithmFor(pub crypto.PublicKey, min crypto.Hash, chosen x509.SignatureAlgorithm) (x509.SignatureAlgorithm, error) {
	if min == 0 || (chosen != x509.UnknownSignatureAlgorithm && !weakerHash(SignatureHash(chosen), min)) {
		return chosen, nil
	}
	h := min
	if hashRank(h) < hashRank(crypto.SHA256) {
		h = crypto.SHA256
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		switch h {
		case crypto.SHA256:
			return x509.SHA256WithRSA, nil
		case crypto.SHA384:
			return x509.SHA384WithRSA, nil
		case crypto.SHA512:
			return x509.SHA512WithRSA, nil
		}
	case *ecdsa.PublicKey:
		switch h {
		case crypto.SHA256:
			return x509.ECDSAWithSHA256, nil
		case crypto.SHA384:
			return x509.ECDSAWithSHA384, nil
		case crypto.SHA512:
			return x509.ECDSAWithSHA512, nil
		}
	case ed25519.PublicKey:
		return x509.PureEd25519, fmt.Errorf("%w: an Ed25519 CA cannot sign with %v as the firmware requires", ErrCARequest, min)
	}
	return x509.UnknownSignatureAlgorithm, fmt.Errorf("%w: cannot sign with %v using a %T key", ErrCARequest, min, pub)
}
