package provisioning_test

import (
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A provisioning certificate for prov.sales.contoso.org and a device whose DNS
// suffix is marketing.contoso.org: the documented rule (the two-label
// relaxation is for .com and .net) does not cover it, MeshCentral's per-TLD
// rule does (certoperations.js). The session tries the certificate and says
// so; a device whose firmware follows that rule is provisioned, one that does
// not refuses the handshake and nothing is written to it.
func TestSessionTriesThePerTLDSuffixRule(t *testing.T) {
	for _, firmwareTakesIt := range []bool{true, false} {
		name := map[bool]string{true: "firmware takes it", false: "firmware refuses it"}[firmwareTakesIt]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{
				noInventory: true,
				chain:       certstest.ProvisioningOptions{FQDN: "prov.sales.contoso.org"},
				template: func(c *amtsim.Config) {
					c.TrustedDNSSuffix = "marketing.contoso.org"
					c.Behavior.PerTLDSuffixRule = firmwareTakesIt
				},
			})
			d := h.fleet.Devices()[0]
			h.inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: "pc-a0.marketing.contoso.org"})
			rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			var authorize string
			for _, e := range h.eventsFor(d.UUID()) {
				if e.Step == provisioning.StepAuthorize && e.State == provisioning.StateAuthorized {
					authorize = e.Detail
				}
			}
			assert.Contains(t, authorize, `covers DNS suffix "marketing.contoso.org" only by MeshCentral's per-TLD rule`)
			if firmwareTakesIt {
				require.NoError(t, err)
				assert.Equal(t, provisioning.StateProvisioned, rec.State)
				assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
				return
			}
			require.Error(t, err)
			assert.Equal(t, provisioning.ReasonTLSRefused, provisioning.ReasonOf(err), "tried, not refused up front: %v", err)
			assert.ErrorContains(t, err, "only by MeshCentral's per-TLD rule", "the error says what to fix")
			assert.NotEqual(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
		})
	}
}

// A certificate that covers the suffix by the documented rule is preferred to
// one that covers it only by MeshCentral's, whatever their order.
func TestSessionPrefersTheDocumentedSuffixRule(t *testing.T) {
	h := newHarness(t, harnessOptions{
		noInventory: true,
		chain:       certstest.ProvisioningOptions{FQDN: "prov.marketing.contoso.org"},
		template:    func(c *amtsim.Config) { c.TrustedDNSSuffix = "marketing.contoso.org" },
	})
	wider, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.sales.contoso.org", Keys: testKeys()})
	require.NoError(t, err)
	require.NoError(t, h.fleet.Devices()[0].AddRootHash(amtsim.RootHash{Name: "second root", Hash: wider.Bundle.RootHash(amt.HashSHA256), Active: true}))
	h.cfg.Bundles = append([]certs.Bundle{wider.Bundle}, h.cfg.Bundles...)
	d := h.fleet.Devices()[0]
	h.inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: "pc-a0.marketing.contoso.org"})
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
	for _, e := range h.eventsFor(d.UUID()) {
		if e.Step == provisioning.StepAuthorize && e.State == provisioning.StateAuthorized {
			assert.Contains(t, e.Detail, "bundle prov.marketing.contoso.org")
			assert.NotContains(t, e.Detail, "per-TLD")
		}
	}
}
