package provisioning_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

const mpsTestName = "mps.contoso.com"

// mpsRig is a test MPS that authenticates devices by their records (the
// per-device MPS passwords reconcile recorded before sending them).
type mpsRig struct {
	mps  *apftest.MPS
	root *x509.Certificate
}

func startMPS(t *testing.T, store func() provisioning.Store) *mpsRig {
	t.Helper()
	keys := testKeys()
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: keys})
	cert, err := apftest.NewMPSCertificate(ca, keys, mpsTestName)
	require.NoError(t, err)
	m, err := apftest.StartMPS(apftest.MPSConfig{
		Certificate: cert,
		KeepAlive:   30,
		Lookup: func(u amt.UUID) (string, amt.Secret, bool) {
			rec, err := store().Load(context.Background(), u)
			if err != nil {
				return "", amt.Secret{}, false
			}
			return rec.MPSUser, rec.MPSPassword, true
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return &mpsRig{mps: m, root: ca.RootCertificate()}
}

func (r *mpsRig) profile() *provisioning.RemoteAccessProfile {
	return &provisioning.RemoteAccessProfile{
		MPS:  provisioning.MPSServer{Address: "127.0.0.1", Port: r.mps.Port(), CommonName: mpsTestName},
		Root: r.root,
	}
}

func (r *mpsRig) accept(t *testing.T, ctx context.Context, d *amtsim.Device) *apftest.MPSConn {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := r.mps.Accept(actx)
	require.NoError(t, err, "device: %v\nmps: %v", d.CIRAEvents(), r.mps.Log())
	return conn
}

// TestCIRAEndToEnd: a device provisioned with a remote-access profile is
// configured for CIRA right after its activation and calls the MPS, which
// authenticates it with the per-device password from its record; the MPS
// then manages the device through the tunnel, over TLS to 16993 pinned to
// the certificate amtkit installed.
func TestCIRAEndToEnd(t *testing.T) {
	var h *harness
	rig := startMPS(t, func() provisioning.Store { return h.store })
	h = newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
			TLS:          &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond},
			RemoteAccess: rig.profile(),
			Features:     &provisioning.FeaturesProfile{SOL: true, KVM: true, UserConsent: provisioning.ConsentKVM},
		}
	}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	conn := rig.accept(t, h.ctx, d)

	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, d.UUID(), conn.Peer.UUID, "the UUID the device presents")
	assert.Equal(t, apf.TriggerPeriodic, conn.Peer.Trigger)
	assert.Equal(t, after.MPSUser, conn.User)
	assert.Len(t, after.MPSUser, 16, "the UUID's first 16 hex digits")
	assert.Equal(t, 16, after.MPSPassword.Len(), "a random 16-character MPS password, recorded")
	assert.Empty(t, after.ReconcileError)

	// The MPS manages the device through the tunnel: TLS inside CIRA.
	cur, ok := after.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	wc, err := wsman.New("https://127.0.0.1:16993/wsman", wsman.WithDialer(conn.Session.Dial),
		wsman.WithDigestAuth(after.AdminUser, after.AdminPassword.Reveal()), wsman.WithTLS(wsman.PinSHA256(sha256.Sum256(cur.DER))))
	require.NoError(t, err)
	defer wc.CloseIdleConnections()
	gs, err := amt.NewDevice(wc).GeneralSettings(h.ctx)
	require.NoError(t, err, "device: %v\nmps: %v", d.CIRAEvents(), rig.mps.Log())
	assert.Equal(t, "pc-a0", gs.HostName)
	require.NoError(t, conn.KeepAlive(h.ctx, 7))

	f := d.Features()
	assert.Equal(t, amt.RedirectionSOL, f.Redirection)
	assert.True(t, f.Listener && f.KVM)
	assert.Equal(t, amt.OptInKVM, f.UserConsent)

	for _, e := range h.eventsFor(rec.UUID) {
		if e.Step == provisioning.StepReconcile {
			t.Log("event:", e.Detail)
		}
	}
	for _, e := range d.CIRAEvents() {
		t.Log("device:", e)
	}
	for _, l := range rig.mps.Log() {
		t.Log("mps:", l)
	}
	for _, l := range rig.mps.Log() {
		assert.NotContains(t, l, after.MPSPassword.Reveal())
	}

	// In line: nothing to change.
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes)
}

