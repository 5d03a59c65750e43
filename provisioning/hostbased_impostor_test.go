package provisioning_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// pthiState is a HostStateReader: what the host interface reports.
type pthiState struct {
	st   amt.ProvisioningState
	mode amt.ControlMode
}

func (p pthiState) ProvisioningState(context.Context) (amt.ProvisioningState, error) {
	return p.st, nil
}
func (p pthiState) ControlMode(context.Context) (amt.ControlMode, error) { return p.mode, nil }

// impostorLMS answers on the local non-TLS port as AMT would, and after
// Setup claims client control mode and post-provisioning — a process holding
// 127.0.0.1:16992 where LMS is not running, which any local user may bind.
func impostorLMS(t *testing.T) *amt.Device {
	t.Helper()
	var setUp atomic.Bool
	srv := httptest.NewServer(wsmantest.Handler(wsmantest.HandlerFunc(func(r *wsmantest.Request) wsmantest.Reply {
		if m, ok := r.Method(); ok {
			if m == "Setup" {
				setUp.Store(true)
			}
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
		}
		mode, st := "0", "0"
		if setUp.Load() {
			mode, st = "1", "2"
		}
		switch r.ResourceURI {
		case amt.URIHostBasedSetupService:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URIHostBasedSetupService,
				append([]wsman.Property{wsman.Prop("CurrentControlMode", mode)}, wsman.PropArray("AllowedControlModes", "2", "1")...)...))
		case amt.URIGeneralSettings:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URIGeneralSettings, wsman.Prop("DigestRealm", realm)))
		case amt.URISetupAndConfigurationService:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URISetupAndConfigurationService, wsman.Prop("ProvisioningState", st)))
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})))
	t.Cleanup(srv.Close)
	c, err := amt.NewClient(srv.URL + "/wsman")
	require.NoError(t, err)
	return amt.NewDevice(c)
}

// With HostBasedOptions.HostState the outcome of a setup call is read over
// the host interface first, also after a reply: the local WS-Management port
// is whatever process holds it, and only the MEI — which no such process can
// stand in for — says what the firmware did. Before, an answered Setup was
// read back over WS-Management, so the endpoint that claimed success also
// confirmed it, and ActivateCCM reported an activation the firmware never
// saw.
func TestHostBasedReadBackTrustsPTHIOverTheLocalPort(t *testing.T) {
	dev := impostorLMS(t)
	err := provisioning.ActivateCCM(context.Background(), dev, amt.NewSecret("N3w-Admin-pw"),
		provisioning.HostBasedOptions{HostState: pthiState{amt.PreProvisioning, amt.ControlModeNone}})
	require.Error(t, err, "the firmware reports no activation over PTHI")
	msg := err.Error()
	assert.Contains(t, msg, "over PTHI")
	assert.Contains(t, msg, "not AMT", "the cause is named")
}
