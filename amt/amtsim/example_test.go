package amtsim_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
)

// A simulated AMT 16 device in setup mode: a configuration server connects to
// its 16993 role with a provisioning certificate whose root the device trusts
// and whose name covers the device's DNS suffix, then reads the firmware
// version with amt.Device.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A throw-away provisioning chain (root → intermediate → prov.example.com).
	pc, err := certstest.NewProvisioningChain(certstest.ProvisioningOptions{})
	if err != nil {
		log.Fatal(err)
	}
	root := pc.Chain[len(pc.Chain)-1]
	sum := sha256.Sum256(root.Raw)

	d, err := amtsim.New(amtsim.Config{
		Version:       amt.MustParseVersion("16.1.25"),
		DHCPDNSSuffix: "example.com",
		UserRootHashes: []amtsim.RootHash{
			{Name: "example root", Hash: amt.CertHash{Alg: amt.HashSHA256, Sum: sum[:]}, Active: true},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	// Pin the device's own certificate, present the provisioning chain.
	devCert, err := d.DeviceCertificate()
	if err != nil {
		log.Fatal(err)
	}
	client := tls.Certificate{PrivateKey: pc.Key}
	for _, c := range pc.Chain {
		client.Certificate = append(client.Certificate, c.Raw)
	}
	c, err := wsman.New(d.TLSEndpoint(),
		wsman.WithTLS(wsman.PinSHA256(sha256.Sum256(devCert.Raw))),
		wsman.WithClientCertificate(client))
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseIdleConnections()

	v, err := amt.NewDevice(c).Version(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("firmware:", v)
	fmt.Println("provisioning state:", d.Snapshot().ProvisioningState)
	// Output:
	// firmware: 16.1.25
	// provisioning state: In
}

// A fleet of simulated devices sends hellos to a listener; the fleet maps each
// hello's source address back to the device, as a provisioning engine must.
func ExampleStartFleet() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	f, err := amtsim.StartFleet(ctx, amtsim.FleetOptions{N: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	go func() {
		_, _ = f.SendHellos(ctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1})
	}()
	matched := 0
	for range 3 {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(conn)
		_ = conn.Close()
		h, err := hello.Parse(b)
		if err != nil {
			log.Fatal(err)
		}
		if d, ok := f.Lookup(conn.RemoteAddr()); ok && d.UUID() == h.UUID {
			matched++
		}
	}
	fmt.Printf("%d hellos, %d traced back to their device\n", 3, matched)
	// Output:
	// 3 hellos, 3 traced back to their device
}
