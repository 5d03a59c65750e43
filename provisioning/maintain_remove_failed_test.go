package provisioning_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// RunOnce promises "No failure is silent: each is an event and is
// counted in the report". removeSuperseded's failures (the device cannot be
// opened, a certificate or key cannot be read or deleted) produce no event
// and no count: an operator sees a clean run while AMT's certificate store
// fills run after run. They are an event and MaintenanceReport.RemoveFailed.
func TestRemoveSupersededFailureIsReported(t *testing.T) {
	clock := &fakeClock{}
	var armed atomic.Bool
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) { c.Now = clock.Now },
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.DropFunc = func(op, uri string, _ int) amtsim.Drop {
				if armed.Load() && op == "Delete" && strings.Contains(uri, "AMT_PublicKeyCertificate") {
					return amtsim.DropRequest
				}
				return amtsim.DropNone
			}
		},
	})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
	armed.Store(true)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Renewed)
	require.Zero(t, rep.Removed, "the delete of the replaced certificate was lost")
	var reported bool
	for _, e := range h.eventsFor(rec.UUID) {
		if e.Err != nil && strings.Contains(strings.ToLower(e.Detail), "delet") {
			reported = true
		}
	}
	assert.True(t, reported, "a failed delete of a replaced certificate is an event: %+v", rep)
	assert.Equal(t, 1, rep.RemoveFailed)
	assert.Zero(t, rep.Failed, "the renewal itself succeeded")
}
