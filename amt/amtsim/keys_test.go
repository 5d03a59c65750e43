package amtsim_test

import (
	"errors"
	"testing"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type noEntropy struct{}

func (noEntropy) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// GeneratedKeys hands out a new key of the size asked on every call; the rand
// it is given does not decide the key (Go 1.26's rsa.GenerateKey always uses
// a secure source), as its documentation says.
func TestGeneratedKeys(t *testing.T) {
	ks := amtsim.GeneratedKeys(nil)
	a, err := ks.RSAKey(1024)
	require.NoError(t, err)
	b, err := ks.RSAKey(1024)
	require.NoError(t, err)
	require.NoError(t, a.Validate())
	assert.Equal(t, 1024, a.N.BitLen())
	assert.False(t, a.Equal(b), "every call generates a key nobody else holds")

	c, err := amtsim.GeneratedKeys(noEntropy{}).RSAKey(1024)
	require.NoError(t, err, "rsa.GenerateKey ignores the reader since Go 1.26")
	assert.False(t, c.Equal(a))

	_, err = ks.RSAKey(512)
	require.Error(t, err, "sizes crypto/rsa refuses are refused")
}
