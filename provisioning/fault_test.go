package provisioning_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/internal/leakcheck"
	"github.com/amtkit/amtkit/provisioning"
)

// Fault tests: devices that stall, drop, reset and time out. Each session must
// end with the expected typed reason before its deadline, and nothing (no
// goroutine, no file descriptor) may outlive the test.

const (
	faultCallTimeout = 600 * time.Millisecond
	// faultGrace is added to a session's deadline for the check that it ended in
	// time: generous, because the race detector and a shared 2-core machine slow
	// everything; it tells "the deadline worked" from "the session hung".
	faultGrace = 8 * time.Second
)

// faultCase is one misbehaving device.
type faultCase struct {
	name string
	// device configures the simulated device before it starts.
	device func(c *amtsim.Config)
	// setup runs on the started device.
	setup func(d *amtsim.Device)
	// config adjusts the Provisioner (timeouts, profile).
	config func(c *provisioning.Config)
	// during is called with every event of the session (from the session's
	// goroutine) to switch a fault on at a chosen step.
	during func(d *amtsim.Device, e provisioning.Event, cancel context.CancelFunc)
	// peer replaces the device's TLS port with a raw TCP peer.
	peer func(t *testing.T) string

	reason   provisioning.Reason
	step     provisioning.Step // "" = any step
	rejected bool
	// deadline is the bound the session must respect: the call or session
	// timeout that should end it.
	deadline time.Duration
	// check runs extra assertions on the outcome.
	check func(t *testing.T, d *amtsim.Device, rec *provisioning.DeviceRecord, err error)
}

func withCallTimeout(c *provisioning.Config) { c.CallTimeout = faultCallTimeout }

func after(step provisioning.Step, f func(d *amtsim.Device)) func(*amtsim.Device, provisioning.Event, context.CancelFunc) {
	var once sync.Once
	return func(d *amtsim.Device, e provisioning.Event, _ context.CancelFunc) {
		if e.Step == step && e.Err == nil {
			once.Do(func() { f(d) })
		}
	}
}

func dropOp(op string, mode amtsim.Drop) func(c *amtsim.Config) {
	var fired atomic.Bool
	return func(c *amtsim.Config) {
		c.Behavior.DropFunc = func(got, _ string, _ int) amtsim.Drop {
			if got == op && fired.CompareAndSwap(false, true) {
				return mode
			}
			return amtsim.DropNone
		}
	}
}

