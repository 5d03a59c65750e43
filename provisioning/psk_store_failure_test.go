package provisioning_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
)

type failingMarkUsed struct {
	*pskx.MemoryStore
}

var errPairDB = errors.New("pair database unavailable")

func (f failingMarkUsed) MarkUsed(context.Context, pskx.PID, amt.UUID) error { return errPairDB }

// The session reserves the pair (MarkUsed) once the device has reported its
// UUID over TLS-PSK (it did so inside the TLS dialer, where a store failure,
// not ErrPairUsed, surfaced as a connection failure of the device). It is
// store-failed, a failure of ours, not the device's refusal.
func TestPSKMarkUsedStoreErrorIsStoreFailed(t *testing.T) {
	h, _, store := newPSKHarness(t, provisioning.Profile{TLS: &provisioning.TLSProfile{}, AllowLegacyTLS: true})
	_ = store
	p2cfg := h.cfg
	p2cfg.PSK = failingMarkUsed{store}
	p, err := provisioning.New(p2cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := h.fleet.Devices()[0]
	_, err = p.Provision(h.ctx, h.helloFrom(d))
	t.Logf("err: %v", err)
	assert.ErrorIs(t, err, errPairDB)
	assert.Equal(t, provisioning.ReasonStoreFailed, provisioning.ReasonOf(err))
}
