package amt

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHostBasedSetupRecorded(t *testing.T) {
	tests := []struct {
		src   vectorSource
		mode  ControlMode
		nonce string // hex
	}{
		{ownSource, ControlModeNone, "000102030405060708090a0b0c0d0e0f10111213"},
		// 4P3sY7swlhjkhJNxDkEBIUcmpHE= decoded with Python's base64 module.
		{recordedSource, ControlModeACM, "e0fdec63bb309618e48493710e4101214726a471"},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "ips/hostbasedsetup/get", "ips/hostbasedsetup/pull")
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				return rs.reply(t, r, "ips/hostbasedsetup/get")
			})
			h, err := d.HostBasedSetup(context.Background())
			require.NoError(t, err)
			r := f.only(t)
			assert.Equal(t, wsman.ActionGet, r.Action)
			assert.Equal(t, URIHostBasedSetupService, r.ResourceURI)
			assert.Empty(t, r.Selectors)

			assert.Equal(t, tc.mode, h.CurrentControlMode)
			assert.Equal(t, []ControlMode{ControlModeACM, ControlModeCCM}, h.AllowedControlModes)
			assert.Equal(t, CertChainNotStarted, h.CertChainStatus)
			assert.Equal(t, tc.nonce, hex.EncodeToString(h.ConfigurationNonce))

			nonce, err := d.ConfigurationNonce(context.Background())
			require.NoError(t, err)
			assert.Equal(t, h.ConfigurationNonce, nonce)

			items := rs.items(t, "ips/hostbasedsetup/pull")
			require.Len(t, items, 1)
			h2, err := parseHostBasedSetup(items[0])
			require.NoError(t, err)
			assert.Equal(t, h, h2)
		})
	}
}

func TestHostBasedSetupBadNonce(t *testing.T) {
	for name, nonce := range map[string]string{
		"19 bytes": base64.StdEncoding.EncodeToString(make([]byte, 19)),
		"not b64":  "!!",
		"absent":   "",
	} {
		t.Run(name, func(t *testing.T) {
			props := []wsman.Property{wsman.Prop("CurrentControlMode", "0")}
			if nonce != "" {
				props = append(props, wsman.Prop("ConfigurationNonce", nonce))
			}
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				return wsmantest.GetResponse(r, instance(URIHostBasedSetupService, props...))
			})
			_, err := d.ConfigurationNonce(context.Background())
			require.ErrorIs(t, err, ErrBadResponse)
		})
	}
	assert.Equal(t, "InProgress", CertChainInProgress.String())
	assert.Equal(t, "CertChainStatus(7)", CertChainStatus(7).String())
}

// digestVector is a row of the shared digest vectors (internal/testvectors
// data/digest.json), hashed independently of amtkit.
type digestVector struct {
	User     string `json:"user"`
	Realm    string `json:"realm"`
	Password string `json:"password"`
	Hex      string `json:"hex"`
	Base64   string `json:"base64"`
	Note     string `json:"note"`
}

// strongDigestVectors returns the rows whose user is admin and whose password
// passes CheckPassword.
func strongDigestVectors(t *testing.T, adminOnly bool) []digestVector {
	var out []digestVector
	for _, v := range testvectors.Load[digestVector](t, "digest").Vectors {
		if CheckPassword(v.Password) == nil && CheckUsername(v.User) == nil && (!adminOnly || v.User == "admin") {
			out = append(out, v)
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestAdminSetupRequest(t *testing.T) {
	ctx := context.Background()
	rs := ownResponses(t, "ips/hostbasedsetup/adminsetup")
	for _, v := range strongDigestVectors(t, true) {
		d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
			return rs.reply(t, r, "ips/hostbasedsetup/adminsetup")
		})
		sigBytes := []byte("signature-bytes")
		require.NoError(t, d.AdminSetup(ctx, NewSecret(v.Password), v.Realm, SetupSignature{McNonce: testNonce(), Signature: sigBytes}))
		ps := requireMethodInput(t, f.only(t), URIHostBasedSetupService, "AdminSetup")
		assert.Equal(t, []string{"NetAdminPassEncryptionType", "NetworkAdminPassword", "McNonce", "SigningAlgorithm", "DigitalSignature"}, names(ps))
		val := values(ps)
		assert.Equal(t, []string{"2"}, val["NetAdminPassEncryptionType"])
		assert.Equal(t, []string{v.Hex}, val["NetworkAdminPassword"], "hexBinary MD5(admin:realm:password), lower case")
		assert.Equal(t, []string{base64.StdEncoding.EncodeToString(testNonce())}, val["McNonce"])
		assert.Equal(t, []string{"2"}, val["SigningAlgorithm"], "zero means RSA-SHA-256")
		assert.Equal(t, []string{base64.StdEncoding.EncodeToString(sigBytes)}, val["DigitalSignature"])
	}

	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	require.NoError(t, d.AdminSetup(ctx, testPassword(), testRealm, SetupSignature{McNonce: testNonce(), Signature: []byte{1}, Algorithm: SigningRSASHA384}))
	assert.Equal(t, []string{"3"}, values(params(t, f.only(t).Input))["SigningAlgorithm"])

	chain := testChain(t)
	for name, tc := range map[string]struct {
		pw    Secret
		realm string
		sig   SetupSignature
	}{
		"short McNonce":    {testPassword(), testRealm, SetupSignature{McNonce: make([]byte, 19), Signature: []byte{1}}},
		"no signature":     {testPassword(), testRealm, SetupSignature{McNonce: testNonce()}},
		"certificate":      {testPassword(), testRealm, SetupSignature{McNonce: testNonce(), Signature: []byte{1}, Certificate: chain[0]}},
		"no realm":         {testPassword(), "", SetupSignature{McNonce: testNonce(), Signature: []byte{1}}},
		"weak password":    {NewSecret("qwertyu"), testRealm, SetupSignature{McNonce: testNonce(), Signature: []byte{1}}},
		"colon in passwd:": {NewSecret("P@ss:w0rd"), testRealm, SetupSignature{McNonce: testNonce(), Signature: []byte{1}}},
	} {
		t.Run(name, func(t *testing.T) {
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
			err := d.AdminSetup(ctx, tc.pw, tc.realm, tc.sig)
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.NotContains(t, err.Error(), tc.pw.Reveal())
			assert.Empty(t, f.requests())
		})
	}
}

func TestSetupRequest(t *testing.T) {
	ctx := context.Background()
	v := strongDigestVectors(t, true)[0]
	chain := testChain(t)

	rs := ownResponses(t, "ips/hostbasedsetup/setup")
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, "ips/hostbasedsetup/setup") })
	require.NoError(t, d.Setup(ctx, NewSecret(v.Password), v.Realm, nil))
	ps := requireMethodInput(t, f.only(t), URIHostBasedSetupService, "Setup")
	assert.Equal(t, []string{"NetAdminPassEncryptionType", "NetworkAdminPassword"}, names(ps), "optional parameters are omitted, not sent empty")
	assert.Equal(t, []string{v.Hex}, values(ps)["NetworkAdminPassword"])

	// A signed client-control-mode setup carries the certificate between
	// McNonce and SigningAlgorithm (MOF order).
	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	require.NoError(t, d.Setup(ctx, NewSecret(v.Password), v.Realm, &SetupSignature{McNonce: testNonce(), Signature: []byte{7}, Certificate: chain[0]}))
	ps = requireMethodInput(t, f.only(t), URIHostBasedSetupService, "Setup")
	assert.Equal(t, []string{"NetAdminPassEncryptionType", "NetworkAdminPassword", "McNonce", "Certificate", "SigningAlgorithm", "DigitalSignature"}, names(ps))
	der, err := base64.StdEncoding.DecodeString(values(ps)["Certificate"][0])
	require.NoError(t, err)
	assert.Equal(t, chain[0].Raw, der)
}

