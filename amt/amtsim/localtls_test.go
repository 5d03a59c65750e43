package amtsim_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
)

func enforced(version string, pc *certstest.ProvisioningChain) amtsim.Config {
	cfg := trusting(pc)
	cfg.Version = amt.MustParseVersion(version)
	cfg.LocalTLSEnforced = true
	return cfg
}

func leafHash(t *testing.T, c *x509.Certificate) amt.CertHash {
	t.Helper()
	h, err := pthi.LeafHash(c)
	require.NoError(t, err)
	return h
}

// localHandshake dials the local TLS port with the given client chain (nil: none)
// and returns the server's chain or the handshake error.
func localHandshake(t *testing.T, d *amtsim.Device, client *tls.Certificate) ([]*x509.Certificate, error) {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test inspects the chain itself
	if client != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return client, nil }
	}
	conn, err := tls.DialWithDialer(&net.Dialer{}, "tcp", d.LocalTLSAddr(), cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// TLS 1.3 reports a refused client certificate on the first read.
	_ = conn.SetReadDeadline(timeSoon())
	if _, err := conn.Write([]byte("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return nil, err
	}
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil && !errors.Is(err, errTimeout) {
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) {
			return nil, err
		}
	}
	return conn.ConnectionState().PeerCertificates, nil
}

// The local TLS port's chain has the shape of Intel's On-Die chains (rpc-go
// pull request 1329): six certificates, "AMT RCFG" leaf with a critical
// serverAuth EKU, a ROM CA issued by an "ODCA 2 CSME P_…" CA; a fresh leaf for
// every StartConfigurationHBased (rpc-go issue 355).
func TestLocalOnDieChainShape(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d := start(t, enforced("19.0.5", pc))
	ca, err := d.LocalOnDieCA()
	require.NoError(t, err)

	standing, err := localHandshake(t, d, nil)
	require.NoError(t, err, "TLS-enforced platforms serve the local port in pre-provisioning without a client certificate")
	require.Len(t, standing, 6)
	names := make([]string, len(standing))
	for i, c := range standing {
		names[i] = c.Subject.CommonName
	}
	assert.Equal(t, []string{"AMT RCFG", "ODCA 2 CSME LNL SOC SVN 01 AMT   CA", "ODCA 2 CSME LNL SOC SVN 01 Kernel CA", "ODCA 2 CSME LNL SOC ROM CA", "www.intel.com", "www.intel.com"}, names)
	assert.Equal(t, []string{"ODCA 2 CSME P_LNL SOC 00003648 ZE Issuing CA"}, standing[3].Issuer.OrganizationalUnit)
	leaf := standing[0]
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), Intermediates: poolOf(standing[1:]...), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, leaf.ExtKeyUsage)
	assert.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, leaf.KeyUsage)
	for _, e := range leaf.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			assert.True(t, e.Critical, "EKU critical as in Intel's leaf")
		}
	}
	assert.NotEmpty(t, leaf.CRLDistributionPoints)
	id, err := d.HardwareID()
	require.NoError(t, err)
	rom := sha256.Sum256(standing[3].Raw)
	assert.Equal(t, rom[:20], id)

	// StartConfigurationHBased: a fresh leaf each time, and its hash.
	agent := d.Agent()
	h1, err := agent.StartSecureConfiguration(t.Context(), leafHash(t, pc.Chain[0]))
	require.NoError(t, err)
	h2, err := agent.StartSecureConfiguration(t.Context(), leafHash(t, pc.Chain[0]))
	require.NoError(t, err, "a second start re-arms")
	assert.False(t, h1.Equal(h2), "a fresh leaf for every StartConfigurationHBased")
	cert := tlsCert(pc)
	armed, err := localHandshake(t, d, &cert)
	require.NoError(t, err)
	got, err := h2.Alg.Sum(armed[0].Raw)
	require.NoError(t, err)
	assert.True(t, got.Equal(h2), "the port presents the leaf whose hash the firmware returned")
}

