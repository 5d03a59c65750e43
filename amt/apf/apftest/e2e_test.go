package apftest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// simulated starts a simulated device and fake firmware forwarding to it, and
// an APF session over the fake LME.
func simulated(t *testing.T, cfg amtsim.Config, tweak func(*apftest.Config)) (*amtsim.Device, *apftest.Device, *apf.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	sim, err := amtsim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, sim.Start(ctx))
	t.Cleanup(func() { sim.Close() })
	fc := apftest.ForSim(sim)
	if tweak != nil {
		tweak(&fc)
	}
	dev, host := apftest.Start(fc)
	t.Cleanup(dev.Close)
	s, err := apf.NewSession(ctx, host, apf.Config{MaxMessageLength: host.MaxMessageLength()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return sim, dev, s
}

// Host-based activation (CCM) of a simulated device through the fake LME:
// agent → APF channel → WS-Management with the local system account from
// PTHI → simulated AMT on 16992. Nothing but the APF channels joins the
// client and the device.
func TestActivateCCMThroughLME(t *testing.T) {
	sim, dev, s := simulated(t, amtsim.Config{}, nil)
	ctx := context.Background()
	// The local system account comes over PTHI, from the simulated MEI.
	acct, err := sim.Agent().LocalSystemAccount(ctx)
	require.NoError(t, err)

	c, err := wsman.New("http://127.0.0.1:16992/wsman",
		wsman.WithDialer(s.Dial), wsman.WithDigestAuth(acct.Username, acct.Password.Reveal()))
	require.NoError(t, err)
	var events []provisioning.Event
	admin := amt.NewSecret("N3w-Admin-pw!")
	require.NoError(t, provisioning.ActivateCCM(ctx, amt.NewDevice(c), admin, provisioning.HostBasedOptions{
		UUID:     sim.UUID(),
		Observer: func(e provisioning.Event) { events = append(events, e) },
	}))
	assert.Equal(t, amt.ControlModeCCM, sim.Snapshot().ControlMode)
	assert.Equal(t, amt.PostProvisioning, sim.Snapshot().ProvisioningState)
	assert.True(t, sim.AdminPasswordIs(admin))
	require.NotEmpty(t, events)

	// The admin account works through the same path afterwards.
	ac, err := wsman.New("http://127.0.0.1:16992/wsman", wsman.WithDialer(s.Dial), wsman.WithDigestAuth("admin", admin.Reveal()))
	require.NoError(t, err)
	gs, err := amt.NewDevice(ac).GeneralSettings(ctx)
	require.NoError(t, err)
	assert.Equal(t, sim.DigestRealm(), gs.DigestRealm)

	st := dev.Stats()
	assert.NoError(t, dev.Violation())
	assert.Positive(t, st.ChannelsOpened)
	assert.Positive(t, st.BytesFromHost)
	assert.Positive(t, st.BytesToHost)
	assert.Equal(t, sim.UUID(), s.Peer().UUID, "PROTOCOL_VERSION carries the system UUID")
	assert.Subset(t, []uint32{623, 664, 16992, 16993}, s.Ports())
}

// Secure host-based activation (ACM over AMT's local TLS port, AMT 19 with
// TLS enforced on its local ports) through the fake LME: StartConfigurationHBased
// over the simulated MEI, then mutual TLS — the provisioning chain as client
// certificate, AMT's On-Die chain verified and pinned by the PTHI hash —
// layered on an APF channel to 16993. The firmware forwards no non-TLS port.
func TestActivateTLSThroughLME(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com"})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, dev, s := simulated(t, amtsim.Config{
		Version:          amt.MustParseVersion("19.0.5"),
		LocalTLSEnforced: true,
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
	}, nil)
	assert.Contains(t, s.Ports(), uint32(16993))
	assert.NotContains(t, s.Ports(), uint32(16992), "no non-TLS port on a TLS-enforced platform")

	ca, err := sim.LocalOnDieCA()
	require.NoError(t, err)
	var events []provisioning.Event
	pw := amt.NewSecret("N3w-Admin-pw")
	err = provisioning.ActivateTLS(context.Background(), sim.Agent(), chain.Bundle, pw, provisioning.TLSActivationOptions{
		HostBasedOptions: provisioning.HostBasedOptions{
			UUID:          sim.UUID(),
			TrustedHashes: []amt.CertHash{root},
			MEBxPassword:  amt.NewSecret("Mebx-P4ss!"),
			Observer:      func(e provisioning.Event) { events = append(events, e) },
		},
		OnDieRoots: ca.Pool(),
		Dial:       s.Dial, // Addr stays localhost:16993, where LMS would listen
		Sleep:      func(context.Context, time.Duration) error { return nil },
	})
	require.NoError(t, err)
	snap := sim.Snapshot()
	assert.Equal(t, amt.PostProvisioning, snap.ProvisioningState)
	assert.Equal(t, amt.ControlModeACM, snap.ControlMode)
	assert.True(t, sim.AdminPasswordIs(pw))
	assert.NoError(t, dev.Violation())
	assert.Positive(t, dev.Stats().ChannelsOpened)

	// 16992 is not forwarded on this platform: Dial says so.
	short, err := apf.NewSession(context.Background(), mustHost(t, sim), apf.Config{PortWait: -1})
	require.NoError(t, err)
	defer short.Close()
	_, err = short.Dial(context.Background(), "tcp", "127.0.0.1:16992")
	assert.ErrorIs(t, err, apf.ErrPortNotForwarded)
}

// mustHost starts another fake firmware for sim and returns its host end.
func mustHost(t *testing.T, sim *amtsim.Device) *apftest.End {
	dev, host := apftest.Start(apftest.ForSim(sim))
	t.Cleanup(dev.Close)
	return host
}

// Several WS-Management clients at once, each on its own channels.
func TestConcurrentClientsThroughLME(t *testing.T) {
	sim, dev, s := simulated(t, amtsim.Config{}, nil)
	user, pw := sim.LocalSystemAccount()
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			c, err := wsman.New("http://127.0.0.1:16992/wsman", wsman.WithDialer(s.Dial), wsman.WithDigestAuth(user, pw.Reveal()))
			if err != nil {
				errs <- err
				return
			}
			for range 5 {
				if _, err := amt.NewDevice(c).HostBasedSetup(context.Background()); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 6 {
		require.NoError(t, <-errs)
	}
	assert.NoError(t, dev.Violation())
	assert.GreaterOrEqual(t, dev.Stats().MaxOpen, 2, "channels were open at the same time")
}
