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

// An admin password the firmware would refuse (amt.CheckPassword: 8–32
// characters, upper, lower, digit, symbol, no ':' ',' '"') is refused by
// ActivateCCM and ActivateACM before anything is sent, as ActivateTLS refuses
// it, and as the caller's input (rejected), not as a device error. Before,
// ActivateACM read the service and the general settings and sent the whole
// provisioning chain with AddNextCertInChain before AdminSetup's arguments
// were checked, and both reported "device-error".
func TestHostBasedWeakAdminPasswordRefusedBeforeSending(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	for _, pw := range []string{"short1!", "nouppercase-1", "Colon:In-P4ss", "admin"} {
		sim, login := localDevice(t, amtsim.Config{
			TrustedDNSSuffix: "contoso.com",
			UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
		})
		dev := login(sim.LocalSystemAccount())
		before := sim.Counters().Exchanges

		err := provisioning.ActivateACM(context.Background(), dev, chain.Bundle, amt.NewSecret(pw),
			provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login)})
		require.Error(t, err, pw)
		var perr *amt.PasswordError
		assert.ErrorAs(t, err, &perr, pw)
		assert.ErrorIs(t, err, provisioning.ErrRejected, "%s: %v", pw, err)
		assert.Equal(t, provisioning.ReasonBundleUnusable, provisioning.ReasonOf(err), pw)
		assert.Contains(t, err.Error(), "admin password", pw)
		assert.Contains(t, err.Error(), "amt.GeneratePassword", "the fix is named")
		if pw != "admin" {
			assert.NotContains(t, err.Error(), pw, "the password is not echoed")
		}
		assert.Zero(t, sim.Counters().Exchanges-before, "%s: ActivateACM sent nothing", pw)

		err = provisioning.ActivateCCM(context.Background(), dev, amt.NewSecret(pw), provisioning.HostBasedOptions{})
		assert.ErrorAs(t, err, &perr, pw)
		assert.ErrorIs(t, err, provisioning.ErrRejected, "%s: %v", pw, err)
		assert.Equal(t, provisioning.ReasonBundleUnusable, provisioning.ReasonOf(err), pw)
		assert.Zero(t, sim.Counters().Exchanges-before, "%s: ActivateCCM sent nothing", pw)
		assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
	}
}
