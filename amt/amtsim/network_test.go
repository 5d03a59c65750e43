package amtsim_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// netEnv is a provisioned device with an 802.1X client certificate (key in
// AMT) and a RADIUS root installed, reached through the amt bindings.
type netEnv struct {
	d            *amtsim.Device
	dev          *amt.Device
	client, root string // certificate handles
}

func newNetEnv(t *testing.T, edit func(*amtsim.Config)) *netEnv {
	t.Helper()
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	ca := certstest.MustRootCA(t, certstest.CAOptions{Keys: keys})
	d, c := provisioned(t, keys, pc, edit)
	dev := amt.NewDevice(c)
	ctx := t.Context()
	keyID, err := dev.GenerateKeyPair(ctx, amt.KeyAlgorithmRSA, 2048)
	require.NoError(t, err)
	kp, err := dev.KeyPair(ctx, keyID)
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	leaf, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "amt.example.com"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, pub)
	require.NoError(t, err)
	e := &netEnv{d: d, dev: dev}
	e.client, err = dev.AddCertificate(ctx, leaf)
	require.NoError(t, err)
	e.root, err = dev.AddTrustedRootCertificate(ctx, ca.RootCertificate())
	require.NoError(t, err)
	return e
}

func psk(name string, prio uint32, pass string) amt.WiFiSettings {
	return amt.WiFiSettings{Endpoint: amt.WiFiEndpointSettings{ElementName: name, SSID: "SSID " + name, Priority: prio,
		AuthenticationMethod: amt.WiFiAuthWPA2PSK, EncryptionMethod: amt.WiFiEncryptionCCMP, PSKPassPhrase: amt.NewSecret(pass)}}
}

func (e *netEnv) eapTLS(name string, prio uint32) amt.WiFiSettings {
	return amt.WiFiSettings{
		Endpoint: amt.WiFiEndpointSettings{ElementName: name, SSID: "SSID " + name, Priority: prio,
			AuthenticationMethod: amt.WiFiAuthWPA2IEEE8021X, EncryptionMethod: amt.WiFiEncryptionCCMP},
		IEEE8021x:         &amt.WiFiIEEE8021xSettings{ElementName: name, AuthenticationProtocol: amt.EAPTLS, Username: "amt.example.com"},
		ClientCertificate: e.client, CACertificate: e.root,
	}
}

// returnValue extracts a Wi-Fi method's ReturnValue from its error (0: nil).
func returnValue(t *testing.T, err error) uint32 {
	t.Helper()
	if err == nil {
		return 0
	}
	var rv *amt.ReturnValueError
	require.ErrorAs(t, err, &rv, "%v", err)
	return rv.Value
}

