package certs_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
)

type provCase struct {
	name  string
	chain []*x509.Certificate
	key   crypto.Signer
	opts  certs.ProvisioningOptions
	want  []amt.FindingCode
	// msg, when set, must appear in the message of some finding.
	msg string
}

// baseOpts are the options of every provisioning case unless it sets its own.
func baseOpts() certs.ProvisioningOptions {
	return certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"example.com", "sales.example.com"}}
}

func TestCheckProvisioning(t *testing.T) {
	f := newFixture(t)
	good := f.chain(t, certstest.ProvisioningOptions{})
	hook := func(fn func(*x509.Certificate)) certstest.ProvisioningOptions {
		return certstest.ProvisioningOptions{Leaf: fn}
	}
	mk := func(o certstest.ProvisioningOptions) *certstest.ProvisioningChain { return f.chain(t, o) }
	at := func(t time.Time) func() time.Time { return func() time.Time { return t } }
	short47 := mk(certstest.ProvisioningOptions{NotBefore: t0, NotAfter: t0.Add(47 * certs.Day)})
	other := mk(certstest.ProvisioningOptions{})
	otherRoot := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow})
	foreign := mk(certstest.ProvisioningOptions{Root: otherRoot})

	// A chain whose leaf is issued by another leaf (not a CA).
	notCA := func() ([]*x509.Certificate, crypto.Signer) {
		tmpl, err := certs.ProvisioningTemplate(certs.ProvisioningTemplateOptions{FQDN: "prov.example.com", CertOptions: certs.CertOptions{Now: fixedNow}})
		require.NoError(t, err)
		k := f.keys.MustRSA(t, 2048)
		c, err := certs.Issue(tmpl, k.Public(), good.Bundle, nil)
		require.NoError(t, err)
		return append([]*x509.Certificate{c}, good.Chain...), k
	}
	notCAChain, notCAKey := notCA()
	// Root with a corrupted self-signature (the certificate's other fields intact).
	badRoot := *good.Chain[2]
	badRoot.Signature = append([]byte(nil), badRoot.Signature...)
	badRoot.Signature[10] ^= 0xff
	// Path length: a root that may sign only leaves, above an intermediate.
	shortPath := mk(certstest.ProvisioningOptions{RootOptions: certstest.CAOptions{Keys: f.keys, Now: fixedNow, MaxPathLen: -1}})

	hashOf := func(c *x509.Certificate) amt.CertHash {
		s := sha512.Sum384(c.Raw)
		h, err := amt.ParseCertHash("sha384: " + strings.ToUpper(hex.EncodeToString(s[:])))
		require.NoError(t, err)
		return h
	}
	otherHash := hashOf(otherRoot.RootCertificate())

	crlIssuer, _, err := good.Issuer.CRL(0)
	require.NoError(t, err)
	crlRoot, _, err := good.Root.CRL(0)
	require.NoError(t, err)
	revokedChain := mk(certstest.ProvisioningOptions{})
	require.NoError(t, revokedChain.Issuer.Revoke(t.Context(), revokedChain.Leaf(), certs.RevocationKeyCompromise))
	crlRevoked, _, err := revokedChain.Issuer.CRL(0)
	require.NoError(t, err)
	crlRootRev, _, err := revokedChain.Root.CRL(0)
	require.NoError(t, err)

	v1Name := func(c *x509.Certificate) {
		ext, err := certs.TemplateInfo{Name: "WebServer"}.Extensions()
		require.NoError(t, err)
		c.ExtraExtensions = append(c.ExtraExtensions, ext...)
	}
	withOpts := func(fn func(*certs.ProvisioningOptions)) certs.ProvisioningOptions {
		o := baseOpts()
		fn(&o)
		return o
	}
	g := func(c *certstest.ProvisioningChain) ([]*x509.Certificate, crypto.Signer) { return c.Chain, c.Key }

	cases := []provCase{
		{name: "good chain", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "empty chain", chain: []*x509.Certificate{}, want: []amt.FindingCode{certs.CodeNoCertificates}},
		{name: "nil certificate", chain: []*x509.Certificate{good.Leaf(), nil}, want: []amt.FindingCode{certs.CodeNoCertificates}},

		{name: "no usage marker", want: []amt.FindingCode{certs.CodeUsageMarkerMissing, certs.CodeRootNotFactory}},
		{name: "OU with trailing period", want: []amt.FindingCode{certs.CodeUsageOUInexact, certs.CodeRootNotFactory}, msg: `"Intel(R) Client Setup Certificate."`},
		{name: "OU in lower case", want: []amt.FindingCode{certs.CodeUsageOUInexact, certs.CodeRootNotFactory}},
		{name: "OU only", want: []amt.FindingCode{certs.CodeUsageOUOnly, certs.CodeRootNotFactory}},
		{name: "OID only", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "no serverAuth", want: []amt.FindingCode{certs.CodeServerAuthMissing, certs.CodeRootNotFactory}},
		{name: "anyExtendedKeyUsage is not serverAuth", want: []amt.FindingCode{certs.CodeServerAuthMissing, certs.CodeRootNotFactory}},
		{name: "ECDSA leaf", want: []amt.FindingCode{certs.CodeKeyNotRSA, certs.CodeRootNotFactory}},
		{name: "ECDSA intermediate", want: []amt.FindingCode{certs.CodeCAKeyNotRSA, certs.CodeRootNotFactory}},
		{name: "1024-bit leaf", want: []amt.FindingCode{certs.CodeKeyTooShort, certs.CodeRootNotFactory}, msg: "1024 bits, expected at least 2048"},
		{name: "1024-bit leaf with MinRSABits 1024", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "1024-bit root", want: []amt.FindingCode{certs.CodeKeyTooShort, certs.CodeRootNotFactory}},
		{name: "SHA-1 leaf", want: []amt.FindingCode{certs.CodeWeakSignature, certs.CodeRootNotFactory}},
		{name: "SHA-1 intermediate", want: []amt.FindingCode{certs.CodeWeakSignature, certs.CodeRootNotFactory}},
		{name: "SHA-1 root self-signature", want: []amt.FindingCode{certs.CodeWeakRootSignature, certs.CodeRootNotFactory}},
		{name: "not yet valid", want: []amt.FindingCode{certs.CodeNotYetValid, certs.CodeRootNotFactory}},
		{name: "expired", want: []amt.FindingCode{certs.CodeExpired, certs.CodeRootNotFactory}},
		{name: "expires in 30 days", want: []amt.FindingCode{certs.CodeExpiryWarning, certs.CodeRootNotFactory}, msg: "status 7210"},
		{name: "expires in 10 days", want: []amt.FindingCode{certs.CodeExpiryError, certs.CodeRootNotFactory}, msg: "status 7211"},
		{name: "expires in 30 days, policy warns at 20", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		// Defaults shrink with a short certificate: a third of the lifetime
		// for the warning, an eighth for the error.
		{name: "47-day certificate on its tenth day", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "47-day certificate, 15 days left", want: []amt.FindingCode{certs.CodeExpiryWarning, certs.CodeRootNotFactory}, msg: "status 7210: 15.7 days or less left"},
		{name: "47-day certificate, 5 days left", want: []amt.FindingCode{certs.CodeExpiryError, certs.CodeRootNotFactory}, msg: "status 7211: less than 5.9 days left"},
		{name: "root missing", want: []amt.FindingCode{certs.CodeRootMissing}},
		{name: "root self-signature corrupt", want: []amt.FindingCode{certs.CodeRootBadSignature}},
		{name: "out of order", want: []amt.FindingCode{certs.CodeRootMissing, certs.CodeChainBroken, certs.CodeChainBroken}},
		{name: "intermediate of another chain with the same name", want: []amt.FindingCode{certs.CodeChainBroken, certs.CodeRootNotFactory}, msg: "authority key ID"},
		{name: "issuer not a CA", want: []amt.FindingCode{certs.CodeIssuerNotCA, certs.CodeRootNotFactory}},
		{name: "path length exceeded", want: []amt.FindingCode{certs.CodeChainInvalid, certs.CodeRootNotFactory}},
		{name: "no key", want: []amt.FindingCode{certs.CodeKeyMissing, certs.CodeRootNotFactory}},
		{name: "typed nil key", want: []amt.FindingCode{certs.CodeKeyMissing, certs.CodeRootNotFactory}},
		{name: "wrong key", want: []amt.FindingCode{certs.CodeKeyMismatch, certs.CodeRootNotFactory}},
		{name: "no CN", want: []amt.FindingCode{certs.CodeNameMissing, certs.CodeRootNotFactory}},
		{name: "single-label CN", want: []amt.FindingCode{certs.CodeNameInvalid, certs.CodeRootNotFactory}},
		{name: "public-suffix CN", want: []amt.FindingCode{certs.CodeNameInvalid, certs.CodeRootNotFactory}},
		{name: "suffix of another domain", want: []amt.FindingCode{certs.CodeDNSSuffixMismatch, certs.CodeRootNotFactory}},
		{name: "suffix matched only by a SAN", want: []amt.FindingCode{certs.CodeDNSSuffixMismatch, certs.CodeRootNotFactory}, msg: "SAN prov.fabrikam.com would"},
		{name: "wildcard covers sub-domains", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "suffix covered only by MeshCentral's per-TLD rule", want: []amt.FindingCode{certs.CodeDNSSuffixUndocumented, certs.CodeRootNotFactory}, msg: "MeshCentral's per-TLD rule"},
		{name: "single-label suffix", want: []amt.FindingCode{certs.CodeDNSSuffixInvalid, certs.CodeRootNotFactory}},
		{name: "root not among device hashes", want: []amt.FindingCode{certs.CodeRootNotTrusted}},
		{name: "root among device hashes", want: nil},
		{name: "v1 template without marker", want: []amt.FindingCode{certs.CodeUsageMarkerMissing, certs.CodeRootNotFactory, certs.CodeTemplateV1NoOID}},
		{name: "v1 template with OU", want: []amt.FindingCode{certs.CodeUsageOUOnly, certs.CodeRootNotFactory}},
		{name: "declared v3 template", want: []amt.FindingCode{certs.CodeRootNotFactory, certs.CodeTemplateV3}},
		{name: "declared v2 template", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "malformed template extension", want: []amt.FindingCode{certs.CodeRootNotFactory, certs.CodeTemplateMalformed}},
		{name: "CRLs, none revoked", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "leaf revoked", want: []amt.FindingCode{certs.CodeRootNotFactory, certs.CodeRevoked}, msg: "keyCompromise"},
		{name: "CRLs missing fail closed", want: []amt.FindingCode{certs.CodeRootNotFactory, certs.CodeCRLUnavailable, certs.CodeCRLUnavailable}},
		{name: "CRLs missing allowed", want: []amt.FindingCode{certs.CodeRootNotFactory}},
		{name: "CRL stale", want: []amt.FindingCode{certs.CodeRootNotFactory, certs.CodeCRLUnavailable, certs.CodeCRLUnavailable}},
	}
	setup := map[string]func(c *provCase){
		"good chain":      func(c *provCase) { c.chain, c.key = g(good) },
		"empty chain":     func(c *provCase) {},
		"nil certificate": func(c *provCase) { c.key = good.Key },
		"no usage marker": func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{Marker: certs.MarkerNone})) },
		"OU with trailing period": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{Marker: certs.MarkerNone, Leaf: func(x *x509.Certificate) {
				x.Subject.OrganizationalUnit = []string{certs.ClientSetupOU + "."}
			}}))
		},
		"OU in lower case": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{Marker: certs.MarkerNone, Leaf: func(x *x509.Certificate) {
				x.Subject.OrganizationalUnit = []string{strings.ToLower(certs.ClientSetupOU)}
			}}))
		},
		"OU only":  func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{Marker: certs.MarkerOU})) },
		"OID only": func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{Marker: certs.MarkerOID})) },
		"no serverAuth": func(c *provCase) {
			c.chain, c.key = g(mk(hook(func(x *x509.Certificate) { x.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} })))
		},
		"anyExtendedKeyUsage is not serverAuth": func(c *provCase) {
			c.chain, c.key = g(mk(hook(func(x *x509.Certificate) { x.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} })))
		},
		"ECDSA leaf": func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{LeafECDSA: true})) },
		"ECDSA intermediate": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{IntermediateOptions: certstest.CAOptions{ECDSA: true}}))
		},
		"1024-bit leaf": func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{LeafBits: 1024})) },
		"1024-bit leaf with MinRSABits 1024": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{LeafBits: 1024}))
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.MinRSABits = 1024 })
		},
		"1024-bit root": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{RootOptions: certstest.CAOptions{Keys: f.keys, Now: fixedNow, KeyBits: 1024}}))
		},
		"SHA-1 leaf": func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{SHA1: true})) },
		"SHA-1 intermediate": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{IntermediateOptions: certstest.CAOptions{SHA1: true}}))
		},
		"SHA-1 root self-signature": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{RootOptions: certstest.CAOptions{Keys: f.keys, Now: fixedNow, SHA1: true}}))
		},
		"not yet valid": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{NotBefore: t0.Add(certs.Day), NotAfter: t0.Add(300 * certs.Day)}))
		},
		"expired": func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{Expired: true})) },
		// A certificate issued for a year, checked near its end.
		"expires in 30 days": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.Now = at(good.Leaf().NotAfter.Add(-30 * certs.Day)) })
		},
		"expires in 10 days": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.Now = at(good.Leaf().NotAfter.Add(-10 * certs.Day)) })
		},
		"expires in 30 days, policy warns at 20": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) {
				o.Now = at(good.Leaf().NotAfter.Add(-30 * certs.Day))
				o.Expiry = certs.ExpiryPolicy{Warn: 20 * certs.Day}
			})
		},
		"47-day certificate on its tenth day": func(c *provCase) {
			c.chain, c.key = g(short47)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.Now = at(t0.Add(10 * certs.Day)) })
		},
		"47-day certificate, 15 days left": func(c *provCase) {
			c.chain, c.key = g(short47)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.Now = at(t0.Add(32 * certs.Day)) })
		},
		"47-day certificate, 5 days left": func(c *provCase) {
			c.chain, c.key = g(short47)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.Now = at(t0.Add(42 * certs.Day)) })
		},
		"root missing": func(c *provCase) { c.chain, c.key = good.Chain[:2], good.Key },
		"root self-signature corrupt": func(c *provCase) {
			c.chain, c.key = []*x509.Certificate{good.Chain[0], good.Chain[1], &badRoot}, good.Key
		},
		"out of order": func(c *provCase) {
			c.chain, c.key = []*x509.Certificate{good.Chain[0], good.Chain[2], good.Chain[1]}, good.Key
		},
		"intermediate of another chain with the same name": func(c *provCase) {
			c.chain, c.key = []*x509.Certificate{good.Chain[0], foreign.Chain[1], foreign.Chain[2]}, good.Key
		},
		"issuer not a CA":      func(c *provCase) { c.chain, c.key = notCAChain, notCAKey },
		"path length exceeded": func(c *provCase) { c.chain, c.key = g(shortPath) },
		"no key":               func(c *provCase) { c.chain = good.Chain },
		"typed nil key":        func(c *provCase) { c.chain, c.key = good.Chain, (*rsa.PrivateKey)(nil) },
		"wrong key":            func(c *provCase) { c.chain, c.key = good.Chain, other.Key },
		"no CN": func(c *provCase) {
			c.chain, c.key = g(mk(hook(func(x *x509.Certificate) { x.Subject.CommonName = "" })))
		},
		"single-label CN":  func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{FQDN: "provserver"})) },
		"public-suffix CN": func(c *provCase) { c.chain, c.key = g(mk(certstest.ProvisioningOptions{FQDN: "co.uk"})) },
		"suffix of another domain": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.DNSSuffixes = []string{"fabrikam.com"} })
		},
		"suffix matched only by a SAN": func(c *provCase) {
			c.chain, c.key = g(mk(hook(func(x *x509.Certificate) { x.DNSNames = append(x.DNSNames, "prov.fabrikam.com") })))
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.DNSSuffixes = []string{"fabrikam.com"} })
		},
		"wildcard covers sub-domains": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{FQDN: "*.example.com"}))
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.DNSSuffixes = []string{"a.sales.example.com", "EXAMPLE.com."} })
		},
		"suffix covered only by MeshCentral's per-TLD rule": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{FQDN: "prov.sales.example.co.uk"}))
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.DNSSuffixes = []string{"marketing.example.co.uk"} })
		},
		"single-label suffix": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.DNSSuffixes = []string{"corp"} })
		},
		"root not among device hashes": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.DeviceHashes = []amt.CertHash{otherHash} })
		},
		"root among device hashes": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) {
				o.DeviceHashes = []amt.CertHash{otherHash, hashOf(good.Root.RootCertificate())}
			})
		},
		"v1 template without marker": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{Marker: certs.MarkerNone, Leaf: v1Name}))
		},
		"v1 template with OU": func(c *provCase) {
			c.chain, c.key = g(mk(certstest.ProvisioningOptions{Marker: certs.MarkerOU, Leaf: v1Name}))
		},
		"declared v3 template": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.TemplateVersion = 3 })
		},
		"declared v2 template": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.TemplateVersion = 2 })
		},
		"malformed template extension": func(c *provCase) {
			c.chain, c.key = g(mk(hook(func(x *x509.Certificate) {
				x.ExtraExtensions = append(x.ExtraExtensions, pkix.Extension{Id: certs.OIDTemplateV2(), Value: []byte{0x04, 0x00}})
			})))
		},
		"CRLs, none revoked": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) {
				o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlRoot, crlIssuer}}
			})
		},
		"leaf revoked": func(c *provCase) {
			c.chain, c.key = g(revokedChain)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) {
				o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlRootRev, crlRevoked}}
			})
		},
		"CRLs missing fail closed": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.Revocation = &certs.RevocationOptions{} })
		},
		"CRLs missing allowed": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) { o.Revocation = &certs.RevocationOptions{AllowMissing: true} })
		},
		"CRL stale": func(c *provCase) {
			c.chain, c.key = g(good)
			c.opts = withOpts(func(o *certs.ProvisioningOptions) {
				o.Now = at(t0.Add(8 * certs.Day))
				o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlRoot, crlIssuer}}
			})
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fn, ok := setup[tc.name]
			require.True(t, ok, "no setup for %q", tc.name)
			tc.opts = baseOpts()
			fn(&tc)
			got := certs.CheckProvisioning(tc.chain, tc.key, tc.opts)
			assert.Equal(t, tc.want, got.Codes(), "findings: %v", got)
			for _, f := range got {
				assert.NotEmpty(t, f.Message)
				assert.Contains(t, []amt.Severity{amt.SeverityInfo, amt.SeverityWarning, amt.SeverityError}, f.Severity)
				if f.Index >= 0 && tc.chain[f.Index] != nil {
					assert.Equal(t, "certificate "+strconv.Itoa(f.Index)+" "+certs.Describe(tc.chain[f.Index]), f.Subject, "the subject names the certificate")
				}
			}
			if tc.msg != "" {
				found := false
				for _, f := range got {
					found = found || strings.Contains(f.Message, tc.msg)
				}
				assert.True(t, found, "no message contains %q: %v", tc.msg, got)
			}
		})
	}
	assert.Len(t, setup, len(cases))
}

