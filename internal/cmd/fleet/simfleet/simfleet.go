package simfleet

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
)

// Options configures a fleet process.
type Options struct {
	// N is the number of devices.
	N int
	// Version is the simulated firmware version (zero: amtsim's default).
	Version amt.Version
	// Suffix is the devices' trusted (MEBx) DNS suffix.
	Suffix string
	// RootHash is the provisioning root every device trusts (a user hash).
	RootHash amt.CertHash
	// Latency, when set, is every device's latency model.
	Latency *amtsim.LatencyModel
	// Resume makes the devices resume TLS sessions (amtsim.Behavior.TLSResumption).
	Resume bool
	// FirstIP is the first device's loopback address (zero: random).
	FirstIP netip.Addr
	// Floor serves the crypto floor's two TLS listeners instead of devices.
	Floor bool
}

// Device is one simulated device as the fleet reports it.
type Device struct {
	UUID string `json:"uuid"`
	IP   string `json:"ip"`
	TLS  string `json:"tls"`  // its 16993 role
	HTTP string `json:"http"` // its 16992 role
}

// Floor describes the crypto floor's listeners: Mutual asks for a client
// certificate chain and verifies it against the root hash (as the firmware
// does in remote configuration, signing its key exchange with an RSA-2048
// key); Server is server-authenticated only (as a provisioned device's TLS
// port, also RSA-2048). Pin is the SHA-256 of Server's certificate. Each
// accepted connection completes its handshake, reads to EOF and closes.
type Floor struct {
	Mutual string `json:"mutual"`
	Server string `json:"server"`
	Pin    string `json:"pin"`
}

// Ready is the fleet's first line.
type Ready struct {
	PID      int      `json:"pid"`
	RootHash string   `json:"root_hash"`
	Version  string   `json:"version"`
	Devices  []Device `json:"devices,omitempty"`
	Floor    *Floor   `json:"floor,omitempty"`
	Took     string   `json:"took"`
}

// HelloReport answers "hellos": hellos delivered, devices that sent none
// because a configuration server had contacted them already, and devices
// whose hello failed.
type HelloReport struct {
	Sent      int    `json:"sent"`
	Contacted int    `json:"contacted,omitempty"`
	Failed    int    `json:"failed"`
	Error     string `json:"error,omitempty"`
}

// Stats answers "stats": the fleet process's own resources.
type Stats struct {
	CPU time.Duration `json:"cpu_ns"`
	// Heap is the bytes of heap objects (live and not yet collected); Stacks
	// the goroutine stacks.
	Heap       uint64 `json:"heap"`
	Stacks     uint64 `json:"stacks"`
	Goroutines int    `json:"goroutines"`
}

// Serve starts the fleet described by o, prints its [Ready] line to out and
// answers commands from in until "quit", EOF or ctx ends.
func Serve(ctx context.Context, o Options, in io.Reader, out io.Writer) error {
	raiseFDLimit()
	start := time.Now()
	ready := Ready{PID: os.Getpid(), RootHash: o.RootHash.Hex()}
	var fleet *amtsim.Fleet
	if o.Floor {
		f, err := serveFloor(ctx, o)
		if err != nil {
			return err
		}
		ready.Floor = f
	} else {
		var err error
		if fleet, err = startFleet(ctx, o); err != nil {
			return err
		}
		defer fleet.Close()
		for _, d := range fleet.Devices() {
			ap := netip.MustParseAddrPort(d.TLSAddr())
			ready.Devices = append(ready.Devices, Device{UUID: d.UUID().String(), IP: ap.Addr().String(), TLS: d.TLSAddr(), HTTP: d.HTTPAddr()})
		}
		ready.Version = fleet.Devices()[0].Version().String()
	}
	ready.Took = time.Since(start).Round(time.Millisecond).String()
	enc := json.NewEncoder(out)
	if err := enc.Encode(ready); err != nil {
		return err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case line, ok = <-lines:
		}
		if !ok {
			return nil
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		var reply any
		switch {
		case cmd == "quit":
			return nil
		case cmd == "stats":
			reply = stats()
		case fleet == nil:
			reply = map[string]string{"error": "no devices (floor mode)"}
		case cmd == "hellos":
			reply = sendHellos(ctx, fleet, strings.TrimSpace(arg))
		case cmd == "counters":
			reply = fleet.Counters()
		case cmd == "reset":
			for _, d := range fleet.Devices() {
				d.ResetCounters()
			}
			reply = map[string]bool{"ok": true}
		default:
			reply = map[string]string{"error": fmt.Sprintf("unknown command %q", cmd)}
		}
		if err := enc.Encode(reply); err != nil {
			return err
		}
	}
}