func poolOf(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

// StartConfigurationHBased's refusals.
func TestStartConfigurationHBasedRefusals(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	h := sha256Of(pc.Chain[0])
	tests := []struct {
		name  string
		cfg   amtsim.Config
		setup func(t *testing.T, d *amtsim.Device)
		want  amt.Status
	}{
		{name: "no secure host-based configuration before 15", cfg: amtsim.Config{Version: amt.MustParseVersion("12.0.45")}, want: amt.StatusInvalidPTMode},
		{name: "a 16.1 platform without an On-Die certificate", cfg: amtsim.Config{Version: amt.MustParseVersion("16.1.25")}, want: amt.StatusInvalidPTMode},
		{name: "AMT disabled", cfg: amtsim.Config{Version: amt.MustParseVersion("19.0.5"), AMTDisabled: true}, want: amt.StatusInvalidPTMode},
		{name: "remote configuration already started", cfg: amtsim.Config{Version: amt.MustParseVersion("19.0.5")},
			setup: func(t *testing.T, d *amtsim.Device) {
				require.NoError(t, d.Agent().StartConfigurationEx(t.Context(), false))
			},
			want: amt.StatusInvalidProvisioningState},
		{name: "provisioned", cfg: amtsim.Config{Version: amt.MustParseVersion("19.0.5")},
			setup: func(t *testing.T, d *amtsim.Device) {
				c := localClient(t, d)
				rv, _ := invoke(t, c, uriHBS, "Setup", wsman.Prop("NetAdminPassEncryptionType", "2"), wsman.Prop("NetworkAdminPassword", hexA1("admin", d.DigestRealm(), adminPW)))
				require.Zero(t, rv)
			},
			want: amt.StatusInvalidProvisioningState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := start(t, tt.cfg)
			if tt.setup != nil {
				tt.setup(t, d)
			}
			before := d.Snapshot().ProvisioningState
			_, err := d.Agent().StartSecureConfiguration(t.Context(), h)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, before, d.Snapshot().ProvisioningState)
		})
	}
	// An unknown hash algorithm (built by hand: the client refuses to send it).
	d := start(t, amtsim.Config{Version: amt.MustParseVersion("19.0.5")})
	req, err := pthi.EncodeRequest(pthi.CmdStartConfigurationHBased, append([]byte{1}, make([]byte, 389)...))
	require.NoError(t, err)
	resp, err := d.MEI().Send(t.Context(), req)
	require.NoError(t, err)
	_, err = pthi.DecodeResponse(pthi.CmdStartConfigurationHBased, resp)
	require.ErrorIs(t, err, amt.StatusInvalidParameter)
}

