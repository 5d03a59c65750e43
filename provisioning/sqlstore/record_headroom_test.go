package sqlstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// A record planted at exactly MaxRecordSize at version 9 passes Unmarshal's
// "what Marshal would write back" check (it re-encodes it at version 9), but
// every save writes version 10 — one byte more — and fails: the record loads,
// then stops provisioning.Reseal for the rest of the fleet, the failure the
// check was added to prevent. (A key rotation to a longer key ID grows each
// sealed value the same way.)
func TestRecordAtLimitCanBeSavedAgainOrIsPassedOver(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	for i := 1; i <= 3; i++ {
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i)}, State: provisioning.StateProvisioned}))
	}
	u := amt.UUID{2}
	codec := provisioning.RecordCodec{Sealer: testSealer(t)}
	r := &provisioning.DeviceRecord{UUID: u, Version: 9, State: provisioning.StateProvisioned}
	b, err := codec.Marshal(ctx, r)
	require.NoError(t, err)
	r.LastError = strings.Repeat("a", provisioning.MaxRecordSize-len(b))
	b, err = codec.Marshal(ctx, r)
	require.NoError(t, err)
	require.Len(t, b, provisioning.MaxRecordSize)
	_, err = s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET version = 9, record = ? WHERE uuid = ?`, b, u.String())
	require.NoError(t, err)

	got, loadErr := s.Load(ctx, u)
	if loadErr == nil {
		assert.NoError(t, s.Save(ctx, got), "a record that loads can be saved again")
	}
	n, err := provisioning.Reseal(ctx, s)
	assert.Equal(t, 2, n, "the other records are re-sealed")
	var re *provisioning.RecordError
	assert.ErrorAs(t, err, &re, "the planted record is passed over as unreadable, not a failure that ends the walk: %v", err)
}
