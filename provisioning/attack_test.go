package provisioning_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
)

// Attack tests: each plays an attacker against the trust model through the
// public API (the simulator's impostors, hostile peers) and fails if the
// claim breaks. docs/security.md lists them with the defence each checks.

// recordSnapshot is what an impostor must never change of a device's record.
type recordSnapshot struct {
	state        provisioning.State
	admin, mebx  amt.Secret
	pin          []byte
	certificates []provisioning.DeviceCertificate
	history      int
	updated      time.Time
}

func snapshotRecord(t *testing.T, h *harness, u amt.UUID) recordSnapshot {
	t.Helper()
	r, err := h.store.Load(h.ctx, u)
	require.NoError(t, err)
	return recordSnapshot{r.State, r.AdminPassword, r.MEBxPassword, r.DeviceCertPin, r.Certificates, len(r.History), r.UpdatedAt}
}

func assertUnchanged(t *testing.T, h *harness, u amt.UUID, before recordSnapshot) {
	t.Helper()
	after := snapshotRecord(t, h, u)
	assert.Equal(t, before.state, after.state)
	assert.True(t, before.admin.Equal(after.admin), "admin password unchanged")
	assert.True(t, before.mebx.Equal(after.mebx), "MEBx password unchanged")
	assert.Equal(t, before.pin, after.pin)
	assert.Equal(t, before.certificates, after.certificates, "no certificate issued, replaced or revoked")
	assert.Equal(t, before.history, after.history)
	assert.Equal(t, before.updated, after.updated, "the record was not saved again")
}

// A rogue sends a hello with the UUID of an already provisioned device, under
// a profile that approves by UUID alone. It must not be provisioned, get a
// certificate, or change the real device's record; nothing is revoked.
func TestAttackReprovisionTakeover(t *testing.T) {
	for _, kind := range []amtsim.RogueKind{amtsim.RogueNoOnDie, amtsim.RogueOtherCertificate} {
		t.Run(map[amtsim.RogueKind]string{amtsim.RogueNoOnDie: "self-signed", amtsim.RogueOtherCertificate: "its own On-Die chain"}[kind], func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
				TLS:       &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
				IEEE8021X: &provisioning.IEEE8021XProfile{},
			}
			victim := h.fleet.Devices()[0]
			p := h.provisioner()
			_, err := p.Provision(h.ctx, h.helloFrom(victim))
			require.NoError(t, err)
			before := snapshotRecord(t, h, victim.UUID())
			issued, revoked := len(h.issuer.issued), len(h.issuer.revocations())

			rogue, err := h.fleet.StartRogue(victim, kind)
			require.NoError(t, err)
			rec, err := p.Provision(h.ctx, h.helloFrom(rogue))
			require.Error(t, err)
			assert.Equal(t, provisioning.ReasonReprovisionRefused, provisioning.ReasonOf(err), "%v", err)
			assert.Equal(t, provisioning.StateRejected, rec.State)
			assert.NotEqual(t, amt.PostProvisioning, rogue.Snapshot().ProvisioningState, "the rogue was not configured")
			assert.Zero(t, rogue.Snapshot().Requests, "not one WS-Management request reached the rogue: its certificate was refused in the handshake")
			assert.Len(t, h.issuer.issued, issued, "no certificate was issued for the rogue")
			assert.Len(t, h.issuer.revocations(), revoked, "the real device's certificates were not revoked")
			assertUnchanged(t, h, victim.UUID(), before)
		})
	}
}

