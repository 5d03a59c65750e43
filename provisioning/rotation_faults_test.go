package provisioning_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/provisioning"
)

// dropper is an armable one-shot amtsim.Behavior.DropFunc: once armed, the
// first request of op whose resource URI holds uri gets mode.
type dropper struct {
	op, uri atomic.Value // string
	mode    atomic.Int32
	fired   atomic.Int32
}

func (d *dropper) arm(op string, mode amtsim.Drop) { d.armURI(op, "", mode) }

// armURI arms the dropper for op on resource URIs holding uri.
func (d *dropper) armURI(op, uri string, mode amtsim.Drop) {
	d.uri.Store(uri)
	d.op.Store(op)
	d.mode.Store(int32(mode))
	d.fired.Store(0)
}

func (d *dropper) fn(op, uri string, _ int) amtsim.Drop {
	want, _ := d.op.Load().(string)
	u, _ := d.uri.Load().(string)
	if want != "" && op == want && strings.Contains(uri, u) && d.fired.CompareAndSwap(0, 1) {
		return amtsim.Drop(d.mode.Load())
	}
	return amtsim.DropNone
}

func newDropHarness(t *testing.T, o harnessOptions) (*harness, *dropper) {
	dr := &dropper{}
	prev := o.device
	o.device = func(i int, c *amtsim.Config) {
		if prev != nil {
			prev(i, c)
		}
		c.Behavior.DropFunc = dr.fn
	}
	return newHarness(t, o), dr
}

// An admin-password rotation whose reply was lost (AMT took the new
// password) or whose request was lost (AMT kept the old one): the next run,
// OpenDevice and the Maintainer sign in with whichever the device has and
// record it. Before, the pending password was never tried and every later
// call got 401 (found by review).
func TestAdminRotationOutcomeLost(t *testing.T) {
	for _, mode := range []amtsim.Drop{amtsim.DropResponse, amtsim.DropRequest} {
		name := map[amtsim.Drop]string{amtsim.DropResponse: "reply lost", amtsim.DropRequest: "request lost"}[mode]
		t.Run(name, func(t *testing.T) {
			h, dr := newDropHarness(t, harnessOptions{})
			p, rec := provisionOne(t, h)
			d := h.fleet.Devices()[0]
			dr.arm("SetAdminAclEntryEx", mode)
			rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateAdminPassword: true, Areas: []string{"credentials"}})
			require.NoError(t, err)
			require.Error(t, rep.Err(), "the rotation's outcome is unknown")
			mid, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			require.False(t, mid.PendingAdminPassword.IsZero(), "recorded before it was sent")
			assert.Equal(t, mode == amtsim.DropResponse, d.AdminPasswordIs(mid.PendingAdminPassword))

			dev, err := p.OpenDevice(h.ctx, rec.UUID)
			require.NoError(t, err, "OpenDevice signs in")
			_, err = dev.SetupAndConfiguration(h.ctx)
			require.NoError(t, err)
			dev.Close()
			unleased, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			assert.False(t, unleased.PendingAdminPassword.IsZero(), "OpenDevice holds no lease: it writes nothing")

			rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
			require.NoError(t, err)
			assert.NoError(t, rep.Err(), "the next run signs in")
			after, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			assert.True(t, d.AdminPasswordIs(after.AdminPassword), "the record's admin password is the device's")
			assert.True(t, after.PendingAdminPassword.IsZero(), "settled under the lease")
		})
	}
}

// The same settling under the device's lease (Reconcile's own sign-in): a
// reconcile run right after the lost reply signs in with the pending password.
func TestAdminRotationLostReplySettledByReconcile(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	dr.arm("SetAdminAclEntryEx", amtsim.DropResponse)
	_, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateAdminPassword: true, Areas: []string{"credentials"}})
	require.NoError(t, err)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	assert.NoError(t, rep.Err())
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, d.AdminPasswordIs(after.AdminPassword))
	assert.True(t, after.PendingAdminPassword.IsZero())
}

// A MEBx-password rotation whose reply was lost keeps the pending password
// (the device may hold it), and the next run sends it again, which settles
// it. Before, the lost reply erased the only record of the device's new MEBx
// password (found by review).
func TestMEBxRotationLostReply(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.MEBxPolicy = amtsim.MEBxAnytime }})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	mid := rotateMEBxReplyLost(t, h, dr, p, rec.UUID)
	require.False(t, mid.PendingMEBxPassword.IsZero(), "kept: the device may hold it")
	assert.True(t, d.MEBxPasswordIs(mid.PendingMEBxPassword))

	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Changes, 1, "the pending password is sent again")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.PendingMEBxPassword.IsZero())
	assert.True(t, d.MEBxPasswordIs(after.MEBxPassword), "the record knows the device's MEBx password")
	assert.True(t, after.MEBxPassword.Equal(mid.PendingMEBxPassword))
}

// rotateMEBxReplyLost asks a reconcile for a new MEBx password and loses the
// device's answer to SetMEBxPassword (whatever it was); it returns the record
// after that reconcile.
func rotateMEBxReplyLost(t *testing.T, h *harness, dr *dropper, p *provisioning.Provisioner, u amt.UUID) *provisioning.DeviceRecord {
	t.Helper()
	dr.arm("SetMEBxPassword", amtsim.DropResponse)
	rep, err := p.Reconcile(h.ctx, u, provisioning.ReconcileOptions{RotateMEBxPassword: true, Areas: []string{"credentials"}})
	require.NoError(t, err)
	require.Error(t, rep.Err(), "the outcome is unknown")
	mid, err := h.store.Load(h.ctx, u)
	require.NoError(t, err)
	return mid
}

