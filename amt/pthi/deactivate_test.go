package pthi_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

func TestDecodeUnprovisionResponse(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	tests := []struct {
		name string
		in   []byte
		want amt.ProvisioningState
		err  error
	}{
		{"status only (intel/lms)", nil, amt.PreProvisioning, nil},
		{"state 0 (rpc-go)", u32(0), amt.PreProvisioning, nil},
		{"still in provisioning", u32(1), amt.InProvisioning, pthi.ErrUnprovisionIncomplete},
		{"still provisioned", u32(2), amt.PostProvisioning, pthi.ErrUnprovisionIncomplete},
		{"unknown state", u32(3), 0, pthi.ErrBadValue},
		{"short state", []byte{0, 0}, 0, pthi.ErrTruncated},
		{"trailing bytes ignored", append(u32(0), 0), amt.PreProvisioning, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pthi.DecodeUnprovisionResponse(tt.in)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				if !errors.Is(tt.err, pthi.ErrUnprovisionIncomplete) {
					assert.ErrorIs(t, err, pthi.ErrMalformed)
				}
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// rpc-go treats a non-zero state after a success status as a failed
// unprovision (internal/commands/deactivate.go); so does Client.Unprovision.
func TestUnprovisionIncomplete(t *testing.T) {
	r := pthitest.NewReplay(pthitest.OK(pthi.CmdUnprovision, []byte{0, 0, 0, 0}, []byte{2, 0, 0, 0}))
	err := pthi.NewClient(r).Unprovision(context.Background())
	require.ErrorIs(t, err, pthi.ErrUnprovisionIncomplete)
	require.NoError(t, r.Done())
	r = pthitest.NewReplay(pthitest.OK(pthi.CmdUnprovision, []byte{1, 0, 0, 0}, nil))
	require.NoError(t, pthi.NewClient(r).UnprovisionMode(context.Background(), pthi.UnprovisionModeEnterprise))
	require.NoError(t, r.Done())
}

func TestDecodeOperationalStateResponse(t *testing.T) {
	ok := []byte{0x05, 0x06, 0x53, 0x10, 0, 0, 0, 0}
	require.NoError(t, pthi.DecodeOperationalStateResponse(ok))
	require.NoError(t, pthi.DecodeOperationalStateResponse(append(ok, 0xff)), "bytes after the status are ignored")
	for n := 0; n < len(ok); n++ {
		assert.ErrorIs(t, pthi.DecodeOperationalStateResponse(ok[:n]), pthi.ErrTruncated, "prefix %d", n)
	}
	err := pthi.DecodeOperationalStateResponse([]byte{0x05, 0x06, 0x53, 0x10, 16, 0, 0, 0})
	assert.ErrorIs(t, err, amt.StatusNotPermitted)
	var we *pthi.WatchdogError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, "pthi: SetAmtOperationalState (0x53) failed: amt: PT_STATUS_NOT_PERMITTED (16)", err.Error())
	assert.ErrorIs(t, pthi.DecodeOperationalStateResponse([]byte{0x05, 0x06, 0x51, 0x10, 0, 0, 0, 0}), pthi.ErrWrongCommand)
}

// EnsureAMTEnabled follows rpc-go's enableAMT: nothing when AMT is operational,
// an error naming the old interface, SetAmtOperationalState(1) otherwise.
func TestEnsureAMTEnabled(t *testing.T) {
	query := []byte{0x05, 0x02, 0x51, 0x10}
	enable := []byte{0x05, 0x03, 0x53, 0x10, 0x01}
	okResp := []byte{0x05, 0x06, 0x53, 0x10, 0, 0, 0, 0}
	tests := []struct {
		name    string
		script  []pthitest.Exchange
		changed bool
		err     error
	}{
		{"already enabled", []pthitest.Exchange{{Request: query, Response: []byte{0x83}}}, false, nil},
		{"old interface", []pthitest.Exchange{{Request: query, Response: []byte{0x01}}}, false, pthi.ErrOperationalStateUnsupported},
		{"disabled", []pthitest.Exchange{{Request: query, Response: []byte{0x81}}, {Request: enable, Response: okResp}}, true, nil},
		{"disabled, transition not allowed: sent anyway", []pthitest.Exchange{{Request: query, Response: []byte{0x80}}, {Request: enable, Response: okResp}}, true, nil},
		{"refused", []pthitest.Exchange{{Request: query, Response: []byte{0x81}}, {Request: enable, Response: []byte{0x05, 0x06, 0x53, 0x10, 16, 0, 0, 0}}}, false, amt.StatusNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pthitest.NewReplay(tt.script...)
			c := &pthi.Client{Watchdog: r}
			changed, err := c.EnsureAMTEnabled(context.Background())
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.changed, changed)
			require.NoError(t, r.Done())
		})
	}
	_, err := (&pthi.Client{}).EnsureAMTEnabled(context.Background())
	assert.ErrorIs(t, err, pthi.ErrNoTransport)
}

func FuzzDecodeUnprovisionResponse(f *testing.F) {
	fuzzDecoder(f, pthi.CmdUnprovision, pthi.DecodeUnprovisionResponse, nil)
}

func FuzzDecodeOperationalStateResponse(f *testing.F) {
	f.Add([]byte{0x05, 0x06, 0x53, 0x10, 0, 0, 0, 0})
	f.Add([]byte{0x05, 0x06, 0x53, 0x10, 16, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := pthi.DecodeOperationalStateResponse(b)
		if err == nil {
			require.GreaterOrEqual(t, len(b), 8)
		}
	})
}
