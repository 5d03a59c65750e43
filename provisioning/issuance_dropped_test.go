package provisioning_test

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/provisioning"
)

// failOnceStore fails the first Save of a session whose certificates hold an
// issuance in flight not yet certified (the record hook's first call), and
// no other: a store that hiccups once.
type failOnceStore struct {
	provisioning.Store
	failed atomic.Bool
}

func (s *failOnceStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if r.Session != nil && !s.failed.Load() && slices.ContainsFunc(r.Session.Certificates, func(c provisioning.DeviceCertificate) bool {
		return c.Pending && len(c.DER) == 0 && c.KeyHandle != ""
	}) {
		s.failed.Store(true)
		return errDiskFull
	}
	return s.Store.Save(ctx, r)
}

// The record hook's first save fails: issueForAMTKey deletes the key again
// (discard), and the hook, which holds the entry in the session's progress
// although its save failed, must hear of it; before, the session's next save
// wrote the entry naming the handle of a key the device no longer had
// (found by review, which wrote this test).
func TestRecordHookFailureLeavesNoHandle(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fs := &failOnceStore{Store: h.store}
	h.cfg.Store = fs
	p := h.provisioner()
	d := h.fleet.Devices()[0]
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	require.True(t, fs.failed.Load())
	require.Empty(t, d.Snapshot().KeyPairs, "the key was deleted again")
	mid, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, mid.Session)
	for _, c := range mid.Session.Certificates {
		assert.Empty(t, c.KeyHandle, "an entry names a deleted key: %+v", c)
	}
}

// racingRemovalStore lets another writer (a lease-free LastSeen update, say)
// write the record right before the Save that drops a key-only issuance
// entry, so that Save loses the compare-and-swap and is merged.
type racingRemovalStore struct {
	provisioning.Store
	raced atomic.Bool
}

func keyOnly(c provisioning.DeviceCertificate) bool {
	return c.Pending && len(c.DER) == 0 && c.KeyHandle != ""
}

func (s *racingRemovalStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if !s.raced.Load() && r.Session == nil && !slices.ContainsFunc(r.Certificates, keyOnly) {
		if cur, err := s.Store.Load(ctx, r.UUID); err == nil && slices.ContainsFunc(cur.Certificates, keyOnly) {
			s.raced.Store(true)
			cur.LastSeen = cur.LastSeen.Add(1)
			if err := s.Store.Save(ctx, cur); err != nil {
				return err
			}
		}
	}
	return s.Store.Save(ctx, r)
}

// The entry of an issuance whose key was deleted again must not come back
// when that save is merged after a compare-and-swap conflict:
// mergeCertificates is a union, and a dropped entry was resurrected from the
// stored copy, pending and naming the deleted key's handle. The merge now
// sees what the writer dropped since it last saved (found by review, which
// wrote this test).
func TestDiscardedIssuanceStaysDroppedOnConflict(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	_, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	rs := &racingRemovalStore{Store: h.store}
	h.cfg.Store = rs
	h.cfg.Issuer = &failOnceIssuer{Issuer: h.cfg.Issuer}
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	rep, err := h.provisioner().Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Failed, "%+v", rep)
	require.True(t, rs.raced.Load(), "the removal's save met a conflict")
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Len(t, h.fleet.Devices()[0].Snapshot().KeyPairs, 1, "the failed issuance's key was deleted")
	for _, c := range got.Certificates {
		assert.False(t, keyOnly(c), "the removed entry came back, naming a deleted key: %+v", c)
	}
}

// downIssuer certifies nothing.
type downIssuer struct{ provisioning.Issuer }

func (downIssuer) Issue(context.Context, provisioning.IssueRequest) ([]*x509.Certificate, error) {
	return nil, errors.New("issuer down")
}

// Failed issuances leave nothing behind: while the Issuer is down each
// Maintainer run generates a key, deletes it again and drops its entry, so
// the record does not grow run after run (found by review: an earlier fix
// kept a closed entry for each).
func TestFailedIssuancesDoNotAccumulate(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	_, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	before := len(rec.Certificates)
	h.cfg.Issuer = downIssuer{h.cfg.Issuer}
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	const runs = 6
	for range runs {
		rep, err := h.provisioner().Maintainer().RunOnce(h.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, rep.Failed)
		clock.Advance(time.Hour)
	}
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Len(t, h.fleet.Devices()[0].Snapshot().KeyPairs, 1, "every failed attempt's key was deleted")
	assert.Equal(t, before, len(got.Certificates), "%d failed attempts left entries behind", runs)
}
