package amtsim_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFleetDistinctAddresses(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	f, err := amtsim.StartFleet(t.Context(), amtsim.FleetOptions{N: 5, Template: trusting(pc)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	if !f.DistinctIPs() {
		t.Skip("loopback aliases cannot be bound here")
	}
	addr, got := helloSink(t)
	res, err := f.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, MaxHellos: 1, Sleep: noSleep})
	require.NoError(t, err)
	require.Len(t, res, 5)
	seen := map[amt.UUID]bool{}
	for range 5 {
		r := <-got
		h, err := hello.Parse(r.data)
		require.NoError(t, err)
		d, ok := f.Lookup(r.from)
		require.True(t, ok, "hello from %v", r.from)
		assert.Equal(t, d.UUID(), h.UUID, "the source address identifies the device")
		assert.False(t, seen[h.UUID], "distinct UUIDs")
		seen[h.UUID] = true
		host, _, _ := net.SplitHostPort(d.TLSAddr())
		assert.Equal(t, r.from.(*net.TCPAddr).IP.String(), host)

		// An engine connecting back to "<source>:16993" through the fleet's
		// dialer reaches the device.
		tr := &http.Transport{DialContext: f.DialContext, TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // test: the device certificate is self-signed
			Certificates:       []tls.Certificate{tlsCert(pc)},
		}}
		c, err := wsman.New("https://"+net.JoinHostPort(host, "16993")+"/wsman", wsman.WithRoundTripper(tr))
		require.NoError(t, err)
		si, err := amt.NewDevice(c).SoftwareIdentity(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "16.1.25", si.Version.String())
		tr.CloseIdleConnections()
		got, ok := f.Device(h.UUID)
		require.True(t, ok)
		assert.Same(t, d, got)
	}
}

func TestFleetSharedIP(t *testing.T) {
	f, err := amtsim.StartFleet(t.Context(), amtsim.FleetOptions{N: 3, SharedIP: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	assert.False(t, f.DistinctIPs())
	addr, got := helloSink(t)
	_, err = f.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, MaxHellos: 1, Sleep: noSleep})
	require.NoError(t, err)
	for range 3 {
		r := <-got
		h, err := hello.Parse(r.data)
		require.NoError(t, err)
		d, ok := f.Lookup(r.from)
		require.True(t, ok, "recorded by source address and port")
		assert.Equal(t, d.UUID(), h.UUID)
		tlsAddr, ok := f.Resolve(r.from)
		require.True(t, ok)
		assert.Equal(t, d.TLSAddr(), tlsAddr)
		assert.True(t, strings.HasPrefix(tlsAddr, "127.0.0.1:"))
	}
}

func TestFleetStandardPorts(t *testing.T) {
	f, err := amtsim.StartFleet(t.Context(), amtsim.FleetOptions{N: 2, StandardPorts: true})
	if err != nil {
		t.Skipf("standard ports unavailable here: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	for _, d := range f.Devices() {
		_, port, _ := net.SplitHostPort(d.TLSAddr())
		assert.Equal(t, "16993", port)
		_, port, _ = net.SplitHostPort(d.HTTPAddr())
		assert.Equal(t, "16992", port)
	}
}

func TestFleetRogues(t *testing.T) {
	f, err := amtsim.StartFleet(t.Context(), amtsim.FleetOptions{N: 1, Template: amtsim.Config{OnDie: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	victim := f.Devices()[0]
	ca := f.OnDieCA()
	require.NotNil(t, ca)
	vc, err := victim.DeviceCertificate()
	require.NoError(t, err)
	_, err = vc.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err, "the inventoried device's certificate chains to the On-Die root")
	id, ok := amtsim.UUIDOf(vc)
	require.True(t, ok)
	assert.Equal(t, victim.UUID(), id)

	getUUID := func(d *amtsim.Device) amt.UUID {
		t.Helper()
		_, out := invoke(t, localClient(t, d), uriSetup, "GetUuid")
		raw, err := base64.StdEncoding.DecodeString(wsman.Text(wsman.Child(out, uriSetup, "UUID")))
		require.NoError(t, err)
		u, err := amt.UUIDFromWire(raw)
		require.NoError(t, err)
		return u
	}
	for _, tt := range []struct {
		kind      amtsim.RogueKind
		onDie     bool // its certificate chains to the On-Die root
		certUUID  bool // its certificate names the victim's UUID
		getUUIDOK bool // GetUuid reports the victim's UUID
	}{
		{amtsim.RogueNoOnDie, false, false, true},
		{amtsim.RogueOtherCertificate, true, false, true},
		{amtsim.RogueWrongUUID, true, false, false},
	} {
		r, err := f.StartRogue(victim, tt.kind)
		require.NoError(t, err)
		assert.Equal(t, victim.UUID(), r.UUID(), "a rogue sends the victim's UUID in its hellos")
		h, err := r.Hello(0)
		require.NoError(t, err)
		assert.Equal(t, victim.UUID(), h.UUID)
		rc, err := r.DeviceCertificate()
		require.NoError(t, err)
		assert.NotEqual(t, vc.Raw, rc.Raw, "a different device certificate")
		_, verr := rc.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		assert.Equal(t, tt.onDie, verr == nil, "kind %d: On-Die chain", tt.kind)
		cu, _ := amtsim.UUIDOf(rc)
		assert.Equal(t, tt.certUUID, cu == victim.UUID())
		assert.Equal(t, tt.getUUIDOK, getUUID(r) == victim.UUID(), "kind %d: GetUuid", tt.kind)
	}
}

// TestFleetMemory reports the heap a started, idle device costs. Run
// BenchmarkFleetStart for the 1,000-device figure.
func TestFleetMemory(t *testing.T) {
	const n = 100
	before := heapInUse()
	f, err := amtsim.StartFleet(t.Context(), amtsim.FleetOptions{N: n})
	require.NoError(t, err)
	after := heapInUse()
	t.Logf("%d idle devices: %.1f KiB (heap and stacks) per device, %d goroutines", n, float64(after-before)/n/1024, runtime.NumGoroutine())
	require.NoError(t, f.Close())
}

// heapInUse is the heap and goroutine stacks in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkFleetStart starts 1,000 devices (keys come from the pool, nothing
// is generated) and reports the heap per device, idle and after each device
// served one remote-configuration handshake and request.
func BenchmarkFleetStart(b *testing.B) {
	keys := certstest.NewKeyPool()
	pc := certstest.MustProvisioningChain(b, certstest.ProvisioningOptions{Keys: keys})
	const n = 1000
	for b.Loop() {
		before := heapInUse()
		start := time.Now()
		f, err := amtsim.StartFleet(b.Context(), amtsim.FleetOptions{N: n, Template: trusting(pc)})
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		idle := heapInUse()
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{tlsCert(pc)}}} //nolint:gosec // test
		for _, d := range f.Devices() {
			c, err := wsman.New(d.TLSEndpoint(), wsman.WithRoundTripper(tr))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := amt.NewDevice(c).Version(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
		tr.CloseIdleConnections()
		time.Sleep(200 * time.Millisecond) // let the devices notice the closed connections
		used := heapInUse()
		b.ReportMetric(float64(idle-before)/n, "B/idle-device")
		b.ReportMetric(float64(used-before)/n, "B/used-device")
		b.ReportMetric(float64(elapsed.Microseconds())/n, "µs-start/device")
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
