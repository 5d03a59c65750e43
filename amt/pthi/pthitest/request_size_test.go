package pthitest

import (
	"context"
	"testing"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/stretchr/testify/assert"
)

// The builders and the Replay accepted a request real firmware refuses.
// GetLocalSystemAccount carries 40 reserved bytes (intel/lms
// GetLocalSystemAccountCommand.h reserved_size 40; rpc-go
// GetLocalSystemAccountRequest Reserved [40]uint8, header Length 40;
// MeshAgent GET_LOCAL_SYSTEM_ACCOUNT_HEADER Length 40; MeshCentral
// amt-mei.js Buffer.alloc(40)); GetCertHashEntry and GetLANInterfaceSettings
// carry a u32 (handle, interface index); Unprovision a u32 mode. Firmware
// answers a request of another size with AMT_STATUS_INVALID_MESSAGE_LENGTH
// (4), as amtkit's own simulator does (amt/amtsim/mei.go). A script recorded
// from buggy code replayed the bug as success; the builders now panic.
func TestBuildersRefuseRequestsFirmwareRefuses(t *testing.T) {
	acct, err := pthi.LocalSystemAccount{Username: "$$OsAdmin", Password: amt.NewSecret("p")}.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  pthi.Command
		req  []byte
		resp []byte
	}{
		{"GetLocalSystemAccount without its 40 reserved bytes", pthi.CmdGetLocalSystemAccount, nil, acct},
		{"GetCertHashEntry without a handle", pthi.CmdGetCertHashEntry, nil, make([]byte, 75)},
		{"GetLANInterfaceSettings without an interface index", pthi.CmdGetLANInterfaceSettings, nil, make([]byte, 20)},
		{"Unprovision without a mode", pthi.CmdUnprovision, nil, nil},
		{"GetUUID with a stray payload", pthi.CmdGetUUID, []byte{0}, make([]byte, 16)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			func() {
				defer func() {
					if p := recover(); p != nil {
						msg, _ := p.(string)
						assert.Contains(t, msg, "pthitest:", "the builder's own refusal, not another panic")
						got = assert.AnError
					}
				}()
				r := NewReplay(OK(tc.cmd, tc.req, tc.resp))
				_, got = pthi.NewClient(r).Call(context.Background(), tc.cmd, tc.req)
			}()
			assert.Error(t, got, "real firmware answers PT_STATUS_INVALID_MESSAGE_LENGTH")
		})
	}
}
