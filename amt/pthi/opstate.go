package pthi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
)

// AMT's operational state (enabled or disabled) is changed through the watchdog
// MEI client ([ClientWatchdog]), like the "is change to AMT enabled" query
// (change.go). SetAmtOperationalState is command 0x05, byte count 0x03,
// sub-command 0x53, version 0x10, then one byte: 1 enables, 0 disables; the
// answer is the same 4-byte header followed by a u32 status (rpc-go pkg/pthi
// SetAmtOperationalState and its SetAmtOperationalStateResponse). The firmware
// speaks it from ME 16.1, where the query's bit 7 (new interface) is set, and
// takes it only in pre-provisioning (rpc-go issue 249). intel/lms knows an
// older sub-command 0x52 (ChangeToAMT, MNGChangeToAMTCommand.h) that amtkit,
// like rpc-go, does not send.

// Watchdog sub-commands.
const (
	subIsChangeToAMTEnabled   = 0x51
	subSetAmtOperationalState = 0x53
	watchdogCommand           = 0x05
	watchdogVersion           = 0x10
	watchdogHeaderSize        = 4
)

// ErrOperationalStateUnsupported: the firmware does not speak the new
// interface of the watchdog client (bit 7 of IsChangeToAMTEnabled clear, as
// before ME 16.1), so AMT's operational state cannot be changed from the host;
// rpc-go then skips the step during activation ("this AMT version does not
// support SetAmtOperationalState") and refuses "amt enable".
var ErrOperationalStateUnsupported = errors.New("pthi: the firmware cannot change AMT's operational state from the host (no new watchdog interface)")

// WatchdogError is a watchdog-client answer whose status is not success. It
// unwraps to the [amt.Status].
type WatchdogError struct {
	SubCommand uint8
	Status     amt.Status
}

// Error returns, e.g., "pthi: SetAmtOperationalState (0x53) failed: PT_STATUS_NOT_PERMITTED (16)".
func (e *WatchdogError) Error() string {
	name := "watchdog command"
	if e.SubCommand == subSetAmtOperationalState {
		name = "SetAmtOperationalState"
	}
	return fmt.Sprintf("pthi: %s (%#02x) failed: %v", name, e.SubCommand, e.Status)
}

// Unwrap returns the status.
func (e *WatchdogError) Unwrap() error { return e.Status }

// SetOperationalStateRequest returns the SetAmtOperationalState request bytes.
func SetOperationalStateRequest(enabled bool) []byte {
	v := byte(0)
	if enabled {
		v = 1
	}
	return []byte{watchdogCommand, 0x03, subSetAmtOperationalState, watchdogVersion, v}
}

// DecodeOperationalStateResponse decodes the SetAmtOperationalState answer: a
// 4-byte header and a u32 status; bytes after the status are ignored. rpc-go,
// the one peer that sends this command (proven on AMT 16.1 and 21), skips the
// header, and no source says what the firmware echoes there: only an answer
// naming another sub-command (0x51, the state query) is refused; 0x53 with or
// without a response bit (0x80), or 0, is taken. A non-success status is a
// [*WatchdogError].
func DecodeOperationalStateResponse(resp []byte) error {
	if len(resp) < watchdogHeaderSize+4 {
		return &FormatError{Kind: ErrTruncated, Detail: fmt.Sprintf("SetAmtOperationalState answer needs %d bytes, got %d", watchdogHeaderSize+4, len(resp))}
	}
	if sub := resp[2] &^ 0x80; sub != subSetAmtOperationalState && sub != 0 {
		return &FormatError{Kind: ErrWrongCommand, Detail: fmt.Sprintf("expected sub-command %#02x, got %#02x", subSetAmtOperationalState, resp[2])}
	}
	if st := amt.Status(binary.LittleEndian.Uint32(resp[watchdogHeaderSize:])); st != amt.StatusSuccess {
		return &WatchdogError{SubCommand: subSetAmtOperationalState, Status: st}
	}
	return nil
}

// SetOperationalState sends SetAmtOperationalState over t, which must be
// connected to the watchdog MEI client.
func SetOperationalState(ctx context.Context, t Transport, enabled bool) error {
	if t == nil {
		return ErrNoTransport
	}
	resp, err := t.Send(ctx, SetOperationalStateRequest(enabled))
	if err != nil {
		return fmt.Errorf("pthi: SetAmtOperationalState: %w", err)
	}
	err = DecodeOperationalStateResponse(resp)
	if errors.Is(err, ErrWrongCommand) {
		// Another sub-command's answer: the connection may hold one too
		// many; the next exchange reconnects (see [Client.Call]).
		if r, ok := t.(resyncer); ok {
			r.resync()
		}
	}
	return err
}

// ChangeEnabled sends the "is change to AMT enabled" query over c.Watchdog.
func (c *Client) ChangeEnabled(ctx context.Context) (ChangeEnabled, error) {
	if c == nil || c.Watchdog == nil {
		return 0, ErrNoTransport
	}
	return QueryChangeEnabled(ctx, c.Watchdog)
}

// SetOperationalState sends SetAmtOperationalState over c.Watchdog.
func (c *Client) SetOperationalState(ctx context.Context, enabled bool) error {
	if c == nil || c.Watchdog == nil {
		return ErrNoTransport
	}
	return SetOperationalState(ctx, c.Watchdog, enabled)
}

// EnsureAMTEnabled enables AMT when the platform shipped it disabled, as rpc-go
// does before activation (internal/commands/activate/local.go, enableAMT; and
// "rpc configure enable-amt"): it reads the watchdog flags; when AMT is already
// operational it returns (false, nil); when the firmware does not speak the new
// interface it returns [ErrOperationalStateUnsupported] (rpc-go's activation
// continues then, its "enable-amt" command fails); otherwise it sends
// SetAmtOperationalState(enabled) and returns (true, nil) once the firmware
// accepted it. rpc-go sends it even when the "allowed" bit is clear (it only
// warns); so does amtkit. After enabling, rpc-go renews the host's DHCP lease
// unless told not to; amtkit leaves that to the caller.
func (c *Client) EnsureAMTEnabled(ctx context.Context) (changed bool, err error) {
	f, err := c.ChangeEnabled(ctx)
	if err != nil {
		return false, err
	}
	if !f.NewInterface() {
		return false, fmt.Errorf("%w (flags %v)", ErrOperationalStateUnsupported, f)
	}
	if f.AMTEnabled() {
		return false, nil
	}
	if err := c.SetOperationalState(ctx, true); err != nil {
		return false, err
	}
	return true, nil
}
