package pthi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// rpc-go pkg/pthi/commands.go
// SetAmtOperationalState skips the 4 header bytes of the answer without
// looking at them and reads the status after them; no peer states what the
// firmware echoes there (intel/lms has no 0x53 at all). amtkit refused a
// success answer whose third byte was not 0x53, e.g. one with a response bit
// set in the sub-command as other ME clients (MKHI) do; it takes 0x53 with or
// without the bit, or 0, and refuses only another sub-command.
func TestOperationalStateHeaderAsRpcGo(t *testing.T) {
	for _, hdr := range [][]byte{
		{0x05, 0x03, 0x53, 0x10}, // echo
		{0x85, 0x03, 0xD3, 0x10}, // response bit in command and sub-command
		{0x05, 0x05, 0x00, 0x10}, // sub-command not echoed
	} {
		resp := append(append([]byte{}, hdr...), 0, 0, 0, 0)
		assert.NoError(t, DecodeOperationalStateResponse(resp), "header % x", hdr)
	}
}
