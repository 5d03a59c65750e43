package provisioning_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

type opEnv struct {
	h     *harness
	d     *amtsim.Device
	clock *fakeClock
	rec   *provisioning.DeviceRecord
}

type opSpec struct {
	prof    func(e *opEnv) provisioning.Profile
	dev     func(*amtsim.Config)
	before  func(t *testing.T, e *opEnv) // after provisioning, before the kill switch is armed
	op      func(t *testing.T, e *opEnv, p *provisioning.Provisioner)
	recover func(t *testing.T, e *opEnv, q *provisioning.Provisioner) // default: Resume + 2 Maintainer runs
	check   func(t *testing.T, e *opEnv) []string                     // default: consistency
}

func runOpKilled(t *testing.T, s opSpec, atSave, atReq int32) (probs []string, why string, saves, reqs int32) {
	k := &killSwitch{atSave: atSave, atReq: atReq}
	k.off.Store(true)
	e := &opEnv{clock: &fakeClock{}}
	e.h = newHarness(t, harnessOptions{device: func(_ int, cf *amtsim.Config) {
		if s.dev != nil {
			s.dev(cf)
		}
		cf.Behavior.DropFunc = k.drop
	}, config: func(cf *provisioning.Config) { cf.Owner = "crash-host"; cf.Now = e.clock.Now }})
	h := e.h
	e.d = h.fleet.Devices()[0]
	if s.prof != nil {
		setProfile(h, s.prof(e))
	}
	inner := h.store
	h.cfg.Store = &killStore{Store: inner, k: k}
	p := h.provisioner()
	rec, err := p.Provision(h.ctx, h.helloFrom(e.d))
	require.NoError(t, err)
	e.rec = rec
	if s.before != nil {
		s.before(t, e)
	}
	k.off.Store(false)
	s.op(t, e, p)
	saves, reqs = k.saves.Load(), k.reqs.Load()
	if !k.dead.Load() {
		return nil, "", saves, reqs
	}
	why, _ = k.log.Load().(string)
	k.devDead.Store(false)
	h.cfg.Store = inner
	q := h.provisioner()
	if s.recover != nil {
		s.recover(t, e, q)
	} else {
		require.NoError(t, q.Resume(h.ctx))
		m := q.Maintainer()
		m.ReconcileEvery = time.Nanosecond
		_, _ = m.RunOnce(h.ctx)
		_, _ = m.RunOnce(h.ctx)
	}
	prof := h.cfg.Profiles[provisioning.DefaultProfileName]
	if s.check != nil {
		return s.check(t, e), why, saves, reqs
	}
	return consistency(t, h, e.d, prof), why, saves, reqs
}

func sweepOp(t *testing.T, s opSpec) {
	_, _, saves, reqs := runOpKilled(t, s, 0, 0)
	t.Logf("clean run: %d saves, %d requests", saves, reqs)
	var failures []string
	for i := int32(1); i <= saves; i++ {
		probs, why, _, _ := runOpKilled(t, s, i, 0)
		for _, p := range probs {
			if !documented(why, p) {
				failures = append(failures, why+": "+p)
			}
		}
	}
	for i := int32(1); i <= reqs; i++ {
		probs, why, _, _ := runOpKilled(t, s, 0, i)
		for _, p := range probs {
			if !documented(why, p) {
				failures = append(failures, why+": "+p)
			}
		}
	}
	for _, f := range failures {
		t.Log(f)
	}
	require.Empty(t, failures, "%d inconsistencies after recovery", len(failures))
}

func reconcileOp(o provisioning.ReconcileOptions) func(t *testing.T, e *opEnv, p *provisioning.Provisioner) {
	return func(t *testing.T, e *opEnv, p *provisioning.Provisioner) { _, _ = p.Reconcile(e.h.ctx, e.rec.UUID, o) }
}

func TestCrashSweepAdminRotation(t *testing.T) {
	sweepOp(t, opSpec{op: reconcileOp(provisioning.ReconcileOptions{RotateAdminPassword: true, Areas: []string{"credentials"}})})
}

