package provisioning_test

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// An MPS client-certificate renewal with a primary and a backup MPS.
// The primary's entry is re-added naming the new certificate, which makes it
// current and has the old one revoked at once; the backup's replacement then
// fails (its Delete is lost on the way: nothing done). The backup entry still
// names the old certificate, which is now revoked: a certificate revoked while
// still in use (the backup MPS refuses the device). The new certificate now
// becomes current only once every entry names it; a policy is linked to the
// MPSs that are on the device.
func TestMPSRenewalKeepsTheCertificateTheBackupEntryNames(t *testing.T) {
	clock := &fakeClock{}
	var armed atomic.Bool
	var deletes atomic.Int32
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) { c.Now = clock.Now },
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.DropFunc = func(op, uri string, _ int) amtsim.Drop {
				if armed.Load() && op == "Delete" && strings.Contains(uri, "ManagementPresenceRemoteSAP") {
					if deletes.Add(1) == 2 { // the backup's entry
						return amtsim.DropRequest
					}
				}
				return amtsim.DropNone
			}
		},
	})
	rig := startCertMPS(t, h.issuer.ca, clock.Now)
	ra := rig.profile()
	ra.AuthMethod = amt.MPSMutualAuth
	ra.Backup = &provisioning.MPSServer{Address: "mps2.contoso.com", Port: 4433}
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: ra}
	p, rec := provisionOne(t, h)
	_, first := mpsCertOf(t, h, rec.UUID)

	clock.Advance(time.Until(first.NotAfter) - 41*24*time.Hour)
	armed.Store(true)
	rep, err := p.Maintainer().RunOnce(h.ctx)
	require.NoError(t, err)
	require.Equal(t, int32(2), deletes.Load(), "both entries were to be replaced; the backup's Delete was lost")
	t.Logf("report: %+v; device CIRA: %+v", rep, h.fleet.Devices()[0].CIRA())
	assert.NotZero(t, rep.Failed, "the renewal did not reach the backup entry")
	for _, rv := range h.issuer.revocations() {
		assert.False(t, bytes.Equal(first.DER, rv.Certificate.Raw),
			"the old MPS certificate was revoked (%s) while the backup MPS entry still names it", rv.Reason)
	}
	assert.Zero(t, rep.Removed, "the old MPS certificate was deleted from the device while the backup entry names it")
}