// A MEBx-password rotation that the device refused (its policy allows no
// change after provisioning) but whose refusal was lost is sent again, and
// refused again: the device kept the password the record holds, and the
// record must keep it. Before, the second refusal was read as "the first send
// set it" and the record took the password the device had refused, losing
// the one an operator at the keyboard needs (found by review of the branch
// that had no test).
func TestMEBxRotationRefusalLost(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.MEBxPolicy = amtsim.MEBxDefaultOnly }})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	old := rec.MEBxPassword
	require.True(t, d.MEBxPasswordIs(old))
	mid := rotateMEBxReplyLost(t, h, dr, p, rec.UUID)
	require.False(t, mid.PendingMEBxPassword.IsZero(), "the outcome is unknown: kept")

	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"credentials"}})
	require.NoError(t, err)
	require.ErrorIs(t, rep.Err(), amt.StatusNotPermitted, "the resend is reported refused")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.PendingMEBxPassword.IsZero(), "settled: nothing pending")
	assert.True(t, after.MEBxPassword.Equal(old), "the record keeps the password the device kept")
	assert.True(t, d.MEBxPasswordIs(after.MEBxPassword))
}

// A changed wired 802.1X password, Wi-Fi passphrase or Wi-Fi 802.1X password
// whose Put was lost (before or after the device acted on it) is sent again
// by the next run: it is recorded before it is sent but marked until the
// read-back confirms it. Before, the record's value was taken for the
// device's and the device kept the old secret (found by review).
func TestNetworkSecretSendLost(t *testing.T) {
	root := radiusRoot(t)
	peap := func(pw string) *provisioning.IEEE8021XConfig {
		return &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "CONTOSO\\amt", Password: amt.NewSecret(pw),
			ServerRoot: root, ServerName: "radius.contoso.com"}
	}
	for _, tc := range []struct {
		name string
		op   string
		prof func(pw string) provisioning.Profile
		is   func(d *amtsim.Device, pw string) bool // nil: the device does not say
	}{
		{"wired PEAP", "Put", func(pw string) provisioning.Profile {
			return provisioning.Profile{Network: &provisioning.NetworkProfile{Wired8021X: peap(pw)}}
		}, nil},
		{"Wi-Fi passphrase", "UpdateWiFiSettings", func(pw string) provisioning.Profile {
			return provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{personal("a", 1, pw)}}}}
		}, func(d *amtsim.Device, pw string) bool { return d.WiFiPassphraseIs("a", amt.NewSecret(pw)) }},
		{"Wi-Fi PEAP", "UpdateWiFiSettings", func(pw string) provisioning.Profile {
			return provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
				{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise, IEEE8021X: peap(pw)}}}}}
		}, func(d *amtsim.Device, pw string) bool { return d.WiFi8021xPasswordIs("corp", amt.NewSecret(pw)) }},
	} {
		for _, mode := range []amtsim.Drop{amtsim.DropRequest, amtsim.DropResponse} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, mode), func(t *testing.T) {
				h, dr := newDropHarness(t, harnessOptions{})
				setProfile(h, tc.prof("first-Pa55-word"))
				p, rec := provisionOne(t, h)
				require.Empty(t, rec.ReconcileError)
				d := h.fleet.Devices()[0]
				setProfile(h, tc.prof("second-Pa55-word"))
				dr.arm(tc.op, mode)
				rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
				require.NoError(t, err)
				require.Error(t, rep.Err(), "the send was lost")

				rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
				require.NoError(t, err)
				require.NoError(t, rep.Err())
				assert.NotEmpty(t, rep.Changes, "the unconfirmed secret is sent again")
				if tc.is != nil {
					assert.True(t, tc.is(d, "second-Pa55-word"), "the device has the new secret")
				}
				again, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
				require.NoError(t, err)
				assert.Empty(t, again.Changes, "confirmed: in line")
			})
		}
	}
}

// Changed MPS credentials whose replacement of the device's MPS entry was
// interrupted (the old entry's Delete lost, so the new one was never added):
// the next run remakes the entries, and the device calls the MPS with the
// recorded credentials. Before, the recorded credentials were taken for the
// device's, the policies were linked to the old entry again, and the MPS
// refused every tunnel while reconcile reported success (found by review).
func TestMPSCredentialChangeInterrupted(t *testing.T) {
	h, rig, p, rec := interruptedMPSChange(t, func(rig *mpsRig) *provisioning.RemoteAccessProfile { return rig.profile() })
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	actx, cancel := context.WithTimeout(h.ctx, 8*time.Second)
	defer cancel()
	conn, err := rig.mps.Accept(actx)
	require.NoError(t, err, "the device calls with the recorded credentials")
	assert.Equal(t, "fleet", conn.User)
	again, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	assert.Empty(t, again.Changes, "in line once every entry was remade")
}

