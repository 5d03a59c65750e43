package amtsim_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fwDevice is one simulated firmware: a version and the Config knobs that
// choose the platform where amt.FirmwareFor answers "some platforms".
type fwDevice struct {
	version                    string
	legacy15, tlsOnly, rsaOnly bool
}

func (c fwDevice) String() string {
	s := c.version
	if c.legacy15 {
		s += "+Legacy15"
	}
	if c.tlsOnly {
		s += "+TLSOnly"
	}
	if c.rsaOnly {
		s += "+RSAKeyExchangeOnly"
	}
	return s
}

func (c fwDevice) apply(cfg *amtsim.Config) {
	cfg.Version = amt.MustParseVersion(c.version)
	cfg.Legacy15, cfg.TLSOnly, cfg.RSAKeyExchangeOnly = c.legacy15, c.tlsOnly, c.rsaOnly
}

// fwDevices are the firmware the simulator is checked at: every release
// boundary of the table, both platforms where the table says "some", and the
// versions the examples run.
var fwDevices = []fwDevice{
	{version: "2.2.20"}, {version: "2.6.0"}, {version: "3.0.0"}, {version: "3.2.1"}, {version: "3.2.2"},
	{version: "6.0.30"}, {version: "6.1.0"}, {version: "6.2.0"}, {version: "7.0.0"}, {version: "10.0.55"},
	{version: "11.0.0"}, {version: "11.0.0", rsaOnly: true}, {version: "11.8.50"}, {version: "11.8.65"}, {version: "11.8.94"},
	{version: "12.0.67"}, {version: "12.0.67", rsaOnly: true}, {version: "12.0.93"},
	{version: "15.0.45"}, {version: "15.0.45", legacy15: true},
	{version: "16.0.15"}, {version: "16.1.25"}, {version: "16.1.25", tlsOnly: true}, {version: "16.1.30"},
	{version: "18.0.5"}, {version: "19.0.5"}, {version: "19.0.5", tlsOnly: true}, {version: "20.0.5"},
	{version: "21.0.6"}, {version: "22.0.0"}, {version: "22.0.0", tlsOnly: true},
}

// want is what amt.FirmwareFor says of the device, with the platform knobs
// read as Config documents them.
type want struct {
	amt.Firmware
	dev fwDevice
}

func on(p amt.Platforms, thisPlatform bool) bool {
	return p == amt.AllPlatforms || (p == amt.SomePlatforms && thisPlatform)
}

func (w want) strict() bool       { return on(w.RefusesSHA1, !w.dev.legacy15) }
func (w want) remoteNonTLS() bool { return on(w.RemoteNonTLSPort, !w.dev.tlsOnly) }
func (w want) rsaOnly() bool      { return on(w.NeedsRSAKeyExchange, w.dev.rsaOnly) }

// speaks reports whether the device speaks TLS version v.
func (w want) speaks(v uint16) bool {
	switch v {
	case tls.VersionTLS10:
		return on(w.TLS10, true)
	case tls.VersionTLS11:
		return on(w.TLS11, w.dev.legacy15) // kept on platforms other than desktops
	case tls.VersionTLS12:
		return on(w.TLS12, true)
	case tls.VersionTLS13:
		return on(w.TLS13, true)
	}
	return false
}

// maxBelow13 is the highest version up to TLS 1.2 the device speaks.
func (w want) maxBelow13() uint16 {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10} {
		if w.speaks(v) {
			return v
		}
	}
	return 0
}

var (
	fwRSASuites   = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
	fwECDHESuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
)

const (
	fwURISoftware = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_SoftwareIdentity"
	fwOTP         = "0ne-time-pw"
)

// fwHandshake connects to the 16993 role with client as the provisioning
// chain and reports the handshake's error. Capped at TLS 1.2, a refused chain
// fails the handshake itself. Nil suites offer both RSA and ECDHE_RSA key
// exchange.
func fwHandshake(t *testing.T, d *amtsim.Device, client *certstest.ProvisioningChain, minV, maxV uint16, suites []uint16) error {
	t.Helper()
	if suites == nil {
		suites = append(append([]uint16(nil), fwRSASuites...), fwECDHESuites...)
	}
	conn, err := net.DialTimeout("tcp", d.TLSAddr(), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, // the device's certificate is not what is checked here
		MinVersion:         minV, MaxVersion: maxV, CipherSuites: suites,
		Certificates: []tls.Certificate{tlsCert(client)},
	})
	return c.HandshakeContext(t.Context())
}

