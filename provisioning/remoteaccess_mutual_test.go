package provisioning_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf/apftest"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

// startCertMPS is a test MPS that authenticates devices by a client
// certificate issued under ca, verified at clock's time; it takes no
// password.
func startCertMPS(t *testing.T, ca *certstest.CA, clock func() time.Time) *mpsRig {
	t.Helper()
	keys := testKeys()
	root := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: keys})
	cert, err := apftest.NewMPSCertificate(root, keys, mpsTestName)
	require.NoError(t, err)
	m, err := apftest.StartMPS(apftest.MPSConfig{Certificate: cert, ClientCAs: ca.Pool(), Now: clock, KeepAlive: 30})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return &mpsRig{mps: m, root: root.RootCertificate()}
}

func mpsCertOf(t *testing.T, h *harness, u amt.UUID) (*provisioning.DeviceRecord, provisioning.DeviceCertificate) {
	t.Helper()
	rec, err := h.store.Load(h.ctx, u)
	require.NoError(t, err)
	cur, ok := rec.CurrentCertificate(provisioning.PurposeMPS)
	require.True(t, ok, "a current MPS client certificate is recorded")
	return rec, cur
}

// TestCIRACertificateAuthEndToEnd: a profile with MPS certificate
// authentication has AMT generate a key, the Issuer certify it, and the MPS
// added naming it; the device then calls an MPS that takes no password and
// presents exactly that certificate. The Maintainer renews it inside the
// window — the MPS entries are added again with the new one, the device calls
// with it, the old one is revoked and deleted — and a profile that goes back
// to passwords retires it.
func TestCIRACertificateAuthEndToEnd(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	rig := startCertMPS(t, h.issuer.ca, clock.Now)
	ra := rig.profile()
	ra.AuthMethod = amt.MPSMutualAuth
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: ra}
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]

	conn := rig.accept(t, h.ctx, d)
	after, first := mpsCertOf(t, h, rec.UUID)
	require.Len(t, conn.TLS.PeerCertificates, 1)
	assert.Equal(t, first.DER, conn.TLS.PeerCertificates[0].Raw, "the device presents the certificate amtkit had issued for its AMT-held key")
	assert.Empty(t, conn.User, "no USERAUTH: the certificate authenticates the device")
	assert.Empty(t, after.MPSUser)
	assert.True(t, after.MPSPassword.IsZero(), "no MPS password is drawn or recorded")
	c, err := first.Certificate()
	require.NoError(t, err)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage)
	assert.Equal(t, []string{"Intel(r) AMT:Management Presence Server 0 127.0.0.1:" + itoa(int(rig.mps.Port())) + " mutual TLS"}, d.CIRA().MPS)

	plan, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	assert.Empty(t, plan.Changes, "in line")

	// Renewal, 41 days before expiry.
	clock.Advance(time.Until(first.NotAfter) - 41*24*time.Hour)
	m := p.Maintainer()
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "%+v", rep)
	assert.Equal(t, 1, rep.Revoked)
	assert.Equal(t, 1, rep.Removed, "the replaced certificate and its key are deleted from the device")
	_, second := mpsCertOf(t, h, rec.UUID)
	require.NotEqual(t, first.DER, second.DER)
	select {
	case <-conn.Session.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the tunnel of the replaced MPS entry stayed up: %v", d.CIRAEvents())
	}
	again := rig.accept(t, h.ctx, d)
	require.Len(t, again.TLS.PeerCertificates, 1)
	assert.Equal(t, second.DER, again.TLS.PeerCertificates[0].Raw, "the device calls with the renewed certificate")
	revs := h.issuer.revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, first.DER, revs[0].Certificate.Raw)
	for _, dc := range d.Snapshot().Certificates {
		assert.NotEqual(t, first.DER, dc.Certificate.Raw, "the old certificate is gone from the device")
	}

	// Back to passwords: the entries are added again with a per-device
	// password and the certificate no entry names is revoked.
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: rig.profile()}
	p = h.provisioner()
	rr, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.NoError(t, rr.Err())
	var lines []string
	for _, c := range rr.Changes {
		lines = append(lines, c.String())
	}
	assert.Contains(t, strings.Join(lines, "\n"), "cira: remove MPS client certificate (was \"pc-a0.contoso.com, serial")
	back, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, ok := back.CurrentCertificate(provisioning.PurposeMPS)
	assert.False(t, ok, "no MPS client certificate is current any more")
	assert.Len(t, back.MPSUser, 16)
	assert.Equal(t, 16, back.MPSPassword.Len())
	revs = h.issuer.revocations()
	require.Len(t, revs, 2)
	assert.Equal(t, certs.RevocationSuperseded, revs[0].Reason, "the renewal's")
	assert.Equal(t, certs.RevocationCessationOfOperation, revs[1].Reason, "retired, not replaced")
	rr, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true, Areas: []string{"cira"}})
	require.NoError(t, err)
	assert.Empty(t, rr.Changes, "in line")
}