// The legitimate ways to provision a provisioned device again: the device
// shows the certificate pinned then, or the integrator's policy allows it.
func TestReprovisionOfTheSameDevice(t *testing.T) {
	t.Run("the device proves itself", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		d := h.fleet.Devices()[0]
		p := h.provisioner()
		first, err := p.Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		// The device is unprovisioned locally (in MEBx) and sends hellos again;
		// its own certificate is the one pinned.
		require.NoError(t, unprovisionLocally(p, h, d))
		second, err := p.Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		assert.False(t, second.AdminPassword.Equal(first.AdminPassword), "new credentials")
		assert.True(t, d.AdminPasswordIs(second.AdminPassword))
		// The certificate of the first provisioning is revoked, after the new
		// one was read back.
		old, _ := first.CurrentCertificate(provisioning.PurposeTLS)
		var revokedOld bool
		for _, r := range h.issuer.revocations() {
			revokedOld = revokedOld || string(r.Certificate.Raw) == string(old.DER)
		}
		assert.True(t, revokedOld)
	})
	t.Run("the integrator allows it", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		victim := h.fleet.Devices()[0]
		var asked atomic.Int32
		h.cfg.Reprovision = func(_ context.Context, rec *provisioning.DeviceRecord, _ provisioning.ReceivedHello) error {
			asked.Add(1)
			assert.Equal(t, victim.UUID(), rec.UUID)
			return nil
		}
		p := h.provisioner()
		_, err := p.Provision(h.ctx, h.helloFrom(victim))
		require.NoError(t, err)
		rogue, err := h.fleet.StartRogue(victim, amtsim.RogueNoOnDie)
		require.NoError(t, err)
		_, err = p.Provision(h.ctx, h.helloFrom(rogue))
		require.NoError(t, err, "an explicit policy re-provisions whatever answers")
		assert.Equal(t, int32(1), asked.Load())
	})
}

// unprovisionLocally returns a provisioned simulated device to setup mode, as
// a full unprovision followed by a new start of configuration does, without
// telling the Provisioner (its record still says provisioned).
func unprovisionLocally(p *provisioning.Provisioner, h *harness, d *amtsim.Device) error {
	dev, err := p.OpenDevice(h.ctx, d.UUID())
	if err != nil {
		return err
	}
	defer dev.Close()
	if err := dev.Unprovision(h.ctx); err != nil {
		return err
	}
	// A full unprovision drops the user-added root hashes: the technician
	// adds the provisioning root again (MEBx or setup.bin).
	if err := d.AddRootHash(amtsim.RootHash{Name: "Contoso test root", Hash: h.chain.Bundle.RootHash(amt.HashSHA256), Active: true}); err != nil {
		return err
	}
	return d.StartConfiguration(amt.Secret{})
}

// User accounts get per-device passwords: the digest an impostor learns of an
// account (for a realm it chose: the victim's) does not log in to another
// device. A fixed password is an opt-in, and Audit reports it.
func TestAttackUserDigestFromAnotherDevice(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		name := map[bool]string{false: "per-device passwords", true: "fixed password (opt-in)"}[fixed]
		t.Run(name, func(t *testing.T) {
			var realm string
			h := newHarness(t, harnessOptions{n: 2, device: func(i int, c *amtsim.Config) {
				// The attacker's machine (device 1) copies the victim's realm.
				c.DigestRealm = "Digest:0123456789ABCDEF0123456789ABCDEF"
				realm = c.DigestRealm
			}})
			user := provisioning.UserAccount{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork}
			if fixed {
				user.Password = amt.NewSecret("H3lp-desk!Secr3t")
			}
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{Users: []provisioning.UserAccount{user}}
			p := h.provisioner()
			victim, attacker := h.fleet.Devices()[0], h.fleet.Devices()[1]
			require.Equal(t, victim.DigestRealm(), attacker.DigestRealm(), realm)
			vrec, err := p.Provision(h.ctx, h.helloFrom(victim))
			require.NoError(t, err)
			_, err = p.Provision(h.ctx, h.helloFrom(attacker))
			require.NoError(t, err)

			learnt, ok := attacker.UserDigest("helpdesk")
			require.True(t, ok)
			assert.Equal(t, fixed, victim.UserDigestIs("helpdesk", learnt), "does the attacker's digest log in to the victim?")
			require.Len(t, vrec.Users, 1)
			assert.True(t, victim.UserDigestIs("helpdesk", amt.DigestA1("helpdesk", victim.DigestRealm(), vrec.Users[0].Password)), "the record holds the victim's user password")
			var finding bool
			for _, f := range provisioning.Audit(h.ctx, h.cfg) {
				finding = finding || f.Code == provisioning.AuditFixedUserPassword
			}
			assert.Equal(t, fixed, finding, "Audit reports a fixed user password")
		})
	}
}