// The local TLS port: closed before provisioning on a platform that does not
// enforce local TLS until StartConfigurationHBased arms it; then it requires
// the provisioning chain whose leaf was named, checked by the remote
// configuration rules.
func TestLocalTLSPortSecureHostBased(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	other := chainFor(t, keys, certstest.ProvisioningOptions{NoIntermediate: true})
	cfg := trusting(pc)
	cfg.Version, cfg.OnDie = amt.MustParseVersion("19.0.5"), true
	d := start(t, cfg)
	_, err := d.PresentedCertificate()
	require.Error(t, err, "PresentedCertificate is for a provisioned device")

	_, err = localHandshake(t, d, nil)
	require.Error(t, err, "not served before StartConfigurationHBased where local TLS is not enforced")

	_, err = d.Agent().StartSecureConfiguration(t.Context(), leafHash(t, pc.Chain[0]))
	require.NoError(t, err)
	assert.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState)

	_, err = localHandshake(t, d, nil)
	require.Error(t, err, "a client certificate is required")
	oc := tlsCert(other)
	_, err = localHandshake(t, d, &oc)
	require.Error(t, err, "another provisioning chain than the one named")
	hs := d.Snapshot().Handshakes
	require.NotEmpty(t, hs)
	assert.Equal(t, "secure host-based configuration", hs[len(hs)-1].Mode)
	assert.ErrorIs(t, hs[len(hs)-1].Err, &amtsim.RuleError{Rule: amtsim.RuleChain})

	// The named chain: the configuration server's session, admin control once
	// it speaks, still in provisioning.
	c, err := wsman.New(d.LocalTLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithClientCertificate(tlsCert(pc)),
		wsman.WithDigestAuth("admin", "anything"))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	f := get(t, c, uriGen)
	assert.Equal(t, []string{d.DigestRealm()}, f["DigestRealm"])
	s := d.Snapshot()
	assert.Equal(t, amt.ControlModeACM, s.ControlMode)
	assert.Equal(t, amt.InProvisioning, s.ProvisioningState)

	// CommitChanges wants the MEBx password changed first (2057).
	rv, _ := invoke(t, c, uriSetup, "CommitChanges")
	assert.Equal(t, uint32(amt.StatusDataMissing), rv)
	rv, _ = invoke(t, c, uriSetup, "SetMEBxPassword", wsman.Prop("Password", "Mebx-P4ss!"))
	require.Zero(t, rv)
	_, err = c.Invoke(t.Context(), uriSetup, "CommitChanges", nil, wsman.NewInput(uriSetup, "CommitChanges"))
	require.ErrorIs(t, err, wsman.ErrResponseLost, "AMT 19 drops the commit's reply")
	s = d.Snapshot()
	assert.Equal(t, amt.PostProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeACM, s.ControlMode)
	require.NotNil(t, s.Record)
	assert.Equal(t, "secure host-based configuration", s.Record.Method)

	// Provisioned: the local port presents, to a client without a
	// certificate, the certificate PresentedCertificate names (what an
	// operator pins to deactivate over it).
	pres, err := d.PresentedCertificate()
	require.NoError(t, err)
	chain, err := localHandshake(t, d, nil)
	require.NoError(t, err)
	assert.Equal(t, pres.Raw, chain[0].Raw)
}

// A secure host-based activation whose commit halts it (admin control mode,
// still in provisioning: rpc-go issue 1461) keeps a mutual-TLS local port: a
// client without a certificate — a deactivation tool with the admin password
// — fails the handshake ("tls: certificate required", rpc-go commit
// d8afbf0a); the configuration server's chain still gets through. Before, the
// halted port served its standing leaf to anyone and answered 401.
func TestLocalTLSPortHaltedActivation(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	for _, v := range []string{"19.0.5", "21.0.6"} {
		t.Run(v, func(t *testing.T) {
			cfg := enforced(v, pc)
			cfg.Behavior.HaltActivation = true
			cfg.Behavior.FirstRequestDrop = amtsim.Off // not what this test is about
			d := start(t, cfg)
			_, err := d.Agent().StartSecureConfiguration(t.Context(), leafHash(t, pc.Chain[0]))
			require.NoError(t, err)
			c, err := wsman.New(d.LocalTLSEndpoint(), wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithClientCertificate(tlsCert(pc)),
				wsman.WithDigestAuth("admin", "anything"))
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			rv, _ := invoke(t, c, uriSetup, "SetMEBxPassword", wsman.Prop("Password", "Mebx-P4ss!"))
			require.Zero(t, rv)
			_, _ = c.Invoke(t.Context(), uriSetup, "CommitChanges", nil, wsman.NewInput(uriSetup, "CommitChanges"))
			s := d.Snapshot()
			require.Equal(t, amt.InProvisioning, s.ProvisioningState, "halted")
			require.Equal(t, amt.ControlModeACM, s.ControlMode)

			_, err = localHandshake(t, d, nil)
			require.Error(t, err, "the halted device's local port wants a client certificate")
			cert := tlsCert(pc)
			_, err = localHandshake(t, d, &cert)
			require.NoError(t, err, "the configuration server's chain")
		})
	}
}