func TestFaultDevices(t *testing.T) {
	tests := []faultCase{
		{
			name:     "unresponsive from the start",
			setup:    func(d *amtsim.Device) { d.SetUnresponsive(true) },
			config:   withCallTimeout,
			reason:   provisioning.ReasonTimeout,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
		},
		{
			name:     "stalls after identify",
			config:   withCallTimeout,
			during:   after(provisioning.StepIdentify, func(d *amtsim.Device) { d.SetUnresponsive(true) }),
			reason:   provisioning.ReasonTimeout,
			step:     provisioning.StepConfigure,
			deadline: faultCallTimeout,
			check: func(t *testing.T, d *amtsim.Device, rec *provisioning.DeviceRecord, _ error) {
				assert.Equal(t, provisioning.StateFailed, rec.State)
				assert.NotEqual(t, amt.PostProvisioning, d.Snapshot().ProvisioningState)
			},
		},
		{
			name:   "slower than the session deadline",
			device: func(c *amtsim.Config) { c.Behavior.Latency = 150 * time.Millisecond },
			config: func(c *provisioning.Config) {
				c.SessionTimeout = 600 * time.Millisecond
			},
			reason:   provisioning.ReasonTimeout,
			deadline: 600 * time.Millisecond,
		},
		{
			name:     "drops the connection before SetMEBxPassword",
			device:   dropOp("SetMEBxPassword", amtsim.DropRequest),
			reason:   provisioning.ReasonConnectionLost,
			step:     provisioning.StepConfigure,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
			check: func(t *testing.T, d *amtsim.Device, rec *provisioning.DeviceRecord, err error) {
				assert.ErrorIs(t, err, provisioning.ErrFailed)
				assert.False(t, rec.Session.Done.Has(provisioning.DoneMEBxPassword))
				assert.True(t, d.Snapshot().MEBxPasswordDefault, "the request was dropped before it took effect")
			},
		},
		{
			name:     "drops the response of SetAdminAclEntryEx",
			device:   dropOp("SetAdminAclEntryEx", amtsim.DropResponse),
			reason:   provisioning.ReasonConnectionLost,
			step:     provisioning.StepConfigure,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
			check: func(t *testing.T, d *amtsim.Device, rec *provisioning.DeviceRecord, err error) {
				assert.True(t, rec.Session.Done.Has(provisioning.DoneMEBxPassword))
				assert.False(t, rec.Session.Done.Has(provisioning.DoneAdminACL), "an unanswered call is not recorded as done")
				assert.True(t, d.MEBxPasswordIs(rec.Session.MEBxPassword), "the record keeps the MEBx password the device took")
			},
		},
		{
			name:     "drops every third request",
			device:   func(c *amtsim.Config) { c.Behavior.DropEvery = 3 },
			config:   withCallTimeout,
			reason:   provisioning.ReasonConnectionLost,
			deadline: faultCallTimeout,
		},
		{
			name:   "session canceled by the integrator",
			device: func(c *amtsim.Config) { c.Behavior.Latency = 20 * time.Millisecond },
			during: func(d *amtsim.Device, e provisioning.Event, cancel context.CancelFunc) {
				if e.Step == provisioning.StepIdentify {
					cancel()
				}
			},
			reason:   provisioning.ReasonCanceled,
			step:     provisioning.StepConfigure, // the first call after the cancel (the OTP step makes none here)
			deadline: faultCallTimeout,
		},
		{
			name:     "commit never answered, device gone",
			config:   func(c *provisioning.Config) { withCallTimeout(c); c.CommitVerifyAttempts = 2 },
			during:   after(provisioning.StepConfigure, func(d *amtsim.Device) { d.SetUnresponsive(true) }),
			reason:   provisioning.ReasonCommitUnconfirmed,
			step:     provisioning.StepVerify,
			deadline: 4 * faultCallTimeout, // the commit call, then two read-back attempts
			check: func(t *testing.T, d *amtsim.Device, rec *provisioning.DeviceRecord, err error) {
				var cu *provisioning.CommitUnconfirmedError
				assert.True(t, errors.As(err, &cu), "%v", err)
				assert.True(t, rec.Session.Done.Has(provisioning.DoneCommitSent))
			},
		},
		{
			name:     "refuses the connection",
			peer:     closedPort,
			reason:   provisioning.ReasonConnectFailed,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
		},
		{
			name:     "resets on accept",
			peer:     rawPeer(func(c net.Conn) { reset(c) }),
			reason:   provisioning.ReasonConnectFailed,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
		},
		{
			name: "resets after the ClientHello",
			peer: rawPeer(func(c net.Conn) {
				readSome(c)
				reset(c)
			}),
			reason:   provisioning.ReasonConnectFailed,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
		},
		{
			name: "answers the ClientHello with HTTP",
			peer: rawPeer(func(c net.Conn) {
				readSome(c)
				_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
				c.Close()
			}),
			reason:   provisioning.ReasonConnectFailed,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
		},
		{
			name: "hangs after the ClientHello",
			peer: rawPeer(func(c net.Conn) {
				readSome(c)
				_, _ = io.Copy(io.Discard, c) // until the client gives up
				c.Close()
			}),
			reason:   provisioning.ReasonTimeout,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
		},
		{
			name:     "resets mid-handshake, after our certificate",
			peer:     tlsPeer(func(c net.Conn) { reset(c) }),
			reason:   provisioning.ReasonConnectFailed,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
		},
		{
			name: "hangs mid-handshake, after our certificate",
			peer: tlsPeer(func(c net.Conn) {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}),
			reason:   provisioning.ReasonTimeout,
			step:     provisioning.StepConnect,
			deadline: faultCallTimeout,
			config:   withCallTimeout,
		},
		{
			name: "hangs mid-handshake, session deadline only",
			peer: tlsPeer(func(c net.Conn) {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}),
			reason:   provisioning.ReasonTimeout,
			step:     provisioning.StepConnect,
			deadline: 700 * time.Millisecond,
			config:   func(c *provisioning.Config) { c.SessionTimeout = 700 * time.Millisecond },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Verify(t)
			runFault(t, tt)
		})
	}
}