// A rogue answers for a device that has a pending agent (OTP) request. Its
// mismatch closes its own window but does not spend the real device's
// request; repeated mismatches lock the request for a while.
func TestAttackOTPImpostor(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RequireOTP: true, TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}}
	victim := h.fleet.Devices()[0]
	otp := amt.NewSecret("0tp-Agent-31")
	require.NoError(t, victim.StartConfiguration(otp))
	p := h.provisioner()
	require.NoError(t, p.ExpectAgentRequest(h.ctx, provisioning.AgentRequest{UUID: victim.UUID(), OTP: otp}))

	// Two rogues with the victim's UUID answer with OTPs of their own.
	for i := 0; i < 2; i++ {
		rogue, err := h.fleet.StartRogue(victim, amtsim.RogueNoOnDie)
		require.NoError(t, err)
		require.NoError(t, rogue.StartConfiguration(amt.NewSecret("r0gue-OTP-"+string(rune('a'+i)))))
		_, err = p.Provision(h.ctx, h.helloFrom(rogue))
		assert.Equal(t, provisioning.ReasonOTPMismatch, provisioning.ReasonOf(err), "%v", err)
		assert.False(t, rogue.Snapshot().NetworkOpen, "the rogue's own window is closed")
		rec, err := h.store.Load(h.ctx, victim.UUID())
		require.NoError(t, err)
		require.NotNil(t, rec.Agent, "the request is not spent by an impostor")
	}
	// The real device is still provisioned with its OTP.
	rec, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.NoError(t, err)
	assert.True(t, rec.AgentOTP)
	assert.Nil(t, rec.Agent, "spent by the device it was for")

	// Three mismatches in a row lock the request for OTPLockout.
	victim2Fleet := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
	v2 := victim2Fleet.fleet.Devices()[0]
	require.NoError(t, v2.StartConfiguration(otp))
	p2 := victim2Fleet.provisioner()
	require.NoError(t, p2.ExpectAgentRequest(victim2Fleet.ctx, provisioning.AgentRequest{UUID: v2.UUID(), OTP: otp}))
	for i := 0; i < 3; i++ {
		rogue, err := victim2Fleet.fleet.StartRogue(v2, amtsim.RogueNoOnDie)
		require.NoError(t, err)
		require.NoError(t, rogue.StartConfiguration(amt.NewSecret("r0gue-OTP-x"+string(rune('a'+i)))))
		_, err = p2.Provision(victim2Fleet.ctx, victim2Fleet.helloFrom(rogue))
		assert.Equal(t, provisioning.ReasonOTPMismatch, provisioning.ReasonOf(err))
	}
	_, err = p2.Provision(victim2Fleet.ctx, victim2Fleet.helloFrom(v2))
	assert.Equal(t, provisioning.ReasonOTPLocked, provisioning.ReasonOf(err), "locked after 3 mismatches: %v", err)
	assert.True(t, v2.Snapshot().NetworkOpen, "a locked request sends nothing to the device")
	clock.Advance(16 * time.Minute)
	_, err = p2.Provision(victim2Fleet.ctx, victim2Fleet.helloFrom(v2))
	require.NoError(t, err, "after the lockout the real device is provisioned")
}

// Once a device was verified by its On-Die certificate, it is never accepted
// without one: not when its session resumes, not when the integrator allows
// re-provisioning.
func TestAttackOnDieDowngrade(t *testing.T) {
	setup := func(t *testing.T) (*harness, *amtsim.Device) {
		h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) { c.OnDie = true }})
		h.cfg.OnDieRoots = poolOf(h.fleet.OnDieCA().Root())
		// The profile does not require On-Die: the device happens to have it.
		h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}}
		return h, h.fleet.Devices()[0]
	}
	t.Run("resumed session", func(t *testing.T) {
		h, victim := setup(t)
		// The victim's session is cut after identify (On-Die verified).
		h.cfg.Observer = func(e provisioning.Event) {
			if e.Step == provisioning.StepIdentify && e.Err == nil {
				victim.SetUnresponsive(true)
			}
		}
		h.cfg.CallTimeout = 300 * time.Millisecond
		p := h.provisioner()
		rec, err := p.Provision(h.ctx, h.helloFrom(victim))
		require.Error(t, err)
		require.NotNil(t, rec.Session)
		require.True(t, rec.Session.OnDieVerified)
		before := snapshotRecord(t, h, victim.UUID())
		stored, _ := h.store.Load(h.ctx, victim.UUID())

		rogue, err := h.fleet.StartRogue(victim, amtsim.RogueNoOnDie)
		require.NoError(t, err)
		_, err = p.Provision(h.ctx, h.helloFrom(rogue))
		assert.Equal(t, provisioning.ReasonDeviceUntrusted, provisioning.ReasonOf(err), "%v", err)
		assertUnchanged(t, h, victim.UUID(), before)
		after, _ := h.store.Load(h.ctx, victim.UUID())
		assert.Equal(t, stored.Session, after.Session, "the victim's session progress is kept for the victim")
	})
	t.Run("re-provisioning allowed", func(t *testing.T) {
		h, victim := setup(t)
		h.cfg.Reprovision = func(context.Context, *provisioning.DeviceRecord, provisioning.ReceivedHello) error { return nil }
		p := h.provisioner()
		rec, err := p.Provision(h.ctx, h.helloFrom(victim))
		require.NoError(t, err)
		require.True(t, rec.OnDieVerified)
		before := snapshotRecord(t, h, victim.UUID())
		rogue, err := h.fleet.StartRogue(victim, amtsim.RogueNoOnDie)
		require.NoError(t, err)
		_, err = p.Provision(h.ctx, h.helloFrom(rogue))
		assert.Equal(t, provisioning.ReasonDeviceUntrusted, provisioning.ReasonOf(err), "%v", err)
		assertUnchanged(t, h, victim.UUID(), before)
	})
}