// fwTLSOptions keep a wsman client at TLS 1.2 at most (no first-request
// drop) and able to talk to pre-12 firmware.
func fwTLSOptions() []wsman.Option {
	return []wsman.Option{wsman.WithLegacyTLS(), wsman.WithTLSVersions(0, tls.VersionTLS12)}
}

// chains are the provisioning chains the checks use, all from one root:
// SHA-256 and SHA-384 leaves for example.com, and the ones each rule should
// refuse. ca issues AMT's TLS certificates.
type chains struct {
	root                                    *certstest.CA
	sha256, sha384, sha1Leaf, rsa1024, deep *certstest.ProvisioningChain
	ca                                      *certstest.CA
}

func newChains(t *testing.T, keys *certstest.KeyPool) chains {
	root := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	sha384 := func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }
	chain := func(o certstest.ProvisioningOptions) *certstest.ProvisioningChain {
		o.Root = root
		return chainFor(t, keys, o)
	}
	return chains{
		root:     root,
		sha256:   chain(certstest.ProvisioningOptions{}),
		sha384:   chain(certstest.ProvisioningOptions{Leaf: sha384}),
		sha1Leaf: chain(certstest.ProvisioningOptions{SHA1: true}),
		rsa1024:  chain(certstest.ProvisioningOptions{LeafBits: 1024, Leaf: sha384}),
		// prov.sales.example.com covers marketing.example.com only by the
		// AMT 2.6 two-label rule.
		deep: chain(certstest.ProvisioningOptions{FQDN: "prov.sales.example.com", Leaf: sha384}),
		ca:   certstest.MustRootCA(t, certstest.CAOptions{Keys: keys}),
	}
}

// usable returns the chain the device accepts for remote configuration.
func (c chains) usable(w want) *certstest.ProvisioningChain {
	if w.ProvisioningCertSHA384 {
		return c.sha384
	}
	return c.sha256
}

// fwStart starts a device of dev trusting every chain of cs.
func fwStart(t *testing.T, dev fwDevice, cs chains, edit func(*amtsim.Config)) *amtsim.Device {
	t.Helper()
	cfg := amtsim.Config{DHCPDNSSuffix: "example.com",
		UserRootHashes: []amtsim.RootHash{{Name: "test root", Hash: sha256Of(cs.root.RootCertificate()), Active: true}}}
	dev.apply(&cfg)
	if edit != nil {
		edit(&cfg)
	}
	return start(t, cfg)
}

// The simulator's behaviour at every version it models matches amt.FirmwareFor.
func TestFirmwareFacts(t *testing.T) {
	keys := certstest.NewKeyPool()
	cs := newChains(t, keys)
	require.Equal(t, rootOf(cs.sha256).Raw, rootOf(cs.deep).Raw, "one test root for all chains")
	for _, dev := range fwDevices {
		t.Run(dev.String(), func(t *testing.T) {
			w := want{Firmware: amt.FirmwareFor(amt.MustParseVersion(dev.version)), dev: dev}
			require.True(t, w.Known())
			t.Run("RemoteConfiguration", func(t *testing.T) { checkRemoteConfiguration(t, w, cs) })
			t.Run("PSK", func(t *testing.T) { checkPSK(t, w) })
			t.Run("TLS", func(t *testing.T) { checkTLS(t, w, cs) })
			t.Run("ChainRules", func(t *testing.T) { checkChainRules(t, w, cs) })
			t.Run("RootHashTable", func(t *testing.T) { checkRootHashTable(t, w, cs) })
			t.Run("FirstRequest", func(t *testing.T) { checkFirstRequest(t, w, cs) })
			t.Run("ProvisionedDevice", func(t *testing.T) { checkProvisioned(t, w, cs, keys) })
			t.Run("HostBasedSetup", func(t *testing.T) { checkHostBased(t, w, cs) })
			t.Run("DeviceCertificate", func(t *testing.T) { checkDeviceCertificate(t, w, cs) })
		})
	}
}

