package provisioning_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/amtkit/amtkit/certs/certstest"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/provisioning"
)

type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func provisionOne(t *testing.T, h *harness) (*provisioning.Provisioner, *provisioning.DeviceRecord) {
	t.Helper()
	p := h.provisioner()
	rec, err := p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	require.NoError(t, err)
	return p, rec
}

// The renewal inside the window, with the device's certificate pinned and with
// it verified against DeviceRoots. With DeviceRoots the certificate it
// replaces verifies too: before, the read-back took the old certificate for
// the new one, the renewal was "read back in use" without ever being bound,
// and the certificate the device kept serving was revoked.
func TestMaintainerRenewsInsideWindow(t *testing.T) {
	for _, roots := range []bool{false, true} {
		t.Run(fmt.Sprintf("DeviceRoots=%v", roots), func(t *testing.T) { testMaintainerRenewsInsideWindow(t, roots) })
	}
}

func testMaintainerRenewsInsideWindow(t *testing.T, roots bool) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	if roots {
		h.cfg.DeviceRoots = poolOf(h.issuer.ca.Root())
	}
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	m := p.Maintainer()

	// Outside the window: nothing to do.
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, provisioning.MaintenanceReport{}, rep, "nothing is due: the store's filter does not even yield the device")

	// 41 days before expiry: inside the 42-day renewal window.
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed)
	assert.Equal(t, 1, rep.Revoked)
	assert.Equal(t, 1, rep.Removed, "the replaced certificate and its key are deleted from the device")

	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, ok := got.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	assert.NotEqual(t, old.DER, cur.DER)
	assert.True(t, cur.NotAfter.After(old.NotAfter))
	snap := h.fleet.Devices()[0].Snapshot()
	require.NotNil(t, snap.TLSAppliedCertificate)
	assert.Equal(t, cur.DER, snap.TLSAppliedCertificate.Raw, "the device serves the renewed certificate")
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, certs.RevocationSuperseded, revs[0].Reason)
	assert.Equal(t, old.DER, revs[0].Certificate.Raw)
	for _, c := range snap.Certificates {
		assert.NotEqual(t, old.DER, c.Certificate.Raw, "the old certificate is gone from the device")
	}
	for _, dc := range got.Certificates {
		assert.Equal(t, bytes.Equal(dc.DER, old.DER), dc.RemovedFromDevice, "only the replaced certificate is marked removed")
	}

	// The renewed device is still managed with the new certificate.
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Renewed)
	assert.Equal(t, 0, rep.Failed)
	assert.Equal(t, 0, rep.Removed, "nothing left to delete")
}

// Right after the commit the device may present the certificate it replaces
// for a moment (MeshCentral holds 10 s after enabling TLS): the read-back
// tries again instead of failing the renewal at the first look.
func TestMaintainerRenewalWaitsForTheNewCertificate(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now },
		device: func(_ int, c *amtsim.Config) { c.Behavior.CommitSettleReads = 2 }})
	p, rec := provisionOne(t, h)
	old, _ := rec.CurrentCertificate(provisioning.PurposeTLS)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "%+v", rep)
	assert.Zero(t, rep.Failed)
}

// pendingRenewal provisions a device and runs the Maintainer inside the TLS
// certificate's renewal window while the revocation responder is down for
// the new certificate: the renewal is bound and committed, its read-back
// fails, and the new certificate stays pending while the device presents it.
// It returns the harness, the provisioner, the record and the certificate
// being replaced.
func pendingRenewal(t *testing.T) (*harness, *provisioning.Provisioner, *provisioning.DeviceRecord, provisioning.DeviceCertificate) {
	t.Helper()
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	var down atomic.Bool
	var old provisioning.DeviceCertificate
	h.cfg.CheckRevocation = func(_ context.Context, cert, _ *x509.Certificate) error {
		if down.Load() && !bytes.Equal(cert.Raw, old.DER) {
			return errors.New("OCSP responder unreachable")
		}
		return nil
	}
	p, rec := provisionOne(t, h)
	old, _ = rec.CurrentCertificate(provisioning.PurposeTLS)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	down.Store(true)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Failed, "the read-back failed: %+v", rep)
	down.Store(false)
	return h, p, rec, old
}

