package simfleet_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/cmd/fleet/simfleet"
)

// A fleet of two devices driven over its line protocol (here in-process
// through pipes; the fleet command speaks the same on stdin and stdout).
func ExampleServe() {
	pc, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: &certstest.KeyPool{Reuse: true}})
	if err != nil {
		panic(err)
	}
	in, commands := io.Pipe()
	replies, out := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- simfleet.Serve(context.Background(), simfleet.Options{
			N: 2, RootHash: pc.Bundle.RootHash(amt.HashSHA256), Suffix: "contoso.com", Version: amt.MustParseVersion("16.1.25"),
		}, in, out)
	}()
	dec := json.NewDecoder(bufio.NewReader(replies))
	var ready simfleet.Ready
	if err := dec.Decode(&ready); err != nil {
		panic(err)
	}
	fmt.Println("devices:", len(ready.Devices), "firmware:", ready.Version)

	fmt.Fprintln(commands, "counters")
	var c struct{ Exchanges int64 }
	if err := dec.Decode(&c); err != nil {
		panic(err)
	}
	fmt.Println("exchanges so far:", c.Exchanges)
	fmt.Fprintln(commands, "quit")
	fmt.Println("stopped:", <-done)
	// Output:
	// devices: 2 firmware: 16.1.25
	// exchanges so far: 0
	// stopped: <nil>
}
