package amtsim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
)

// Found by a review of the consent flow (fixed: the end of a displayed code or
// a received consent is fixed when the state is entered). The simulator
// expired the flow on the next read, against the timeouts at the time of that
// read, so a Put of a longer timeout brought an expired consent back, and the
// outcome depended on whether anything had read the state in between.
func TestConsentPutDoesNotReviveExpiredConsent(t *testing.T) {
	e := newConsentEnv(t)
	ctx := t.Context()
	require.NoError(t, e.dev.StartOptIn(ctx))
	require.NoError(t, e.dev.SendOptInCode(ctx, e.screen(t)))
	s, err := e.dev.OptInService(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.OptInReceived, s.OptInState)
	require.EqualValues(t, 120, s.OptInCodeTimeout)

	// Ten minutes with no session: the consent expired at 120 s.
	e.clock.advance(10 * time.Minute)

	// The administrator lengthens the idle timeout to Intel's maximum (15 min).
	s.OptInCodeTimeout = 900
	put, err := e.dev.PutOptInService(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, amt.OptInNotStarted, put.OptInState,
		"a consent that expired 8 minutes ago must not be revived by a later Put")
	assert.Equal(t, amt.OptInNotStarted, e.state(t))
}

// The same for a displayed code (admin control mode, where
// OptInDisplayTimeout is writable): the code left the screen at 300 s, but a
// Put of a longer OptInDisplayTimeout puts it back, and SendOptInCode with
// it then gives consent.
func TestConsentPutDoesNotReviveExpiredCode(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	clock := &fakeClock{now: time.Now()}
	d, c := provisioned(t, keys, pc, func(cfg *amtsim.Config) { cfg.Now = clock.Now })
	ctx := t.Context()
	dev := amt.NewDevice(c)
	s, err := dev.OptInService(ctx)
	require.NoError(t, err)
	s.OptInRequired = amt.OptInAll
	s, err = dev.PutOptInService(ctx, s)
	require.NoError(t, err)

	require.NoError(t, dev.StartOptIn(ctx))
	code, ok := d.DisplayedConsentCode()
	require.True(t, ok)

	clock.advance(time.Duration(s.OptInDisplayTimeout)*time.Second + time.Hour) // long gone from the screen
	s.OptInDisplayTimeout = 0xFFFF
	_, err = dev.PutOptInService(ctx, s)
	require.NoError(t, err)
	assert.ErrorIs(t, dev.SendOptInCode(ctx, code), amt.ErrOptInInvalidState,
		"a code that expired an hour ago must not be accepted")
	assert.False(t, d.Features().ConsentState.Granted())
}

// Whether a displayed code is still valid must not depend on whether the
// state was read in between (observation-independence): two identical
// devices, one read after expiry and one not, must end in the same state
// after the same Put.
func TestConsentExpiryIndependentOfObservation(t *testing.T) {
	run := func(observe bool) amt.OptInState {
		e := newConsentEnv(t)
		ctx := t.Context()
		require.NoError(t, e.dev.StartOptIn(ctx))
		require.NoError(t, e.dev.SendOptInCode(ctx, e.screen(t)))
		s, err := e.dev.OptInService(ctx)
		require.NoError(t, err)
		e.clock.advance(5 * time.Minute)
		if observe {
			_ = e.d.Features()
		}
		s.OptInCodeTimeout = 900
		_, err = e.dev.PutOptInService(ctx, s)
		require.NoError(t, err)
		return e.d.Features().ConsentState
	}
	assert.Equal(t, run(true), run(false))
}