// A slow impostor that sent the first hello for a UUID does not hold the UUID
// against the real device: hellos from another source run beside it, and the
// first session to prove its device owns it.
func TestAttackSlowHolder(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	victim := h.fleet.Devices()[0]
	rogue, err := h.fleet.StartRogue(victim, amtsim.RogueNoOnDie)
	require.NoError(t, err)
	// The rogue accepts the connection and then answers nothing for longer
	// than the test runs.
	rogue.SetUnresponsive(true)
	h.cfg.CallTimeout = 30 * time.Second
	var dup atomic.Int32
	observe := h.cfg.Observer
	h.cfg.Observer = func(e provisioning.Event) {
		observe(e)
		if e.Reason == provisioning.ReasonDuplicateSession {
			dup.Add(1)
		}
	}
	p := h.provisioner()
	p.HandleHello(h.ctx, h.helloFrom(rogue))
	require.Eventually(t, func() bool { return len(p.Sessions()) == 1 }, 5*time.Second, time.Millisecond)
	// Five hellos of the real device arrive while the rogue holds its session.
	delivered := 0
	for i := 0; i < 5; i++ {
		if !p.InSession(victim.UUID(), h.helloFrom(victim).Source) {
			delivered++
		}
	}
	assert.Equal(t, 5, delivered, "real hellos are not dropped as duplicates of the rogue's session")
	rec, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.NoError(t, err, "the real device is provisioned while the rogue holds its session")
	assert.Equal(t, provisioning.StateProvisioned, rec.State)
	assert.Zero(t, dup.Load())
	// A further hello from the rogue's address is now a duplicate: the device
	// has an owner.
	assert.True(t, p.InSession(victim.UUID(), h.helloFrom(rogue).Source))
	rogue.SetUnresponsive(false)
	require.NoError(t, rogue.Close())
	p.Wait()
}

// After CommitChanges, whatever answers at the device's address must show
// the certificate recorded for it (the one installed, or — without a TLS
// profile on CSME 16.1+ — the device's own, pinned while provisioning). A
// different certificate is device-untrusted, and not one authenticated request
// reaches it.
func TestAttackCertificateSwapAfterCommit(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version string
		tls     bool
	}{
		{"TLS profile", "16.1.25", true},
		{"no TLS profile, 16.1+", "19.0.5", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion(tt.version) }})
			if !tt.tls {
				h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{}
			}
			d := h.fleet.Devices()[0]
			mitm := startMITM(t)
			var committed atomic.Bool
			h.cfg.Observer = func(e provisioning.Event) {
				if e.Step == provisioning.StepCommit && e.Err == nil {
					committed.Store(true)
				}
			}
			addr := h.cfg.DeviceAddress
			h.cfg.DeviceAddress = func(rh provisioning.ReceivedHello, inv provisioning.Inventory, port int) string {
				if committed.Load() {
					return mitm.addr // the attacker takes the device's address after the commit
				}
				return addr(rh, inv, port)
			}
			rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			require.Error(t, err)
			assert.Equal(t, provisioning.ReasonDeviceUntrusted, provisioning.ReasonOf(err), "%v", err)
			assert.True(t, errors.Is(err, provisioning.ErrRejected))
			assert.Equal(t, provisioning.StateRejected, rec.State)
			assert.Positive(t, mitm.handshakes.Load(), "the read-back reached the attacker: %v", err)
			assert.Zero(t, mitm.requests.Load(), "no request (and no credential) was sent to it")
		})
	}
}

