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

// A device "in provisioning" (a remote configuration started
// over PTHI — StartConfiguration/StartConfigurationEx, what amt/pthi's agent
// does for remote provisioning — and never finished). MeshCentral stops the
// configuration before host-based ACM ("If Intel AMT is "in-provisioning"
// mode, the WSMAN ACM activation will not work, so we need to do this
// first", amtmanager.js activateIntelAmtAcm). ActivateTLS refused such a
// device up front with ErrInProvisioning; ActivateACM read only
// CurrentControlMode (None) and sent the chain, which the firmware refuses —
// the caller got a generic device error and no hint to recover
// (RecoverInProvisioning). With a host interface the state is read before
// anything is sent; without one, after the refusal.
func TestActivateACMInProvisioning(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, login := localDevice(t, amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
	})
	// A remote configuration was started and never finished.
	require.NoError(t, sim.Agent().StartConfigurationEx(context.Background(), false))
	require.Equal(t, amt.InProvisioning, sim.Snapshot().ProvisioningState)

	opts := provisioning.HostBasedOptions{UUID: sim.UUID(), TrustedHashes: []amt.CertHash{root},
		MEBxPassword: mebxPW, SignIn: signIn(login), HostState: sim.Agent()}
	exchanges := map[bool]int64{}
	for _, host := range []bool{true, false} {
		o := opts
		if !host {
			o.HostState = nil
		}
		sim.ResetCounters()
		err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), o)
		require.Error(t, err)
		assert.ErrorIs(t, err, provisioning.ErrInProvisioning, "host interface %v: %v", host, err)
		assert.Equal(t, provisioning.ReasonWrongState, provisioning.ReasonOf(err))
		exchanges[host] = sim.Counters().Exchanges
	}
	assert.Less(t, exchanges[true], exchanges[false]-2, "with a host interface nothing of the chain is sent")
}

// The same for client control mode.
func TestActivateCCMInProvisioning(t *testing.T) {
	sim, login := localDevice(t, amtsim.Config{TrustedDNSSuffix: "contoso.com"})
	require.NoError(t, sim.Agent().StartConfigurationEx(context.Background(), false))
	require.Equal(t, amt.InProvisioning, sim.Snapshot().ProvisioningState)
	for _, host := range []provisioning.HostStateReader{sim.Agent(), nil} {
		err := provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), amt.NewSecret("N3w-Admin-pw"), provisioning.HostBasedOptions{HostState: host})
		require.Error(t, err)
		assert.ErrorIs(t, err, provisioning.ErrInProvisioning, "host interface %v: %v", host != nil, err)
		assert.Equal(t, provisioning.ReasonWrongState, provisioning.ReasonOf(err))
	}
}
