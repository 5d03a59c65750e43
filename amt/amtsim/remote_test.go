package amtsim_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	uriKey        = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicPrivateKeyPair"
	uriCert       = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	uriTLSSetting = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSSettingData"
	uriTLSContext = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSCredentialContext"
	uriCollection = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TLSProtocolEndpointCollection"
	remoteTLSID   = "Intel(r) AMT 802.3 TLS Settings"
	mebxPW        = "N3w-MEBx!pw"
)

func digestB64(user, realm, pw string) string {
	s := md5.Sum([]byte(user + ":" + realm + ":" + pw))
	return base64.StdEncoding.EncodeToString(s[:])
}

// installTLS generates a key in the device, issues a certificate for it with
// ca, adds it and binds it to TLS; it returns the certificate.
func installTLS(t *testing.T, c *wsman.Client, ca *certstest.CA) *x509.Certificate {
	t.Helper()
	rv, out := invoke(t, c, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "0"), wsman.Prop("KeyLength", "2048"))
	require.Zero(t, rv)
	epr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "KeyPair"))
	require.NoError(t, err)
	require.Equal(t, uriKey, epr.ResourceURI)
	id, _ := epr.Selectors.Get("InstanceID")
	f := get(t, c, uriKey, wsman.Sel("InstanceID", id))
	der, err := base64.StdEncoding.DecodeString(f["DERKey"][0])
	require.NoError(t, err)
	pub, err := x509.ParsePKCS1PublicKey(der) // AMT reports PKCS#1
	require.NoError(t, err)
	cert, err := ca.IssueCert(&x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "amt.example.com"},
		DNSNames: []string{"amt.example.com"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, pub)
	require.NoError(t, err)
	rv, out = invoke(t, c, uriPKM, "AddCertificate", wsman.Prop("CertificateBlob", b64(cert.Raw)))
	require.Zero(t, rv)
	cepr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "CreatedCertificate"))
	require.NoError(t, err)
	ctxBody := wsman.NewInstance(uriTLSContext,
		wsman.PropEPR("ElementInContext", cepr),
		wsman.PropEPR("ElementProvidingContext", wsman.EPR{ResourceURI: uriCollection,
			Selectors: wsman.SelectorSet{wsman.Sel("ElementName", "TLSProtocolEndpointInstances Collection")}}))
	resp, err := c.Create(t.Context(), uriTLSContext, ctxBody)
	require.NoError(t, err)
	created, err := resp.ResourceCreated()
	require.NoError(t, err)
	sel, ok := created.Selectors.GetEPR("ElementProvidingContext")
	require.True(t, ok)
	name, _ := sel.Selectors.Get("ElementName")
	assert.Equal(t, "TLSProtocolEndpoint Instances Collection", name, "the device reports the spaced name")
	// A second Create is AMT's AlreadyExists (HTTP 400).
	_, err = c.Create(t.Context(), uriTLSContext, ctxBody)
	var fault *wsman.Fault
	require.ErrorAs(t, err, &fault)
	assert.ErrorIs(t, err, wsman.ErrAlreadyExists)
	assert.Equal(t, http.StatusBadRequest, fault.HTTPStatus)

	body := wsman.NewInstance(uriTLSSetting,
		wsman.Prop("ElementName", remoteTLSID), wsman.Prop("InstanceID", remoteTLSID),
		wsman.Prop("Enabled", "true"), wsman.Prop("MutualAuthentication", "false"), wsman.Prop("AcceptNonSecureConnections", "false"))
	resp, err = c.Put(t.Context(), uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", remoteTLSID)}, body)
	require.NoError(t, err)
	got, err := resp.Fields()
	require.NoError(t, err)
	assert.Equal(t, []string{"true"}, got["Enabled"])
	return cert
}

