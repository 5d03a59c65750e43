package tlspsk_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/tlspsk"
)

// A configuration server (client) and a simulated PSK device (server) over
// loopback.
func ExampleClient() {
	pps, _ := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	pid := pskx.MustParsePID("0000-037M")
	var store pskx.MemoryStore
	_ = store.Put(context.Background(), pskx.Pair{PID: pid, PPS: pps})

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		device := tlspsk.Server(raw, &tlspsk.Config{GetKey: tlspsk.Derivation{}.KeyLookup(&store)})
		defer device.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(device, buf); err == nil {
			_, _ = device.Write([]byte("hello " + string(buf)))
		}
	}()

	raw, _ := net.Dial("tcp", ln.Addr().String())
	conn := tlspsk.Client(raw, tlspsk.Derivation{}.ClientConfig(pid, pps))
	defer conn.Close()
	if err := conn.HandshakeContext(context.Background()); err != nil {
		panic(err)
	}
	st := conn.ConnectionState()
	fmt.Println(tlspsk.VersionName(st.Version), tlspsk.CipherSuiteName(st.CipherSuite), string(st.Identity))
	_, _ = conn.Write([]byte("world"))
	reply := make([]byte, 11)
	_, _ = io.ReadFull(conn, reply)
	fmt.Println(string(reply))
	// Output:
	// TLS 1.2 TLS_PSK_WITH_AES_128_CBC_SHA 0000037M
	// hello world
}