// Hellos and the remote-configuration session, with and without a local agent.
func checkRemoteConfiguration(t *testing.T, w want, cs chains) {
	d := fwStart(t, w.dev, cs, nil)
	pc, maxV := cs.usable(w), w.maxBelow13()
	_, err := d.Hello(0)
	assert.Equal(t, w.BareMetalRemoteConfig, err == nil, "hello without an agent: %v", err)
	err = fwHandshake(t, d, pc, tls.VersionTLS10, maxV, nil)
	assert.Equal(t, w.BareMetalRemoteConfig, err == nil, "remote-configuration session without an agent: %v", err)

	require.NoError(t, d.StartConfiguration(amt.NewSecret(fwOTP)))
	_, err = d.Hello(0)
	assert.Equal(t, w.AgentInitiatedRemoteConfig, err == nil, "hello after the agent: %v", err)
	err = fwHandshake(t, d, pc, tls.VersionTLS10, maxV, nil)
	assert.Equal(t, w.AgentInitiatedRemoteConfig, err == nil, "remote-configuration session after the agent: %v", err)
}

// A PSK device is possible exactly where the table has PSK, and sends
// version 2 hellos.
func checkPSK(t *testing.T, w want) {
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	cfg := amtsim.Config{PSK: &pair}
	w.dev.apply(&cfg)
	d, err := amtsim.New(cfg)
	if !w.PSK {
		var ce *amtsim.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "PSK", ce.Field)
		return
	}
	require.NoError(t, err)
	if !w.BareMetalRemoteConfig {
		require.NoError(t, d.StartConfiguration(amt.Secret{}))
	}
	h, err := d.Hello(0)
	require.NoError(t, err)
	assert.EqualValues(t, 2, h.Version)
}

// TLS versions, and which key exchanges the 16993 role accepts.
func checkTLS(t *testing.T, w want, cs chains) {
	d := fwStart(t, w.dev, cs, nil)
	require.NoError(t, d.StartConfiguration(amt.NewSecret(fwOTP)))
	pc := cs.usable(w)
	all := append(append([]uint16(nil), fwRSASuites...), fwECDHESuites...)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		err := fwHandshake(t, d, pc, v, v, all)
		assert.Equal(t, w.speaks(v), err == nil, "%s: %v", tls.VersionName(v), err)
	}
	maxV := w.maxBelow13()
	err := fwHandshake(t, d, pc, tls.VersionTLS10, maxV, fwECDHESuites)
	assert.Equal(t, !w.rsaOnly(), err == nil, "ECDHE_RSA suites only: %v", err)
	if w.NeedsRSAKeyExchange.Any() {
		err = fwHandshake(t, d, pc, tls.VersionTLS10, maxV, fwRSASuites)
		assert.NoError(t, err, "RSA key-exchange suites only")
	}
}

// The chain rules that depend on the version: SHA-1 and short keys (strict
// platforms), SHA-384 leaves (AMT 22), the two-label suffix match (2.6).
func checkChainRules(t *testing.T, w want, cs chains) {
	d := fwStart(t, w.dev, cs, nil)
	require.NoError(t, d.StartConfiguration(amt.NewSecret(fwOTP)))
	maxV := w.maxBelow13()
	accepted := func(pc *certstest.ProvisioningChain) bool {
		err := fwHandshake(t, d, pc, tls.VersionTLS10, maxV, nil)
		return err == nil
	}
	assert.Equal(t, !w.strict() && !w.ProvisioningCertSHA384, accepted(cs.sha1Leaf), "SHA-1 leaf")
	assert.Equal(t, !w.strict() || w.MinRSABits <= 1024, accepted(cs.rsa1024), "RSA-1024 leaf")
	assert.Equal(t, !w.ProvisioningCertSHA384, accepted(cs.sha256), "SHA-256 leaf")
	assert.True(t, accepted(cs.sha384), "SHA-384 leaf")

	m := fwStart(t, w.dev, cs, func(c *amtsim.Config) { c.DHCPDNSSuffix = "marketing.example.com" })
	require.NoError(t, m.StartConfiguration(amt.NewSecret(fwOTP)))
	err := fwHandshake(t, m, cs.deep, tls.VersionTLS10, maxV, nil)
	assert.Equal(t, w.TwoLabelSuffixMatch, err == nil, "prov.sales.example.com for marketing.example.com: %v", err)
}