// TestFindingSeverities pins each code's severity, which docs/certs.md states.
func TestFindingSeverities(t *testing.T) {
	f := newFixture(t)
	expired := f.chain(t, certstest.ProvisioningOptions{Expired: true, Marker: certs.MarkerOU, SHA1: true,
		RootOptions: certstest.CAOptions{Keys: f.keys, Now: fixedNow, SHA1: true}})
	got := certs.CheckProvisioning(expired.Chain, nil, certs.ProvisioningOptions{Now: fixedNow, TemplateVersion: 4})
	sev := map[amt.FindingCode]amt.Severity{}
	for _, x := range got {
		sev[x.Code] = x.Severity
	}
	assert.Equal(t, map[amt.FindingCode]amt.Severity{
		certs.CodeUsageOUOnly:       amt.SeverityInfo,
		certs.CodeWeakSignature:     amt.SeverityError,
		certs.CodeWeakRootSignature: amt.SeverityError,
		certs.CodeExpired:           amt.SeverityError,
		certs.CodeKeyMissing:        amt.SeverityError,
		certs.CodeRootNotFactory:    amt.SeverityInfo,
		certs.CodeTemplateV3:        amt.SeverityError,
	}, sev)
	err := got.Err()
	require.Error(t, err)
	assert.ErrorIs(t, err, amt.ErrCheckFailed)
	var ce *amt.CheckError
	require.ErrorAs(t, err, &ce)
	assert.Len(t, ce.Findings, 5)
	assert.Equal(t, amt.SeverityError, got.Worst())
	// For fleets without ME 15 H / 16 devices the SHA-1 root is only a warning.
	old := certs.CheckProvisioning(expired.Chain, nil, certs.ProvisioningOptions{Now: fixedNow, TemplateVersion: 4, AllowSHA1Root: true})
	for _, x := range old {
		if x.Code == certs.CodeWeakRootSignature {
			assert.Equal(t, amt.SeverityWarning, x.Severity)
		}
	}
	assert.True(t, old.Has(certs.CodeWeakRootSignature))
	assert.NoError(t, amt.Findings{{Code: certs.CodeUsageOUOnly, Severity: amt.SeverityInfo}}.Err())
}

