package amtsim_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const adminPW = "P@ssw0rd-Adm1n"

func TestAdminSetup(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d := start(t, trusting(pc))
	c := localClient(t, d)

	injectChain(t, c, pc.Chain)
	assert.Equal(t, uint8(2), d.Snapshot().CertChainStatus)
	n := configurationNonce(t, c)
	mc := mcNonce(t)
	rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
	require.Zero(t, rv)

	s := d.Snapshot()
	assert.Equal(t, amt.PostProvisioning, s.ProvisioningState)
	assert.Equal(t, amt.ControlModeACM, s.ControlMode)
	require.NotNil(t, s.Record)
	assert.Equal(t, "host-based admin setup", s.Record.Method)
	assert.Equal(t, sha256Of(rootOf(pc)), s.Record.RootHash)
	assert.NotEqual(t, n, s.ConfigurationNonce, "a fresh nonce after use")
	assert.True(t, d.AdminPasswordIs(amt.NewSecret(adminPW)))
	assert.False(t, s.AdminPasswordDefault)

	// The admin password now works over digest; the HBS reports ACM.
	ac := adminClient(t, d.HTTPEndpoint(), "admin", adminPW)
	f := get(t, ac, uriHBS)
	assert.Equal(t, []string{"2"}, f["CurrentControlMode"])
	f = get(t, ac, uriSetup)
	assert.Equal(t, []string{"2"}, f["ProvisioningState"])
	assert.Equal(t, []string{"1"}, f["ProvisioningMode"])

	// A wrong admin password is refused (HTTP 401, never retried).
	bad := adminClient(t, d.HTTPEndpoint(), "admin", "Wr0ng-P@ss")
	_, err := bad.Get(t.Context(), uriGen, nil)
	require.ErrorIs(t, err, wsman.ErrUnauthorized)

	// AdminSetup is refused once provisioned.
	rv, _ = invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, s.ConfigurationNonce, mc))...)
	assert.Equal(t, uint32(2), rv, "invalid state")
}

func TestAdminSetupRefusals(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	other := chainFor(t, keys, certstest.ProvisioningOptions{NoIntermediate: true})

	tests := []struct {
		name string
		cfg  func(*amtsim.Config)
		run  func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32
		want uint32
	}{
		{name: "bad signature", want: 5, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			injectChain(t, c, pc.Chain)
			n, mc := configurationNonce(t, c), mcNonce(t)
			sig := signNonces(t, other.Key, n, mc) // not the leaf's key
			rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, sig)...)
			return rv
		}},
		{name: "McNonce and ConfigurationNonce swapped", want: 5, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			injectChain(t, c, pc.Chain)
			n, mc := configurationNonce(t, c), mcNonce(t)
			rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, mc, n))...)
			return rv
		}},
		{name: "stale nonce", want: 5, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			injectChain(t, c, pc.Chain)
			n, mc := configurationNonce(t, c), mcNonce(t)
			sig := signNonces(t, pc.Key, n, mc)
			// A failed attempt (bad encryption type) still uses up the nonce.
			props := adminSetupProps(d.DigestRealm(), adminPW, mc, sig)
			props[0].Value = "1"
			rv, _ := invoke(t, c, uriHBS, "AdminSetup", props...)
			require.Equal(t, uint32(3), rv)
			require.NotEqual(t, n, configurationNonce(t, c))
			rv, _ = invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, sig)...)
			return rv
		}},
		{name: "root hash not active", want: 5, cfg: func(c *amtsim.Config) { c.UserRootHashes[0].Active = false },
			run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
				injectChain(t, c, pc.Chain)
				n, mc := configurationNonce(t, c), mcNonce(t)
				rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
				return rv
			}},
		{name: "wrong DNS suffix (MeshCentral ERR/5)", want: 5, cfg: func(c *amtsim.Config) { c.DHCPDNSSuffix = "fabrikam.com" },
			run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
				injectChain(t, c, pc.Chain)
				n, mc := configurationNonce(t, c), mcNonce(t)
				rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
				return rv
			}},
		{name: "no chain injected", want: 2, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			n, mc := configurationNonce(t, c), mcNonce(t)
			rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
			return rv
		}},
		{name: "SigningAlgorithm 3 before AMT 21", want: 3, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			injectChain(t, c, pc.Chain)
			n, mc := configurationNonce(t, c), mcNonce(t)
			props := adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))
			props[3].Value = "3"
			rv, _ := invoke(t, c, uriHBS, "AdminSetup", props...)
			return rv
		}},
		{name: "McNonce of 16 bytes", want: 3, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			injectChain(t, c, pc.Chain)
			n, mc := configurationNonce(t, c), mcNonce(t)[:16]
			rv, _ := invoke(t, c, uriHBS, "AdminSetup", adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))...)
			return rv
		}},
		{name: "AddNextCertInChain: intermediate before a leaf", want: 3, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			rv, _ := invoke(t, c, uriHBS, "AddNextCertInChain", wsman.Prop("NextCertificate", b64(pc.Chain[1].Raw)),
				wsman.Prop("IsLeafCertificate", "false"), wsman.Prop("IsRootCertificate", "false"))
			return rv
		}},
		{name: "AddNextCertInChain: not a certificate", want: 1, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			rv, _ := invoke(t, c, uriHBS, "AddNextCertInChain", wsman.Prop("NextCertificate", b64([]byte("not DER"))),
				wsman.Prop("IsLeafCertificate", "true"), wsman.Prop("IsRootCertificate", "false"))
			return rv
		}},
		{name: "AddNextCertInChain: wrong issuer", want: 4, run: func(t *testing.T, d *amtsim.Device, c *wsman.Client) uint32 {
			rv, _ := invoke(t, c, uriHBS, "AddNextCertInChain", wsman.Prop("NextCertificate", b64(pc.Chain[0].Raw)),
				wsman.Prop("IsLeafCertificate", "true"), wsman.Prop("IsRootCertificate", "false"))
			require.Zero(t, rv)
			rv, _ = invoke(t, c, uriHBS, "AddNextCertInChain", wsman.Prop("NextCertificate", b64(other.Chain[1].Raw)),
				wsman.Prop("IsLeafCertificate", "false"), wsman.Prop("IsRootCertificate", "true"))
			return rv
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := trusting(pc)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			d := start(t, cfg)
			got := tt.run(t, d, localClient(t, d))
			assert.Equal(t, tt.want, got)
			assert.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
		})
	}
}