// The firmware rules the Wi-Fi classes enforce, each through the bindings.
func TestWiFiRules(t *testing.T) {
	e := newNetEnv(t, nil)
	ctx := t.Context()
	vendor := func(s amt.Status) uint32 { return amt.CIMVendorBase + uint32(s) }

	// Required fields per security type; a refused profile leaves nothing.
	noPass := psk("a", 1, "")
	noPass.Endpoint.PSKPassPhrase = amt.Secret{}
	noPass.Endpoint.AuthenticationMethod = amt.WiFiAuthWPA2PSK
	err := e.dev.AddWiFiSettings(ctx, noPass)
	require.ErrorIs(t, err, amt.ErrInvalidArgument, "the binding refuses it before sending")
	for _, tc := range []struct {
		name string
		s    amt.WiFiSettings
		want uint32
	}{
		{"open network (an IT profile must be WPA or stronger)", func() amt.WiFiSettings {
			s := psk("open", 1, "12345678")
			s.Endpoint.AuthenticationMethod, s.Endpoint.EncryptionMethod = amt.WiFiAuthOpenSystem, amt.WiFiEncryptionNone
			return s
		}(), 1},
		{"WPA2 with WEP", func() amt.WiFiSettings {
			s := psk("wep", 1, "12345678")
			s.Endpoint.EncryptionMethod = amt.WiFiEncryptionWEP
			return s
		}(), 3},
		{"WPA3-SAE before AMT 20", func() amt.WiFiSettings {
			s := psk("sae", 1, "12345678")
			s.Endpoint.AuthenticationMethod = amt.WiFiAuthWPA3SAE
			return s
		}(), 1},
		{"client certificate not installed", func() amt.WiFiSettings {
			s := e.eapTLS("x", 1)
			s.ClientCertificate = "Intel(r) AMT Certificate: Handle: 99"
			return s
		}(), 4},
		{"a trusted root as client certificate", func() amt.WiFiSettings {
			s := e.eapTLS("x", 1)
			s.ClientCertificate = e.root
			return s
		}(), 4},
		{"a client certificate as CA", func() amt.WiFiSettings {
			s := e.eapTLS("x", 1)
			s.CACertificate = e.client
			return s
		}(), 4},
		{"PEAP without a password", func() amt.WiFiSettings {
			s := e.eapTLS("x", 1)
			s.IEEE8021x.AuthenticationProtocol, s.ClientCertificate = amt.EAPPEAPv0MSCHAPv2, ""
			return s
		}(), 3},
		{"802.1X without an identity", func() amt.WiFiSettings {
			s := e.eapTLS("x", 1)
			s.IEEE8021x.Username = ""
			return s
		}(), 3},
		{"a bad server name comparison", func() amt.WiFiSettings {
			s := e.eapTLS("x", 1)
			s.IEEE8021x.ServerCertificateName, s.IEEE8021x.ServerCertificateNameComparison = "radius", 7
			return s
		}(), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, returnValue(t, e.dev.AddWiFiSettings(ctx, tc.s)))
		})
	}
	assert.Empty(t, e.d.NetworkSnapshot().Profiles)

	// Up to eight IT profiles, unique names and priorities.
	require.NoError(t, e.dev.AddWiFiSettings(ctx, e.eapTLS("corp", 1)))
	assert.Equal(t, uint32(3), returnValue(t, e.dev.AddWiFiSettings(ctx, psk("b", 1, "12345678"))), "priority 1 is corp's")
	assert.Equal(t, vendor(amt.StatusDuplicate), returnValue(t, e.dev.AddWiFiSettings(ctx, psk("corp", 9, "12345678"))))
	for i := 2; i <= 8; i++ {
		require.NoError(t, e.dev.AddWiFiSettings(ctx, psk(fmt.Sprintf("n%d", i), uint32(i), "12345678")))
	}
	err = e.dev.AddWiFiSettings(ctx, psk("n9", 9, "12345678"))
	assert.Equal(t, vendor(amt.StatusMaxLimitReached), returnValue(t, err))
	assert.ErrorIs(t, err, amt.StatusMaxLimitReached, "a CIM vendor value unwraps to the PT_STATUS")

	// What a profile refers to cannot go; the profile in use is not changed.
	assert.Equal(t, amt.StatusNotPermitted, amtStatus(t, e.dev.DeleteCertificate(ctx, e.client)), "corp uses it")
	require.NoError(t, e.d.ConnectWiFi("corp"))
	upd := e.eapTLS("corp", 1)
	upd.Endpoint.InstanceID = "Intel(r) AMT:WiFi Endpoint Settings corp"
	assert.Equal(t, vendor(amt.StatusNotPermitted), returnValue(t, e.dev.UpdateWiFiSettings(ctx, upd)))
	assert.Equal(t, amt.StatusNotPermitted, amtStatus(t, e.dev.DeleteWiFiProfile(ctx, upd.Endpoint.InstanceID)))
	cfg, err := e.dev.WiFiPortConfiguration(ctx)
	require.NoError(t, err)
	assert.Equal(t, "SSID corp", cfg.LastConnectedSsidUnderMeControl)
	require.NoError(t, e.d.ConnectWiFi(""))
	upd.Endpoint.Priority = 2
	assert.Equal(t, uint32(3), returnValue(t, e.dev.UpdateWiFiSettings(ctx, upd)), "priority 2 is n2's")
	upd.Endpoint.Priority = 20
	require.NoError(t, e.dev.UpdateWiFiSettings(ctx, upd))
	require.NoError(t, e.dev.DeleteWiFiProfile(ctx, upd.Endpoint.InstanceID))
	assert.NoError(t, e.dev.DeleteCertificate(ctx, e.client), "no profile uses it any more")
	assert.Len(t, e.d.NetworkSnapshot().Profiles, 7)

	// The port's states.
	require.NoError(t, e.dev.RequestWiFiPortState(ctx, amt.WiFiEnabledS0))
	p, err := e.dev.WiFiPort(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.WiFiEnabledS0, p.EnabledState)
}