func TestCheckProvisioningFactoryRoot(t *testing.T) {
	g2, _ := digicertG2(t)
	got := certs.CheckProvisioning([]*x509.Certificate{g2}, nil, certs.ProvisioningOptions{Now: at(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))})
	assert.False(t, got.Has(certs.CodeRootNotFactory), "a factory root is not reported: %v", got)
	assert.True(t, got.Has(certs.CodeUsageMarkerMissing))
	assert.True(t, got.Has(certs.CodeNameInvalid), "the root's CN is not a DNS name: %v", got)
}

func TestCheckDeviceCertificate(t *testing.T) {
	f := newFixture(t)
	ca, err := f.root.NewIntermediate(certstest.CAOptions{})
	require.NoError(t, err)
	const fqdn = "amt-0042.sales.example.com"
	const upn = "AMT-0042$@sales.example.com"
	k := f.keys.MustRSA(t, 2048)
	tls := func(edit func(*x509.Certificate), key crypto.PublicKey) []*x509.Certificate {
		tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: fqdn, CertOptions: certs.CertOptions{Now: fixedNow}})
		require.NoError(t, err)
		if edit != nil {
			edit(tmpl)
		}
		if key == nil {
			key = k.Public()
		}
		c, err := ca.IssueCert(tmpl, key)
		require.NoError(t, err)
		return []*x509.Certificate{c, ca.Certificate()}
	}
	dot1x := func(edit func(*x509.Certificate), key crypto.PublicKey) []*x509.Certificate {
		tmpl, err := certs.IEEE8021XTemplate(certs.IEEE8021XTemplateOptions{FQDN: fqdn, UPN: upn, CertOptions: certs.CertOptions{Now: fixedNow}})
		require.NoError(t, err)
		if edit != nil {
			edit(tmpl)
		}
		if key == nil {
			key = k.Public()
		}
		c, err := ca.IssueCert(tmpl, key)
		require.NoError(t, err)
		return []*x509.Certificate{c, ca.Certificate()}
	}
	tlsOpts := certs.DeviceOptions{Kind: certs.DeviceTLS, FQDN: fqdn, Now: fixedNow, Roots: f.root.Pool()}
	dotOpts := certs.DeviceOptions{Kind: certs.DeviceIEEE8021X, FQDN: fqdn, UPN: upn, Now: fixedNow, Roots: f.root.Pool()}
	with := func(o certs.DeviceOptions, fn func(*certs.DeviceOptions)) certs.DeviceOptions { fn(&o); return o }
	checkAt := func(t time.Time) certs.DeviceOptions {
		return with(tlsOpts, func(o *certs.DeviceOptions) { o.Now = func() time.Time { return t } })
	}
	year := tls(nil, nil)
	month := tls(func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(30 * certs.Day) }, nil)
	ecKey, err := f.keys.ECDSA()
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	require.NoError(t, err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	crlEmpty, _, err := ca.CRL(0)
	require.NoError(t, err)
	revoked := tls(nil, nil)
	require.NoError(t, ca.Revoke(t.Context(), revoked[0], certs.RevocationSuperseded))
	crlRev, _, err := ca.CRL(0)
	require.NoError(t, err)
	crlRoot, _, err := f.root.CRL(0)
	require.NoError(t, err)
	otherRoot := certstest.MustRootCA(t, certstest.CAOptions{Keys: f.keys, Now: fixedNow})
	require.Equal(t, f.root.RootCertificate().RawSubject, otherRoot.RootCertificate().RawSubject, "same name, other key")
	crlForgedRoot, _, err := otherRoot.CRL(0)
	require.NoError(t, err)

	cases := []struct {
		name  string
		chain []*x509.Certificate
		opts  certs.DeviceOptions
		want  []amt.FindingCode
	}{
		{"TLS good", tls(nil, nil), tlsOpts, nil},
		{"TLS with root and no Roots", append(tls(nil, nil), f.root.RootCertificate()), with(tlsOpts, func(o *certs.DeviceOptions) { o.Roots = nil }), nil},
		{"TLS empty", nil, tlsOpts, []amt.FindingCode{certs.CodeNoCertificates}},
		{"TLS without serverAuth", tls(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} }, nil), tlsOpts,
			[]amt.FindingCode{certs.CodeServerAuthMissing, certs.CodeChainInvalid}},
		{"TLS CN is not the FQDN", tls(func(c *x509.Certificate) { c.Subject.CommonName = "AMT-0042" }, nil), tlsOpts, []amt.FindingCode{certs.CodeFQDNNotInSubject}},
		{"TLS FQDN case and trailing dot", tls(nil, nil), with(tlsOpts, func(o *certs.DeviceOptions) { o.FQDN = "AMT-0042.Sales.Example.com." }), nil},
		{"TLS without SAN", tls(func(c *x509.Certificate) { c.DNSNames = nil }, nil), with(tlsOpts, func(o *certs.DeviceOptions) { o.Roots = nil }),
			[]amt.FindingCode{certs.CodeFQDNNotInSAN}},
		// AMT 22 generates ECC P-384 TLS keys (amt.Firmware.TLSKeyAlgorithm).
		{"TLS ECDSA P-256 key", tls(nil, ecKey.Public()), tlsOpts, nil},
		{"TLS ECDSA P-384 key", tls(nil, p384.Public()), tlsOpts, nil},
		{"TLS ECDSA P-521 key", tls(nil, p521.Public()), tlsOpts, []amt.FindingCode{certs.CodeKeyNotRSA}},
		{"TLS Ed25519 key", tls(nil, edPub), tlsOpts, []amt.FindingCode{certs.CodeKeyNotRSA}},
		// LocalCA (and so certstest's CA) will not certify a 1024-bit key:
		// signed here with the bare certs.Issue, as another CA might.
		{"TLS 1024-bit key", func() []*x509.Certificate {
			tmpl, err := certs.DeviceTLSTemplate(certs.DeviceTLSTemplateOptions{FQDN: fqdn, CertOptions: certs.CertOptions{Now: fixedNow}})
			require.NoError(t, err)
			c, err := certs.Issue(tmpl, f.keys.MustRSA(t, 1024).Public(), ca.Bundle, nil)
			require.NoError(t, err)
			return []*x509.Certificate{c, ca.Certificate()}
		}(), tlsOpts, []amt.FindingCode{certs.CodeKeyTooShort}},
		{"TLS 3072-bit key", tls(nil, f.keys.MustRSA(t, 3072).Public()), tlsOpts, nil},
		{"TLS SHA-1", tls(func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA1WithRSA }, nil), tlsOpts, []amt.FindingCode{certs.CodeWeakSignature}},
		// A certificate issued for a year, checked near its end.
		{"TLS renew at 42 days", year, checkAt(year[0].NotAfter.Add(-42 * certs.Day)), []amt.FindingCode{certs.CodeRenewDue}},
		{"TLS 42 days and a second", year, checkAt(year[0].NotAfter.Add(-42*certs.Day - time.Second)), nil},
		// A 30-day certificate is renewed with a third of its life left, not
		// at every check.
		{"TLS 30-day certificate, 11 days left", month, checkAt(month[0].NotAfter.Add(-11 * certs.Day)), nil},
		{"TLS 30-day certificate, 10 days left", month, checkAt(month[0].NotAfter.Add(-10 * certs.Day)), []amt.FindingCode{certs.CodeRenewDue}},
		{"TLS expired", tls(func(c *x509.Certificate) { c.NotBefore, c.NotAfter = t0.Add(-9*certs.Day), t0.Add(-time.Second) }, nil), tlsOpts,
			[]amt.FindingCode{certs.CodeExpired}},
		{"TLS not yet valid", tls(func(c *x509.Certificate) { c.NotBefore = t0.Add(time.Minute) }, nil), tlsOpts, []amt.FindingCode{certs.CodeNotYetValid}},
		{"TLS unknown authority", tls(nil, nil), with(tlsOpts, func(o *certs.DeviceOptions) { o.Roots = otherRoot.Pool() }), []amt.FindingCode{certs.CodeChainInvalid}},
		{"TLS declared v3 template", tls(nil, nil), with(tlsOpts, func(o *certs.DeviceOptions) { o.TemplateVersion = 3 }), []amt.FindingCode{certs.CodeTemplateV3}},
		{"TLS not revoked", tls(nil, nil), with(tlsOpts, func(o *certs.DeviceOptions) {
			o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlEmpty, crlRoot}}
		}), nil},
		{"TLS revoked", revoked, with(tlsOpts, func(o *certs.DeviceOptions) {
			o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlRev, crlRoot}}
		}), []amt.FindingCode{certs.CodeRevoked}},
		{"TLS CRL missing", tls(nil, nil), with(tlsOpts, func(o *certs.DeviceOptions) {
			o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlRoot}}
		}), []amt.FindingCode{certs.CodeCRLUnavailable}},
		// AMT's chain stops below the root: the intermediate's CRL is verified
		// with the anchor from Roots, and without Roots it cannot be.
		{"TLS root CRL forged", tls(nil, nil), with(tlsOpts, func(o *certs.DeviceOptions) {
			o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlEmpty, crlForgedRoot}}
		}), []amt.FindingCode{certs.CodeCRLUnavailable}},
		{"TLS root CRL unverifiable without Roots", tls(func(c *x509.Certificate) { c.DNSNames = []string{fqdn} }, nil), with(tlsOpts, func(o *certs.DeviceOptions) {
			o.Roots = nil
			o.Revocation = &certs.RevocationOptions{CRLs: []*x509.RevocationList{crlEmpty, crlRoot}}
		}), []amt.FindingCode{certs.CodeCRLUnavailable}},

		{"802.1X good", dot1x(nil, nil), dotOpts, nil},
		{"802.1X UPN case-insensitive", dot1x(nil, nil), with(dotOpts, func(o *certs.DeviceOptions) { o.UPN = strings.ToLower(upn) }), nil},
		{"802.1X without clientAuth", dot1x(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }, nil), dotOpts,
			[]amt.FindingCode{certs.CodeClientAuthMissing, certs.CodeChainInvalid}},
		{"802.1X 3072-bit key", dot1x(nil, f.keys.MustRSA(t, 3072).Public()), dotOpts, []amt.FindingCode{certs.CodeKeyTooLong}},
		{"802.1X wrong UPN", dot1x(nil, nil), with(dotOpts, func(o *certs.DeviceOptions) { o.UPN = "other$@sales.example.com" }), []amt.FindingCode{certs.CodeUPNMismatch}},
		{"802.1X no UPN", dot1x(func(c *x509.Certificate) { c.ExtraExtensions = nil }, nil), with(dotOpts, func(o *certs.DeviceOptions) { o.UPN = "" }),
			[]amt.FindingCode{certs.CodeUPNMissing}},
		{"802.1X no UPN but one expected", dot1x(func(c *x509.Certificate) { c.ExtraExtensions = nil }, nil), dotOpts, []amt.FindingCode{certs.CodeUPNMismatch}},
		{"802.1X SAN not checked for DNS", dot1x(nil, nil), dotOpts, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := certs.CheckDeviceCertificate(tc.chain, tc.opts)
			assert.Equal(t, tc.want, got.Codes(), "findings: %v", got)
		})
	}
}

