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

// HostBasedOptions.DNSSuffix is the suffix the firmware matches the
// provisioning certificate against (PKI DNS suffix, else DHCP option 15).
// Given, ActivateACM and UpgradeToACM refuse a certificate whose name does not
// cover it before anything is sent — the firmware would refuse AdminSetup with
// AuthFailed after the chain went out — naming both and the fix, as RPS
// refuses a device whose suffix matches none of its domains
// (src/Validator.ts verifyActivationMsgForACM) and MeshCentral looks for a
// certificate matching the trusted DNS suffix before it activates.
func TestHostBasedDNSSuffixCheckedBeforeSending(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	pw := amt.NewSecret("N3w-Admin-pw")
	device := func(suffix string) (*amtsim.Device, func(string, amt.Secret) *amt.Device) {
		return localDevice(t, amtsim.Config{TrustedDNSSuffix: suffix,
			UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}})
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		assert.Equal(t, provisioning.ReasonSuffixMismatch, provisioning.ReasonOf(err))
		assert.ErrorIs(t, err, provisioning.ErrRejected)
		assert.ErrorIs(t, err, amt.ErrSuffixMismatch)
		msg := err.Error()
		assert.Contains(t, msg, `"prov.contoso.com"`)
		assert.Contains(t, msg, `"fabrikam.com"`)
		assert.Contains(t, msg, "SetPKIDNSSuffix", "the fix is named")
	}

	t.Run("ActivateACM", func(t *testing.T) {
		sim, login := device("fabrikam.com")
		dev := login(sim.LocalSystemAccount())
		before := sim.Counters().Exchanges
		err := provisioning.ActivateACM(context.Background(), dev, chain.Bundle, pw,
			provisioning.HostBasedOptions{LeaveMEBxPassword: true, DNSSuffix: "fabrikam.com"})
		refused(t, err)
		assert.Zero(t, sim.Counters().Exchanges-before, "nothing was sent")
	})

	t.Run("UpgradeToACM", func(t *testing.T) {
		sim, login := device("fabrikam.com")
		require.NoError(t, provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{}))
		admin := login("admin", pw)
		before := sim.Counters().Exchanges
		err := provisioning.UpgradeToACM(context.Background(), admin, chain.Bundle,
			provisioning.HostBasedOptions{LeaveMEBxPassword: true, DNSSuffix: "fabrikam.com"})
		refused(t, err)
		assert.Zero(t, sim.Counters().Exchanges-before, "nothing was sent")
		assert.Equal(t, amt.ControlModeCCM, sim.Snapshot().ControlMode)
	})

	t.Run("Covered", func(t *testing.T) {
		sim, login := device("sales.contoso.com")
		err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
			provisioning.HostBasedOptions{LeaveMEBxPassword: true, DNSSuffix: "Sales.Contoso.com."})
		require.NoError(t, err)
		assert.Equal(t, amt.ControlModeACM, sim.Snapshot().ControlMode)
	})

	t.Run("WrongSuffixGiven", func(t *testing.T) {
		// The option says contoso.com, the device matches fabrikam.com: the
		// firmware's refusal says the suffix was checked against the one given.
		sim, login := device("fabrikam.com")
		err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
			provisioning.HostBasedOptions{LeaveMEBxPassword: true, DNSSuffix: "contoso.com"})
		require.ErrorIs(t, err, amt.ErrHostSetupAuthFailed)
		assert.Contains(t, err.Error(), `checked before sending against HostBasedOptions.DNSSuffix "contoso.com"`)
	})

	t.Run("BadSuffix", func(t *testing.T) {
		// A suffix that is no DNS name (as read from a device) is refused, escaped.
		sim, login := device("contoso.com")
		err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
			provisioning.HostBasedOptions{LeaveMEBxPassword: true, DNSSuffix: "contoso.com\x1b[2J"})
		require.Error(t, err)
		assert.Equal(t, provisioning.ReasonSuffixMismatch, provisioning.ReasonOf(err))
		assert.NotContains(t, err.Error(), "\x1b")
	})
}