// User profiles come from the local system account (LMS), only while local
// synchronisation is on, never with 802.1X; the ninth replaces the oldest.
func TestWiFiUserProfiles(t *testing.T) {
	e := newNetEnv(t, nil)
	ctx := t.Context()
	local := amt.NewDevice(localClient(t, e.d))
	err := local.AddWiFiSettings(ctx, psk("home", 1, "12345678"))
	assert.Equal(t, amt.CIMVendorBase+uint32(amt.StatusNotPermitted), returnValue(t, err), "synchronisation is off")
	cfg, err := e.dev.WiFiPortConfiguration(ctx)
	require.NoError(t, err)
	cfg.LocalProfileSynchronization = amt.LocalSyncUnrestricted
	_, err = e.dev.PutWiFiPortConfiguration(ctx, cfg)
	require.NoError(t, err)
	for i := 1; i <= 9; i++ {
		require.NoError(t, local.AddWiFiSettings(ctx, psk(fmt.Sprintf("u%d", i), 1, "12345678")), "user profiles share priorities")
	}
	assert.Equal(t, uint32(1), returnValue(t, local.AddWiFiSettings(ctx, e.eapTLS("ent", 2))), "no 802.1X user profiles")
	s := e.d.NetworkSnapshot()
	require.Len(t, s.Profiles, 8)
	assert.Equal(t, "u2", s.Profiles[0].Name, "u1 was replaced")
	assert.True(t, s.Profiles[0].User)

	// The UEFI sharing switch needs the platform (and CSME 16).
	cfg, err = e.dev.WiFiPortConfiguration(ctx)
	require.NoError(t, err)
	cfg.UEFIWiFiProfileShareEnabled = true
	_, err = e.dev.PutWiFiPortConfiguration(ctx, cfg)
	assert.Equal(t, amt.StatusNotPermitted, amtStatus(t, err))
	ok, err := e.dev.UEFIWiFiProfileShareSupported(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestWiFiPlatforms(t *testing.T) {
	t.Run("no wireless interface", func(t *testing.T) {
		e := newNetEnv(t, func(c *amtsim.Config) { c.Network.NoWireless = true })
		_, err := e.dev.WiFiPortConfiguration(t.Context())
		assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable)
		_, err = e.dev.WiFiPort(t.Context())
		assert.ErrorIs(t, err, amt.ErrNotFound, "CIM_WiFiPort enumerates empty (console issue 1057)")
		_, err = e.dev.Client().Get(t.Context(), amt.URIWiFiPort, nil)
		assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable)
		ports, err := e.dev.EthernetPortSettings(t.Context())
		require.NoError(t, err)
		require.Len(t, ports, 2)
		assert.True(t, ports[0].HasInterface())
		assert.False(t, ports[1].HasInterface(), "the wireless instance has MAC 00-00-00-00-00-00")
	})
	t.Run("wireless only", func(t *testing.T) {
		e := newNetEnv(t, func(c *amtsim.Config) { c.Network.WirelessOnly = true })
		_, err := e.dev.IEEE8021xSettings(t.Context())
		assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable, "RPS issue 1072")
		ports, err := e.dev.EthernetPortSettings(t.Context())
		require.NoError(t, err)
		assert.False(t, ports[0].HasInterface())
	})
	t.Run("UEFI sharing and WPA3 on AMT 20", func(t *testing.T) {
		e := newNetEnv(t, func(c *amtsim.Config) {
			c.Version = amt.MustParseVersion("20.0.0")
			c.Network.UEFIWiFiProfileShare = true
		})
		ctx := t.Context()
		ok, err := e.dev.UEFIWiFiProfileShareSupported(ctx)
		require.NoError(t, err)
		assert.True(t, ok)
		cfg, err := e.dev.WiFiPortConfiguration(ctx)
		require.NoError(t, err)
		cfg.UEFIWiFiProfileShareEnabled = true
		_, err = e.dev.PutWiFiPortConfiguration(ctx, cfg)
		require.NoError(t, err)
		assert.True(t, e.d.NetworkSnapshot().UEFIProfileShare)
		s := psk("sae", 1, "12345678")
		s.Endpoint.AuthenticationMethod = amt.WiFiAuthWPA3SAE
		require.NoError(t, e.dev.AddWiFiSettings(ctx, s))
		g := e.eapTLS("gcmp", 2)
		g.Endpoint.EncryptionMethod = amt.WiFiEncryptionGCMP256
		require.NoError(t, e.dev.AddWiFiSettings(ctx, g))
	})
}

