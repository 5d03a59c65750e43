package provisioning_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// A TLS renewal whose swap is cut short — the AMT_TLSCredentialContext Put
// or the CommitChanges lost before the device acted on it, or its reply
// lost after — keeps the device reachable between runs (the record's
// current certificate or the pending one is accepted), deletes nothing, and
// the next run finishes it: the device serves the new certificate, the old
// one is revoked and deleted, and a further run changes nothing
// (rpc-go issue 572 / pull request 604: a configured device takes the new
// certificate by a Put of its credential context, then a commit).
func TestTLSRenewalSwapInterrupted(t *testing.T) {
	type step struct {
		op, uri string
	}
	for _, s := range []step{{"Put", "AMT_TLSCredentialContext"}, {"CommitChanges", ""}} {
		for _, mode := range []amtsim.Drop{amtsim.DropRequest, amtsim.DropResponse} {
			t.Run(fmt.Sprint(s.op, "/", mode), func(t *testing.T) {
				clock := &fakeClock{}
				h, dr := newDropHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
				p, rec := provisionOne(t, h)
				d := h.fleet.Devices()[0]
				old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
				require.True(t, ok)
				clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
				dr.armURI(s.op, s.uri, mode)
				m := p.Maintainer()
				_, err := m.RunOnce(h.ctx)
				require.NoError(t, err)
				require.Equal(t, int32(1), dr.fired.Load(), "the fault was injected")

				// Between runs: reachable, and the certificate the device
				// serves is still on it.
				dev, err := p.OpenDevice(h.ctx, rec.UUID)
				require.NoError(t, err)
				_, err = dev.GeneralSettings(h.ctx)
				dev.Close()
				require.NoError(t, err, "the device stays reachable mid-swap")
				served, err := d.PresentedCertificate()
				require.NoError(t, err)
				onDevice := false
				for _, c := range d.Snapshot().Certificates {
					onDevice = onDevice || string(c.Certificate.Raw) == string(served.Raw)
				}
				assert.True(t, onDevice, "the certificate the device serves was not deleted")

				clock.Advance(24 * time.Hour)
				_, err = m.RunOnce(h.ctx)
				require.NoError(t, err)
				after, err := h.store.Load(h.ctx, rec.UUID)
				require.NoError(t, err)
				cur, ok := after.CurrentCertificate(provisioning.PurposeTLS)
				require.True(t, ok)
				require.NotEqual(t, old.DER, cur.DER, "renewed")
				served, err = d.PresentedCertificate()
				require.NoError(t, err)
				assert.Equal(t, cur.DER, served.Raw, "the device serves the record's current certificate")
				for _, c := range d.Snapshot().Certificates {
					assert.NotEqual(t, old.DER, c.Certificate.Raw, "the replaced certificate is deleted")
				}
				revoked := false
				for _, r := range h.issuer.revocations() {
					revoked = revoked || string(r.Certificate.Raw) == string(old.DER)
					assert.NotEqual(t, cur.DER, r.Certificate.Raw, "the certificate in use is not revoked")
				}
				assert.True(t, revoked, "the replaced certificate is revoked")

				clock.Advance(24 * time.Hour)
				rep, err := m.RunOnce(h.ctx)
				require.NoError(t, err)
				assert.Zero(t, rep.Renewed+rep.Failed+rep.Removed+rep.RemoveFailed, "idempotent: %+v", rep)
			})
		}
	}
}
