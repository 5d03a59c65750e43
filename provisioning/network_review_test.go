package provisioning_test

import (
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
