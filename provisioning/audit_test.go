package provisioning_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/provisioning"
)

type policyIssuer struct {
	testIssuer
	pol provisioning.IssuerPolicy
}

func (p *policyIssuer) IssuerPolicy() provisioning.IssuerPolicy { return p.pol }

func codes(fs amt.Findings) map[amt.FindingCode]amt.Finding {
	m := map[amt.FindingCode]amt.Finding{}
	for _, f := range fs {
		m[f.Code] = f
	}
	return m
}

func TestAuditCleanConfiguration(t *testing.T) {
	chain := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: testKeys()})
	cfg := provisioning.Config{
		Bundles:    []certs.Bundle{chain.Bundle},
		Authorizer: provisioning.NewInventoryList(),
		Issuer:     &testIssuer{},
		Profiles: map[string]provisioning.Profile{
			"default": {RequireOTP: true, TLS: &provisioning.TLSProfile{}},
		},
		ServerName: "amtprov.contoso.com",
		ListenAddr: ":19971",
	}
	fs := provisioning.Audit(context.Background(), cfg)
	for _, f := range fs {
		assert.Less(t, f.Severity, amt.SeverityWarning, "unexpected finding %s", f)
	}
}

func TestAuditFindings(t *testing.T) {
	k := testKeys()
	good := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: k})
	now := time.Now()
	expiring := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: k, Root: good.Root,
		NotBefore: now.Add(-300 * 24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
	soon := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: k, Root: good.Root,
		NotBefore: now.Add(-300 * 24 * time.Hour), NotAfter: now.Add(10 * 24 * time.Hour)})
	sha1 := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: k, Root: good.Root, SHA1: true})
	broad := provisioning.UserAccount{Name: "kvm", Password: amt.NewSecret("Kvm-user-1"), Realms: []amt.Realm{amt.RealmRedirection}}
	ptadmin := provisioning.UserAccount{Name: "root2", Password: amt.NewSecret("Root-user-2"), Realms: []amt.Realm{amt.RealmPTAdministration}}
	cfg := provisioning.Config{
		Bundles: []certs.Bundle{expiring.Bundle, soon.Bundle, sha1.Bundle},
		Issuer:  &policyIssuer{pol: provisioning.IssuerPolicy{StandAloneAutoApprove: true, TemplateVersion: 3}},
		Profiles: map[string]provisioning.Profile{
			"fleet":  {AdminPassword: amt.NewSecret("Fleet-wide-1"), MEBxPassword: amt.NewSecret("Mebx-fleet-1"), TLS: &provisioning.TLSProfile{AllowNonTLS: true}},
			"legacy": {AllowLegacyTLS: true, Users: []provisioning.UserAccount{broad, ptadmin, broad, ptadmin}},
			"weak":   {MEBxPassword: amt.NewSecret("admin")},
		},
		ProvisioningAccounts: make([]provisioning.Account, 4),
		CheckRevocation: func(_ context.Context, c, _ *x509.Certificate) error {
			if c.Subject.CommonName == "prov.contoso.com" && c.NotAfter.Before(now.Add(12*24*time.Hour)) {
				return &certs.RevokedError{}
			}
			return nil
		},
	}
	fs := provisioning.Audit(context.Background(), cfg)
	got := codes(fs)
	want := map[amt.FindingCode]amt.Severity{
		provisioning.AuditNoAuthorizer:             amt.SeverityError,
		provisioning.AuditBundleExpiring:           amt.SeverityWarning,
		provisioning.AuditBundleExpiringSoon:       amt.SeverityError,
		provisioning.AuditBundleRevoked:            amt.SeverityError,
		provisioning.AuditDefaultServerName:        amt.SeverityWarning,
		provisioning.AuditDefaultPort:              amt.SeverityInfo,
		provisioning.AuditManyProvisioningAccounts: amt.SeverityWarning,
		provisioning.AuditStandAloneCA:             amt.SeverityError,
		provisioning.AuditV3Template:               amt.SeverityError,
		provisioning.AuditFleetAdminPassword:       amt.SeverityWarning,
		provisioning.AuditFleetMEBxPassword:        amt.SeverityWarning,
		provisioning.AuditDefaultMEBxPassword:      amt.SeverityError,
		provisioning.AuditProfileInvalid:           amt.SeverityError,
		provisioning.AuditUUIDOnly:                 amt.SeverityWarning,
		provisioning.AuditLegacyTLS:                amt.SeverityWarning,
		provisioning.AuditNoTLS:                    amt.SeverityWarning,
		provisioning.AuditNonTLSPort:               amt.SeverityWarning,
		provisioning.AuditBroadRealm:               amt.SeverityWarning,
		provisioning.AuditManyRealmUsers:           amt.SeverityWarning,
	}
	for code, sev := range want {
		f, ok := got[code]
		if assert.True(t, ok, "missing %s", code) {
			assert.Equal(t, sev, f.Severity, "%s", code)
			assert.NotEmpty(t, f.Guidance, "%s", code)
			assert.NotEmpty(t, f.Message, "%s", code)
		}
	}
	assert.NotContains(t, got, provisioning.AuditNoBundles)
	weak := false
	for _, f := range fs {
		if f.Code == provisioning.AuditBundle && f.Detail == string(certs.CodeWeakSignature) {
			weak = f.Severity == amt.SeverityError
			assert.GreaterOrEqual(t, f.Index, 0, "the certificate's place in the chain")
			assert.Contains(t, f.Message, "certificate ", "the message names the certificate")
		}
		if f.Code != provisioning.AuditBundle {
			assert.Equal(t, -1, f.Index, "%s", f)
		}
	}
	assert.True(t, weak, "the SHA-1 leaf is reported through certs.CheckProvisioning")
	// Errors first.
	for i := 1; i < len(fs); i++ {
		assert.GreaterOrEqual(t, fs[i-1].Severity, fs[i].Severity)
	}
	// No secret appears in a finding.
	for _, f := range fs {
		for _, s := range []string{"Fleet-wide-1", "Mebx-fleet-1", "Kvm-user-1", "Root-user-2"} {
			assert.NotContains(t, f.String(), s)
		}
	}
	assert.True(t, hasFinding(provisioning.Audit(context.Background(), provisioning.Config{}), provisioning.AuditNoBundles))
	needIssuer := provisioning.Audit(context.Background(), provisioning.Config{Profiles: map[string]provisioning.Profile{"p": {TLS: &provisioning.TLSProfile{}}}})
	assert.True(t, hasFinding(needIssuer, provisioning.AuditNoIssuer))
	_ = errors.New
}

