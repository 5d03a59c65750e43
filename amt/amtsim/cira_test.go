package amtsim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
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
	"github.com/amtkit/amtkit/wsman"
)

const (
	mpsName = "mps.contoso.test"
	mpsUser = "mpsuser"
	mpsPass = "Mps-P4ss!word"
)

// ciraRig is a provisioned simulated device, an MPS and what the device must
// be given to reach it.
type ciraRig struct {
	d    *amtsim.Device
	dev  *amt.Device
	c    *wsman.Client
	mps  *apftest.MPS
	root *x509.Certificate
	tick chan struct{}
	// mpsCert is the MPS's certificate, for a test's own MPS.
	mpsCert tls.Certificate
}

// newCIRARig provisions a device (ACM, admin over its HTTP role) and starts an
// MPS whose certificate is issued for mpsName by its own root. The device's
// Sleep waits for rig.tick, so keep-alives and reconnects happen only when the
// test says.
func newCIRARig(t *testing.T, mcfg apftest.MPSConfig, edit func(*amtsim.Config)) *ciraRig {
	t.Helper()
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	tick := make(chan struct{})
	d, c := provisioned(t, keys, pc, func(cfg *amtsim.Config) {
		cfg.DHCPDNSSuffix, cfg.TrustedDNSSuffix = "roaming.example", "example.com" // the provisioning certificate is for example.com
		cfg.HostName, cfg.DomainName = "pc-7", "contoso.com"
		cfg.Behavior.Sleep = func(ctx context.Context, _ time.Duration) error {
			select {
			case <-tick:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if edit != nil {
			edit(cfg)
		}
	})
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso MPS Root", Keys: keys})
	if mcfg.Certificate.Certificate == nil {
		cert, err := apftest.NewMPSCertificate(ca, keys, mpsName)
		require.NoError(t, err)
		mcfg.Certificate = cert
	}
	if mcfg.Username == "" && mcfg.Password.IsZero() && mcfg.ClientCAs == nil {
		mcfg.Username, mcfg.Password = mpsUser, amt.NewSecret(mpsPass)
	}
	m, err := apftest.StartMPS(mcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range d.CIRAEvents() {
				t.Log("device:", e)
			}
			for _, l := range m.Log() {
				t.Log("mps:", l)
			}
		}
	})
	return &ciraRig{d: d, dev: amt.NewDevice(c), c: c, mps: m, root: ca.RootCertificate(), tick: tick, mpsCert: mcfg.Certificate}
}

// configure gives the device what RPS's CIRA configuration gives it: the
// MPS's root, the MPS (IPv4 address with the certificate's name as CN,
// password authentication), a periodic policy, and a random home domain so
// that the device is never inside.
func (r *ciraRig) configure(t *testing.T, ctx context.Context) string {
	t.Helper()
	_, err := r.dev.AddTrustedRootCertificate(ctx, r.root)
	require.NoError(t, err)
	name, err := r.dev.AddMPServer(ctx, amt.AddMPServerRequest{
		AccessInfo: "127.0.0.1", Port: r.mps.Port(), AuthMethod: amt.MPSPasswordAuth,
		Username: mpsUser, Password: amt.NewSecret(mpsPass), CN: mpsName,
	})
	require.NoError(t, err)
	env, err := r.dev.EnvironmentDetection(ctx)
	require.NoError(t, err)
	env.DetectionStrings = []string{"2b14eacc-7f20-4a11-99bc-fdc6a162160b.com"}
	_, err = r.dev.PutEnvironmentDetection(ctx, env)
	require.NoError(t, err)
	_, err = r.dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(25)}, name)
	require.NoError(t, err)
	return name
}

func (r *ciraRig) accept(t *testing.T, ctx context.Context) *apftest.MPSConn {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := r.mps.Accept(actx)
	require.NoError(t, err, "device events: %v\nMPS log: %v", r.d.CIRAEvents(), r.mps.Log())
	return conn
}