func TestCrashSweepMEBxRotation(t *testing.T) {
	sweepOp(t, opSpec{dev: func(c *amtsim.Config) { c.MEBxPolicy = amtsim.MEBxAnytime },
		op: reconcileOp(provisioning.ReconcileOptions{RotateMEBxPassword: true, Areas: []string{"credentials"}})})
}

func TestCrashSweepRenewal(t *testing.T) {
	sweepOp(t, opSpec{
		before: func(t *testing.T, e *opEnv) {
			old, ok := e.rec.CurrentCertificate(provisioning.PurposeTLS)
			require.True(t, ok)
			e.clock.Advance(time.Until(old.NotAfter) - 41*24*time.Hour)
		},
		op: func(t *testing.T, e *opEnv, p *provisioning.Provisioner) { _, _ = p.Maintainer().RunOnce(e.h.ctx) },
	})
}

func TestCrashSweepUsersAndWiFiChange(t *testing.T) {
	helpdesk := provisioning.UserAccount{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork}
	sweepOp(t, opSpec{
		prof: func(e *opEnv) provisioning.Profile {
			return provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, Users: []provisioning.UserAccount{helpdesk},
				Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{personal("a", 1, "first-passphrase-a")}}}}
		},
		before: func(t *testing.T, e *opEnv) {
			changed := helpdesk
			changed.Password = amt.NewSecret("Help-Desk-Pa55!")
			setProfile(e.h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, Users: []provisioning.UserAccount{changed},
				Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{personal("a", 1, "second-passphrase-a")}}}})
		},
		op: reconcileOp(provisioning.ReconcileOptions{}),
	})
}

// An Unprovision killed at any point is settled by the documented recovery:
// Unprovision again (a retry that finds the device serving its
// pre-provisioning certificate completes the record without sending).
func TestCrashSweepUnprovision(t *testing.T) {
	sweepOp(t, opSpec{
		op: func(t *testing.T, e *opEnv, p *provisioning.Provisioner) { _ = p.Unprovision(e.h.ctx, e.rec.UUID) },
		recover: func(t *testing.T, e *opEnv, q *provisioning.Provisioner) {
			require.NoError(t, q.Resume(e.h.ctx))
			require.NoError(t, q.Unprovision(e.h.ctx, e.rec.UUID))
		},
		check: func(t *testing.T, e *opEnv) []string {
			rec, err := e.h.store.Load(e.h.ctx, e.rec.UUID)
			require.NoError(t, err)
			snap := e.d.Snapshot()
			var out []string
			if snap.ProvisioningState == amt.PostProvisioning && !e.d.AdminPasswordIs(rec.AdminPassword) {
				out = append(out, "admin password not in store")
			}
			if snap.ProvisioningState != amt.PostProvisioning && rec.Provisioned() {
				out = append(out, fmt.Sprintf("device unprovisioned, record still says %s (admin password held: %v) after Resume and Unprovision again", rec.State, !rec.AdminPassword.IsZero()))
			}
			if !e.d.MEBxPasswordIs(rec.MEBxPassword) {
				out = append(out, "MEBx password not in store")
			}
			return out
		},
	})
}