func runFault(t *testing.T, tt faultCase) {
	h := newHarness(t, harnessOptions{device: func(_ int, c *amtsim.Config) {
		if tt.device != nil {
			tt.device(c)
		}
	}})
	d := h.fleet.Devices()[0]
	if tt.setup != nil {
		tt.setup(d)
	}
	if tt.config != nil {
		tt.config(&h.cfg)
	}
	if tt.peer != nil {
		addr := tt.peer(t)
		h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return addr }
	}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	observe := h.cfg.Observer
	h.cfg.Observer = func(e provisioning.Event) {
		observe(e)
		if tt.during != nil {
			tt.during(d, e, cancel)
		}
	}
	p := h.provisioner()
	start := time.Now()
	rec, err := p.Provision(ctx, h.helloFrom(d))
	took := time.Since(start)

	require.Error(t, err)
	assert.Equal(t, tt.reason, provisioning.ReasonOf(err), "%v", err)
	assert.Equal(t, tt.rejected, errors.Is(err, provisioning.ErrRejected), "%v", err)
	assert.Equal(t, !tt.rejected, errors.Is(err, provisioning.ErrFailed), "%v", err)
	var se *provisioning.SessionError
	require.True(t, errors.As(err, &se), "%T %v", err, err)
	if tt.step != "" {
		assert.Equal(t, tt.step, se.Step, "%v", err)
	}
	assert.Less(t, took, tt.deadline+faultGrace, "the session must end at its deadline, not hang")
	require.NotNil(t, rec)
	if tt.rejected {
		assert.Equal(t, provisioning.StateRejected, rec.State)
	} else {
		assert.Equal(t, provisioning.StateFailed, rec.State)
	}
	assert.Equal(t, tt.reason, rec.Reason)
	stored, lerr := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, lerr)
	assert.Equal(t, rec.State, stored.State, "the store holds the final state")

	ev := h.eventsFor(d.UUID())
	require.NotEmpty(t, ev)
	last := ev[len(ev)-1]
	assert.Equal(t, tt.reason, last.Reason)
	assert.Equal(t, rec.State, last.State)
	assert.False(t, p.InSession(d.UUID(), h.helloFrom(d).Source))
	if tt.check != nil {
		tt.check(t, d, rec, err)
	}
	t.Logf("%s: %v after %v", se.Step, err, took.Round(time.Millisecond))
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// rawPeer listens on loopback and runs serve for each connection, until the
// test ends; its goroutines are waited for in the test's cleanup.
func rawPeer(serve func(net.Conn)) func(t *testing.T) string {
	return func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var wg sync.WaitGroup
		var mu sync.Mutex
		conns := map[net.Conn]struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns[c] = struct{}{}
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					serve(c)
				}()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			for c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
		return ln.Addr().String()
	}
}

// tlsPeer is a TLS server that asks for a client certificate, sends its first
// flight, reads the client's (certificate, key exchange, Finished) and then,
// instead of its own Finished, hands the raw connection to then.
func tlsPeer(then func(net.Conn)) func(t *testing.T) string {
	return func(t *testing.T) string {
		cert := selfSigned(t)
		return rawPeer(func(c net.Conn) {
			fc := &flightConn{Conn: c, then: then}
			s := tls.Server(fc, &tls.Config{
				Certificates: []tls.Certificate{cert},
				ClientAuth:   tls.RequestClientCert,
				MinVersion:   tls.VersionTLS12,
				MaxVersion:   tls.VersionTLS12,
			})
			_ = s.Handshake() // fails once then has taken the connection
			c.Close()
		})(t)
	}
}