// A renewal bound and committed whose read-back failed (here the revocation
// responder was down) leaves the new certificate pending while the device
// presents it. OpenDevice takes it meanwhile (AMT generated its key;
// MeshCentral trusts the certificate it added from the commit on): before,
// every OpenDevice and reconcile failed on the pin until the next Maintainer
// run, which may be days later.
func TestOpenDeviceTakesAPendingRenewal(t *testing.T) {
	h, p, rec, old := pendingRenewal(t)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ := got.CurrentCertificate(provisioning.PurposeTLS)
	require.Equal(t, old.DER, cur.DER, "the renewal is still pending")

	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.SetupAndConfiguration(h.ctx)
	dev.Close()
	require.NoError(t, err, "the device presents the pending certificate")

	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "%+v", rep)
	got, err = h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ = got.CurrentCertificate(provisioning.PurposeTLS)
	assert.NotEqual(t, old.DER, cur.DER)
}

// The pin that takes a pending renewal takes nothing else: while a renewal
// waits for its read-back, an impostor at the device's address with a
// certificate of its own gets a handshake and no request (no credential).
func TestAttackImpostorWhileRenewalPending(t *testing.T) {
	h, _, rec, _ := pendingRenewal(t)
	mitm := startMITM(t)
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return mitm.addr }
	dev, err := h.provisioner().OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.SetupAndConfiguration(h.ctx)
	dev.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pinned hash", "%v", err)
	assert.Positive(t, mitm.handshakes.Load(), "the impostor was reached")
	assert.Zero(t, mitm.requests.Load(), "no request (and no credential) was sent to it")
}

// A replaced certificate is deleted from the device only while its handle
// still names it: AMT reuses handle numbers, and another tool may have
// deleted amtkit's certificate and added its own meanwhile. Before, the
// Maintainer deleted whatever the recorded handle named.
func TestMaintainerDeletesOnlyItsOwnCertificates(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	// Another tool's trusted root takes a handle of its own.
	other := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Another console", Keys: testKeys()}).RootCertificate()
	otherHandle, err := adminDeviceFor(t, d, rec).AddTrustedRootCertificate(h.ctx, other)
	require.NoError(t, err)
	// The record says a replaced certificate of amtkit's sits at that handle
	// (as after amtkit's was deleted and the number given again).
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ := got.CurrentCertificate(provisioning.PurposeTLS)
	stale := cur
	stale.DER = h.issuer.ca.Root().Raw // any certificate that is not the one at the handle
	stale.Handle, stale.KeyHandle, stale.Revoked = otherHandle, "", true
	got.Certificates = append([]provisioning.DeviceCertificate{stale}, got.Certificates...)
	require.NoError(t, h.store.Save(h.ctx, got))

	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Removed, "recorded as gone from the device: %+v", rep)
	found := false
	for _, c := range d.Snapshot().Certificates {
		found = found || c.InstanceID == otherHandle && c.Certificate.Equal(other)
	}
	assert.True(t, found, "the other tool's certificate at that handle is left alone")
}

// The renewed certificate's revocation is checked against its own issuer:
// after the CA moved to a new intermediate, the read-back of a certificate it
// issued used the old certificate's issuer and failed on every run, and the
// device, already serving the new certificate, could no longer be reached.
func TestMaintainerRenewsAcrossIssuerRollover(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	h.cfg.CheckRevocation = func(_ context.Context, cert, issuer *x509.Certificate) error {
		return cert.CheckSignatureFrom(issuer) // a CRL or OCSP check fails so with the wrong issuer
	}
	p, rec := provisionOne(t, h)
	old, _ := rec.CurrentCertificate(provisioning.PurposeTLS)
	inter, err := h.issuer.ca.NewIntermediate(certstest.CAOptions{CommonName: "Contoso AMT Device CA 2"})
	require.NoError(t, err)
	h.issuer.ca = inter
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "%+v", rep)
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	defer dev.Close()
	_, err = dev.Device.GeneralSettings(h.ctx)
	require.NoError(t, err, "the device is reached with the renewed certificate")
}

// A renewal that fails once the key is made (the Issuer down) deletes the key
// again: twenty failed runs leave AMT's key store as it was, and the renewal
// succeeds once the Issuer is back. Before, every run left a key, until
// GenerateKeyPair answered MAX_LIMIT_REACHED.
func TestMaintainerFailedRenewalLeavesNoKey(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	old, _ := rec.CurrentCertificate(provisioning.PurposeTLS)
	m := p.Maintainer()
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	d := h.fleet.Devices()[0]
	before := len(d.Snapshot().KeyPairs)
	h.issuer.fail = errors.New("the CA is unreachable")
	for range 20 {
		rep, err := m.RunOnce(h.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, rep.Failed)
	}
	assert.Len(t, d.Snapshot().KeyPairs, before, "no key left behind")
	h.issuer.fail = nil
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "%+v", rep)
}

