package provisioning_test

import (
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
