package apftest_test

import (
	"context"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
	"github.com/amtkit/amtkit/wsman"
)

// WS-Management to a simulated device through fake LME firmware: the agent's
// path without LMS, in memory.
func ExampleForSim() {
	ctx := context.Background()
	sim, _ := amtsim.New(amtsim.Config{})
	_ = sim.Start(ctx)
	defer sim.Close()
	fw, lme := apftest.Start(apftest.ForSim(sim))
	defer fw.Close()
	s, err := apf.NewSession(ctx, lme, apf.Config{MaxMessageLength: lme.MaxMessageLength()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	user, pw := sim.LocalSystemAccount()
	c, _ := wsman.New("http://127.0.0.1:16992/wsman", wsman.WithDialer(s.Dial), wsman.WithDigestAuth(user, pw.Reveal()))
	hb, err := amt.NewDevice(c).HostBasedSetup(ctx)
	fmt.Println(hb.CurrentControlMode, hb.AllowedControlModes, err)
	fmt.Println("violations:", fw.Violation())
	// Output:
	// None [ACM CCM] <nil>
	// violations: <nil>
}
