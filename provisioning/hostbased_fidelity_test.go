package provisioning_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// localTLSLogin returns a login to the local TLS port of a TLS-enforced
// device, verifying its On-Die chain (without a StartConfigurationHBased hash:
// client control mode has none).
func localTLSLogin(t *testing.T, d *amtsim.Device) func(string, amt.Secret) *amt.Device {
	t.Helper()
	ca, err := d.LocalOnDieCA()
	require.NoError(t, err)
	policy := wsman.WithTLS(wsman.VerifyFunc(func(_ context.Context, cs tls.ConnectionState) error {
		return provisioning.VerifyOnDieChain(cs.PeerCertificates, provisioning.OnDieCheck{Roots: ca.Pool()})
	}))
	return func(user string, pw amt.Secret) *amt.Device {
		c, err := amt.NewClient(d.LocalTLSEndpoint(), policy, wsman.WithDigestAuth(user, pw.Reveal()))
		require.NoError(t, err)
		return amt.NewDevice(c)
	}
}

// Divergence 1: on a platform that enforces TLS on its local ports, host-based
// Setup leaves AMT in pre-provisioning until the admin account commits (rpc-go
// issue 845). ActivateCCM used to report success there; it now commits as the
// admin, or says it cannot.
func TestActivateCCMCommitsWhereTLSEnforced(t *testing.T) {
	start := func(t *testing.T, beh ...amtsim.Behavior) (*amtsim.Device, func(string, amt.Secret) *amt.Device) {
		cfg := amtsim.Config{Version: amt.MustParseVersion("19.0.5"), LocalTLSEnforced: true, Keys: amtsim.PoolKeys(testKeys())}
		if len(beh) > 0 {
			cfg.Behavior = beh[0]
		}
		d, err := amtsim.New(cfg)
		require.NoError(t, err)
		require.NoError(t, d.Start(context.Background()))
		t.Cleanup(func() { d.Close() })
		return d, localTLSLogin(t, d)
	}
	pw := amt.NewSecret("N3w-Admin-pw")

	t.Run("committed as admin", func(t *testing.T) {
		sim, login := start(t)
		var events []provisioning.Event
		// Once committed the local port presents the device's self-signed
		// certificate (rpc-go issue 1404): the read-back sign-in is not an
		// On-Die check.
		afterCommit := provisioning.LocalSignIn(sim.LocalTLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()))
		err := provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{
			SignIn: afterCommit, Observer: func(e provisioning.Event) { events = append(events, e) }})
		require.NoError(t, err)
		snap := sim.Snapshot()
		assert.Equal(t, amt.PostProvisioning, snap.ProvisioningState, "CommitChanges moved it to post-provisioning")
		assert.Equal(t, amt.ControlModeCCM, snap.ControlMode)
		require.Len(t, events, 1)
		assert.Contains(t, events[0].Detail, "post-provisioning")
	})
	// The commit restarts the firmware's network: its reply may be lost.
	// The outcome is read back on a new connection, never assumed.
	for _, tc := range []struct {
		name string
		drop amtsim.Drop
		ok   bool
		says string
	}{
		{"the commit's reply lost", amtsim.DropResponse, true, "CommitChanges reply lost, post-provisioning read back"},
		{"the commit lost before it took effect", amtsim.DropRequest, false, "still in pre-provisioning with the setup pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			commits := 0
			sim, login := start(t, amtsim.Behavior{DropFunc: func(op, _ string, _ int) amtsim.Drop {
				if op == "CommitChanges" {
					if commits++; commits == 1 {
						return tc.drop
					}
				}
				return amtsim.DropNone
			}})
			var events []provisioning.Event
			afterCommit := provisioning.LocalSignIn(sim.LocalTLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()))
			err := provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{
				SignIn: afterCommit, Observer: func(e provisioning.Event) { events = append(events, e) },
				Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}) // the read-backs a second apart
			if tc.ok {
				require.NoError(t, err)
				require.NotEmpty(t, events)
				assert.Contains(t, events[len(events)-1].Detail, tc.says)
				assert.Equal(t, amt.PostProvisioning, sim.Snapshot().ProvisioningState)
				return
			}
			require.ErrorIs(t, err, provisioning.ErrCommitRequired, "not halted: committing again finishes it")
			assert.Equal(t, provisioning.ReasonCommitFailed, provisioning.ReasonOf(err))
			assert.Contains(t, err.Error(), tc.says)
			assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
			// The setup is pending: the admin's commit takes (AMT 19 drops
			// the connection of a commit that took effect, so its reply is
			// lost; the state says).
			_ = login("admin", pw).CommitChanges(context.Background())
			assert.Equal(t, amt.PostProvisioning, sim.Snapshot().ProvisioningState)
		})
	}
	t.Run("no way to commit", func(t *testing.T) {
		sim, login := start(t)
		err := provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{})
		require.ErrorIs(t, err, provisioning.ErrCommitRequired)
		assert.Equal(t, provisioning.ReasonCommitFailed, provisioning.ReasonOf(err))
		assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
	})
	t.Run("the local system account cannot commit", func(t *testing.T) {
		sim, login := start(t)
		lsa := login(sim.LocalSystemAccount())
		gs, err := lsa.GeneralSettings(context.Background())
		require.NoError(t, err)
		require.NoError(t, lsa.Setup(context.Background(), pw, gs.DigestRealm, nil))
		require.ErrorIs(t, lsa.CommitChanges(context.Background()), amt.StatusNotPermitted)
		assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
	})
}

