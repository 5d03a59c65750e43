package provisioning

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/seal"
)

// A format-1 value written back verbatim over a newer row (a restored
// backup) is refused: format 1 did not bind its sealed values to the
// version, but the stores wrote the row's version into it.
func TestFormat1ValueWrittenBackRefused(t *testing.T) {
	ctx := context.Background()
	s, err := seal.NewAESGCM(seal.Keyring{Primary: seal.Key{ID: "k", Secret: bytes.Repeat([]byte{7}, 32)}})
	require.NoError(t, err)
	c, u := RecordCodec{Sealer: s}, amt.UUID{1}
	// Written by the pre-upgrade store at version 5 (old stores put the row's version in the blob).
	old, err := c.marshal(ctx, &DeviceRecord{UUID: u, Version: 5, AdminPassword: amt.NewSecret("Old-Adm1n!")}, 1)
	require.NoError(t, err)
	r, err := c.UnmarshalFor(ctx, u, 6, old) // the row is at version 6; its record column gets the old bytes back
	if err == nil {
		t.Fatalf("format-1 record of version %d accepted for row version 6: admin password %q", r.Version, r.AdminPassword.Reveal())
	}
	require.ErrorIs(t, err, ErrRecordFormat)
}
