package provisioning_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
)

// testIssuer is the integrator's CA: a certstest CA that records revocations.
type testIssuer struct {
	ca      *certstest.CA
	mu      sync.Mutex
	issued  []*x509.Certificate
	revoked []provisioning.RevokeRequest
	fail    error
	// forget keeps no issued certificate: the fleet benchmarks measure the
	// engine's memory, not this double's list.
	forget bool
}

func (i *testIssuer) Issue(ctx context.Context, req provisioning.IssueRequest) ([]*x509.Certificate, error) {
	if i.fail != nil {
		return nil, i.fail
	}
	chain, err := i.ca.Issue(ctx, req.Template, req.PublicKey)
	if err == nil && !i.forget {
		i.mu.Lock()
		i.issued = append(i.issued, chain[0])
		i.mu.Unlock()
	}
	return chain, err
}

func (i *testIssuer) Revoke(ctx context.Context, req provisioning.RevokeRequest) error {
	i.mu.Lock()
	i.revoked = append(i.revoked, req)
	i.mu.Unlock()
	return i.ca.Revoke(ctx, req.Certificate, req.Reason)
}

func (i *testIssuer) revocations() []provisioning.RevokeRequest {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]provisioning.RevokeRequest(nil), i.revoked...)
}

var (
	keysOnce sync.Once
	keys     *certstest.KeyPool
)

func testKeys() *certstest.KeyPool {
	keysOnce.Do(func() { keys = &certstest.KeyPool{Reuse: true} }) // embedded keys, reused: generating RSA keys dominated the suite's CPU
	return keys
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	fleet  *amtsim.Fleet
	chain  *certstest.ProvisioningChain
	issuer *testIssuer
	inv    *provisioning.InventoryList
	store  provisioning.Store
	cfg    provisioning.Config

	mu     sync.Mutex
	events []provisioning.Event
	slept  []time.Duration
}

// sleep is the harness's Config.Sleep: retry loops run without real waits; the
// pauses they asked for are recorded.
func (h *harness) sleep(ctx context.Context, d time.Duration) error {
	h.mu.Lock()
	h.slept = append(h.slept, d)
	h.mu.Unlock()
	return ctx.Err()
}

type harnessOptions struct {
	n           int
	device      func(i int, c *amtsim.Config)
	config      func(c *provisioning.Config)
	chain       certstest.ProvisioningOptions
	noInventory bool
	template    func(c *amtsim.Config)
	// keys, when set, replaces the shared key pool (testKeys) for this
	// harness: a test that draws from the shared pool shifts the keys every
	// later test's devices generate.
	keys *certstest.KeyPool
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	k := testKeys()
	if o.keys != nil {
		k = o.keys
	}
	if o.n == 0 {
		o.n = 1
	}
	co := o.chain
	if co.FQDN == "" {
		co.FQDN = "prov.contoso.com"
	}
	co.Keys = k
	chain, err := certstest.NewProvisioningChain(co)
	require.NoError(t, err)
	devCA, err := certstest.NewRootCA(certstest.CAOptions{CommonName: "Contoso AMT Device CA", Keys: k})
	require.NoError(t, err)
	root := chain.Bundle.RootHash(amt.HashSHA256)
	tmpl := amtsim.Config{
		TrustedDNSSuffix: "contoso.com",
		UserRootHashes:   []amtsim.RootHash{{Name: "Contoso test root", Hash: root, Active: true}},
		Keys:             amtsim.PoolKeys(k),
	}
	if o.template != nil {
		o.template(&tmpl)
	}
	fleet, err := amtsim.StartFleet(ctx, amtsim.FleetOptions{N: o.n, Template: tmpl, Configure: o.device})
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	h := &harness{t: t, ctx: ctx, fleet: fleet, chain: chain, issuer: &testIssuer{ca: devCA}, inv: provisioning.NewInventoryList(), store: provisioning.NewMemoryStore()}
	if !o.noInventory {
		for i, d := range fleet.Devices() {
			h.inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: deviceName(i) + ".contoso.com"})
		}
	}
	h.cfg = provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: h.inv,
		Profiles: map[string]provisioning.Profile{
			provisioning.DefaultProfileName: {TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}},
		},
		Store:  h.store,
		Issuer: h.issuer,
		Observer: func(e provisioning.Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		},
		Dial:              fleet.DialContext,
		DeviceAddress:     h.address,
		CommitVerifyDelay: 20 * time.Millisecond,
		ServerName:        "amtprov.contoso.com",
		Sleep:             h.sleep,
	}
	if o.config != nil {
		o.config(&h.cfg)
	}
	return h
}

