package provisioning_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
)

// Attacks on the trust model through PSK hellos, the Store and the hello
// listener (from a review that played the attacker; each failed before its fix).

// startPSKRogue starts an impostor of victim that holds a PSK pair of its
// own (any pair of the integrator's PSK store that no device used yet, e.g.
// one more record of the USB setup.bin), on firmware that speaks PSK, at an
// address of its own. It claims the victim's UUID in its hello and GetUuid.
func startPSKRogue(t *testing.T, h *harness, victim *amtsim.Device, pair *pskx.Pair, ip string) *amtsim.Device {
	t.Helper()
	rogue, err := amtsim.New(amtsim.Config{
		UUID:             victim.UUID(),
		DigestRealm:      victim.DigestRealm(),
		Version:          amt.MustParseVersion("6.2.10"),
		PSK:              pair,
		TrustedDNSSuffix: "contoso.com",
		Keys:             amtsim.PoolKeys(testKeys()),
		ListenIP:         ip,
		Rogue:            &amtsim.Rogue{},
	})
	require.NoError(t, err)
	require.NoError(t, rogue.Start(h.ctx))
	t.Cleanup(func() { rogue.Close() })
	return rogue
}

// routeTo makes the harness reach hellos from the rogue's address at the
// rogue (the harness falls back to the fleet device of the hello's UUID).
func routeTo(h *harness, rogue *amtsim.Device) {
	fallback := h.address
	h.cfg.DeviceAddress = func(hl provisioning.ReceivedHello, inv provisioning.Inventory, port int) string {
		if ap, err := netip.ParseAddrPort(rogue.TLSAddr()); err == nil && hl.Source.Addr() == ap.Addr() {
			if port == 16992 {
				return rogue.HTTPAddr()
			}
			return rogue.TLSAddr()
		}
		return fallback(hl, inv, port)
	}
}

// rogueGetsNothing runs a session for the rogue's hello and checks that it
// was refused (why) and got nothing of the victim's: the rogue is not
// configured, no certificate is issued or revoked, and the victim's record
// keeps the admin password that still opens the real device. It returns that
// record.
func rogueGetsNothing(t *testing.T, h *harness, p *provisioning.Provisioner, rogue, victim *amtsim.Device, first *provisioning.DeviceRecord, why string) *provisioning.DeviceRecord {
	t.Helper()
	issued, revoked := len(h.issuer.issued), len(h.issuer.revocations())
	rec, err := p.Provision(h.ctx, helloOf(t, rogue))
	if rec != nil {
		t.Logf("rogue's session ended %s (reason %q, error %v)", rec.State, rec.Reason, err)
	}
	assert.Error(t, err, why)
	assert.NotEqual(t, amt.PostProvisioning, rogue.Snapshot().ProvisioningState, "the rogue must not be configured and committed")
	assert.Equal(t, issued, len(h.issuer.issued), "no certificate for the victim's name may be issued to the rogue's key")
	assert.Equal(t, revoked, len(h.issuer.revocations()), "the victim's certificates must not be revoked")
	after, err := h.store.Load(h.ctx, victim.UUID())
	require.NoError(t, err)
	assert.True(t, after.AdminPassword.Equal(first.AdminPassword), "the victim's record must keep its admin password")
	assert.True(t, victim.AdminPasswordIs(after.AdminPassword), "the record must still open the real device")
	return after
}

func helloOf(t *testing.T, d *amtsim.Device) provisioning.ReceivedHello {
	t.Helper()
	m, err := d.Hello(0)
	require.NoError(t, err)
	ap, err := netip.ParseAddrPort(d.TLSAddr())
	require.NoError(t, err)
	return provisioning.ReceivedHello{Hello: m, Source: netip.AddrPortFrom(ap.Addr(), 40000), Received: time.Now()}
}