// The wired interface's addressing rules, and unprovisioning resets them.
func TestEthernetRules(t *testing.T) {
	e := newNetEnv(t, nil)
	ctx := t.Context()
	wired, err := e.dev.EthernetPort(ctx, amt.WiredPortSettingsID)
	require.NoError(t, err)
	assert.True(t, wired.DHCPEnabled)
	static := amt.StaticIPv4{Address: netip.MustParsePrefix("10.1.2.3/16"), Gateway: netip.MustParseAddr("10.1.0.1"), PrimaryDNS: netip.MustParseAddr("10.1.0.2")}
	require.NoError(t, wired.SetStatic(static))
	got, err := e.dev.PutEthernetPortSettings(ctx, wired)
	require.NoError(t, err)
	back, ok := got.Static()
	require.True(t, ok)
	assert.Equal(t, static, back)

	raw := e.dev.Client()
	put := func(id string, props ...wsman.Property) error {
		_, err := raw.Put(ctx, amt.URIEthernetPortSettings, wsman.SelectorSet{wsman.Sel("InstanceID", id)}, wsman.NewInstance(amt.URIEthernetPortSettings, props...))
		return err
	}
	for _, tc := range []struct {
		name  string
		id    string
		props []wsman.Property
	}{
		{"no DHCPEnabled", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("IpSyncEnabled", "true")}},
		{"static without an address", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "false"), wsman.Prop("IpSyncEnabled", "false")}},
		{"a mask that is no mask", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "false"), wsman.Prop("IpSyncEnabled", "false"),
			wsman.Prop("IPAddress", "10.0.0.5"), wsman.Prop("SubnetMask", "255.0.255.0")}},
		{"a gateway outside the subnet", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "false"), wsman.Prop("IpSyncEnabled", "false"),
			wsman.Prop("IPAddress", "10.0.0.5"), wsman.Prop("SubnetMask", "255.255.255.0"), wsman.Prop("DefaultGateway", "10.9.0.1")}},
		{"a shared static address in DHCP mode", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "true"), wsman.Prop("SharedStaticIp", "true")}},
		{"a shared static address without IP sync", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "false"), wsman.Prop("IpSyncEnabled", "false"),
			wsman.Prop("SharedStaticIp", "true"), wsman.Prop("IPAddress", "10.0.0.5"), wsman.Prop("SubnetMask", "255.255.255.0")}},
		{"a static address on the wireless interface", amt.WirelessPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "false")}},
		// Intel's console: AMT rejects explicit IP fields when they come from
		// DHCP or the host.
		{"an address in DHCP mode", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "true"), wsman.Prop("IPAddress", "10.0.0.5")}},
		{"a DNS server with IP sync", amt.WiredPortSettingsID, []wsman.Property{wsman.Prop("DHCPEnabled", "false"), wsman.Prop("IpSyncEnabled", "true"),
			wsman.Prop("PrimaryDNS", "10.0.0.2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := put(tc.id, tc.props...)
			var f *wsman.Fault
			require.True(t, errors.As(err, &f), "%v", err)
		})
	}
	assert.Equal(t, static, e.d.NetworkSnapshot().WiredStatic, "refused Puts changed nothing")

	// The binding refuses what the firmware would, before sending.
	wireless, err := e.dev.EthernetPort(ctx, amt.WirelessPortSettingsID)
	require.NoError(t, err)
	wireless.DHCPEnabled = false
	_, err = e.dev.PutEthernetPortSettings(ctx, wireless)
	assert.ErrorIs(t, err, amt.ErrInvalidArgument)

	require.NoError(t, e.dev.AddWiFiSettings(ctx, e.eapTLS("corp", 1)))
	require.NoError(t, e.dev.Unprovision(ctx))
	s := e.d.NetworkSnapshot()
	assert.Empty(t, s.Profiles, "unprovisioning removes the profiles with the certificates they used")
	assert.True(t, s.WiredDHCP, "and restores DHCP")
}