func TestNewRefusesBadConfig(t *testing.T) {
	k := testKeys()
	chain, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: k})
	require.NoError(t, err)
	rootless := chain.Bundle
	rootless.Chain = rootless.Chain[:len(rootless.Chain)-1]
	inv := provisioning.NewInventoryList()
	tests := []struct {
		name  string
		cfg   provisioning.Config
		field string
		says  string // part of the message that says what to fix
	}{
		{"no authorizer", provisioning.Config{}, "Authorizer", "InventoryList"},
		{"TLS profile without issuer", provisioning.Config{Authorizer: inv,
			Profiles: map[string]provisioning.Profile{"default": {TLS: &provisioning.TLSProfile{}}}}, "Issuer", "NewCA"},
		{"weak fixed password", provisioning.Config{Authorizer: inv,
			Profiles: map[string]provisioning.Profile{"default": {AdminPassword: amt.NewSecret("weak")}}}, "Profile default AdminPassword", ""},
		{"bundle without chain", provisioning.Config{Authorizer: inv, Bundles: []certs.Bundle{{}}}, "Bundles[0]", "chain"},
		{"chain without its root", provisioning.Config{Authorizer: inv, Bundles: []certs.Bundle{rootless}}, "Bundles[0]", "not a self-signed root"},
		{"default profile missing", provisioning.Config{Authorizer: inv,
			Profiles: map[string]provisioning.Profile{"laptops": {}}}, "DefaultProfile", `"default"`},
		{"named default profile missing", provisioning.Config{Authorizer: inv, DefaultProfile: "desktops",
			Profiles: map[string]provisioning.Profile{"laptops": {}}}, "DefaultProfile", `"desktops"`},
		{"On-Die required without roots", provisioning.Config{Authorizer: inv,
			Profiles: map[string]provisioning.Profile{"default": {RequireOnDie: true}}}, "OnDieRoots", "every device would be refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provisioning.New(tt.cfg)
			var ce *provisioning.ConfigError
			require.True(t, errors.As(err, &ce), "%v", err)
			assert.Equal(t, tt.field, ce.Field)
			assert.Contains(t, ce.Error(), tt.says)
		})
	}
	// A named default that exists is accepted.
	_, err = provisioning.New(provisioning.Config{Authorizer: inv, DefaultProfile: "laptops",
		Profiles: map[string]provisioning.Profile{"laptops": {}}, Bundles: []certs.Bundle{chain.Bundle}})
	require.NoError(t, err)
}

