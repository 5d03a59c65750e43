package amt

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hugeRSACSR returns a PKCS#10 request whose RSA key has a modulus of n bytes
// (exponent 2^31-1) and a signature of n bytes: it parses, and verifying it
// costs O(n^2 * 31) of CPU.
func hugeRSACSR(t testing.TB, n int) []byte {
	t.Helper()
	N := new(big.Int).Lsh(big.NewInt(1), uint(n*8-1))
	N.Add(N, big.NewInt(12345677))
	pkb, err := asn1.Marshal(struct {
		N *big.Int
		E int
	}{N, 1<<31 - 1})
	require.NoError(t, err)
	rsaAlg := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, Parameters: asn1.NullRawValue}
	spki, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{rsaAlg, asn1.BitString{Bytes: pkb, BitLength: len(pkb) * 8}})
	require.NoError(t, err)
	subj, err := asn1.Marshal(pkix.Name{CommonName: "amt"}.ToRDNSequence())
	require.NoError(t, err)
	tbs, err := asn1.Marshal(struct {
		Version int
		Subject asn1.RawValue
		SPKI    asn1.RawValue
		Attrs   asn1.RawValue
	}{0, asn1.RawValue{FullBytes: subj}, asn1.RawValue{FullBytes: spki}, asn1.RawValue{Class: 2, Tag: 0, IsCompound: true}})
	require.NoError(t, err)
	sig := make([]byte, n)
	sig[n-1] = 3
	der, err := asn1.Marshal(struct {
		TBS    asn1.RawValue
		SigAlg pkix.AlgorithmIdentifier
		Sig    asn1.BitString
	}{asn1.RawValue{FullBytes: tbs},
		pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue},
		asn1.BitString{Bytes: sig, BitLength: n * 8}})
	require.NoError(t, err)
	return der
}

// A device answers GeneratePKCS10RequestEx with a request whose RSA key is 384
// kbit (a 130 KB answer; the 1 MiB response cap allows ~3 Mbit). Verifying its
// signature costs seconds to minutes of CPU that no context interrupts: the
// key is refused by its size first (the error says so, not the signature's
// check). ParseDERKey refuses such a key too.
func TestHugeRSAKeyFromTheDeviceRefused(t *testing.T) {
	der := hugeRSACSR(t, 48<<10)
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return output(r, 0, wsman.Prop("SignedCertificateRequest", base64.StdEncoding.EncodeToString(der)))
	})
	_, err := d.GeneratePKCS10RequestEx(context.Background(), "Intel(r) AMT Key: Handle: 3", CSRSigningSHA256RSA, []byte{0x30, 0})
	require.ErrorIs(t, err, ErrBadResponse)
	assert.Contains(t, err.Error(), "an RSA key of 393216 bits (at most 8192)")

	N := new(big.Int).Lsh(big.NewInt(1), 8192) // 8193 bits
	N.Add(N, big.NewInt(1))
	pkcs1, err := asn1.Marshal(struct {
		N *big.Int
		E int
	}{N, 65537})
	require.NoError(t, err)
	_, err = ParseDERKey(pkcs1)
	require.ErrorIs(t, err, ErrBadResponse)
	assert.Contains(t, err.Error(), "8193 bits")
}