// An EAP-TLS change interrupted after its client certificate was issued (the
// 802.1X Put lost): the next run binds that pending certificate instead of
// issuing a second one, and the Maintainer then neither binds an abandoned
// one nor revokes the one the device uses. Before, it bound the older one as
// a renewal and revoked it as superseded while the device used it (found by
// review).
func TestEAPTLSChangeInterruptedReusesItsCertificate(t *testing.T) {
	root := radiusRoot(t)
	eaptls := &provisioning.IEEE8021XConfig{Method: provisioning.EAPTLS, ServerRoot: root, ServerName: "radius.contoso.com"}
	h, dr := newDropHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{Wired8021X: eaptls}})
	dr.armURI("Put", "IEEE8021xSettings", amtsim.DropRequest)
	_, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	issued := 0
	mid, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	for _, c := range mid.Certificates {
		if c.Purpose == provisioning.PurposeIEEE8021X {
			issued++
		}
	}
	assert.Equal(t, 1, issued, "one client certificate: the pending one was bound, not a second issued")
	m := p.Maintainer()
	for range 2 {
		_, err := m.RunOnce(h.ctx)
		require.NoError(t, err)
	}
	inUse := d.Snapshot().IEEE8021xClient
	require.NotNil(t, inUse)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, ok := after.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
	require.True(t, ok)
	assert.Equal(t, cur.DER, inUse.Raw, "the device authenticates with the record's current certificate")
	for _, r := range h.issuer.revocations() {
		assert.NotEqual(t, r.Certificate.Raw, inUse.Raw, "the certificate in use was revoked")
	}
}

// A renewal whose AddCertificate or GenerateKeyPair reply was lost. After a
// lost AddCertificate reply the device is asked whether it holds the
// certificate; after a lost GenerateKeyPair reply the one key pair no
// certificate uses is taken for the new key. Either way the renewal goes on,
// and no certificate or key stays on the device in no record. Before, one
// pair (or one key) per lost reply did (found by review).
func TestRenewalReplyLost(t *testing.T) {
	for _, op := range []string{"AddCertificate", "GenerateKeyPair"} {
		t.Run(op, func(t *testing.T) {
			clock := &fakeClock{}
			h, dr := newDropHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
			p, rec := provisionOne(t, h)
			d := h.fleet.Devices()[0]
			old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
			dr.arm(op, amtsim.DropResponse)
			m := p.Maintainer()
			rep, err := m.RunOnce(h.ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, rep.Renewed, "the renewal goes on")
			_, err = m.RunOnce(h.ctx)
			require.NoError(t, err)
			after, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			known, keys := map[string]bool{}, map[string]bool{}
			for _, c := range after.Certificates {
				if !c.RemovedFromDevice {
					known[string(c.DER)], keys[c.KeyHandle] = true, true
				}
			}
			snap := d.Snapshot()
			for _, c := range snap.Certificates {
				if !c.TrustedRoot {
					assert.True(t, known[string(c.Certificate.Raw)], "certificate %s on the device is in the record", c.InstanceID)
				}
			}
			for _, k := range snap.KeyPairs {
				assert.True(t, keys[k.InstanceID], "key pair %s on the device is in the record", k.InstanceID)
			}
			cur, ok := after.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			assert.NotEqual(t, old.DER, cur.DER, "renewed")
		})
	}
}

// A tls change whose CommitChanges was lost before the device acted on it:
// AMT_TLSSettingData reads the values Put whether or not they were
// committed, so the read-back commits once more, and the device applies the
// change. Before, the change was reported applied while the device kept its
// old settings (found by review). A lost reply (the commit applied) is
// harmless: the second commit has nothing to commit.
func TestTLSChangeCommitLost(t *testing.T) {
	for _, mode := range []amtsim.Drop{amtsim.DropRequest, amtsim.DropResponse} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			h, dr := newDropHarness(t, harnessOptions{})
			p, rec := provisionOne(t, h)
			d := h.fleet.Devices()[0]
			setProfile(h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond, AllowNonTLS: true}})
			dr.arm("CommitChanges", mode)
			rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"tls"}})
			require.NoError(t, err)
			require.NoError(t, rep.Err())
			assert.True(t, d.Snapshot().TLSApplied.AcceptNonSecureConnections, "the device applies the profile's TLS settings")
			again, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"tls"}})
			require.NoError(t, err)
			assert.Empty(t, again.Changes)
		})
	}
}

// Changed MPS credentials whose replacement was interrupted, and then an MPS
// address the profile moves: the entries still to remake are those the
// profile still names, so the list empties and CIRA is not torn down on every
// run (found by a review of this change).
func TestMPSRemakingForgetsDroppedAddresses(t *testing.T) {
	withBackup := func(rig *mpsRig, primary string) *provisioning.RemoteAccessProfile {
		ra := rig.profile()
		if primary != "" {
			ra.MPS.Address = primary
		}
		ra.Backup = &provisioning.MPSServer{Address: "127.0.0.2", Port: 4433, CommonName: "backup.example.com"}
		return ra
	}
	h, rig, p, rec := interruptedMPSChange(t, func(rig *mpsRig) *provisioning.RemoteAccessProfile { return withBackup(rig, "") })
	var rep *provisioning.ReconcileReport
	var err error
	moved := withBackup(rig, "127.0.0.3")
	moved.MPS.Username, moved.MPS.Password = "fleet", amt.NewSecret("Fl33t-Mps!pass")
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: moved}
	for range 2 {
		rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
		require.NoError(t, err)
		require.NoError(t, rep.Err())
	}
	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes, "in line once every wanted entry was remade")
}

