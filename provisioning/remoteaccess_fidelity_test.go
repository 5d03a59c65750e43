package provisioning_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// With InsideToo (MpsType both, what RPS sets in
// putRemoteAccessPolicyAppliesToMPS), a profile change that replaces a policy
// without remaking the MPS (here: the periodic interval) re-creates the
// policy's AMT_RemoteAccessPolicyAppliesToMPS links with the firmware default
// MpsType 0 (external; go-wsman-messages remoteaccess/types.go "Default is
// outside (0)"). The plan computes "MPS type" only from the links read before
// the change, so nothing put MpsType back: the run reported success and the
// device stopped calling from inside the home network until the next
// reconcile. A plan that adds a policy sets the type again.
func TestInsideTooSurvivesPolicyReplacement(t *testing.T) {
	ctx := context.Background()
	keys := certstest.NewKeyPool()
	chain := certstest.MustProvisioningChain(nil, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: keys})
	dev, cfg := exampleDevice(ctx, chain, keys)
	defer dev.Close()
	mpsRoot, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: keys})
	require.NoError(t, err)
	cira := provisioning.RemoteAccessProfile{
		MPS:       provisioning.MPSServer{Address: "127.0.0.1", Port: 9, CommonName: "mps.contoso.com", Username: "contoso"},
		Root:      mpsRoot.RootCertificate(),
		InsideToo: true,
	}
	cfg.Store = provisioning.NewMemoryStore()
	cfg.Profiles = map[string]provisioning.Profile{"default": {RemoteAccess: &cira}}
	p, err := provisioning.New(cfg)
	require.NoError(t, err)
	hello, err := dev.Hello(0)
	require.NoError(t, err)
	_, err = p.Provision(ctx, provisioning.ReceivedHello{Hello: hello, Received: time.Now()})
	require.NoError(t, err)
	plan, err := p.Reconcile(ctx, dev.UUID(), provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	require.Empty(t, plan.Changes, "in line after provisioning")

	changed := cira
	changed.Periodic = time.Minute
	cfg.Profiles["default"] = provisioning.Profile{RemoteAccess: &changed}
	p, err = provisioning.New(cfg)
	require.NoError(t, err)
	rep, err := p.Reconcile(ctx, dev.UUID(), provisioning.ReconcileOptions{})
	require.NoError(t, err)
	require.Zero(t, rep.Failed)

	again, err := p.Reconcile(ctx, dev.UUID(), provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	for _, c := range again.Changes {
		t.Log("left:", c)
	}
	require.Empty(t, again.Changes, "one reconcile must leave the replaced policy's links at MpsType both")
}

// AddMpServer's Username is "Limited to ... alphanumeric characters" (the
// MOF text: intel/lms AMT_RemoteAccessService.h AddMpServer_INPUT::Username;
// go-wsman-messages amt/remoteaccess/types.go AddMpServerRequest.Username),
// and RPS accepts only ^[a-zA-Z0-9]+$ "As per AMT SDK"
// (src/routes/admin/ciraconfig/ciraValidator.ts). The profile accepted a
// punctuated user name and would have sent it.
func TestMPSUsernameAlphanumericInProfiles(t *testing.T) {
	keys := certstest.NewKeyPool()
	root, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: keys})
	require.NoError(t, err)
	for _, u := range []string{"mps-user", "mps user", "mps.user", "a:b"} {
		r := provisioning.RemoteAccessProfile{MPS: provisioning.MPSServer{Address: "mps.contoso.com", Username: u}, Root: root.RootCertificate()}
		require.Error(t, r.Validate(), "user name %q is not alphanumeric", u)
	}
}

// KVM disabled in MEBx "cannot be enabled by any other means"
// (IPS_KVMRedirectionSettingData.EnabledByMEBx), and MEBx may forbid changing
// the consent policy (CanModifyOptInPolicy 0): a profile asking for either is
// a failed change that says why, not the firmware's bare refusal, and the
// dry run shows it.
func TestFeaturesFixedInMEBx(t *testing.T) {
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.KVMDisabledInMEBx = true
		c.ConsentFixedInMEBx = true
	}, config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{}
	}})
	_, rec := provisionOne(t, h)
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{Features: &provisioning.FeaturesProfile{KVM: true, UserConsent: provisioning.ConsentNone, Unattended: true}}
	p := h.provisioner()
	dry, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"features"}, DryRun: true})
	require.NoError(t, err)
	var kvm string
	for _, c := range dry.Changes {
		if c.Target == "KVM" {
			kvm = c.String()
		}
	}
	assert.Contains(t, kvm, "disabled in MEBx")

	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"features"}})
	require.NoError(t, err)
	assert.ErrorIs(t, rep.Err(), provisioning.ErrNoKVM)
	assert.ErrorIs(t, rep.Err(), provisioning.ErrConsentFixed)
	assert.Contains(t, rep.Err().Error(), "EnabledByMEBx false")
	assert.Contains(t, rep.Err().Error(), "CanModifyOptInPolicy 0")
	f := h.fleet.Devices()[0].Features()
	assert.False(t, f.KVM, "KVM stays off")
}
