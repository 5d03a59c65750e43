package provisioning_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// Divergence 6: provisioning.CA signs with at least the hash the firmware
// needs (SHA-384 for AMT 22), with RSA and ECDSA CA keys.
func TestCAHonoursMinSignatureHash(t *testing.T) {
	amtKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	for _, tt := range []struct {
		name string
		ca   certstest.CAOptions
		min  crypto.Hash
		want x509.SignatureAlgorithm
	}{
		{"RSA CA, no minimum", certstest.CAOptions{}, 0, x509.SHA256WithRSA},
		{"RSA CA, SHA-256", certstest.CAOptions{}, crypto.SHA256, x509.SHA256WithRSA},
		{"RSA CA, SHA-384", certstest.CAOptions{}, crypto.SHA384, x509.SHA384WithRSA},
		{"ECDSA P-256 CA, SHA-384", certstest.CAOptions{ECDSA: true}, crypto.SHA384, x509.ECDSAWithSHA384},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.ca.Keys = testKeys()
			root := certstest.MustRootCA(t, tt.ca)
			ca, err := provisioning.NewCA(root.Bundle, provisioning.CAOptions{})
			require.NoError(t, err)
			tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "pc.contoso.com", PublicKey: &amtKey.PublicKey})
			require.NoError(t, err)
			chain, err := ca.Issue(context.Background(), provisioning.IssueRequest{PublicKey: &amtKey.PublicKey, Template: tmpl, MinSignatureHash: tt.min})
			require.NoError(t, err)
			assert.Equal(t, tt.want, chain[0].SignatureAlgorithm)
			assert.Equal(t, x509.KeyUsageDigitalSignature, chain[0].KeyUsage, "no keyEncipherment on an EC key")
			assert.False(t, provisioning.SignatureHash(chain[0].SignatureAlgorithm) < tt.min)
		})
	}
}

// SignatureHash names the hash of every signature algorithm crypto/x509
// knows; Ed25519 (no separate hash) and unknown algorithms give 0, which no
// MinSignatureHash accepts.
func TestSignatureHash(t *testing.T) {
	for _, tc := range []struct {
		alg  x509.SignatureAlgorithm
		want crypto.Hash
	}{
		{x509.MD5WithRSA, crypto.MD5},
		{x509.SHA1WithRSA, crypto.SHA1},
		{x509.ECDSAWithSHA1, crypto.SHA1},
		{x509.DSAWithSHA1, crypto.SHA1},
		{x509.SHA256WithRSA, crypto.SHA256},
		{x509.SHA256WithRSAPSS, crypto.SHA256},
		{x509.ECDSAWithSHA256, crypto.SHA256},
		{x509.DSAWithSHA256, crypto.SHA256},
		{x509.SHA384WithRSA, crypto.SHA384},
		{x509.SHA384WithRSAPSS, crypto.SHA384},
		{x509.ECDSAWithSHA384, crypto.SHA384},
		{x509.SHA512WithRSA, crypto.SHA512},
		{x509.SHA512WithRSAPSS, crypto.SHA512},
		{x509.ECDSAWithSHA512, crypto.SHA512},
		{x509.PureEd25519, 0},
		{x509.UnknownSignatureAlgorithm, 0},
		{x509.MD2WithRSA, 0},
	} {
		assert.Equal(t, tc.want, provisioning.SignatureHash(tc.alg), "%v", tc.alg)
	}
}
