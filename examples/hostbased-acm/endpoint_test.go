package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

// Against a real endpoint, forgetting $AMT_ADMIN_PASSWORD / $AMT_MEBX_PASSWORD
// must not activate the device with random passwords nobody ever sees.
func TestEndpointWithoutAdminPasswordIsRefused(t *testing.T) {
	ctx := context.Background()
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com"})
	require.NoError(t, err)
	sim, err := amtsim.New(amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "root", Hash: chain.Bundle.RootHash(amt.HashSHA256), Active: true}},
	})
	require.NoError(t, err)
	require.NoError(t, sim.Start(ctx))
	defer sim.Close()
	pemData, err := certs.EncodePEM(chain.Bundle)
	require.NoError(t, err)
	pfx := filepath.Join(t.TempDir(), "prov.pem")
	require.NoError(t, os.WriteFile(pfx, pemData, 0o600))
	user, local := sim.LocalSystemAccount()
	t.Setenv("AMT_LOCAL_PASSWORD", local.Reveal())
	t.Setenv("AMT_ADMIN_PASSWORD", "")
	t.Setenv("AMT_MEBX_PASSWORD", "")
	var out strings.Builder
	err = run(ctx, &out, options{endpoint: sim.HTTPEndpoint(), user: user, pfx: pfx})
	t.Log(out.String())
	require.Error(t, err, "the device was activated with an admin and MEBx password nobody was told")
	assert.Contains(t, err.Error(), "AMT_ADMIN_PASSWORD")
	assert.NotEqual(t, amt.PostProvisioning, sim.Snapshot().ProvisioningState)
}
