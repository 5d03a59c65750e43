package amt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"strconv"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPublicKeyManagementRecorded(t *testing.T) {
	tests := []struct {
		src                            vectorSource
		generated, added, cert, rootID string
		csrCN                          string // "" = the response is refused
	}{
		{ownSource, "Intel(r) AMT Key: Handle: 2", "Intel(r) AMT Key: Handle: 3", "Intel(r) AMT Certificate: Handle: 4",
			"Intel(r) AMT Certificate: Handle: 5", "amt-host1.example.com"},
		// The recorded AddKey names AMT_PublicKeyCertificate as the key's
		// ResourceURI (a defect of the recording); only the InstanceID is used.
		// The recorded GeneratePKCS10RequestEx is synthetic ("test?"): refused.
		{recordedSource, "Intel(r) AMT Key: Handle: 0", "Intel(r) AMT Key: Handle: 1", "Intel(r) AMT Certificate: Handle: 1",
			"Intel(r) AMT Certificate: Handle: 2", ""},
	}
	methods := map[string]string{
		"GenerateKeyPair":           "amt/publickey/management/generatekeypair",
		"AddKey":                    "amt/publickey/management/addkey",
		"AddCertificate":            "amt/publickey/management/addcertificate",
		"AddTrustedRootCertificate": "amt/publickey/management/addtrustedrootcertificate",
		"GeneratePKCS10RequestEx":   "amt/publickey/management/generatepkcs10requestex",
	}
	var files []string
	for _, f := range methods {
		files = append(files, f)
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			ctx := context.Background()
			chain := testChain(t)
			rs := tc.src.load(t, files...)
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				m, _ := r.Method()
				return rs.reply(t, r, methods[m])
			})
			last := func(method string) []param {
				rs := f.requests()
				return requireMethodInput(t, rs[len(rs)-1], URIPublicKeyManagementService, method)
			}

			id, err := d.GenerateKeyPair(ctx, KeyAlgorithmRSA, 2048)
			require.NoError(t, err)
			assert.Equal(t, tc.generated, id)
			ps := last("GenerateKeyPair")
			assert.Equal(t, []string{"KeyAlgorithm", "KeyLength"}, names(ps))
			assert.Equal(t, map[string][]string{"KeyAlgorithm": {"0"}, "KeyLength": {"2048"}}, values(ps))

			id, err = d.AddKey(ctx, rsaKey)
			require.NoError(t, err)
			assert.Equal(t, tc.added, id)
			ps = last("AddKey")
			assert.Equal(t, []string{"KeyBlob"}, names(ps))
			blob, err := base64.StdEncoding.DecodeString(ps[0].Value)
			require.NoError(t, err)
			k, err := x509.ParsePKCS1PrivateKey(blob)
			require.NoError(t, err, "KeyBlob is PKCS#1, not PKCS#8")
			assert.True(t, k.Equal(rsaKey))

			id, err = d.AddCertificate(ctx, chain[0])
			require.NoError(t, err)
			assert.Equal(t, tc.cert, id)
			ps = last("AddCertificate")
			assert.Equal(t, []string{"CertificateBlob"}, names(ps))
			assert.Equal(t, base64.StdEncoding.EncodeToString(chain[0].Raw), ps[0].Value)

			id, err = d.AddTrustedRootCertificate(ctx, chain[2])
			require.NoError(t, err)
			assert.Equal(t, tc.rootID, id)
			assert.Equal(t, base64.StdEncoding.EncodeToString(chain[2].Raw), last("AddTrustedRootCertificate")[0].Value)

			csr, err := d.GeneratePKCS10RequestEx(ctx, "Intel(r) AMT Key: Handle: 0", CSRSigningSHA256RSA, []byte{0x30, 0x00})
			if tc.csrCN == "" {
				require.ErrorIs(t, err, ErrBadResponse)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.csrCN, csr.Subject.CommonName)
			}
			ps = last("GeneratePKCS10RequestEx")
			assert.Equal(t, []string{"KeyPair", "SigningAlgorithm", "NullSignedCertificateRequest"}, names(ps))
			require.NotNil(t, ps[0].EPR, "KeyPair is an EPR")
			assert.Equal(t, URIPublicPrivateKeyPair, ps[0].EPR.ResourceURI)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Key: Handle: 0")}, ps[0].EPR.Selectors)
			assert.Equal(t, "1", ps[1].Value)
			assert.Equal(t, "MAA=", ps[2].Value)
		})
	}
}

