package amtsim_test

import (
	"context"
	"net"
	"net/http"
	"strings"
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
	t.Run("the PID as printed, with its dash", func(t *testing.T) {
		// The firmware holds the PID's 8 characters: an identity that a
		// parser would take ("0000-037M", lower case) is another identity.
		for _, id := range []string{pair.PID.String(), strings.ToLower(pair.PID.Compact())} {
			cfg := tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS)
			cfg.Identity = []byte(id)
			conn, err := tlspsk.Dial(t.Context(), "tcp", d.TLSAddr(), cfg)
			if err == nil {
				err = conn.HandshakeContext(t.Context())
				_ = conn.Close()
			}
			require.Error(t, err, id)
			hs := d.Snapshot().Handshakes
			assert.ErrorIs(t, hs[len(hs)-1].Err, tlspsk.ErrUnknownIdentity, id)
		}
	})
	t.Run("no renegotiation_info, as AMT's TLS server", func(t *testing.T) {
		conn, err := tlspsk.Dial(t.Context(), "tcp", d.TLSAddr(), tlspsk.Derivation{}.ClientConfig(pair.PID, pair.PPS))
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.HandshakeContext(t.Context()))
		assert.False(t, conn.ConnectionState().SecureRenegotiation, "MeshCommander issues 120, 126: AMT does not send it")
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
