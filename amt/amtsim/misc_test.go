package amtsim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// provisioned returns an ACM device set up by AdminSetup (admin / adminPW)
// and an admin client on its HTTP role.
func provisioned(t *testing.T, keys *certstest.KeyPool, pc *certstest.ProvisioningChain, edit func(*amtsim.Config)) (*amtsim.Device, *wsman.Client) {
	t.Helper()
	cfg := trusting(pc)
	if edit != nil {
		edit(&cfg)
	}
	d := start(t, cfg)
	lc := localClient(t, d)
	injectChain(t, lc, pc.Chain)
	n, mc := configurationNonce(t, lc), mcNonce(t)
	rv, _ := invoke(t, lc, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
	require.Zero(t, rv)
	return d, adminClient(t, d.HTTPEndpoint(), "admin", adminPW)
}

func amtStatus(t *testing.T, err error) amt.Status {
	t.Helper()
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	s, ok := amt.StatusOfFault(err)
	require.True(t, ok, "fault %v carries no AMT-STATUS", f)
	return s
}

func TestFaults(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d, c := provisioned(t, keys, pc, nil)
	ctx := t.Context()

	_, err := c.Get(ctx, "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuditLog", nil)
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable, "a class this SKU lacks")
	assert.Equal(t, http.StatusBadRequest, f.HTTPStatus)

	_, err = c.Invoke(ctx, uriSetup, "NoSuchMethod", nil, wsman.NewInput(uriSetup, "NoSuchMethod"))
	assert.ErrorIs(t, err, wsman.ErrActionNotSupported)

	_, err = c.Get(ctx, uriGen, nil, wsman.OptionSet(true, wsman.OptionValue{Name: "x", Value: "y"}))
	assert.ErrorIs(t, err, wsman.ErrMustUnderstand, "AMT supports no options")

	_, err = c.Get(ctx, uriCert, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 99")})
	assert.ErrorIs(t, err, wsman.ErrInvalidSelectors)

	// Enabling TLS before a certificate is bound: InternalError, HTTP 500,
	// AMT-STATUS 2072 (NO_ASSOCIATION).
	body := wsman.NewInstance(uriTLSSetting, wsman.Prop("InstanceID", remoteTLSID), wsman.Prop("Enabled", "true"), wsman.Prop("MutualAuthentication", "false"))
	_, err = c.Put(ctx, uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", remoteTLSID)}, body)
	require.ErrorAs(t, err, &f)
	assert.ErrorIs(t, err, wsman.ErrInternalError)
	assert.Equal(t, http.StatusInternalServerError, f.HTTPStatus)
	assert.Equal(t, amt.StatusNoAssociation, amtStatus(t, err))

	// The local system account may not write settings.
	_, err = localClient(t, d).Put(ctx, uriGen, nil, wsman.NewInstance(uriGen, wsman.Prop("HostName", "x")))
	assert.ErrorIs(t, err, wsman.ErrAccessDenied)
}

func TestDropsAndLatency(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	var mu sync.Mutex
	var slept []time.Duration
	cfg := trusting(pc)
	cfg.Behavior.Latency = 250 * time.Millisecond
	cfg.Behavior.Sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return nil
	}
	cfg.Behavior.DropFunc = func(op, _ string, _ int) amtsim.Drop {
		switch op {
		case "SetMEBxPassword":
			return amtsim.DropResponse
		case "GetUuid":
			return amtsim.DropRequest
		}
		return amtsim.DropNone
	}
	d := start(t, cfg)
	rc := rcfgClient(t, d, pc)
	ctx := t.Context()

	_, err := rc.Invoke(ctx, uriSetup, "SetMEBxPassword", nil, wsman.NewInput(uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW)))
	require.ErrorIs(t, err, wsman.ErrResponseLost)
	assert.True(t, d.MEBxPasswordIs(amt.NewSecret(mebxPW)), "the response was lost after the change took effect")

	before := d.Snapshot().Requests
	_, err = rc.Invoke(ctx, uriSetup, "GetUuid", nil, wsman.NewInput(uriSetup, "GetUuid"))
	require.ErrorIs(t, err, wsman.ErrResponseLost)
	assert.Equal(t, before, d.Snapshot().Requests, "dropped before it was served")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, slept)
	for _, s := range slept {
		assert.Equal(t, 250*time.Millisecond, s)
	}
}