func TestMaintainerWirelessNotRenewable(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	rec.Inventory.Wireless = true
	require.NoError(t, h.store.Save(h.ctx, rec))
	clock.Advance(330 * 24 * time.Hour)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.NotRenewable)
	assert.Equal(t, 0, rep.Renewed)
	assert.Empty(t, h.issuer.revocations())
}

func TestUnprovisionAndBlockRevoke(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	// Updating the device's data revokes nothing.
	rec.Inventory.Profile = provisioning.DefaultProfileName
	require.NoError(t, h.store.Save(h.ctx, rec))
	assert.Empty(t, h.issuer.revocations())

	require.NoError(t, p.Unprovision(h.ctx, rec.UUID))
	assert.Equal(t, amt.PreProvisioning, h.fleet.Devices()[0].Snapshot().ProvisioningState)
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, certs.RevocationCessationOfOperation, revs[0].Reason, "no longer needed, nothing compromised (RFC 5280 5.3.1)")
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateNew, got.State)

	require.NoError(t, p.Block(h.ctx, rec.UUID))
	_, err = p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	assert.Equal(t, provisioning.ReasonNotApproved, provisioning.ReasonOf(err))
}

// Blocking a provisioned device revokes every certificate amtkit installed
// on it (privilegeWithdrawn: the device is no longer trusted), records the
// revocations, and refuses its hellos; blocking it again revokes nothing twice.
func TestBlockRevokesAProvisionedDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	hello := h.helloFrom(h.fleet.Devices()[0])
	p := h.provisioner()
	rec, err := p.Provision(h.ctx, hello)
	require.NoError(t, err)
	cur, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)

	require.NoError(t, p.Block(h.ctx, rec.UUID))
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, cur.DER, revs[0].Certificate.Raw)
	assert.Equal(t, certs.RevocationPrivilegeWithdrawn, revs[0].Reason)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, got.Blocked)
	for _, c := range got.Certificates {
		assert.True(t, c.Revoked, "%s certificate recorded revoked", c.Purpose)
	}
	ev := h.eventsFor(rec.UUID)
	assert.Equal(t, "device blocked; 1 certificate(s) revoked", ev[len(ev)-1].Detail)

	require.NoError(t, p.Block(h.ctx, rec.UUID))
	assert.Len(t, h.issuer.revocations(), 1, "nothing is revoked twice")
	_, err = p.Provision(h.ctx, hello) // the device's hello again, or anyone's claiming its UUID
	assert.Equal(t, provisioning.ReasonNotApproved, provisioning.ReasonOf(err))
}

func TestReprovisionRevokesEarlierCertificate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	first, _ := rec.CurrentCertificate(provisioning.PurposeTLS)
	// The device is unprovisioned locally (MEBx), then sends hellos again.
	d := h.fleet.Devices()[0]
	dev := adminDeviceFor(t, d, rec)
	require.NoError(t, dev.Unprovision(h.ctx))
	require.Eventually(t, func() bool { return d.Snapshot().ProvisioningState == amt.PreProvisioning }, 5*time.Second, 10*time.Millisecond)
	// A full unprovision drops user-added root hashes; the integrator adds its
	// root again (setup.bin) before re-provisioning.
	require.NoError(t, d.AddRootHash(amtsim.RootHash{Name: "Contoso test root", Hash: h.chain.Bundle.RootHash(amt.HashSHA256), Active: true}))
	rec2, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	second, _ := rec2.CurrentCertificate(provisioning.PurposeTLS)
	assert.NotEqual(t, first.DER, second.DER)
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, first.DER, revs[0].Certificate.Raw)
}

