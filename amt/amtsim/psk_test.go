package amtsim_test

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/tlspsk"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pskClient speaks WS-Man over TLS-PSK (tlspsk's client side) to the 16993
// role.
func pskClient(t *testing.T, d *amtsim.Device, pid pskx.PID, pps pskx.PPS) *wsman.Client {
	t.Helper()
	cfg := tlspsk.Derivation{}.ClientConfig(pid, pps)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return tlspsk.Dial(ctx, "tcp", d.TLSAddr(), cfg)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := wsman.New("http://"+d.TLSAddr()+"/wsman", wsman.WithRoundTripper(tr))
	require.NoError(t, err)
	return c
}

func TestPSKDevice(t *testing.T) {
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	other, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	d := start(t, amtsim.Config{Version: amt.MustParseVersion("10.0.55"), PSK: &pair})

	t.Run("unknown PID", func(t *testing.T) {
		_, err := amt.NewDevice(pskClient(t, d, other.PID, pair.PPS)).Version(t.Context())
		require.ErrorIs(t, err, wsman.ErrConnect)
		hs := d.Snapshot().Handshakes
		require.NotEmpty(t, hs)
		assert.ErrorIs(t, hs[len(hs)-1].Err, tlspsk.ErrUnknownIdentity)
	})
	t.Run("wrong PPS", func(t *testing.T) {
		_, err := amt.NewDevice(pskClient(t, d, pair.PID, other.PPS)).Version(t.Context())
		require.Error(t, err)
		assert.Equal(t, amt.PreProvisioning, d.Snapshot().ProvisioningState)
	})
	t.Run("the pair", func(t *testing.T) {
		c := pskClient(t, d, pair.PID, pair.PPS)
		v, err := amt.NewDevice(c).Version(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "10.0.55", v.String())
		assert.Equal(t, amt.InProvisioning, d.Snapshot().ProvisioningState)
		rv, _ := invoke(t, c, uriSetup, "SetMEBxPassword", wsman.Prop("Password", mebxPW))
		require.Zero(t, rv)
		rv, _ = invoke(t, c, uriSetup, "CommitChanges")
		require.Zero(t, rv)
		s := d.Snapshot()
		assert.Equal(t, amt.PostProvisioning, s.ProvisioningState)
		assert.Equal(t, "remote configuration (PSK)", s.Record.Method)
		assert.Equal(t, "psk", s.Handshakes[len(s.Handshakes)-1].Mode)
	})
}
