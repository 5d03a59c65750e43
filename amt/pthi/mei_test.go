package pthi

import (
	"encoding/hex"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/testvectors"
)

type meiVector struct {
	Client string `json:"client"`
	GUID   string `json:"guid"`
	Wire   string `json:"wire"`
	Layout string `json:"layout"`
}

func TestMEIClientGUIDs(t *testing.T) {
	f := testvectors.Load[meiVector](t, "pthi_mei")
	clients := map[string]MEIClient{"AMTHI": ClientAMTHI, "watchdog": ClientWatchdog}
	for _, v := range f.Vectors {
		c, ok := clients[v.Client]
		require.True(t, ok, v.Client)
		assert.Equal(t, v.Client, c.String())
		assert.Equal(t, v.GUID, c.GUID().String())
		d := newConnectData(c)
		assert.Equal(t, v.Wire, hex.EncodeToString(d[:]), "connect ioctl input for %s", v.Client)
	}
	assert.True(t, MEIClient(9).GUID().IsZero())
	assert.Equal(t, "MEIClient(9)", MEIClient(9).String())
}

func TestMEIConnectIoctl(t *testing.T) {
	// struct mei_connect_client_data is a 16-byte union (uapi/linux/mei.h).
	var d meiConnectData
	assert.Equal(t, uintptr(16), unsafe.Sizeof(d))
	assert.Equal(t, meiConnectDataSize, len(d))
	// _IOWR('H', 0x01, 16 bytes): direction 3 << 30 | 16 << 16 | 'H' << 8 | 1.
	assert.Equal(t, uint32(0xC0104801), iowr('H', 0x01, meiConnectDataSize))
	assert.Equal(t, uint32(0xC0104801), uint32(ioctlMEIConnectClient))
	// Another uapi ioctl as a cross-check of the encoder: IOCTL_MEI_NOTIFY_SET =
	// _IOW('H', 0x02, __u32) = 0x40044802, so _IOWR of the same is 0xC0044802.
	assert.Equal(t, uint32(0xC0044802), iowr('H', 0x02, 4))
}

func TestMEIConnectProperties(t *testing.T) {
	// What the kernel writes back: u32 max_msg_length = 4096, u8 protocol_version = 1.
	d := meiConnectData{0x00, 0x10, 0x00, 0x00, 0x01, 0, 0, 0}
	p := d.properties()
	assert.Equal(t, MEIProperties{MaxMessageLength: 4096, ProtocolVersion: 1}, p)
	d = meiConnectData{0x00, 0x02, 0x00, 0x00, 0x02, 0xaa, 0xbb, 0xcc, 0xff, 0xff}
	assert.Equal(t, MEIProperties{MaxMessageLength: 512, ProtocolVersion: 2}, d.properties())
}

func TestMEIFraming(t *testing.T) {
	p := MEIProperties{MaxMessageLength: 512}
	assert.NoError(t, checkFrame(512, p))
	assert.NoError(t, checkFrame(12, p))
	assert.ErrorIs(t, checkFrame(513, p), ErrMessageTooLarge)
	assert.ErrorIs(t, checkFrame(0, p), ErrInvalidArgument)
	assert.ErrorIs(t, checkFrame(12, MEIProperties{}), ErrMessageTooLarge)
	// The largest request amtkit builds fits the smallest plausible client buffer.
	assert.Equal(t, 390, hbasedRequestLen)
	assert.LessOrEqual(t, HeaderSize+hbasedRequestLen, 512)
}