// A device unprovisioned locally and provisioned again: the handles of the
// certificates its first provisioning installed name nothing amtkit put there
// any more (the unprovision erased them; the simulator, like AMT, numbers the
// new ones from 0 again). The Maintainer must not delete by them — before, it
// tried to delete the old TLS certificate's handle, which now named the
// device's current TLS certificate, on every run.
func TestReprovisionLeavesOldHandlesAlone(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	first, _ := rec.CurrentCertificate(provisioning.PurposeTLS)
	d := h.fleet.Devices()[0]
	require.NoError(t, adminDeviceFor(t, d, rec).Unprovision(h.ctx))
	require.Eventually(t, func() bool { return d.Snapshot().ProvisioningState == amt.PreProvisioning }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, d.AddRootHash(amtsim.RootHash{Name: "Contoso test root", Hash: h.chain.Bundle.RootHash(amt.HashSHA256), Active: true}))
	rec2, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	second, _ := rec2.CurrentCertificate(provisioning.PurposeTLS)
	require.Equal(t, first.Handle, second.Handle, "the test needs the new certificate at the old one's handle")

	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.Len(t, got.Certificates, 2)
	assert.True(t, got.Certificates[0].RemovedFromDevice, "the first provisioning's certificate is gone from the device")
	assert.True(t, got.Certificates[0].Revoked)
	assert.False(t, got.Certificates[1].RemovedFromDevice)

	before := d.Counters()
	m := p.Maintainer()
	for range 2 {
		rep, err := m.RunOnce(h.ctx)
		require.NoError(t, err)
		assert.Zero(t, rep.Checked+rep.Removed+rep.Failed, "nothing to do for the device: %+v", rep)
	}
	assert.Zero(t, d.Counters().Sub(before).Exchanges, "the Maintainer did not contact the device")
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	defer dev.Close()
	_, err = dev.Device.GeneralSettings(h.ctx)
	require.NoError(t, err, "the device still answers with its current certificate")
}

// Unprovision while the CA cannot revoke: the refusal is reported, and the
// Maintainer's next run revokes the certificate once the CA is back (before,
// nothing ever retried it: the certificate stayed valid). Blocking is retried
// the same way, with its own reason.
func TestMaintainerRetriesRevocationsOfRetiredDevices(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 2})
	ca := &failingRevoker{testIssuer: h.issuer, down: true}
	h.cfg.Issuer = ca
	p := h.provisioner()
	devs := h.fleet.Devices()
	var recs []*provisioning.DeviceRecord
	for _, d := range devs {
		rec, err := p.Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	require.NoError(t, p.Unprovision(h.ctx, recs[0].UUID))
	require.NoError(t, p.Block(h.ctx, recs[1].UUID))
	assert.Empty(t, h.issuer.revocations())
	ev := h.eventsFor(recs[0].UUID)
	assert.Contains(t, ev[len(ev)-1].Detail, "0 certificate(s) revoked")
	got, err := h.store.Load(h.ctx, recs[0].UUID)
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateNew, got.State)
	require.Len(t, got.Certificates, 1)
	assert.False(t, got.Certificates[0].Revoked)
	assert.True(t, got.Certificates[0].RemovedFromDevice, "a full unprovision erases the certificates")

	m := p.Maintainer()
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Revoked, "the CA is still down")
	ca.down = false
	before := h.fleet.Counters()
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Revoked)
	assert.Zero(t, rep.Checked, "retired devices are not maintained")
	assert.Zero(t, h.fleet.Counters().Sub(before).Exchanges, "revocation needs no device")
	reasons := map[string]certs.RevocationReason{}
	for _, r := range h.issuer.revocations() {
		reasons[r.Device.String()] = r.Reason
	}
	assert.Equal(t, map[string]certs.RevocationReason{
		recs[0].UUID.String(): certs.RevocationCessationOfOperation,
		recs[1].UUID.String(): certs.RevocationPrivilegeWithdrawn,
	}, reasons)
	for _, rec := range recs {
		got, err := h.store.Load(h.ctx, rec.UUID)
		require.NoError(t, err)
		for _, c := range got.Certificates {
			assert.True(t, c.Revoked, "%s: revocation recorded", rec.UUID)
		}
	}
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Revoked, "nothing is revoked twice")
	assert.Len(t, h.issuer.revocations(), 2)
}