func TestDropEvery(t *testing.T) {
	d := start(t, amtsim.Config{Behavior: amtsim.Behavior{DropEvery: 2}})
	c := localClient(t, d)
	var lost int
	for range 6 {
		// A method: a Get whose kept-alive connection broke is sent again.
		if _, err := c.Invoke(t.Context(), uriSetup, "GetUuid", nil, wsman.NewInput(uriSetup, "GetUuid")); err != nil {
			require.ErrorIs(t, err, wsman.ErrResponseLost)
			lost++
		}
	}
	assert.Equal(t, 3, lost)
}

// TestDigest checks the digest exchange by hand: AMT's challenge form, a
// response computed here, nonce-count replay answered stale.
func TestDigest(t *testing.T) {
	d := start(t, amtsim.Config{})
	user, pw := d.LocalSystemAccount()
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>` + uriGen + `</w:ResourceURI><a:MessageID>uuid:1</a:MessageID></s:Header><s:Body/></s:Envelope>`
	post := func(auth string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.HTTPEndpoint(), strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	resp := post("")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	ch := resp.Header.Get("WWW-Authenticate")
	assert.Contains(t, ch, `Digest realm="`+d.DigestRealm()+`"`)
	assert.Contains(t, ch, `stale="false"`)
	assert.Contains(t, ch, `qop="auth"`)
	assert.NotContains(t, ch, "algorithm", "AMT sends no algorithm")
	assert.True(t, resp.Close, "a 401 closes the connection, as AMT's does")
	i := strings.Index(ch, `nonce="`)
	require.GreaterOrEqual(t, i, 0)
	nonce := ch[i+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]

	h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	authz := func(nc, password string) string {
		ha1 := h(user + ":" + d.DigestRealm() + ":" + password)
		ha2 := h("POST:/wsman")
		r := h(ha1 + ":" + nonce + ":" + nc + ":abc:auth:" + ha2)
		return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="/wsman", qop=auth, nc=%s, cnonce="abc", response="%s"`,
			user, d.DigestRealm(), nonce, nc, r)
	}
	assert.Equal(t, http.StatusOK, post(authz("00000001", pw.Reveal())).StatusCode)
	assert.Equal(t, http.StatusOK, post(authz("00000002", pw.Reveal())).StatusCode)
	replay := post(authz("00000002", pw.Reveal()))
	assert.Equal(t, http.StatusUnauthorized, replay.StatusCode)
	assert.Contains(t, replay.Header.Get("WWW-Authenticate"), `stale="true"`, "a replayed count needs a new nonce, not a new password")
	wrong := post(authz("00000003", "not-the-password"))
	assert.Equal(t, http.StatusUnauthorized, wrong.StatusCode)
	assert.Contains(t, wrong.Header.Get("WWW-Authenticate"), `stale="false"`)
}

func TestUnprovisionRestoresDefaults(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d, c := provisioned(t, keys, pc, nil)
	factory := d.Snapshot().RootHashes[0].Hash
	require.NoError(t, d.SetRootHashActive(factory, false))
	rv, _ := invoke(t, c, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "0"), wsman.Prop("KeyLength", "2048"))
	require.Zero(t, rv)

	rv, _ = invoke(t, c, uriSetup, "Unprovision", wsman.Prop("ProvisioningMode", "2"))
	assert.Equal(t, uint32(amt.StatusInvalidParameter), rv, "only mode 1 (or 0) from R6")
	rv, _ = invoke(t, c, uriSetup, "Unprovision", wsman.Prop("ProvisioningMode", "1"))
	require.Zero(t, rv)

	s := d.Snapshot()
	assert.Equal(t, amt.PreProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeNone, s.ControlMode)
	assert.Empty(t, s.KeyPairs)
	assert.True(t, s.AdminPasswordDefault)
	for _, h := range s.RootHashes {
		assert.True(t, h.Default, "user hash %s removed", h.Hash)
		assert.True(t, h.Active, "factory hash %s active again", h.Hash)
	}
	defaults := 0
	for _, r := range amt.DefaultRootHashes() {
		for _, h := range s.RootHashes {
			if h.Hash.Equal(r.Hash) {
				defaults++
			}
		}
	}
	assert.Equal(t, len(s.RootHashes), defaults, "only entries of amt.DefaultRootHashes remain")
}

func TestRootHashSlots(t *testing.T) {
	d := start(t, amtsim.Config{})
	for i := range 3 {
		s := sha256.Sum256([]byte{byte(i)})
		require.NoError(t, d.AddRootHash(amtsim.RootHash{Name: "user", Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: s[:]}, Active: true}))
	}
	s := sha256.Sum256([]byte{9})
	require.ErrorIs(t, d.AddRootHash(amtsim.RootHash{Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: s[:]}, Active: true}), amtsim.ErrSlotsFull)

	sha1Hash := amt.CertHash{Alg: amt.HashSHA1, Sum: make([]byte, 20)}
	require.ErrorIs(t, start(t, amtsim.Config{}).AddRootHash(amtsim.RootHash{Hash: sha1Hash, Active: true}), amtsim.ErrConfig, "no SHA-1 on AMT 16")
	require.NoError(t, start(t, amtsim.Config{Version: amt.MustParseVersion("12.0.67")}).AddRootHash(amtsim.RootHash{Hash: sha1Hash, Active: true}))
}

func TestTLSVersionsByFirmware(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	for _, tt := range []struct {
		version  string
		min, max uint16
		ok       bool
	}{
		{"12.0.67", tls.VersionTLS12, tls.VersionTLS12, true},
		{"12.0.67", tls.VersionTLS11, tls.VersionTLS11, true},  // TLS 1.1 until 15/16
		{"12.0.67", tls.VersionTLS10, tls.VersionTLS10, false}, // no TLS 1.0 from 12
		{"11.8.55", tls.VersionTLS12, tls.VersionTLS12, false}, // no TLS 1.2 before 12
		{"11.8.55", tls.VersionTLS10, tls.VersionTLS11, true},
	} {
		t.Run(fmt.Sprintf("%s/%x-%x", tt.version, tt.min, tt.max), func(t *testing.T) {
			cfg := trusting(pc)
			cfg.Version = amt.MustParseVersion(tt.version)
			d := start(t, cfg)
			_, err := amt.NewDevice(rcfgClient(t, d, pc, wsman.WithLegacyTLS(), wsman.WithTLSVersions(tt.min, tt.max))).Version(t.Context())
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, wsman.ErrConnect)
			}
		})
	}
}

func TestDeviceCertificateNames(t *testing.T) {
	d16 := start(t, amtsim.Config{HostName: "amt1", DHCPDNSSuffix: "example.com"})
	c16, err := d16.DeviceCertificate()
	require.NoError(t, err)
	assert.Equal(t, []string{"amt1.example.com"}, c16.DNSNames)
	assert.NotEmpty(t, c16.IPAddresses)

	d19 := start(t, amtsim.Config{Version: amt.MustParseVersion("19.0.5"), HostName: "amt1", DHCPDNSSuffix: "example.com"})
	c19, err := d19.DeviceCertificate()
	require.NoError(t, err)
	assert.Empty(t, c19.DNSNames, "AMT 19+ certificates name no host")
	assert.Empty(t, c19.IPAddresses)
	assert.Error(t, c19.VerifyHostname("127.0.0.1"))

	od := start(t, amtsim.Config{Version: amt.MustParseVersion("19.0.5"), OnDie: true})
	oc, err := od.DeviceCertificate()
	require.NoError(t, err)
	_, err = oc.Verify(x509.VerifyOptions{Roots: od.OnDieCA().Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err)
	id, ok := amtsim.UUIDOf(oc)
	require.True(t, ok)
	assert.Equal(t, od.UUID(), id)
	assert.Equal(t, "AMT RCFG", oc.Subject.CommonName)
}

func TestUserACLEntries(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d, c := provisioned(t, keys, pc, nil)
	add := func(user string, realms ...string) (uint32, uint32) {
		p := []wsman.Property{wsman.Prop("DigestUsername", user), wsman.Prop("DigestPassword", digestB64(user, d.DigestRealm(), "Us3r-pass!")),
			wsman.Prop("AccessPermission", "2")}
		for _, r := range realms {
			p = append(p, wsman.Prop("Realms", r))
		}
		rv, out := invoke(t, c, uriAuth, "AddUserAclEntryEx", p...)
		h, _ := strconv.Atoi(wsman.Text(wsman.Child(out, uriAuth, "Handle")))
		return rv, uint32(h)
	}
	rv, h := add("operator", "3", "5")
	require.Zero(t, rv)
	rv, _ = add("operator", "3")
	assert.Equal(t, uint32(amt.StatusDuplicate), rv)
	rv, _ = add("other", "22")
	assert.Equal(t, uint32(amt.StatusInvalidRealm), rv, "reserved realm")
	rv, _ = add("$$bad", "3")
	assert.Equal(t, uint32(amt.StatusInvalidName), rv)

	rv, out := invoke(t, c, uriAuth, "EnumerateUserAclEntries", wsman.Prop("StartIndex", "1"))
	require.Zero(t, rv)
	assert.Equal(t, []string{"1", strconv.Itoa(int(h))}, texts(out, uriAuth, "Handles"), "$$uns is handle 1")
	rv, _ = invoke(t, c, uriAuth, "EnumerateUserAclEntries", wsman.Prop("StartIndex", "0"))
	assert.Equal(t, uint32(amt.StatusInvalidIndex), rv, "StartIndex is 1-based")

	rv, out = invoke(t, c, uriAuth, "GetUserAclEntryEx", wsman.Prop("Handle", strconv.Itoa(int(h))))
	require.Zero(t, rv)
	assert.Equal(t, []string{"DigestUsername", "AccessPermission", "Realms", "Realms", "ReturnValue"}, childNames(out), "MOF order, ReturnValue last, no DigestPassword")

	// The user logs in with digest.
	uc := adminClient(t, d.HTTPEndpoint(), "operator", "Us3r-pass!")
	_ = get(t, uc, uriGen)
	rv, _ = invoke(t, c, uriAuth, "SetAclEnabledState", wsman.Prop("Handle", strconv.Itoa(int(h))), wsman.Prop("Enabled", "false"))
	require.Zero(t, rv)
	_, err := adminClient(t, d.HTTPEndpoint(), "operator", "Us3r-pass!").Get(t.Context(), uriGen, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized, "a disabled entry cannot log in")

	rv, _ = invoke(t, c, uriAuth, "RemoveUserAclEntry", wsman.Prop("Handle", "1"))
	assert.Equal(t, uint32(amt.StatusNotPermitted), rv, "$$ accounts cannot be removed")
	rv, _ = invoke(t, c, uriAuth, "RemoveUserAclEntry", wsman.Prop("Handle", strconv.Itoa(int(h))))
	require.Zero(t, rv)
	rv, _ = invoke(t, c, uriAuth, "GetUserAclEntryEx", wsman.Prop("Handle", strconv.Itoa(int(h))))
	assert.Equal(t, uint32(amt.StatusInvalidHandle), rv)
}

func texts(el *etree.Element, ns, local string) []string {
	var out []string
	for _, c := range wsman.Children(el, ns, local) {
		out = append(out, wsman.Text(c))
	}
	return out
}

func childNames(el *etree.Element) []string {
	var out []string
	for _, c := range el.ChildElements() {
		out = append(out, c.Tag)
	}
	return out
}

func TestTimeSynchronization(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	_, c := provisioned(t, keys, pc, func(cfg *amtsim.Config) { cfg.ClockOffset = -time.Hour })
	rv, out := invoke(t, c, uriTime, "GetLowAccuracyTimeSynch")
	require.Zero(t, rv)
	ta0, err := strconv.ParseInt(wsman.Text(wsman.Child(out, uriTime, "Ta0")), 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Add(-time.Hour).Unix(), ta0, 5, "the device clock is an hour behind")

	now := strconv.FormatInt(time.Now().Unix(), 10)
	rv, _ = invoke(t, c, uriTime, "SetHighAccuracyTimeSynch", wsman.Prop("Ta0", strconv.FormatInt(ta0, 10)), wsman.Prop("Tm1", "1000"), wsman.Prop("Tm2", now))
	assert.Equal(t, uint32(amt.StatusInvalidParameter), rv, "times before 2004 are refused")
	rv, _ = invoke(t, c, uriTime, "SetHighAccuracyTimeSynch", wsman.Prop("Ta0", strconv.FormatInt(ta0, 10)), wsman.Prop("Tm1", now), wsman.Prop("Tm2", now))
	require.Zero(t, rv)
	_, out = invoke(t, c, uriTime, "GetLowAccuracyTimeSynch")
	ta0, err = strconv.ParseInt(wsman.Text(wsman.Child(out, uriTime, "Ta0")), 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Unix(), ta0, 5, "set")
	assert.Equal(t, []string{"1"}, get(t, c, uriTime)["TimeSource"])
}

func TestPublicKeyManagement(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	_, c := provisioned(t, keys, pc, nil)

	// A key of our own, sent as PKCS#1 (AMT refuses PKCS#8).
	k, err := keys.RSA(2048)
	require.NoError(t, err)
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	rv, _ := invoke(t, c, uriPKM, "AddKey", wsman.Prop("KeyBlob", b64(p8)))
	assert.Equal(t, uint32(amt.StatusInvalidKey), rv)
	rv, out := invoke(t, c, uriPKM, "AddKey", wsman.Prop("KeyBlob", b64(x509.MarshalPKCS1PrivateKey(k))))
	require.Zero(t, rv)
	keyEPR, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "CreatedKey"))
	require.NoError(t, err)
	rv, _ = invoke(t, c, uriPKM, "AddKey", wsman.Prop("KeyBlob", b64(x509.MarshalPKCS1PrivateKey(k))))
	assert.Equal(t, uint32(amt.StatusDuplicate), rv)

	// A CSR signed by the device with that key.
	rv, out = invoke(t, c, uriPKM, "GeneratePKCS10RequestEx", wsman.PropEPR("KeyPair", keyEPR),
		wsman.Prop("SigningAlgorithm", "1"), wsman.Prop("NullSignedCertificateRequest", b64(nullSignedCSR(t, k.Public()))))
	require.Zero(t, rv)
	der, err := base64.StdEncoding.DecodeString(wsman.Text(wsman.Child(out, uriPKM, "SignedCertificateRequest")))
	require.NoError(t, err)
	csr, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature(), "signed by the key pair")
	assert.Equal(t, x509.SHA256WithRSA, csr.SignatureAlgorithm)
	assert.True(t, k.PublicKey.Equal(csr.PublicKey))
	assert.Equal(t, "amt.example.com", csr.Subject.CommonName)

	// Certificates: one for a key the device lacks is refused.
	stranger, err := keys.RSA(2048)
	require.NoError(t, err)
	leaf := func(pub any, serial int64) *x509.Certificate {
		cert, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "amt"}}, pub)
		require.NoError(t, err)
		return cert
	}
	rv, _ = invoke(t, c, uriPKM, "AddCertificate", wsman.Prop("CertificateBlob", b64(leaf(stranger.Public(), 1).Raw)))
	assert.Equal(t, uint32(amt.StatusCertKeyNotMatch), rv)
	mine := leaf(k.Public(), 2)
	rv, _ = invoke(t, c, uriPKM, "AddCertificate", wsman.Prop("CertificateBlob", b64(mine.Raw)))
	require.Zero(t, rv)
	rv, _ = invoke(t, c, uriPKM, "AddCertificate", wsman.Prop("CertificateBlob", b64(mine.Raw)))
	assert.Equal(t, uint32(amt.StatusDuplicate), rv)
	rv, _ = invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(leaf(stranger.Public(), 3).Raw)))
	assert.Equal(t, uint32(amt.StatusInvalidCert), rv, "a trusted root must be a CA")
	rv, _ = invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(ca.RootCertificate().Raw)))
	require.Zero(t, rv)
	rv, _ = invoke(t, c, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "1"), wsman.Prop("KeyLength", "384"))
	assert.Equal(t, uint32(amt.StatusUnsupported), rv, "ECC keys only on AMT 22")
}

func TestAMT22KeysAndTLSBinding(t *testing.T) {
	keys := certstest.NewKeyPool()
	// AMT 22 wants a SHA-384 provisioning certificate and SigningAlgorithm 3.
	pc := chainFor(t, keys, certstest.ProvisioningOptions{Leaf: func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	d, c := provisioned384(t, pc, func(cfg *amtsim.Config) { cfg.Version = amt.MustParseVersion("22.0.0") })

	bind := func(alg, length string, sig x509.SignatureAlgorithm) error {
		rv, out := invoke(t, c, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", alg), wsman.Prop("KeyLength", length))
		require.Zero(t, rv)
		epr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "KeyPair"))
		require.NoError(t, err)
		id, _ := epr.Selectors.Get("InstanceID")
		der, err := base64.StdEncoding.DecodeString(get(t, c, uriKey, wsman.Sel("InstanceID", id))["DERKey"][0])
		require.NoError(t, err)
		var pub any
		if alg == "0" {
			pub, err = x509.ParsePKCS1PublicKey(der)
		} else {
			pub, err = x509.ParsePKIXPublicKey(der) // ECC keys come as SPKI
		}
		require.NoError(t, err)
		cert, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "amt"}, SignatureAlgorithm: sig}, pub)
		require.NoError(t, err)
		rv, out = invoke(t, c, uriPKM, "AddCertificate", wsman.Prop("CertificateBlob", b64(cert.Raw)))
		require.Zero(t, rv)
		cepr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "CreatedCertificate"))
		require.NoError(t, err)
		certID, _ := cepr.Selectors.Get("InstanceID")
		_, err = c.Put(t.Context(), uriTLSContext, nil, tlsContextBody(certID))
		return err
	}
	err := bind("0", "2048", x509.SHA384WithRSA)
	require.Error(t, err)
	assert.Equal(t, amt.StatusInternalError, amtStatus(t, err), "AMT 22 refuses RSA for TLS (HTTP 500, AMT-STATUS 1)")
	err = bind("1", "384", x509.SHA256WithRSA)
	require.Error(t, err)
	assert.Equal(t, amt.StatusInternalError, amtStatus(t, err), "AMT 22 refuses a SHA-256 certificate for TLS")
	require.NoError(t, bind("1", "384", x509.SHA384WithRSA))
	_, isECDSA := d.Snapshot().TLSCertificate.PublicKey.(*ecdsa.PublicKey)
	assert.True(t, isECDSA)
	_ = rsa.PublicKey{}
}

func TestMutualTLSAfterProvisioning(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	d, c := provisioned(t, keys, pc, nil)
	rv, _ := invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(ca.RootCertificate().Raw)))
	require.Zero(t, rv)
	issued := installTLSWithMutual(t, c, ca)
	rv, _ = invoke(t, c, uriSetup, "CommitChanges")
	require.Zero(t, rv)

	pin := wsman.PinSHA256(sha256.Sum256(issued.Raw))
	_, err := adminClient(t, d.TLSEndpoint(), "admin", adminPW, wsman.WithTLS(pin)).Get(t.Context(), uriGen, nil)
	require.ErrorIs(t, err, wsman.ErrConnect, "no client certificate")

	ck, err := keys.RSA(2048)
	require.NoError(t, err)
	ccert, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "console"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ck.Public())
	require.NoError(t, err)
	mc := adminClient(t, d.TLSEndpoint(), "admin", adminPW, wsman.WithTLS(pin),
		wsman.WithClientCertificate(tls.Certificate{Certificate: [][]byte{ccert.Raw}, PrivateKey: ck}))
	_ = get(t, mc, uriGen)
}

// Mutual TLS needs a trusted root: CommitChanges answers DATA_MISSING
// without one ("If mutual authentication is configured, then at least one
// trusted root certificate must exist": Intel's CommitChanges description,
// quoted in go-wsman-messages setupandconfiguration/service.go), and applies
// nothing.
func TestMutualTLSCommitNeedsTrustedRoot(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	d, c := provisioned(t, keys, pc, nil)
	installTLSWithMutual(t, c, ca)
	rv, _ := invoke(t, c, uriSetup, "CommitChanges")
	assert.Equal(t, uint32(amt.StatusDataMissing), rv)
	assert.False(t, d.Snapshot().TLSApplied.Enabled, "nothing applied")

	rv, _ = invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(ca.RootCertificate().Raw)))
	assert.Equal(t, uint32(amt.StatusNotPermitted), rv, "no trusted root while mutual authentication is on, even pending")
	body := wsman.NewInstance(uriTLSSetting, wsman.Prop("InstanceID", remoteTLSID), wsman.Prop("Enabled", "true"),
		wsman.Prop("MutualAuthentication", "false"), wsman.Prop("AcceptNonSecureConnections", "true"))
	_, err := c.Put(t.Context(), uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", remoteTLSID)}, body)
	require.NoError(t, err)
	rv, _ = invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(ca.RootCertificate().Raw)))
	require.Zero(t, rv)
	body = wsman.NewInstance(uriTLSSetting, wsman.Prop("InstanceID", remoteTLSID), wsman.Prop("Enabled", "true"),
		wsman.Prop("MutualAuthentication", "true"), wsman.Prop("AcceptNonSecureConnections", "true"))
	_, err = c.Put(t.Context(), uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", remoteTLSID)}, body)
	require.NoError(t, err)
	rv, _ = invoke(t, c, uriSetup, "CommitChanges")
	require.Zero(t, rv)
	assert.True(t, d.Snapshot().TLSApplied.MutualAuthentication)
}

// A Put that enables TLS must carry MutualAuthentication ("This property
// must be supplied if Enabled property is True": the AMT_TLSSettingData class
// reference, quoted in go-wsman-messages amt/tls/types.go); the status of the
// refusal is the simulator's choice (InvalidParameter). Nothing is stored.
func TestTLSSettingPutNeedsMutualAuthentication(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d, c := provisioned(t, keys, pc, nil)
	for _, id := range []string{remoteTLSID, amt.TLSLocalInstanceID} {
		body := wsman.NewInstance(uriTLSSetting, wsman.Prop("InstanceID", id), wsman.Prop("Enabled", "true"))
		_, err := c.Put(t.Context(), uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", id)}, body)
		require.Error(t, err, id)
		assert.Equal(t, amt.StatusInvalidParameter, amtStatus(t, err), id)
	}
	assert.False(t, d.Snapshot().TLSLocal.Enabled, "nothing stored")
	body := wsman.NewInstance(uriTLSSetting, wsman.Prop("InstanceID", amt.TLSLocalInstanceID), wsman.Prop("Enabled", "false"))
	_, err := c.Put(t.Context(), uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", amt.TLSLocalInstanceID)}, body)
	require.NoError(t, err, "not needed to turn TLS off")
}

func installTLSWithMutual(t *testing.T, c *wsman.Client, ca *certstest.CA) *x509.Certificate {
	t.Helper()
	rv, out := invoke(t, c, uriPKM, "GenerateKeyPair", wsman.Prop("KeyAlgorithm", "0"), wsman.Prop("KeyLength", "2048"))
	require.Zero(t, rv)
	epr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "KeyPair"))
	require.NoError(t, err)
	id, _ := epr.Selectors.Get("InstanceID")
	der, err := base64.StdEncoding.DecodeString(get(t, c, uriKey, wsman.Sel("InstanceID", id))["DERKey"][0])
	require.NoError(t, err)
	pub, err := x509.ParsePKCS1PublicKey(der)
	require.NoError(t, err)
	cert, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "amt"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, pub)
	require.NoError(t, err)
	rv, out = invoke(t, c, uriPKM, "AddCertificate", wsman.Prop("CertificateBlob", b64(cert.Raw)))
	require.Zero(t, rv)
	cepr, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "CreatedCertificate"))
	require.NoError(t, err)
	certID, _ := cepr.Selectors.Get("InstanceID")
	_, err = c.Create(t.Context(), uriTLSContext, tlsContextBody(certID))
	require.NoError(t, err)
	body := wsman.NewInstance(uriTLSSetting, wsman.Prop("InstanceID", remoteTLSID), wsman.Prop("Enabled", "true"),
		wsman.Prop("MutualAuthentication", "true"), wsman.Prop("AcceptNonSecureConnections", "true"))
	_, err = c.Put(t.Context(), uriTLSSetting, wsman.SelectorSet{wsman.Sel("InstanceID", remoteTLSID)}, body)
	require.NoError(t, err)
	// Deleting the context while TLS is on is refused.
	_, err = c.Delete(t.Context(), uriTLSContext, wsman.SelectorSet{wsman.SelEPR("ElementInContext", certEPRFor(certID))})
	require.Error(t, err)
	assert.Equal(t, amt.StatusNotPermitted, amtStatus(t, err))
	return cert
}

func TestIEEE8021x(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	d, c := provisioned(t, keys, pc, nil)
	root := ca.RootCertificate()
	rv, out := invoke(t, c, uriPKM, "AddTrustedRootCertificate", wsman.Prop("CertificateBlob", b64(root.Raw)))
	require.Zero(t, rv)
	rootEPR, err := wsman.ParseEPR(wsman.Child(out, uriPKM, "CreatedCertificate"))
	require.NoError(t, err)

	put := func(enabled string) error {
		_, err := c.Put(t.Context(), uriIEEE, nil, wsman.NewInstance(uriIEEE, wsman.Prop("Enabled", enabled),
			wsman.Prop("AuthenticationProtocol", "0"), wsman.Prop("Username", "amt1"), wsman.Prop("Password", "never-returned")))
		return err
	}
	require.Equal(t, amt.StatusInvalidParameter, amtStatus(t, put("4")))
	require.NoError(t, put("2"))
	f := get(t, c, uriIEEE)
	assert.Equal(t, []string{"2"}, f["Enabled"])
	assert.Equal(t, []string{"amt1"}, f["Username"])
	assert.NotContains(t, f, "Password", "write-only")

	rv, _ = invoke(t, c, uriIEEE, "SetCertificates", wsman.PropEPR("ClientCertificate", rootEPR))
	assert.Equal(t, uint32(1), rv, "a trusted root is not a client certificate")
	rv, _ = invoke(t, c, uriIEEE, "SetCertificates", wsman.PropEPR("ServerCertificateIssuer", rootEPR))
	require.Zero(t, rv)
	assert.Equal(t, root.Raw, d.Snapshot().IEEE8021xServer.Raw)
	items, err := c.EnumerateAll(t.Context(), "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_8021xCredentialContext")
	require.NoError(t, err)
	require.Len(t, items, 1)
}

func TestAgentInitiatedOnAMT26(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{NoIntermediate: true, RootOptions: certstest.CAOptions{SHA1: true}, SHA1: true})
	cfg := trusting(pc)
	cfg.Version = amt.MustParseVersion("2.6.0")
	d := start(t, cfg)
	_, err := amt.NewDevice(rcfgClient(t, d, pc, wsman.WithLegacyTLS())).Version(t.Context())
	require.ErrorIs(t, err, wsman.ErrConnect, "no remote configuration before the agent starts it")
	require.NoError(t, d.StartConfiguration(amt.NewSecret("0ne-time-pw")))
	v, err := amt.NewDevice(rcfgClient(t, d, pc, wsman.WithLegacyTLS())).Version(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "2.6.0", v.String())
}
