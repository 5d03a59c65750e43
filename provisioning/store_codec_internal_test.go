package provisioning

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/seal"
)

// A format-1 record (sealed values bound to device and field, not version)
// still reads, through Unmarshal and UnmarshalFor, and is written back in
// the current format; a current record relabelled format 1 does not open.
func TestRecordCodecReadsFormat1(t *testing.T) {
	ctx := context.Background()
	s, err := seal.NewAESGCM(seal.Keyring{Primary: seal.Key{ID: "k", Secret: bytes.Repeat([]byte{7}, 32)}})
	require.NoError(t, err)
	c := RecordCodec{Sealer: s}
	r := &DeviceRecord{UUID: amt.UUID{1}, Version: 3, State: StateProvisioned, AdminPassword: amt.NewSecret("Adm1n-Pa55!"),
		Session: &SessionRecord{AdminPassword: amt.NewSecret("Sess-Pa55!")}}
	old, err := c.marshal(ctx, r, 1)
	require.NoError(t, err)
	assert.Contains(t, string(old), `"format":1`)

	got, err := c.Unmarshal(ctx, old)
	require.NoError(t, err)
	assert.Equal(t, r, got)
	got, err = c.UnmarshalFor(ctx, r.UUID, 3, old)
	require.NoError(t, err)
	assert.Equal(t, "Adm1n-Pa55!", got.AdminPassword.Reveal())
	_, err = c.UnmarshalFor(ctx, r.UUID, 9, old) // written back over version 9
	assert.ErrorIs(t, err, ErrRecordFormat)
	_, err = c.UnmarshalFor(ctx, amt.UUID{2}, 3, old)
	assert.ErrorIs(t, err, ErrRecordFormat)

	cur, err := c.Marshal(ctx, r)
	require.NoError(t, err)
	assert.Contains(t, string(cur), `"format":2`)
	relabelled := bytes.Replace(cur, []byte(`"format":2`), []byte(`"format":1`), 1)
	_, err = c.Unmarshal(ctx, relabelled)
	assert.ErrorIs(t, err, seal.ErrOpen)
}