func TestMaintainerBundleExpiryAndAgeOut(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{noInventory: true, config: func(c *provisioning.Config) {
		c.Now = clock.Now
		c.RecordUnknownDevices = true
	}})
	p := h.provisioner()
	m := p.Maintainer()
	assert.Empty(t, m.CheckBundles(h.ctx))
	clock.Advance(time.Until(h.chain.Bundle.NotAfter()) - 30*24*time.Hour)
	ev := m.CheckBundles(h.ctx)
	require.Len(t, ev, 1)
	assert.Equal(t, provisioning.ReasonBundleExpiryWarning, ev[0].Reason)
	assert.Contains(t, ev[0].Detail, "7210")
	clock.Advance(20 * 24 * time.Hour)
	ev = m.CheckBundles(h.ctx)
	require.Len(t, ev, 1)
	assert.Equal(t, provisioning.ReasonBundleExpiryError, ev[0].Reason)
	assert.Contains(t, ev[0].Detail, "7211")

	// An unknown device leaves a discovery record, aged out after 90 days.
	_, err := p.Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	require.Error(t, err)
	_, err = h.store.Load(h.ctx, h.fleet.Devices()[0].UUID())
	require.NoError(t, err)
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.AgedOut)
	clock.Advance(91 * 24 * time.Hour)
	rep, err = m.RunOnce(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.AgedOut)
	_, err = h.store.Load(h.ctx, h.fleet.Devices()[0].UUID())
	assert.ErrorIs(t, err, provisioning.ErrNotFound)
}

// A replaced certificate that cannot be deleted right after the renewal (the
// connection drops, as when AMT restarts its network stack) is deleted at the
// next run.
func TestMaintainerRemovesReplacedCertificateLater(t *testing.T) {
	clock := &fakeClock{}
	var drop atomic.Bool
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) { c.Now = clock.Now; c.CallTimeout = 2 * time.Second },
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.DropFunc = func(op, uri string, _ int) amtsim.Drop {
				if op == "Delete" && strings.HasSuffix(uri, "AMT_PublicKeyCertificate") && drop.CompareAndSwap(true, false) {
					return amtsim.DropRequest
				}
				return amtsim.DropNone
			}
		},
	})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	m := p.Maintainer()
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	drop.Store(true)
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed)
	assert.Equal(t, 0, rep.Removed, "the delete was dropped")

	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Renewed)
	assert.Equal(t, 1, rep.Removed, "tried again at the next run")
	for _, c := range h.fleet.Devices()[0].Snapshot().Certificates {
		assert.NotEqual(t, old.DER, c.Certificate.Raw)
	}
}

// walkCounter counts the store walks a Maintainer makes (RunOnce makes two:
// stale discovery records, then devices due).
type walkCounter struct {
	provisioning.Store
	walks atomic.Int32
}

func (w *walkCounter) Records(ctx context.Context, f provisioning.Filter) iter.Seq2[*provisioning.DeviceRecord, error] {
	w.walks.Add(1)
	return w.Store.Records(ctx, f)
}

// Run checks the bundles and the devices at once, then the devices every
// Every and the bundles every BundleEvery (a device pass checks the bundles
// too and restarts both schedules), waiting only on the injected Sleep and
// reading only the injected clock, until its context ends; it returns the
// context's error.
func TestMaintainerRunSchedule(t *testing.T) {
	var (
		mu     sync.Mutex
		now    time.Time
		slept  []time.Duration
		walks  []int32 // the store walks made so far, read at each sleep
		events []provisioning.Event
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &walkCounter{Store: provisioning.NewMemoryStore()}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Store = store
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			walks = append(walks, store.walks.Load())
			now = now.Add(d)
			n := len(slept)
			mu.Unlock()
			if n == 7 {
				cancel()
			}
			return ctx.Err()
		}
		c.Observer = func(e provisioning.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	}})
	now = h.chain.Bundle.NotAfter().Add(-30 * 24 * time.Hour) // the bundle stays in its warning window
	m := h.provisioner().Maintainer()
	m.Every, m.BundleEvery = 30*time.Hour, 12*time.Hour

	require.ErrorIs(t, m.Run(ctx), context.Canceled)

	h12, h6 := 12*time.Hour, 6*time.Hour
	// 0 h all; 12 h and 24 h bundles; 30 h all (both schedules restart);
	// 42 h and 54 h bundles; 60 h all; cancelled in the next wait.
	assert.Equal(t, []time.Duration{h12, h12, h6, h12, h12, h6, h12}, slept)
	// Three filtered walks a run: unsettled sessions, stale discovery
	// records, devices due.
	assert.Equal(t, []int32{3, 3, 3, 6, 6, 6, 9}, walks, "the devices are walked at 0, 30 and 60 hours only")
	var warnings int
	for _, e := range events {
		if e.Reason == provisioning.ReasonBundleExpiryWarning {
			warnings++
		}
	}
	assert.Equal(t, 7, warnings, "the bundles are checked at every wake: 0, 12, 24, 30, 42, 54 and 60 hours")
}

