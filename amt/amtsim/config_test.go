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

func TestFirmwareBoundaries(t *testing.T) {
	for _, tt := range []struct {
		version                            string
		rcfg, agentOnly, psk, strict, drop bool
	}{
		{"2.5.0", false, false, true, false, false},
		{"2.6.0", false, true, true, false, false},
		{"3.0.0", true, false, true, false, false},
		{"10.0.55", true, false, true, false, false},
		{"11.0.0", true, false, false, false, false},
		{"15.0.10", true, false, false, true, false},
		{"16.1.25", true, false, false, true, false},
		{"19.0.5", true, false, false, true, true},
	} {
		f := amtsim.FirmwareFor(amt.MustParseVersion(tt.version), false)
		assert.Equal(t, tt.rcfg, f.RemoteConfiguration, "%s remote configuration", tt.version)
		assert.Equal(t, tt.agentOnly, f.AgentInitiatedOnly, "%s agent-initiated only", tt.version)
		assert.Equal(t, tt.psk, f.PSKHello, "%s PSK", tt.version)
		assert.Equal(t, tt.strict, f.StrictCrypto, "%s strict crypto", tt.version)
		assert.Equal(t, tt.drop, f.CommitDropsConnection, "%s commit drop", tt.version)
	}
	assert.False(t, amtsim.FirmwareFor(amt.MustParseVersion("15.0.10"), true).StrictCrypto, "Legacy15")
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