// TestCIRAConnectsToMPS is the end-to-end proof: once configured, the device
// calls the MPS, verifies the MPS's certificate against the root it was
// given, speaks APF (version, user authentication with the MPS password,
// port forwards), answers keep-alives, and carries WS-Management from the MPS
// to its own listener.
func TestCIRAConnectsToMPS(t *testing.T) {
	ctx := t.Context()
	r := newCIRARig(t, apftest.MPSConfig{KeepAlive: 30}, nil)
	assert.False(t, r.d.CIRAConnected())
	r.configure(t, ctx)
	conn := r.accept(t, ctx)

	// What the device presented.
	assert.Equal(t, r.d.UUID(), conn.Peer.UUID, "the system UUID in PROTOCOL_VERSION")
	assert.Equal(t, uint32(1), conn.Peer.Major)
	assert.Equal(t, apf.TriggerPeriodic, conn.Peer.Trigger)
	assert.Equal(t, mpsUser, conn.User, "the MPS user name, with the right password (checked by the MPS)")
	assert.Empty(t, conn.TLS.PeerCertificates, "password authentication: no client certificate")
	require.Eventually(t, func() bool { return len(conn.Session.Ports()) == 7 }, 10*time.Second, time.Millisecond, "the forwards follow one another")
	assert.Equal(t, []uint32{623, 664, 5900, 16992, 16993, 16994, 16995}, conn.Session.Ports())

	// WS-Management over the tunnel, to the device's non-TLS port.
	wc, err := wsman.New("http://127.0.0.1:16992/wsman", wsman.WithDialer(conn.Session.Dial), wsman.WithDigestAuth("admin", adminPW))
	require.NoError(t, err)
	defer wc.CloseIdleConnections()
	gs, err := amt.NewDevice(wc).GeneralSettings(ctx)
	require.NoError(t, err)
	assert.Equal(t, "pc-7", gs.HostName)
	ra, err := r.dev.RemoteAccess(ctx)
	require.NoError(t, err)
	require.NotNil(t, ra.IsRemoteTunnelConnected)
	assert.True(t, *ra.IsRemoteTunnelConnected)
	assert.Equal(t, uint32(30), *ra.RemoteTunnelKeepAliveTimeout, "the interval the MPS asked for")

	// Keep-alives both ways.
	require.NoError(t, conn.KeepAlive(ctx, 42), "the device answers the MPS's keep-alive")
	r.tick <- struct{}{} // the device's keep-alive interval elapses
	select {
	case cookie := <-conn.DeviceKeepAlives():
		assert.Equal(t, uint32(1), cookie)
	case <-time.After(10 * time.Second):
		t.Fatal("the device sent no keep-alive")
	}

	for _, e := range r.d.CIRAEvents() {
		t.Log("device:", e)
	}
	for _, l := range r.mps.Log() {
		t.Log("mps:", l)
	}
	log := strings.Join(r.mps.Log(), "\n")
	assert.Contains(t, log, "USERAUTH_REQUEST user \"mpsuser\" service pfwd@amt.intel.com method password")
	assert.NotContains(t, log, mpsPass, "the password is never logged")
	for _, e := range r.d.CIRAEvents() {
		assert.NotContains(t, e.String(), mpsPass)
	}
}