// Divergence 2: a lost AdminSetup reply is judged by control mode and
// provisioning state together (rpc-go commitActivation): a device that reports
// ACM but halted "in provisioning" (rpc-go issue 1461) is not activated.
func TestActivateACMHaltedIsNotSuccess(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	for _, lost := range []bool{true, false} {
		name := map[bool]string{true: "reply lost", false: "reply received"}[lost]
		t.Run(name, func(t *testing.T) {
			beh := amtsim.Behavior{HaltActivation: true}
			if lost {
				beh.DropFunc = func(op, _ string, _ int) amtsim.Drop {
					if op == "AdminSetup" {
						return amtsim.DropResponse
					}
					return amtsim.DropNone
				}
			}
			var slept []time.Duration
			sim, login := localDevice(t, amtsim.Config{Version: amt.MustParseVersion("21.0.6"), TrustedDNSSuffix: "contoso.com",
				UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}, Behavior: beh})
			err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, amt.NewSecret("N3w-Admin-pw"),
				provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login), Sleep: func(_ context.Context, d time.Duration) error {
					slept = append(slept, d)
					return nil
				}})
			require.ErrorIs(t, err, provisioning.ErrActivationHalted)
			assert.Equal(t, []time.Duration{time.Second, time.Second}, slept, "read three times, a second apart, before it is called halted")
			assert.Equal(t, provisioning.ReasonVerifyFailed, provisioning.ReasonOf(err))
			snap := sim.Snapshot()
			assert.Equal(t, amt.ControlModeACM, snap.ControlMode)
			assert.Equal(t, amt.InProvisioning, snap.ProvisioningState)
		})
	}
}

// Divergence 5: admin control mode activation sets the MEBx password, and
// refuses to go ahead without one (or an explicit LeaveMEBxPassword) before
// anything is sent.
func TestActivateACMMEBxPassword(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	cfg := amtsim.Config{TrustedDNSSuffix: "contoso.com", UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}}
	for _, tt := range []struct {
		name string
		opts func(login func(string, amt.Secret) *amt.Device) provisioning.HostBasedOptions
		err  error
	}{
		{"none", func(l func(string, amt.Secret) *amt.Device) provisioning.HostBasedOptions {
			return provisioning.HostBasedOptions{SignIn: signIn(l)}
		}, provisioning.ErrMEBxPasswordRequired},
		{"factory default", func(l func(string, amt.Secret) *amt.Device) provisioning.HostBasedOptions {
			return provisioning.HostBasedOptions{SignIn: signIn(l), MEBxPassword: amt.NewSecret("admin")}
		}, provisioning.ErrMEBxPasswordRequired},
		{"weak", func(l func(string, amt.Secret) *amt.Device) provisioning.HostBasedOptions {
			return provisioning.HostBasedOptions{SignIn: signIn(l), MEBxPassword: amt.NewSecret("password")}
		}, provisioning.ErrMEBxPasswordRequired},
		{"no sign-in to set it with", func(func(string, amt.Secret) *amt.Device) provisioning.HostBasedOptions {
			return provisioning.HostBasedOptions{MEBxPassword: mebxPW}
		}, provisioning.ErrMEBxPasswordRequired},
		{"set", func(l func(string, amt.Secret) *amt.Device) provisioning.HostBasedOptions {
			return provisioning.HostBasedOptions{SignIn: signIn(l), MEBxPassword: mebxPW}
		}, nil},
		{"left as it was, explicitly", func(func(string, amt.Secret) *amt.Device) provisioning.HostBasedOptions {
			return provisioning.HostBasedOptions{LeaveMEBxPassword: true}
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim, login := localDevice(t, cfg)
			err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), tt.opts(login))
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				assert.Equal(t, provisioning.ReasonBundleUnusable, provisioning.ReasonOf(err))
				assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState, "nothing was sent")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.name == "set", sim.MEBxPasswordIs(mebxPW))
			assert.Equal(t, tt.name != "set", sim.MEBxPasswordIs(amt.NewSecret("admin")))
		})
	}
}