// StopConfiguration: in provisioning back to pre-provisioning; otherwise
// PT_STATUS_INVALID_PT_MODE (what MeshCentral expects).
func TestStopConfiguration(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d := start(t, enforced("21.0.6", pc))
	agent := d.Agent()
	require.ErrorIs(t, agent.StopConfiguration(t.Context()), amt.StatusInvalidPTMode)
	_, err := agent.StartSecureConfiguration(t.Context(), leafHash(t, pc.Chain[0]))
	require.NoError(t, err)
	require.NoError(t, agent.StopConfiguration(t.Context()))
	s := d.Snapshot()
	assert.Equal(t, amt.PreProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeNone, s.ControlMode)
	cert := tlsCert(pc)
	_, err = localHandshake(t, d, &cert)
	require.NoError(t, err, "the standing leaf again, no client certificate needed")
}

// PTHI Unprovision: client control mode yes, admin control mode no
// (PT_STATUS_INVALID_PT_MODE, rpc-go pkg/pthi Unprovision), an ACM device
// halted in provisioning answers with the state unchanged (the answer rpc-go's
// recovery meets with StopConfiguration).
func TestUnprovisionOverMEI(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	setup := func(t *testing.T, d *amtsim.Device) {
		rv, _ := invoke(t, localClient(t, d), uriHBS, "Setup", wsman.Prop("NetAdminPassEncryptionType", "2"), wsman.Prop("NetworkAdminPassword", hexA1("admin", d.DigestRealm(), adminPW)))
		require.Zero(t, rv)
	}
	t.Run("pre-provisioning", func(t *testing.T) {
		d := start(t, amtsim.Config{})
		require.ErrorIs(t, d.Agent().Unprovision(t.Context()), amt.StatusInvalidPTMode)
	})
	t.Run("client control mode", func(t *testing.T) {
		d := start(t, amtsim.Config{})
		setup(t, d)
		require.Equal(t, amt.ControlModeCCM, d.Snapshot().ControlMode)
		require.NoError(t, d.Agent().Unprovision(t.Context()))
		s := d.Snapshot()
		assert.Equal(t, amt.PreProvisioning, s.ProvisioningState)
		assert.Equal(t, amt.ControlModeNone, s.ControlMode)
	})
	t.Run("admin control mode", func(t *testing.T) {
		d := start(t, trusting(pc))
		c := localClient(t, d)
		injectChain(t, c, pc.Chain)
		n, mc := configurationNonce(t, c), mcNonce(t)
		rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
		require.Zero(t, rv)
		require.ErrorIs(t, d.Agent().Unprovision(t.Context()), amt.StatusInvalidPTMode)
		assert.Equal(t, amt.ControlModeACM, d.Snapshot().ControlMode)
	})
	t.Run("admin control mode halted in provisioning", func(t *testing.T) {
		cfg := trusting(pc)
		cfg.Behavior.HaltActivation = true
		d := start(t, cfg)
		c := localClient(t, d)
		injectChain(t, c, pc.Chain)
		n, mc := configurationNonce(t, c), mcNonce(t)
		rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
		require.Zero(t, rv)
		require.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState)
		require.ErrorIs(t, d.Agent().Unprovision(t.Context()), pthi.ErrUnprovisionIncomplete)
		require.NoError(t, d.Agent().StopConfiguration(t.Context()))
		assert.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
	})
}

