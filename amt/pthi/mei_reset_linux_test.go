//go:build linux

package pthi

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// a zero-length read from the MEI is what the firmware "answers" when
// it has nothing (MeshAgent PTHICommand.c _call: outBuffSize == 0 ->
// PTHI_STATUS_EMPTY_RESPONSE; rpc-go pkg/pthi/commands.go Call: "empty
// response from AMT"; MeshCentral amt-mei.js getCommand treats chunk.length
// == 0 as an empty answer). os.File.Read reports it as io.EOF, so MEI.Send's
// `n == 0` branch was dead and the caller got "MEI read ...: EOF" instead of
// ErrEmptyResponse (linuxHandle.Read for the LME maps it; MEI.Send does not).
func TestMEISendZeroReadIsErrEmptyResponse(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	w.Close() // every read now returns 0 bytes
	m := &MEI{f: r, props: MEIProperties{MaxMessageLength: 64}, cfg: MEIConfig{
		write: func(_ *os.File, b []byte) (int, error) { return len(b), nil },
	}}
	_, err = m.Send(context.Background(), []byte{1, 2, 3})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrEmptyResponse, "got %v", err)
}

// a write refused with ENODEV means the ME reset under the open file
// (after Unprovision, SetAmtOperationalState, a firmware update...). rpc-go
// pkg/heci/linux.go SendMessage reopens the device, reconnects the same client
// (initLocked) and writes the request once more for PTHI/watchdog clients;
// only LME callers get ErrDeviceReinitialized. amtkit's MEI.Send failed the
// command and reconnected only on the next Send.
func TestMEISendReconnectsAfterENODEVWrite(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	connects, writes := 0, 0
	m := &MEI{f: r, props: MEIProperties{MaxMessageLength: 64}, cfg: MEIConfig{
		Device: "/dev/null",
		Sleep:  func(context.Context, time.Duration) error { return nil },
		connect: func(int, MEIClient) (MEIProperties, error) {
			connects++
			return MEIProperties{MaxMessageLength: 64, ProtocolVersion: 1}, nil
		},
		write: func(_ *os.File, b []byte) (int, error) {
			if writes++; writes == 1 {
				return 0, &os.PathError{Op: "write", Path: "/dev/mei0", Err: syscall.ENODEV}
			}
			return len(b), nil
		},
	}}
	_, _ = m.Send(context.Background(), []byte{1, 2, 3}) // the read after the retry hits /dev/null; only the retry matters
	assert.Equal(t, 1, connects, "reconnects within the same Send after ENODEV")
	assert.Equal(t, 2, writes, "the request is written again on the new connection")
}
