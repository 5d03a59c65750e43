package provisioning_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// One CA is both the wired RADIUS server's root and the MPS root. The wired
// area installs it first; CIRA finds it on the device. Both CAs then rotate.
// A run in which "cira" does not run (Areas filter), fails, or is left alone
// by the profile must not delete the root the device's MPS entry still
// needs: every area that used a root is recorded with it, and each must be
// done with it (found by review, which wrote this test; it failed when only
// the installing area was recorded).
func TestRootsAreaWaitsForEveryAreaThatUsedARoot(t *testing.T) {
	for _, name := range []string{"cira filtered out", "cira failed", "cira left alone"} {
		t.Run(name, func(t *testing.T) {
			var h *harness
			rig := startMPS(t, func() provisioning.Store { return h.store })
			var armed atomic.Int32 // refuse the armed-th AddTrustedRootCertificate from now on
			wired := &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "CONTOSO\\amt", Password: amt.NewSecret("Pa55-one"),
				ServerRoot: rig.root, ServerName: "radius.contoso.com"}
			h = newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
				c.Behavior.RefuseFunc = func(method, _ string, _ int) amt.Status {
					if method == "AddTrustedRootCertificate" && armed.Load() > 0 && armed.Add(-1) == 0 {
						return amt.StatusNotPermitted
					}
					return amt.StatusSuccess
				}
			}, config: func(c *provisioning.Config) {
				c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
					TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, RemoteAccess: rig.profile(),
					Network: &provisioning.NetworkProfile{Wired8021X: wired}}
			}})
			p, rec := provisionOne(t, h)
			got, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			require.Empty(t, got.ReconcileError)
			for _, r := range got.TrustedRoots {
				t.Logf("recorded root, areas %q", r.Areas)
			}
			require.True(t, rootOnDevice(t, h, p, rec.UUID, rig.root))
			require.NotEmpty(t, h.fleet.Devices()[0].CIRA().MPS)

			ra := rig.profile()
			ra.Root = radiusRoot(t) // the MPS CA rotated in the profile
			wired2 := *wired
			wired2.ServerRoot = radiusRoot(t) // and the RADIUS CA rotated too
			if name == "cira left alone" {
				ra = nil // "Nil: the device's CIRA settings are left alone"
			}
			setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, RemoteAccess: ra,
				Network: &provisioning.NetworkProfile{Wired8021X: &wired2}})
			p = h.provisioner()
			opts := provisioning.ReconcileOptions{}
			if name == "cira filtered out" {
				opts.Areas = []string{"8021x-wired"}
			} else if name == "cira failed" {
				armed.Store(2) // wired's install of its new root goes through, cira's is refused
			}
			rep, err := p.Reconcile(h.ctx, rec.UUID, opts)
			require.NoError(t, err)
			for _, c := range rep.Changes {
				t.Log("change:", c.String(), c.Err)
			}
			if ra == nil {
				require.NotEmpty(t, h.fleet.Devices()[0].CIRA().MPS, "CIRA left alone: the MPS entry stays")
				assert.True(t, rootOnDevice(t, h, p, rec.UUID, rig.root), "the MPS root the device's MPS entry still needs was deleted")
				return
			}
			old, cur := rootOnDevice(t, h, p, rec.UUID, rig.root), rootOnDevice(t, h, p, rec.UUID, ra.Root)
			assert.True(t, old || cur, "the device was left with no MPS root at all (old deleted=%v, new installed=%v)", !old, cur)

			// A full run in which every area succeeds: the old root goes.
			armed.Store(0)
			rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
			require.NoError(t, err)
			require.NoError(t, rep.Err())
			assert.True(t, rootOnDevice(t, h, p, rec.UUID, ra.Root), "the new MPS root is installed")
			assert.False(t, rootOnDevice(t, h, p, rec.UUID, rig.root), "the old root, which nothing needs any more, is deleted")
		})
	}
}
