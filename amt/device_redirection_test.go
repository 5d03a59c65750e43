package amt

import (
	"context"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedirectionService(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src      vectorSource
		state    RedirectionState
		listener bool
	}{{remoteSource, RedirectionSOL, false}, {recordedSource, RedirectionIDERSOL, true}} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/redirectionservice/get")
			var put *wsmantest.Request
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				switch r.Action {
				case wsman.ActionPut:
					put = r
					return wsmantest.PutResponse(r, r.Input)
				case wsman.ActionGet:
					return rs.reply(t, r, "amt/redirectionservice/get")
				}
				return output(r, 0)
			})
			s, err := d.RedirectionService(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.state, s.EnabledState)
			assert.Equal(t, tc.listener, s.ListenerEnabled)
			assert.True(t, s.EnabledState.SOL())
			assert.Equal(t, tc.state == RedirectionIDERSOL, s.EnabledState.IDER())

			require.NoError(t, d.RequestRedirectionState(ctx, RedirectionStateOf(true, false)))
			ps := requireMethodInput(t, f.requests()[1], URIRedirectionService, "RequestStateChange")
			assert.Equal(t, map[string][]string{"RequestedState": {"32769"}}, values(ps))

			s.ListenerEnabled = !tc.listener
			out, err := d.PutRedirectionService(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, !tc.listener, out.ListenerEnabled)
			assert.Empty(t, put.Selectors, "a singleton")
			v := values(params(t, put.Input))
			assert.Equal(t, []string{map[bool]string{true: "true", false: "false"}[!tc.listener]}, v["ListenerEnabled"])
			assert.Equal(t, []string{"Intel(r) AMT Redirection Service"}, v["Name"], "the keys are echoed")
		})
	}
	// A device that has served redirection sessions lists them in the
	// read-only AccessLog; the Put leaves it out, as RPS does.
	t.Run("access log", func(t *testing.T) {
		var put *wsmantest.Request
		d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
			if r.Action == wsman.ActionPut {
				put = r
				return wsmantest.PutResponse(r, r.Input)
			}
			return wsmantest.GetResponse(r, wsman.NewInstance(URIRedirectionService,
				wsman.Prop("AccessLog", "2026-12-01T10:00:00 SOL admin"), wsman.Prop("AccessLog", "2026-12-02T11:00:00 IDER admin"),
				wsman.Prop("CreationClassName", "AMT_RedirectionService"), wsman.Prop("ElementName", "Intel(r) AMT Redirection Service"),
				wsman.Prop("EnabledState", "32771"), wsman.Prop("ListenerEnabled", "false"), wsman.Prop("Name", "Intel(r) AMT Redirection Service"),
				wsman.Prop("SystemCreationClassName", "CIM_ComputerSystem"), wsman.Prop("SystemName", "Intel(r) AMT")))
		})
		s, err := d.RedirectionService(ctx)
		require.NoError(t, err)
		s.ListenerEnabled = true
		_, err = d.PutRedirectionService(ctx, s)
		require.NoError(t, err)
		v := values(params(t, put.Input))
		assert.NotContains(t, v, "AccessLog")
		assert.Equal(t, []string{"true"}, v["ListenerEnabled"])
		assert.Equal(t, []string{"32771"}, v["EnabledState"], "the rest is echoed")
	})
	// The recorded RequestStateChange answer, as real firmware sent it.
	rs := recordedResponses(t, "amt/redirectionservice/requeststatechange")
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return rs.reply(t, r, "amt/redirectionservice/requeststatechange")
	})
	require.NoError(t, d.RequestRedirectionState(ctx, RedirectionIDERSOL))
	assert.ErrorIs(t, d.RequestRedirectionState(ctx, 2), ErrInvalidArgument)
	_, err := d.PutRedirectionService(ctx, &RedirectionService{})
	assert.ErrorIs(t, err, ErrNotReadFromDevice)
	for _, tc := range []struct {
		ider, sol bool
		want      RedirectionState
		s         string
	}{{false, false, RedirectionDisabled, "none"}, {true, false, RedirectionIDER, "IDER"}, {false, true, RedirectionSOL, "SOL"}, {true, true, RedirectionIDERSOL, "IDER and SOL"}} {
		assert.Equal(t, tc.want, RedirectionStateOf(tc.ider, tc.sol))
		assert.Equal(t, tc.s, tc.want.String())
	}
}

