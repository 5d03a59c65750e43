package amtsim_test

import (
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigDefaultsAndErrors(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{})
	require.NoError(t, err)
	assert.Equal(t, "16.1.25", d.Version().String())
	assert.Regexp(t, `^Digest:[0-9A-F]{32}$`, d.DigestRealm())
	assert.Equal(t, byte(4), d.UUID()[6]>>4, "a random version 4 UUID")
	s := d.Snapshot()
	assert.Equal(t, amt.PreProvisioning, s.ProvisioningState)
	assert.True(t, s.MEBxPasswordDefault)
	assert.True(t, d.MEBxPasswordIs(amt.NewSecret("admin")))
	assert.True(t, s.RemoteConfigurationEnabled)
	assert.Len(t, s.RootHashes, len(amt.DefaultRootHashes())-1, "VeriSign Class 3 G1 is gone from 16.1")
	assert.Len(t, s.ConfigurationNonce, 20)

	old, err := amtsim.New(amtsim.Config{Version: amt.MustParseVersion("11.8.50")})
	require.NoError(t, err)
	assert.Len(t, old.Snapshot().RootHashes, len(amt.DefaultRootHashes()), "still there on 11.8.50")

	for _, tt := range []struct {
		field string
		cfg   amtsim.Config
	}{
		{"DigestRealm", amtsim.Config{DigestRealm: "Digest:XYZ"}},
		{"OTP", amtsim.Config{OTP: amt.NewSecret("short")}},
		{"RootHash", amtsim.Config{UserRootHashes: []amtsim.RootHash{{Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: []byte{1}}}}}},
	} {
		_, err := amtsim.New(tt.cfg)
		var ce *amtsim.ConfigError
		require.ErrorAs(t, err, &ce, tt.field)
		assert.Equal(t, tt.field, ce.Field)
		assert.ErrorIs(t, err, amtsim.ErrConfig)
	}
}

// The device's facts are the table's; a platform knob is refused on a
// version whose answer does not depend on the platform.
func TestFirmwareOfDevice(t *testing.T) {
	for _, v := range []string{"2.6.0", "15.0.10", "16.1.25", "22.0.0"} {
		d, err := amtsim.New(amtsim.Config{Version: amt.MustParseVersion(v)})
		require.NoError(t, err)
		assert.Equal(t, amt.FirmwareFor(amt.MustParseVersion(v)), d.Firmware(), v)
	}
	d, err := amtsim.New(amtsim.Config{})
	require.NoError(t, err)
	assert.Equal(t, amt.FirmwareFor(amt.MustParseVersion(amtsim.DefaultVersion)), d.Firmware())
	for _, tt := range []struct {
		field, version string
		cfg            amtsim.Config
	}{
		{"Legacy15", "16.0.15", amtsim.Config{Legacy15: true}},
		{"Legacy15", "14.1.0", amtsim.Config{Legacy15: true}},
		{"TLSOnly", "16.0.15", amtsim.Config{TLSOnly: true}},
		{"RSAKeyExchangeOnly", "10.0.55", amtsim.Config{RSAKeyExchangeOnly: true}},
		{"RSAKeyExchangeOnly", "13.0.0", amtsim.Config{RSAKeyExchangeOnly: true}},
	} {
		tt.cfg.Version = amt.MustParseVersion(tt.version)
		_, err := amtsim.New(tt.cfg)
		var ce *amtsim.ConfigError
		require.ErrorAs(t, err, &ce, "%s on %s", tt.field, tt.version)
		assert.Equal(t, tt.field, ce.Field)
	}
	for _, cfg := range []amtsim.Config{
		{Version: amt.MustParseVersion("15.0.10"), Legacy15: true},
		{Version: amt.MustParseVersion("16.1.25"), TLSOnly: true},
		{Version: amt.MustParseVersion("12.0.67"), RSAKeyExchangeOnly: true},
	} {
		_, err := amtsim.New(cfg)
		require.NoError(t, err, "%+v", cfg)
	}
}

func TestTLSOnly(t *testing.T) {
	d := start(t, amtsim.Config{TLSOnly: true})
	c := localClient(t, d)
	f := get(t, c, uriTLSSetting, wsman.Sel("InstanceID", remoteTLSID))
	assert.Equal(t, []string{"false"}, f["NonSecureConnectionsSupported"])
}

func TestPrewarmedFleet(t *testing.T) {
	f, err := amtsim.StartFleet(t.Context(), amtsim.FleetOptions{N: 2, Prewarm: true, Template: amtsim.Config{OnDie: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	for _, d := range f.Devices() {
		c, err := d.DeviceCertificate()
		require.NoError(t, err)
		id, ok := amtsim.UUIDOf(c)
		require.True(t, ok)
		assert.Equal(t, d.UUID(), id)
		assert.Same(t, f.OnDieCA(), d.OnDieCA(), "one CA for the fleet")
	}
}