// Factory and user slots, VeriSign Class 3 G1, SHA-1 hashes.
func checkRootHashTable(t *testing.T, w want, cs chains) {
	d := fwStart(t, w.dev, cs, func(c *amtsim.Config) { c.UserRootHashes = nil })
	var factory, g1 int
	for _, h := range d.Snapshot().RootHashes {
		if h.Default {
			factory++
		}
		if h.Hash.Hex() == "e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70" {
			g1++
		}
	}
	assert.LessOrEqual(t, factory, w.FactoryHashSlots, "factory entries")
	if w.FactoryHashSlots > 0 {
		assert.Positive(t, factory)
	}
	assert.Equal(t, w.VeriSignG1, g1 == 1, "VeriSign Class 3 Primary CA-G1 in the factory table")

	err := d.AddRootHash(amtsim.RootHash{Hash: amt.CertHash{Alg: amt.HashSHA1, Sum: make([]byte, 20)}, Active: true})
	assert.Equal(t, w.strict(), errors.Is(err, amtsim.ErrConfig), "SHA-1 root hash: %v", err)
	users := 0
	if err == nil {
		users = 1
	}
	for i := byte(1); ; i++ {
		sum := make([]byte, 32)
		sum[0] = i
		err := d.AddRootHash(amtsim.RootHash{Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: sum}, Active: true})
		if errors.Is(err, amtsim.ErrSlotsFull) {
			break
		}
		require.NoError(t, err)
		users++
		require.Less(t, users, 100)
	}
	assert.Equal(t, w.UserHashSlots, users, "user slots")
}

// The first request after the TLS listener armed is dropped on TLS 1.3 from 21.
func checkFirstRequest(t *testing.T, w want, cs chains) {
	d := fwStart(t, w.dev, cs, nil)
	require.NoError(t, d.StartConfiguration(amt.NewSecret(fwOTP)))
	c := rcfgClient(t, d, cs.usable(w), wsman.WithLegacyTLS()) // TLS 1.3 where the device speaks it
	_, err := c.Get(t.Context(), uriSetup, nil)
	if w.FirstRequestMayDrop && w.speaks(tls.VersionTLS13) {
		require.Error(t, err, "the first request after a TLS 1.3 handshake")
		assert.ErrorIs(t, err, wsman.ErrResponseLost)
	} else {
		require.NoError(t, err)
	}
	_, err = c.Get(t.Context(), uriSetup, nil)
	require.NoError(t, err, "later requests are served")
}

