package provisioning_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// A TLS renewal left pending (its bind failed) whose certificate is
// later gone from the device (deleted by another console's clean-up of
// unbound certificates, a firmware reset of the store) is retried by every
// run — BindTLSCertificate by a handle that names nothing — and, because a
// pending renewal blocks a new one for the slot, never replaced: the device
// keeps serving the old certificate through its expiry, after which a
// DeviceRoots-verified connection refuses it (device-untrusted). The pending
// certificate is now checked before it is bound: gone, it is recorded
// removed and revoked, and the slot renewed again.
func TestPendingRenewalWhoseCertificateIsGoneRenewsAgain(t *testing.T) {
	clock := &fakeClock{}
	h, dr := newDropHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	dr.armURI("Put", "TLSCredentialContext", amtsim.DropRequest)
	m := p.Maintainer()
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	require.Equal(t, 0, rep.Renewed, "%+v", rep)
	mid, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	var pending provisioning.DeviceCertificate
	for _, dc := range mid.Certificates {
		if dc.Pending && dc.Handle != "" {
			pending = dc
		}
	}
	require.NotEmpty(t, pending.Handle, "the renewal is pending")

	// Out of band: the unbound certificate and its key are deleted.
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.NoError(t, dev.DeleteCertificate(h.ctx, pending.Handle))
	require.NoError(t, dev.DeleteKeyPair(h.ctx, pending.KeyHandle))
	dev.Close()

	renewed := 0
	for week := 0; week < 6; week++ { // every weekly run until the old certificate expired
		clock.Advance(7 * 24 * time.Hour)
		rep, err := m.RunOnce(h.ctx)
		require.NoError(t, err)
		renewed += rep.Renewed
	}
	snap := h.fleet.Devices()[0].Snapshot()
	require.NotNil(t, snap.TLSAppliedCertificate)
	t.Logf("device serves serial %x, expiring %s; now %s", snap.TLSAppliedCertificate.SerialNumber, snap.TLSAppliedCertificate.NotAfter, clock.Now())
	assert.NotZero(t, renewed, "six runs never renewed: the pending entry names a certificate the device no longer holds")
	assert.True(t, snap.TLSAppliedCertificate.NotAfter.After(clock.Now()), "the device serves an expired certificate")
}
