package amtsim_test

import (
	"context"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
)

// Agent is the device's side a local agent reaches over MEI: PTHI and the
// watchdog client answer from the simulated device's state.
func ExampleDevice_Agent() {
	d, _ := amtsim.New(amtsim.Config{Version: amt.MustParseVersion("19.0.5"), LocalTLSEnforced: true, AMTDisabled: true})
	_ = d.Start(context.Background())
	defer d.Close()
	agent := d.Agent()
	flags, _ := agent.ChangeEnabled(context.Background())
	fmt.Println("TLS on local ports:", flags.TLSEnforcedOnLocalPorts(), "operational:", flags.AMTEnabled())
	changed, err := agent.EnsureAMTEnabled(context.Background())
	fmt.Println("enabled now:", changed, err)
	st, _ := agent.ProvisioningState(context.Background())
	fmt.Println(st)
	// Output:
	// TLS on local ports: true operational: false
	// enabled now: true <nil>
	// Pre
}
