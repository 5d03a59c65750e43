package provisioning_test

import (
	"context"
	"errors"
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

// fullUnprovision has d fully unprovisioned by its admin account (as the
// store records it), as a local tool would (the simulator is back in
// pre-provisioning when it answers). It runs on the goroutine of a store call: it reports
// failures instead of failing the test.
func fullUnprovision(h *harness, d *amtsim.Device, u amt.UUID) error {
	rec, err := h.store.Load(h.ctx, u)
	if err != nil {
		return err
	}
	c, err := wsman.New(d.TLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithDigestAuth(rec.AdminUser, rec.AdminPassword.Reveal()))
	if err != nil {
		return err
	}
	if err := amt.NewDevice(c).Unprovision(h.ctx); err != nil {
		return err
	}
	if d.Snapshot().ProvisioningState != amt.PreProvisioning {
		return errors.New("the device did not return to pre-provisioning")
	}
	return nil
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

	st := &unprovisionOnPending{Store: h.store, unprov: func() error { return fullUnprovision(h, d, rec.UUID) }}
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

// unprovisionOnProvisioned is a Store that has the device fully unprovisioned
// once it records it provisioned: a local agent or MEBx acting between the
// session's verify and the settings applied after activation.
type unprovisionOnProvisioned struct {
	unprovisionOnPending
}

func (s *unprovisionOnProvisioned) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if err := s.Store.Save(ctx, r); err != nil {
		return err
	}
	if r.State == provisioning.StateProvisioned && s.once.CompareAndSwap(false, true) {
		if err := s.unprov(); err != nil {
			s.errUnpr.Store(err)
		}
	}
	return nil
}

func (s *unprovisionOnProvisioned) SaveFenced(ctx context.Context, r *provisioning.DeviceRecord, lease provisioning.Lease) error {
	if err := s.Store.(provisioning.FencedSaver).SaveFenced(ctx, r, lease); err != nil {
		return err
	}
	if r.State == provisioning.StateProvisioned && s.once.CompareAndSwap(false, true) {
		if err := s.unprov(); err != nil {
			s.errUnpr.Store(err)
		}
	}
	return nil
}

// A device unprovisioned right after the session verified it, before the
// settings applied after activation (here CIRA): Provision reports what it
// did — a provisioned device, verified — and its record says so; what the
// device became afterwards is the Maintainer's to find.
func TestProvisionActivationReconcileDoesNotSettle(t *testing.T) {
	h := newHarness(t, harnessOptions{
		device: func(_ int, c *amtsim.Config) { c.RootHashes, c.UserRootHashes = c.UserRootHashes, nil },
	})
	rig := startCertMPS(t, h.issuer.ca, time.Now)
	ra := rig.profile()
	ra.AuthMethod = amt.MPSMutualAuth
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{}, RemoteAccess: ra}
	d := h.fleet.Devices()[0]
	st := &unprovisionOnProvisioned{unprovisionOnPending{Store: h.store}}
	st.unprov = func() error { return fullUnprovision(h, d, amt.UUID(d.Snapshot().UUID)) }
	h.cfg.Store = st
	rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.True(t, st.once.Load())
	require.Nil(t, st.errUnpr.Load())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State, "Provision returned a record it had settled as unprovisioned")
	stored, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, stored.Provisioned())
	assert.NotContains(t, eventDetails(h.eventsFor(rec.UUID), provisioning.StepUnprovision), "found unprovisioned")

	// The Maintainer's reconcile finds the device back in pre-provisioning
	// and settles the record.
	m := h.provisioner().Maintainer()
	m.ReconcileEvery = time.Nanosecond
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.ReconcileFailed)
	stored, err = h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, stored.Provisioned(), "settled by the Maintainer")
	assert.Contains(t, eventDetails(h.eventsFor(rec.UUID), provisioning.StepUnprovision), "found unprovisioned")
}