// Attack: a device whose MPS client certificate is not the Issuer's (a
// rogue CA's, or none) gets no tunnel to an MPS that verifies certificates;
// and a profile that asks for both a certificate and a password is refused
// before any device is touched.
func TestCIRACertificateAuthRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rogue := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Rogue CA", Keys: testKeys()})
	rig := startCertMPS(t, rogue, nil) // trusts only the rogue CA: the Issuer's certificate must not pass
	ra := rig.profile()
	ra.AuthMethod = amt.MPSMutualAuth
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: ra}
	provisionOne(t, h)
	d := h.fleet.Devices()[0]
	refused := func() bool {
		for _, l := range rig.mps.Log() {
			if strings.Contains(l, "refused") && strings.Contains(l, "certificate") {
				return true
			}
		}
		return false
	}
	require.Eventually(t, refused, 20*time.Second, 5*time.Millisecond, "the MPS refuses the device's certificate: %v", rig.mps.Log())
	assert.False(t, d.CIRAConnected(), "no tunnel")
	actx, cancel := context.WithCancel(h.ctx)
	cancel()
	_, err := rig.mps.Accept(actx)
	require.Error(t, err, "an MPS that does not trust the device's CA accepts no tunnel")

	bad := rig.profile()
	bad.AuthMethod, bad.MPS.Password = amt.MPSMutualAuth, amt.NewSecret("Fl33t-Mps!pass")
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: bad}
	_, err = provisioning.New(h.cfg)
	var ce *provisioning.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Field, "RemoteAccess.MPS")

	bad.MPS.Password, bad.AuthMethod = amt.Secret{}, 7
	_, err = provisioning.New(h.cfg)
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Field, "RemoteAccess.AuthMethod")
}

// With a backup MPS, both entries name the one certificate: the Issuer
// certifies one key, not one per entry.
func TestCIRACertificateAuthBackup(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rig := startCertMPS(t, h.issuer.ca, nil)
	ra := rig.profile()
	ra.AuthMethod = amt.MPSMutualAuth
	ra.Backup = &provisioning.MPSServer{Address: "mps2.contoso.com", Port: 4433}
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: ra}
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	assert.Equal(t, []string{
		"Intel(r) AMT:Management Presence Server 0 127.0.0.1:" + itoa(int(rig.mps.Port())) + " mutual TLS",
		"Intel(r) AMT:Management Presence Server 1 mps2.contoso.com:4433 mutual TLS",
	}, d.CIRA().MPS)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	n := 0
	for _, dc := range after.Certificates {
		if dc.Purpose == provisioning.PurposeMPS {
			n++
			assert.False(t, dc.Pending)
		}
	}
	assert.Equal(t, 1, n, "one MPS client certificate for both entries")
	conn := rig.accept(t, h.ctx, d)
	_, cur := mpsCertOf(t, h, rec.UUID)
	assert.Equal(t, cur.DER, conn.TLS.PeerCertificates[0].Raw)
	plan, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	assert.Empty(t, plan.Changes, "in line")
}
