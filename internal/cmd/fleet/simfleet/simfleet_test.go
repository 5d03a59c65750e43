package simfleet_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/internal/cmd/fleet/simfleet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const childEnv = "AMTKIT_SIMFLEET_CHILD"

// TestChildFleet is the fleet process of TestLaunch: the test binary re-run
// with childEnv holding the flags.
func TestChildFleet(t *testing.T) {
	args := os.Getenv(childEnv)
	if args == "" {
		t.Skip("helper process of TestLaunch")
	}
	os.Exit(simfleet.Main(context.Background(), strings.Fields(args), os.Stdin, os.Stdout, os.Stderr))
}

func testRoot(t *testing.T) (*certstest.ProvisioningChain, amt.CertHash) {
	t.Helper()
	pc := certstest.MustProvisioningChain(t, certstest.ProvisioningOptions{FQDN: "prov.contoso.com", Keys: &certstest.KeyPool{Reuse: true}})
	return pc, pc.Bundle.RootHash(amt.HashSHA256)
}

// helloSink accepts hellos and decodes them.
func helloSink(t *testing.T) (net.Listener, <-chan *hello.Message) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	got := make(chan *hello.Message, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			c.Close()
			if m, err := hello.Parse(b); err == nil {
				got <- m
			}
		}
	}()
	return ln, got
}

func TestLaunch(t *testing.T) {
	_, root := testRoot(t)
	o := simfleet.Options{N: 3, RootHash: root, Suffix: "contoso.com", Version: amt.MustParseVersion("16.1.25")}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestChildFleet$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(simfleet.Args(o), " ")+" -latency firmware -latency-scale 0.01")
	cmd.Stderr = os.Stderr
	p, err := simfleet.Launch(cmd)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })

	assert.NotEqual(t, os.Getpid(), p.Ready.PID, "a process of its own")
	assert.Equal(t, root.Hex(), p.Ready.RootHash)
	assert.Equal(t, "16.1.25", p.Ready.Version)
	require.Len(t, p.Ready.Devices, 3)
	for _, d := range p.Ready.Devices {
		assert.Equal(t, net.JoinHostPort(d.IP, "16993"), d.TLS, "standard ports on the device's own address")
		assert.Equal(t, net.JoinHostPort(d.IP, "16992"), d.HTTP)
		_, err := amt.ParseUUID(d.UUID)
		assert.NoError(t, err)
	}

	ln, got := helloSink(t)
	r, err := p.Hellos(ln.Addr().String())
	require.NoError(t, err)
	assert.Equal(t, simfleet.HelloReport{Sent: 3}, r)
	uuids := map[string]bool{}
	for range 3 {
		select {
		case m := <-got:
			uuids[m.UUID.String()] = true
			assert.True(t, slices.ContainsFunc(m.Hashes, root.Equal), "the hello lists the provisioning root")
		case <-time.After(10 * time.Second):
			t.Fatal("hellos missing")
		}
	}
	for _, d := range p.Ready.Devices {
		assert.True(t, uuids[d.UUID], "hello from %s", d.UUID)
	}

	// A connection to a device is counted by the fleet.
	c, err := tls.Dial("tcp", p.Ready.Devices[0].TLS, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		c.Close()
	}
	counters, err := p.Counters()
	require.NoError(t, err)
	assert.Equal(t, int64(1), counters.Connections)
	require.NoError(t, p.Reset())
	counters, err = p.Counters()
	require.NoError(t, err)
	assert.Zero(t, counters)

	st, err := p.Stats()
	require.NoError(t, err)
	assert.Positive(t, st.Goroutines)
	assert.Positive(t, st.Heap)
	require.NoError(t, p.Close())
}

func TestServeFloor(t *testing.T) {
	pc, root := testRoot(t)
	in, inW := io.Pipe()
	outR, out := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- simfleet.Serve(ctx, simfleet.Options{Floor: true, RootHash: root}, in, out) }()
	var ready simfleet.Ready
	dec := json.NewDecoder(bufio.NewReader(outR))
	require.NoError(t, dec.Decode(&ready))
	require.NotNil(t, ready.Floor)
	assert.Empty(t, ready.Devices)

	// The mutual listener takes the provisioning chain and refuses none.
	mc, err := tls.Dial("tcp", ready.Floor.Mutual, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{pc.Bundle.TLSCertificate()}})
	require.NoError(t, err)
	require.NoError(t, mc.Handshake())
	mc.Close()
	_, err = tls.Dial("tcp", ready.Floor.Mutual, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		// The alert may arrive on the first read.
		t.Log("handshake completed on the client side; the server refused afterwards")
	}
	sc, err := tls.Dial("tcp", ready.Floor.Server, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	pin := sha256.Sum256(sc.ConnectionState().PeerCertificates[0].Raw)
	assert.Equal(t, ready.Floor.Pin, hex.EncodeToString(pin[:]))
	sc.Close()

	_, err = io.WriteString(inW, "hellos 127.0.0.1:1\n")
	require.NoError(t, err)
	var reply map[string]string
	require.NoError(t, dec.Decode(&reply))
	assert.Contains(t, reply["error"], "floor")
	inW.Close()
	require.NoError(t, <-done)
}

func TestMainFlags(t *testing.T) {
	var errOut bytes.Buffer
	assert.Equal(t, 2, simfleet.Main(t.Context(), []string{"-latency", "slow"}, strings.NewReader(""), io.Discard, &errOut))
	assert.Contains(t, errOut.String(), "-latency")
	errOut.Reset()
	assert.Equal(t, 2, simfleet.Main(t.Context(), []string{"-root-hash", "xyz"}, strings.NewReader(""), io.Discard, &errOut))
	errOut.Reset()
	assert.Equal(t, 1, simfleet.Main(t.Context(), []string{"-n", "1"}, strings.NewReader(""), io.Discard, &errOut), "a root hash is required")
	assert.Contains(t, errOut.String(), "root hash")

	_, root := testRoot(t)
	args := simfleet.Args(simfleet.Options{N: 7, RootHash: root, Suffix: "x.com", Resume: true, Floor: true})
	assert.Equal(t, []string{"-n", "7", "-root-hash", root.Hex(), "-suffix", "x.com", "-resume", "-floor"}, args)
	_ = amtsim.Counters{}
}
