package amtsim_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/amt/hello"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/pskx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type received struct {
	from net.Addr
	data []byte
}

// helloSink accepts hello connections and reads each to EOF.
func helloSink(t *testing.T) (string, <-chan received) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	ch := make(chan received, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			_ = c.Close()
			ch <- received{from: c.RemoteAddr(), data: b}
		}
	}()
	return ln.Addr().String(), ch
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestHelloSender(t *testing.T) {
	addr, got := helloSink(t)
	d := start(t, amtsim.Config{ListenIP: "127.0.0.9"})
	var waits []time.Duration
	res, err := d.SendHellos(t.Context(), amtsim.HelloOptions{
		Addr: addr, MaxHellos: 3,
		Backoff: func(retry int) time.Duration {
			w := amtsim.DefaultHelloBackoff(retry)
			waits = append(waits, w)
			return w
		},
		Sleep: noSleep,
	})
	require.NoError(t, err)
	assert.Equal(t, amtsim.HelloResult{Sent: 3, Delivered: 3}, res)
	assert.Equal(t, []time.Duration{12 * time.Second, 12 * time.Second}, waits)

	var active []amt.CertHash
	for _, h := range d.Snapshot().RootHashes {
		if h.Active {
			active = append(active, h.Hash)
		}
	}
	require.NotEmpty(t, active)
	for retry := 0; retry < 3; retry++ {
		r := <-got
		// The header by hand: u16 admin-credentials flag, u16 version, u32
		// retry count, then the UUID in wire order.
		require.GreaterOrEqual(t, len(r.data), 25)
		assert.Equal(t, uint16(0), binary.LittleEndian.Uint16(r.data[0:]), "MEBx password still default")
		assert.Equal(t, uint16(3), binary.LittleEndian.Uint16(r.data[2:]))
		assert.Equal(t, uint32(retry), binary.LittleEndian.Uint32(r.data[4:]))
		w := d.UUID().Wire()
		assert.Equal(t, w[:], r.data[8:24])
		h, err := hello.Parse(r.data)
		require.NoError(t, err)
		assert.Equal(t, active, h.Hashes, "the hello lists the active table")
		assert.Equal(t, "127.0.0.9", r.from.(*net.TCPAddr).IP.String(), "sent from the device's address")
	}
	assert.Equal(t, 3, d.Snapshot().HellosSent)
}

func TestDefaultHelloBackoff(t *testing.T) {
	// Five a minute, five every ten minutes, five an hour (retry counts 0–14).
	want := []time.Duration{12, 12, 12, 12, 120, 120, 120, 120, 120, 720, 720, 720, 720, 720}
	for retry, w := range want {
		assert.Equal(t, w*time.Second, amtsim.DefaultHelloBackoff(retry), "after retry %d", retry)
	}
}

func TestHelloSenderStopsWhenContacted(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	addr, _ := helloSink(t)
	d := start(t, trusting(pc))
	// The configuration server answers during the first back-off.
	sleep := func(ctx context.Context, _ time.Duration) error {
		_, err := amt.NewDevice(rcfgClient(t, d, pc)).Version(ctx)
		return err
	}
	res, err := d.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, Sleep: sleep})
	require.NoError(t, err)
	assert.True(t, res.Contacted)
	assert.Equal(t, 1, res.Sent)

	// Left by its server, the device stays silent...
	res, err = d.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, MaxHellos: 1, Sleep: noSleep})
	require.NoError(t, err)
	assert.True(t, res.Contacted)
	assert.Zero(t, res.Sent, "a contacted device sends no hello")
	// ...until its local agent starts configuration again.
	require.NoError(t, d.StartConfiguration(amt.Secret{}))
	res, err = d.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, MaxHellos: 1, Sleep: noSleep})
	require.NoError(t, err)
	assert.False(t, res.Contacted)
	assert.Equal(t, 1, res.Sent, "StartConfiguration restarts the hello cycle")
}