func TestRemoteConfigurationFlow(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	cfg := trusting(pc)
	cfg.OTP = amt.NewSecret("Otp-1234")
	d := start(t, cfg)
	rc := rcfgClient(t, d, pc)

	f := get(t, rc, uriSetup)
	assert.Equal(t, []string{"1"}, f["ProvisioningState"], "in provisioning once the configuration server connected")
	assert.Equal(t, []string{b64([]byte("Otp-1234"))}, f["ProvisioningServerOTP"], "the OTP is readable in provisioning")
	assert.Equal(t, []string{"example.com"}, f["DhcpDNSSuffix"])

	rv, out := invoke(t, rc, uriSetup, "GetUuid")
	require.Zero(t, rv)
	raw, err := base64.StdEncoding.DecodeString(wsman.Text(wsman.Child(out, uriSetup, "UUID")))
	require.NoError(t, err)
	id, err := amt.UUIDFromWire(raw)
	require.NoError(t, err)
	assert.Equal(t, d.UUID(), id)

	rv, _ = invoke(t, rc, uriSetup, "CommitChanges")
	assert.Equal(t, uint32(amt.StatusDataMissing), rv, "commit with the MEBx password still default")

	rv, _ = invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", "weak"))
	assert.Equal(t, uint32(amt.StatusInvalidPassword), rv)
	rv, _ = invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW))
	require.Zero(t, rv)
	rv, _ = invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", "An0ther-pw!"))
	assert.Equal(t, uint32(amt.StatusNotPermitted), rv, "only while the MEBx password is the default")
	assert.True(t, d.MEBxPasswordIs(amt.NewSecret(mebxPW)))

	rv, _ = invoke(t, rc, uriAuth, "SetAdminAclEntryEx", wsman.Prop("Username", "admin"),
		wsman.Prop("DigestPassword", digestB64("admin", d.DigestRealm(), adminPW)))
	require.Zero(t, rv)

	issued := installTLS(t, rc, ca)
	rv, _ = invoke(t, rc, uriSetup, "CommitChanges")
	require.Zero(t, rv)

	s := d.Snapshot()
	assert.Equal(t, amt.PostProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeACM, s.ControlMode)
	require.NotNil(t, s.Record)
	assert.Equal(t, "remote configuration", s.Record.Method)
	assert.Equal(t, pc.Chain[0].Raw, s.Record.Chain[0].Raw)
	assert.True(t, s.TLSApplied.Enabled)
	require.NotNil(t, s.TLSAppliedCertificate)
	assert.Equal(t, issued.Raw, s.TLSAppliedCertificate.Raw)

	// 16993 now serves the installed certificate and wants digest.
	pin := sha256.Sum256(issued.Raw)
	ac := adminClient(t, d.TLSEndpoint(), "admin", adminPW, wsman.WithTLS(wsman.PinSHA256(pin)))
	f = get(t, ac, uriSetup)
	assert.Equal(t, []string{"2"}, f["ProvisioningState"])
	assert.Equal(t, []string{b64(make([]byte, 32))}, f["ProvisioningServerOTP"], "32 zero bytes outside provisioning")
	// The old remote-configuration session is no longer trusted.
	_, err = rc.Get(t.Context(), uriSetup, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
	// The plain HTTP role refuses remote users once TLS is on without
	// non-secure connections.
	_, err = adminClient(t, d.HTTPEndpoint(), "admin", adminPW).Get(t.Context(), uriGen, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)
}

func TestCommitChangesStates(t *testing.T) {
	t.Run("pre-provisioning", func(t *testing.T) {
		d := start(t, amtsim.Config{})
		rv, _ := invoke(t, localClient(t, d), uriSetup, "CommitChanges")
		assert.Equal(t, uint32(amt.StatusInvalidProvisioningState), rv)
		assert.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
	})
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	for _, tt := range []struct {
		name    string
		version string
		drop    amtsim.Switch
		lost    bool
	}{
		{"AMT 16 answers", "16.1.25", amtsim.Default, false},
		{"AMT 19 drops the connection", "19.0.5", amtsim.Default, true},
		{"AMT 19 with the drop off", "19.0.5", amtsim.Off, false},
		{"AMT 16 with the drop on", "16.1.25", amtsim.On, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := trusting(pc)
			cfg.Version = amt.MustParseVersion(tt.version)
			cfg.Behavior.CommitDrop = tt.drop
			d := start(t, cfg)
			rc := rcfgClient(t, d, pc)
			rv, _ := invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW))
			require.Zero(t, rv)
			_, err := rc.Invoke(t.Context(), uriSetup, "CommitChanges", nil, wsman.NewInput(uriSetup, "CommitChanges"))
			if tt.lost {
				require.ErrorIs(t, err, wsman.ErrResponseLost)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "the commit took effect either way")
		})
	}
}

func TestOTPReadableOnlyInProvisioning(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	cfg := trusting(pc)
	cfg.OTP = amt.NewSecret("0ne-Time-Pass")
	d := start(t, cfg)
	zeros := b64(make([]byte, 32))

	assert.Equal(t, []string{zeros}, get(t, localClient(t, d), uriSetup)["ProvisioningServerOTP"], "pre-provisioning")
	rc := rcfgClient(t, d, pc)
	assert.Equal(t, []string{b64([]byte("0ne-Time-Pass"))}, get(t, rc, uriSetup)["ProvisioningServerOTP"], "in provisioning")
	rv, _ := invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW))
	require.Zero(t, rv)
	rv, _ = invoke(t, rc, uriSetup, "CommitChanges")
	require.Zero(t, rv)
	assert.Equal(t, []string{zeros}, get(t, localClient(t, d), uriSetup)["ProvisioningServerOTP"], "post-provisioning")
}

