package certs_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttackCorruptPEMBlockRefused: encoding/pem skips a block whose
// base64 does not decode (or whose END line does not match) and goes on to
// the next, so a provisioning bundle whose key or intermediate block was
// damaged (a bad copy, a line lost in an e-mail) loaded without it: a
// Bundle with no key and no error, or a chain one certificate short.
// OpenSSL refuses such a file ("bad base64 decode"); so does LoadPEM, with
// ErrMalformed.
func TestAttackCorruptPEMBlockRefused(t *testing.T) {
	fx := newFixture(t)
	c := fx.chain(t, certstest.ProvisioningOptions{})
	good, err := certs.EncodePEM(c.Bundle)
	require.NoError(t, err)
	b, err := certs.LoadPEM(good)
	require.NoError(t, err)
	require.NotNil(t, b.Key)

	keyAt := bytes.Index(good, []byte("-----BEGIN PRIVATE KEY-----\n"))
	require.Positive(t, keyAt)
	bodyAt := keyAt + len("-----BEGIN PRIVATE KEY-----\n")
	tests := []struct {
		name string
		data []byte
	}{
		{"a character that is not base64 in the key", append(append(bytes.Clone(good[:bodyAt]), '*'), good[bodyAt+1:]...)},
		{"the key's END line misspelt", bytes.Replace(good, []byte("-----END PRIVATE KEY-----"), []byte("-----END PRIVATE KEY----"), 1)},
		{"a character that is not base64 in the root", corruptLastCertificate(good)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := certs.LoadPEM(tc.data)
			assert.ErrorIs(t, err, certs.ErrMalformed, "loaded %d certificates, key %v", len(b.Chain), b.Key != nil)
		})
	}
}

// corruptLastCertificate puts a '*' at the start of the last CERTIFICATE
// block's base64.
func corruptLastCertificate(good []byte) []byte {
	const begin = "-----BEGIN CERTIFICATE-----\n"
	at := bytes.LastIndex(good, []byte(begin)) + len(begin)
	return append(append(bytes.Clone(good[:at]), '*'), good[at+1:]...)
}

// The refusal names the damaged block's line and BEGIN text, so an operator
// knows which block to replace, and never quotes the block's content.
func TestCorruptPEMBlockErrorNamesTheBlock(t *testing.T) {
	fx := newFixture(t)
	c := fx.chain(t, certstest.ProvisioningOptions{})
	good, err := certs.EncodePEM(c.Bundle)
	require.NoError(t, err)
	keyAt := bytes.Index(good, []byte("-----BEGIN PRIVATE KEY-----\n"))
	require.Positive(t, keyAt)
	bodyAt := keyAt + len("-----BEGIN PRIVATE KEY-----\n")
	body := good[bodyAt : bodyAt+20]
	bad := append(append(bytes.Clone(good[:bodyAt]), '*'), good[bodyAt+1:]...)
	_, err = certs.LoadPEM(bad)
	require.ErrorIs(t, err, certs.ErrMalformed)
	line := bytes.Count(good[:keyAt], []byte("\n")) + 1
	assert.Contains(t, err.Error(), fmt.Sprintf("line %d: the PEM block \"-----BEGIN PRIVATE KEY-----\"", line))
	assert.NotContains(t, err.Error(), string(body[1:]))
}