func TestCheckMessages(t *testing.T) {
	f := newFixture(t)
	c := f.chain(t, certstest.ProvisioningOptions{FQDN: "prov.example.com", LeafBits: 1024})
	got := certs.CheckProvisioning(c.Chain, c.Key, certs.ProvisioningOptions{Now: fixedNow, DNSSuffixes: []string{"fabrikam.com"}})
	require.Equal(t, []amt.FindingCode{certs.CodeKeyTooShort, certs.CodeDNSSuffixMismatch, certs.CodeRootNotFactory}, got.Codes())
	assert.Equal(t, 0, got[0].Index)
	assert.Equal(t, `certificate 0 (CN=prov.example.com,OU=Intel(R) Client Setup Certificate,O=amtkit test (TEST ONLY))`, got[0].Subject)
	assert.Equal(t, `RSA key of 1024 bits, expected at least 2048`, got[0].Message)
	assert.Equal(t, `error key-too-short: certificate 0 (CN=prov.example.com,OU=Intel(R) Client Setup Certificate,O=amtkit test (TEST ONLY)): RSA key of 1024 bits, expected at least 2048`, got[0].String())
	var ce *amt.CheckError
	require.ErrorAs(t, got.Err(), &ce)
	assert.Equal(t, `check failed: key-too-short: `+got[0].Subject+`: `+got[0].Message+`; dns-suffix-mismatch: `+got[1].Subject+`: `+got[1].Message, ce.Error())
	assert.Contains(t, got[1].Message, `CN "prov.example.com" does not cover device DNS suffix "fabrikam.com"`)
	assert.Equal(t, 2, got[2].Index)
}