func TestProvisioningWindow(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	t0 := time.Now()
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	cfg := trusting(pc)
	cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	d := start(t, cfg)
	dev := func() error {
		_, err := amt.NewDevice(rcfgClient(t, d, pc)).Version(t.Context())
		return err
	}
	require.NoError(t, dev())
	rc := rcfgClient(t, d, pc)

	advance(23 * time.Hour)
	rv, _ := invoke(t, rc, uriSetup, "ExtendProvisioningPeriod", wsman.Prop("Duration", "25"))
	assert.Equal(t, uint32(amt.StatusInvalidParameter), rv, "at most 24 hours per call")
	rv, _ = invoke(t, rc, uriSetup, "ExtendProvisioningPeriod", wsman.Prop("Duration", "2"))
	require.Zero(t, rv)

	advance(90 * time.Minute) // 24.5 h: open thanks to the extension
	require.NoError(t, dev())
	assert.True(t, d.Snapshot().NetworkOpen)

	advance(time.Hour) // 25.5 h: closed
	require.ErrorIs(t, dev(), wsman.ErrConnect)
	assert.False(t, d.Snapshot().NetworkOpen)
	_, err := rc.Get(t.Context(), uriSetup, nil)
	require.Error(t, err, "an open connection is cut too")

	// The local interface still answers.
	_ = get(t, localClient(t, d), uriGen)
}

func TestExtendProvisioningPeriodZeroClosesNetwork(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d := start(t, trusting(pc))
	rc := rcfgClient(t, d, pc)
	rv, _ := invoke(t, rc, uriSetup, "ExtendProvisioningPeriod", wsman.Prop("Duration", "0"))
	require.Zero(t, rv, "the answer still goes out")
	_, err := amt.NewDevice(rcfgClient(t, d, pc)).Version(t.Context())
	require.ErrorIs(t, err, wsman.ErrConnect)
	assert.False(t, d.Snapshot().NetworkOpen)
}

func TestGenerateKeyPairTransientFailures(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	cfg := trusting(pc)
	cfg.Behavior.GenerateKeyPairFailures = 2
	d := start(t, cfg)
	rc := rcfgClient(t, d, pc)
	var got []uint32
	for range 3 {
		rv, _ := invoke(t, rc, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "0"), wsman.Prop("KeyLength", "2048"))
		got = append(got, rv)
	}
	assert.Equal(t, []uint32{uint32(amt.StatusPKIGeneratingKeys), uint32(amt.StatusPKIGeneratingKeys), 0}, got)
	rv, _ := invoke(t, rc, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "0"), wsman.Prop("KeyLength", "3072"))
	assert.Equal(t, uint32(amt.StatusUnsupported), rv, "RSA-3072 (RPS)")
	s := d.Snapshot()
	require.Len(t, s.KeyPairs, 1)
	assert.Equal(t, "Intel(r) AMT Key: Handle: 0", s.KeyPairs[0].InstanceID)
	assert.True(t, bytes.HasPrefix(s.KeyPairs[0].DERKey, []byte{0x30, 0x82, 0x01, 0x0a}), "PKCS#1 RSAPublicKey of a 2048-bit key")
	_ = strconv.Itoa
}

// Enabling TLS on the local (LMS) interface during remote configuration makes
// the firmware accept CommitChanges but ignore it (MeshCentral): the device
// stays In-provisioning until the local setting is off again.
func TestCommitIgnoredWithLocalTLS(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	d := start(t, trusting(pc))
	rc := rcfgClient(t, d, pc)
	rv, _ := invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW))
	require.Zero(t, rv)
	installTLS(t, rc, ca)
	putLocal := func(enabled string) {
		body := wsman.NewInstance(uriTLSSetting, wsman.Prop("InstanceID", "Intel(r) AMT LMS TLS Settings"), wsman.Prop("Enabled", enabled), wsman.Prop("MutualAuthentication", "false"))
		_, err := rc.Put(t.Context(), uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT LMS TLS Settings")}, body)
		require.NoError(t, err)
	}
	putLocal("true")
	rv, _ = invoke(t, rc, uriSetup, "CommitChanges")
	assert.Zero(t, rv, "the commit reports success")
	assert.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState, "but is ignored")
	assert.False(t, d.Snapshot().TLSApplied.Enabled)

	putLocal("false")
	rv, _ = invoke(t, rc, uriSetup, "CommitChanges")
	require.Zero(t, rv)
	assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
}
