//go:build interop

package sqlstore_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

// On PostgreSQL too, a device row over MaxRecordSize is refused without
// being read (the server sends NULL in its place), and the walk goes on
// past it.
func TestInteropOversizedRowRefusedUnread(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, pgSchema(t))
	for i := 1; i <= 3; i++ {
		require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: amt.UUID{byte(i)}}))
	}
	u := amt.UUID{2}
	_, err := s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = convert_to(repeat('x', 32*1024*1024), 'UTF8') WHERE uuid = $1`, u.String())
	require.NoError(t, err)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	_, err = s.Load(ctx, u)
	runtime.ReadMemStats(&m1)
	require.ErrorIs(t, err, provisioning.ErrRecordFormat)
	assert.Less(t, (m1.TotalAlloc-m0.TotalAlloc)>>20, uint64(8), "MiB allocated to refuse a row over the 4 MiB limit")
	var seen []amt.UUID
	var unreadable int
	for r, err := range s.Records(ctx, provisioning.Filter{}) {
		if err != nil {
			require.ErrorIs(t, err, provisioning.ErrRecordFormat)
			unreadable++
			continue
		}
		seen = append(seen, r.UUID)
	}
	assert.Equal(t, 1, unreadable)
	assert.Equal(t, []amt.UUID{{1}, {3}}, seen)
}