// interruptedMPSChange provisions one device with base's CIRA profile and
// an MPS that accepts it, changes the MPS credentials, and runs the cira
// area with the old MPS entry's Delete lost (the new entry never added).
func interruptedMPSChange(t *testing.T, base func(*mpsRig) *provisioning.RemoteAccessProfile) (*harness, *mpsRig, *provisioning.Provisioner, *provisioning.DeviceRecord) {
	var h *harness
	rig := startMPS(t, func() provisioning.Store { return h.store })
	dr := &dropper{}
	h = newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: base(rig)}
	}, device: func(_ int, c *amtsim.Config) { c.Behavior.DropFunc = dr.fn }})
	_, rec := provisionOne(t, h)
	rig.accept(t, h.ctx, h.fleet.Devices()[0])
	ra := base(rig)
	ra.MPS.Username, ra.MPS.Password = "fleet", amt.NewSecret("Fl33t-Mps!pass")
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: ra}
	p := h.provisioner()
	dr.armURI("Delete", "AMT_ManagementPresenceRemoteSAP", amtsim.DropRequest)
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.Error(t, rep.Err(), "the replacement was interrupted")
	return h, rig, p, rec
}

// An impostor at the device's address while a rotation's admin password is
// pending: trying the current and the pending password goes over the
// device's pinned certificate, so the impostor gets a handshake and neither
// password, through OpenDevice or a reconcile.
func TestAttackImpostorWhileAdminPasswordPending(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	dr.arm("SetAdminAclEntryEx", amtsim.DropResponse)
	_, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateAdminPassword: true, Areas: []string{"credentials"}})
	require.NoError(t, err)
	mid, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.False(t, mid.PendingAdminPassword.IsZero())

	mitm := startMITM(t)
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return mitm.addr }
	q := h.provisioner()
	_, err = q.OpenDevice(h.ctx, rec.UUID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pinned hash", "%v", err)
	_, err = q.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.Error(t, err)
	assert.Positive(t, mitm.handshakes.Load(), "the impostor was reached")
	assert.Zero(t, mitm.requests.Load(), "no request (and no password) was sent to it")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.PendingAdminPassword.Equal(mid.PendingAdminPassword), "nothing settled against an impostor")
}

// A device whose MEBx password someone changed from the default before
// amtkit saw it (in MEBx, by setup.bin), under the default policy that
// allows no further change: a first attempt that failed before it sent
// SetMEBxPassword left a session to resume, and the resumed attempt's
// refusal was read as "the earlier attempt set it", so the record held a
// password the device never took. The session now records that it sent the
// password before sending it, and reads the refusal so only when an earlier
// attempt did (found by review).
func TestResumedSessionMEBxNeverSent(t *testing.T) {
	user := amt.NewSecret("Set-At-The-Keyboard-1")
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.MEBxPassword = user }})
	fs := &failConfigureStore{Store: h.store}
	h.cfg.Store = fs
	p := h.provisioner()
	d := h.fleet.Devices()[0]
	// The first attempt proves the device, then cannot record the secrets
	// it is about to send, and ends before SetMEBxPassword.
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.ErrorIs(t, err, errDiskFull)
	mid, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, mid.Session, "a session to resume")

	rec, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.True(t, d.MEBxPasswordIs(user), "the device kept the password set at the keyboard")
	assert.False(t, d.MEBxPasswordIs(rec.MEBxPassword), "the record does not claim a password the device refused")
	assert.True(t, rec.MEBxPassword.IsZero(), "the MEBx password is not amtkit's to know")
}

// failConfigureStore fails the first Save of a session record that holds a
// generated MEBx password: the save configure makes before it sends one.
type failConfigureStore struct {
	provisioning.Store
	failed atomic.Bool
}

func (s *failConfigureStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if r.Session != nil && !r.Session.MEBxPassword.IsZero() && s.failed.CompareAndSwap(false, true) {
		return errDiskFull
	}
	return s.Store.Save(ctx, r)
}

// Re-provisioning a device whose MEBx password amtkit set the first time
// (a full unprovision keeps it): the new password is refused under the
// default policy, the refusal is lost, and the resumed attempt's resend is
// refused again. Before, that refusal was read as "the earlier attempt set
// it": the record took the refused password and dropped the one the device
// has (found by review).
func TestReprovisionMEBxRefusalLost(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	p1 := rec.MEBxPassword
	require.False(t, p1.IsZero())
	require.NoError(t, unprovisionLocally(p, h, d))
	require.True(t, d.MEBxPasswordIs(p1), "an unprovision keeps the MEBx password")

	dr.arm("SetMEBxPassword", amtsim.DropResponse) // refused; the refusal is lost
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	mid, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, mid.Session)
	require.True(t, mid.Session.Done.Has(provisioning.DoneMEBxSent))

	after, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.True(t, d.MEBxPasswordIs(p1), "the device kept the password amtkit set the first time")
	assert.True(t, after.MEBxPassword.Equal(p1), "the record holds the device's MEBx password")
}

// A full unprovision leaves the MEBx password on the device ("The MEBx
// password is not restored to the default": Intel AMT Implementation and
// Reference Guide, "Restoring Intel AMT to Factory Mode"), so the record keeps
// it: before, Unprovision cleared it, and a re-provisioning under the default
// policy (which refuses a new one) recorded none (found by review).
func TestUnprovisionKeepsMEBxPassword(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	require.NoError(t, p.Unprovision(h.ctx, rec.UUID))
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.True(t, d.MEBxPasswordIs(rec.MEBxPassword), "the device keeps its MEBx password")
	assert.True(t, after.MEBxPassword.Equal(rec.MEBxPassword), "so does the record")
	assert.True(t, after.AdminPassword.IsZero(), "the admin account is gone")
}

