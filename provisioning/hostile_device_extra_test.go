package provisioning_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// A digest realm of 70,000 bytes is refused before it reaches the record
// (it was stored unchecked).
func TestHostileRealmPoisonsRecord(t *testing.T) {
	h, store := kvHarness(t, 1, nil)
	d := h.fleet.Devices()[0]
	dev := httptest.NewTLSServer(wsmantest.Handler(hostileReply(d.UUID(), "Digest:"+strings.Repeat(",", 70000),
		func(r *wsmantest.Request, m string) (wsmantest.Reply, bool) {
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 1)), m == "GetUuid"
		})))
	defer dev.Close()
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string {
		return dev.Listener.Addr().String()
	}
	h.cfg.Dial = nil
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	_, err = store.Load(h.ctx, d.UUID())
	assert.NoError(t, err, "the device's record no longer decodes")
}

// A rogue serving a 256 MiB Server header costs the engine no more than the
// header bound (it read and allocated all of it).
func TestHostileHeaderFloodSession(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	cfg := s.TLS.Clone()
	s.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	defer ln.Close()
	var sent atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for l, err := br.ReadString('\n'); err == nil && l != "\r\n"; l, err = br.ReadString('\n') {
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nServer: Intel(R) Active Management Technology 16.1.25 "))
				for i, chunk := 0, []byte(strings.Repeat("A", 1<<20)); i < 256; i++ {
					n, err := c.Write(chunk)
					if sent.Add(int64(n)); err != nil {
						return
					}
				}
				c.Write([]byte("\r\n\r\n"))
			}(c)
		}
	}()
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string { return ln.Addr().String() }
	h.cfg.Dial = nil
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = h.provisioner().Provision(h.ctx, h.helloFrom(h.fleet.Devices()[0]))
	runtime.ReadMemStats(&after)
	t.Logf("session: %.100v; header bytes read %d MiB, allocated %d MiB", err, sent.Load()>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
	// Bounded at 1 MiB a response; what the rogue got sent beyond that sat
	// in socket buffers (several MiB each on loopback, a few connections).
	// Unbounded, all 256 MiB went through, allocating 1.7 GB.
	assert.Less(t, sent.Load(), int64(128<<20), "the engine read a response header without bound")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(512<<20), "allocated while reading headers")
}

// SetMEBxPassword answered by a fault quoting the password: the password
// reaches no error, record or event.
func TestHostileFaultEchoesMEBxPassword(t *testing.T) {
	const pw = "Fleet-MEBx-P4ss!"
	h := newHarness(t, harnessOptions{config: func(c *provisioning.Config) {
		prof := c.Profiles[provisioning.DefaultProfileName]
		prof.MEBxPassword = amt.NewSecret(pw)
		c.Profiles[provisioning.DefaultProfileName] = prof
	}})
	d := h.fleet.Devices()[0]
	dev := httptest.NewTLSServer(wsmantest.Handler(hostileReply(d.UUID(), realm, func(r *wsmantest.Request, m string) (wsmantest.Reply, bool) {
		f := wsmantest.SenderFault("InvalidParameter", "Invalid value for Password: "+strings.Join(r.Fields()["Password"], ""))
		return wsmantest.FaultReply(f), m == "SetMEBxPassword"
	})))
	defer dev.Close()
	h.cfg.DeviceAddress = func(provisioning.ReceivedHello, provisioning.Inventory, int) string {
		return dev.Listener.Addr().String()
	}
	h.cfg.Dial = nil
	_, err := h.provisioner().Provision(h.ctx, h.helloFrom(d))
	require.Error(t, err)
	rec, lerr := h.store.Load(h.ctx, d.UUID())
	require.NoError(t, lerr)
	assert.NotContains(t, rec.LastError, pw, "the MEBx password is stored in plaintext (LastError)")
	for _, e := range h.eventsFor(d.UUID()) {
		if e.Err != nil {
			assert.NotContains(t, e.Err.Error(), pw, "the MEBx password is in an event")
		}
	}
}
