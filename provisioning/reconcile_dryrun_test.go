package provisioning_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A dry run lists what the run it previews applies: a RADIUS root that wired
// 802.1X and a Wi-Fi network both name is added once (by the first area; the
// second finds it on the device), so the plan lists it once (found by an
// integrator's pass: the plan listed it for each area).
func TestReconcileDryRunListsASharedRootOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, rec := provisionOne(t, h)
	root := radiusRoot(t)
	validated := &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "u", Password: amt.NewSecret("peap-password"),
		ServerRoot: root, ServerName: "radius.contoso.com"}
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{
		Wired8021X: validated,
		WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
			{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise, IEEE8021X: validated},
		}},
	}})
	p := h.provisioner()
	rootAdds := func(cs []provisioning.Change) (n int) {
		for _, c := range cs {
			if c.Action == provisioning.ChangeAdd && c.Target == "RADIUS server root" {
				n++
			}
		}
		return n
	}
	plan, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, 1, rootAdds(rep.Changes), "the run adds the root once")
	assert.Equal(t, rootAdds(rep.Changes), rootAdds(plan.Changes), "the plan lists the root as often as the run adds it")
	var planned, applied []string
	for _, c := range plan.Changes {
		planned = append(planned, c.String())
	}
	for _, c := range rep.Changes {
		applied = append(applied, c.String())
	}
	assert.Equal(t, applied, planned, "the plan is the run")
}
