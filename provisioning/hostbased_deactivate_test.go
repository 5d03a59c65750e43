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
	"github.com/amtkit/amtkit/wsman"
)

// Client control mode is deactivated over PTHI, admin control mode over
// WS-Management as the admin account, as rpc-go's "deactivate --local" does.
func TestDeactivate(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	cfg := amtsim.Config{TrustedDNSSuffix: "contoso.com", UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}}
	pw := amt.NewSecret("N3w-Admin-pw")

	t.Run("client control mode over PTHI", func(t *testing.T) {
		sim, login := localDevice(t, cfg)
		require.NoError(t, provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{}))
		var events []provisioning.Event
		require.NoError(t, provisioning.Deactivate(context.Background(), sim.Agent(), provisioning.DeactivateOptions{Observer: func(e provisioning.Event) { events = append(events, e) }}))
		assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
		require.Len(t, events, 2)
		assert.Equal(t, "client control mode: Unprovision over PTHI", events[0].Detail)
		assert.Equal(t, provisioning.StepVerify, events[1].Step)
		// A partial unprovision is refused in CCM (rpc-go).
		require.NoError(t, provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{}))
		err := provisioning.Deactivate(context.Background(), sim.Agent(), provisioning.DeactivateOptions{Partial: true})
		assert.ErrorIs(t, err, provisioning.ErrNotActivated)
	})
	t.Run("admin control mode over WS-Management", func(t *testing.T) {
		sim, login := localDevice(t, cfg)
		require.NoError(t, provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
			provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login)}))
		err := provisioning.Deactivate(context.Background(), sim.Agent(), provisioning.DeactivateOptions{})
		require.ErrorIs(t, err, provisioning.ErrNeedsAdmin, "the host interface cannot unprovision ACM")
		assert.Equal(t, provisioning.ReasonWrongState, provisioning.ReasonOf(err))
		require.NoError(t, provisioning.Deactivate(context.Background(), sim.Agent(), provisioning.DeactivateOptions{Admin: login("admin", pw)}))
		s := sim.Snapshot()
		assert.Equal(t, amt.PreProvisioning, s.ProvisioningState)
		assert.Equal(t, amt.ControlModeNone, s.ControlMode)
	})
	t.Run("nothing to deactivate", func(t *testing.T) {
		sim, _ := localDevice(t, cfg)
		err := provisioning.Deactivate(context.Background(), sim.Agent(), provisioning.DeactivateOptions{})
		assert.ErrorIs(t, err, provisioning.ErrNotActivated)
	})
}

// A device that halted mid-activation — admin control mode, still in
// provisioning (rpc-go issue 1461) — refuses the admin over WS-Management;
// Deactivate falls back to the host interface: Unprovision, then
// StopConfiguration when that does not finish (rpc-go
// recoverInProvisioningOverHECI).
func TestDeactivateHaltedDevice(t *testing.T) {
	chain := tlsChain(t, "21.0.6")
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, opts, _ := tlsDevice(t, "21.0.6", func(c *amtsim.Config) {
		c.UserRootHashes = []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}
	})
	// Halt it by hand: StartConfigurationHBased, mutual TLS, admin account,
	// and no commit.
	agent := sim.Agent()
	pw := amt.NewSecret("N3w-Admin-pw")
	h := mustServerHash(t, chain.Bundle.Leaf())
	_, err := agent.StartSecureConfiguration(context.Background(), h)
	require.NoError(t, err)
	cfg := tlsClient(t, sim, chain)
	gs := mustGeneral(t, cfg)
	require.NoError(t, cfg.SetAdminACLEntryEx(context.Background(), "admin", pw, gs.DigestRealm))
	s := sim.Snapshot()
	require.Equal(t, amt.InProvisioning, s.ProvisioningState)
	require.Equal(t, amt.ControlModeACM, s.ControlMode)

	// Activation refuses it; Deactivate recovers it.
	err = provisioning.ActivateTLS(context.Background(), agent, chain.Bundle, pw, opts)
	require.ErrorIs(t, err, provisioning.ErrInProvisioning)
	var events []provisioning.Event
	admin := localTLSAdmin(t, sim, pw)
	err = provisioning.Deactivate(context.Background(), agent, provisioning.DeactivateOptions{Admin: admin, Observer: func(e provisioning.Event) { events = append(events, e) }})
	t.Logf("\n%s", eventLines(events))
	require.NoError(t, err)
	s = sim.Snapshot()
	assert.Equal(t, amt.PreProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeNone, s.ControlMode)
	require.Len(t, events, 3)
	assert.Equal(t, provisioning.StepRecover, events[1].Step)
	assert.Contains(t, events[1].Detail, "StopConfiguration")

	// And now it activates.
	require.NoError(t, provisioning.ActivateTLS(context.Background(), agent, chain.Bundle, pw, opts))
	assert.Equal(t, amt.PostProvisioning, sim.Snapshot().ProvisioningState)
}