func TestKVMRedirection(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src  vectorSource
		want KVMState
	}{{remoteSource, KVMDisabled}, {recordedSource, KVMEnabledOffline}} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "cim/kvm/get")
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				if r.Action == wsman.ActionGet {
					return rs.reply(t, r, "cim/kvm/get")
				}
				return output(r, 0)
			})
			s, err := d.KVMRedirection(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.EnabledState)
			assert.Equal(t, tc.want != KVMDisabled, s.EnabledState.On(), "RPS counts 2 and 6 as enabled")
			require.NoError(t, d.RequestKVMState(ctx, KVMEnabled))
			ps := requireMethodInput(t, f.requests()[1], URIKVMRedirectionSAP, "RequestStateChange")
			assert.Equal(t, map[string][]string{"RequestedState": {"2"}}, values(ps))
			assert.ErrorIs(t, d.RequestKVMState(ctx, KVMEnabledOffline), ErrInvalidArgument)
		})
	}
	// A CIM method's 32768+PT_STATUS is unwrapped to the status.
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 32768+uint32(StatusNotPermitted)) })
	assert.ErrorIs(t, d.RequestKVMState(ctx, KVMEnabled), StatusNotPermitted)
}

func TestKVMSettings(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src     vectorSource
		session uint16
	}{{remoteSource, 10}, {recordedSource, 3}} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "ips/kvmredirection/settings/get")
			var put *wsmantest.Request
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				if r.Action == wsman.ActionPut {
					put = r
					return wsmantest.PutResponse(r, r.Input)
				}
				return rs.reply(t, r, "ips/kvmredirection/settings/get")
			})
			s, err := d.KVMSettings(ctx)
			require.NoError(t, err)
			assert.True(t, s.EnabledByMEBx)
			assert.True(t, s.OptInPolicy)
			assert.Equal(t, tc.session, s.SessionTimeout)
			s.OptInPolicy = false
			_, err = d.PutKVMSettings(ctx, s)
			require.NoError(t, err)
			ps := params(t, put.Input)
			assert.NotContains(t, names(ps), "RFBPassword", "the write-only password is not echoed back empty")
			assert.Equal(t, []string{"false"}, values(ps)["OptInPolicy"])
		})
	}
}

func TestOptInService(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src  vectorSource
		want OptInRequired
	}{{remoteSource, OptInAll}, {recordedSource, OptInNone}} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "ips/optin/get")
			var put *wsmantest.Request
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				if r.Action == wsman.ActionPut {
					put = r
					return wsmantest.PutResponse(r, r.Input)
				}
				return rs.reply(t, r, "ips/optin/get")
			})
			s, err := d.OptInService(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.OptInRequired)
			assert.Equal(t, uint8(1), s.CanModifyOptInPolicy)
			assert.Equal(t, uint16(300), s.OptInDisplayTimeout)
			s.OptInRequired = OptInKVM
			out, err := d.PutOptInService(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, OptInKVM, out.OptInRequired)
			assert.Equal(t, []string{"1"}, values(params(t, put.Input))["OptInRequired"])
			s.OptInRequired = 7
			_, err = d.PutOptInService(ctx, s)
			assert.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
	assert.Equal(t, "all", OptInAll.String())
	assert.Equal(t, "KVM", OptInKVM.String())
}

// The consent flow's requests: StartOptIn and CancelOptIn with empty inputs,
// SendOptInCode with its OptInCode as go-wsman-messages sends it
// (<h:SendOptInCode_INPUT><h:OptInCode>n</h:OptInCode>, the class namespace);
// a code of more than six digits is refused before it costs an attempt.
func TestOptInFlowRequests(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		call   func(d *Device) error
		method string
		want   map[string][]string
	}{
		{"start", func(d *Device) error { return d.StartOptIn(ctx) }, "StartOptIn", map[string][]string{}},
		{"send", func(d *Device) error { return d.SendOptInCode(ctx, 48213) }, "SendOptInCode", map[string][]string{"OptInCode": {"48213"}}},
		{"send six nines", func(d *Device) error { return d.SendOptInCode(ctx, 999999) }, "SendOptInCode", map[string][]string{"OptInCode": {"999999"}}},
		{"cancel", func(d *Device) error { return d.CancelOptIn(ctx) }, "CancelOptIn", map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
			require.NoError(t, tc.call(d))
			ps := requireMethodInput(t, f.only(t), URIOptInService, tc.method)
			assert.Equal(t, tc.want, values(ps))
		})
	}
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	err := d.SendOptInCode(ctx, 1000000)
	require.ErrorIs(t, err, ErrInvalidArgument)
	var op *OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "SendOptInCode", op.Op)
	assert.Empty(t, f.requests(), "nothing sent")
}

func TestOptInState(t *testing.T) {
	for _, tc := range []struct {
		s       OptInState
		text    string
		granted bool
	}{
		{OptInNotStarted, "NotStarted", false},
		{OptInRequested, "Requested", false},
		{OptInDisplayed, "Displayed", false},
		{OptInReceived, "Received", true},
		{OptInInSession, "InSession", true},
		{5, "OptInState(5)", false},
	} {
		assert.Equal(t, tc.text, tc.s.String())
		assert.Equal(t, tc.granted, tc.s.Granted(), "%s", tc.s)
	}
}
