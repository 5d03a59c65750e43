package pskx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

func ExampleParsePPS() {
	// Intel's published example pair.
	pid, _ := pskx.ParsePID("0000-037M")
	pps, _ := pskx.ParsePPS("nkld-g5dc-rrnq-e9yz-zijl-7lfl-vjed-69xj")
	fmt.Println(pid, pid.Compact())
	fmt.Println(pps) // a PPS never prints
	fmt.Println(pps.RevealGrouped())

	// A mistyped group is named (never quoted).
	_, err := pskx.ParsePPS("NKLD-G5DC-RRNR-E9YZ-ZIJL-7LFL-VJED-69XJ")
	fmt.Println(err)
	var fe *pskx.FormatError
	fmt.Println(errors.As(err, &fe), fe.Groups, errors.Is(err, pskx.ErrChecksum))
	// Output:
	// 0000-037M 0000037M
	// [REDACTED]
	// NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ
	// pskx: PPS group 3: check character does not match
	// true [3] true
}

func ExampleGenerateBatch() {
	pairs, err := pskx.GenerateBatch(nil, 3) // nil: crypto/rand
	if err != nil {
		panic(err)
	}
	for _, p := range pairs {
		_, errPID := pskx.ParsePID(p.PID.String())
		_, errPPS := pskx.ParsePPS(p.PPS.RevealGrouped())
		fmt.Println(len(p.PID.String()), len(p.PPS.RevealGrouped()), errPID == nil, errPPS == nil, amt.CheckPassword(p.MEBxPassword.Reveal()) == nil)
	}
	// Output:
	// 9 39 true true true
	// 9 39 true true true
	// 9 39 true true true
}

// Build a PSK batch stick: one consumable record per device.
func ExampleNewPSKBatchFile() {
	pps, _ := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	pairs := []pskx.Pair{{PID: pskx.MustParsePID("0000-037M"), PPS: pps, MEBxPassword: amt.NewSecret("P@ssw0rd1")}}
	f, err := pskx.NewPSKBatchFile(pairs, pskx.PSKBatchOptions{})
	if err != nil {
		panic(err)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Version, len(b), "bytes,", len(f.Records), "record, consumable:", f.Consumable())
	for _, e := range f.Records[0].Entries {
		fmt.Println(e)
	}
	// PID/PPS mean nothing to AMT 11 and later.
	for _, fd := range f.Check(pskx.CheckOptions{Target: amt.MustParseVersion("11.8")}) {
		fmt.Println(fd.Code)
	}
	// Output:
	// 1.0 1024 bytes, 1 record, consumable: true
	// current MEBx password (1/1) = [REDACTED]
	// new MEBx password (1/2) = [REDACTED]
	// PID (2/1) = "0000037M"
	// PPS (2/2) = [REDACTED]
	// psk-removed
}

// Pre-configure PKI devices: one shared (do-not-consume) record.
func ExampleNewPKIPreconfigFile() {
	f, err := pskx.NewPKIPreconfigFile(pskx.PKIOptions{
		NewMEBxPassword: amt.NewSecret("N3w-Mebx!"),
		DNSSuffix:       "vpro.example.com",
		ServerAddress:   netip.MustParseAddr("192.0.2.10"),
		ServerPort:      9971,
		Start:           true,
	})
	if err != nil {
		panic(err)
	}
	b, _ := f.MarshalBinary()
	g, err := pskx.DecodeSetupFile(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(g.Version, "flags", g.Flags, "scrambled:", g.Records[0].Scrambled())
	for _, e := range g.Records[0].Entries {
		fmt.Println(e)
	}
	// Output:
	// 4.0 flags 1 scrambled: true
	// current MEBx password (1/1) = [REDACTED]
	// new MEBx password (1/2) = [REDACTED]
	// PKI DNS suffix (2/3) = "vpro.example.com"
	// provisioning server address (2/17) = 192.0.2.10
	// provisioning server port (2/18) = 9971
	// provisioning halt/activate (2/28) = 1 (start)
}

func ExampleDecodeSetupFile() {
	// A file with the wrong size is refused with the record and offset.
	_, err := pskx.DecodeSetupFile(make([]byte, 700))
	fmt.Println(err)
	var de *pskx.DecodeError
	fmt.Println(errors.As(err, &de), de.Record, de.Offset, errors.Is(err, pskx.ErrFileType))
	// Output:
	// pskx: setup.bin file header at offset 0: unknown setup.bin file type GUID: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
	// true 0 0 true
}

func ExampleMemoryStore() {
	ctx := context.Background()
	var store pskx.MemoryStore
	pps, _ := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	pid := pskx.MustParsePID("0000-037M")
	_ = store.Put(ctx, pskx.Pair{PID: pid, PPS: pps})

	// A PSK hello arrives with PID 0000037M.
	p, err := store.Lookup(ctx, pid)
	fmt.Println(err, p.PPS.Equal(pps))
	_ = store.MarkUsed(ctx, pid, amt.UUID{1})
	err = store.MarkUsed(ctx, pid, amt.UUID{2})
	fmt.Println(errors.Is(err, pskx.ErrPairUsed))
	unused, _ := store.Unused(ctx)
	fmt.Println(len(unused))
	// Output:
	// <nil> true
	// true
	// 0
}

// A configuration server (client) and a simulated PSK device (server) over
// loopback.
func ExampleClientPSK() {
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
		device := pskx.ServerPSK(raw, &pskx.Config{GetKey: pskx.Derivation{}.KeyLookup(&store)})
		defer device.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(device, buf); err == nil {
			_, _ = device.Write([]byte("hello " + string(buf)))
		}
	}()

	raw, _ := net.Dial("tcp", ln.Addr().String())
	conn := pskx.ClientPSK(raw, pskx.Derivation{}.ClientConfig(pid, pps))
	defer conn.Close()
	if err := conn.HandshakeContext(context.Background()); err != nil {
		panic(err)
	}
	st := conn.ConnectionState()
	fmt.Println(pskx.VersionName(st.Version), pskx.CipherSuiteName(st.CipherSuite), string(st.Identity))
	_, _ = conn.Write([]byte("world"))
	reply := make([]byte, 11)
	_, _ = io.ReadFull(conn, reply)
	fmt.Println(string(reply))
	// Output:
	// TLS 1.2 TLS_PSK_WITH_AES_128_CBC_SHA 0000037M
	// hello world
}
