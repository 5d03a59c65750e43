package amtsim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
)

// AddMpServer's Username is alphanumeric (MOF text, intel/lms
// AMT_RemoteAccessService.h AddMpServer_INPUT::Username "Limited to ...
// alphanumeric characters"; go-wsman-messages amt/remoteaccess/types.go;
// RPS ciraValidator.ts "As per AMT SDK, accepts only alphanumeric values").
// The simulator accepted any printable 7-bit user name.
func TestMPSUsernameAlphanumeric(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	_, c := provisioned(t, keys, pc, nil)
	for i, u := range []string{"mps-user", "mps user", "a:b"} {
		rv, _ := invoke(t, c, uriRemoteAccess, "AddMpServer",
			wsman.Prop("AccessInfo", "m"+string(rune('a'+i))+".example"), wsman.Prop("InfoFormat", "201"), wsman.Prop("Port", "4433"),
			wsman.Prop("AuthMethod", "2"), wsman.Prop("Username", u), wsman.Prop("Password", mpsPass))
		assert.NotZero(t, rv, "user name %q is not alphanumeric", u)
	}
}

// Deleting a policy rule that does not exist: rpc-go's clearCIRA
// (internal/local/amt/wsman.go RemoveRemoteAccessPolicyRules) deletes "User
// Initiated", "Alert" and "Periodic" unconditionally and takes
// DestinationUnreachable as "not there" — the fault firmware answers. The
// simulator answered InvalidSelectors.
func TestDeleteMissingPolicyFault(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	_, c := provisioned(t, keys, pc, nil)
	dev := amt.NewDevice(c)
	err := dev.DeleteRemoteAccessPolicyRule(t.Context(), "Alert")
	require.Error(t, err)
	assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable)
}
