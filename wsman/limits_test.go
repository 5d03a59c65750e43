package wsman_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nested returns the recorded GeneralSettings response with one more field
// holding n nested elements, so that the deepest element sits at depth 3+n
// (Envelope, Body, AMT_GeneralSettings, then the nest).
func nested(t *testing.T, n int) []byte {
	good := fixture(t, "get-abc-prefixes.xml")
	nest := strings.Repeat("<g:Nest>", n) + strings.Repeat("</g:Nest>", n)
	out := bytes.Replace(good, []byte("</g:AMT_GeneralSettings>"), []byte(nest+"</g:AMT_GeneralSettings>"), 1)
	require.NotEqual(t, good, out)
	return out
}

// WithMaxDepth is the bound a client applies to every response it reads: one
// level more than the bound is refused as unsafe XML before any decoding,
// the bound itself is read, and bounds below what a WS-Man envelope needs are
// refused when the client is built.
func TestMaxDepthOption(t *testing.T) {
	tests := []struct {
		name  string
		opts  []wsman.Option
		depth int
		ok    bool
	}{
		{"default bound read", nil, wsman.DefaultMaxDepth, true},
		{"one over the default refused", nil, wsman.DefaultMaxDepth + 1, false},
		{"lower bound read", []wsman.Option{wsman.WithMaxDepth(8)}, 8, true},
		{"one over the lower bound refused", []wsman.Option{wsman.WithMaxDepth(8)}, 9, false},
		{"higher bound read", []wsman.Option{wsman.WithMaxDepth(200)}, 200, true},
		{"one over the higher bound refused", []wsman.Option{wsman.WithMaxDepth(200)}, 201, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := nested(t, tc.depth-3)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/soap+xml")
				_, _ = w.Write(body)
			}))
			defer srv.Close()
			c, err := wsman.New(srv.URL+"/wsman", append([]wsman.Option{wsman.WithRand(zeroReader{})}, tc.opts...)...)
			require.NoError(t, err)
			defer c.CloseIdleConnections()
			_, err = c.Get(bg, gsURI, nil)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, wsman.ErrUnsafeXML)
		})
	}

	for _, n := range []int{-1, 0, 3} {
		_, err := wsman.New("http://127.0.0.1:16992/wsman", wsman.WithMaxDepth(n))
		require.Error(t, err, "WithMaxDepth(%d)", n)
		assert.Contains(t, err.Error(), "WithMaxDepth")
	}
	_, err := wsman.New("http://127.0.0.1:16992/wsman", wsman.WithMaxDepth(4))
	require.NoError(t, err, "four levels hold an envelope's fields")
}

// WithMaxConnsPerHost bounds the connections net/http's transport opens to
// the device, whatever the calls in flight: with a bound of 3, three calls
// are served at once (the server holds each until all three arrived, which
// the default bound of 2 never lets happen); with a bound of 1, four calls at
// once share a single connection.
func TestMaxConnsPerHostOption(t *testing.T) {
	good := fixture(t, "get-abc-prefixes.xml")
	serve := func(t *testing.T, barrier int) (*httptest.Server, *atomic.Int32) {
		var conns atomic.Int32
		var mu sync.Mutex
		arrived, release := 0, make(chan struct{})
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so that the server watches for the client going away
			mu.Lock()
			arrived++
			if arrived == barrier {
				close(release)
			}
			mu.Unlock()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/soap+xml")
			_, _ = w.Write(good)
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		return srv, &conns
	}
	run := func(t *testing.T, c *wsman.Client, calls int) {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second) // a failure bound, not a wait
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, calls)
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Get(ctx, gsURI, nil)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err, "the server holds each call until the bound's worth of calls arrived")
		}
	}

	for _, tc := range []struct {
		name         string
		bound, calls int // the option, and the calls made at once
		barrier      int // calls the server holds until all arrived
		conns        int32
	}{
		{"three at once", 3, 3, 3, 3},
		{"one for four", 1, 4, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := serve(t, tc.barrier)
			c, err := wsman.New(srv.URL+"/wsman", wsman.WithRand(zeroReader{}), wsman.WithMaxInFlight(tc.calls), wsman.WithMaxConnsPerHost(tc.bound))
			require.NoError(t, err)
			defer c.CloseIdleConnections()
			run(t, c, tc.calls)
			assert.Equal(t, tc.conns, conns.Load())
		})
	}
	t.Run("refused below one", func(t *testing.T) {
		for _, n := range []int{-1, 0} {
			_, err := wsman.New("http://127.0.0.1:16992/wsman", wsman.WithMaxConnsPerHost(n))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "WithMaxConnsPerHost")
		}
	})
}