// A device whose secure host-based activation halted at its commit (rpc-go
// issue 1461: AMT 21, admin control mode, in provisioning) refuses the admin at
// the TLS handshake — its local port wants a client certificate ("tls:
// certificate required", rpc-go commit d8afbf0a) — and Deactivate recovers it
// over the host interface. Before, the simulator let the admin through to a
// 401.
func TestDeactivateCommitHaltedDevice(t *testing.T) {
	chain := tlsChain(t, "21.0.6")
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, _, _ := tlsDevice(t, "21.0.6", func(c *amtsim.Config) {
		c.UserRootHashes = []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}
		c.Behavior.HaltActivation = true
	})
	agent := sim.Agent()
	pw := amt.NewSecret("N3w-Admin-pw")
	_, err := agent.StartSecureConfiguration(context.Background(), mustServerHash(t, chain.Bundle.Leaf()))
	require.NoError(t, err)
	cfg := tlsClient(t, sim, chain)
	gs := mustGeneral(t, cfg)
	require.NoError(t, cfg.SetAdminACLEntryEx(context.Background(), "admin", pw, gs.DigestRealm))
	require.NoError(t, cfg.SetMEBxPassword(context.Background(), amt.NewSecret("Mebx-P4ss!")))
	_ = cfg.CommitChanges(context.Background()) // AMT 21 drops its reply
	s := sim.Snapshot()
	require.Equal(t, amt.InProvisioning, s.ProvisioningState)
	require.Equal(t, amt.ControlModeACM, s.ControlMode)

	var events []provisioning.Event
	err = provisioning.Deactivate(context.Background(), agent, provisioning.DeactivateOptions{Admin: localTLSAdmin(t, sim, pw),
		Observer: func(e provisioning.Event) { events = append(events, e) }})
	t.Logf("\n%s", eventLines(events))
	require.NoError(t, err)
	require.NotEmpty(t, events)
	assert.Contains(t, events[0].Detail, "certificate required", "refused at the handshake, not by the password")
	s = sim.Snapshot()
	assert.Equal(t, amt.PreProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeNone, s.ControlMode)
}

// RecoverInProvisioning: a configuration started and never finished goes back
// to pre-provisioning; a device not in provisioning is refused.
func TestRecoverInProvisioning(t *testing.T) {
	chain := tlsChain(t, "19.0.5")
	sim, _, _ := tlsDevice(t, "19.0.5", nil)
	agent := sim.Agent()
	err := provisioning.RecoverInProvisioning(context.Background(), agent, provisioning.DeactivateOptions{})
	require.ErrorIs(t, err, provisioning.ErrNotInProvisioning)
	_, err = agent.StartSecureConfiguration(context.Background(), mustServerHash(t, chain.Bundle.Leaf()))
	require.NoError(t, err)
	require.Equal(t, amt.InProvisioning, sim.Snapshot().ProvisioningState)
	require.NoError(t, provisioning.RecoverInProvisioning(context.Background(), agent, provisioning.DeactivateOptions{}))
	assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
}