func TestGeneratePKCS10RequestEx(t *testing.T) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "amt-host1.example.com"}}, key)
	require.NoError(t, err)
	tampered := append([]byte(nil), csrDER...)
	tampered[len(tampered)-3] ^= 0xff

	for name, tc := range map[string]struct {
		out  []wsman.Property
		want error
	}{
		"signed":    {[]wsman.Property{wsman.Prop("SignedCertificateRequest", base64.StdEncoding.EncodeToString(csrDER))}, nil},
		"tampered":  {[]wsman.Property{wsman.Prop("SignedCertificateRequest", base64.StdEncoding.EncodeToString(tampered))}, ErrBadResponse},
		"not DER":   {[]wsman.Property{wsman.Prop("SignedCertificateRequest", "AAAA")}, ErrBadResponse},
		"not b64":   {[]wsman.Property{wsman.Prop("SignedCertificateRequest", "test?")}, ErrBadResponse},
		"no output": {nil, ErrBadResponse},
	} {
		t.Run(name, func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0, tc.out...) })
			csr, err := d.GeneratePKCS10RequestEx(ctx, "Intel(r) AMT Key: Handle: 3", CSRSigningSHA256RSA, []byte{0x30, 0})
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "amt-host1.example.com", csr.Subject.CommonName)
			assert.True(t, key.PublicKey.Equal(csr.PublicKey))
		})
	}
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	_, err = d.GeneratePKCS10RequestEx(ctx, "", CSRSigningSHA256RSA, csrDER)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = d.GeneratePKCS10RequestEx(ctx, "Intel(r) AMT Key: Handle: 3", CSRSigningSHA256RSA, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Empty(t, f.requests())
}

func TestCreatedEPRs(t *testing.T) {
	ctx := context.Background()
	chain := testChain(t)
	for name, out := range map[string][]wsman.Property{
		"missing":        nil,
		"no selector":    {wsman.PropEPR("CreatedCertificate", wsman.EPR{ResourceURI: URIPublicKeyCertificate})},
		"other selector": {wsman.PropEPR("CreatedCertificate", wsman.EPR{ResourceURI: URIPublicKeyCertificate, Selectors: wsman.SelectorSet{wsman.Sel("Name", "x")}})},
		"text":           {wsman.Prop("CreatedCertificate", "Intel(r) AMT Certificate: Handle: 1")},
	} {
		t.Run(name, func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0, out...) })
			_, err := d.AddCertificate(ctx, chain[0])
			require.ErrorIs(t, err, ErrBadResponse)
		})
	}
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	_, err := d.AddCertificate(ctx, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = d.AddTrustedRootCertificate(ctx, &x509.Certificate{})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = d.AddKey(ctx, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Empty(t, f.requests())

	// ECC-384 generation (AMT 22) is asked for with KeyAlgorithm 1.
	d, f = newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return output(r, 0, wsman.PropEPR("KeyPair", instanceEPR(URIPublicPrivateKeyPair, "Intel(r) AMT Key: Handle: 4")))
	})
	id, err := d.GenerateKeyPair(ctx, KeyAlgorithmECC384, 384)
	require.NoError(t, err)
	assert.Equal(t, "Intel(r) AMT Key: Handle: 4", id)
	assert.Equal(t, map[string][]string{"KeyAlgorithm": {"1"}, "KeyLength": {"384"}}, values(params(t, f.only(t).Input)))
}

func TestCertificatesRecorded(t *testing.T) {
	type cert struct {
		subject, issuer, cn string
		trustedRoot         bool
	}
	const (
		ownRoot = "C=US,O=amtkit test,CN=amtkit Test Root"
		mpsRoot = "C=unknown,O=unknown,CN=MPSRoot-0af1d5"
	)
	tests := []struct {
		src   vectorSource
		certs []cert // handles 0, 1, …
	}{
		{ownSource, []cert{
			{ownRoot, ownRoot, "amtkit Test Root", true},
			{"C=US,O=amtkit test,CN=amt-host1.example.com", ownRoot, "amt-host1.example.com", false},
		}},
		// "TrustedRootCertficate" (AMT's spelling) is read.
		{recordedSource, []cert{
			{mpsRoot, mpsRoot, "MPSRoot-0af1d5", true},
			{mpsRoot, mpsRoot, "MPSRoot-0af1d5", false},
			{mpsRoot, mpsRoot, "MPSRoot-0af1d5", true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			ctx := context.Background()
			rs := tc.src.load(t, "amt/publickey/certificate/get", "amt/publickey/certificate/delete", "amt/publickey/certificate/pull")
			items := rs.items(t, "amt/publickey/certificate/pull")
			d, f := newFake(t, nil)
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				switch r.Action {
				case wsman.ActionGet:
					return rs.reply(t, r, "amt/publickey/certificate/get")
				case wsman.ActionDelete:
					return rs.reply(t, r, "amt/publickey/certificate/delete")
				}
				rep, _ := f.enums.Serve(r, items)
				return rep
			})
			cs, err := d.Certificates(ctx)
			require.NoError(t, err)
			require.Len(t, cs, len(tc.certs))
			for i, c := range cs {
				want := tc.certs[i]
				assert.Equal(t, "Intel(r) AMT Certificate: Handle: "+strconv.Itoa(i), c.InstanceID)
				assert.Equal(t, "Intel(r) AMT Certificate", c.ElementName)
				assert.Equal(t, want.subject, c.Subject)
				assert.Equal(t, want.issuer, c.Issuer)
				assert.Equal(t, want.trustedRoot, c.TrustedRoot)
				assert.False(t, c.ReadOnly)
				x, err := c.Parse()
				require.NoError(t, err)
				assert.Equal(t, want.cn, x.Subject.CommonName)
			}

			c, err := d.Certificate(ctx, "Intel(r) AMT Certificate: Handle: 0")
			require.NoError(t, err)
			assert.True(t, c.TrustedRoot)
			assert.Equal(t, cs[0].X509Certificate, c.X509Certificate)

			require.NoError(t, d.DeleteCertificate(ctx, "Intel(r) AMT Certificate: Handle: 1"))
			reqs := f.requests()
			get, del := reqs[len(reqs)-2], reqs[len(reqs)-1]
			for _, r := range []*wsmantest.Request{get, del} {
				assert.Equal(t, URIPublicKeyCertificate, r.ResourceURI)
			}
			assert.Equal(t, wsman.ActionGet, get.Action)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 0")}, get.Selectors)
			assert.Equal(t, wsman.ActionDelete, del.Action)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 1")}, del.Selectors)

			// A certificate in use cannot be deleted: the fault's status is matched.
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				return wsmantest.FaultReply(wsmantest.InternalError(uint32(StatusNotPermitted)))
			})
			err = d.DeleteCertificate(ctx, "Intel(r) AMT Certificate: Handle: 1")
			require.ErrorIs(t, err, StatusNotPermitted)
			var op *OpError
			require.ErrorAs(t, err, &op)
			assert.Equal(t, "Delete", op.Op)
		})
	}
}