// A device whose profile changed — features and CIRA — is brought in line
// by reconcile, the dry run listing the difference first.
func TestReconcileRemoteAccessProfileChange(t *testing.T) {
	var h *harness
	rig := startMPS(t, func() provisioning.Store { return h.store })
	h = newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
			TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, RemoteAccess: rig.profile(),
			Features: &provisioning.FeaturesProfile{SOL: true},
		}
	}})
	_, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	first := rig.accept(t, h.ctx, d)

	ra := rig.profile()
	ra.Periodic, ra.HomeDomains, ra.InsideToo = time.Minute, []string{"contoso.com"}, true
	ra.UserInitiated, ra.UserInitiatedLifetime = amt.UserInitiatedOS, -1
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
		TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, RemoteAccess: ra,
		Features: &provisioning.FeaturesProfile{SOL: true, IDER: true, KVM: true, UserConsent: provisioning.ConsentNone, NoPingResponse: true, Unattended: true},
	}
	p := h.provisioner()
	plan, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	var lines []string
	for _, c := range plan.Changes {
		lines = append(lines, c.String())
		t.Log("would", c)
	}
	assert.Equal(t, []string{
		`cira: remove User Initiated policy`, // policy removals come first (rpc-go, MeshCentral)
		`cira: update Periodic policy "every 25s, tunnel kept open" → "every 60s, tunnel kept open"`,
		`cira: update MPS type "external" → "both"`,
		`cira: update home domains "` + d.CIRA().DetectionStrings[0] + `" → "contoso.com"`,
		`cira: update user-initiated connection "BIOS and OS" → "OS"`,
		`features: update redirection "SOL" → "IDER and SOL"`,
		`features: update KVM "off" → "on"`,
		`features: update user consent "all" → "none"`,
		`features: update ping responses "ICMP on, RMCP on" → "ICMP off, RMCP on"`,
	}, lines)
	assert.Equal(t, amt.RedirectionSOL, d.Features().Redirection, "a dry run changes nothing")

	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, len(lines), rep.Applied)
	f := d.Features()
	assert.Equal(t, amtsim.Features{Redirection: amt.RedirectionIDERSOL, Listener: true, KVM: true, KVMSupported: true, KVMConsent: true, UserConsent: amt.OptInNone}, f)
	st := d.CIRA()
	assert.Equal(t, []string{"contoso.com"}, st.DetectionStrings)
	assert.Equal(t, []string{"Periodic"}, st.Policies)
	assert.Equal(t, amt.UserInitiatedOS, st.UserInitiated)

	// The policy was replaced: the device calls again, with the same
	// credentials.
	select {
	case <-first.Session.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the tunnel of the replaced policy stayed up: %v", d.CIRAEvents())
	}
	again := rig.accept(t, h.ctx, d)
	assert.Equal(t, d.UUID(), again.Peer.UUID)

	rep, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{})
	require.NoError(t, err)
	assert.Empty(t, rep.Changes, "in line")
}

// The MPS password can be rotated by a fixed profile value: recorded, the
// MPS entry replaced, and the device authenticates with the new one.
func TestReconcileMPSPasswordChange(t *testing.T) {
	var h *harness
	rig := startMPS(t, func() provisioning.Store { return h.store })
	h = newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: rig.profile()}
	}})
	_, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	rig.accept(t, h.ctx, d)
	ra := rig.profile()
	ra.MPS.Username, ra.MPS.Password = "fleet", amt.NewSecret("Fl33t-Mps!pass")
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{RemoteAccess: ra}
	p := h.provisioner()
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"cira"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	// The policies linked to the MPS go first: firmware does not delete a
	// linked MPS (the simulator refuses it as AMT does), so they are removed,
	// the MPS replaced, and they are added again.
	var got []string
	for _, c := range rep.Changes {
		got = append(got, c.String())
	}
	assert.Equal(t, []string{
		`cira: remove Periodic policy (was "every 25s, tunnel kept open")`,
		`cira: remove User Initiated policy (was "tunnel 300s")`,
		"cira: update MPS 127.0.0.1:" + fmt.Sprint(rig.mps.Port()) + ` "credentials or name not in line" → "user fleet, password authentication"`,
		`cira: add Periodic policy "every 25s, tunnel kept open"`,
		`cira: add User Initiated policy "tunnel 300s"`,
	}, got)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Equal(t, "fleet", after.MPSUser)
	assert.True(t, after.MPSPassword.Equal(amt.NewSecret("Fl33t-Mps!pass")))
	conn := rig.accept(t, h.ctx, d)
	assert.Equal(t, "fleet", conn.User)
}