func deviceName(i int) string { return "pc-" + string(rune('a'+i%26)) + itoa(i) }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// address maps a hello's source to the simulated device's listeners.
func (h *harness) address(hello provisioning.ReceivedHello, _ provisioning.Inventory, port int) string {
	d, ok := h.fleet.Lookup(net.TCPAddrFromAddrPort(hello.Source))
	if !ok {
		d, ok = h.fleet.Device(hello.Hello.UUID)
	}
	if !ok {
		return ""
	}
	if port == 16992 {
		return d.HTTPAddr()
	}
	return d.TLSAddr()
}

func (h *harness) provisioner() *provisioning.Provisioner {
	p, err := provisioning.New(h.cfg)
	require.NoError(h.t, err)
	return p
}

// helloFrom returns the hello device d would send, as received from its address.
func (h *harness) helloFrom(d *amtsim.Device) provisioning.ReceivedHello {
	hello, err := d.Hello(0)
	require.NoError(h.t, err)
	ap, err := netip.ParseAddrPort(d.TLSAddr())
	require.NoError(h.t, err)
	now := time.Now()
	if h.cfg.Now != nil {
		now = h.cfg.Now()
	}
	return provisioning.ReceivedHello{Hello: hello, Source: netip.AddrPortFrom(ap.Addr(), 40000), Received: now}
}

func (h *harness) eventsFor(u amt.UUID) []provisioning.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []provisioning.Event
	for _, e := range h.events {
		if e.Device == u {
			out = append(out, e)
		}
	}
	return out
}

func TestProvisionBareMetalPKI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.fleet.Devices()[0]
	p := h.provisioner()
	rec, err := p.Provision(h.ctx, h.helloFrom(d))
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, rec.State)

	snap := d.Snapshot()
	assert.Equal(t, amt.PostProvisioning, snap.ProvisioningState)
	assert.Equal(t, amt.ControlModeACM, snap.ControlMode)
	assert.False(t, snap.MEBxPasswordDefault)
	assert.True(t, d.AdminPasswordIs(rec.AdminPassword))
	assert.True(t, d.MEBxPasswordIs(rec.MEBxPassword))
	assert.NoError(t, amt.CheckPassword(rec.AdminPassword.Reveal()))
	assert.Equal(t, "pc-a0", snap.HostName)
	assert.Equal(t, "contoso.com", snap.DomainName)
	require.NotNil(t, snap.TLSAppliedCertificate)
	assert.Equal(t, "pc-a0.contoso.com", snap.TLSAppliedCertificate.Subject.CommonName)
	cur, ok := rec.CurrentCertificate(provisioning.PurposeTLS)
	require.True(t, ok)
	assert.Equal(t, snap.TLSAppliedCertificate.Raw, cur.DER)
	assert.NotEmpty(t, rec.DeviceCertPin)

	var steps []provisioning.Step
	for _, e := range h.eventsFor(d.UUID()) {
		steps = append(steps, e.Step)
		assert.NoError(t, e.Err)
	}
	assert.Equal(t, []provisioning.Step{"authorize", "connect", "identify", "otp", "configure", "commit", "verify"}, steps)
	stored, err := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, err)
	assert.Equal(t, provisioning.StateProvisioned, stored.State)
	assert.True(t, stored.AdminPassword.Equal(rec.AdminPassword))
}

func TestProvisionRejections(t *testing.T) {
	tests := []struct {
		name   string
		o      harnessOptions
		reason provisioning.Reason
	}{
		{"unknown device", harnessOptions{noInventory: true}, provisioning.ReasonUnknownDevice},
		{"suffix mismatch", harnessOptions{chain: certstest.ProvisioningOptions{FQDN: "prov.northwindtraders.com"}}, provisioning.ReasonSuffixMismatch},
		{"no matching root", harnessOptions{device: func(i int, c *amtsim.Config) { c.UserRootHashes = nil }}, provisioning.ReasonNoMatchingRoot},
		{"expired bundle", harnessOptions{chain: certstest.ProvisioningOptions{Expired: true}}, provisioning.ReasonBundleExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.o)
			d := h.fleet.Devices()[0]
			rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			require.Error(t, err)
			assert.True(t, errors.Is(err, provisioning.ErrRejected), "%v", err)
			assert.Equal(t, tt.reason, provisioning.ReasonOf(err))
			require.NotNil(t, rec)
			assert.Equal(t, provisioning.StateRejected, rec.State)
			assert.Equal(t, tt.reason, rec.Reason)
			assert.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
			ev := h.eventsFor(d.UUID())
			require.NotEmpty(t, ev)
			assert.Equal(t, tt.reason, ev[len(ev)-1].Reason)
		})
	}
}