// A commit that landed while the device stayed unreachable for the whole
// read-back ends commit-unconfirmed. The device, provisioned, sends no more
// hellos: before, Resume skipped the failed session (contrary to
// docs/troubleshooting.md) and nothing ever recorded the device as
// provisioned, with its admin password only in the session (found by
// review). Resume and the Maintainer now read such a device's state.
func TestCommitUnconfirmedSettled(t *testing.T) {
	for _, by := range []string{"Resume", "Maintainer"} {
		t.Run(by, func(t *testing.T) {
			h, dr := newDropHarness(t, harnessOptions{})
			d := h.fleet.Devices()[0]
			h.cfg.CallTimeout = 300 * time.Millisecond
			h.cfg.CommitVerifyAttempts = 2
			observe := h.cfg.Observer
			h.cfg.Observer = func(e provisioning.Event) {
				observe(e)
				if e.Step == provisioning.StepCommit && e.Err == nil {
					d.SetUnresponsive(true) // restarting, unreachable for a while
				}
			}
			dr.arm("CommitChanges", amtsim.DropResponse)
			p := h.provisioner()
			_, err := p.Provision(h.ctx, h.helloFrom(d))
			require.Equal(t, provisioning.ReasonCommitUnconfirmed, provisioning.ReasonOf(err), "%v", err)
			d.SetUnresponsive(false)
			require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the commit landed")
			_, err = d.Hello(0)
			require.Error(t, err, "a provisioned device sends no hello")

			h.cfg.Observer = observe
			if by == "Resume" {
				require.NoError(t, h.provisioner().Resume(h.ctx))
			} else {
				// A first run while the device cannot be reached (its address
				// refuses connections), then one once it answers: an
				// unreachable device is tried again.
				dead, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				deadAddr := dead.Addr().String()
				require.NoError(t, dead.Close())
				real := h.cfg.DeviceAddress
				h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return deadAddr }
				rep, err := h.provisioner().Maintainer().RunOnce(h.ctx)
				require.NoError(t, err)
				require.Equal(t, 1, rep.Resumed)
				mid, err := h.store.Load(h.ctx, d.UUID())
				require.NoError(t, err)
				require.Equal(t, provisioning.ReasonCommitUnconfirmed, mid.Reason, "still unsettled")
				h.cfg.DeviceAddress = real
				rep, err = h.provisioner().Maintainer().RunOnce(h.ctx)
				require.NoError(t, err)
				assert.Equal(t, 1, rep.Resumed)
			}
			rec, err := h.store.Load(h.ctx, d.UUID())
			require.NoError(t, err)
			assert.Equal(t, provisioning.StateProvisioned, rec.State, "the device is provisioned (%s: %s)", rec.Reason, rec.LastError)
			assert.True(t, d.AdminPasswordIs(rec.AdminPassword), "the record holds the admin password the device has")
			assert.Nil(t, rec.Session)
		})
	}
}

// Unprovision whose reply was lost after the device acted: the device is in
// pre-provisioning, serving again the certificate it showed before it was
// provisioned. Before, the record stayed Provisioned with nothing revoked, and
// every retry failed its handshake against a device amtkit no longer had
// installed a certificate on (found by review). Now the lost reply, or the
// retry, finds the device serving its own certificate and completes the
// record.
func TestUnprovisionReplyLost(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{})
	h.cfg.CallTimeout = 2 * time.Second
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	dr.arm("Unprovision", amtsim.DropResponse)
	if err := p.Unprovision(h.ctx, rec.UUID); err != nil {
		// The reply was lost before the device reopened: the retry settles it.
		require.Eventually(t, func() bool { return d.Snapshot().ProvisioningState == amt.PreProvisioning }, 5*time.Second, 10*time.Millisecond)
		// Open to remote configuration again (as a device whose hellos were
		// on is after an unprovision): it serves its own certificate.
		require.NoError(t, d.AddRootHash(amtsim.RootHash{Name: "Contoso test root", Hash: h.chain.Bundle.RootHash(amt.HashSHA256), Active: true}))
		require.NoError(t, d.StartConfiguration(amt.Secret{}))
		require.NoError(t, p.Unprovision(h.ctx, rec.UUID), "the retry settles it")
	}
	require.Equal(t, int32(1), dr.fired.Load())
	require.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.False(t, after.Provisioned(), "the record says unprovisioned")
	for _, c := range after.Certificates {
		assert.True(t, c.Revoked, "every certificate amtkit installed is revoked")
	}
	assert.Contains(t, eventDetails(h.eventsFor(rec.UUID), provisioning.StepUnprovision), "serves the certificate it showed before")
}

// eventDetails joins the details of the events of step.
func eventDetails(events []provisioning.Event, step provisioning.Step) string {
	var b strings.Builder
	for _, e := range events {
		if e.Step == step {
			b.WriteString(e.Detail)
			b.WriteString("\n")
		}
	}
	return b.String()
}

