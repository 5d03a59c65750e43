package provisioning_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
)

// A device that was off for weeks comes back after the TLS certificate
// amtkit installed expired: the Maintainer still reaches it (the device
// presents the very certificate amtkit recorded, which chained to
// DeviceRoots while it was valid) and renews it, as it does when the
// certificate is pinned. Before, with DeviceRoots set, the chain check ran
// at the provisioner's clock and refused the expired certificate: the
// renewal failed on every run and the device could no longer be managed.
func TestMaintainerRenewsCertificateThatExpiredWhileOffline(t *testing.T) {
	for _, roots := range []bool{false, true} {
		t.Run(fmt.Sprintf("DeviceRoots=%v", roots), func(t *testing.T) {
			clock := &fakeClock{}
			h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
			if roots {
				h.cfg.DeviceRoots = poolOf(h.issuer.ca.Root())
			}
			p, rec := provisionOne(t, h)
			old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)

			// Off from before the renewal window to three weeks after expiry.
			clock.Advance(time.Until(old.NotAfter) + 21*24*time.Hour)
			rep, err := p.Maintainer().RunOnce(h.ctx)
			require.NoError(t, err)
			assert.Equal(t, 0, rep.Failed)
			assert.Equal(t, 1, rep.Renewed)

			got, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			cur, ok := got.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			assert.True(t, cur.NotAfter.After(clock.Now()), "the renewed certificate is valid now")
			snap := h.fleet.Devices()[0].Snapshot()
			require.NotNil(t, snap.TLSAppliedCertificate)
			assert.Equal(t, cur.DER, snap.TLSAppliedCertificate.Raw)
		})
	}
}
