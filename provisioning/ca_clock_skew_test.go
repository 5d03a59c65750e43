package provisioning_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/provisioning"
)

// A CRL is checked on other machines' clocks (another provisioner, a RADIUS
// server) that may be minutes behind the CA's: one whose ThisUpdate is the
// signing second is "not yet valid" to them, and a fail-closed check
// refuses every connection until their clock catches up. Its ThisUpdate
// lies ten minutes before the signing, as Microsoft's CA sets it
// (ClockSkewMinutes), and it stays valid CRLValidity past the signing.
func TestCRLAcceptedByAClockMinutesBehind(t *testing.T) {
	f := newCAFixture(t)
	ca := f.newCA(t, provisioning.CAOptions{})
	now := f.clock.Now()
	der, err := ca.CRL(context.Background())
	require.NoError(t, err)
	crl := caParseCRL(t, der)
	assert.Equal(t, now.Add(-provisioning.CRLClockSkew), crl.ThisUpdate)
	assert.Equal(t, now.Add(provisioning.DefaultCRLValidity), crl.NextUpdate)
	leaf := f.issue(t, ca, "amt.example.com")
	for _, behind := range []time.Duration{0, time.Minute, 9 * time.Minute} {
		assert.NoError(t, certs.CheckCRL(leaf, crl, now.Add(-behind), certs.CRLOptions{Issuer: f.inter.Certificate()}), "a clock %s behind", behind)
	}
}
