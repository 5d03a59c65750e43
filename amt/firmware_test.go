package amt_test

import (
	"crypto/tls"
	"reflect"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vw is one version and the value a fact must have there.
type vw struct {
	version string
	want    any
}

const (
	pNone = amt.NoPlatforms
	pSome = amt.SomePlatforms
	pAll  = amt.AllPlatforms
)

// Every rule at its boundaries: one release below, at, and one above.
func TestFirmwareForBoundaries(t *testing.T) {
	for _, tt := range []struct {
		field string
		get   func(amt.Firmware) any
		cases []vw
	}{
		{"AgentInitiatedRemoteConfig", func(f amt.Firmware) any { return f.AgentInitiatedRemoteConfig }, []vw{
			{"1.0.0", false}, {"2.1.0", false}, {"2.2.19", false}, {"2.2.20", true}, {"2.2.21", true},
			{"2.5.9", false}, {"2.6.0", true}, {"2.6.1", true}, {"2.7.0", false}, {"2.9.9", false}, {"3.0.0", true}, {"22.0.0", true}}},
		{"BareMetalRemoteConfig", func(f amt.Firmware) any { return f.BareMetalRemoteConfig }, []vw{
			{"2.6.0", false}, {"3.0.0", false}, {"3.2.0", false}, {"3.2.1", true}, {"3.2.2", true}, {"4.0.0", true}}},
		{"PSK", func(f amt.Firmware) any { return f.PSK }, []vw{
			{"1.9.9", false}, {"2.0.0", true}, {"2.0.1", true}, {"10.9.9", true}, {"11.0.0", false}, {"11.0.1", false}}},
		{"TwoLabelSuffixMatch", func(f amt.Firmware) any { return f.TwoLabelSuffixMatch }, []vw{
			{"2.5.9", false}, {"2.6.0", true}, {"2.6.1", true}}},
		{"FactoryHashSlots", func(f amt.Firmware) any { return f.FactoryHashSlots }, []vw{
			{"2.5.9", 0}, {"2.6.0", 20}, {"2.6.1", 20}, {"6.9.9", 20}, {"7.0.0", 30}, {"7.0.1", 30}}},
		{"UserHashSlots", func(f amt.Firmware) any { return f.UserHashSlots }, []vw{
			{"2.2.20", 3}, {"2.6.0", 3}, {"7.0.0", 3}, {"22.0.0", 3}}},
		{"VeriSignG1", func(f amt.Firmware) any { return f.VeriSignG1 }, []vw{
			{"2.5.9", false}, {"2.6.0", true}, {"11.7.9", true}, {"11.8.64", true}, {"11.8.65", false}, {"11.8.65.3580", false},
			{"11.8.66", false}, {"12.0.31", true}, {"12.0.32", false}, {"12.0.33", false}, {"13.0.0", false}}},
		{"HostBasedSetupService", func(f amt.Firmware) any { return f.HostBasedSetupService }, []vw{
			{"6.0.9", false}, {"6.1.0", true}, {"6.1.1", true}}},
		{"GenerateKeyPair", func(f amt.Firmware) any { return f.GenerateKeyPair }, []vw{
			{"6.1.9", false}, {"6.2.0", true}, {"6.2.1", true}, {"7.0.0", true}}},
		{"IntermediateTrustedRoots", func(f amt.Firmware) any { return f.IntermediateTrustedRoots }, []vw{
			{"11.7.9", false}, {"11.8.0", true}, {"11.8.1", true}}},
		{"PKCS10SHA1", func(f amt.Firmware) any { return f.PKCS10SHA1 }, []vw{
			{"6.1.9", false}, {"6.2.0", true}, {"17.9.9", true}, {"18.0.0", false}, {"18.0.1", false}}},
		{"TLSNonSecureProperty", func(f amt.Firmware) any { return f.TLSNonSecureProperty }, []vw{
			{"16.0.9", false}, {"16.1.0", true}, {"16.1.1", true}}},
		{"DefaultTLSCertificate", func(f amt.Firmware) any { return f.DefaultTLSCertificate }, []vw{
			{"16.0.9", false}, {"16.1.0", true}, {"16.1.1", true}}},
		{"ThunderboltDockSetting", func(f amt.Firmware) any { return f.ThunderboltDockSetting }, []vw{
			{"14.9.9", false}, {"15.0.0", true}, {"15.0.1", true}}},
		{"CoreVersionIdentity", func(f amt.Firmware) any { return f.CoreVersionIdentity }, []vw{
			{"10.9.9", false}, {"11.0.0", true}, {"11.0.1", true}}},
		{"SigningSHA384", func(f amt.Firmware) any { return f.SigningSHA384 }, []vw{
			{"20.0.5", false}, {"20.9.9", false}, {"21.0.0", true}, {"21.0.6", true}}},
		{"SigningSHA384Required", func(f amt.Firmware) any { return f.SigningSHA384Required }, []vw{
			{"21.9.9", false}, {"22.0.0", true}, {"22.0.1", true}}},
		{"ProvisioningCertSHA384", func(f amt.Firmware) any { return f.ProvisioningCertSHA384 }, []vw{
			{"21.9.9", false}, {"22.0.0", true}, {"22.0.1", true}}},
		{"HostBasedAdminSetupRequiresTLS", func(f amt.Firmware) any { return f.HostBasedAdminSetupRequiresTLS }, []vw{
			{"18.9.9", pNone}, {"19.0.0", pSome}, {"19.0.1", pSome}}},
		{"TLSKeyAlgorithm", func(f amt.Firmware) any { return [2]uint32{uint32(f.TLSKeyAlgorithm), f.TLSKeyLength} }, []vw{
			{"6.2.0", [2]uint32{0, 2048}}, {"21.9.9", [2]uint32{0, 2048}}, {"22.0.0", [2]uint32{1, 384}}, {"22.0.1", [2]uint32{1, 384}}}},
		{"TLSCertSHA384", func(f amt.Firmware) any { return f.TLSCertSHA384 }, []vw{
			{"21.9.9", false}, {"22.0.0", true}, {"22.0.1", true}}},
		{"TLS10", func(f amt.Firmware) any { return f.TLS10 }, []vw{
			{"2.2.20", pAll}, {"11.9.9", pAll}, {"12.0.0", pNone}, {"12.0.1", pNone}}},
		{"TLS11", func(f amt.Firmware) any { return f.TLS11 }, []vw{
			{"11.9.9", pAll}, {"14.9.9", pAll}, {"15.0.0", pSome}, {"15.9.9", pSome}, {"16.0.0", pNone}, {"16.0.1", pNone}}},
		{"TLS12", func(f amt.Firmware) any { return f.TLS12 }, []vw{
			{"11.9.9", pNone}, {"12.0.0", pAll}, {"12.0.1", pAll}, {"22.0.0", pAll}}},
		{"TLS13", func(f amt.Firmware) any { return f.TLS13 }, []vw{
			{"20.9.9", pNone}, {"21.0.0", pAll}, {"21.0.1", pAll}}},
		{"NeedsRSAKeyExchange", func(f amt.Firmware) any { return f.NeedsRSAKeyExchange }, []vw{
			{"10.9.9", pAll}, {"11.0.0", pSome}, {"11.0.1", pSome}, {"12.9.9", pSome}, {"13.0.0", pNone}, {"13.0.1", pNone}}},
		{"DeviceCertHasHostName", func(f amt.Firmware) any { return f.DeviceCertHasHostName }, []vw{
			{"18.9.9", true}, {"19.0.0", false}, {"19.0.1", false}}},
		{"OnDieCertificate", func(f amt.Firmware) any { return f.OnDieCertificate }, []vw{
			{"14.9.9", pNone}, {"15.0.0", pSome}, {"15.0.1", pSome}, {"18.9.9", pSome}, {"19.0.0", pAll}, {"19.0.1", pAll}}},
		{"RemoteNonTLSPort", func(f amt.Firmware) any { return f.RemoteNonTLSPort }, []vw{
			{"2.2.20", pAll}, {"16.0.9", pAll}, {"16.1.0", pSome}, {"16.1.1", pSome}, {"22.0.0", pSome}}},
		{"LocalNonTLSPort", func(f amt.Firmware) any { return f.LocalNonTLSPort }, []vw{
			{"18.9.9", pAll}, {"19.0.0", pSome}, {"19.0.1", pSome}}},
		{"RefusesSHA1", func(f amt.Firmware) any { return f.RefusesSHA1 }, []vw{
			{"14.9.9", pNone}, {"15.0.0", pSome}, {"15.0.1", pSome}, {"15.9.9", pSome}, {"16.0.0", pAll}, {"16.0.1", pAll}}},
		{"MinRSABits", func(f amt.Firmware) any { return f.MinRSABits }, []vw{
			{"14.9.9", 0}, {"15.0.0", 2048}, {"16.0.0", 2048}}},
		{"CommitDropsConnection", func(f amt.Firmware) any { return f.CommitDropsConnection }, []vw{
			{"18.9.9", false}, {"19.0.0", true}, {"19.0.1", true}}},
		{"FirstRequestMayDrop", func(f amt.Firmware) any { return f.FirstRequestMayDrop }, []vw{
			{"20.9.9", false}, {"21.0.0", true}, {"21.0.1", true}}},
		{"WiFiProfileSync", func(f amt.Firmware) any { return f.WiFiProfileSync }, []vw{
			{"5.9.9", false}, {"6.0.0", true}, {"6.0.1", true}}},
		{"UEFIWiFiProfileShare", func(f amt.Firmware) any { return f.UEFIWiFiProfileShare }, []vw{
			{"15.9.9", false}, {"16.0.0", true}, {"16.0.1", true}}},
		{"WiFiWPA3", func(f amt.Firmware) any { return f.WiFiWPA3 }, []vw{
			{"19.9.9", false}, {"20.0.0", true}, {"20.0.1", true}}},
		{"WiFiTKIPAndWEP", func(f amt.Firmware) any { return f.WiFiTKIPAndWEP }, []vw{
			{"6.0.0", pAll}, {"14.9.9", pAll}, {"15.0.0", pSome}, {"15.9.9", pSome}, {"16.0.0", pNone}, {"22.0.0", pNone}}},
	} {
		for _, c := range tt.cases {
			v := amt.MustParseVersion(c.version)
			f := amt.FirmwareFor(v)
			assert.Equal(t, c.want, tt.get(f), "%s on %s", tt.field, c.version)
			assert.Equal(t, v, f.Version)
			assert.True(t, f.Known())
		}
	}
}

// A zero version is unknown: the zero Firmware, which says so.
func TestFirmwareUnknown(t *testing.T) {
	f := amt.FirmwareFor(amt.Version{})
	assert.False(t, f.Known())
	assert.Equal(t, amt.Firmware{}, f)
	lo, hi := f.TLSRange()
	assert.Zero(t, lo)
	assert.Zero(t, hi)
}

func TestFirmwareTLSRange(t *testing.T) {
	for _, tt := range []struct {
		version string
		lo, hi  uint16
	}{
		{"2.2.20", tls.VersionTLS10, tls.VersionTLS11},
		{"11.8.50", tls.VersionTLS10, tls.VersionTLS11},
		{"12.0.67", tls.VersionTLS11, tls.VersionTLS12},
		{"15.0.45", tls.VersionTLS11, tls.VersionTLS12}, // TLS 1.1 on some 15.0 platforms
		{"16.0.15", tls.VersionTLS12, tls.VersionTLS12},
		{"20.0.5", tls.VersionTLS12, tls.VersionTLS12},
		{"21.0.6", tls.VersionTLS12, tls.VersionTLS13},
	} {
		lo, hi := amt.FirmwareFor(amt.MustParseVersion(tt.version)).TLSRange()
		assert.Equal(t, tt.lo, lo, "%s lowest", tt.version)
		assert.Equal(t, tt.hi, hi, "%s highest", tt.version)
	}
}

func TestFirmwarePlatforms(t *testing.T) {
	for _, tt := range []struct {
		p        amt.Platforms
		any, all bool
		s        string
	}{
		{amt.NoPlatforms, false, false, "none"},
		{amt.SomePlatforms, true, false, "some platforms"},
		{amt.AllPlatforms, true, true, "all platforms"},
		{amt.Platforms(9), true, false, "Platforms(9)"},
	} {
		assert.Equal(t, tt.any, tt.p.Any(), tt.s)
		assert.Equal(t, tt.all, tt.p.All(), tt.s)
		assert.Equal(t, tt.s, tt.p.String())
	}
	for c, s := range map[amt.Confidence]string{amt.Unsourced: "unsourced", amt.Inferred: "inferred", amt.PeerCode: "peer code",
		amt.DeviceReport: "device report", amt.Vendor: "vendor", amt.Confidence(9): "Confidence(9)"} {
		assert.Equal(t, s, c.String())
	}
}

// Every fact has a rule with a source, and every rule names a fact.
func TestFirmwareRules(t *testing.T) {
	rules := amt.FirmwareRules()
	shared := map[string]string{"UserHashSlots": "FactoryHashSlots", "TLSKeyLength": "TLSKeyAlgorithm"}
	typ := reflect.TypeFor[amt.Firmware]()
	byField := map[string]amt.FirmwareRule{}
	for _, r := range rules {
		_, ok := typ.FieldByName(r.Field)
		assert.True(t, ok, "rule for unknown field %q", r.Field)
		assert.NotContains(t, byField, r.Field, "two rules for %s", r.Field)
		byField[r.Field] = r
		assert.NotEmpty(t, r.Versions, r.Field)
		assert.NotEmpty(t, r.Source, r.Field)
		assert.LessOrEqual(t, r.Confidence, amt.Vendor, r.Field)
	}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if name == "Version" {
			continue
		}
		if s, ok := shared[name]; ok {
			name = s
		}
		assert.Contains(t, byField, name, "field %s has no rule", typ.Field(i).Name)
	}
	require.NotEmpty(t, rules)
	rules[0].Field = "changed"
	assert.NotEqual(t, "changed", amt.FirmwareRules()[0].Field, "a copy on every call")
}
