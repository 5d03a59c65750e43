package tlspsk

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"hash"
)

// pHash is P_hash of RFC 2246 §5 / RFC 5246 §5:
//
//	A(0) = seed, A(i) = HMAC_hash(secret, A(i-1))
//	P_hash = HMAC_hash(secret, A(1) + seed) + HMAC_hash(secret, A(2) + seed) + …
//
// filling all of out.
func pHash(out, secret, seed []byte, h func() hash.Hash) {
	mac := hmac.New(h, secret)
	mac.Write(seed)
	a := mac.Sum(nil)
	for len(out) > 0 {
		mac.Reset()
		mac.Write(a)
		mac.Write(seed)
		b := mac.Sum(nil)
		n := copy(out, b)
		out = out[n:]
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
}

// prf10 is the TLS 1.0/1.1 PRF (RFC 2246 §5): the secret is split into two
// halves (sharing the middle byte when its length is odd), and
// P_MD5(S1, label+seed) XOR P_SHA-1(S2, label+seed) fills out.
func prf10(out, secret []byte, label string, seed []byte) {
	ls := make([]byte, 0, len(label)+len(seed))
	ls = append(append(ls, label...), seed...)
	half := (len(secret) + 1) / 2
	s1, s2 := secret[:half], secret[len(secret)-half:]
	pHash(out, s1, ls, md5.New)
	tmp := make([]byte, len(out))
	pHash(tmp, s2, ls, sha1.New)
	for i := range out {
		out[i] ^= tmp[i]
	}
}

// prf12 is the TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label+seed) with the
// cipher suite's PRF hash.
func prf12(h func() hash.Hash) func(out, secret []byte, label string, seed []byte) {
	return func(out, secret []byte, label string, seed []byte) {
		ls := make([]byte, 0, len(label)+len(seed))
		ls = append(append(ls, label...), seed...)
		pHash(out, secret, ls, h)
	}
}

func prfFor(vers uint16, s *cipherSuite) func(out, secret []byte, label string, seed []byte) {
	if vers >= VersionTLS12 {
		return prf12(s.prfHash)
	}
	return prf10
}

// pskPremaster builds the plain-PSK premaster secret of RFC 4279 §2: for an
// N-byte key, uint16(N) ‖ N zero bytes ‖ uint16(N) ‖ key.
func pskPremaster(psk []byte) []byte {
	n := len(psk)
	out := make([]byte, 0, 4+2*n)
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	out = append(out, make([]byte, n)...)
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	return append(out, psk...)
}

// masterSecret derives the 48-byte master secret from the premaster secret and
// the two hello randoms.
func masterSecret(vers uint16, s *cipherSuite, premaster, clientRandom, serverRandom []byte) []byte {
	seed := make([]byte, 0, 2*randomLen)
	seed = append(append(seed, clientRandom...), serverRandom...)
	out := make([]byte, masterSecretLen)
	prfFor(vers, s)(out, premaster, "master secret", seed)
	return out
}

// keyBlock holds the record keys of one connection.
type keyBlock struct {
	clientMAC, serverMAC, clientKey, serverKey, clientIV, serverIV []byte
}

// deriveKeys expands the master secret into MAC keys, cipher keys and (for
// TLS 1.0) IVs, in the order RFC 2246 §6.3 partitions the key block.
func deriveKeys(vers uint16, s *cipherSuite, master, clientRandom, serverRandom []byte) keyBlock {
	seed := make([]byte, 0, 2*randomLen)
	seed = append(append(seed, serverRandom...), clientRandom...)
	n := 2*s.macLen + 2*s.keyLen + 2*ivLen
	kb := make([]byte, n)
	prfFor(vers, s)(kb, master, "key expansion", seed)
	var k keyBlock
	take := func(l int) []byte { b := kb[:l:l]; kb = kb[l:]; return b }
	k.clientMAC, k.serverMAC = take(s.macLen), take(s.macLen)
	k.clientKey, k.serverKey = take(s.keyLen), take(s.keyLen)
	k.clientIV, k.serverIV = take(ivLen), take(ivLen)
	return k
}

// transcriptHash returns the handshake hash Finished is computed over: MD5 ‖
// SHA-1 for TLS 1.0/1.1, the suite's PRF hash for TLS 1.2.
func transcriptHash(vers uint16, s *cipherSuite, transcript []byte) []byte {
	if vers >= VersionTLS12 {
		h := s.prfHash()
		h.Write(transcript)
		return h.Sum(nil)
	}
	m := md5.Sum(transcript)
	h := sha1.Sum(transcript)
	return append(m[:], h[:]...)
}

// finishedData computes verify_data for the client (label "client finished") or
// the server ("server finished").
func finishedData(vers uint16, s *cipherSuite, master []byte, label string, transcript []byte) []byte {
	out := make([]byte, verifyDataLen)
	prfFor(vers, s)(out, master, label, transcriptHash(vers, s, transcript))
	return out
}
