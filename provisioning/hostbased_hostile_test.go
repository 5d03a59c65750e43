package provisioning_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
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

// A digest realm other than AMT's "Digest:" and 32 hex digits — control
// characters, far longer, not hex, no prefix — is refused before Setup, as
// RPS refuses it (src/Validator.ts isDigestRealmValid): the admin password's
// hash would be made with it, and the admin account could then never sign in
// (in admin control mode only MEBx would get the device back). The realm is
// not echoed.
func TestHostBasedHostileRealmRefused(t *testing.T) {
	hbs := append([]wsman.Property{wsman.Prop("CurrentControlMode", "0")}, wsman.PropArray("AllowedControlModes", "2", "1")...)
	for name, r := range map[string]string{
		"line break": "Digest:0123456789ABCDEF\n0123456789ABCDEF",
		"DEL":        "Digest:0123456789ABCDEF\x7f0123456789ABCDEF",
		"huge":       "Digest:" + strings.Repeat("A", 70000),
		"not hex":    "Digest:0123456789ABCDEF0123456789ABCDEG",
		"no prefix":  "0123456789ABCDEF0123456789ABCDEF",
		"empty":      "",
	} {
		t.Run(name, func(t *testing.T) {
			dev, setups := fakeLMS(t, hbs, r)
			err := provisioning.ActivateCCM(context.Background(), dev, amt.NewSecret("N3w-Admin-pw"), provisioning.HostBasedOptions{})
			require.ErrorIs(t, err, amt.ErrBadResponse)
			assert.Zero(t, *setups, "Setup was not sent")
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), "\x7f")
			assert.Less(t, len(err.Error()), 1024)
		})
	}
}
