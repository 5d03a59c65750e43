package pthi_test

import (
	"context"
	"fmt"

	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

// EnsureAMTEnabled switches on AMT where the platform shipped it disabled, as
// rpc-go does before activation: the watchdog flags say AMT is off (new
// interface, bit 1 clear), so SetAmtOperationalState(1) is sent.
func ExampleClient_EnsureAMTEnabled() {
	watchdog := pthitest.NewReplay(
		pthitest.Exchange{Request: []byte{0x05, 0x02, 0x51, 0x10}, Response: []byte{0x81}},
		pthitest.Exchange{Request: []byte{0x05, 0x03, 0x53, 0x10, 0x01}, Response: []byte{0x05, 0x06, 0x53, 0x10, 0, 0, 0, 0}},
	)
	c := &pthi.Client{Watchdog: watchdog}
	changed, err := c.EnsureAMTEnabled(context.Background())
	fmt.Println(changed, err, watchdog.Done())
	// Output: true <nil> <nil>
}

// Unprovision deactivates client control mode over the host interface; a
// device that reports a state other than pre-provisioning is not done.
func ExampleClient_Unprovision() {
	r := pthitest.NewReplay(pthitest.OK(pthi.CmdUnprovision, []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0}))
	fmt.Println(pthi.NewClient(r).Unprovision(context.Background()))
	// Output: <nil>
}