// AMT's operational state: a platform shipped with AMT disabled answers no
// WS-Man connection until a local agent enables it in pre-provisioning (rpc-go
// issue 249).
func TestOperationalState(t *testing.T) {
	d := start(t, amtsim.Config{Version: amt.MustParseVersion("19.0.5"), AMTDisabled: true})
	agent := d.Agent()
	f, err := agent.ChangeEnabled(t.Context())
	require.NoError(t, err)
	assert.True(t, f.NewInterface())
	assert.False(t, f.AMTEnabled())
	assert.False(t, f.TLSEnforcedOnLocalPorts())
	c := localClient(t, d)
	_, err = c.Get(t.Context(), uriGen, nil)
	require.Error(t, err, "no WS-Man while AMT is disabled")

	changed, err := agent.EnsureAMTEnabled(t.Context())
	require.NoError(t, err)
	assert.True(t, changed)
	f, err = agent.ChangeEnabled(t.Context())
	require.NoError(t, err)
	assert.True(t, f.AMTEnabled())
	get(t, localClient(t, d), uriGen)

	// Only in pre-provisioning.
	rv, _ := invoke(t, localClient(t, d), uriHBS, "Setup", wsman.Prop("NetAdminPassEncryptionType", "2"), wsman.Prop("NetworkAdminPassword", hexA1("admin", d.DigestRealm(), adminPW)))
	require.Zero(t, rv)
	require.ErrorIs(t, agent.SetOperationalState(t.Context(), false), amt.StatusInvalidPTMode)

	// Before 16.1: the old interface, no SetAmtOperationalState.
	old := start(t, amtsim.Config{Version: amt.MustParseVersion("15.0.41")})
	_, err = old.Agent().EnsureAMTEnabled(t.Context())
	require.ErrorIs(t, err, pthi.ErrOperationalStateUnsupported)
	_, err = amtsim.New(amtsim.Config{Version: amt.MustParseVersion("15.0.41"), AMTDisabled: true})
	require.ErrorIs(t, err, amtsim.ErrConfig)
}

// A platform that enforces TLS on its local ports: no non-TLS port, bit 6 in
// the watchdog flags, AdminSetup gone, Setup waits for the admin's commit.
func TestLocalTLSEnforced(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d := start(t, enforced("19.0.5", pc))
	f, err := d.Agent().ChangeEnabled(t.Context())
	require.NoError(t, err)
	assert.True(t, f.TLSEnforcedOnLocalPorts())
	_, err = localClient(t, d).Get(t.Context(), uriGen, nil)
	require.Error(t, err, "the non-TLS port is closed")

	user, pw := d.LocalSystemAccount()
	lsa := adminClient(t, d.LocalTLSEndpoint(), user, pw.Reveal())
	injectChain(t, lsa, pc.Chain)
	n, mc := configurationNonce(t, lsa), mcNonce(t)
	rv, _ := invoke(t, lsa, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
	assert.Equal(t, uint32(4), rv, "AdminSetup is removed where local TLS is enforced")

	rv, _ = invoke(t, lsa, uriHBS, "Setup", wsman.Prop("NetAdminPassEncryptionType", "2"), wsman.Prop("NetworkAdminPassword", hexA1("admin", d.DigestRealm(), adminPW)))
	require.Zero(t, rv)
	s := d.Snapshot()
	assert.Equal(t, amt.PreProvisioning, s.ProvisioningState, "Setup waits for CommitChanges (rpc-go issue 845)")
	assert.Equal(t, amt.ControlModeCCM, s.ControlMode)
	rv, _ = invoke(t, lsa, uriSetup, "CommitChanges")
	assert.Equal(t, uint32(amt.StatusNotPermitted), rv, "not as the local system account")
	admin := adminClient(t, d.LocalTLSEndpoint(), "admin", adminPW)
	_, err = admin.Invoke(t.Context(), uriSetup, "CommitChanges", nil, wsman.NewInput(uriSetup, "CommitChanges"))
	require.ErrorIs(t, err, wsman.ErrResponseLost, "AMT 19 drops the reply")
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
	_, err = amtsim.New(amtsim.Config{Version: amt.MustParseVersion("18.0.5"), LocalTLSEnforced: true})
	require.ErrorIs(t, err, amtsim.ErrConfig, "only from 19")
}

var errTimeout = errors.New("timeout")

func timeSoon() time.Time { return time.Now().Add(300 * time.Millisecond) }
