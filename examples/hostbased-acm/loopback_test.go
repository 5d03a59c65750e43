package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// Host-based AdminSetup over LMS's non-TLS port sends the MEBx password and
// the admin password's digest in the clear: -endpoint must be LMS on this
// computer, never a host on the network (a typo, or a name an attacker
// answers for).
func TestAttackRemoteEndpointRefused(t *testing.T) {
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com"})
	require.NoError(t, err)
	pemData, err := certs.EncodePEM(chain.Bundle)
	require.NoError(t, err)
	pfx := filepath.Join(t.TempDir(), "prov.pem")
	require.NoError(t, os.WriteFile(pfx, pemData, 0o600))
	t.Setenv("AMT_LOCAL_PASSWORD", "local")
	t.Setenv("AMT_ADMIN_PASSWORD", "Adm1n-Passw0rd!")
	t.Setenv("AMT_MEBX_PASSWORD", "M3bx-Passw0rd!")
	for _, ep := range []string{"http://192.0.2.10:16992/wsman", "http://amt.example.com:16992/wsman", "http://[2001:db8::1]:16992/wsman"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var out strings.Builder
		err := run(ctx, &out, options{endpoint: ep, user: "$$OsAdmin", pfx: pfx})
		cancel()
		require.Error(t, err, ep)
		assert.Contains(t, err.Error(), "loopback", ep)
		assert.NotErrorIs(t, err, context.DeadlineExceeded, "%s was dialled", ep)
	}
}
