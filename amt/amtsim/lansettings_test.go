package amtsim_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/pthi"
)

// GetLANInterfaceSettings (an agent's status: rpc-go amtinfo, MeshAgent)
// was answered as an unknown command. It now answers in the 20-byte shape
// intel/lms and MeshAgent read, from the same state AMT_EthernetPortSettings
// shows: the wired interface's lease or static address and its DHCP switch,
// the wireless one up to DHCP with its link down, a missing interface
// disabled with a zero MAC.
func TestGetLANInterfaceSettings(t *testing.T) {
	for _, tt := range []struct {
		name            string
		net             amtsim.NetworkConfig
		wired, wireless pthi.LANSettings
	}{
		{"laptop", amtsim.NetworkConfig{},
			pthi.LANSettings{Enabled: true, IPv4: netip.MustParseAddr("192.168.0.24"), DHCPEnabled: true, DHCPMode: pthi.DHCPModePassive, LinkUp: true, MAC: mac(t, "c8:d9:d2:7a:1e:33")},
			pthi.LANSettings{Enabled: true, IPv4: netip.IPv4Unspecified(), DHCPEnabled: true, DHCPMode: pthi.DHCPModePassive, MAC: mac(t, "00:15:17:29:34:56")}},
		{"desktop", amtsim.NetworkConfig{NoWireless: true},
			pthi.LANSettings{Enabled: true, IPv4: netip.MustParseAddr("192.168.0.24"), DHCPEnabled: true, DHCPMode: pthi.DHCPModePassive, LinkUp: true, MAC: mac(t, "c8:d9:d2:7a:1e:33")},
			pthi.LANSettings{IPv4: netip.IPv4Unspecified(), MAC: mac(t, "00:00:00:00:00:00")}},
		{"wireless only", amtsim.NetworkConfig{WirelessOnly: true},
			pthi.LANSettings{IPv4: netip.IPv4Unspecified(), MAC: mac(t, "00:00:00:00:00:00")},
			pthi.LANSettings{Enabled: true, IPv4: netip.IPv4Unspecified(), DHCPEnabled: true, DHCPMode: pthi.DHCPModePassive, MAC: mac(t, "00:15:17:29:34:56")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := amtsim.New(amtsim.Config{Network: tt.net})
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.Close() })
			st, err := d.Agent().Status(t.Context())
			require.NoError(t, err)
			require.NotNil(t, st.Wired)
			require.NotNil(t, st.Wireless)
			assert.Equal(t, tt.wired, *st.Wired)
			assert.Equal(t, tt.wireless, *st.Wireless)
		})
	}

	d, err := amtsim.New(amtsim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	for _, tt := range []struct {
		name    string
		payload []byte
		want    amt.Status
	}{
		{"no interface index", nil, amt.StatusInvalidMessageLength},
		{"interface 2", []byte{2, 0, 0, 0}, amt.StatusInvalidParameter},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := pthi.EncodeRequest(pthi.CmdGetLANInterfaceSettings, tt.payload)
			require.NoError(t, err)
			resp, err := d.MEI().Send(t.Context(), req)
			require.NoError(t, err)
			_, err = pthi.DecodeResponse(pthi.CmdGetLANInterfaceSettings, resp)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func mac(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	require.NoError(t, err)
	return m
}
