package amtsim_test

import (
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"
)

// sha256Of hashes a certificate's DER independently of the code under test.
func sha256Of(c *x509.Certificate) amt.CertHash {
	s := sha256.Sum256(c.Raw)
	return amt.CertHash{Alg: amt.HashSHA256, Sum: s[:]}
}

// chainFor makes a provisioning chain (default: root → intermediate → leaf
// prov.example.com with the OID and OU).
func chainFor(t testing.TB, keys *certstest.KeyPool, o certstest.ProvisioningOptions) *certstest.ProvisioningChain {
	t.Helper()
	if o.Keys == nil {
		o.Keys = keys
	}
	return certstest.MustProvisioningChain(t, o)
}

func rootOf(pc *certstest.ProvisioningChain) *x509.Certificate { return pc.Chain[len(pc.Chain)-1] }

// trusting returns a config whose table holds pc's root as a user hash and
// whose DHCP suffix is example.com.
func trusting(pc *certstest.ProvisioningChain) amtsim.Config {
	return amtsim.Config{
		DHCPDNSSuffix:  "example.com",
		UserRootHashes: []amtsim.RootHash{{Name: "test root", Hash: sha256Of(rootOf(pc)), Active: true}},
	}
}

func start(t testing.TB, cfg amtsim.Config) *amtsim.Device {
	t.Helper()
	d, err := amtsim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, d.Start(t.Context()))
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func tlsCert(pc *certstest.ProvisioningChain) tls.Certificate {
	var c tls.Certificate
	for _, x := range pc.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	c.PrivateKey = pc.Key
	return c
}

// rcfgClient connects to the 16993 role presenting pc as the client chain,
// without credentials (the client certificate authenticates).
func rcfgClient(t testing.TB, d *amtsim.Device, pc *certstest.ProvisioningChain, opts ...wsman.Option) *wsman.Client {
	t.Helper()
	o := append([]wsman.Option{wsman.WithTLS(wsman.InsecureSkipVerify()), wsman.WithClientCertificate(tlsCert(pc))}, opts...)
	c, err := wsman.New(d.TLSEndpoint(), o...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// localClient talks to the HTTP (16992 / LMS) role as the local system
// account, as an agent doing host-based setup would.
func localClient(t testing.TB, d *amtsim.Device) *wsman.Client {
	t.Helper()
	user, pw := d.LocalSystemAccount()
	c, err := wsman.New(d.HTTPEndpoint(), wsman.WithDigestAuth(user, pw.Reveal()))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// adminClient talks digest as user/password to the TLS role (https) or the
// HTTP role.
func adminClient(t testing.TB, endpoint, user, password string, opts ...wsman.Option) *wsman.Client {
	t.Helper()
	o := append([]wsman.Option{wsman.WithDigestAuth(user, password), wsman.WithTLS(wsman.InsecureSkipVerify())}, opts...)
	c, err := wsman.New(endpoint, o...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// invoke calls a method and returns its ReturnValue and output element.
func invoke(t testing.TB, c *wsman.Client, uri, method string, props ...wsman.Property) (uint32, *etree.Element) {
	t.Helper()
	resp, err := c.Invoke(t.Context(), uri, method, nil, wsman.NewInput(uri, method, props...))
	require.NoError(t, err, "%s", method)
	out, err := resp.Instance()
	require.NoError(t, err)
	require.True(t, wsman.Is(out, uri, method+"_OUTPUT"), "output element %s", out.Tag)
	rv, err := resp.ReturnValue()
	require.NoError(t, err)
	return rv, out
}

// get reads a singleton (or a selected instance) into a field map.
func get(t testing.TB, c *wsman.Client, uri string, sel ...wsman.Selector) map[string][]string {
	t.Helper()
	resp, err := c.Get(t.Context(), uri, sel)
	require.NoError(t, err)
	f, err := resp.Fields()
	require.NoError(t, err)
	return f
}

const (
	uriHBS   = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
	uriSetup = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"
	uriAuth  = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
	uriGen   = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	uriPKM   = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyManagementService"
	uriTime  = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TimeSynchronizationService"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// injectChain sends pc leaf first, root last, expecting success.
func injectChain(t testing.TB, c *wsman.Client, chain []*x509.Certificate) {
	t.Helper()
	for i, x := range chain {
		rv, _ := invoke(t, c, uriHBS, "AddNextCertInChain",
			wsman.Prop("NextCertificate", b64(x.Raw)),
			wsman.Prop("IsLeafCertificate", strconv.FormatBool(i == 0)),
			wsman.Prop("IsRootCertificate", strconv.FormatBool(i == len(chain)-1)))
		require.Zero(t, rv, "AddNextCertInChain %d", i)
	}
}

func configurationNonce(t testing.TB, c *wsman.Client) []byte {
	t.Helper()
	f := get(t, c, uriHBS)
	require.Len(t, f["ConfigurationNonce"], 1)
	n, err := base64.StdEncoding.DecodeString(f["ConfigurationNonce"][0])
	require.NoError(t, err)
	require.Len(t, n, 20)
	return n
}

// signNonces signs nonce ‖ mc with RSA PKCS#1 v1.5 over SHA-256, computed
// here independently of the simulator.
func signNonces(t testing.TB, key crypto.Signer, nonce, mc []byte) []byte {
	t.Helper()
	h := sha256.Sum256(append(append([]byte(nil), nonce...), mc...))
	sig, err := key.Sign(rand.Reader, h[:], crypto.SHA256)
	require.NoError(t, err)
	return sig
}

// hexA1 is MD5("admin:" + realm + ":" + password) in hex, computed here.
func hexA1(user, realm, password string) string {
	s := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(s[:])
}

func adminSetupProps(realm, password string, mc, sig []byte) []wsman.Property {
	return []wsman.Property{
		wsman.Prop("NetAdminPassEncryptionType", "2"),
		wsman.Prop("NetworkAdminPassword", hexA1("admin", realm, password)),
		wsman.Prop("McNonce", b64(mc)),
		wsman.Prop("SigningAlgorithm", "2"),
		wsman.Prop("DigitalSignature", b64(sig)),
	}
}

func mcNonce(t testing.TB) []byte {
	b := make([]byte, 20)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// nullSignedCSR builds, with encoding/asn1, a PKCS#10 request around a public
// key whose private half lives elsewhere (in AMT), with a dummy signature, as
// in the Enterprise Assistant flow (device-management-toolkit/rpc-go
// internal/certs/ea/ea.go; the OpenSSL recipe in nomis/amt README.rst).
func nullSignedCSR(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	subj, err := asn1.Marshal(pkix.Name{CommonName: "amt.example.com"}.ToRDNSequence())
	require.NoError(t, err)
	info, err := asn1.Marshal(struct {
		Version int
		Subject asn1.RawValue
		SPKI    asn1.RawValue
		Attrs   asn1.RawValue
	}{0, asn1.RawValue{FullBytes: subj}, asn1.RawValue{FullBytes: spki}, asn1.RawValue{FullBytes: []byte{0xa0, 0x00}}})
	require.NoError(t, err)
	csr, err := asn1.Marshal(struct {
		Info asn1.RawValue
		Alg  pkix.AlgorithmIdentifier
		Sig  asn1.BitString
	}{asn1.RawValue{FullBytes: info},
		pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue},
		asn1.BitString{Bytes: []byte{0}, BitLength: 8}})
	require.NoError(t, err)
	return csr
}
