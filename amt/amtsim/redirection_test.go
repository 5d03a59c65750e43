package amtsim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
)

// The redirection, KVM and consent rules of the firmware, in admin control
// mode.
func TestFeaturesAdminControlMode(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d, c := provisioned(t, keys, pc, nil)
	ctx := t.Context()
	dev := amt.NewDevice(c)

	rs, err := dev.RedirectionService(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.RedirectionIDERSOL, rs.EnabledState)
	assert.False(t, rs.ListenerEnabled)
	require.NoError(t, dev.RequestRedirectionState(ctx, amt.RedirectionSOL))
	rs, err = dev.RedirectionService(ctx)
	require.NoError(t, err)
	rs.ListenerEnabled = true
	rs, err = dev.PutRedirectionService(ctx, rs)
	require.NoError(t, err)
	assert.True(t, rs.ListenerEnabled)
	assert.Equal(t, amt.RedirectionSOL, rs.EnabledState)
	rv, _ := invoke(t, c, uriRedirectionSvc, "RequestStateChange", wsman.Prop("RequestedState", "2"))
	assert.Equal(t, uint32(5), rv, "only 32768 to 32771")

	k, err := dev.KVMRedirection(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.KVMDisabled, k.EnabledState)
	require.NoError(t, dev.RequestKVMState(ctx, amt.KVMEnabled))
	k, err = dev.KVMRedirection(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.KVMEnabledOffline, k.EnabledState, "enabled, no session")

	// The 5900 port needs an RFB password.
	ks, err := dev.KVMSettings(ctx)
	require.NoError(t, err)
	ks.Is5900PortEnabled = true
	_, err = dev.PutKVMSettings(ctx, ks)
	assert.ErrorIs(t, err, amt.StatusInvalidParameter)
	ks.Is5900PortEnabled, ks.OptInPolicy = false, false
	_, err = dev.PutKVMSettings(ctx, ks)
	require.NoError(t, err, "KVM consent can be switched off in admin control mode")

	// Consent: KVM by default where the platform has KVM, then anything.
	o, err := dev.OptInService(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.OptInKVM, o.OptInRequired, "the admin-control-mode default on a KVM platform")
	o.OptInRequired = amt.OptInNone
	o, err = dev.PutOptInService(ctx, o)
	require.NoError(t, err)
	assert.Equal(t, amt.OptInNone, o.OptInRequired)
	f := d.Features()
	assert.Equal(t, amtsim.Features{Redirection: amt.RedirectionSOL, Listener: true, KVM: true, KVMSupported: true, UserConsent: amt.OptInNone}, f)
}

// In client control mode consent is ALL and cannot be changed, for KVM too.
func TestFeaturesClientControlMode(t *testing.T) {
	d := start(t, amtsim.Config{})
	rv, _ := invoke(t, localClient(t, d), uriHBS, "Setup", wsman.Prop("NetAdminPassEncryptionType", "2"), wsman.Prop("NetworkAdminPassword", hexA1("admin", d.DigestRealm(), adminPW)))
	require.Zero(t, rv)
	c := adminClient(t, d.HTTPEndpoint(), "admin", adminPW)
	ctx := t.Context()
	dev := amt.NewDevice(c)
	o, err := dev.OptInService(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.OptInAll, o.OptInRequired)
	o.OptInRequired = amt.OptInKVM
	_, err = dev.PutOptInService(ctx, o)
	assert.ErrorIs(t, err, amt.StatusNotPermitted, "not changeable in client control mode")
	o.OptInRequired = amt.OptInAll
	_, err = dev.PutOptInService(ctx, o)
	require.NoError(t, err, "writing the value it has is fine")

	ks, err := dev.KVMSettings(ctx)
	require.NoError(t, err)
	assert.True(t, ks.OptInPolicy)
	ks.OptInPolicy = false
	_, err = dev.PutKVMSettings(ctx, ks)
	assert.ErrorIs(t, err, amt.StatusNotPermitted)
	assert.Equal(t, amt.OptInAll, d.Features().UserConsent)
}

// Intel Standard Manageability: no KVM classes, consent none by default.
func TestFeaturesStandardManageability(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	d, c := provisioned(t, keys, pc, func(cfg *amtsim.Config) { cfg.StandardManageability = true })
	ctx := t.Context()
	dev := amt.NewDevice(c)
	_, err := dev.KVMRedirection(ctx)
	assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable)
	_, err = dev.KVMSettings(ctx)
	assert.ErrorIs(t, err, wsman.ErrDestinationUnreachable)
	o, err := dev.OptInService(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt.OptInNone, o.OptInRequired)
	assert.False(t, d.Features().KVMSupported)
}

const uriRedirectionSvc = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService"
