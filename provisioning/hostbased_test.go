package provisioning_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

var mebxPW = amt.NewSecret("Mebx-P4ss!")

// signIn adapts a login function to HostBasedOptions.SignIn.
func signIn(login func(string, amt.Secret) *amt.Device) func(context.Context, string, amt.Secret) (*amt.Device, error) {
	return func(_ context.Context, user string, pw amt.Secret) (*amt.Device, error) { return login(user, pw), nil }
}

// localDevice starts a simulated device and returns an amt.Device signed in
// over the local (LMS) port with the given account.
func localDevice(t *testing.T, cfg amtsim.Config) (*amtsim.Device, func(user string, pw amt.Secret) *amt.Device) {
	t.Helper()
	cfg.Keys = amtsim.PoolKeys(testKeys())
	d, err := amtsim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, d.Start(context.Background()))
	t.Cleanup(func() { d.Close() })
	return d, func(user string, pw amt.Secret) *amt.Device {
		c, err := wsman.New(d.HTTPEndpoint(), wsman.WithDigestAuth(user, pw.Reveal()))
		require.NoError(t, err)
		return amt.NewDevice(c)
	}
}

func TestActivateACM(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, login := localDevice(t, amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
	})
	var events []provisioning.Event
	opts := provisioning.HostBasedOptions{UUID: sim.UUID(), TrustedHashes: []amt.CertHash{root}, Observer: func(e provisioning.Event) { events = append(events, e) },
		MEBxPassword: mebxPW, SignIn: signIn(login)}
	pw := amt.NewSecret("N3w-Admin-pw")
	dev := login(sim.LocalSystemAccount())
	require.NoError(t, provisioning.ActivateACM(context.Background(), dev, chain.Bundle, pw, opts))
	snap := sim.Snapshot()
	assert.Equal(t, amt.PostProvisioning, snap.ProvisioningState)
	assert.Equal(t, amt.ControlModeACM, snap.ControlMode)
	assert.True(t, sim.AdminPasswordIs(pw))
	assert.True(t, sim.MEBxPasswordIs(mebxPW), "the MEBx password is set (divergence 5)")
	require.Len(t, events, 1)
	assert.Equal(t, provisioning.StepActivate, events[0].Step)
	assert.NoError(t, events[0].Err)

	// A second activation is refused before anything is sent.
	err := provisioning.ActivateACM(context.Background(), dev, chain.Bundle, pw, opts)
	assert.ErrorIs(t, err, provisioning.ErrAlreadyActivated)
	assert.Equal(t, provisioning.ReasonWrongState, provisioning.ReasonOf(err))
}

func TestActivateACMUntrustedRoot(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	sim, login := localDevice(t, amtsim.Config{TrustedDNSSuffix: "contoso.com"})
	dev := login(sim.LocalSystemAccount())
	// Without a hash list the chain goes to the device, which refuses it.
	err := provisioning.ActivateACM(context.Background(), dev, chain.Bundle, amt.NewSecret("N3w-Admin-pw"), provisioning.HostBasedOptions{LeaveMEBxPassword: true})
	require.Error(t, err)
	assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
	// With the device's hash list it is refused before sending.
	err = provisioning.ActivateACM(context.Background(), dev, chain.Bundle, amt.NewSecret("N3w-Admin-pw"),
		provisioning.HostBasedOptions{TrustedHashes: []amt.CertHash{{Alg: amt.HashSHA256, Sum: make([]byte, 32)}}})
	assert.Equal(t, provisioning.ReasonNoMatchingRoot, provisioning.ReasonOf(err))
}