// mitm is a TLS server with a certificate of its own that counts what it gets.
type mitm struct {
	addr                 string
	handshakes, requests atomic.Int32 // connections accepted, requests received
}

func startMITM(t *testing.T) *mitm {
	t.Helper()
	key, err := testKeys().Cycle(2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(666), Subject: pkix.Name{CommonName: "pc-a0.contoso.com"},
		DNSNames: []string{"pc-a0.contoso.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	m := &mitm{}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.requests.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusUnauthorized)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}},
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := &countingListener{Listener: raw, n: &m.handshakes}
	m.addr = ln.Addr().String()
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return m
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// A renewal whose CommitChanges is lost leaves the old certificate current
// and unrevoked (the device still serves it); the next run finishes the
// renewal, reads the new one back, and only then revokes the old.
func TestAttackLostCommitDuringRenewal(t *testing.T) {
	clock := &fakeClock{}
	var dropCommit atomic.Bool
	h := newHarness(t, harnessOptions{
		config: func(c *provisioning.Config) { c.Now = clock.Now },
		device: func(_ int, c *amtsim.Config) {
			c.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
				if op == "CommitChanges" && dropCommit.Load() {
					return amtsim.DropRequest
				}
				return amtsim.DropNone
			}
		},
	})
	p, rec := provisionOne(t, h)
	old, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	revokedBefore := len(h.issuer.revocations())
	clock.Advance(old.NotAfter.Sub(clock.Now()) - 10*24*time.Hour) // inside the renewal window

	dropCommit.Store(true)
	m := p.Maintainer()
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Renewed, "not renewed: the device does not use the new certificate")
	assert.Equal(t, 1, rep.Failed)
	assert.Len(t, h.issuer.revocations(), revokedBefore, "the certificate the device still serves is not revoked")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ := after.CurrentCertificate(provisioning.PurposeTLS)
	assert.Equal(t, old.DER, cur.DER, "the old certificate is still the current one")
	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.SetupAndConfiguration(h.ctx)
	require.NoError(t, err, "the device is still reachable with what the record says")
	dev.Close()

	dropCommit.Store(false)
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Renewed, "the next run finishes the renewal")
	assert.Equal(t, 1, rep.Revoked)
	revs := h.issuer.revocations()
	require.Len(t, revs, revokedBefore+1)
	assert.Equal(t, old.DER, revs[len(revs)-1].Certificate.Raw)
	after, err = h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	cur, _ = after.CurrentCertificate(provisioning.PurposeTLS)
	assert.NotEqual(t, old.DER, cur.DER)
	assert.Equal(t, cur.DER, h.fleet.Devices()[0].Snapshot().TLSAppliedCertificate.Raw, "the record names what the device serves")
}

// failingStore fails Save while fail is set; with failAfterProvisioned, it
// fails every Save after the first that recorded a device Provisioned.
type failingStore struct {
	provisioning.Store
	fail                 atomic.Bool
	failAfterProvisioned bool
	saves                atomic.Int32
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) Save(ctx context.Context, r *provisioning.DeviceRecord) error {
	s.saves.Add(1)
	if s.fail.Load() {
		return errDiskFull
	}
	err := s.Store.Save(ctx, r)
	if err == nil && s.failAfterProvisioned && r.State == provisioning.StateProvisioned {
		s.fail.Store(true)
	}
	return err
}