// Attack: an MPS whose certificate does not chain to the root the device was
// given, or that names another host, gets no tunnel; a wrong password is
// refused by the MPS and the device does not connect.
func TestCIRARefusesUntrustedMPS(t *testing.T) {
	keys := certstest.NewKeyPool()
	other := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Impostor Root", Keys: keys})
	wrongCA, err := apftest.NewMPSCertificate(other, keys, mpsName)
	require.NoError(t, err)
	tests := []struct {
		name  string
		mps   func(t *testing.T, r *ciraRig) apftest.MPSConfig
		cfg   apftest.MPSConfig
		step  string
		reads string
	}{
		{name: "certificate from another root", cfg: apftest.MPSConfig{Certificate: wrongCA, Username: mpsUser, Password: amt.NewSecret(mpsPass)},
			step: "tls", reads: "certificate signed by unknown authority"},
		{name: "wrong password", cfg: apftest.MPSConfig{Username: mpsUser, Password: amt.NewSecret("Other-P4ss!word")},
			step: "protocol", reads: "refused user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			r := newCIRARig(t, tc.cfg, nil)
			r.configure(t, ctx)
			require.Eventually(t, func() bool {
				return slices.ContainsFunc(r.d.CIRAEvents(), func(e amtsim.CIRAEvent) bool { return e.Step == tc.step && e.Err != nil })
			}, 10*time.Second, 5*time.Millisecond)
			assert.False(t, r.d.CIRAConnected())
			var failed amtsim.CIRAEvent
			for _, e := range r.d.CIRAEvents() {
				if e.Step == tc.step && e.Err != nil {
					failed = e
				}
			}
			assert.Contains(t, failed.Err.Error(), tc.reads)
			actx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := r.mps.Accept(actx)
			assert.ErrorIs(t, err, context.DeadlineExceeded, "no tunnel came up")
		})
	}
	t.Run("another name", func(t *testing.T) {
		ctx := t.Context()
		r := newCIRARig(t, apftest.MPSConfig{}, nil)
		_, err := r.dev.AddTrustedRootCertificate(ctx, r.root)
		require.NoError(t, err)
		name, err := r.dev.AddMPServer(ctx, amt.AddMPServerRequest{AccessInfo: "127.0.0.1", Port: r.mps.Port(), AuthMethod: amt.MPSPasswordAuth,
			Username: mpsUser, Password: amt.NewSecret(mpsPass), CN: "mps.fabrikam.test"})
		require.NoError(t, err)
		_, err = r.dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(25)}, name)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			return slices.ContainsFunc(r.d.CIRAEvents(), func(e amtsim.CIRAEvent) bool {
				return e.Step == "tls" && e.Err != nil && strings.Contains(e.Err.Error(), "mps.fabrikam.test")
			})
		}, 10*time.Second, 5*time.Millisecond, "%v", r.d.CIRAEvents())
		assert.False(t, r.d.CIRAConnected())
	})
}

// Environment detection: inside a home domain an external MPS is not called;
// an MPS of type "both" (RPS) is.
func TestCIRAEnvironmentDetection(t *testing.T) {
	ctx := t.Context()
	r := newCIRARig(t, apftest.MPSConfig{}, func(c *amtsim.Config) { c.DHCPDNSSuffix = "office.contoso.com" })
	name := r.configure(t, ctx)
	env, err := r.dev.EnvironmentDetection(ctx)
	require.NoError(t, err)
	env.DetectionStrings = []string{"contoso.com"}
	_, err = r.dev.PutEnvironmentDetection(ctx, env)
	require.NoError(t, err)
	// The first configuration (home domain random) may have connected
	// already; it is closed now that the device is inside.
	require.Eventually(t, func() bool { return !r.d.CIRAConnected() && idleInside(r.d) }, 10*time.Second, 5*time.Millisecond, "%v", r.d.CIRAEvents())

	links, err := r.dev.RemoteAccessPolicyAppliesToMPS(ctx)
	require.NoError(t, err)
	require.Len(t, links, 1)
	assert.Equal(t, name, links[0].MPServerName())
	links[0].MpsType = amt.MPSBoth
	require.NoError(t, r.dev.PutRemoteAccessPolicyAppliesToMPS(ctx, links[0]))
	conn := r.accept(t, ctx)
	for conn.Peer.UUID != r.d.UUID() {
		conn = r.accept(t, ctx)
	}
	require.Eventually(t, r.d.CIRAConnected, 10*time.Second, 5*time.Millisecond)
}

func idleInside(d *amtsim.Device) bool {
	return slices.ContainsFunc(d.CIRAEvents(), func(e amtsim.CIRAEvent) bool {
		return e.Step == "idle" && strings.Contains(e.Detail, "inside")
	})
}