// A session that dies between installing AMT's TLS certificate (or
// generating its key) and recording it: before, the resumed attempt
// installed a second key pair and certificate and left the first on the
// device in no record, the first certificate never revoked (found by
// review). The entry is now recorded, pending, once the key exists and again
// before AddCertificate; the resumed attempt finds the certificate on the
// device and takes it, or deletes the key. The store "dies" at the save named
// and stays down for the rest of the attempt, as a crash would.
func TestTLSCertificateOutcomeNotSaved(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(c provisioning.DeviceCertificate) bool
	}{
		{"after AddCertificate", func(c provisioning.DeviceCertificate) bool { return !c.Pending && c.Handle != "" }},
		{"before AddCertificate", func(c provisioning.DeviceCertificate) bool { return c.Pending && len(c.DER) > 0 }},
		{"after GenerateKeyPair", func(c provisioning.DeviceCertificate) bool { return c.Pending && len(c.DER) == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			fs := &dyingStore{Store: h.store, at: tc.at}
			h.cfg.Store = fs
			p := h.provisioner()
			d := h.fleet.Devices()[0]
			_, err := p.Provision(h.ctx, h.helloFrom(d))
			require.ErrorIs(t, err, errDiskFull)
			fs.down.Store(false)
			rec, err := p.Provision(h.ctx, h.helloFrom(d))
			require.NoError(t, err)
			snap := d.Snapshot()
			live := 0
			for _, c := range rec.Certificates {
				if !c.RemovedFromDevice {
					live++
				}
			}
			assert.Len(t, snap.Certificates, live, "every certificate on the device is in the record")
			assert.Len(t, snap.KeyPairs, live, "every key on the device is in the record")
			cur, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			assert.Equal(t, snap.TLSAppliedCertificate.Raw, cur.DER, "the record names what the device serves")
		})
	}
}

// dyingStore fails the first Save of a session holding a certificate entry
// that at selects (with inRecord, of a record outside a session), and every
// Save after it while down; with after, that first Save is written and then
// the store dies. onDie, when set, runs as it dies.
type dyingStore struct {
	provisioning.Store
	at       func(provisioning.DeviceCertificate) bool
	inRecord bool
	after    bool
	onDie    func()
	down     atomic.Bool
	died     atomic.Bool
}

func (s *dyingStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	if s.down.Load() {
		return errDiskFull
	}
	var list []provisioning.DeviceCertificate
	switch {
	case s.inRecord && r.Session == nil:
		list = r.Certificates
	case !s.inRecord && r.Session != nil:
		list = r.Session.Certificates
	}
	if !s.died.Load() && slices.ContainsFunc(list, s.at) {
		s.died.Store(true)
		s.down.Store(true)
		if s.onDie != nil {
			s.onDie()
		}
		if s.after {
			return s.Store.Save(ctx, r)
		}
		return errDiskFull
	}
	return s.Store.Save(ctx, r)
}

// newCutHarness is a harness whose device hears nothing (every request is
// lost) while the returned switch is on: what a crashed process leaves the
// device with.
func newCutHarness(t *testing.T, o harnessOptions) (*harness, *atomic.Bool) {
	t.Helper()
	cut := new(atomic.Bool)
	o.device = func(_ int, c *amtsim.Config) {
		c.Behavior.DropFunc = func(string, string, int) amtsim.Drop {
			if cut.Load() {
				return amtsim.DropRequest
			}
			return amtsim.DropNone
		}
	}
	h := newHarness(t, o)
	h.cfg.CallTimeout = time.Second
	return h, cut
}

// A Maintainer that dies during a TLS renewal — once AMT generated the key,
// once the certificate was issued and before AddCertificate reached the
// device, or after AddCertificate — before it recorded the outcome (the
// store dies, and the device hears nothing more from this run, as a crash
// would leave it). Before, nothing was recorded until the certificate was
// installed, and the next run renewed again: the first key (and
// certificate) stayed on the device in no record, an issued certificate
// was never revoked. Now the issuance is recorded in flight and the next
// run settles it: the certificate found on the device is bound as the
// renewal; not found, its key is deleted and an issued certificate revoked.
func TestRenewalOutcomeNotSaved(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(c provisioning.DeviceCertificate) bool
		// after: the save holding the entry at selects is written, and the
		// run dies right after it; else it dies in that save.
		after bool
		// neverInstalled: the run died with a certificate issued that
		// never reached the device.
		neverInstalled bool
	}{
		{"after GenerateKeyPair", func(c provisioning.DeviceCertificate) bool { return c.Pending && c.Handle == "" && len(c.DER) == 0 }, true, false},
		{"before AddCertificate", func(c provisioning.DeviceCertificate) bool { return c.Pending && c.Handle == "" && len(c.DER) > 0 }, true, true},
		{"after AddCertificate", func(c provisioning.DeviceCertificate) bool { return c.Pending && c.Handle != "" }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			h, cut := newCutHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
			_, rec := provisionOne(t, h)
			old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			d := h.fleet.Devices()[0]
			fs := &dyingStore{Store: h.store, at: tc.at, inRecord: true, after: tc.after, onDie: func() { cut.Store(true) }}
			h.cfg.Store = fs
			clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
			_, err := h.provisioner().Maintainer().RunOnce(h.ctx)
			require.NoError(t, err)
			require.True(t, fs.died.Load(), "the run died where the case says")
			before := d.Snapshot()
			t.Logf("device after the dead run: %d certificates, %d keys", len(before.Certificates), len(before.KeyPairs))

			fs.down.Store(false)
			cut.Store(false)
			rep, err := h.provisioner().Maintainer().RunOnce(h.ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, rep.Renewed, "%+v", rep)
			got, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			snap := d.Snapshot()
			live := 0
			for _, c := range got.Certificates {
				assert.False(t, c.Pending, "no issuance is left in flight")
				assert.NotEmpty(t, c.DER, "an issuance never certified is gone: %+v", c)
				if !c.RemovedFromDevice {
					live++
				}
			}
			assert.Equal(t, 1, live, "only the renewed certificate is live")
			assert.Len(t, snap.Certificates, live, "every certificate on the device is in the record")
			assert.Len(t, snap.KeyPairs, live, "every key on the device is in the record")
			cur, ok := got.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			assert.NotEqual(t, old.DER, cur.DER)
			assert.Equal(t, snap.TLSAppliedCertificate.Raw, cur.DER, "the record names what the device serves")
			reasons := map[certs.RevocationReason]int{}
			for _, r := range h.issuer.revocations() {
				reasons[r.Reason]++
			}
			want := map[certs.RevocationReason]int{certs.RevocationSuperseded: 1}
			if tc.neverInstalled {
				want[certs.RevocationCessationOfOperation] = 1
			}
			assert.Equal(t, want, reasons, "the replaced certificate is revoked, and one issued and never installed")
		})
	}
}