func TestUpgradeAndDisable(t *testing.T) {
	ctx := context.Background()
	rs := ownResponses(t, "ips/hostbasedsetup/upgradeclienttoadmin")
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return rs.reply(t, r, "ips/hostbasedsetup/upgradeclienttoadmin")
	})
	require.NoError(t, d.UpgradeClientToAdmin(ctx, SetupSignature{McNonce: testNonce(), Signature: []byte{5}, Algorithm: SigningRSASHA256}))
	ps := requireMethodInput(t, f.only(t), URIHostBasedSetupService, "UpgradeClientToAdmin")
	assert.Equal(t, []string{"McNonce", "SigningAlgorithm", "DigitalSignature"}, names(ps))
	assert.Equal(t, map[string][]string{
		"McNonce": {base64.StdEncoding.EncodeToString(testNonce())}, "SigningAlgorithm": {"2"}, "DigitalSignature": {"BQ=="},
	}, values(ps))
	require.ErrorIs(t, d.UpgradeClientToAdmin(ctx, SetupSignature{McNonce: testNonce()}), ErrInvalidArgument)

	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	require.NoError(t, d.DisableClientControlMode(ctx))
	assert.Empty(t, requireMethodInput(t, f.only(t), URIHostBasedSetupService, "DisableClientControlMode"))
}

func TestAddCertChain(t *testing.T) {
	ctx := context.Background()
	chain := testChain(t)
	own := ownResponses(t, "ips/hostbasedsetup/addnextcertinchain")
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return own.reply(t, r, "ips/hostbasedsetup/addnextcertinchain")
	})
	require.NoError(t, d.AddCertChain(ctx, chain))
	rs := f.requests()
	require.Len(t, rs, 3)
	flags := [][2]string{{"true", "false"}, {"false", "false"}, {"false", "true"}}
	for i, r := range rs {
		ps := requireMethodInput(t, r, URIHostBasedSetupService, "AddNextCertInChain")
		assert.Equal(t, []string{"NextCertificate", "IsLeafCertificate", "IsRootCertificate"}, names(ps))
		der, err := base64.StdEncoding.DecodeString(ps[0].Value)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		assert.Equal(t, chain[i].Subject.CommonName, c.Subject.CommonName, "leaf first, root last")
		assert.Equal(t, flags[i][0], ps[1].Value, "IsLeafCertificate of #%d", i)
		assert.Equal(t, flags[i][1], ps[2].Value, "IsRootCertificate of #%d", i)
	}

	// One certificate is leaf and root.
	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	require.NoError(t, d.AddCertChain(ctx, chain[2:]))
	v := values(params(t, f.only(t).Input))
	assert.Equal(t, []string{"true"}, v["IsLeafCertificate"])
	assert.Equal(t, []string{"true"}, v["IsRootCertificate"])

	// The first failure stops the chain.
	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 4) })
	err := d.AddCertChain(ctx, chain)
	require.ErrorIs(t, err, ErrHostSetupCertVerifyFailed)
	assert.Len(t, f.requests(), 1)

	require.ErrorIs(t, d.AddCertChain(ctx, nil), ErrInvalidArgument)
	require.ErrorIs(t, d.AddNextCertInChain(ctx, nil, true, true), ErrInvalidArgument)
}
