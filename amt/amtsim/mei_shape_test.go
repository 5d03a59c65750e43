package amtsim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/pthi"
)

// Real firmware answers GetLocalSystemAccount with 68 bytes after the status:
// the two NUL-terminated 33-byte fields and two bytes of padding. MeshCentral's
// agent module (Ylianst/MeshAgent modules/amt-mei.js getLocalSystemAccount)
// takes no other length — it answers null otherwise — and meshcmd
// (modules/meshcmd.js setupMeiOsAdmin) uses that answer's user and password
// without a null check, on real devices; intel/lms, MeshAgent's C PTHI code
// and rpc-go read the two fields and check no length. The simulator answers
// in that shape, byte for byte.
func TestMEILocalSystemAccountShape(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{LocalSystemPassword: amt.NewSecret("Pw-0123456789abcdef")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	req, err := pthi.EncodeRequest(pthi.CmdGetLocalSystemAccount, make([]byte, 40))
	require.NoError(t, err)
	resp, err := d.MEI().Send(t.Context(), req)
	require.NoError(t, err)
	p, err := pthi.DecodeResponse(pthi.CmdGetLocalSystemAccount, resp)
	require.NoError(t, err)
	require.Len(t, p, 68)
	assert.Equal(t, "$$OsAdmin\x00", string(p[:10]))
	assert.Equal(t, "Pw-0123456789abcdef\x00", string(p[33:53]))
	assert.Equal(t, []byte{0, 0}, p[66:], "padding")
	a, err := d.Agent().LocalSystemAccount(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "$$OsAdmin", a.Username)
	assert.True(t, a.Password.Equal(amt.NewSecret("Pw-0123456789abcdef")))
}