// tlsClient is a configuration server's client on the device's local TLS port
// (the provisioning chain as client certificate).
func tlsClient(t *testing.T, sim *amtsim.Device, chain *certstest.ProvisioningChain) *amt.Device {
	t.Helper()
	c, err := amt.NewClient(sim.LocalTLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()),
		wsman.WithGetClientCertificate(chain.Bundle.GetClientCertificate()), wsman.WithDigestAuth("admin", "x"))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return amt.NewDevice(c)
}

// localTLSAdmin is the admin account on the local TLS port.
func localTLSAdmin(t *testing.T, sim *amtsim.Device, pw amt.Secret) *amt.Device {
	t.Helper()
	c, err := amt.NewClient(sim.LocalTLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithDigestAuth("admin", pw.Reveal()))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return amt.NewDevice(c)
}

func mustGeneral(t *testing.T, d *amt.Device) *amt.GeneralSettings {
	t.Helper()
	var gs *amt.GeneralSettings
	var err error
	for i := 0; i < 3; i++ { // AMT 21 resets the first request after StartConfigurationHBased
		if gs, err = d.GeneralSettings(context.Background()); err == nil {
			return gs
		}
	}
	require.NoError(t, err)
	return gs
}

// Deactivate in admin control mode whose WS-Management Unprovision reply was
// lost (the firmware restarting its network as it acts): the state over PTHI
// says whether it took. Before, the transport error was returned although the
// device reported pre-provisioning, and a retry was refused as not activated
// (found by review).
func TestDeactivateReplyLost(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	dr := &dropper{}
	cfg := amtsim.Config{TrustedDNSSuffix: "contoso.com", UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
		Behavior: amtsim.Behavior{DropFunc: dr.fn}}
	pw := amt.NewSecret("N3w-Admin-pw")
	sim, login := localDevice(t, cfg)
	require.NoError(t, provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
		provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login)}))
	dr.arm("Unprovision", amtsim.DropResponse)
	var events []provisioning.Event
	err := provisioning.Deactivate(context.Background(), sim.Agent(), provisioning.DeactivateOptions{Admin: login("admin", pw),
		Observer: func(e provisioning.Event) { events = append(events, e) }})
	require.NoError(t, err)
	require.Equal(t, int32(1), dr.fired.Load())
	assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
	require.NotEmpty(t, events)
	assert.Contains(t, events[0].Detail, "reply lost")
}

// ActivateACM whose MEBx password, set after AdminSetup, is lost: the device
// is activated (read back), and only the MEBx step failed. Before, the error
// did not say so, and running the activation again was refused as already
// activated (found by review); it now wraps ErrMEBxPasswordNotSet, and the
// MEBx password can be set as the admin.
func TestActivateACMMEBxNotSet(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	dr := &dropper{}
	cfg := amtsim.Config{TrustedDNSSuffix: "contoso.com", UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
		MEBxPolicy: amtsim.MEBxAnytime, Behavior: amtsim.Behavior{DropFunc: dr.fn}}
	pw := amt.NewSecret("N3w-Admin-pw")
	sim, login := localDevice(t, cfg)
	dr.arm("SetMEBxPassword", amtsim.DropRequest)
	err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
		provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login)})
	require.ErrorIs(t, err, provisioning.ErrMEBxPasswordNotSet)
	s := sim.Snapshot()
	assert.Equal(t, amt.PostProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeACM, s.ControlMode)
	err = provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, pw,
		provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login)})
	require.ErrorIs(t, err, provisioning.ErrAlreadyActivated)
	require.NoError(t, login("admin", pw).SetMEBxPassword(context.Background(), mebxPW), "the MEBx step, finished as the admin")
	assert.True(t, sim.MEBxPasswordIs(mebxPW))
}