// Promise 2 (and 5): a rogue sends a version 2 (PSK) hello with the UUID of a
// device provisioned by PKI and verified by On-Die, and connects with a PSK
// pair it holds. The session never applies the device-certificate checks
// (checkDevice runs only in the PKI dial), so the provisioned record is taken
// over: new passwords, a certificate issued for the victim's FQDN to the
// rogue's key, the victim's certificates revoked.
func TestAttackPSKHelloTakesOverProvisionedDevice(t *testing.T) {
	for _, legacy := range []bool{true, false} {
		t.Run(map[bool]string{true: "AllowLegacyTLS", false: "TLS 1.2 only"}[legacy], func(t *testing.T) {
			pair, err := pskx.GeneratePair(nil)
			require.NoError(t, err)
			psk := &pskx.MemoryStore{}
			require.NoError(t, psk.Put(context.Background(), pair))
			h := newHarness(t, harnessOptions{template: func(c *amtsim.Config) { c.OnDie = true }})
			h.cfg.PSK = psk
			h.cfg.OnDieRoots = poolOf(h.fleet.OnDieCA().Root())
			h.cfg.CommitVerifyAttempts = 2
			h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
				RequireOnDie: true, AllowLegacyTLS: legacy,
				TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
			}
			victim := h.fleet.Devices()[0]
			rogue := startPSKRogue(t, h, victim, &pair, "127.0.77.7")
			routeTo(h, rogue)
			p := h.provisioner()
			first, err := p.Provision(h.ctx, h.helloFrom(victim))
			require.NoError(t, err)
			require.True(t, first.OnDieVerified)

			after := rogueGetsNothing(t, h, p, rogue, victim, first, "a PSK hello for a provisioned, On-Die verified device must be refused")
			assert.Zero(t, rogue.Snapshot().Requests, "not one WS-Management request may reach the rogue")
			assert.Equal(t, first.DeviceCertPin, after.DeviceCertPin, "the victim's record must keep its pin")
			assert.True(t, after.Session == nil, "no session may be planted in the victim's record")
			assert.Equal(t, first.Source, after.Source, "the victim's address must not become the rogue's")
			assert.True(t, after.OnDieVerified, "once verified by On-Die, always verified by On-Die")
			assert.True(t, victim.AdminPasswordIs(after.AdminPassword), "the record must still open the real device")
			if dev, err := p.OpenDevice(h.ctx, victim.UUID()); assert.NoError(t, err) {
				u, err := dev.UUID(h.ctx)
				dev.Close()
				assert.NoError(t, err, "the victim must stay manageable through its record")
				assert.Equal(t, victim.UUID(), u)
				assert.Equal(t, amt.PostProvisioning, victim.Snapshot().ProvisioningState)
			}
		})
	}
}

// Promises 1 and 3: the victim's PKI session stopped in configure (its admin
// account set, a user password generated and recorded but the user not yet
// added). A rogue's PSK hello for the victim's UUID resumes that session: the
// session swaps in the rogue's PID, connects over the rogue's pair without
// any certificate check, and sends the victim's recorded user password (as
// the digest A1 under the realm the rogue reports: the victim's) to the
// rogue, which can then log in to the real device as that user.
func TestAttackPSKHelloResumesVictimSession(t *testing.T) {
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	psk := &pskx.MemoryStore{}
	require.NoError(t, psk.Put(context.Background(), pair))
	var refuse atomic.Bool
	refuse.Store(true)
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		c.Behavior.RefuseFunc = func(method, _ string, _ int) amt.Status {
			if method == "AddUserAclEntryEx" && refuse.Load() {
				return amt.StatusInternalError
			}
			return 0
		}
	}})
	h.cfg.PSK = psk
	user := provisioning.UserAccount{Name: "helpdesk", Realms: []amt.Realm{amt.RealmRemoteControl}, Access: amt.AccessNetwork}
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
		AllowLegacyTLS: true, Users: []provisioning.UserAccount{user},
		TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
	}
	victim := h.fleet.Devices()[0]
	rogue := startPSKRogue(t, h, victim, &pair, "127.0.77.8")
	routeTo(h, rogue)
	p := h.provisioner()
	vrec, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.Error(t, err, "the victim's session stops at the user account")
	require.NotNil(t, vrec.Session)
	require.Len(t, vrec.Session.Users, 1)
	victimA1 := amt.DigestA1("helpdesk", victim.DigestRealm(), vrec.Session.Users[0].Password)

	rec, err := p.Provision(h.ctx, helloOf(t, rogue))
	if rec != nil {
		t.Logf("rogue's session ended %s (reason %q, error %v)", rec.State, rec.Reason, err)
	}
	assert.Error(t, err, "a hello the device has not proven must not continue the victim's session")
	learnt, ok := rogue.UserDigest("helpdesk")
	assert.False(t, ok && learnt == victimA1, "the rogue learnt the digest A1 of the victim's user account (it logs in to the victim once the session adds it)")
	stored, err := h.store.Load(h.ctx, victim.UUID())
	require.NoError(t, err)
	if assert.NotNil(t, stored.Session) {
		assert.Equal(t, vrec.Session.DeviceCertPin, stored.Session.DeviceCertPin, "the victim's session keeps the pin it began with")
		assert.Equal(t, vrec.Session.PID, stored.Session.PID, "the victim's session keeps its (empty) PID")
	}

	// The real device, now able to add the user, sends its next hello: it
	// must be provisioned.
	refuse.Store(false)
	rec, err = p.Provision(h.ctx, h.helloFrom(victim))
	assert.NoError(t, err, "the victim's next hello must not be starved by what the rogue's session wrote")
	if rec != nil {
		t.Logf("victim's next session ended %s (reason %q)", rec.State, rec.Reason)
	}
}