// With Every and BundleEvery zero, Run checks the devices on the expiry
// policy's interval (certs.DefaultCheckEvery unless set) and the bundles daily.
func TestMaintainerRunDefaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy certs.ExpiryPolicy
		want   []time.Duration // the first waits
	}{
		{"policy default, daily bundles", certs.ExpiryPolicy{}, []time.Duration{min(certs.DefaultCheckEvery, 24*time.Hour)}},
		{"hourly policy", certs.ExpiryPolicy{Every: time.Hour}, []time.Duration{time.Hour, time.Hour}},
		{"weekly policy, daily bundles", certs.ExpiryPolicy{Every: 7 * 24 * time.Hour}, []time.Duration{24 * time.Hour, 24 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var slept []time.Duration
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			now := time.Now()
			h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
				c.ExpiryPolicy = tc.policy
				c.Now = func() time.Time { return now }
				c.Sleep = func(ctx context.Context, d time.Duration) error {
					slept = append(slept, d)
					now = now.Add(d)
					if len(slept) == len(tc.want) {
						cancel()
					}
					return ctx.Err()
				}
			}})
			require.ErrorIs(t, h.provisioner().Maintainer().Run(ctx), context.Canceled)
			assert.Equal(t, tc.want, slept)
		})
	}
}

// A Block whose revocation the CA refused is retried by blocking again.
func TestBlockAgainRetriesARefusedRevocation(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, rec := provisionOne(t, h)
	ca := &failingRevoker{testIssuer: h.issuer, down: true}
	h.cfg.Issuer = ca
	p := h.provisioner()
	require.NoError(t, p.Block(h.ctx, rec.UUID), "the block itself is recorded")
	assert.Empty(t, h.issuer.revocations())
	failed := false
	for _, e := range h.eventsFor(rec.UUID) {
		failed = failed || e.Step == provisioning.StepRevoke && e.Err != nil
	}
	assert.True(t, failed, "the refused revocation is reported")
	ca.down = false
	require.NoError(t, p.Block(h.ctx, rec.UUID))
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, certs.RevocationPrivilegeWithdrawn, revs[0].Reason)
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	for _, c := range got.Certificates {
		assert.True(t, c.Revoked)
	}
}

// failingWalks is a store whose walks fail while failing is set (a database
// outage).
type failingWalks struct {
	provisioning.Store
	failing atomic.Bool
}

var errOutage = errors.New("database unavailable")

func (f *failingWalks) Records(ctx context.Context, flt provisioning.Filter) iter.Seq2[*provisioning.DeviceRecord, error] {
	if f.failing.Load() {
		return func(yield func(*provisioning.DeviceRecord, error) bool) { yield(nil, errOutage) }
	}
	return f.Store.Records(ctx, flt)
}

// A run that the store ends is reported (it was dropped without a word, so a
// Maintainer running in the background never said it did nothing) and
// repeated after RetryAfter instead of after Every.
func TestMaintainerRunReportsAFailedRunAndRetries(t *testing.T) {
	var (
		mu     sync.Mutex
		now    = time.Now()
		slept  []time.Duration
		events []provisioning.Event
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &failingWalks{Store: provisioning.NewMemoryStore()}
	store.failing.Store(true)
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Store = store
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			now = now.Add(d)
			n := len(slept)
			mu.Unlock()
			store.failing.Store(false) // the database is back
			if n == 2 {
				cancel()
			}
			return ctx.Err()
		}
		c.Observer = func(e provisioning.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	}})
	m := h.provisioner().Maintainer()
	m.Every, m.BundleEvery = 30*time.Hour, 100*time.Hour

	require.ErrorIs(t, m.Run(ctx), context.Canceled)
	assert.Equal(t, []time.Duration{15 * time.Minute, 30 * time.Hour}, slept, "retried after 15 minutes, then on schedule")
	var failed []provisioning.Event
	for _, e := range events {
		if errors.Is(e.Err, errOutage) {
			failed = append(failed, e)
		}
	}
	require.Len(t, failed, 1, "the failed run is an event")
	assert.Equal(t, provisioning.ReasonStoreFailed, failed[0].Reason)
	assert.Contains(t, failed[0].Detail, "runs again in 15m0s")
}