// Remote configuration to the end, then what the provisioned device offers.
func checkProvisioned(t *testing.T, w want, cs chains, keys *certstest.KeyPool) {
	d := fwStart(t, w.dev, cs, nil)
	require.NoError(t, d.StartConfiguration(amt.NewSecret(fwOTP)))
	rc := rcfgClient(t, d, cs.usable(w), fwTLSOptions()...)
	rv, _ := invoke(t, rc, uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW))
	require.Zero(t, rv)
	rv, _ = invoke(t, rc, uriAuth, "SetAdminAclEntryEx", wsman.Prop("Username", "admin"),
		wsman.Prop("DigestPassword", digestB64("admin", d.DigestRealm(), adminPW)))
	require.Zero(t, rv)
	_, err := rc.Invoke(t.Context(), uriSetup, "CommitChanges", nil, wsman.NewInput(uriSetup, "CommitChanges"))
	if w.CommitDropsConnection {
		assert.ErrorIs(t, err, wsman.ErrResponseLost, "CommitChanges drops the connection")
	} else {
		assert.NoError(t, err, "CommitChanges answers")
	}
	require.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)

	// Port 16992 for remote digest accounts; 16993 with AMT's own certificate.
	// A commit that restarts the network stack may still cut the first
	// connections made after it: those are retried.
	settled := func(c *wsman.Client) error {
		var err error
		for range 10 {
			_, err = c.Get(t.Context(), uriGen, nil)
			if !w.CommitDropsConnection || (!errors.Is(err, wsman.ErrConnect) && !errors.Is(err, wsman.ErrResponseLost)) {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		return err
	}
	err = settled(adminClient(t, d.HTTPEndpoint(), "admin", adminPW))
	assert.Equal(t, w.remoteNonTLS(), err == nil, "16992 after provisioning: %v", err)
	tc := adminClient(t, d.TLSEndpoint(), "admin", adminPW, fwTLSOptions()...)
	err = settled(tc)
	assert.Equal(t, w.DefaultTLSCertificate, err == nil, "16993 without an installed certificate: %v", err)
	c := tc
	if w.remoteNonTLS() {
		c = adminClient(t, d.HTTPEndpoint(), "admin", adminPW)
	}

	f := get(t, c, uriGen)
	assert.Equal(t, w.ThunderboltDockSetting, f["ThunderboltDockEnabled"] != nil, "ThunderboltDockEnabled")
	f = get(t, c, uriTLSSetting, wsman.Sel("InstanceID", remoteTLSID))
	assert.Equal(t, w.TLSNonSecureProperty, f["NonSecureConnectionsSupported"] != nil, "NonSecureConnectionsSupported")
	items, err := c.EnumerateAll(t.Context(), fwURISoftware)
	require.NoError(t, err)
	core := false
	for _, it := range items {
		if v, _ := wsman.PropertyValue(it.Object, "InstanceID"); v == "AMT FW Core Version" {
			core = true
		}
	}
	assert.Equal(t, w.CoreVersionIdentity, core, "AMT FW Core Version")

	// Trusted roots: an intermediate CA from 11.8.
	rv, _ = invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(cs.sha256.Chain[1].Raw)))
	if w.IntermediateTrustedRoots {
		assert.Zero(t, rv, "an intermediate as trusted root")
	} else {
		assert.Equal(t, uint32(amt.StatusInvalidCert), rv, "an intermediate as trusted root")
	}
	// Short keys on strict platforms.
	short, err := keys.RSA(1024)
	require.NoError(t, err)
	rv, _ = invoke(t, c, uriPKM, "AddKey", wsman.Prop("KeyBlob", b64(x509.MarshalPKCS1PrivateKey(short))))
	assert.Equal(t, w.strict() && w.MinRSABits > 1024, rv == uint32(amt.StatusInvalidKey), "AddKey RSA-1024: %d", rv)

	checkKeys(t, w, c, cs.ca)
}

