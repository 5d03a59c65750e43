package amtsim_test

import (
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handshake connects with pc as the client chain and reads the version; it
// returns the client's error and the device's last handshake record.
func handshake(t *testing.T, d *amtsim.Device, pc *certstest.ProvisioningChain, opts ...wsman.Option) (amtsim.HandshakeRecord, error) {
	t.Helper()
	_, err := amt.NewDevice(rcfgClient(t, d, pc, opts...)).Version(t.Context())
	hs := d.Snapshot().Handshakes
	require.NotEmpty(t, hs, "the device saw no handshake")
	return hs[len(hs)-1], err
}

func TestRemoteConfigurationRules(t *testing.T) {
	keys := certstest.NewKeyPool()
	good := chainFor(t, keys, certstest.ProvisioningOptions{})
	otherRoot := chainFor(t, keys, certstest.ProvisioningOptions{})
	// Same root, a second intermediate with the same name but another key:
	// the leaf of `good` does not verify under it.
	sibling := chainFor(t, keys, certstest.ProvisioningOptions{Root: good.Root})
	forged := &certstest.ProvisioningChain{Bundle: certs.Bundle{
		Chain: []*x509.Certificate{good.Chain[0], sibling.Chain[1], good.Chain[2]}, Key: good.Key}}
	dropServerAuth := func(c *x509.Certificate) {
		c.ExtKeyUsage = nil
		c.UnknownExtKeyUsage = []asn1.ObjectIdentifier{amtsim.OIDClientSetup}
	}
	// variant issues a leaf straight from good's root with good's key (unless
	// the options ask for another key), so the table costs no key generation.
	variant := func(o certstest.ProvisioningOptions) *certstest.ProvisioningChain {
		o.Root, o.NoIntermediate = good.Root, true
		if o.LeafBits == 0 && !o.LeafECDSA {
			o.LeafKey = good.Key
		}
		return chainFor(t, keys, o)
	}
	lowerOU := func(c *x509.Certificate) {
		c.Subject.OrganizationalUnit = []string{"intel(r) client setup certificate"}
	}

	tests := []struct {
		name  string
		chain *certstest.ProvisioningChain
		cfg   func(*amtsim.Config)
		opts  []wsman.Option
		rule  amtsim.Rule // 0: accepted
	}{
		{name: "good chain, OID and OU", chain: good},
		{name: "OID only", chain: variant(certstest.ProvisioningOptions{Marker: certs.MarkerOID})},
		{name: "OU only", chain: variant(certstest.ProvisioningOptions{Marker: certs.MarkerOU})},
		{name: "suffix below the certificate's domain", chain: good, cfg: func(c *amtsim.Config) { c.DHCPDNSSuffix = "sales.example.com" }},
		{name: "trusted suffix wins over DHCP", chain: good, cfg: func(c *amtsim.Config) {
			c.DHCPDNSSuffix = "fabrikam.com"
			c.TrustedDNSSuffix = "example.com"
		}},
		{name: ".com two-label rule", chain: variant(certstest.ProvisioningOptions{FQDN: "prov.it.example.com"}),
			cfg: func(c *amtsim.Config) { c.DHCPDNSSuffix = "sales.example.com" }},
		{name: "wildcard", chain: variant(certstest.ProvisioningOptions{FQDN: "*.example.com"}),
			cfg: func(c *amtsim.Config) { c.DHCPDNSSuffix = "a.b.example.com" }},
		{name: "root not in the table", chain: otherRoot, rule: amtsim.RuleRootHash, cfg: func(c *amtsim.Config) {
			c.UserRootHashes[0].Hash = sha256Of(rootOf(good))
		}},
		{name: "root in the table as SHA-384", chain: good, cfg: func(c *amtsim.Config) {
			s := sha512.Sum384(rootOf(good).Raw)
			c.UserRootHashes[0].Hash = amt.CertHash{Alg: amt.HashSHA384, Sum: s[:]}
		}},
		{name: "root hash inactive", chain: good, rule: amtsim.RuleRootHash, cfg: func(c *amtsim.Config) {
			c.UserRootHashes[0].Active = false
		}},
		{name: "no usage marker", chain: variant(certstest.ProvisioningOptions{Marker: certs.MarkerNone}), rule: amtsim.RuleUsage},
		{name: "OU in the wrong case", chain: variant(certstest.ProvisioningOptions{Marker: certs.MarkerOU, Leaf: lowerOU}), rule: amtsim.RuleUsage},
		{name: "EKU without serverAuth", chain: variant(certstest.ProvisioningOptions{Leaf: dropServerAuth}), rule: amtsim.RuleServerAuth},
		{name: "wrong suffix", chain: good, rule: amtsim.RuleSuffix, cfg: func(c *amtsim.Config) { c.DHCPDNSSuffix = "fabrikam.com" }},
		{name: "no suffix at all", chain: good, rule: amtsim.RuleSuffix, cfg: func(c *amtsim.Config) { c.DHCPDNSSuffix = "" }},
		{name: "suffix above the certificate's domain (.co.uk, no two-label rule)",
			chain: variant(certstest.ProvisioningOptions{FQDN: "prov.sales.example.co.uk"}),
			rule:  amtsim.RuleSuffix, cfg: func(c *amtsim.Config) { c.DHCPDNSSuffix = "example.co.uk" }},
		{name: "SHA-1 leaf on AMT 16", chain: variant(certstest.ProvisioningOptions{SHA1: true}), rule: amtsim.RuleAlgorithm},
		{name: "SHA-1 root on AMT 16", chain: chainFor(t, keys, certstest.ProvisioningOptions{RootOptions: certstest.CAOptions{SHA1: true}}), rule: amtsim.RuleAlgorithm},
		{name: "RSA-1024 leaf on AMT 16", chain: variant(certstest.ProvisioningOptions{LeafBits: 1024}), rule: amtsim.RuleKey},
		{name: "SHA-1 leaf on AMT 11.8 (legacy TLS)", chain: variant(certstest.ProvisioningOptions{SHA1: true}),
			cfg: func(c *amtsim.Config) { c.Version = amt.MustParseVersion("11.8.55") }, opts: []wsman.Option{wsman.WithLegacyTLS()}},
		{name: "RSA-1024 leaf on AMT 12", chain: variant(certstest.ProvisioningOptions{LeafBits: 1024}),
			cfg: func(c *amtsim.Config) { c.Version = amt.MustParseVersion("12.0.67") }},
		{name: "RSA-1024 leaf on 15.x non-H (Legacy15)", chain: variant(certstest.ProvisioningOptions{LeafBits: 1024}),
			cfg: func(c *amtsim.Config) { c.Version = amt.MustParseVersion("15.0.10"); c.Legacy15 = true }},
		{name: "RSA-1024 leaf on 15.x H", chain: variant(certstest.ProvisioningOptions{LeafBits: 1024}),
			cfg: func(c *amtsim.Config) { c.Version = amt.MustParseVersion("15.0.10") }, rule: amtsim.RuleKey},
		{name: "ECDSA leaf", chain: variant(certstest.ProvisioningOptions{LeafECDSA: true}), rule: amtsim.RuleKey},
		{name: "bad chain signature", chain: forged, rule: amtsim.RuleSignature},
		{name: "expired leaf", chain: variant(certstest.ProvisioningOptions{Expired: true}), rule: amtsim.RuleValidity},
		{name: "leaf not yet valid by the device clock", chain: good, rule: amtsim.RuleValidity,
			cfg: func(c *amtsim.Config) { c.ClockOffset = -certs.DefaultBackdate - 24*time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := trusting(tt.chain)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			d := start(t, cfg)
			rec, err := handshake(t, d, tt.chain, tt.opts...)
			if tt.rule == 0 {
				require.NoError(t, err)
				require.NoError(t, rec.Err)
				assert.Equal(t, cfg.UserRootHashes[0].Hash, rec.RootHash)
				assert.Equal(t, tt.chain.Chain[0].Raw, rec.Leaf().Raw, "the record names the leaf used")
				assert.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState)
				return
			}
			require.Error(t, err, "the handshake must fail")
			var op *net.OpError
			require.True(t, errors.As(err, &op), "a TLS alert from the device, got %v", err)
			var re *amtsim.RuleError
			require.True(t, errors.As(rec.Err, &re), "record error %v", rec.Err)
			assert.Equal(t, tt.rule, re.Rule, "refused by %v", rec.Err)
			assert.ErrorIs(t, rec.Err, amtsim.ErrRuleViolation)
			assert.ErrorIs(t, rec.Err, &amtsim.RuleError{Rule: tt.rule})
			assert.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState, "a refused chain changes nothing")
		})
	}
}