// Unprovision killed after the device acted (its reply lost with the
// process), before the record was saved: the record says provisioned (with
// an admin password and current certificates), and neither Resume nor the
// Maintainer settles it. Unprovision again (the documented recovery) finds
// the device serving its pre-provisioning certificate and completes the
// record, revoking the certificates and keeping the MEBx password.
func TestCrashUnprovisionKilledAfterDeviceActed(t *testing.T) {
	var e *opEnv
	probs, why, _, _ := runOpKilled(t, opSpec{
		op: func(t *testing.T, e2 *opEnv, p *provisioning.Provisioner) {
			e = e2
			_ = p.Unprovision(e.h.ctx, e.rec.UUID)
		},
		recover: func(t *testing.T, e *opEnv, q *provisioning.Provisioner) {
			require.NoError(t, q.Resume(e.h.ctx))
			require.NoError(t, q.Unprovision(e.h.ctx, e.rec.UUID), "Unprovision again settles it")
		},
		check: func(t *testing.T, e *opEnv) []string { return nil },
	}, 0, 1)
	require.Empty(t, probs)
	t.Logf("killed %s", why)
	rec, err := e.h.store.Load(e.h.ctx, e.rec.UUID)
	require.NoError(t, err)
	snap := e.d.Snapshot()
	t.Logf("device %s; record %s reason %s, admin password held %v, certs %d", snap.ProvisioningState, rec.State, rec.Reason, !rec.AdminPassword.IsZero(), len(rec.Certificates))
	for _, c := range rec.Certificates {
		t.Logf("  cert handle %q removed %v revoked %v pending %v", c.Handle, c.RemovedFromDevice, c.Revoked, c.Pending)
	}
	require.Equal(t, amt.PreProvisioning, snap.ProvisioningState, "the device acted")
	require.False(t, rec.Provisioned() && !rec.AdminPassword.IsZero(),
		"the record still claims a provisioning (and an admin password) the device no longer has")
	for _, c := range rec.Certificates {
		require.True(t, c.RemovedFromDevice && c.Revoked, "certificate %q retired and revoked", c.Handle)
	}
	require.True(t, e.d.MEBxPasswordIs(rec.MEBxPassword), "the MEBx password, which a full unprovision keeps, is kept")
}

func TestCrashSweepCIRAProfileAdded(t *testing.T) {
	var store provisioning.Store
	rig := startMPS(t, func() provisioning.Store { return store })
	sweepOp(t, opSpec{
		before: func(t *testing.T, e *opEnv) {
			store = e.h.store
			setProfile(e.h, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, RemoteAccess: rig.profile()})
		},
		op: reconcileOp(provisioning.ReconcileOptions{}),
		check: func(t *testing.T, e *opEnv) []string {
			out := consistency(t, e.h, e.d, provisioning.Profile{})
			rec, err := e.h.store.Load(e.h.ctx, e.rec.UUID)
			require.NoError(t, err)
			if len(e.d.CIRA().MPS) > 0 && rec.MPSPassword.IsZero() {
				out = append(out, "MPS entries on the device, no MPS password in the store")
			}
			return out
		},
	})
}

func TestCrashSweep8021X(t *testing.T) {
	var prof func(pw string, tls bool) provisioning.Profile
	sweepOp(t, opSpec{
		prof: func(e *opEnv) provisioning.Profile {
			root := radiusRoot(t)
			peap := func(pw string) *provisioning.IEEE8021XConfig {
				return &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "CONTOSO\\amt", Password: amt.NewSecret(pw),
					ServerRoot: root, ServerName: "radius.contoso.com"}
			}
			prof = func(pw string, tls bool) provisioning.Profile {
				wired := peap(pw)
				if tls {
					wired = &provisioning.IEEE8021XConfig{ServerRoot: root, ServerName: "radius.contoso.com"}
				}
				return provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
					Network: &provisioning.NetworkProfile{Wired8021X: wired, WiFi: &provisioning.WiFiConfig{
						Networks: []provisioning.WiFiNetwork{{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise, IEEE8021X: peap(pw)}}}}}
			}
			return prof("Pa55-one", false)
		},
		before: func(t *testing.T, e *opEnv) { setProfile(e.h, prof("Pa55-two", true)) },
		op:     reconcileOp(provisioning.ReconcileOptions{}),
		check: func(t *testing.T, e *opEnv) []string {
			out := consistency(t, e.h, e.d, provisioning.Profile{})
			rec, err := e.h.store.Load(e.h.ctx, e.rec.UUID)
			require.NoError(t, err)
			ok := false
			for _, s := range rec.NetworkSecrets {
				ok = ok || e.d.WiFi8021xPasswordIs("corp", s.Password)
			}
			if !ok {
				out = append(out, "the Wi-Fi 802.1X password on the device is not in the store")
			}
			return out
		},
	})
}