func TestExpectAgentRequestChecks(t *testing.T) {
	p, err := provisioning.New(provisioning.Config{Authorizer: provisioning.NewInventoryList()})
	require.NoError(t, err)
	ctx := context.Background()
	assert.Error(t, p.ExpectAgentRequest(ctx, provisioning.AgentRequest{OTP: amt.NewSecret("12345678")}))
	assert.Error(t, p.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: amt.UUID{1}, OTP: amt.NewSecret("short")}))
	assert.Error(t, p.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: amt.UUID{1}, OTP: amt.NewSecret("\x00\x00\x00\x00\x00\x00\x00\x00")}))
	// What an agent cannot set over PTHI (8–31 printable ASCII) no device will
	// hold: 32 characters, or a control character.
	assert.Error(t, p.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: amt.UUID{1}, OTP: amt.NewSecret(strings.Repeat("a", 32))}))
	assert.Error(t, p.ExpectAgentRequest(ctx, provisioning.AgentRequest{UUID: amt.UUID{1}, OTP: amt.NewSecret("0tp-with\ttab")}))
	req := provisioning.AgentRequest{UUID: amt.UUID{2}, Firmware: amt.MustParseVersion("16.1.25"), OTP: amt.NewSecret("0tp-from-agent")}
	assert.Equal(t, amt.UUID{2}, req.UUID)
	assert.Equal(t, "0tp-from-agent", req.OTP.Reveal())
	require.NoError(t, p.ExpectAgentRequest(ctx, req))
}

func TestAuditOnDie(t *testing.T) {
	roots := x509.NewCertPool()
	base := func() provisioning.Config {
		return provisioning.Config{Profiles: map[string]provisioning.Profile{"ondie": {RequireOnDie: true}}}
	}
	tests := []struct {
		name    string
		mutate  func(*provisioning.Config)
		present []amt.FindingCode
		absent  []amt.FindingCode
	}{
		{"required without roots", func(*provisioning.Config) {}, []amt.FindingCode{provisioning.AuditOnDieNoRoots}, []amt.FindingCode{provisioning.AuditOnDieUnbound}},
		{"roots, default binding", func(c *provisioning.Config) { c.OnDieRoots = roots }, []amt.FindingCode{provisioning.AuditOnDieDefaultBinding},
			[]amt.FindingCode{provisioning.AuditOnDieNoRoots, provisioning.AuditOnDieUnbound}},
		{"roots, trust any genuine chain", func(c *provisioning.Config) {
			c.OnDieRoots, c.OnDieBinding = roots, provisioning.TrustAnyOnDieDevice
		}, []amt.FindingCode{provisioning.AuditOnDieUnbound}, []amt.FindingCode{provisioning.AuditOnDieNoRoots, provisioning.AuditOnDieDefaultBinding}},
		{"roots, integrator binding", func(c *provisioning.Config) {
			c.OnDieRoots = roots
			c.OnDieBinding = func([]*x509.Certificate, *hello.Message, provisioning.Inventory) error { return nil }
		}, nil, []amt.FindingCode{provisioning.AuditOnDieNoRoots, provisioning.AuditOnDieUnbound, provisioning.AuditOnDieDefaultBinding}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mutate(&cfg)
			got := codes(provisioning.Audit(context.Background(), cfg))
			for _, c := range tt.present {
				if assert.Contains(t, got, c) {
					assert.NotEmpty(t, got[c].Message)
				}
			}
			for _, c := range tt.absent {
				assert.NotContains(t, got, c)
			}
		})
	}
	assert.Equal(t, amt.SeverityError, codes(provisioning.Audit(context.Background(), base()))[provisioning.AuditOnDieNoRoots].Severity)
}