func TestActivateCCMThenUpgrade(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	sim, login := localDevice(t, amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
	})
	pw := amt.NewSecret("N3w-Admin-pw")
	require.NoError(t, provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{}))
	assert.Equal(t, amt.ControlModeCCM, sim.Snapshot().ControlMode)
	admin := login("admin", pw)
	// An upgrade without a MEBx password is refused before anything is sent.
	err := provisioning.UpgradeToACM(context.Background(), admin, chain.Bundle, provisioning.HostBasedOptions{})
	require.ErrorIs(t, err, provisioning.ErrMEBxPasswordRequired)
	assert.Equal(t, amt.ControlModeCCM, sim.Snapshot().ControlMode)
	require.NoError(t, provisioning.UpgradeToACM(context.Background(), admin, chain.Bundle, provisioning.HostBasedOptions{MEBxPassword: mebxPW}))
	assert.Equal(t, amt.ControlModeACM, sim.Snapshot().ControlMode)
	assert.True(t, sim.MEBxPasswordIs(mebxPW), "the MEBx password is set (divergence 5)")
	err = provisioning.UpgradeToACM(context.Background(), admin, chain.Bundle, provisioning.HostBasedOptions{MEBxPassword: mebxPW})
	assert.True(t, errors.Is(err, provisioning.ErrNotClientMode))
}

func TestActivateACMRefusesNonRSAKey(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", LeafECDSA: true, Keys: testKeys()})
	sim, login := localDevice(t, amtsim.Config{})
	err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, amt.NewSecret("N3w-Admin-pw"), provisioning.HostBasedOptions{LeaveMEBxPassword: true})
	assert.Equal(t, provisioning.ReasonBundleUnusable, provisioning.ReasonOf(err))
	assert.Equal(t, amt.PreProvisioning, sim.Snapshot().ProvisioningState)
}

// A bundle whose chain stops short of its self-signed root is refused before
// anything is sent, whether or not TrustedHashes is given: the firmware would
// hash an intermediate as the root and fail after the nonce was spent (rpc-go
// refuses such a bundle: ActivationFailedNoRootCertFound).
func TestHostBasedRefusesRootlessChain(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	rootless := chain.Bundle
	rootless.Chain = rootless.Chain[:len(rootless.Chain)-1]
	require.NotEmpty(t, rootless.Chain)
	sim, login := localDevice(t, amtsim.Config{TrustedDNSSuffix: "contoso.com"})
	before := sim.Counters().Exchanges
	err := provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), rootless, amt.NewSecret("N3w-Admin-pw"),
		provisioning.HostBasedOptions{MEBxPassword: mebxPW})
	assert.Equal(t, provisioning.ReasonBundleUnusable, provisioning.ReasonOf(err), "%v", err)
	assert.Contains(t, err.Error(), "self-signed root")
	assert.Zero(t, sim.Counters().Exchanges-before, "nothing was sent")
}

// A SHA-384 provisioning certificate: AMT 22 gets a SHA-384 nonce signature
// (SigningAlgorithm 3; it refuses algorithm 2 for it), older firmware — AMT 21
// included — SHA-256 with algorithm 2, as rpc-go and RPS always sign (RPS
// reverted SHA-384 signing: pull request 2537); the version comes from the
// options or, when zero, the device.
func TestActivateACMSHA384Certificate(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys(),
		Leaf: func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }})
	require.Equal(t, x509.SHA384WithRSA, chain.Bundle.Leaf().SignatureAlgorithm)
	root := chain.Bundle.RootHash(amt.HashSHA256)
	for _, tt := range []struct {
		version string
		given   bool   // Firmware set in the options
		alg     string // the SigningAlgorithm sent
	}{{"22.0.10", false, "3"}, {"22.0.10", true, "3"}, {"21.0.6", false, "2"}, {"21.0.6", true, "2"}, {"16.1.25", false, "2"}} {
		t.Run(fmt.Sprintf("%s given=%v", tt.version, tt.given), func(t *testing.T) {
			v := amt.MustParseVersion(tt.version)
			sim, login := localDevice(t, amtsim.Config{
				Version:          v,
				TrustedDNSSuffix: "contoso.com",
				UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
			})
			opts := provisioning.HostBasedOptions{TrustedHashes: []amt.CertHash{root}, MEBxPassword: mebxPW, SignIn: signIn(login)}
			if tt.given {
				opts.Firmware = v
			}
			pw := amt.NewSecret("N3w-Admin-pw")
			var sent []string
			dev := amt.NewDevice(login(sim.LocalSystemAccount()).Client().WithRecorder(wsman.RecorderFunc(func(x *wsman.Exchange) {
				if i := bytes.Index(x.RequestBody, []byte("SigningAlgorithm>")); i >= 0 && x.StatusCode == http.StatusOK {
					sent = append(sent, string(x.RequestBody[i+len("SigningAlgorithm>")]))
				}
			})))
			require.NoError(t, provisioning.ActivateACM(context.Background(), dev, chain.Bundle, pw, opts))
			assert.Equal(t, amt.ControlModeACM, sim.Snapshot().ControlMode)
			assert.Equal(t, []string{tt.alg}, sent)
		})
	}
}

