package leakcheck_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtkit/amtkit/internal/leakcheck"
)

func parkedUntil(stop <-chan struct{}) {
	<-stop
}

func TestCheckFindsGoroutine(t *testing.T) {
	s := leakcheck.Take()
	stop := make(chan struct{})
	go parkedUntil(stop)

	err := s.Check(leakcheck.Options{Timeout: 50 * time.Millisecond, SkipFDs: true})
	var leak *leakcheck.Leak
	require.True(t, errors.As(err, &leak), "a parked goroutine must be reported, got %v", err)
	require.Len(t, leak.Goroutines, 1)
	assert.Contains(t, leak.Goroutines[0], "leakcheck_test.parkedUntil")
	assert.Contains(t, err.Error(), "1 goroutine(s)")

	// Ignored by name.
	assert.NoError(t, s.Check(leakcheck.Options{Timeout: 50 * time.Millisecond, SkipFDs: true, IgnoreFuncs: []string{"leakcheck_test.parkedUntil"}}))

	// Gone within the timeout: no leak.
	time.AfterFunc(20*time.Millisecond, func() { close(stop) })
	assert.NoError(t, s.Check(leakcheck.Options{Timeout: 5 * time.Second, SkipFDs: true}))
}

func TestCheckFindsDescriptors(t *testing.T) {
	if leakcheck.CountFDs() < 0 {
		t.Skip("no /proc/self/fd on this system")
	}
	s := leakcheck.Take()
	before := leakcheck.CountFDs()
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.Equal(t, before+2, leakcheck.CountFDs())

	err = s.Check(leakcheck.Options{Timeout: 50 * time.Millisecond})
	var leak *leakcheck.Leak
	require.True(t, errors.As(err, &leak), "open descriptors must be reported, got %v", err)
	require.Len(t, leak.FDs, 2, "%v", leak.FDs)
	joined := strings.Join(leak.FDs, "\n")
	assert.Contains(t, joined, "→ /dev/null")
	assert.Contains(t, joined, "→ socket:[")
	assert.Empty(t, leak.Goroutines)

	require.NoError(t, f.Close())
	require.NoError(t, ln.Close())
	assert.NoError(t, s.Check(leakcheck.Options{Timeout: time.Second}))
	assert.Equal(t, before, leakcheck.CountFDs())
}

func TestVerifyPassesCleanTest(t *testing.T) {
	leakcheck.Verify(t, leakcheck.Options{Timeout: time.Second})
	done := make(chan struct{})
	go func() { defer close(done) }()
	<-done
	c1, c2 := net.Pipe()
	c1.Close()
	c2.Close()
}

// recorder is a testing.TB that keeps cleanups and errors for inspection.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Error(args ...any) {
	r.errs = append(r.errs, fmt.Sprint(args...))
}

func TestVerifyFailsLeakyTest(t *testing.T) {
	r := &recorder{TB: t}
	leakcheck.Verify(r, leakcheck.Options{Timeout: 50 * time.Millisecond, SkipFDs: true})
	stop := make(chan struct{})
	defer close(stop)
	go parkedUntil(stop)
	require.Len(t, r.cleanups, 1)
	r.cleanups[0]()
	assert.Len(t, r.errs, 1, "Verify must report the parked goroutine")
}
