package amtsim_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/pthi"
)

// SetPKIDNSSuffix sets the suffix provisioning certificates are matched
// against (an agent's prepare step, rpc-go and MeshAgent both send it): the
// simulator answered it as an unknown command, so an agent that set the suffix
// failed against it. It now holds the value: GetPKIDNSSuffix, the WS-Man
// TrustedDNSSuffix and the chain rules read it; an empty one clears it.
func TestSetPKIDNSSuffix(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{DHCPDNSSuffix: "dhcp.example.net"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	c := d.Agent()
	ctx := t.Context()

	got, err := c.PKIDNSSuffix(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, "dhcp.example.net", d.DNSSuffix())

	require.NoError(t, c.SetPKIDNSSuffix(ctx, "vpro.example.com"))
	got, err = c.PKIDNSSuffix(ctx)
	require.NoError(t, err)
	assert.Equal(t, "vpro.example.com", got)
	assert.Equal(t, "vpro.example.com", d.DNSSuffix())
	assert.Equal(t, "vpro.example.com", d.Snapshot().DNSSuffix)

	require.NoError(t, c.SetPKIDNSSuffix(ctx, ""))
	assert.Equal(t, "dhcp.example.net", d.DNSSuffix(), "an empty suffix clears it")

	// Payloads a client could get wrong, sent raw.
	for _, tt := range []struct {
		name    string
		payload []byte
		want    amt.Status
	}{
		{"length says more than follows", append(binary.LittleEndian.AppendUint16(nil, 10), "short"...), amt.StatusInvalidMessageLength},
		{"NUL-terminated (length counts the NUL)", append(binary.LittleEndian.AppendUint16(nil, 4), "abc\x00"...), amt.StatusInvalidParameter},
		{"a space", append(binary.LittleEndian.AppendUint16(nil, 3), "a b"...), amt.StatusInvalidParameter},
		{"over the limit", append(binary.LittleEndian.AppendUint16(nil, uint16(pthi.MaxDNSSuffixLength+1)), strings.Repeat("a", pthi.MaxDNSSuffixLength+1)...), amt.StatusInvalidParameter},
		{"no length", nil, amt.StatusInvalidMessageLength},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := pthi.EncodeRequest(pthi.CmdSetPKIDNSSuffix, tt.payload)
			require.NoError(t, err)
			resp, err := d.MEI().Send(ctx, req)
			require.NoError(t, err)
			_, err = pthi.DecodeResponse(pthi.CmdSetPKIDNSSuffix, resp)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, "dhcp.example.net", d.DNSSuffix(), "nothing set")
		})
	}
}
