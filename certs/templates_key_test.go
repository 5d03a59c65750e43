package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
)

// Divergence 6: an EC key (AMT 22's ECC P-384 TLS key) gets digitalSignature
// only; keyEncipherment stays for RSA keys (RFC 5480 §3).
func TestTemplatesKeyUsageByKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	var rsaPub *rsa.PublicKey = &rsa.PublicKey{}
	for _, tt := range []struct {
		name string
		pub  any
		want x509.KeyUsage
	}{
		{"no key given: RSA", nil, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		{"RSA", rsaPub, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		{"ECC P-384", &ec.PublicKey, x509.KeyUsageDigitalSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tls, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: "pc.contoso.com", PublicKey: tt.pub})
			require.NoError(t, err)
			assert.Equal(t, tt.want, tls.KeyUsage)
			x, err := certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{FQDN: "pc.contoso.com", PublicKey: tt.pub})
			require.NoError(t, err)
			assert.Equal(t, tt.want, x.KeyUsage)
			assert.Equal(t, tt.want, certs.LeafKeyUsage(tt.pub))
		})
	}
}