// ActivateTLS stops the configuration after a failure (rpc-go
// stopConfigOnFailure): a device that halts at the commit goes back to
// pre-provisioning, so activation can be tried again.
func TestActivateTLSStopsConfigurationOnFailure(t *testing.T) {
	chain := tlsChain(t, "21.0.6")
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, opts, events := tlsDevice(t, "21.0.6", func(c *amtsim.Config) {
		c.UserRootHashes = []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}
		c.Behavior.HaltActivation = true
	})
	err := provisioning.ActivateTLS(context.Background(), sim.Agent(), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), opts)
	t.Logf("\n%s", eventLines(*events))
	require.ErrorIs(t, err, provisioning.ErrActivationHalted)
	last := (*events)[len(*events)-1]
	assert.Equal(t, provisioning.StepStopConfiguration, last.Step)
	assert.NoError(t, last.Err)
	assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
	assert.Equal(t, amt.ControlModeNone, sim.Snapshot().ControlMode)

	// A MEBx password the firmware keeps at its default is refused at the
	// commit (2057): the configuration is stopped as well.
	sim2, opts2, _ := tlsDevice(t, "19.0.5", func(c *amtsim.Config) {
		c.UserRootHashes = []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}
	})
	opts2.MEBxPassword, opts2.LeaveMEBxPassword = amt.Secret{}, true
	err = provisioning.ActivateTLS(context.Background(), sim2.Agent(), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), opts2)
	require.ErrorIs(t, err, amt.StatusDataMissing)
	assert.Equal(t, amt.PreProvisioning, sim2.Snapshot().ProvisioningState)
}

// A setup call's reply lost with the local WS-Management relay (the firmware
// restarting it as it acts on the call): the read-back over it is lost too.
// With HostBasedOptions.HostState the state is read over PTHI instead, as
// rpc-go reads HECI after a failed setup call, and the activation is
// confirmed; without it the outcome stays unconfirmed.
func TestActivationReadBackOverPTHI(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	pw := amt.NewSecret("N3w-Admin-pw")
	for _, tc := range []struct {
		method string
		mode   amt.ControlMode
	}{{"Setup", amt.ControlModeCCM}, {"AdminSetup", amt.ControlModeACM}} {
		for _, host := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/HostState=%v", tc.method, host), func(t *testing.T) {
				var lost atomic.Bool
				beh := amtsim.Behavior{DropFunc: func(op, uri string, _ int) amtsim.Drop {
					switch {
					case op == tc.method:
						lost.Store(true)
						return amtsim.DropResponse
					case lost.Load() && op == "Get" && strings.HasSuffix(uri, "IPS_HostBasedSetupService"):
						lost.Store(false) // the relay is back for what follows
						return amtsim.DropRequest
					}
					return amtsim.DropNone
				}}
				sim, login := localDevice(t, amtsim.Config{TrustedDNSSuffix: "contoso.com",
					UserRootHashes: []amtsim.RootHash{{Name: "test", Hash: root, Active: true}}, Behavior: beh})
				opts := provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login)}
				if host {
					opts.HostState = sim.Agent()
				}
				lsa := login(sim.LocalSystemAccount())
				var err error
				if tc.mode == amt.ControlModeCCM {
					err = provisioning.ActivateCCM(context.Background(), lsa, pw, opts)
				} else {
					err = provisioning.ActivateACM(context.Background(), lsa, chain.Bundle, pw, opts)
				}
				snap := sim.Snapshot()
				assert.Equal(t, tc.mode, snap.ControlMode, "the device acted on the call")
				assert.Equal(t, amt.PostProvisioning, snap.ProvisioningState)
				if !host {
					require.ErrorIs(t, err, provisioning.ErrActivationUnconfirmed)
					return
				}
				require.NoError(t, err)
			})
		}
	}
}