// clientCertFor issues a client certificate under ca for mutual TLS.
func clientCertFor(t *testing.T, ca *certstest.CA, cn string) *tls.Certificate {
	t.Helper()
	key, err := testKeys().Cycle(2048)
	require.NoError(t, err)
	leaf, err := ca.IssueCert(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, key.Public())
	require.NoError(t, err)
	return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// TLS modes: a profile asking for mutual authentication and TLS on the
// local interface gets them right after activation (roots first, then the
// settings and a commit); every later connection presents the client
// certificate; one without it — or with a certificate from another CA — is
// refused by the device.
func TestTLSMutualAuthentication(t *testing.T) {
	keys := testKeys()
	clientCA := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso Console CA", Keys: keys})
	cert := clientCertFor(t, clientCA, "console.contoso.com")
	profile := provisioning.Profile{TLS: &provisioning.TLSProfile{
		KeyRetryDelay: time.Millisecond, MutualAuthentication: true, LocalTLS: true,
		TrustedClientRoots: []*x509.Certificate{clientCA.RootCertificate()}, TrustedCN: []string{"console.contoso.com"},
	}}
	assert.Equal(t, provisioning.TLSMutual, profile.TLS.Mode())

	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = profile
	}})
	_, err := provisioning.New(h.cfg)
	var ce *provisioning.ConfigError
	require.ErrorAs(t, err, &ce, "a mutual-TLS profile needs Config.ClientCertificate")
	assert.Equal(t, "ClientCertificate", ce.Field)

	h.cfg.ClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	s := d.Snapshot()
	assert.True(t, s.TLSApplied.Enabled)
	assert.True(t, s.TLSApplied.MutualAuthentication, "mutual authentication on after activation")
	assert.True(t, s.TLSLocal.Enabled, "TLS on the local interface")
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Empty(t, after.ReconcileError)

	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	_, err = dev.GeneralSettings(h.ctx)
	require.NoError(t, err, "the client certificate is presented")
	dev.Close()

	// Attack: a provisioner that holds the admin password but no accepted
	// client certificate cannot reach the device.
	for name, f := range map[string]func(*tls.CertificateRequestInfo) (*tls.Certificate, error){
		"another CA": func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return clientCertFor(t, certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Impostor", Keys: keys}), "console.contoso.com"), nil
		},
		"another name": func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return clientCertFor(t, clientCA, "intruder"), nil
		},
		"none": func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil },
	} {
		cfg := h.cfg
		cfg.ClientCertificate = f
		q, err := provisioning.New(cfg)
		require.NoError(t, err)
		dev, err := q.OpenDevice(h.ctx, rec.UUID)
		require.NoError(t, err)
		_, err = dev.GeneralSettings(h.ctx)
		assert.Error(t, err, name)
		dev.Close()
	}

	// Back to server authentication: the dry run says so, reconcile applies.
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}}
	p = h.provisioner()
	plan, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true, Areas: []string{"tls"}})
	require.NoError(t, err)
	require.Len(t, plan.Changes, 1)
	// The local interface keeps TLS: amtkit never switches it off (RPS,
	// rpc-go and MeshCentral keep it on; AMT 19+ platforms enforce it).
	assert.Equal(t, `tls: update TLS settings "network Mutual (CN console.contoso.com), local on" → "network Server, local on"`, plan.Changes[0].String())
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"tls"}})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.False(t, d.Snapshot().TLSApplied.MutualAuthentication)
	assert.True(t, d.Snapshot().TLSLocal.Enabled, "local TLS left on")
	plan, err = p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{DryRun: true, Areas: []string{"tls"}})
	require.NoError(t, err)
	assert.Empty(t, plan.Changes, "a profile without LocalTLS does not switch the local interface off")
}