// flightConn lets the server's first write through and turns the second (the
// server's ChangeCipherSpec and Finished) over to then.
type flightConn struct {
	net.Conn
	writes int
	then   func(net.Conn)
}

func (c *flightConn) Write(b []byte) (int, error) {
	c.writes++
	if c.writes == 1 {
		return c.Conn.Write(b)
	}
	c.then(c.Conn)
	return 0, net.ErrClosed
}

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "not an AMT device"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func readSome(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	_, _ = c.Read(buf)
	_ = c.SetReadDeadline(time.Time{})
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// TestFaultFleetThroughListener runs a mixed fleet (healthy, slow, dropping,
// silent after its hello, failing key generation, unknown) through a
// HelloListener and HandleHello at once: every session ends with its own
// reason, healthy devices are provisioned regardless of their neighbours, and
// nothing is left running once the listener stops.
func TestFaultFleetThroughListener(t *testing.T) {
	leakcheck.Verify(t)
	want := []provisioning.Reason{
		0: "",
		1: "", // slow but within every deadline
		2: provisioning.ReasonConnectionLost,
		3: provisioning.ReasonTimeout,
		4: provisioning.ReasonDeviceError,
		5: provisioning.ReasonConnectionLost,
		6: provisioning.ReasonUnknownDevice,
		7: "",
	}
	h := newHarness(t, harnessOptions{n: len(want), device: func(i int, c *amtsim.Config) {
		switch i {
		case 1:
			c.Behavior.Latency = 30 * time.Millisecond
		case 2:
			dropOp("SetMEBxPassword", amtsim.DropRequest)(c)
		case 3:
			c.Behavior.UnresponsiveAfterHello = true
		case 4:
			c.Behavior.GenerateKeyPairFailures = 1000
		case 5:
			c.Behavior.DropEvery = 5
		}
	}})
	h.cfg.CallTimeout = 3 * time.Second // healthy devices must not time out on a loaded machine
	h.cfg.SessionTimeout = 30 * time.Second
	h.cfg.Profiles[provisioning.DefaultProfileName] = provisioning.Profile{TLS: &provisioning.TLSProfile{KeyAttempts: 2, KeyRetryDelay: time.Millisecond}}
	unknown := h.fleet.Devices()[6].UUID()
	inv := provisioning.NewInventoryList()
	for i, d := range h.fleet.Devices() {
		if d.UUID() != unknown {
			inv.Add(provisioning.Inventory{UUID: d.UUID(), FQDN: deviceName(i) + ".contoso.com"})
		}
	}
	h.cfg.Authorizer = inv
	h.cfg.RecordUnknownDevices = true // the unknown device's outcome is read from the store
	p := h.provisioner()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	_, err = h.fleet.SendHellos(ctx, amtsim.HelloOptions{Addr: ln.Addr().String(), MaxHellos: 1})
	require.NoError(t, err)

	final := func() int {
		n := 0
		for _, d := range h.fleet.Devices() {
			if rec, err := h.store.Load(h.ctx, d.UUID()); err == nil && rec.State.Final() {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return final() == len(want) }, 60*time.Second, 20*time.Millisecond,
		"every session must end")
	cancel()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	for i, d := range h.fleet.Devices() {
		rec, err := h.store.Load(h.ctx, d.UUID())
		require.NoError(t, err)
		if want[i] == "" {
			assert.Equal(t, provisioning.StateProvisioned, rec.State, "device %d: %s", i, rec.LastError)
			assert.Equal(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "device %d", i)
			continue
		}
		assert.Equal(t, want[i], rec.Reason, "device %d: %s", i, rec.LastError)
		assert.True(t, rec.State == provisioning.StateFailed || rec.State == provisioning.StateRejected, "device %d: %s", i, rec.State)
		assert.NotEqual(t, amt.PostProvisioning, d.Snapshot().ProvisioningState, "device %d", i)
	}
}