// No Save error is ignored: a session whose record cannot be saved fails with
// store-failed (before it sends anything it could not record), and a
// Maintainer run reports it and leaves the work for the next run.
func TestStoreErrorsAreNotIgnored(t *testing.T) {
	t.Run("session", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		fs := &failingStore{Store: h.store}
		h.cfg.Store = fs
		d := h.fleet.Devices()[0]
		fs.fail.Store(true)
		_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
		assert.Equal(t, provisioning.ReasonStoreFailed, provisioning.ReasonOf(err), "%v", err)
		assert.ErrorIs(t, err, errDiskFull)
		assert.True(t, d.Snapshot().MEBxPasswordDefault, "no secret was sent that the record does not hold")
	})
	// The verify step saves the record Provisioned with its merge, then the
	// step's history entry. When only that second save fails, the device is
	// provisioned and its record says so: the session must not report a
	// failure the record contradicts. The lost entry is a finding.
	t.Run("verify history", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		h.cfg.Store = &failingStore{Store: h.store, failAfterProvisioned: true}
		d := h.fleet.Devices()[0]
		rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
		require.NoError(t, err)
		assert.Equal(t, provisioning.StateProvisioned, rec.State)
		assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
		stored, err := h.store.Load(h.ctx, d.UUID())
		require.NoError(t, err)
		assert.Equal(t, provisioning.StateProvisioned, stored.State)
		assert.True(t, d.AdminPasswordIs(stored.AdminPassword))
		var verify *provisioning.Event
		events := h.eventsFor(d.UUID())
		for i := range events {
			if events[i].Step == provisioning.StepVerify {
				verify = &events[i]
			}
		}
		require.NotNil(t, verify, "the verify step is an event")
		assert.Equal(t, provisioning.StateProvisioned, verify.State)
		assert.Equal(t, provisioning.ReasonStoreFailed, verify.Reason, "the lost history entry is reported")
		assert.ErrorIs(t, verify.Err, errDiskFull)
	})
	t.Run("maintainer", func(t *testing.T) {
		clock := &fakeClock{}
		h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) { c.Now = clock.Now }})
		fs := &failingStore{Store: h.store}
		h.cfg.Store = fs
		p, rec := provisionOne(t, h)
		old, _ := rec.CurrentCertificate(provisioning.PurposeTLS)
		clock.Advance(old.NotAfter.Sub(clock.Now()) - 10*24*time.Hour)
		fs.fail.Store(true)
		rep, err := p.Maintainer().RunOnce(h.ctx)
		require.NoError(t, err)
		assert.Zero(t, rep.Renewed)
		assert.Equal(t, 1, rep.Failed)
		var reported bool
		for _, e := range h.eventsFor(rec.UUID) {
			reported = reported || (e.Step == provisioning.StepRenew && e.Reason == provisioning.ReasonStoreFailed && errors.Is(e.Err, errDiskFull))
		}
		assert.True(t, reported, "the failed save is an event")
		after, err := h.store.Load(h.ctx, rec.UUID)
		require.NoError(t, err)
		cur, _ := after.CurrentCertificate(provisioning.PurposeTLS)
		assert.Equal(t, old.DER, cur.DER, "nothing recorded, nothing lost: the device still uses the old certificate")
		fs.fail.Store(false)
		rep, err = p.Maintainer().RunOnce(h.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, rep.Renewed, "retried by the next run")
	})
}

// An impostor at a provisioned device's address replays the certificate the
// device showed before it was provisioned (public: anyone who saw a hello's
// handshake has it) while Unprovision runs, hoping it is taken for a device
// back in pre-provisioning: the record would be cleared and every
// certificate revoked while the device stays provisioned. The impostor does
// not hold the certificate's key, so it cannot sign its key exchange: the
// record stays as it was and nothing is revoked.
func TestAttackImpostorReplaysPreProvisioningCertificate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	own := ownCertificate(t, d)
	p, rec := provisionOne(t, h)
	conns := replayingImpostor(t, h, own)
	err := h.provisioner().Unprovision(h.ctx, rec.UUID)
	require.Error(t, err, "the impostor is not taken for the unprovisioned device")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.True(t, after.Provisioned(), "the record is unchanged")
	assert.True(t, after.AdminPassword.Equal(rec.AdminPassword))
	for _, c := range after.Certificates {
		assert.False(t, c.Revoked, "nothing is revoked")
	}
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
	assert.GreaterOrEqual(t, conns.Load(), int32(2), "the replayed certificate was looked at")
	_ = p
}

