package wsman_test

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A response header of 256 MiB: net/http's Transport stops at 10 MiB, and
// WithSerialTransport (every engine client) stops at 1 MiB (it read it all).
func TestSerialTransportBoundsHeader(t *testing.T) {
	for _, serial := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		var sent atomic.Int64
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
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
		}()
		opts := []wsman.Option{wsman.WithCallTimeout(30 * time.Second)}
		if serial {
			opts = append(opts, wsman.WithSerialTransport())
		}
		c, err := wsman.New("http://"+ln.Addr().String()+"/wsman", opts...)
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = c.Get(context.Background(), "http://example/Class", nil)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("serial=%v: header bytes accepted %d MiB, allocated %d MiB; %.60v", serial, sent.Load()>>20, alloc>>20, err)
		// The client reads at most 1 MiB of header; what the device got into
		// the socket beyond that is the kernel's buffers (several MiB on
		// loopback), not the client's reading.
		assert.LessOrEqual(t, sent.Load(), int64(16<<20), "serial=%v: a response header read without bound", serial)
		assert.LessOrEqual(t, alloc, uint64(128<<20), "serial=%v: allocated without bound", serial)
	}
}
