package pthi

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
)

// exchangeTransport is the Windows MEI over an exchange (mei_windows.go),
// buildable on every platform.
type exchangeTransport struct{ x *exchange }

func (t exchangeTransport) Send(ctx context.Context, req []byte) ([]byte, error) {
	return t.x.send(ctx, req)
}
func (t exchangeTransport) resync() { t.x.resync() }

// The exchange half of TestMEIReconnectsAfterAnswerForAnotherCommand (the
// Windows MEI): after an answer for another command, the next exchange starts
// on a new connection instead of reading the answer left on the old one.
func TestExchangeReconnectsAfterAnswerForAnotherCommand(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	dup, err := AppendResponse(nil, CmdGetProvisioningState, amt.StatusSuccess, u32(0))
	require.NoError(t, err)
	var opened []*fakeHandle
	open := func(context.Context) (*MEIConn, error) {
		h := newFakeHandle()
		// A firmware that answers every request correctly.
		h.answer = func(req []byte) []byte {
			cmd, _, err := DecodeRequest(req)
			require.NoError(t, err)
			resp, err := AppendResponse(nil, cmd, amt.StatusSuccess, u32(1))
			require.NoError(t, err)
			return resp
		}
		if len(opened) == 0 {
			h.toHost <- dup // a duplicate answer waits on the first connection
		}
		opened = append(opened, h)
		return newMEIConn(h, MEIProperties{MaxMessageLength: 128}, MEIConfig{}), nil
	}
	x, err := newExchange(context.Background(), MEIConfig{}, open)
	require.NoError(t, err)
	c := NewClient(exchangeTransport{x})

	_, err = c.ControlMode(context.Background())
	require.ErrorIs(t, err, ErrWrongCommand)
	mode, err := c.ControlMode(context.Background())
	require.NoError(t, err, "the second exchange reads its own answer")
	assert.Equal(t, amt.ControlModeCCM, mode)
	assert.Len(t, opened, 2, "reconnected once")
}

// The watchdog client's SetAmtOperationalState answer names its sub-command:
// an answer naming another one (a late IsChangeToAMTEnabled answer) makes the
// next exchange reconnect too, so the next query reads its own answer.
func TestWatchdogReconnectsAfterAnswerForAnotherSubCommand(t *testing.T) {
	stale := []byte{0x05, 0x06, 0x51, 0x10, 0, 0, 0, 0} // an answer naming IsChangeToAMTEnabled
	var opened []*fakeHandle
	open := func(context.Context) (*MEIConn, error) {
		h := newFakeHandle()
		h.answer = func(req []byte) []byte {
			if req[2] == 0x51 {
				return []byte{0x83} // new interface, operational, allowed
			}
			return []byte{0x05, 0x06, 0x53, 0x10, 0, 0, 0, 0}
		}
		if len(opened) == 0 {
			h.toHost <- stale
		}
		opened = append(opened, h)
		return newMEIConn(h, MEIProperties{MaxMessageLength: 64}, MEIConfig{}), nil
	}
	x, err := newExchange(context.Background(), MEIConfig{}, open)
	require.NoError(t, err)
	c := &Client{Watchdog: exchangeTransport{x}}

	err = c.SetOperationalState(context.Background(), true)
	require.ErrorIs(t, err, ErrWrongCommand)
	f, err := c.ChangeEnabled(context.Background())
	require.NoError(t, err)
	assert.Equal(t, ChangeEnabled(0x83), f, "the query reads its own answer, not the SetAmtOperationalState answer left behind")
	assert.Len(t, opened, 2, "reconnected once")
}

// A zero-length answer is the firmware's "empty response" to a PTHI request
// (MeshAgent PTHICommand.c _call: PTHI_STATUS_EMPTY_RESPONSE; rpc-go
// pkg/pthi Call: "empty response from AMT"; intel/lms MEICommand::Transact:
// MEIClientExceptionZeroBuffer): each ends the exchange at once, and so does
// the Linux MEI (TestMEISendZeroReadIsErrEmptyResponse). The exchange (the
// Windows MEI) skipped it as the LME's stream does and waited for another
// message until its timeout, then reported the timeout.
func TestExchangeEmptyAnswerIsErrEmptyResponse(t *testing.T) {
	open := func(context.Context) (*MEIConn, error) {
		h := newFakeHandle()
		h.answer = func([]byte) []byte { return []byte{} }
		return newMEIConn(h, MEIProperties{MaxMessageLength: 64}, MEIConfig{}), nil
	}
	// The bound is short so that the old behaviour fails fast; the
	// answer itself comes at once.
	x, err := newExchange(context.Background(), MEIConfig{Timeout: 2 * time.Second}, open)
	require.NoError(t, err)
	_, err = x.send(context.Background(), []byte("req"))
	require.ErrorIs(t, err, ErrEmptyResponse)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
}
