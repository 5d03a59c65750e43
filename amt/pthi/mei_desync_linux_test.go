//go:build linux

package pthi

import (
	"context"
	"encoding/binary"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

// An MEI connection carries one answer per request, in order. A firmware that
// sends an answer too many (a duplicate, a late one for an earlier request)
// leaves the connection one message behind: the answer read for a request is
// then another command's, and so is every answer after it — or, when the same
// command is sent again (a state poll), the old answer is taken for the new
// one. intel/lms never meets it: MEICommand::Transact connects a new HECI
// client for every command. An answer that does not match its request
// (DecodeResponse's header checks) therefore makes the next exchange
// reconnect, as a timed-out one does.
func TestMEIReconnectsAfterAnswerForAnotherCommand(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	// A SOCK_SEQPACKET pair keeps message boundaries as the MEI does.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	dev, fw := os.NewFile(uintptr(fds[0]), "mei0"), os.NewFile(uintptr(fds[1]), "firmware")
	t.Cleanup(func() { dev.Close(); fw.Close() })

	// The firmware's queue: a duplicate answer to GetProvisioningState (Pre),
	// then the answer to StartConfigurationEx.
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	dup, err := AppendResponse(nil, CmdGetProvisioningState, amt.StatusSuccess, u32(0))
	require.NoError(t, err)
	started, err := AppendResponse(nil, CmdStartConfigurationEx, amt.StatusSuccess, nil)
	require.NoError(t, err)
	for _, m := range [][]byte{dup, started} {
		_, err := fw.Write(m)
		require.NoError(t, err)
	}

	connects := 0
	m := &MEI{f: dev, props: MEIProperties{MaxMessageLength: 128}, cfg: MEIConfig{
		Device: "/dev/null",
		Sleep:  func(context.Context, time.Duration) error { return nil },
		connect: func(int, MEIClient) (MEIProperties, error) {
			connects++
			return MEIProperties{MaxMessageLength: 128, ProtocolVersion: 1}, nil
		},
		write: func(_ *os.File, b []byte) (int, error) { return len(b), nil },
	}}
	c := NewClient(m)
	ctx := context.Background()

	err = c.StartConfigurationEx(ctx, false)
	require.ErrorIs(t, err, ErrWrongCommand, "the duplicate is read for StartConfigurationEx")

	// The next exchange must not read what is left on the old connection
	// (StartConfigurationEx's answer): it reconnects first. The new
	// "device" is /dev/null, which answers nothing.
	_, err = c.ProvisioningState(ctx)
	assert.Equal(t, 1, connects, "reconnected before the next request")
	assert.ErrorIs(t, err, ErrEmptyResponse, "read from the new connection, got %v", err)
	assert.NotErrorIs(t, err, ErrWrongCommand)
}