// A user-initiated connection replaces the periodic one; an unprovision
// erases the configuration and ends the tunnel.
func TestCIRAUserInitiatedAndUnprovision(t *testing.T) {
	ctx := t.Context()
	r := newCIRARig(t, apftest.MPSConfig{}, nil)
	name := r.configure(t, ctx)
	first := r.accept(t, ctx)
	assert.Equal(t, apf.TriggerPeriodic, first.Peer.Trigger)

	err := r.d.CIRAUserInitiated(ctx)
	require.ErrorIs(t, err, amtsim.ErrCIRA, "the service is disabled by default")
	require.NoError(t, r.dev.SetUserInitiatedConnection(ctx, amt.UserInitiatedBIOSAndOS))
	err = r.d.CIRAUserInitiated(ctx)
	require.ErrorIs(t, err, amtsim.ErrCIRA, "no user-initiated policy yet")
	_, err = r.dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerUserInitiated, TunnelLifeTime: 300}, name)
	require.NoError(t, err)
	require.NoError(t, r.d.CIRAUserInitiated(ctx))
	user := r.accept(t, ctx)
	assert.Equal(t, apf.TriggerUserInitiated, user.Peer.Trigger)
	waitClosed(t, r, first, "the periodic tunnel, replaced by the user's")

	st := r.d.CIRA()
	assert.Len(t, st.MPS, 1)
	assert.ElementsMatch(t, []string{"Periodic", "User Initiated"}, st.Policies)
	rv, _ := invoke(t, r.c, uriSetup, "Unprovision", wsman.Prop("ProvisioningMode", "1"))
	require.Zero(t, rv)
	waitClosed(t, r, user, "the tunnel of an unprovisioned device")
	require.Eventually(t, func() bool { return !r.d.CIRAConnected() }, 10*time.Second, 5*time.Millisecond)
	st = r.d.CIRA()
	assert.Empty(t, st.MPS, "an unprovision erases the CIRA configuration")
	assert.Empty(t, st.Policies)
}