func TestAdminSetupSHA384(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{Leaf: func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }})
	sign384 := func(t *testing.T, n, mc []byte) []byte {
		h := sha512.Sum384(append(append([]byte(nil), n...), mc...))
		sig, err := rsa.SignPKCS1v15(rand.Reader, pc.Key.(*rsa.PrivateKey), crypto.SHA384, h[:])
		require.NoError(t, err)
		return sig
	}
	for _, tt := range []struct {
		version string
		alg     string
		want    uint32
	}{
		{"21.0.5", "3", 0},
		{"21.0.5", "2", 0}, // SHA-256 signature still accepted on 21
		{"22.0.0", "2", 1}, // AMT 22 wants 3 for a SHA-384 certificate (RPS)
		{"22.0.0", "3", 0},
		{"20.0.5", "3", 3},
	} {
		t.Run(tt.version+"/alg"+tt.alg, func(t *testing.T) {
			cfg := trusting(pc)
			cfg.Version = amt.MustParseVersion(tt.version)
			d := start(t, cfg)
			c := localClient(t, d)
			injectChain(t, c, pc.Chain)
			n, mc := configurationNonce(t, c), mcNonce(t)
			sig := signNonces(t, pc.Key, n, mc)
			if tt.alg == "3" {
				sig = sign384(t, n, mc)
			}
			props := adminSetupProps(d.DigestRealm(), adminPW, mc, sig)
			props[3].Value = tt.alg
			rv, _ := invoke(t, c, uriHBS, "AdminSetup", props...)
			assert.Equal(t, tt.want, rv)
		})
	}
}

func TestAdminSetupWedgesOnRetry(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	cfg := trusting(pc)
	cfg.Behavior.WedgeOnSecondAdminSetup = true
	d := start(t, cfg)
	c := localClient(t, d)
	injectChain(t, c, pc.Chain)
	n, mc := configurationNonce(t, c), mcNonce(t)
	props := adminSetupProps(d.DigestRealm(), adminPW, mc, signNonces(t, pc.Key, n, mc))
	props[1].Value = "not hex"
	rv, _ := invoke(t, c, uriHBS, "AdminSetup", props...)
	require.Equal(t, uint32(3), rv)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Invoke(ctx, uriHBS, "AdminSetup", nil, wsman.NewInput(uriHBS, "AdminSetup", props...))
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, wsman.ErrResponseLost), "%v", err)
	assert.True(t, d.Snapshot().Unresponsive)

	// Every later request hangs too.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	_, err = localClient(t, d).Get(ctx2, uriGen, nil)
	require.Error(t, err)
}

func TestClientSetupAndUpgrade(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d := start(t, trusting(pc))
	c := localClient(t, d)
	rv, _ := invoke(t, c, uriHBS, "Setup",
		wsman.Prop("NetAdminPassEncryptionType", "2"),
		wsman.Prop("NetworkAdminPassword", hexA1("admin", d.DigestRealm(), adminPW)))
	require.Zero(t, rv)
	s := d.Snapshot()
	require.Equal(t, amt.PostProvisioning, s.ProvisioningState)
	require.Equal(t, amt.ControlModeCCM, s.ControlMode)

	// SetMEBxPassword is blocked in client control mode.
	ac := adminClient(t, d.HTTPEndpoint(), "admin", adminPW)
	rv, _ = invoke(t, ac, uriSetup, "SetMEBxPassword", wsman.Prop("Password", "N3w-MEBx!"))
	assert.Equal(t, uint32(amt.StatusNotPermitted), rv)

	// UpgradeClientToAdmin needs the admin, not the local system account.
	injectChain(t, c, pc.Chain)
	n, mc := configurationNonce(t, c), mcNonce(t)
	up := []wsman.Property{wsman.Prop("McNonce", b64(mc)), wsman.Prop("SigningAlgorithm", "2"), wsman.Prop("DigitalSignature", b64(signNonces(t, pc.Key, n, mc)))}
	_, err := c.Invoke(t.Context(), uriHBS, "UpgradeClientToAdmin", nil, wsman.NewInput(uriHBS, "UpgradeClientToAdmin", up...))
	require.ErrorIs(t, err, wsman.ErrAccessDenied)

	n, mc = configurationNonce(t, ac), mcNonce(t)
	up = []wsman.Property{wsman.Prop("McNonce", b64(mc)), wsman.Prop("SigningAlgorithm", "2"), wsman.Prop("DigitalSignature", b64(signNonces(t, pc.Key, n, mc)))}
	rv, _ = invoke(t, ac, uriHBS, "UpgradeClientToAdmin", up...)
	require.Zero(t, rv)
	s = d.Snapshot()
	assert.Equal(t, amt.ControlModeACM, s.ControlMode)
	assert.Equal(t, "upgrade to admin", s.Record.Method)

	// A second upgrade is refused: the device is no longer in CCM.
	rv, _ = invoke(t, ac, uriHBS, "UpgradeClientToAdmin", up...)
	assert.Equal(t, uint32(2), rv)
}