// textAddr is a peer address of a listener that is not *net.TCPAddr (a
// wrapper, a relay's own type): only its String is known.
type textAddr string

func (a textAddr) Network() string { return "tcp" }
func (a textAddr) String() string  { return string(a) }

type textAddrConn struct {
	*spoofConn
	addr textAddr
}

func (c textAddrConn) RemoteAddr() net.Addr { return c.addr }

// Promise 7 ("per-source hello limits"; docs/provisioning.md: "no source is
// ever refused because of another's traffic"): from a listener whose peer
// addresses are not *net.TCPAddr, an IPv4-mapped address ("[::ffff:a.b.c.d]")
// is not unmapped, so it is keyed as IPv6 by its /64 — ::/64, which every
// IPv4-mapped address falls in. One IPv4 sender then spends the bucket of
// every other IPv4 device.
func TestAttackMappedIPv4FromNonTCPAddrShareOneBucket(t *testing.T) {
	pkt := floodHello(amt.UUID{0xbd})
	var got atomic.Int64
	l := &provisioning.HelloListener{
		Handler:        func(context.Context, provisioning.ReceivedHello) {},
		OnEvent:        func(provisioning.ListenerEvent) { got.Add(1) },
		PerSourceBurst: 1,
		PerSourceRate:  1e-9,
	}
	sl := newSpoofListener(t)
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background(), sl) }()
	for _, src := range []string{"[::ffff:192.0.2.1]:1234", "[::ffff:198.51.100.7]:1234"} {
		c := newSpoofConn(netip.MustParseAddrPort("192.0.2.1:1"), pkt)
		require.True(t, sl.Inject(textAddrConn{c, textAddr(src)}))
	}
	require.Eventually(t, func() bool { return got.Load() == 2 }, 10*time.Second, time.Millisecond)
	require.NoError(t, l.Shutdown(context.Background()))
	<-served
	assert.Zero(t, l.Stats().RateLimited, "two different IPv4 devices must not share one bucket")
	assert.Equal(t, int64(2), l.Stats().Sources)
}

// Promise 2, with the pair the victim itself used: a PSK device was
// provisioned with pair X from a setup.bin, and RotatePSK gave it a new pair
// "so the pair on its setup.bin ... is no longer the one that provisions it".
// Anyone holding a copy of that setup.bin still has X; X stays in the store
// reserved for the victim, so a hello with the victim's UUID and PID X from
// another address passes authorize, and the session — which checks no
// certificate over PSK — re-provisions whatever answers there.
func TestAttackOldSetupBinPairTakesOverPSKDevice(t *testing.T) {
	h, pair, _ := newPSKHarness(t, provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, AllowLegacyTLS: true})
	victim := h.fleet.Devices()[0]
	stolen := pair // copied from the setup.bin
	rogue := startPSKRogue(t, h, victim, &stolen, "127.0.77.9")
	routeTo(h, rogue)
	p := h.provisioner()
	first, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.NoError(t, err)
	_, err = p.RotatePSK(h.ctx, victim.UUID())
	require.NoError(t, err)
	rogueGetsNothing(t, h, p, rogue, victim, first, "a provisioned device is not re-provisioned by a hello carrying a pair from its old setup.bin")
}

// Promise 1 / Config.RecordUnknownDevices ("off by default: anyone can send
// hellos with made-up UUIDs, and every one would grow the Store"): only the
// reason ReasonUnknownDevice keeps a refused hello out of the Store. An
// Authorizer that refuses an unknown UUID as the Authorizer documentation
// allows (Reject(ReasonNotApproved, ...)), or whose backend fails (any plain
// error), has a record created for every made-up UUID.
func TestAttackMadeUpUUIDsGrowStore(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"not approved", provisioning.Reject(provisioning.ReasonNotApproved, "not in the approval list")},
		{"authorizer failure", errors.New("inventory backend unavailable")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.cfg.Authorizer = provisioning.AuthorizerFunc(func(context.Context, provisioning.AuthRequest) (provisioning.Inventory, error) {
				return provisioning.Inventory{}, tt.err
			})
			p := h.provisioner()
			m, err := h.fleet.Devices()[0].Hello(0)
			require.NoError(t, err)
			for i := 0; i < 3; i++ {
				hl := *m
				hl.UUID = amt.UUID{0xde, 0xad, byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
				_, err := p.Provision(h.ctx, provisioning.ReceivedHello{Hello: &hl, Source: netip.MustParseAddrPort("192.0.2.9:40000"), Received: time.Now()})
				require.Error(t, err)
				_, err = h.store.Load(h.ctx, hl.UUID)
				assert.ErrorIs(t, err, provisioning.ErrNotFound, "a refused hello for a made-up UUID must not create a record (RecordUnknownDevices is off)")
			}
		})
	}
}
