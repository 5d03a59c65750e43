package amt_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/wsman"
)

// User consent before a KVM session on a device in client control mode, where
// consent is always required: the console starts the flow, the user reads
// the code on the host's screen to the operator, and the console sends it.
// The simulator (amt/amtsim) stands in for the device and its screen.
func ExampleDevice_StartOptIn() {
	ctx := context.Background()
	sim, err := amtsim.New(amtsim.Config{})
	if err != nil {
		panic(err)
	}
	if err := sim.Start(ctx); err != nil {
		panic(err)
	}
	defer sim.Close()

	// A local agent activates the device in client control mode.
	user, pw := sim.LocalSystemAccount()
	c, err := wsman.New(sim.HTTPEndpoint(), wsman.WithDigestAuth(user, pw.Reveal()))
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()
	dev := amt.NewDevice(c)
	admin := amt.NewSecret("Cl1ent-Setup!")
	if err := dev.Setup(ctx, admin, sim.DigestRealm(), nil); err != nil {
		panic(err)
	}
	c.SetCredentials("admin", admin.Reveal())

	// The console: is consent needed, and already given?
	s, err := dev.OptInService(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("policy:", s.OptInRequired, "state:", s.OptInState)
	if s.OptInRequired != amt.OptInNone && !s.OptInState.Granted() {
		if err := dev.StartOptIn(ctx); err != nil {
			panic(err)
		}
	}

	// The user reads the six-digit code on the host's screen; the operator
	// mistypes it once.
	code, _ := sim.DisplayedConsentCode()
	err = dev.SendOptInCode(ctx, (code+1)%1000000)
	fmt.Println("wrong code:", errors.Is(err, amt.ErrOptInWrongCode))
	if err := dev.SendOptInCode(ctx, code); err != nil {
		panic(err)
	}

	s, err = dev.OptInService(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", s.OptInState, "granted:", s.OptInState.Granted())
	// Another StartOptIn is refused while consent holds.
	fmt.Println(errors.Is(dev.StartOptIn(ctx), amt.ErrOptInInvalidState))
	// Output:
	// policy: all state: NotStarted
	// wrong code: true
	// state: Received granted: true
	// true
}