func poolOf(certsIn ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certsIn {
		p.AddCert(c)
	}
	return p
}

func hasFinding(fs amt.Findings, code amt.FindingCode) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}

// adminDeviceFor signs in to a provisioned simulated device as its admin.
func adminDeviceFor(t *testing.T, d *amtsim.Device, rec *provisioning.DeviceRecord) *amt.Device {
	t.Helper()
	c, err := wsman.New(d.TLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithDigestAuth(rec.AdminUser, rec.AdminPassword.Reveal()))
	require.NoError(t, err)
	return amt.NewDevice(c)
}

// Firmware below a flow's minimum is refused at identify, with the version
// the device reported and what it would need (amt.Firmware's rows): AMT 3.0
// configured by an agent the server was not told about is not bare-metal
// capable; AMT 6.0 cannot generate the key a TLS profile needs. Nothing is
// configured on either device.
func TestProvisionFirmwareMinimums(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		reason  provisioning.Reason
		says    string
	}{
		{"AMT 3.0, bare metal", "3.0.0", provisioning.ReasonFirmwareTooOld, "bare-metal remote configuration needs AMT 3.2.1 or later"},
		{"AMT 6.0, a TLS profile", "6.0.0", provisioning.ReasonProfile, "cannot generate a key pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) { c.Version = amt.MustParseVersion(tc.version) }})
			prof := h.cfg.Profiles[provisioning.DefaultProfileName]
			prof.AllowLegacyTLS = true // the firmware speaks TLS 1.0 only
			h.cfg.Profiles[provisioning.DefaultProfileName] = prof
			d := h.fleet.Devices()[0]
			require.NoError(t, d.StartConfiguration(amt.Secret{}), "a local agent started remote configuration")
			rec, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
			require.ErrorIs(t, err, provisioning.ErrRejected)
			assert.Equal(t, tc.reason, provisioning.ReasonOf(err))
			assert.Contains(t, err.Error(), "AMT "+tc.version)
			assert.Contains(t, err.Error(), tc.says)
			require.NotNil(t, rec)
			assert.Equal(t, provisioning.StateRejected, rec.State)
			snap := d.Snapshot()
			assert.NotEqual(t, amt.PostProvisioning, snap.ProvisioningState)
			assert.True(t, snap.MEBxPasswordDefault, "nothing was configured")
			ev := h.eventsFor(d.UUID())
			require.NotEmpty(t, ev)
			assert.Equal(t, provisioning.StepIdentify, ev[len(ev)-1].Step)
		})
	}
}

// Without a DeviceAddress hook (or when it answers ""), the engine reaches a
// device at its inventory Address, else at the hello's source address on port
// 16993 — the hello's source port is the device's ephemeral one and is never
// dialled.
func TestProvisionReachesTheDeviceWithoutAHook(t *testing.T) {
	for _, tc := range []struct {
		name    string
		address bool // the inventory names the device's address
		hook    bool // a DeviceAddress hook that answers ""
		source  func(d *amtsim.Device) netip.Addr
	}{
		{"the hello's source address", false, false, nil},
		{"a hook that declines", false, true, nil},
		{"the inventory's address, the hello relayed", true, false, func(*amtsim.Device) netip.Addr { return netip.MustParseAddr("192.0.2.7") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{noInventory: true})
			d := h.fleet.Devices()[0]
			inv := provisioning.Inventory{UUID: d.UUID(), FQDN: "pc-a0.contoso.com"}
			if tc.address {
				inv.Address = d.TLSAddr()
			}
			h.inv.Add(inv)
			h.cfg.DeviceAddress = nil
			if tc.hook {
				h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return "" }
			}
			hello := h.helloFrom(d) // the fleet's dialer maps <device IP>:16993 to its listener, as a network would
			if tc.source != nil {
				hello.Source = netip.AddrPortFrom(tc.source(d), 40000)
			}
			rec, err := h.provisioner().Provision(h.ctx, hello)
			require.NoError(t, err)
			assert.Equal(t, provisioning.StateProvisioned, rec.State)
			assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
		})
	}
}
