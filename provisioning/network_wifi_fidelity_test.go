package provisioning_test

import (
	"crypto/x509"
	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"testing"

	"github.com/amtkit/amtkit/provisioning"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A listed profile asked to take a priority that a profile the configuration
// keeps (KeepUnlisted, or the host's with SyncWithOS) holds cannot get it:
// that profile never moves. Before, reconcile deleted the listed profile to
// add it again at that priority; the firmware refused the addition, and the
// device was left without the profile (found by review). Now the change
// fails with the reason and nothing is deleted.
func TestWiFiPriorityHeldByKeptProfileDeletesNothing(t *testing.T) {
	tests := []struct {
		name string
		nw   provisioning.WiFiNetwork
		want string
	}{
		{"moved", personal("guest", 5, "guest-passphrase"), `wifi: update Wi-Fi profile "guest"`},
		{"added", personal("new", 5, "new-passphrase"), `wifi: add Wi-Fi profile "new"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
				personal("guest", 1, "guest-passphrase"), personal("other", 5, "other-passphrase"),
			}}}})
			p, rec := provisionOne(t, h)
			require.Empty(t, rec.ReconcileError)
			d := h.fleet.Devices()[0]
			require.Equal(t, []string{"guest/1", "other/5"}, profileNames(d.NetworkSnapshot()))

			setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{KeepUnlisted: true,
				Networks: []provisioning.WiFiNetwork{tt.nw}}}})
			rep, err := p.Reconcile(h.ctx, d.UUID(), provisioning.ReconcileOptions{Areas: []string{"wifi"}})
			require.NoError(t, err)
			require.Len(t, rep.Changes, 1)
			c := rep.Changes[0]
			assert.Contains(t, c.String(), tt.want)
			require.Error(t, c.Err, "the priority cannot be had")
			assert.Contains(t, c.Err.Error(), `priority 5 is held by Wi-Fi profile "other"`)
			assert.Equal(t, []string{"guest/1", "other/5"}, profileNames(d.NetworkSnapshot()), "nothing was deleted")
		})
	}
}

// A PEAP Wi-Fi network's Domain is part of its 802.1X settings like the
// Username: a changed Domain reaches the device. Before, the Wi-Fi plan
// compared every 802.1X setting but the Domain (the wired plan compares it),
// so a changed realm never reached a provisioned device (found by review).
func TestWiFiPEAPDomainChangeReachesDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	root := radiusRoot(t)
	prof := func(domain string) provisioning.Profile {
		return provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{
			Networks: []provisioning.WiFiNetwork{{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise,
				IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "amt", Domain: domain,
					Password: amt.NewSecret("Pa55-word"), ServerRoot: root, ServerName: "radius.contoso.com"}}}}}}
	}
	domainOnDevice := func(d *amtsim.Device, rec *provisioning.DeviceRecord) string {
		list, err := adminDeviceFor(t, d, rec).WiFiIEEE8021xSettings(h.ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		return list[0].Domain
	}
	setProfile(h, prof("CONTOSO"))
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	d := h.fleet.Devices()[0]
	require.Equal(t, "CONTOSO", domainOnDevice(d, rec))

	setProfile(h, prof("FABRIKAM"))
	rep := reconcileNetwork(t, h, p, d.UUID())
	require.Len(t, rep.Changes, 1)
	assert.Contains(t, rep.Changes[0].String(), `wifi: update Wi-Fi profile "corp"`)
	assert.Equal(t, "FABRIKAM", domainOnDevice(d, rec))
	assert.Empty(t, reconcileNetwork(t, h, p, d.UUID()).Changes, "in line")
}

// Text a request cannot carry — control characters, bytes that are not
// UTF-8 — is a configuration error, found when the profile is validated
// rather than when a device receives a request that is not well-formed XML
// (found by review: the SSID and the 802.1X identity, domain and server name
// were checked for length only).
func TestNetworkProfileValidateRefusesUnsendableText(t *testing.T) {
	root := radiusRoot(t)
	peap := func(user, domain, server string) *provisioning.IEEE8021XConfig {
		return &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: user, Domain: domain,
			Password: amt.NewSecret("Pa55-word"), ServerRoot: root, ServerName: server}
	}
	wifi := func(nw provisioning.WiFiNetwork) provisioning.NetworkProfile {
		return provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{nw}}}
	}
	corp := func(x *provisioning.IEEE8021XConfig) provisioning.NetworkProfile {
		return wifi(provisioning.WiFiNetwork{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise, IEEE8021X: x})
	}
	guest := personal("guest", 1, "long-enough-pass")
	guest.SSID = "Guest\nWi-Fi"
	tests := []struct {
		name  string
		n     provisioning.NetworkProfile
		field string
	}{
		{"SSID with a line break", wifi(guest), "Networks[0].SSID"},
		{"SSID not UTF-8", wifi(provisioning.WiFiNetwork{Name: "guest", SSID: "Gu\xffest", Priority: 1, Passphrase: amt.NewSecret("long-enough-pass")}), "Networks[0].SSID"},
		{"Wi-Fi username with an escape", corp(peap("amt\x1b[2J", "", "radius.contoso.com")), "Networks[0].IEEE8021X"},
		{"Wi-Fi domain not UTF-8", corp(peap("amt", "CON\xfeTOSO", "radius.contoso.com")), "Networks[0].IEEE8021X"},
		{"wired server name with a NUL", provisioning.NetworkProfile{Wired8021X: peap("amt", "", "radius\x00.contoso.com")}, "Wired8021X"},
		{"wired password with a NUL", provisioning.NetworkProfile{Wired8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2,
			Username: "amt", Password: amt.NewSecret("Pa55\x00word")}}, "Wired8021X"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prof := provisioning.Profile{Name: "p", Network: &tc.n}
			err := prof.Validate()
			var ce *provisioning.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, ce.Field, tc.field)
			assert.NotContains(t, err.Error(), "Pa55", "no password in the error")
		})
	}
	ok := provisioning.Profile{Network: &provisioning.NetworkProfile{Wired8021X: peap(`CONTOSO\amt`, "contoso.com", "radius.contoso.com")}}
	assert.NoError(t, ok.Validate())
}

// The profile AMT is connected by (LastConnectedSsidUnderMeControl) is not
// changed by the firmware, so it does not give up its priority either. A
// listed profile asked to take that priority was removed to be added again
// there; the firmware refused the connected profile's move and then the
// addition, and the device lost the other profile (found by review). Now the
// move fails with the reason and nothing is deleted.
func TestWiFiPriorityHeldByConnectedProfileDeletesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 1, "a-passphrase"), personal("b", 2, "b-passphrase"),
	}}}})
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	d := h.fleet.Devices()[0]
	require.NoError(t, d.ConnectWiFi("b"))

	setProfile(h, provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{Networks: []provisioning.WiFiNetwork{
		personal("a", 2, "a-passphrase"), personal("b", 1, "b-passphrase"),
	}}}})
	rep, err := p.Reconcile(h.ctx, d.UUID(), provisioning.ReconcileOptions{Areas: []string{"wifi"}})
	require.NoError(t, err)
	for _, c := range rep.Changes {
		t.Log(c.String())
		assert.NotEqual(t, provisioning.ChangeRemove, c.Action, "nothing is removed: %s", c)
	}
	require.Error(t, rep.Err())
	assert.Contains(t, rep.Err().Error(), `priority 2 is held by Wi-Fi profile "b"`)
	assert.ElementsMatch(t, []string{"a/1", "b/2"}, profileNames(d.NetworkSnapshot()), "a is still on the device")
}

// A Wi-Fi network whose ServerRoot is taken out of the profile no longer has
// the device check the RADIUS server against it. Before, the plan compared the
// root only when the profile named one, so the device kept validating against
// the old root — and refused a RADIUS server the profile now accepts — and
// the root, still bound, was never deleted (found by review).
func TestWiFiServerRootRemovedReachesDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	root := radiusRoot(t)
	prof := func(r *x509.Certificate) provisioning.Profile {
		return provisioning.Profile{Network: &provisioning.NetworkProfile{WiFi: &provisioning.WiFiConfig{
			Networks: []provisioning.WiFiNetwork{{Name: "corp", SSID: "Contoso", Priority: 1, Security: provisioning.WPA2Enterprise,
				IEEE8021X: &provisioning.IEEE8021XConfig{Method: provisioning.PEAPMSCHAPv2, Username: "amt",
					Password: amt.NewSecret("Pa55-word"), ServerRoot: r}}}}}}
	}
	setProfile(h, prof(root))
	p, rec := provisionOne(t, h)
	require.Empty(t, rec.ReconcileError)
	d := h.fleet.Devices()[0]
	require.NotNil(t, d.NetworkSnapshot().Profiles[0].IEEE8021x.CA, "the root is bound")

	setProfile(h, prof(nil))
	rep := reconcileNetwork(t, h, p, d.UUID())
	require.NotEmpty(t, rep.Changes)
	assert.Contains(t, rep.Changes[0].String(), `wifi: update Wi-Fi profile "corp"`)
	assert.Nil(t, d.NetworkSnapshot().Profiles[0].IEEE8021x.CA, "no root bound")
	assert.Empty(t, reconcileNetwork(t, h, p, d.UUID()).Changes, "in line")
}