// AddCertificate takes effect, its reply is lost and the connection stays
// down (the Certificates read-back fails too): the outcome is unknown, and the
// pending entry stays for the resumed attempt to settle. Before, it was
// dropped and the resumed attempt installed a second pair (found by review,
// which wrote this test; it failed before).
func TestAddCertificateLostAndListFails(t *testing.T) {
	var dead, fired atomic.Bool
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.Behavior.DropFunc = func(op, uri string, _ int) amtsim.Drop {
			if dead.Load() {
				return amtsim.DropRequest
			}
			if op == "AddCertificate" && fired.CompareAndSwap(false, true) {
				dead.Store(true)
				return amtsim.DropResponse
			}
			return amtsim.DropNone
		}
	}})
	p := h.provisioner()
	d := h.fleet.Devices()[0]
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	require.True(t, fired.Load())
	mid, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, mid.Session)
	t.Logf("device after 1st attempt: %d certs, %d keys; session certificates recorded: %d", len(d.Snapshot().Certificates), len(d.Snapshot().KeyPairs), len(mid.Session.Certificates))
	dead.Store(false)
	rec, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	snap := d.Snapshot()
	live := 0
	for _, c := range rec.Certificates {
		if !c.RemovedFromDevice {
			live++
		}
	}
	var b strings.Builder
	for _, e := range h.eventsFor(d.UUID()) {
		if e.Step == provisioning.StepConfigure {
			b.WriteString(e.Detail + " | ")
		}
	}
	t.Logf("configure: %s", b.String())
	assert.Len(t, snap.Certificates, live, "every certificate on the device is in the record")
	assert.Len(t, snap.KeyPairs, live, "every key on the device is in the record")
}

// A device provisioned without a TLS profile on CSME 16.1+ keeps serving its
// own self-signed certificate once provisioned (amt.Firmware.
// DefaultTLSCertificate), the one pinned before: an Unprovision whose request
// was lost must not be taken for one that took because the device serves it.
// Only a device that served a certificate amtkit installed is told apart so
// (found by review, which wrote this test; it failed before).
func TestUnprovisionRequestLostWithoutTLSProfile(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion("19.0.5") }})
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{}
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	dr.arm("Unprovision", amtsim.DropRequest)
	err := p.Unprovision(h.ctx, rec.UUID)
	require.Equal(t, int32(1), dr.fired.Load())
	for _, e := range h.eventsFor(rec.UUID) {
		if e.Step == provisioning.StepUnprovision {
			t.Logf("event: %s %v", e.Detail, e.Err)
		}
	}
	after, lerr := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, lerr)
	require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the request was lost: the device is still provisioned")
	assert.Error(t, err, "the lost request is not taken for an unprovision")
	assert.True(t, after.Provisioned(), "the record still says provisioned")
	assert.True(t, d.AdminPasswordIs(after.AdminPassword), "the record keeps the admin password the device has")
}

// The Issuer fails and the delete of the key it was to certify is lost (as
// when the process dies during the Issuer call): the key is on the device,
// named only by the pending entry saved when it was generated. The resumed
// attempt deletes it before it generates another.
func TestKeyLeftByADeadAttemptDeleted(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{})
	h.cfg.Issuer = &failOnceIssuer{Issuer: h.cfg.Issuer}
	p := h.provisioner()
	d := h.fleet.Devices()[0]
	dr.armURI("Delete", "AMT_PublicPrivateKeyPair", amtsim.DropRequest)
	_, err := p.Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	require.Equal(t, int32(1), dr.fired.Load(), "the first attempt's delete was lost")
	require.Len(t, d.Snapshot().KeyPairs, 1, "the key stayed on the device")
	mid, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	require.NotNil(t, mid.Session)
	require.Len(t, mid.Session.Certificates, 1, "named by the pending entry")

	rec, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	snap := d.Snapshot()
	assert.Len(t, snap.KeyPairs, 1, "the dead attempt's key was deleted")
	assert.Len(t, snap.Certificates, 1)
	assert.Len(t, rec.Certificates, 1)
}

// failOnceIssuer fails its first Issue.
type failOnceIssuer struct {
	provisioning.Issuer
	once atomic.Bool
}

func (c *failOnceIssuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	if c.once.CompareAndSwap(false, true) {
		return nil, errors.New("issuer down")
	}
	return c.Issuer.Issue(ctx, req)
}