// ActivateACM and UpgradeToACM read the ConfigurationNonce they sign before
// they send the provisioning chain, and nothing of IPS_HostBasedSetupService
// between the chain and the setup call: the order rpc-go
// (internal/commands/activate/local.go, activateACMLegacy: general settings,
// host-based setup service, AddNextCertInChain, AdminSetup or
// UpgradeClientToAdmin), RPS (src/stateMachines/activation.ts:
// GET_GENERAL_SETTINGS → IPS_HOST_BASED_SETUP_SERVICE → ADD_NEXT_CERT_IN_CHAIN
// → ADMIN_SETUP) and MeshCentral (amtmanager.js activateIntelAmtAcmEx1) use on
// devices. Before, the nonce was read again after the chain (found by
// review).
func TestHostBasedNonceReadBeforeChain(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	root := chain.Bundle.RootHash(amt.HashSHA256)
	for _, tc := range []struct {
		name, call string
		run        func(t *testing.T, sim *amtsim.Device, login func(string, amt.Secret) *amt.Device, rec func()) error
	}{
		{"ActivateACM", "AdminSetup", func(t *testing.T, sim *amtsim.Device, login func(string, amt.Secret) *amt.Device, rec func()) error {
			rec()
			return provisioning.ActivateACM(context.Background(), login(sim.LocalSystemAccount()), chain.Bundle, amt.NewSecret("N3w-Admin-pw"),
				provisioning.HostBasedOptions{MEBxPassword: mebxPW, SignIn: signIn(login)})
		}},
		{"UpgradeToACM", "UpgradeClientToAdmin", func(t *testing.T, sim *amtsim.Device, login func(string, amt.Secret) *amt.Device, rec func()) error {
			pw := amt.NewSecret("N3w-Admin-pw")
			require.NoError(t, provisioning.ActivateCCM(context.Background(), login(sim.LocalSystemAccount()), pw, provisioning.HostBasedOptions{}))
			rec()
			return provisioning.UpgradeToACM(context.Background(), login("admin", pw), chain.Bundle, provisioning.HostBasedOptions{MEBxPassword: mebxPW})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu        sync.Mutex
				recording bool
				calls     []string
			)
			sim, login := localDevice(t, amtsim.Config{
				TrustedDNSSuffix: "contoso.com",
				UserRootHashes:   []amtsim.RootHash{{Name: "test", Hash: root, Active: true}},
				Behavior: amtsim.Behavior{DropFunc: func(op, uri string, _ int) amtsim.Drop {
					mu.Lock()
					defer mu.Unlock()
					if recording && strings.HasSuffix(uri, "/IPS_HostBasedSetupService") {
						if len(calls) == 0 || calls[len(calls)-1] != op {
							calls = append(calls, op)
						}
					}
					return amtsim.DropNone
				}},
			})
			require.NoError(t, tc.run(t, sim, login, func() { mu.Lock(); recording = true; mu.Unlock() }))
			mu.Lock()
			defer mu.Unlock()
			first := slices.Index(calls, "AddNextCertInChain")
			require.Positive(t, first, "a Get before the chain: %v", calls)
			assert.Equal(t, "Get", calls[first-1], "the nonce is read before the chain: %v", calls)
			require.GreaterOrEqual(t, len(calls), first+2, "%v", calls)
			assert.Equal(t, []string{"AddNextCertInChain", tc.call}, calls[first:first+2], "nothing between the chain and %s: %v", tc.call, calls)
		})
	}
}
