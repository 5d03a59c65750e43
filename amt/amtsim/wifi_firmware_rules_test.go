package amtsim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/wsman"
)

// TKIP follows amt.Firmware.WiFiTKIPAndWEP: the Intel AMT SDK's deprecation
// note (quoted in device-management-toolkit/rps issue 594) removes TKIP and
// WEP from CSME firmware on Tiger Lake-H, and rps issue 992 reports AMT 15
// and 16 refusing TKIP profiles.
func TestWiFiTKIPFollowsTheFirmware(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		legacy  bool
		ok      bool
	}{
		{"AMT 14", "14.1.0", false, true},
		{"AMT 15, not chipset H", "15.0.20", true, true},
		{"AMT 15, chipset H", "15.0.20", false, false},
		{"AMT 16.1", "16.1.25", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newNetEnv(t, func(c *amtsim.Config) {
				c.Version = amt.MustParseVersion(tc.version)
				c.Legacy15 = tc.legacy
			})
			s := psk("tkip", 1, "12345678")
			s.Endpoint.EncryptionMethod = amt.WiFiEncryptionTKIP
			err := e.dev.AddWiFiSettings(t.Context(), s)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.Error(t, err)
			assert.NoError(t, e.dev.AddWiFiSettings(t.Context(), psk("ccmp", 1, "12345678")), "CCMP still works")
		})
	}
}

// rawAddWiFi sends AddWiFiSettings as written, past the amt bindings' own
// checks (they refuse what the firmware refuses, so they cannot show that the
// simulator does): a WPA2-PSK profile, or with ieeeName an EAP-TLS one whose
// 802.1X settings carry that name. It returns the ReturnValue.
func rawAddWiFi(t *testing.T, e *netEnv, name, prio, ieeeName string) string {
	t.Helper()
	endpoint := wsman.EPR{ResourceURI: uriWiFiEP, Selectors: wsman.SelectorSet{wsman.Sel("Name", "WiFi Endpoint 0")}}
	ep := []wsman.Property{wsman.Prop("ElementName", name), wsman.Prop("SSID", "SSID"), wsman.Prop("Priority", prio), wsman.Prop("EncryptionMethod", "4")}
	props := []wsman.Property{wsman.PropEPR("WiFiEndpoint", endpoint)}
	if ieeeName == "" {
		ep = append(ep, wsman.Prop("AuthenticationMethod", "6"), wsman.Prop("PSKPassPhrase", "12345678"))
		props = append(props, wsman.PropElement("WiFiEndpointSettingsInput", embeddedInstance(uriWiFiSetting, ep...)))
	} else {
		ep = append(ep, wsman.Prop("AuthenticationMethod", "7"))
		props = append(props,
			wsman.PropElement("WiFiEndpointSettingsInput", embeddedInstance(uriWiFiSetting, ep...)),
			wsman.PropElement("IEEE8021xSettingsInput", embeddedInstance(uriCIMIEEE,
				wsman.Prop("AuthenticationProtocol", "0"), wsman.Prop("ElementName", ieeeName), wsman.Prop("Username", "amt.example.com"))),
			wsman.PropEPR("ClientCredential", certEPRFor(e.client)),
			wsman.PropEPR("CACredential", certEPRFor(e.root)))
	}
	resp, err := e.dev.Client().Invoke(t.Context(), uriWiFiConfig, "AddWiFiSettings", nil, wsman.NewInput(uriWiFiConfig, "AddWiFiSettings", props...))
	require.NoError(t, err)
	rv, ok := wsman.PropertyValue(resp.Envelope.Content(), "ReturnValue")
	require.True(t, ok)
	return rv
}

// Wi-Fi and 802.1X profile names are letters and digits, 1 to 32: names with
// other characters are "a limitation of AMT itself" (a maintainer in
// device-management-toolkit/rps issue 932); RPS wirelessValidator.ts and
// ieee8021xValidator.ts and rpc-go configure/wireless.go accept only these.
// The amt bindings refuse them before sending.
func TestWiFiProfileNamesAreAlphanumeric(t *testing.T) {
	e := newNetEnv(t, nil)
	for _, name := range []string{"guest-net", "corp wifi", "café", "a23456789012345678901234567890123"} {
		assert.Equal(t, "3", rawAddWiFi(t, e, name, "1", ""), "%q", name) // invalid parameter
		assert.ErrorIs(t, e.dev.AddWiFiSettings(t.Context(), psk(name, 1, "12345678")), amt.ErrInvalidArgument, "%q", name)
	}
	assert.Equal(t, "3", rawAddWiFi(t, e, "corp", "2", "corp 802.1x"), "802.1X settings name with spaces and a dot")
	x := e.eapTLS("corp", 2)
	x.IEEE8021x.ElementName = "corp 802.1x"
	assert.ErrorIs(t, e.dev.AddWiFiSettings(t.Context(), x), amt.ErrInvalidArgument)
	assert.Equal(t, "0", rawAddWiFi(t, e, "Guest2", "1", ""))
	assert.Equal(t, "0", rawAddWiFi(t, e, "corp", "2", "corp8021x"))
}

// Priority is an 8-bit value (intel/lms CIM_WiFiEndpointSettings.h; RPS
// amtProfileValidator.ts: "priority is uint8 on AMT").
func TestWiFiPriorityIsEightBits(t *testing.T) {
	e := newNetEnv(t, nil)
	assert.Equal(t, "3", rawAddWiFi(t, e, "big", "256", ""))
	assert.ErrorIs(t, e.dev.AddWiFiSettings(t.Context(), psk("big", 256, "12345678")), amt.ErrInvalidArgument)
	assert.Equal(t, "0", rawAddWiFi(t, e, "top", "255", ""))
}
