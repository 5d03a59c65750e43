package provisioning_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A provisioning certificate that expires halfway through a fleet's
// roll-out: the next device is refused before any connection with
// bundle-expired, naming the bundle and its end; the Maintainer reports the
// bundle expired; once the renewed certificate (same name, same root) is
// configured beside the old one, the engine passes over the expired bundle
// and provisions with the renewed one.
func TestBundleRotationAcrossExpiry(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{n: 2,
		chain:  certstest.ProvisioningOptions{NotAfter: time.Now().Add(10 * certs.Day)},
		config: func(c *provisioning.Config) { c.Now = clock.Now }})
	old := h.chain.Bundle
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	require.NoError(t, err)

	clock.Advance(11 * certs.Day)
	p := h.provisioner()
	_, err = p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[1]))
	require.Error(t, err)
	assert.Equal(t, provisioning.ReasonBundleExpired, provisioning.ReasonOf(err))
	assert.Contains(t, err.Error(), "bundle prov.contoso.com")
	assert.Contains(t, err.Error(), old.Leaf().NotAfter.UTC().Format(time.RFC3339), "the error says until when the bundle was valid")
	ev := p.Maintainer().CheckBundles(h.ctx)
	require.Len(t, ev, 1)
	assert.Equal(t, provisioning.ReasonBundleExpired, ev[0].Reason)

	renewed, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{Issuer: h.chain.Issuer, FQDN: "prov.contoso.com", Keys: testKeys()})
	require.NoError(t, err)
	h.cfg.Bundles = []certs.Bundle{old, renewed.Bundle}
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(h.fleet.Devices()[1]))
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
	snap := h.fleet.Devices()[1].Snapshot()
	require.NotNil(t, snap.Record)
	require.NotEmpty(t, snap.Record.Chain)
	assert.Equal(t, renewed.Bundle.Leaf().Raw, snap.Record.Chain[0].Raw, "the device was configured with the renewed certificate")
}
