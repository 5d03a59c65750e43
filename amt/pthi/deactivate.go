package pthi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
)

// ErrUnprovisionIncomplete: Unprovision answered success but reported a
// provisioning state other than pre-provisioning. rpc-go reads that state and
// treats anything but 0 as a failure (pkg/pthi Unprovision and
// internal/commands/deactivate.go); amtkit does the same.
var ErrUnprovisionIncomplete = errors.New("pthi: Unprovision reported the device still provisioned")

// UnprovisionMode is the provisioning mode field of the Unprovision request
// (intel/lms UnprovisionCommand.h: CFG_PROVISIONING_MODE).
type UnprovisionMode uint32

// Unprovision modes. rpc-go sends 0 (pkg/pthi Unprovision); MeshCentral's
// agent sends 1 (agents/meshcore.js, amt-mei.js unprovision(1)). Both are in
// use against real devices for client control mode deactivation.
const (
	UnprovisionModeNone       UnprovisionMode = 0
	UnprovisionModeEnterprise UnprovisionMode = 1
)

// unprovisionPayload builds the Unprovision request payload: the mode, a u32.
func unprovisionPayload(m UnprovisionMode) []byte {
	return binary.LittleEndian.AppendUint32(nil, uint32(m))
}

// DecodeUnprovisionResponse decodes an Unprovision payload (what follows the
// status). intel/lms parses no payload (UnprovisionCommand.h); rpc-go reads a
// u32 provisioning state after the status. Both shapes are accepted: an empty
// payload, or a state, which must be 0 (pre-provisioning) for the call to
// count as done ([ErrUnprovisionIncomplete] otherwise); bytes after it are
// ignored. One to three bytes are malformed.
func DecodeUnprovisionResponse(p []byte) (amt.ProvisioningState, error) {
	const cmd = CmdUnprovision
	switch {
	case len(p) == 0:
		return amt.PreProvisioning, nil
	case len(p) >= 4:
		st := binary.LittleEndian.Uint32(p)
		if st > uint32(amt.PostProvisioning) {
			return 0, formatErr(cmd, ErrBadValue, "provisioning state must be 0-2, got %d", st)
		}
		if st != uint32(amt.PreProvisioning) {
			return amt.ProvisioningState(st), fmt.Errorf("%w: state %v", ErrUnprovisionIncomplete, amt.ProvisioningState(st))
		}
		return amt.PreProvisioning, nil
	}
	return 0, formatErr(cmd, ErrTruncated, "state needs 4 bytes, got %d", len(p))
}

// Unprovision sends Unprovision (0x04000010) with mode 0, as rpc-go does, and
// returns nil once the firmware reports the device back in pre-provisioning.
//
// A local agent deactivates client control mode this way (rpc-go
// internal/commands/deactivate.go, deactivateCCM; MeshCentral's agent answers
// the server's "deactivate" request the same way). In admin control mode the
// firmware refuses with [amt.StatusInvalidPTMode] (rpc-go pkg/pthi
// Unprovision); an ACM device is deactivated over WS-Management
// (AMT_SetupAndConfigurationService.Unprovision) with the admin account,
// except in the "in provisioning" half-state a halted activation leaves, where
// rpc-go falls back to this command (rpc-go issue 1461).
func (c *Client) Unprovision(ctx context.Context) error {
	return c.UnprovisionMode(ctx, UnprovisionModeNone)
}

// UnprovisionMode is [Client.Unprovision] with an explicit mode field.
func (c *Client) UnprovisionMode(ctx context.Context, m UnprovisionMode) error {
	p, err := c.Call(ctx, CmdUnprovision, unprovisionPayload(m))
	if err != nil {
		return err
	}
	_, err = DecodeUnprovisionResponse(p)
	return err
}