// Profiles are validated against the firmware's rules.
func TestRemoteAccessProfileValidate(t *testing.T) {
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: testKeys()}).RootCertificate()
	ok := provisioning.RemoteAccessProfile{MPS: provisioning.MPSServer{Address: "mps.contoso.com"}, Root: root}
	require.NoError(t, ok.Validate())
	tests := []struct {
		name  string
		edit  func(p *provisioning.Profile)
		field string
	}{
		{"no address", func(p *provisioning.Profile) { p.RemoteAccess.MPS.Address = "" }, "RemoteAccess.MPS.Address"},
		{"IP without CN", func(p *provisioning.Profile) { p.RemoteAccess.MPS.Address = "10.0.0.1" }, "RemoteAccess.MPS.CommonName"},
		{"long user", func(p *provisioning.Profile) { p.RemoteAccess.MPS.Username = "seventeen-chars-x" }, "RemoteAccess.MPS.Username"},
		{"weak password", func(p *provisioning.Profile) { p.RemoteAccess.MPS.Password = amt.NewSecret("password") }, "RemoteAccess.MPS.Password"},
		{"long password", func(p *provisioning.Profile) { p.RemoteAccess.MPS.Password = amt.NewSecret("Seventeen-Chars!1") }, "RemoteAccess.MPS.Password"},
		{"no root", func(p *provisioning.Profile) { p.RemoteAccess.Root = nil }, "RemoteAccess.Root"},
		{"no policy", func(p *provisioning.Profile) { p.RemoteAccess.Periodic, p.RemoteAccess.UserInitiatedLifetime = -1, -1 }, "RemoteAccess"},
		{"backup credentials", func(p *provisioning.Profile) {
			p.RemoteAccess.Backup = &provisioning.MPSServer{Address: "b.contoso.com", Username: "x"}
		}, "RemoteAccess.Backup"},
		{"long home domain", func(p *provisioning.Profile) { p.RemoteAccess.HomeDomains = []string{strings.Repeat("a", 191)} }, "RemoteAccess.HomeDomains"},
		{"consent", func(p *provisioning.Profile) { p.Features = &provisioning.FeaturesProfile{UserConsent: "some"} }, "Features.UserConsent"},
		{"mutual without roots", func(p *provisioning.Profile) { p.TLS = &provisioning.TLSProfile{MutualAuthentication: true} }, "TLS.TrustedClientRoots"},
		{"CN without mutual", func(p *provisioning.Profile) { p.TLS = &provisioning.TLSProfile{TrustedCN: []string{"x"}} }, "TLS.TrustedCN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ra := ok
			p := provisioning.Profile{Name: "p", RemoteAccess: &ra}
			tc.edit(&p)
			err := p.Validate()
			var ce *provisioning.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "Profile p "+tc.field, ce.Field)
		})
	}
	assert.Equal(t, "MutualAndNonTLS", provisioning.TLSModeOf(true, true).String())
	assert.Equal(t, "ServerAndNonTLS", (&provisioning.TLSProfile{AllowNonTLS: true}).Mode().String())
}

// In client control mode the consent policy is fixed: a profile asking for
// less is reported as a failed change, not silently ignored.
func TestFeaturesConsentFixedInCCM(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{}
	}})
	_, rec := provisionOne(t, h)
	// The device as host-based client-control activation leaves it: its
	// record says CCM (the simulator is ACM; the plan reads the record).
	stored, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	stored.ControlMode = amt.ControlModeCCM
	require.NoError(t, h.store.Save(h.ctx, stored))
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{Features: &provisioning.FeaturesProfile{UserConsent: provisioning.ConsentNone, Unattended: true}}
	p := h.provisioner()
	rep, err := p.Reconcile(h.ctx, rec.UUID, provisioning.ReconcileOptions{Areas: []string{"features"}})
	require.NoError(t, err)
	assert.ErrorIs(t, rep.Err(), provisioning.ErrConsentFixed)
	after, err := h.store.Load(h.ctx, rec.UUID)
	require.NoError(t, err)
	assert.Contains(t, after.ReconcileError, "client control mode")
}

// The Maintainer keeps the features in line on its schedule: a console turned
// KVM on and the consent policy off on the device; the next due run undoes it.
func TestMaintainerReconcilesFeatures(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		c.Now = clock.Now
		c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{
			TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, Features: &provisioning.FeaturesProfile{SOL: true},
		}
	}})
	p, rec := provisionOne(t, h)
	d := h.fleet.Devices()[0]
	m := p.Maintainer()
	m.ReconcileEvery = 24 * time.Hour
	rep, err := m.RunOnce(h.ctx)
	require.NoError(t, err)
	require.Zero(t, rep.Changes, "reconciled right after activation: nothing to change")

	dev, err := p.OpenDevice(h.ctx, rec.UUID)
	require.NoError(t, err)
	require.NoError(t, dev.RequestKVMState(h.ctx, amt.KVMEnabled))
	oi, err := dev.OptInService(h.ctx)
	require.NoError(t, err)
	oi.OptInRequired = amt.OptInNone
	_, err = dev.PutOptInService(h.ctx, oi)
	require.NoError(t, err)
	dev.Close()

	clock.Advance(25 * time.Hour)
	rep, err = m.RunOnce(h.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Reconciled)
	assert.Equal(t, 3, rep.Changes, "KVM and consent back to the profile, and the clock (the device's is now a day behind ours)")
	assert.Zero(t, rep.ReconcileFailed)
	f := d.Features()
	assert.False(t, f.KVM)
	assert.Equal(t, amt.OptInAll, f.UserConsent)
}
