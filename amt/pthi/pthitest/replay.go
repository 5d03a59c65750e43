package pthitest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
)

// Errors of a Replay.
var (
	// ErrUnexpectedRequest: a request differs from the recorded one.
	ErrUnexpectedRequest = errors.New("pthitest: request differs from the recording")
	// ErrScriptExhausted: Send was called after every exchange was replayed.
	ErrScriptExhausted = errors.New("pthitest: no recorded exchange left")
	// ErrExchangesLeft: Done was called with exchanges not yet replayed.
	ErrExchangesLeft = errors.New("pthitest: recorded exchanges were not replayed")
)

// Exchange is one recorded request and its response. When Err is set, Send
// returns it instead of Response (a transport failure).
type Exchange struct {
	Request  []byte
	Response []byte
	Err      error
}

// Replay is a [pthi.Transport] that replays a script of exchanges. It is safe for
// concurrent use (exchanges are consumed in order).
type Replay struct {
	mu     sync.Mutex
	script []Exchange
	next   int
	failed error
}

// NewReplay returns a Replay of the given exchanges.
func NewReplay(script ...Exchange) *Replay {
	return &Replay{script: script}
}

// Send implements [pthi.Transport].
func (r *Replay) Send(ctx context.Context, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return nil, r.failed
	}
	if r.next >= len(r.script) {
		r.failed = fmt.Errorf("%w: request %d (%s)", ErrScriptExhausted, r.next+1, describe(req))
		return nil, r.failed
	}
	ex := r.script[r.next]
	if !bytes.Equal(req, ex.Request) {
		// Commands, sizes and where they differ, not the bytes: a request
		// may carry a secret (SetProvisioningServerOTP's OTP).
		r.failed = fmt.Errorf("%w: exchange %d: expected %s (%d bytes), got %s (%d bytes), first difference at byte %d",
			ErrUnexpectedRequest, r.next+1, describe(ex.Request), len(ex.Request), describe(req), len(req), firstDifference(ex.Request, req))
		return nil, r.failed
	}
	r.next++
	if ex.Err != nil {
		return nil, ex.Err
	}
	return bytes.Clone(ex.Response), nil
}

// Done reports whether the script ran exactly: nil when every exchange was replayed
// and no request failed, else the first failure or [ErrExchangesLeft].
func (r *Replay) Done() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return r.failed
	}
	if r.next != len(r.script) {
		return fmt.Errorf("%w: %d of %d replayed; next expected %s", ErrExchangesLeft, r.next, len(r.script), describe(r.script[r.next].Request))
	}
	return nil
}

// Remaining returns the number of exchanges not yet replayed.
func (r *Replay) Remaining() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.script) - r.next
}

func describe(msg []byte) string {
	if h, err := pthi.ParseHeader(msg); err == nil {
		return h.Command.String()
	}
	if len(msg) > 16 {
		return hex.EncodeToString(msg[:16]) + "…"
	}
	return hex.EncodeToString(msg)
}

// Exchange builders for scripts written in code. Golden tests should prefer
// recorded or hand-written bytes; these build what the firmware would answer.

// Command returns the exchange of request cmd with payload reqPayload, answered
// with status and respPayload. It panics if the payloads are too large, or if
// reqPayload is not the size firmware takes for cmd (firmware would answer
// AMT_STATUS_INVALID_MESSAGE_LENGTH): a programming error in a test.
func Command(cmd pthi.Command, reqPayload []byte, status amt.Status, respPayload []byte) Exchange {
	if n, ok := requestSize[cmd]; ok && len(reqPayload) != n {
		// A script recorded from a wrong request would replay it as a
		// success: firmware answers AMT_STATUS_INVALID_MESSAGE_LENGTH.
		panic(fmt.Sprintf("pthitest: %v takes a %d-byte request payload, not %d (firmware answers AMT_STATUS_INVALID_MESSAGE_LENGTH)", cmd, n, len(reqPayload)))
	}
	req, err := pthi.EncodeRequest(cmd, reqPayload)
	if err != nil {
		panic(err)
	}
	resp, err := pthi.AppendResponse(nil, cmd, status, respPayload)
	if err != nil {
		panic(err)
	}
	return Exchange{Request: req, Response: resp}
}

// requestSize is the request payload of the commands whose size is fixed
// (intel/lms MEIClient command headers; rpc-go pkg/pthi types.go;
// amt/amtsim/mei.go answers other sizes with INVALID_MESSAGE_LENGTH):
// GetLocalSystemAccount carries 40 reserved bytes, the handle, interface and
// mode commands a u32, StartConfigurationHBased its 390-byte request.
var requestSize = map[pthi.Command]int{
	pthi.CmdGetCodeVersions: 0, pthi.CmdGetUUID: 0, pthi.CmdGetProvisioningState: 0, pthi.CmdGetControlMode: 0,
	pthi.CmdEnumerateHashHandles: 0, pthi.CmdGetZeroTouchEnabled: 0, pthi.CmdGetPKIDNSSuffix: 0,
	pthi.CmdGetProvisioningTLSMode: 0, pthi.CmdStopConfiguration: 0,
	pthi.CmdGetLocalSystemAccount: 40,
	pthi.CmdGetCertHashEntry:      4, pthi.CmdGetLANInterfaceSettings: 4, pthi.CmdUnprovision: 4,
	pthi.CmdStartConfigurationHBased: 390,
}

// OK is [Command] with status success.
func OK(cmd pthi.Command, reqPayload, respPayload []byte) Exchange {
	return Command(cmd, reqPayload, amt.StatusSuccess, respPayload)
}

// Fail is [Command] with a failure status and no response payload.
func Fail(cmd pthi.Command, reqPayload []byte, status amt.Status) Exchange {
	return Command(cmd, reqPayload, status, nil)
}

// firstDifference returns the index of the first byte at which a and b
// differ (the shorter length when one is a prefix of the other).
func firstDifference(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