// GenerateKeyPair, the key it makes for TLS, GeneratePKCS10RequestEx with
// SHA-1, and what the firmware binds to TLS.
func checkKeys(t *testing.T, w want, c *wsman.Client, ca *certstest.CA) {
	gen := func(alg amt.KeyAlgorithm, bits uint32) (uint32, string, error) {
		resp, err := c.Invoke(t.Context(), uriPKM, "GenerateKeyPair", nil, wsman.NewInput(uriPKM, "GenerateKeyPair",
			wsman.Prop("KeyAlgorithm", strconv.Itoa(int(alg))), wsman.Prop("KeyLength", strconv.Itoa(int(bits)))))
		if err != nil {
			return 0, "", err
		}
		rv, err := resp.ReturnValue()
		require.NoError(t, err)
		if rv != 0 {
			return rv, "", nil
		}
		out, err := resp.Instance()
		require.NoError(t, err)
		epr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "KeyPair"))
		require.NoError(t, err)
		id, _ := epr.Selectors.Get("InstanceID")
		return 0, id, nil
	}
	_, _, err := gen(amt.KeyAlgorithmRSA, 2048)
	if !w.GenerateKeyPair {
		assert.ErrorIs(t, err, wsman.ErrActionNotSupported, "GenerateKeyPair before 6.2")
		return
	}
	require.NoError(t, err)
	rv, _, err := gen(amt.KeyAlgorithmECC384, 384)
	require.NoError(t, err)
	if w.TLSKeyAlgorithm == amt.KeyAlgorithmECC384 {
		assert.Zero(t, rv, "ECC P-384 key generation")
	} else {
		assert.Equal(t, uint32(amt.StatusUnsupported), rv, "ECC P-384 key generation")
	}

	rv, rsaID, err := gen(amt.KeyAlgorithmRSA, 2048)
	require.NoError(t, err)
	require.Zero(t, rv)
	rsaPub, err := x509.ParsePKCS1PublicKey(derKey(t, c, rsaID))
	require.NoError(t, err)
	rv, _ = invoke(t, c, uriPKM, "GeneratePKCS10RequestEx",
		wsman.PropEPR("KeyPair", wsman.EPR{ResourceURI: uriKey, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", rsaID)}}),
		wsman.Prop("SigningAlgorithm", "0"), wsman.Prop("NullSignedCertificateRequest", b64(nullSignedCSR(t, rsaPub))))
	assert.Equal(t, w.PKCS10SHA1, rv == 0, "GeneratePKCS10RequestEx with SHA-1: %d", rv)

	// The key the table names for TLS, certified with the hash it names,
	// binds; an RSA key or a SHA-256 certificate is refused where the
	// firmware wants otherwise.
	rv, tlsID, err := gen(w.TLSKeyAlgorithm, w.TLSKeyLength)
	require.NoError(t, err)
	require.Zero(t, rv)
	tlsPub := any(rsaPub)
	if tlsID != rsaID {
		der := derKey(t, c, tlsID)
		if w.TLSKeyAlgorithm == amt.KeyAlgorithmRSA {
			tlsPub, err = x509.ParsePKCS1PublicKey(der)
		} else {
			tlsPub, err = x509.ParsePKIXPublicKey(der)
		}
		require.NoError(t, err)
	}
	if w.TLSKeyAlgorithm == amt.KeyAlgorithmECC384 {
		_, isECDSA := tlsPub.(*ecdsa.PublicKey)
		assert.True(t, isECDSA, "the generated TLS key is ECC")
	}
	bind := func(pub any, sig x509.SignatureAlgorithm) error {
		cert, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject: pkix.Name{CommonName: "amt.example.com"}, SignatureAlgorithm: sig}, pub)
		require.NoError(t, err)
		rv, out := invoke(t, c, uriPKM, "AddCertificate", wsman.Prop("CertificateBlob", b64(cert.Raw)))
		require.Zero(t, rv)
		cepr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "CreatedCertificate"))
		require.NoError(t, err)
		id, _ := cepr.Selectors.Get("InstanceID")
		_, err = c.Put(t.Context(), uriTLSContext, nil, wsman.NewInstance(uriTLSContext,
			wsman.PropEPR("ElementInContext", wsman.EPR{ResourceURI: uriCert, Selectors: wsman.SelectorSet{wsman.Sel("InstanceID", id)}}),
			wsman.PropEPR("ElementProvidingContext", wsman.EPR{ResourceURI: uriCollection,
				Selectors: wsman.SelectorSet{wsman.Sel("ElementName", "TLSProtocolEndpoint Instances Collection")}})))
		return err
	}
	hash := x509.SHA256WithRSA
	if w.TLSCertSHA384 {
		hash = x509.SHA384WithRSA
		assert.Error(t, bind(tlsPub, x509.SHA256WithRSA), "a SHA-256 TLS certificate")
	}
	if w.TLSKeyAlgorithm != amt.KeyAlgorithmRSA {
		assert.Error(t, bind(rsaPub, hash), "an RSA TLS key")
	}
	assert.NoError(t, bind(tlsPub, hash), "the table's TLS key and hash")
}

func derKey(t *testing.T, c *wsman.Client, id string) []byte {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(get(t, c, uriKey, wsman.Sel("InstanceID", id))["DERKey"][0])
	require.NoError(t, err)
	return der
}