// The firmware's rules for AddMpServer, AddRemoteAccessPolicyRule and the
// environment detection settings.
func TestCIRAFirmwareRules(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	_, c := provisioned(t, keys, pc, nil)
	ctx := t.Context()
	dev := amt.NewDevice(c)
	ok := amt.AddMPServerRequest{AccessInfo: "mps.contoso.com", Port: 4433, AuthMethod: amt.MPSPasswordAuth, Username: mpsUser, Password: amt.NewSecret(mpsPass)}
	name, err := dev.AddMPServer(ctx, ok)
	require.NoError(t, err)
	assert.Equal(t, "Intel(r) AMT:Management Presence Server 0", name)
	_, err = dev.AddMPServer(ctx, ok)
	assert.ErrorIs(t, err, amt.StatusDuplicate, "the same address and port")

	raw := func(props ...wsman.Property) uint32 {
		rv, _ := invoke(t, c, uriRemoteAccess, "AddMpServer", props...)
		return rv
	}
	base := func(access, format, user, pw string) []wsman.Property {
		return []wsman.Property{wsman.Prop("AccessInfo", access), wsman.Prop("InfoFormat", format), wsman.Prop("Port", "4433"),
			wsman.Prop("AuthMethod", "2"), wsman.Prop("Username", user), wsman.Prop("Password", pw)}
	}
	assert.Equal(t, uint32(amt.StatusInvalidParameter), raw(base("mps.example", "4", "u", mpsPass)...), "a name given as IPv6")
	assert.Equal(t, uint32(amt.StatusInvalidParameter), raw(base("mps.example", "5", "u", mpsPass)...), "an unknown format")
	assert.Equal(t, uint32(amt.StatusInvalidName), raw(base("a.example", "201", "seventeen-chars-x", mpsPass)...))
	assert.Equal(t, uint32(amt.StatusInvalidPassword), raw(base("a.example", "201", "u", "Weak")...))
	assert.Equal(t, uint32(amt.StatusInvalidPassword), raw(base("a.example", "201", "u", "Longer-Than-16-chars!")...), "8 to 16 characters")
	assert.Zero(t, raw(base("10.0.0.1", "201", "u", mpsPass)...), "an IPv4 address given as FQDN, as RPS allows")
	assert.Zero(t, raw(base("mps.example", "3", "u", mpsPass)...), "a host name given as IPv4, as rpc-go sends every address")
	for i := 3; i < 6; i++ {
		assert.Zero(t, raw(base(fmt.Sprintf("m%d.example", i), "201", "u", mpsPass)...))
	}
	assert.Equal(t, uint32(amt.StatusMaxLimitReached), raw(base("m9.example", "201", "u", mpsPass)...), "six MPSs at most")

	_, err = dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(60)}, name)
	require.NoError(t, err)
	_, err = dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(30)}, name)
	assert.ErrorIs(t, err, amt.StatusDuplicate, "one rule per trigger")
	_, err = dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerAlert}, "Intel(r) AMT:Management Presence Server 42")
	assert.ErrorIs(t, err, amt.StatusInvalidParameter, "an MPS that does not exist")
	rv, _ := invoke(t, c, uriRemoteAccess, "AddRemoteAccessPolicyRule", wsman.Prop("Trigger", "1"), wsman.Prop("TunnelLifeTime", "0"),
		wsman.Prop("ExtendedData", b64([]byte{1})), wsman.PropEPR("MpServer", wsman.EPR{ResourceURI: uriMPSSAP, Selectors: wsman.SelectorSet{wsman.Sel("Name", name)}}))
	assert.Equal(t, uint32(amt.StatusInvalidParameter), rv, "extended data only for periodic rules")

	rules, err := dev.RemoteAccessPolicyRules(ctx)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	assert.Equal(t, "Periodic", rules[0].PolicyRuleName)
	// An MPS a policy links to is not deleted (Intel AMT SDK, Remove a
	// Management Presence Server): the policy goes first.
	assert.ErrorIs(t, dev.DeleteMPServer(ctx, name), amt.StatusNotPermitted)
	links, err := dev.RemoteAccessPolicyAppliesToMPS(ctx)
	require.NoError(t, err)
	assert.Len(t, links, 1, "the refused delete left the link")
	require.NoError(t, dev.DeleteRemoteAccessPolicyRule(ctx, "Periodic"))
	links, err = dev.RemoteAccessPolicyAppliesToMPS(ctx)
	require.NoError(t, err)
	assert.Empty(t, links, "deleting the policy removes its links")
	require.NoError(t, dev.DeleteMPServer(ctx, name))

	// Environment detection: Put needs the InstanceID selector.
	env, err := dev.EnvironmentDetection(ctx)
	require.NoError(t, err)
	assert.Empty(t, env.DetectionStrings)
	_, err = c.Put(ctx, uriEnvironmentSD, nil, wsman.NewInstance(uriEnvironmentSD, wsman.Prop("DetectionStrings", "contoso.com")))
	assert.ErrorIs(t, err, wsman.ErrInvalidSelectors)
	env.DetectionStrings = []string{"contoso.com", "fabrikam.com"}
	out, err := dev.PutEnvironmentDetection(ctx, env)
	require.NoError(t, err)
	assert.Equal(t, []string{"contoso.com", "fabrikam.com"}, out.DetectionStrings)
}

const (
	uriRemoteAccess  = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RemoteAccessService"
	uriMPSSAP        = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_ManagementPresenceRemoteSAP"
	uriEnvironmentSD = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EnvironmentDetectionSettingData"
)

// A device with mutual authentication presents the certificate named in
// AddMpServer and sends no password.
func TestCIRAMutualAuthentication(t *testing.T) {
	ctx := t.Context()
	keys := certstest.NewKeyPool()
	clientCA := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso CIRA client CA", Keys: keys})
	r := newCIRARig(t, apftest.MPSConfig{ClientCAs: clientCA.Pool()}, nil)
	// A key generated in AMT and its certificate from the client CA.
	id, err := r.dev.GenerateKeyPair(ctx, amt.KeyAlgorithmRSA, 2048)
	require.NoError(t, err)
	kp, err := r.dev.KeyPair(ctx, id)
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	leaf, err := clientCA.IssueCert(&x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, pub)
	require.NoError(t, err)
	certID, err := r.dev.AddCertificate(ctx, leaf)
	require.NoError(t, err)
	_, err = r.dev.AddTrustedRootCertificate(ctx, r.root)
	require.NoError(t, err)
	name, err := r.dev.AddMPServer(ctx, amt.AddMPServerRequest{AccessInfo: "127.0.0.1", Port: r.mps.Port(), AuthMethod: amt.MPSMutualAuth, Certificate: certID, CN: mpsName})
	require.NoError(t, err)
	_, err = r.dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(25)}, name)
	require.NoError(t, err)
	conn := r.accept(t, ctx)
	require.Len(t, conn.TLS.PeerCertificates, 1)
	assert.Equal(t, leaf.Raw, conn.TLS.PeerCertificates[0].Raw)
	assert.Empty(t, conn.User)
}

