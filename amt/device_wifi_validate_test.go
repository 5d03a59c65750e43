package amt

import (
	"context"
	"testing"

	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
)

// What the firmware refuses, or XML cannot carry, is refused before anything
// is sent, with ErrInvalidArgument: a WPA passphrase is 8 to 63 printable
// ASCII characters (IEEE 802.11 Annex M.4; the simulator refuses others as
// the firmware does, RPS and amtkit's own profile validation accept no
// other), and the SSID and the 802.1X strings go into the request as XML
// character data, which has no place for control characters or bytes that
// are not UTF-8.
func TestWiFiSettingsRefusedBeforeSending(t *testing.T) {
	ctx := context.Background()
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
	})
	psk := func(ssid, pass string) WiFiSettings {
		return WiFiSettings{Endpoint: WiFiEndpointSettings{ElementName: "guest", SSID: ssid, Priority: 1,
			AuthenticationMethod: WiFiAuthWPA2PSK, EncryptionMethod: WiFiEncryptionCCMP, PSKPassPhrase: NewSecret(pass)}}
	}
	peap := func(user, domain, server string) WiFiSettings {
		return WiFiSettings{Endpoint: WiFiEndpointSettings{ElementName: "corp", SSID: "Contoso", Priority: 2,
			AuthenticationMethod: WiFiAuthWPA2IEEE8021X, EncryptionMethod: WiFiEncryptionCCMP},
			IEEE8021x: &WiFiIEEE8021xSettings{AuthenticationProtocol: EAPPEAPv0MSCHAPv2, Username: user, Domain: domain,
				ServerCertificateName: server, Password: NewSecret("Pa55-word")}}
	}
	tests := []struct {
		name string
		s    WiFiSettings
	}{
		{"passphrase with a control character", psk("Guest", "pass\x01word")},
		{"passphrase with a line break", psk("Guest", "pass\nword")},
		{"passphrase not ASCII", psk("Guest", "pässwörter")},
		{"SSID with a NUL", psk("Gu\x00est", "long-enough-pass")},
		{"SSID not UTF-8", psk("Gu\xffest", "long-enough-pass")},
		{"Username with a control character", peap("amt\x1b[2J", "", "")},
		{"Domain not UTF-8", peap("amt", "CON\xfeTOSO", "")},
		{"server name with a NUL", peap("amt", "", "radius\x00.contoso.com")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, d.AddWiFiSettings(ctx, tt.s), ErrInvalidArgument)
			u := tt.s
			u.Endpoint.InstanceID = "Intel(r) AMT:WiFi Endpoint Settings " + u.Endpoint.ElementName
			assert.ErrorIs(t, d.UpdateWiFiSettings(ctx, u), ErrInvalidArgument)
		})
	}
	assert.Empty(t, f.requests(), "nothing was sent")
	// What may be sent is sent.
	assert.NoError(t, d.AddWiFiSettings(ctx, psk("Café <&> \"Guest\"", "Long pass~phrase 1!")))
	assert.NoError(t, d.AddWiFiSettings(ctx, peap(`CONTOSO\amt`, "contoso.com", "radius.contoso.com")))
	assert.Len(t, f.requests(), 2)
}
