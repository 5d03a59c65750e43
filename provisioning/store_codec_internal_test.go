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
	c := internalCodec(t)
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

// A format-1 value written back verbatim over a newer row (a restored
// backup) is refused: format 1 did not bind its sealed values to the
// version, but the stores wrote the row's version into it.
func TestFormat1ValueWrittenBackRefused(t *testing.T) {
	ctx := context.Background()
	c, u := internalCodec(t), amt.UUID{1}
	// Written by the pre-upgrade store at version 5 (old stores put the row's version in the blob).
	old, err := c.marshal(ctx, &DeviceRecord{UUID: u, Version: 5, AdminPassword: amt.NewSecret("Old-Adm1n!")}, 1)
	require.NoError(t, err)
	r, err := c.UnmarshalFor(ctx, u, 6, old) // the row is at version 6; its record column gets the old bytes back
	if err == nil {
		t.Fatalf("format-1 record of version %d accepted for row version 6: admin password %q", r.Version, r.AdminPassword.Reveal())
	}
	require.ErrorIs(t, err, ErrRecordFormat)
}

// internalCodec is a RecordCodec with a fixed test key.
func internalCodec(t *testing.T) RecordCodec {
	s, err := seal.NewAESGCM(seal.Keyring{Primary: seal.Key{ID: "k", Secret: bytes.Repeat([]byte{7}, 32)}})
	require.NoError(t, err)
	return RecordCodec{Sealer: s}
}