// The CIRA listener of the test MPS serves TLS only to devices; a plain TCP
// client that never speaks TLS does not stop it.
func TestMPSRefusesNonTLS(t *testing.T) {
	r := newCIRARig(t, apftest.MPSConfig{}, nil)
	nc, err := net.Dial("tcp", r.mps.Addr())
	require.NoError(t, err)
	_, _ = nc.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	_ = nc.Close()
	tc, err := tls.Dial("tcp", r.mps.Addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the MPS's TLS, not its trust
	require.NoError(t, err)
	_ = tc.Close()
	require.Eventually(t, func() bool { return len(r.mps.Log()) >= 2 }, 5*time.Second, 5*time.Millisecond)
}

// TestCIRAChannelDuringForwards: an MPS that opens a channel to 16993 as soon
// as it acknowledged that port's forward, before the device forwarded the
// others, gets the channel confirmed and the remaining forwards after it —
// the device does not take the early CHANNEL_OPEN for a protocol error. A
// hand-driven MPS fixes the order.
// rawMPS points the rig's device at a bare TLS listener and returns the
// accepted tunnel's writer and reader, for tests that play the MPS message by
// message.
func rawMPS(t *testing.T, r *ciraRig) (send func(apf.Message), next func() apf.Message) {
	t.Helper()
	ctx := t.Context()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{r.mpsCert}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	_, err = r.dev.AddTrustedRootCertificate(ctx, r.root)
	require.NoError(t, err)
	name, err := r.dev.AddMPServer(ctx, amt.AddMPServerRequest{AccessInfo: "127.0.0.1", Port: port, AuthMethod: amt.MPSPasswordAuth,
		Username: mpsUser, Password: amt.NewSecret(mpsPass), CN: mpsName})
	require.NoError(t, err)
	_, err = r.dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(25)}, name)
	require.NoError(t, err)

	raw, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	require.NoError(t, raw.SetDeadline(time.Now().Add(20*time.Second)))
	st := apf.NewStreamTransport(raw, 0)
	st.ExpectRequestSuccess(4) // the forwards' replies carry their port
	send = func(m apf.Message) {
		b, err := m.AppendBinary(nil)
		require.NoError(t, err)
		require.NoError(t, st.WriteMessage(ctx, b))
	}
	next = func() apf.Message {
		b, err := st.ReadMessage(ctx)
		require.NoError(t, err)
		m, err := apf.Decode(b)
		require.NoError(t, err)
		return m
	}
	return send, next
}

// acceptDevice plays the MPS's side from the device's SERVICE_REQUEST for
// authentication to its SERVICE_REQUEST for port forwarding, accepting both.
func acceptDevice(t *testing.T, send func(apf.Message), next func() apf.Message) {
	t.Helper()
	require.Equal(t, apf.ServiceRequest{Service: apf.ServiceAuth}, next())
	send(apf.ServiceAccept{Service: apf.ServiceAuth})
	require.IsType(t, apf.UserAuthRequest{}, next())
	send(apf.UserAuthSuccess{})
	require.Equal(t, apf.ServiceRequest{Service: apf.ServicePortForwarding}, next())
	send(apf.ServiceAccept{Service: apf.ServicePortForwarding})
}