// The same for an 802.1X client certificate issued by Reconcile: a run that
// dies once AMT generated the key, or after AddCertificate, before it
// recorded the outcome. The next Reconcile settles the issuance first — the
// certificate found on the device is the one it binds, a key whose
// certificate never arrived is deleted — and no key is left on the device
// in no record.
func TestEAPTLSIssuanceOutcomeNotSaved(t *testing.T) {
	for _, tc := range []struct {
		name  string
		at    func(c provisioning.DeviceCertificate) bool
		after bool
	}{
		{"after GenerateKeyPair", func(c provisioning.DeviceCertificate) bool {
			return c.Purpose == provisioning.PurposeIEEE8021X && c.Pending && len(c.DER) == 0
		}, true},
		{"after AddCertificate", func(c provisioning.DeviceCertificate) bool {
			return c.Purpose == provisioning.PurposeIEEE8021X && c.Pending && c.Handle != ""
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, cut := newCutHarness(t, harnessOptions{})
			_, rec := provisionOne(t, h)
			d := h.fleet.Devices()[0]
			setProfile(h, provisioning.Profile{TLS: h.cfg.Profiles[provisioning.DefaultProfileName].TLS, Network: &provisioning.NetworkProfile{
				Wired8021X: &provisioning.IEEE8021XConfig{Method: provisioning.EAPTLS, ServerRoot: radiusRoot(t), ServerName: "radius.contoso.com"}}})
			fs := &dyingStore{Store: h.store, at: tc.at, inRecord: true, after: tc.after, onDie: func() { cut.Store(true) }}
			h.cfg.Store = fs
			_, _ = h.provisioner().Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
			require.True(t, fs.died.Load(), "the run died where the case says")
			t.Logf("device after the dead run: %d keys", len(d.Snapshot().KeyPairs))

			fs.down.Store(false)
			cut.Store(false)
			rep, err := h.provisioner().Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
			require.NoError(t, err)
			require.NoError(t, rep.Err())
			got, err := h.store.Load(h.ctx, rec.UUID)
			require.NoError(t, err)
			snap := d.Snapshot()
			live, clients := 0, 0
			for _, c := range got.Certificates {
				assert.False(t, c.Pending && c.Handle == "", "no issuance is left in flight")
				assert.NotEmpty(t, c.DER, "an issuance never certified is gone: %+v", c)
				if !c.RemovedFromDevice {
					live++
					if c.Purpose == provisioning.PurposeIEEE8021X {
						clients++
					}
				}
			}
			assert.Equal(t, 1, clients, "one live client certificate")
			assert.Len(t, snap.KeyPairs, live, "every key on the device is in the record")
			cur, ok := got.CurrentCertificateFor(provisioning.PurposeIEEE8021X, "")
			require.True(t, ok)
			require.NotNil(t, snap.IEEE8021xClient)
			assert.Equal(t, cur.DER, snap.IEEE8021xClient.Raw, "the device authenticates with the record's current certificate")
		})
	}
}

// An issuance whose key is deleted again after a failure (the Issuer down)
// leaves no entry naming that key: AMT may give its handle to another key,
// which a later settle would then delete (found by review). Session and
// Maintainer alike.
func TestDiscardedKeyLeavesNoHandle(t *testing.T) {
	t.Run("session", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.cfg.Issuer = &failOnceIssuer{Issuer: h.cfg.Issuer}
		p := h.provisioner()
		d := h.fleet.Devices()[0]
		_, err := p.Provision(h.ctx, h.helloFrom(d))
		require.Error(t, err)
		require.Empty(t, d.Snapshot().KeyPairs, "the key was deleted again")
		mid, err := h.store.Load(h.ctx, d.UUID())
		require.NoError(t, err)
		require.NotNil(t, mid.Session)
		for _, c := range mid.Session.Certificates {
			assert.Empty(t, c.KeyHandle, "an entry names a deleted key")
		}
	})
	t.Run("maintainer", func(t *testing.T) {
		clock := &fakeClock{}
		h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
		_, rec := provisionOne(t, h)
		old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
		require.True(t, ok)
		h.cfg.Issuer = &failOnceIssuer{Issuer: h.cfg.Issuer}
		clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
		rep, err := h.provisioner().Maintainer().RunOnce(h.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, rep.Failed, "%+v", rep)
		got, err := h.store.Load(h.ctx, rec.UUID)
		require.NoError(t, err)
		require.Len(t, got.Certificates, 1, "only the certificate in use: the failed issuance left nothing")
		assert.Len(t, h.fleet.Devices()[0].Snapshot().KeyPairs, 1)
	})
}

// An admin-password rotation whose read-back fails (the device took the new
// password; the reply to the sign-in check is lost) keeps the new password
// pending and the old one current: the password became current before it
// was proven, so a later save of the same reconcile could record an unproven
// one. OpenDevice settles it with whichever signs in.
func TestAdminRotationReadBackLost(t *testing.T) {
	h, dr := newDropHarness(t, harnessOptions{})
	p, rec := provisionOne(t, h)
	dr.armURI("Get", "AMT_SetupAndConfigurationService", amtsim.DropResponse)
	_, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{RotateAdminPassword: true, Areas: []string{"credentials"}})
	require.NoError(t, err)
	require.Equal(t, int32(1), dr.fired.Load(), "the read-back's reply was dropped")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.AdminPassword.Equal(rec.AdminPassword), "the old password stays current until the new one signs in")
	require.False(t, after.PendingAdminPassword.IsZero(), "the new one is pending")
	d := h.fleet.Devices()[0]
	assert.True(t, d.AdminPasswordIs(after.PendingAdminPassword), "the device took it")

	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err, "OpenDevice signs in with the pending password")
	dev.Close()
}