func startFleet(ctx context.Context, o Options) (*amtsim.Fleet, error) {
	if o.N <= 0 {
		return nil, errors.New("simfleet: N must be at least 1")
	}
	if !o.RootHash.Valid() {
		return nil, errors.New("simfleet: a valid root hash is required")
	}
	tmpl := amtsim.Config{
		Version:          o.Version,
		TrustedDNSSuffix: o.Suffix,
		UserRootHashes:   []amtsim.RootHash{{Name: "provisioning root", Hash: o.RootHash, Active: true}},
		// The embedded TEST-ONLY keys, reused: RSA generation would dominate.
		Keys: amtsim.PoolKeys(&certstest.KeyPool{Reuse: true}),
	}
	tmpl.Behavior.LatencyModel = o.Latency
	if o.Resume {
		tmpl.Behavior.TLSResumption = amtsim.On
	}
	return amtsim.StartFleet(ctx, amtsim.FleetOptions{N: o.N, Template: tmpl, StandardPorts: true, FirstIP: o.FirstIP, Prewarm: true})
}

func sendHellos(ctx context.Context, f *amtsim.Fleet, addr string) HelloReport {
	if addr == "" {
		return HelloReport{Error: "hellos needs host:port"}
	}
	res, err := f.SendHellos(ctx, amtsim.HelloOptions{Addr: addr, MaxHellos: 1})
	var r HelloReport
	for _, x := range res {
		r.Sent += x.Delivered
		switch {
		case x.Contacted && x.Sent == 0:
			r.Contacted++
		case x.Delivered == 0:
			r.Failed++
		}
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func stats() Stats {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	st := Stats{Goroutines: runtime.NumGoroutine(), CPU: ProcessCPU()}
	if s[0].Value.Kind() == metrics.KindUint64 {
		st.Heap = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		st.Stacks = s[1].Value.Uint64()
	}
	return st
}

// serveFloor starts the floor's listeners.
func serveFloor(ctx context.Context, o Options) (*Floor, error) {
	keys := &certstest.KeyPool{Reuse: true}
	idKey, err := keys.Cycle(2048)
	if err != nil {
		return nil, err
	}
	amtKey, err := keys.Cycle(2048)
	if err != nil {
		return nil, err
	}
	id, err := selfSigned(idKey, "Intel(R) AMT self-signed certificate")
	if err != nil {
		return nil, err
	}
	srv, err := selfSigned(amtKey, "pc.contoso.com")
	if err != nil {
		return nil, err
	}
	root := o.RootHash
	mutual := &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		Certificates:           []tls.Certificate{id},
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
		// The firmware's check: the chain's root is the trusted hash and
		// every link verifies (two RSA verifications).
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) < 2 {
				return errors.New("floor: no chain")
			}
			chain := make([]*x509.Certificate, len(raw))
			for i, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				chain[i] = c
			}
			last := chain[len(chain)-1]
			if sum := sha256.Sum256(last.Raw); root.Valid() && hex.EncodeToString(sum[:]) != root.Hex() {
				return errors.New("floor: untrusted root")
			}
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(last)
			for _, c := range chain[1 : len(chain)-1] {
				inter.AddCert(c)
			}
			_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			return err
		},
	}
	server := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{srv}, SessionTicketsDisabled: true}
	ml, err := floorListener(ctx, mutual)
	if err != nil {
		return nil, err
	}
	sl, err := floorListener(ctx, server)
	if err != nil {
		ml.Close()
		return nil, err
	}
	pin := sha256.Sum256(srv.Certificate[0])
	return &Floor{Mutual: ml.Addr().String(), Server: sl.Addr().String(), Pin: hex.EncodeToString(pin[:])}, nil
}

func selfSigned(key *rsa.PrivateKey, cn string) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// floorListener accepts TLS connections on loopback: handshake, read to EOF,
// close.
func floorListener(ctx context.Context, cfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var once sync.Once
	go func() {
		<-ctx.Done()
		once.Do(func() { ln.Close() })
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()
	return ln, nil
}
