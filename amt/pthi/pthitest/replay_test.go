package pthitest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

var (
	// GetUUID request, written out by hand.
	uuidReq = []byte{1, 1, 0, 0, 0x5c, 0, 0, 0x04, 0, 0, 0, 0}
	// GetProvisioningState request.
	stateReq = []byte{1, 1, 0, 0, 0x11, 0, 0, 0x04, 0, 0, 0, 0}
)

func TestReplayStrict(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	r := pthitest.NewReplay(
		pthitest.Exchange{Request: uuidReq, Response: []byte{1, 2, 3}},
		pthitest.Exchange{Request: stateReq, Err: boom},
	)
	assert.Equal(t, 2, r.Remaining())
	resp, err := r.Send(ctx, uuidReq)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, resp)
	resp[0] = 9 // the caller may keep and change the slice
	assert.ErrorIs(t, r.Done(), pthitest.ErrExchangesLeft)

	_, err = r.Send(ctx, stateReq)
	assert.ErrorIs(t, err, boom)
	assert.NoError(t, r.Done())

	_, err = r.Send(ctx, uuidReq)
	assert.ErrorIs(t, err, pthitest.ErrScriptExhausted)
	assert.ErrorIs(t, r.Done(), pthitest.ErrScriptExhausted, "a failure sticks")
}

func TestReplayMismatch(t *testing.T) {
	r := pthitest.NewReplay(pthitest.Exchange{Request: uuidReq, Response: []byte{1}})
	_, err := r.Send(context.Background(), stateReq)
	require.ErrorIs(t, err, pthitest.ErrUnexpectedRequest)
	assert.Contains(t, err.Error(), "expected GetUUID")
	assert.Contains(t, err.Error(), "got GetProvisioningState")
	// Once a request mismatched, the replay refuses everything, even the right one.
	_, err = r.Send(context.Background(), uuidReq)
	assert.ErrorIs(t, err, pthitest.ErrUnexpectedRequest)
	assert.ErrorIs(t, r.Done(), pthitest.ErrUnexpectedRequest)
}

// A mismatch names the commands, their sizes and where they differ, never
// the bytes: a SetProvisioningServerOTP request carries the OTP.
func TestReplayMismatchPrintsNoPayload(t *testing.T) {
	otp := func(s string) []byte {
		req := []byte{1, 1, 0, 0, 0x2a, 0, 0, 0x04, byte(2 + len(s)), 0, 0, 0, byte(len(s)), 0}
		return append(req, s...)
	}
	r := pthitest.NewReplay(pthitest.Exchange{Request: otp("Ot9-demo"), Response: []byte{1}})
	_, err := r.Send(context.Background(), otp("MyReal-Otp!234"))
	require.ErrorIs(t, err, pthitest.ErrUnexpectedRequest)
	assert.Contains(t, err.Error(), "(22 bytes)")
	assert.Contains(t, err.Error(), "first difference at byte 8")
	for _, leak := range []string{"MyReal", "4d 79 52 65 61 6c", "4d7952656"} {
		assert.NotContains(t, err.Error(), leak)
	}
}

func TestReplayCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := pthitest.NewReplay(pthitest.Exchange{Request: uuidReq})
	_, err := r.Send(ctx, uuidReq)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, r.Remaining())
}

func TestBuilders(t *testing.T) {
	ex := pthitest.Fail(pthi.CmdGetUUID, nil, amt.StatusNotReady)
	assert.Equal(t, uuidReq, ex.Request)
	// Response: code 0x0480005C, length 4, status 2.
	assert.Equal(t, []byte{1, 1, 0, 0, 0x5c, 0, 0x80, 0x04, 4, 0, 0, 0, 2, 0, 0, 0}, ex.Response)
	ok := pthitest.OK(pthi.CmdGetProvisioningState, nil, []byte{1, 0, 0, 0})
	assert.Equal(t, stateReq, ok.Request)
	assert.Equal(t, []byte{1, 1, 0, 0, 0x11, 0, 0x80, 0x04, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, ok.Response)
	assert.Panics(t, func() { pthitest.OK(pthi.CmdGetUUID.Response(), nil, nil) })
}
