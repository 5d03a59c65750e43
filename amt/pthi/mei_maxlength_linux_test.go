//go:build linux

package pthi

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The client's maximum message length comes from the firmware (through the
// driver) and sizes the buffer of every read: MEI.Send and
// MEIConn.ReadMessage allocate that many bytes each time. The clients amtkit
// connects report a few KiB (4096; rpc-go's heci tests use 5120 and 8192); a
// firmware that reports 4 GiB must not make every exchange allocate 4 GiB.
func TestOpenMEIRefusesHugeMaxMessageLength(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	for _, max := range []uint32{1<<20 + 1, 1<<32 - 1} {
		cfg := MEIConfig{Device: "/dev/null", connect: func(int, MEIClient) (MEIProperties, error) {
			return MEIProperties{MaxMessageLength: max, ProtocolVersion: 1}, nil
		}}
		m, err := OpenMEI(context.Background(), cfg)
		if m != nil {
			m.Close()
		}
		require.ErrorIs(t, err, ErrMessageTooLarge, "max %d", max)
		assert.Contains(t, err.Error(), "maximum message length")
		c, err := OpenMEIConn(context.Background(), cfg)
		if c != nil {
			c.Close()
		}
		require.ErrorIs(t, err, ErrMessageTooLarge, "max %d", max)
	}
	// 1 MiB is still taken.
	m, err := OpenMEI(context.Background(), MEIConfig{Device: "/dev/null", connect: func(int, MEIClient) (MEIProperties, error) {
		return MEIProperties{MaxMessageLength: 1 << 20, ProtocolVersion: 1}, nil
	}})
	require.NoError(t, err)
	m.Close()
}
