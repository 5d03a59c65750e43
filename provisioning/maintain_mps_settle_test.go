package provisioning_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// unprovisionOnPending is a Store that, once it records a pending MPS client
// certificate (a renewal AMT stored but amtkit has not yet bound), has the
// device fully unprovisioned — an operator at MEBx, between the install and
// the renewal's end.
type unprovisionOnPending struct {
	provisioning.Store
	once    atomic.Bool
	unprov  func() error
	errUnpr atomic.Value
}

func (s *unprovisionOnPending) SaveFenced(ctx context.Context, r *provisioning.DeviceRecord, lease provisioning.Lease) error {
	if err := s.Store.(provisioning.FencedSaver).SaveFenced(ctx, r, lease); err != nil {
		return err
	}
	s.after(r)
	return nil
}

func (s *unprovisionOnPending) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if err := s.Store.Save(ctx, r); err != nil {
		return err
	}
	s.after(r)
	return nil
}

func (s *unprovisionOnPending) after(r *provisioning.DeviceRecord) {
	for _, c := range r.Certificates {
		if c.Purpose == provisioning.PurposeMPS && c.Pending && c.Handle != "" && s.once.CompareAndSwap(false, true) {
			if err := s.unprov(); err != nil {
				s.errUnpr.Store(err)
			}
			return
		}
	}
}

// A device fully unprovisioned while the Maintainer renews its MPS client
// certificate: the renewal's last step (adding the MPS entries again with
// the new certificate, reconcile area "cira") finds the device back in
// pre-provisioning and settles the record, as a reconcile does. That is not a
// failed renewal — before, the report counted it as failed and an event
// said the renewal failed and the next run would retry, for a record already
// settled as unprovisioned — and nothing more is tried on the device.
func TestMaintainerMPSRenewalSettlesADeviceFoundUnprovisioned(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{
		device: func(_ int, c *amtsim.Config) {
			// A factory root: the device, back in pre-provisioning, still
			// trusts the provisioning certificate, which proves it.
			c.RootHashes, c.UserRootHashes = c.UserRootHashes, nil
		},
		config: func(c *provisioning.Config) { c.Now = clock.Now },
	})
	rig := startCertMPS(t, h.issuer.ca, clock.Now)
	ra := rig.profile()
	ra.AuthMethod = amt.MPSMutualAuth
	// A TLS profile: the device serves a certificate amtkit installed, so
	// one serving its pre-provisioning certificate again can be told apart.
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{}, RemoteAccess: ra}
	_, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	_, first := mpsCertOf(t, h, rec.UUID)

	st := &unprovisionOnPending{Store: h.store, unprov: func() error {
		c, err := wsman.New(d.TLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithDigestAuth(rec.AdminUser, rec.AdminPassword.Reveal()))
		if err != nil {
			return err
		}
		if err := amt.NewDevice(c).Unprovision(h.ctx); err != nil {
			return err
		}
		for range 500 { // the device restarts into pre-provisioning
			if d.Snapshot().ProvisioningState == amt.PreProvisioning {
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		return assert.AnError
	}}
	h.cfg.Store = st
	p := h.provisioner()
	clock.Advance(time.Until(first.NotAfter) - 41*24*time.Hour)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	require.True(t, st.once.Load(), "the renewal installed a certificate")
	require.Nil(t, st.errUnpr.Load(), "the device was unprovisioned")

	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, after.Provisioned(), "the record is settled as unprovisioned")
	assert.Zero(t, rep.Failed, "a device found unprovisioned is not a failed renewal: %+v", rep)
	ev := h.eventsFor(rec.UUID)
	assert.Contains(t, eventDetails(ev, provisioning.StepUnprovision), "found unprovisioned")
	for _, e := range ev {
		if e.Step == provisioning.StepRenew {
			assert.NoError(t, e.Err, "renewal event %q", e.Detail)
		}
	}
	for _, c := range after.Certificates {
		assert.True(t, c.Revoked, "certificate %q revoked", c.Handle)
	}
}
