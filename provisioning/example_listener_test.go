package provisioning_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/provisioning"
)

// Stopping a hello listener gracefully: Shutdown closes the socket at once, lets
// the device that is still sending finish (its hello is delivered), and Serve
// returns ErrListenerClosed. A connection still open when Shutdown's context
// ends would be closed.
func ExampleHelloListener_Shutdown() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	l := &provisioning.HelloListener{
		Handler: func(_ context.Context, r provisioning.ReceivedHello) {
			fmt.Println("hello from", r.Hello.UUID)
		},
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background(), ln) }()

	// A device starts sending its hello…
	h := &hello.Message{Version: hello.VersionPKI, UUID: amt.UUID{0x12, 0x34},
		Hashes: []amt.CertHash{amt.DefaultRootHashes()[20].Hash}}
	pkt, _ := h.AppendBinary(nil)
	c, _ := net.Dial("tcp", ln.Addr().String())
	c.Write(pkt[:10])
	for l.Stats().Active == 0 {
		time.Sleep(time.Millisecond) // until the listener is reading it
	}

	// …when the service is asked to stop.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- l.Shutdown(ctx) }()

	c.Write(pkt[10:])
	c.Close()
	fmt.Println("Shutdown:", <-shut)
	fmt.Println("Serve:", errors.Is(<-served, provisioning.ErrListenerClosed))
	// Output:
	// hello from 12340000-0000-0000-0000-000000000000
	// Shutdown: <nil>
	// Serve: true
}

// ListenAndServe listens at Config.ListenAddr (":9971" when empty) and serves
// hellos until Shutdown, which stops it and drains the sessions (or ctx, which
// cancels them).
func ExampleProvisioner_ListenAndServe() {
	p, err := provisioning.New(provisioning.Config{
		Authorizer: provisioning.NewInventoryList(),
		ListenAddr: "127.0.0.1:0", // production: empty, or the port set in MEBx or setup.bin
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- p.ListenAndServe(context.Background()) }()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fmt.Println("shutdown:", p.Shutdown(ctx))
	// nil once it served; ErrShuttingDown if Shutdown came before it began.
	err = <-served
	fmt.Println("stopped:", err == nil || errors.Is(err, provisioning.ErrShuttingDown))
	// Output:
	// shutdown: <nil>
	// stopped: true
}
