package sqlstore_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
)

func TestRecordGuardNotFooledByLeadingNUL(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "amtkit.db"))
	u := amt.UUID{1}
	require.NoError(t, s.Save(ctx, &provisioning.DeviceRecord{UUID: u}))
	_, err := s.DB().ExecContext(ctx, `UPDATE amtkit_devices SET record = char(0) || hex(zeroblob(16*1024*1024))`)
	require.NoError(t, err)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	_, err = s.Load(ctx, u)
	runtime.ReadMemStats(&m1)
	require.Error(t, err)
	assert.Less(t, (m1.TotalAlloc-m0.TotalAlloc)>>20, uint64(8), "MiB allocated to refuse a 32 MiB record")
}
