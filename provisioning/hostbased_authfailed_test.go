package provisioning_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// AdminSetup's ReturnValue 5 (AuthFailed) is all the firmware says when it
// refuses the provisioning certificate — a root not in its hash table, a leaf
// whose CN does not cover its DNS suffix — or the nonce signature. The error
// names what the firmware checks and which of it was not checked before
// sending, with the option that checks it, instead of a bare "authentication
// failed" (rpc-go issue 428: a MEBx DNS suffix and a local ACM activation
// ending in "activation failed").
func TestHostBasedAuthFailedNamesTheCauses(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	pw := amt.NewSecret("N3w-Admin-pw")

	t.Run("AdminSetup", func(t *testing.T) {
		// The root is trusted; the device's suffix is another domain's.
		sim, login := localDevice(t, amtsim.Config{
			TrustedDNSSuffix: "fabrikam.com",
			UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
		})
		err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
			provisioning.HostBasedOptions{LeaveMEBxPassword: true, SignIn: signIn(login)})
		require.ErrorIs(t, err, amt.ErrHostSetupAuthFailed)
		msg := err.Error()
		assert.Contains(t, msg, "DNS suffix")
		assert.Contains(t, msg, `"prov.contoso.com"`, "the certificate's name")
		assert.Contains(t, msg, "PKI DNS suffix")
		assert.Contains(t, msg, "DHCP option 15")
		assert.Contains(t, msg, "HostBasedOptions.TrustedHashes", "the unchecked root is named with its option")
		assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)

		// With the device's hashes given, the root is said to be checked.
		sim2, login2 := localDevice(t, amtsim.Config{
			TrustedDNSSuffix: "fabrikam.com",
			UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
		})
		err = provisioning.ActivateACM(context.Background(), login2(sim2.LocalSystemAccount()), chain.Bundle, pw,
			provisioning.HostBasedOptions{LeaveMEBxPassword: true, TrustedHashes: []amt.CertHash{root}})
		require.ErrorIs(t, err, amt.ErrHostSetupAuthFailed)
		assert.NotContains(t, err.Error(), "set HostBasedOptions.TrustedHashes")
		assert.Contains(t, err.Error(), "DNS suffix")
	})

	t.Run("UpgradeClientToAdmin", func(t *testing.T) {
		sim, login := localDevice(t, amtsim.Config{TrustedDNSSuffix: "fabrikam.com",
			UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}})
		require.NoError(t, provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{}))
		err := provisioning.UpgradeToACM(context.Background(), login("admin", pw), chain.Bundle, provisioning.HostBasedOptions{LeaveMEBxPassword: true})
		require.ErrorIs(t, err, amt.ErrHostSetupAuthFailed)
		assert.Contains(t, err.Error(), "DNS suffix")
		assert.Contains(t, err.Error(), "HostBasedOptions.TrustedHashes")
		assert.Equal(t, amt.ControlModeCCM, sim.Snapshot().ControlMode)
	})
}
