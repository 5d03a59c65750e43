package wsman_test

// Hostile servers (issue 15): each test plays a server that tries to hold a
// call forever or to make the client hold unbounded memory, through the
// public API only.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A server that accepts the request and never answers. The context has no
// deadline; the client's call timeout ends the call, and frees the in-flight
// slot for the call queued behind it.
func TestHostileServerNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblocks the handlers

	const timeout = 200 * time.Millisecond
	c, err := wsman.New(srv.URL+"/wsman", wsman.WithCallTimeout(timeout)) // one call in flight (the default)
	require.NoError(t, err)
	start := time.Now()
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Get(context.Background(), gsURI, nil)
			done <- err
		}()
	}
	for range 2 {
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorIs(t, err, wsman.ErrResponseLost, "the request was sent; the answer never came")
		case <-time.After(10 * time.Second):
			t.Fatal("a call to a server that never answers is still blocked after 10 s")
		}
	}
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 2*timeout, "the second call waited for the slot, then had its own timeout")
	assert.Less(t, elapsed, 5*time.Second)
	assert.Equal(t, int32(2), arrived.Load(), "the slot was freed for the queued call")
	t.Logf("two calls to a silent server returned after %v (call timeout %v)", elapsed.Round(time.Millisecond), timeout)

	// A context with a longer deadline (a whole session's) does not let one
	// exchange hang: the call timeout still ends it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	start = time.Now()
	_, err = c.Get(ctx, gsURI, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "the call timeout bounds the call within a long deadline")
	// A shorter one ends it sooner: with a call timeout of an hour, only the
	// caller's deadline can end the call (measured against the clock, the
	// claim failed on a loaded machine).
	long, err := wsman.New(srv.URL+"/wsman", wsman.WithCallTimeout(time.Hour))
	require.NoError(t, err)
	t.Cleanup(long.CloseIdleConnections)
	ctx2, cancel2 := context.WithTimeout(context.Background(), timeout/4)
	defer cancel2()
	go func() {
		_, err := long.Get(ctx2, gsURI, nil)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's shorter deadline wins")
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's deadline did not end a call whose own timeout is an hour")
	}

	// Without WithCallTimeout a context with a deadline of its own is used as
	// it is (here longer than 200 ms, shorter than the 90 s default).
	plain, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	ctx3, cancel3 := context.WithTimeout(context.Background(), 3*timeout)
	defer cancel3()
	start = time.Now()
	_, err = plain.Get(ctx3, gsURI, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 3*timeout-10*time.Millisecond)

	assert.Equal(t, 90*time.Second, wsman.DefaultCallTimeout)
	_, err = wsman.New(srv.URL, wsman.WithCallTimeout(0))
	require.Error(t, err)
}

// enumServer is a hostile WS-Enumeration server: page(n) gives the items
// (XML of class elements in namespace h) and padding (XML inside the
// PullResponse, outside Items) of the n-th page and whether it is the last.
type enumServer struct {
	srv      *httptest.Server
	pulls    atomic.Int32
	releases atomic.Int32
}

const hostileNS = "http://example.com/hostile/Thing"