func TestKeyPairsRecorded(t *testing.T) {
	for _, src := range []vectorSource{ownSource, recordedSource} {
		t.Run(src.name, func(t *testing.T) {
			ctx := context.Background()
			rs := src.load(t, "amt/publicprivate/get", "amt/publicprivate/delete", "amt/publicprivate/pull")
			items := rs.items(t, "amt/publicprivate/pull")
			d, f := newFake(t, nil)
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				switch r.Action {
				case wsman.ActionGet:
					return rs.reply(t, r, "amt/publicprivate/get")
				case wsman.ActionDelete:
					return rs.reply(t, r, "amt/publicprivate/delete")
				}
				rep, _ := f.enums.Serve(r, items)
				return rep
			})
			ks, err := d.KeyPairs(ctx)
			require.NoError(t, err)
			require.Len(t, ks, 2)
			for i, k := range ks {
				assert.Equal(t, "Intel(r) AMT Key: Handle: "+strconv.Itoa(i), k.InstanceID)
				assert.Equal(t, "Intel(r) AMT Key", k.ElementName)
				pub, err := k.PublicKey()
				require.NoError(t, err, "DERKey is PKCS#1")
				rk, ok := pub.(*rsa.PublicKey)
				require.True(t, ok)
				assert.Equal(t, 2048, rk.N.BitLen())
				assert.Equal(t, 65537, rk.E)
			}
			k, err := d.KeyPair(ctx, "Intel(r) AMT Key: Handle: 0")
			require.NoError(t, err)
			assert.Equal(t, ks[0].DERKey, k.DERKey)
			require.NoError(t, d.DeleteKeyPair(ctx, "Intel(r) AMT Key: Handle: 0"))
			reqs := f.requests()
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Key: Handle: 0")}, reqs[len(reqs)-1].Selectors)
			assert.Equal(t, URIPublicPrivateKeyPair, reqs[len(reqs)-1].ResourceURI)
			assert.Equal(t, wsman.ActionDelete, reqs[len(reqs)-1].Action)
		})
	}
}

func TestParseDERKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	spki, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	require.NoError(t, err)
	rsaSPKI, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)

	pub, err := ParseDERKey(x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
	require.NoError(t, err)
	assert.True(t, rsaKey.PublicKey.Equal(pub))
	pub, err = ParseDERKey(rsaSPKI)
	require.NoError(t, err)
	assert.True(t, rsaKey.PublicKey.Equal(pub), "some firmware sends an RSA SPKI")
	pub, err = ParseDERKey(spki)
	require.NoError(t, err)
	assert.True(t, ec.PublicKey.Equal(pub), "ECC-384 keys come as SPKI")

	der := x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)
	for i := range der {
		_, err := ParseDERKey(der[:i])
		require.ErrorIs(t, err, ErrBadResponse, "strict prefix %d", i)
	}
	for i := range spki {
		_, err := ParseDERKey(spki[:i])
		require.ErrorIs(t, err, ErrBadResponse, "strict prefix %d", i)
	}
}
