package provisioning_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/pskx"
)

// A PID travels in clear in a PSK hello, and the PPS is proven by whoever
// ends the TLS-PSK handshake — also through a relay. The provisioner reserved
// the pair (MarkUsed) for the hello's UUID as soon as the handshake completed,
// before the device behind the connection said who it is: an attacker who
// sniffed a device's hello sent one of its own with that PID and another
// device's UUID, and relayed the provisioner's connection to the real device.
// The handshake completed, the pair was reserved for the other UUID, the
// session stopped at the UUID check (uuid-mismatch) — and the real device's
// own hellos were refused for good (pid-used): a sniffer could spend any
// device's unused pair. The pair is now reserved for the UUID the device
// reports over the TLS-PSK connection, before anything is written.
func TestAttackRelayedPIDSpendsPairForAnotherUUID(t *testing.T) {
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	store := &pskx.MemoryStore{}
	require.NoError(t, store.Put(context.Background(), pair))
	h := newHarness(t, harnessOptions{
		n: 2,
		device: func(i int, c *amtsim.Config) {
			c.Version = amt.MustParseVersion("6.2.10")
			if i == 0 {
				c.PSK = &pair
			}
		},
		config: func(c *provisioning.Config) {
			c.PSK = store
			c.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyRetryDelay: time.Millisecond}, AllowLegacyTLS: true}
		},
	})
	victim, other := h.fleet.Devices()[0], h.fleet.Devices()[1]
	// The relay: hellos from its address are answered by the victim, whose
	// connections it forwards byte for byte.
	relay := netip.MustParseAddr("127.0.77.31")
	fallback := h.address
	h.cfg.DeviceAddress = func(hl provisioning.ReceivedHello, inv provisioning.Inventory, port int) string {
		if hl.Source.Addr() == relay {
			if port == 16992 {
				return victim.HTTPAddr()
			}
			return victim.TLSAddr()
		}
		return fallback(hl, inv, port)
	}
	p := h.provisioner()

	sniffed := h.helloFrom(victim)
	forged := sniffed
	m := *sniffed.Hello
	m.UUID = other.UUID()
	forged.Hello = &m
	forged.Source = netip.AddrPortFrom(relay, 40000)
	_, err = p.Provision(h.ctx, forged)
	require.Error(t, err, "the relayed session is refused")
	assert.NotEqual(t, amt.PostProvisioning, victim.Snapshot().ProvisioningState)
	sp, err := store.Lookup(h.ctx, pair.PID)
	require.NoError(t, err)
	assert.False(t, sp.Used && sp.UsedBy != victim.UUID(), "the pair must not be reserved for %s, which does not hold it", sp.UsedBy)

	rec, err := p.Provision(h.ctx, h.helloFrom(victim))
	require.NoError(t, err, "the device's own hello still provisions it")
	assert.Equal(t, pair.PID.Compact(), rec.PID)
	assert.Equal(t, amt.PostProvisioning, victim.Snapshot().ProvisioningState)
}
