package provisioning_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// fakeLMS answers on the local non-TLS port as a device in pre-provisioning
// whose IPS_HostBasedSetupService and AMT_GeneralSettings are hbs and realm;
// it counts the host-based setup calls it gets.
func fakeLMS(t *testing.T, hbs []wsman.Property, realm string) (*amt.Device, *int) {
	t.Helper()
	setups := new(int)
	srv := httptest.NewServer(wsmantest.Handler(wsmantest.HandlerFunc(func(r *wsmantest.Request) wsmantest.Reply {
		if m, ok := r.Method(); ok {
			if m == "Setup" || m == "AdminSetup" || m == "AddNextCertInChain" {
				*setups++
			}
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
		}
		switch r.ResourceURI {
		case amt.URIHostBasedSetupService:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URIHostBasedSetupService, hbs...))
		case amt.URIGeneralSettings:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URIGeneralSettings, wsman.Prop("DigestRealm", realm)))
		case amt.URISetupAndConfigurationService:
			return wsmantest.GetResponse(r, wsman.NewInstance(amt.URISetupAndConfigurationService, wsman.Prop("ProvisioningState", "0")))
		}
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})))
	t.Cleanup(srv.Close)
	c, err := amt.NewClient(srv.URL + "/wsman")
	require.NoError(t, err)
	return amt.NewDevice(c), setups
}

// A device whose AllowedControlModes lists 15,000 entries without client
// control mode is refused with an error of bounded length (the whole list
// went into the message).
func TestHostBasedHostileAllowedModesBounded(t *testing.T) {
	modes := slices.Repeat([]string{"7"}, 15000)
	hbs := append([]wsman.Property{wsman.Prop("CurrentControlMode", "0")}, wsman.PropArray("AllowedControlModes", modes...)...)
	dev, setups := fakeLMS(t, hbs, realm)
	err := provisioning.ActivateCCM(context.Background(), dev, amt.NewSecret("N3w-Admin-pw"), provisioning.HostBasedOptions{})
	require.ErrorIs(t, err, provisioning.ErrModeNotAllowed)
	assert.Less(t, len(err.Error()), 1024, "the message is bounded")
	assert.Contains(t, err.Error(), "15000")
	assert.Zero(t, *setups)
}