// TestCIRALateMPSVersion: an MPS whose PROTOCOL_VERSION leaves its queue
// only after it answered every forward (our apf.Session, whose version is
// queued while the forwards are answered at once, did so under the race
// detector in CI) keeps its tunnel: the version is informational.
func TestCIRALateMPSVersion(t *testing.T) {
	r := newCIRARig(t, apftest.MPSConfig{}, nil)
	send, next := rawMPS(t, r)
	require.IsType(t, apf.ProtocolVersion{}, next())
	acceptDevice(t, send, next)
	for port := uint32(0); port != 5900; {
		fw := next().(apf.GlobalRequest)
		port = fw.Port
		send(apf.TCPForwardSuccess(port))
	}
	require.Eventually(t, r.d.CIRAConnected, 5*time.Second, 5*time.Millisecond, "%v", r.d.CIRAEvents())
	send(apf.ProtocolVersion{Major: 1})
	send(apf.KeepAliveRequest{Cookie: 7})
	assert.Equal(t, apf.KeepAliveReply{Cookie: 7}, next(), "the tunnel outlives the late version")
	assert.True(t, r.d.CIRAConnected())
}

func TestCIRAChannelDuringForwards(t *testing.T) {
	r := newCIRARig(t, apftest.MPSConfig{}, nil)
	send, next := rawMPS(t, r)
	send(apf.ProtocolVersion{Major: 1})
	require.IsType(t, apf.ProtocolVersion{}, next())
	acceptDevice(t, send, next)

	var forwarded []uint32
	fw := next().(apf.GlobalRequest)
	require.Equal(t, uint32(16993), fw.Port)
	forwarded = append(forwarded, fw.Port)
	send(apf.TCPForwardSuccess(fw.Port))
	// At once, before the device's next forward: a channel to 16993.
	send(apf.ChannelOpen{ChannelType: apf.ChannelForwarded, Sender: 1, Window: 4096, Address: "127.0.0.1", Port: 16993, OriginAddress: "127.0.0.1", OriginPort: 40000})
	confirmed := false
	for forwarded[len(forwarded)-1] != 5900 || !confirmed { // 5900 is the last forward
		switch m := next().(type) {
		case apf.GlobalRequest:
			require.Equal(t, apf.RequestTCPForward, m.Name)
			forwarded = append(forwarded, m.Port)
			send(apf.TCPForwardSuccess(m.Port))
		case apf.ChannelOpenConfirmation:
			assert.Equal(t, uint32(1), m.Recipient)
			confirmed = true
		default:
			t.Fatalf("unexpected %v", m.Type())
		}
	}
	assert.Equal(t, []uint32{16993, 16992, 664, 623, 16995, 16994, 5900}, forwarded, "every forward (16992: this device's non-TLS port is open), the channel served in between")
	require.Eventually(t, r.d.CIRAConnected, 5*time.Second, 5*time.Millisecond, "%v", r.d.CIRAEvents())
	for _, e := range r.d.CIRAEvents() {
		assert.NoError(t, e.Err, "%v", e)
	}
}

// TestCIRAPolicyReplaced: a periodic policy deleted and added again (as a
// reconcile changing its interval does) ends the tunnel, however quickly the
// two calls follow each other, and the device calls again under the new one.
// (Before, a device that looked only after both calls kept its tunnel, and a
// test waiting for the reconnection hung now and then.)
func TestCIRAPolicyReplaced(t *testing.T) {
	ctx := t.Context()
	r := newCIRARig(t, apftest.MPSConfig{}, nil)
	name := r.configure(t, ctx)
	first := r.accept(t, ctx)
	rules, err := r.dev.RemoteAccessPolicyRules(ctx)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	require.NoError(t, r.dev.DeleteRemoteAccessPolicyRule(ctx, rules[0].PolicyRuleName))
	_, err = r.dev.AddRemoteAccessPolicyRule(ctx, amt.RemoteAccessPolicy{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(60)}, name)
	require.NoError(t, err)
	select {
	case <-first.Session.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel of the deleted policy stayed up")
	}
	again := r.accept(t, ctx)
	assert.Equal(t, r.d.UUID(), again.Peer.UUID)
}

// waitClosed waits (boundedly) for the MPS's side of a tunnel to end.
func waitClosed(t *testing.T, r *ciraRig, c *apftest.MPSConn, what string) {
	t.Helper()
	select {
	case <-c.Session.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s stayed up: %v", what, r.d.CIRAEvents())
	}
}