// IPS_HostBasedSetupService, SigningAlgorithm 3 and the SHA-384 rules of
// host-based AdminSetup.
func checkHostBased(t *testing.T, w want, cs chains) {
	d := fwStart(t, w.dev, cs, nil)
	_, err := localClient(t, d).Get(t.Context(), uriHBS, nil)
	if !w.HostBasedSetupService {
		assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable, "IPS_HostBasedSetupService before 6.1")
		return
	}
	require.NoError(t, err)
	// The simulated platforms of 19+ do not enforce TLS on the local port
	// (HostBasedAdminSetupRequiresTLS is "some platforms"): AdminSetup works.
	adminSetup := func(pc *certstest.ProvisioningChain, alg int) uint32 {
		d := fwStart(t, w.dev, cs, nil)
		c := localClient(t, d)
		injectChain(t, c, pc.Chain)
		n, mc := configurationNonce(t, c), mcNonce(t)
		sig := signNonces(t, pc.Key, n, mc)
		if alg == 3 {
			h := sha512.Sum384(append(append([]byte(nil), n...), mc...))
			var err error
			sig, err = rsa.SignPKCS1v15(rand.Reader, pc.Key.(*rsa.PrivateKey), crypto.SHA384, h[:])
			require.NoError(t, err)
		}
		props := adminSetupProps(d.DigestRealm(), adminPW, mc, sig)
		props[3].Value = strconv.Itoa(alg)
		rv, _ := invoke(t, c, uriHBS, "AdminSetup", props...)
		return rv
	}
	if w.SigningSHA384 {
		assert.Zero(t, adminSetup(cs.sha384, 3), "SigningAlgorithm 3")
	} else {
		assert.Equal(t, uint32(3), adminSetup(cs.sha384, 3), "SigningAlgorithm 3 is an invalid parameter")
	}
	if w.SigningSHA384Required {
		assert.Equal(t, uint32(1), adminSetup(cs.sha384, 2), "SigningAlgorithm 2 with a SHA-384 certificate")
	} else {
		assert.Zero(t, adminSetup(cs.sha384, 2), "SigningAlgorithm 2 with a SHA-384 certificate")
	}
	if w.ProvisioningCertSHA384 {
		assert.Equal(t, uint32(5), adminSetup(cs.sha256, 2), "a SHA-256 provisioning certificate")
	} else {
		assert.Zero(t, adminSetup(cs.sha256, 2), "a SHA-256 provisioning certificate")
	}
}

// The device certificate names its host before 19.
func checkDeviceCertificate(t *testing.T, w want, cs chains) {
	d := fwStart(t, w.dev, cs, func(c *amtsim.Config) { c.HostName = "amt1" })
	cert, err := d.DeviceCertificate()
	require.NoError(t, err)
	assert.Equal(t, w.DeviceCertHasHostName, len(cert.DNSNames) > 0, "device certificate names %v", cert.DNSNames)
}

// provisioned384 is provisioned for firmware that wants a SHA-384
// provisioning certificate and SigningAlgorithm 3 (AMT 22).
func provisioned384(t *testing.T, pc *certstest.ProvisioningChain, edit func(*amtsim.Config)) (*amtsim.Device, *wsman.Client) {
	t.Helper()
	cfg := trusting(pc)
	if edit != nil {
		edit(&cfg)
	}
	d := start(t, cfg)
	lc := localClient(t, d)
	injectChain(t, lc, pc.Chain)
	n, mc := configurationNonce(t, lc), mcNonce(t)
	h := sha512.Sum384(append(append([]byte(nil), n...), mc...))
	sig, err := rsa.SignPKCS1v15(rand.Reader, pc.Key.(*rsa.PrivateKey), crypto.SHA384, h[:])
	require.NoError(t, err)
	props := adminSetupProps(d.DigestRealm(), adminPW, mc, sig)
	props[3].Value = "3"
	rv, _ := invoke(t, lc, uriHBS, "AdminSetup", props...)
	require.Zero(t, rv)
	return d, adminClient(t, d.HTTPEndpoint(), "admin", adminPW)
}
