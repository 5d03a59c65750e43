package provisioning_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// A compromised device lists an MPS whose address holds a line break and a
// forged line, and the reconcile's removal of it fails. ReconcileReport.Err
// (the record's ReconcileError, the Maintainer's events) joined each failed
// change's Target as the device gave it: the forged line read as one more
// failed change of another area. Change.String escaped it; Err did not
// (found by review). Now Err has one line per failed change, escaped as
// Change.String is, and still matches the changes' errors.
func TestAttackReconcileErrForgedLine(t *testing.T) {
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: &certstest.KeyPool{Reuse: true}})
	h, dr := newDropHarness(t, harnessOptions{keys: &certstest.KeyPool{Reuse: true}, config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
			TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
			RemoteAccess: &provisioning.RemoteAccessProfile{
				MPS:  provisioning.MPSServer{Address: "mps.contoso.com"},
				Root: ca.RootCertificate(),
			},
		}
	}})
	p, rec := provisionOne(t, h)
	const forged = "credentials rotate admin password of admin: the device took the new password"
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.AddMPServer(h.ctx, amt.AddMPServerRequest{AccessInfo: "evil.example\n" + forged + "\nx", Port: 4433,
		AuthMethod: amt.MPSPasswordAuth, Username: "evil", Password: amt.NewSecret("Ev1l-Passw0rd!x")})
	require.NoError(t, err)
	dev.Close()

	dr.armURI("Delete", "ManagementPresenceRemoteSAP", amtsim.DropResponse)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Failed, "%v", rep.Changes)
	joined := rep.Err()
	require.Error(t, joined)
	var te *wsman.TransportError
	assert.True(t, errors.As(joined, &te), "the change's error still matches: %v", joined)
	lines := strings.Split(joined.Error(), "\n")
	assert.Len(t, lines, rep.Failed, "one line per failed change: %q", joined.Error())
	for _, l := range lines {
		assert.False(t, strings.HasPrefix(l, "credentials"), "a forged line: %q", l)
	}
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.NotContains(t, after.ReconcileError, "\n", "the record's ReconcileError: %q", after.ReconcileError)
}