// The impostor of TestAttackImpostorReplaysPreProvisioningCertificate, but
// one that does not try to sign a key exchange it cannot sign: it picks an
// ECDHE suite, leaves ServerKeyExchange out and asks for a client
// certificate. Go's TLS 1.2 client asks for the client certificate before it
// notices the missing ServerKeyExchange: the proof of the key is the curve
// crypto/tls records once the ServerKeyExchange's signature verified (found
// by review, which wrote this test; it failed before).
func TestAttackImpostorSkipsServerKeyExchange(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	own := ownCertificate(t, d)
	_, rec := provisionOne(t, h)
	ownCert, err := x509.ParseCertificate(own)
	require.NoError(t, err)
	der, key := impostorCertificate(t)
	impostorTLS := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}

	suite := uint16(0xc02f) // ECDHE_RSA_WITH_AES_128_GCM_SHA256
	if _, ok := ownCert.PublicKey.(*ecdsa.PublicKey); ok {
		suite = 0xc02b
	}
	var conns atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serve(t, ln, func(c net.Conn) {
		if conns.Add(1) == 1 {
			// The sign-in with the installed pin fails (untrusted).
			tc := tls.Server(c, impostorTLS)
			_ = tc.Handshake()
			tc.Close()
			return
		}
		replayWithoutKeyExchange(c, own, suite)
	})
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return ln.Addr().String() }
	err = h.provisioner().Unprovision(h.ctx, rec.UUID)
	after, lerr := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, lerr)
	t.Logf("Unprovision: %v; connections: %d", err, conns.Load())
	for _, e := range h.eventsFor(rec.UUID) {
		if e.Step == provisioning.StepUnprovision {
			t.Logf("event: %s", e.Detail)
		}
	}
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the real device is still provisioned")
	assert.Error(t, err, "the impostor is not taken for the unprovisioned device")
	assert.True(t, after.Provisioned(), "the record is unchanged")
	assert.True(t, after.AdminPassword.Equal(rec.AdminPassword), "the admin password is kept")
	for _, c := range after.Certificates {
		assert.False(t, c.Revoked, "nothing is revoked")
	}
}

// replayWithoutKeyExchange answers a ClientHello with ServerHello (TLS 1.2,
// suite), Certificate (cert), CertificateRequest and ServerHelloDone: no
// ServerKeyExchange, so nothing needs the certificate's key.
func replayWithoutKeyExchange(c net.Conn, cert []byte, suite uint16) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return
	}
	if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint16(hdr[3:]))); err != nil {
		return
	}
	msg := func(typ byte, body []byte) []byte {
		return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	sh := append([]byte{3, 3}, random...)
	sh = append(sh, 0, byte(suite>>8), byte(suite), 0)
	certs := append([]byte{byte(len(cert) >> 16), byte(len(cert) >> 8), byte(len(cert))}, cert...)
	certs = append([]byte{byte(len(certs) >> 16), byte(len(certs) >> 8), byte(len(certs))}, certs...)
	cr := []byte{2, 1, 64, 0, 6, 4, 1, 4, 3, 8, 4, 0, 0}
	var hs []byte
	hs = append(hs, msg(2, sh)...)
	hs = append(hs, msg(11, certs)...)
	hs = append(hs, msg(13, cr)...)
	hs = append(hs, msg(14, nil)...)
	rec := append([]byte{22, 3, 3, byte(len(hs) >> 8), byte(len(hs))}, hs...)
	if _, err := c.Write(rec); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, c)
}

// ownCertificate is the certificate a device in pre-provisioning serves, seen
// as anyone sees it.
func ownCertificate(t *testing.T, d *amtsim.Device) []byte {
	t.Helper()
	var own []byte
	_, _ = tls.Dial("tcp", d.TLSAddr(), &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		own = cs.PeerCertificates[0].Raw
		return nil
	}})
	require.NotNil(t, own)
	return own
}

// impostorCertificate is a self-signed certificate of an impostor's own, and
// its key.
func impostorCertificate(t *testing.T) ([]byte, crypto.Signer) {
	t.Helper()
	key, err := testKeys().Cycle(2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "impostor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	return der, key
}

// serve hands every connection ln accepts to handle, each on a goroutine of
// its own, until the test ends.
func serve(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
}

// replayingImpostor answers at the device's address (h.cfg.DeviceAddress)
// with a certificate of its own first (the sign-in with the installed pin
// fails, as after a lost Unprovision reply), then with the device's
// pre-provisioning certificate own, replayed without its key; it asks for a
// client certificate as a device in pre-provisioning does. It returns the
// count of connections.
func replayingImpostor(t *testing.T, h *harness, own []byte) *atomic.Int32 {
	t.Helper()
	der, key := impostorCertificate(t)
	conns := new(atomic.Int32)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if conns.Add(1) == 1 {
				return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
			}
			return &tls.Certificate{Certificate: [][]byte{own}, PrivateKey: key}, nil
		},
		ClientAuth: tls.RequireAnyClientCert, // as a device in pre-provisioning asks
		MaxVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	serve(t, ln, func(c net.Conn) { _ = c.(*tls.Conn).Handshake(); c.Close() })
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return ln.Addr().String() }
	return conns
}