// A leaf without any extended key usage is not restricted (RFC 5280
// §4.2.1.12); MeshCentral and amtsim accept such a provisioning leaf. Its
// missing serverAuth is a warning, a leaf whose EKU lists other purposes an
// error.
func TestServerAuthWithoutEKU(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		eku  []x509.ExtKeyUsage
		sev  amt.Severity
	}{
		{"no extended key usage", nil, amt.SeverityWarning},
		{"clientAuth only", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, amt.SeverityError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.chain(t, certstest.ProvisioningOptions{Marker: certs.MarkerOU, Leaf: func(x *x509.Certificate) {
				x.ExtKeyUsage, x.UnknownExtKeyUsage = tc.eku, nil
			}})
			got := certs.CheckProvisioning(c.Chain, c.Key, certs.ProvisioningOptions{Now: fixedNow})
			var found bool
			for _, x := range got {
				if x.Code == certs.CodeServerAuthMissing {
					found = true
					assert.Equal(t, tc.sev, x.Severity)
				}
			}
			assert.True(t, found, "%v", got)
		})
	}
}

// With the firmware named, AMT 22's SHA-384 provisioning-certificate rule is
// checked; without it, or for earlier firmware, it is not.
func TestCheckProvisioningLeafHashForAMT22(t *testing.T) {
	f := newFixture(t)
	sha256Leaf := f.chain(t, certstest.ProvisioningOptions{})
	sha384Leaf := f.chain(t, certstest.ProvisioningOptions{Leaf: func(c *x509.Certificate) { c.SignatureAlgorithm = x509.SHA384WithRSA }})
	for _, tc := range []struct {
		name  string
		chain *certstest.ProvisioningChain
		fw    string
		want  bool
	}{
		{"SHA-256 leaf for AMT 22", sha256Leaf, "22.0.0", true},
		{"SHA-384 leaf for AMT 22", sha384Leaf, "22.0.0", false},
		{"SHA-256 leaf for AMT 21", sha256Leaf, "21.0.6", false},
		{"SHA-256 leaf, firmware not named", sha256Leaf, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := certs.ProvisioningOptions{Now: fixedNow}
			if tc.fw != "" {
				opts.Firmware = amt.MustParseVersion(tc.fw)
			}
			got := certs.CheckProvisioning(tc.chain.Chain, tc.chain.Key, opts)
			assert.Equal(t, tc.want, got.Has(certs.CodeLeafNotSHA384), "%v", got)
			for _, x := range got {
				if x.Code == certs.CodeLeafNotSHA384 {
					assert.Equal(t, amt.SeverityWarning, x.Severity)
				}
			}
		})
	}
}
