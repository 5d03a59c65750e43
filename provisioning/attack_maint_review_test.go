package provisioning_test

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// A device that refuses every renewed certificate (AddCertificate answers
// PT_STATUS_MAX_LIMIT_REACHED: a full store, or a compromised device that
// chooses to) has the Issuer certify a new key at every Maintainer run, and
// the certificate, never installed, is revoked by the next run. Before, each
// such certificate stayed in the device's record for good: the record grew
// by one entry every run, without bound (found by review). Now a certificate
// that never reached the device is dropped once the Issuer revoked it.
func TestAttackRefusedRenewalsGrowRecord(t *testing.T) {
	clock := &fakeClock{}
	var refuse atomic.Bool
	h := newHarness(t, harnessOptions{keys: &certstest.KeyPool{Reuse: true}, config: func(c *provisioning.Config) { c.Now = clock.Now },
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.RefuseFunc = func(method, _ string, _ int) amt.Status {
				if refuse.Load() && method == "AddCertificate" {
					return amt.Status(23) // PT_STATUS_MAX_LIMIT_REACHED
				}
				return 0
			}
		}})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	refuse.Store(true)
	m := p.Maintainer()
	const runs = 12
	for range runs {
		rep, err := m.RunOnce(h.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, rep.Failed, "%+v", rep)
		clock.Advance(24 * time.Hour)
	}
	r, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(r.Certificates), len(rec.Certificates)+1,
		"%d runs that each had a certificate refused left %d entries in the record", runs, len(r.Certificates))
	cur, ok := r.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	assert.Equal(t, old.DER, cur.DER, "the certificate the device serves stays current")
	assert.False(t, cur.Revoked)
	// Every certificate issued and refused but the last run's is revoked.
	issued := len(h.issuer.issued)
	assert.GreaterOrEqual(t, len(h.issuer.revocations()), issued-len(rec.Certificates)-1-1)

	// Once the device takes it again, the renewal completes.
	refuse.Store(false)
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "%+v", rep)
}

// A device that hides each renewed certificate before it is bound (a
// compromised device deletes it; here the bind is lost and the certificate
// deleted after every run) has the Maintainer take the pending renewal for
// gone, revoke it and renew again at every run. Before, each such
// certificate stayed in the record, revoked and removed: one more entry a
// run, without bound (found by review). The record now keeps a bounded
// number of a slot's retired certificates, the newest.
func TestAttackHiddenRenewalsGrowRecord(t *testing.T) {
	clock := &fakeClock{}
	h, dr := newDropHarness(t, harnessOptions{keys: &certstest.KeyPool{Reuse: true}, config: func(c *provisioning.Config) { c.Now = clock.Now }})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	m := p.Maintainer()
	const runs = 16
	var last []byte
	for range runs {
		dr.armURI("Put", "TLSCredentialContext", amtsim.DropRequest)
		rep, err := m.RunOnce(h.ctx)
		require.NoError(t, err)
		require.Zero(t, rep.Renewed)
		r, err := h.store.Load(h.ctx, rec.UUID)
		require.NoError(t, err)
		// The device deletes the pending certificate and its key.
		dev, err := p.OpenDevice(h.ctx, rec.UUID)
		require.NoError(t, err)
		for _, dc := range r.Certificates {
			if dc.Pending && dc.Handle != "" {
				require.NoError(t, dev.DeleteCertificate(h.ctx, dc.Handle))
				require.NoError(t, dev.DeleteKeyPair(h.ctx, dc.KeyHandle))
				last = dc.DER
			}
		}
		dev.Close()
		clock.Advance(24 * time.Hour)
	}
	r, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(r.Certificates), 10, "%d runs left %d entries in the record", runs, len(r.Certificates))
	cur, ok := r.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	assert.Equal(t, old.DER, cur.DER, "the certificate the device serves stays current")
	assert.False(t, cur.Revoked)
	assert.True(t, slices.ContainsFunc(r.Certificates, func(dc provisioning.DeviceCertificate) bool { return bytes.Equal(dc.DER, last) }),
		"the newest renewal is kept")

	// Once the device keeps it, the renewal completes.
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "%+v", rep)
}