func newEnumServer(t *testing.T, page func(n int) (items, padding string, end bool)) *enumServer {
	es := &enumServer{}
	es.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := wsmantest.ReadRequest(r, 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="` + wsman.NSSOAP + `" xmlns:b="` + wsman.NSAddressing +
			`" xmlns:g="` + wsman.NSEnumeration + `" xmlns:h="` + hostileNS + `"><a:Header><b:Action>`)
		switch req.Action {
		case wsman.ActionEnumerate:
			b.WriteString(wsman.ActionEnumerateResponse + `</b:Action><b:RelatesTo>` + req.MessageID +
				`</b:RelatesTo></a:Header><a:Body><g:EnumerateResponse><g:EnumerationContext>ctx-1</g:EnumerationContext></g:EnumerateResponse></a:Body></a:Envelope>`)
		case wsman.ActionPull:
			n := int(es.pulls.Add(1))
			items, padding, end := page(n)
			b.Grow(len(items) + len(padding) + 1024)
			b.WriteString(wsman.ActionPullResponse + `</b:Action><b:RelatesTo>` + req.MessageID + `</b:RelatesTo></a:Header><a:Body><g:PullResponse>`)
			if !end {
				b.WriteString(`<g:EnumerationContext>ctx-1</g:EnumerationContext>`)
			}
			b.WriteString(`<g:Items>` + items + `</g:Items>` + padding)
			if end {
				b.WriteString(`<g:EndOfSequence/>`)
			}
			b.WriteString(`</g:PullResponse></a:Body></a:Envelope>`)
		case wsman.ActionRelease:
			es.releases.Add(1)
			b.WriteString(wsman.ActionReleaseResponse + `</b:Action><b:RelatesTo>` + req.MessageID + `</b:RelatesTo></a:Header><a:Body/></a:Envelope>`)
		default:
			http.Error(w, "unexpected "+req.Action, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(es.srv.Close)
	return es
}

func thing(n int, extra string) string {
	return `<h:Thing><h:InstanceID>` + strconv.Itoa(n) + `</h:InstanceID>` + extra + `</h:Thing>`
}

// peakHeap runs f and reports the highest live heap seen while it ran, above
// the heap before it (sampled every millisecond).
func peakHeap(f func()) uint64 {
	// HeapAlloc counts garbage not yet collected; a low GC target keeps it
	// close to the live heap, so a loaded machine (the collector falling
	// behind) does not read as a leak.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	p := max(peak.Load(), ms.HeapAlloc)
	if p < base {
		return 0
	}
	return p - base
}

const mib = 1 << 20

// An endless enumeration whose pages each carry one small item and 512 KiB of
// element padding (about 20 MiB of parsed tree per page: a client that kept
// the pages its items came in, as wsman did before, held 2.9 GiB after 100
// such pages of 768 KiB). Items are copied out of each page, so the pages are
// not kept; the pull bound ends it. (The server stops after 150 pages so that
// a client without these defences ends too.)
func TestHostileEndlessPaddedEnumeration(t *testing.T) {
	padding := `<h:Padding>` + strings.Repeat(`<p/>`, 128<<10) + `</h:Padding>`
	es := newEnumServer(t, func(n int) (string, string, bool) {
		return thing(n, ""), padding, n >= 150
	})
	c, err := wsman.New(es.srv.URL + "/wsman")
	require.NoError(t, err)
	var items []wsman.Item
	var enumErr error
	start := time.Now()
	peak := peakHeap(func() {
		items, enumErr = c.EnumerateAll(context.Background(), hostileNS)
	})
	require.ErrorIs(t, enumErr, wsman.ErrTooManyPulls)
	assert.Equal(t, int32(wsman.DefaultMaxPulls), es.pulls.Load(), "the default pull bound ends an endless enumeration")
	assert.Equal(t, int32(1), es.releases.Load(), "the context is released")
	require.Len(t, items, wsman.DefaultMaxPulls)
	id, _ := wsman.ChildText(items[0].Object, hostileNS, "InstanceID")
	assert.Equal(t, "1", id, "items stand alone, namespaces included")
	t.Logf("%d padded pages of %d KiB: peak live heap %.1f MiB in %v", es.pulls.Load(), len(padding)>>10, float64(peak)/mib, time.Since(start).Round(time.Millisecond))
	assert.Less(t, peak, uint64(96*mib), "the heap holds a page or two, never all of them")

	// What the items keep after the enumeration: their own bytes, not pages.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	kept := ms.HeapAlloc
	runtime.KeepAlive(items)
	items = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("the %d items kept %.1f KiB", wsman.DefaultMaxPulls, float64(int64(kept)-int64(ms.HeapAlloc))/1024)
	assert.Less(t, int64(kept)-int64(ms.HeapAlloc), int64(4*mib), "the items keep no page")
}

// Padding inside the items: text (counted by its bytes) or dense elements
// (counted by their nodes, which cost ~30 times their text in memory). The
// byte bound stops both after about 8 MiB of kept items; the item bound stops
// pages of many tiny items.
func TestHostileEnumerationBounds(t *testing.T) {
	text := `<h:Blob>` + strings.Repeat("A", 128<<10) + `</h:Blob>`
	dense := `<h:Blob>` + strings.Repeat("<p/>", 16<<10) + `</h:Blob>`
	tiny := func(n int) string {
		var b strings.Builder
		for i := range 999 {
			b.WriteString(thing(n*1000+i, ""))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name  string
		page  func(n int) (string, string, bool)
		is    error
		limit uint64
	}{
		{"text-padded items", func(n int) (string, string, bool) { return thing(n, text) + thing(-n, text), "", n >= 500 }, wsman.ErrEnumerationTooLarge, 64 * mib},
		{"element-padded items", func(n int) (string, string, bool) { return thing(n, dense), "", n >= 500 }, wsman.ErrEnumerationTooLarge, 64 * mib},
		{"many tiny items", func(n int) (string, string, bool) { return tiny(n), "", n >= 90 }, wsman.ErrEnumerationTooLarge, 64 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newEnumServer(t, tc.page)
			c, err := wsman.New(es.srv.URL + "/wsman")
			require.NoError(t, err)
			var items []wsman.Item
			var enumErr error
			peak := peakHeap(func() {
				items, enumErr = c.EnumerateAll(context.Background(), hostileNS)
			})
			require.ErrorIs(t, enumErr, tc.is)
			assert.Equal(t, int32(1), es.releases.Load())
			t.Logf("%s: stopped after %d pulls and %d items (%v); peak live heap %.1f MiB", tc.name, es.pulls.Load(), len(items), enumErr, float64(peak)/mib)
			assert.Less(t, peak, tc.limit)
			assert.LessOrEqual(t, len(items), wsman.DefaultMaxEnumerationItems)
		})
	}

	// The bounds are per call.
	es := newEnumServer(t, func(n int) (string, string, bool) { return thing(n, ""), "", n >= 20 })
	c, err := wsman.New(es.srv.URL + "/wsman")
	require.NoError(t, err)
	items, err := c.EnumerateAll(context.Background(), hostileNS, wsman.MaxEnumerationItems(5))
	require.ErrorIs(t, err, wsman.ErrEnumerationTooLarge)
	assert.Len(t, items, 5)
	items, err = c.EnumerateAll(context.Background(), hostileNS, wsman.MaxEnumerationBytes(1))
	require.ErrorIs(t, err, wsman.ErrEnumerationTooLarge)
	assert.Empty(t, items)
	items, err = c.EnumerateAll(context.Background(), hostileNS, wsman.MaxPulls(3))
	require.ErrorIs(t, err, wsman.ErrTooManyPulls)
	assert.Len(t, items, 3)
	assert.True(t, errors.Is(fmt.Errorf("x: %w", wsman.ErrEnumerationTooLarge), wsman.ErrEnumerationTooLarge))
}
