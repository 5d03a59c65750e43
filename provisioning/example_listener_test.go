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