func TestHelloSenderCancel(t *testing.T) {
	addr, _ := helloSink(t)
	d := start(t, amtsim.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	var n atomic.Int32
	res, err := d.SendHellos(ctx, amtsim.HelloOptions{Addr: addr, Sleep: func(ctx context.Context, _ time.Duration) error {
		if n.Add(1) == 2 {
			cancel()
		}
		return ctx.Err()
	}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 2, res.Sent)
}

func TestHelloSenderDialFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	d := start(t, amtsim.Config{})
	res, err := d.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, MaxHellos: 4, Sleep: noSleep})
	require.NoError(t, err, "failed attempts count; the sender keeps trying")
	assert.Equal(t, 4, res.Sent)
	assert.Zero(t, res.Delivered)
	assert.Error(t, res.LastError)
}

func TestHelloByFirmware(t *testing.T) {
	addr, got := helloSink(t)
	pair, err := pskx.GeneratePair(nil)
	require.NoError(t, err)
	tests := []struct {
		name    string
		cfg     amtsim.Config
		agent   bool
		wantErr error
		version uint16
	}{
		{name: "AMT 3.2.1 sends PKI hellos by itself", cfg: amtsim.Config{Version: amt.MustParseVersion("3.2.1")}, version: 3},
		{name: "AMT 3.0 only after the agent starts configuration", cfg: amtsim.Config{Version: amt.MustParseVersion("3.0.0")}, wantErr: amtsim.ErrNoRemoteConfiguration},
		{name: "AMT 2.2.19 never", cfg: amtsim.Config{Version: amt.MustParseVersion("2.2.19")}, agent: true, wantErr: amtsim.ErrNoRemoteConfiguration},
		{name: "AMT 2.6 only after the agent starts configuration", cfg: amtsim.Config{Version: amt.MustParseVersion("2.6.0")}, wantErr: amtsim.ErrNoRemoteConfiguration},
		{name: "AMT 2.6 after StartConfiguration", cfg: amtsim.Config{Version: amt.MustParseVersion("2.6.0")}, agent: true, version: 3},
		{name: "AMT 2.5 never", cfg: amtsim.Config{Version: amt.MustParseVersion("2.5.0")}, agent: true, wantErr: amtsim.ErrNoRemoteConfiguration},
		{name: "remote configuration disabled", cfg: amtsim.Config{RemoteConfigurationDisabled: true}, wantErr: amtsim.ErrNoRemoteConfiguration},
		{name: "PSK device on AMT 10 sends version 2 with its PID", cfg: amtsim.Config{Version: amt.MustParseVersion("10.0.55"), PSK: &pair}, version: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := start(t, tt.cfg)
			if tt.agent {
				require.NoError(t, d.StartConfiguration(amt.Secret{}))
			}
			_, err := d.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, MaxHellos: 1, Sleep: noSleep})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			r := <-got
			h, err := hello.Parse(r.data)
			require.NoError(t, err)
			assert.Equal(t, tt.version, h.Version)
			if tt.version == 2 {
				assert.Equal(t, pair.PID.Compact(), h.PIDString())
				assert.Len(t, r.data, 32)
			}
		})
	}
	t.Run("PSK on AMT 11 is refused", func(t *testing.T) {
		_, err := amtsim.New(amtsim.Config{Version: amt.MustParseVersion("11.0.0"), PSK: &pair})
		var ce *amtsim.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.ErrorIs(t, err, amtsim.ErrConfig)
		assert.Equal(t, "PSK", ce.Field)
	})
}

func TestHelloWindowClosed(t *testing.T) {
	addr, _ := helloSink(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	d := start(t, amtsim.Config{Now: func() time.Time { return time.Unix(0, now.Load()) }, ProvisioningWindow: time.Hour})
	now.Add(int64(61 * time.Minute))
	_, err := d.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, Sleep: noSleep})
	require.ErrorIs(t, err, amtsim.ErrWindowClosed)
}

func TestUnresponsiveAfterHello(t *testing.T) {
	keys := certstest.NewKeyPool()
	pc := chainFor(t, keys, certstest.ProvisioningOptions{})
	addr, _ := helloSink(t)
	cfg := trusting(pc)
	cfg.Behavior.UnresponsiveAfterHello = true
	d := start(t, cfg)
	_, err := d.SendHellos(t.Context(), amtsim.HelloOptions{Addr: addr, MaxHellos: 1, Sleep: noSleep})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = amt.NewDevice(rcfgClient(t, d, pc)).Version(ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err()), "%v", err)
	assert.True(t, d.Snapshot().Unresponsive)
}
