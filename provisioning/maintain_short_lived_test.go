package provisioning_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/provisioning"
)

// shortIssuer issues certificates valid for life from two days ago (the
// back-dating of certs' templates) on the provisioner's clock.
type shortIssuer struct {
	*testIssuer
	now  func() time.Time
	life time.Duration
}

func (i shortIssuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	t := *req.Template
	t.NotBefore = i.now().Add(-certs.DefaultBackdate)
	t.NotAfter = t.NotBefore.Add(i.life)
	req.Template = &t
	return i.testIssuer.Issue(ctx, req)
}

// A certificate whose renewal window (a third of its lifetime, certs'
// default for short certificates) is shorter than the Maintainer's check
// interval could expire between two runs: a 14-day certificate (12 days
// left when issued, renewed with 4.7 days left) checked every 7 days is not
// due at the run 7 days on (5 days left) and expired at the next. A
// certificate that would expire before the next run is renewed now.
func TestMaintainerRenewsBeforeTheNextRunWouldFindItExpired(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	h.cfg.Issuer = shortIssuer{testIssuer: h.issuer, now: clock.Now, life: 14 * certs.Day}
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	require.WithinDuration(t, clock.Now().Add(12*certs.Day), old.NotAfter, time.Minute)
	m := p.Maintainer()

	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Renewed, "twelve days left")

	clock.Advance(7 * certs.Day) // Every's default
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "five days left: the next run, in seven, would find it expired")
	got, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, ok := got.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	assert.True(t, cur.NotAfter.After(clock.Now().Add(7*certs.Day)), "the renewal outlives the next run")
}
