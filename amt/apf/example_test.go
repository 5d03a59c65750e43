package apf_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/apf"
	"github.com/amtkit/amtkit/amt/apf/apftest"
)

// Decode one message from the LME and encode an answer.
func ExampleDecode() {
	m, err := apf.Decode([]byte{0x50, 0, 0, 0, 13, 't', 'c', 'p', 'i', 'p', '-', 'f', 'o', 'r', 'w', 'a', 'r', 'd',
		1, 0, 0, 0, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1', 0, 0, 0x42, 0x60})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := m.(apf.GlobalRequest)
	fmt.Println(m.Type(), req.Name, req.Address, req.Port)
	answer, _ := apf.Encode(apf.TCPForwardSuccess(req.Port))
	fmt.Printf("% x\n", answer)
	_, err = apf.Decode([]byte{0x5d, 0, 0, 0, 7})
	fmt.Println(err)
	// Output:
	// GLOBAL_REQUEST tcpip-forward 127.0.0.1 16992
	// 51 00 00 42 60
	// apf: CHANNEL_WINDOW_ADJUST at offset 5: wire: 4 bytes needed at offset 5, 0 left
}

// A session with (fake) firmware behind the LME, and a channel to AMT's port
// 16992 as a net.Conn.
func ExampleNewSession() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hello from AMT"))
			c.Close()
		}
	}()
	// Like AMT, the firmware forwards 16992 with its redirection partner 623,
	// after which the session is ready.
	fw, lme := apftest.Start(apftest.Config{Ports: map[uint32]string{apf.PortHTTP: ln.Addr().String()}, Order: []uint32{apf.PortHTTP, 623}})
	defer fw.Close()

	ctx := context.Background()
	s, err := apf.NewSession(ctx, lme, apf.Config{MaxMessageLength: lme.MaxMessageLength()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	c, err := s.Dial(ctx, "tcp", "127.0.0.1:16992")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := io.ReadAll(c)
	fmt.Println(string(b), err, c.RemoteAddr())
	// Output:
	// hello from AMT <nil> 127.0.0.1:16992
}

// Over a stream — the MPS's side of CIRA — a Session authenticates the device:
// without Config.Authenticate (or PreAuthenticated, after a verified client
// certificate) NewSession refuses to start.
func ExampleConfig_authenticate() {
	tunnel, device := net.Pipe() // an MPS's TLS connection from a device, in a real MPS
	defer device.Close()
	_, err := apf.NewSession(context.Background(), apf.NewStreamTransport(tunnel, 0), apf.Config{})
	fmt.Println(errors.Is(err, apf.ErrNoAuthentication))

	want := amt.NewSecret("Dev1ce-APF-pa55") // the device record's MPSPassword, in a real MPS
	cfg := apf.Config{Authenticate: func(peer apf.ProtocolVersion, r apf.UserAuthRequest) error {
		if r.Method != apf.MethodPassword || !r.Password.Equal(want) {
			return fmt.Errorf("device %s: wrong APF credentials", peer.UUID)
		}
		return nil
	}}
	fmt.Println(cfg.Authenticate(apf.ProtocolVersion{}, apf.UserAuthRequest{Method: apf.MethodPassword, Password: want}))
	// Output:
	// true
	// <nil>
}
