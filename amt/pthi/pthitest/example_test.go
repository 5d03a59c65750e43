package pthitest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

// Drive a pthi.Client over a recorded conversation: the provisioning state is
// In (1), then the firmware refuses StopConfiguration.
func ExampleReplay() {
	r := pthitest.NewReplay(
		pthitest.OK(pthi.CmdGetProvisioningState, nil, []byte{1, 0, 0, 0}),
		pthitest.Fail(pthi.CmdStopConfiguration, nil, amt.StatusInvalidPTMode),
	)
	c := pthi.NewClient(r)
	ctx := context.Background()
	st, err := c.ProvisioningState(ctx)
	fmt.Println(st, err)
	err = c.StopConfiguration(ctx)
	fmt.Println(errors.Is(err, amt.StatusInvalidPTMode))
	fmt.Println(r.Done())
	// Output:
	// In <nil>
	// true
	// <nil>
}
