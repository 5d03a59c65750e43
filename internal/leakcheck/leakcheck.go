// Package leakcheck finds goroutines and file descriptors that a test left
// behind. It takes a snapshot of the process (goroutines by ID, open file
// descriptors from /proc/self/fd) and later waits, up to a deadline, until
// everything created since the snapshot has gone; what remains is reported
// with its stack or its /proc link target.
//
// Typical use, first thing in a test (cleanups run last-in first-out, so the
// check runs after the test's own cleanups have closed servers and fleets):
//
//	func TestSomething(t *testing.T) {
//		leakcheck.Verify(t)
//		...
//	}
//
// It needs no dependency: goroutines are read from runtime.Stack, descriptors
// from /proc/self/fd (where /proc is missing, descriptors are not checked).
package leakcheck

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout is how long Check and Verify wait for goroutines to end and
// descriptors to close before reporting them.
const DefaultTimeout = 10 * time.Second

// ignoredFuncs mark goroutines the runtime starts once, on first use, and
// keeps for the life of the process (signal.Notify's loop).
var ignoredFuncs = [...]string{
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
}

// Options adjusts a check.
type Options struct {
	// Timeout bounds the wait for goroutines to end and descriptors to close.
	// Zero: DefaultTimeout.
	Timeout time.Duration
	// IgnoreFuncs are substrings of a goroutine's stack (function names) that
	// mark it as expected, e.g. a worker the test deliberately leaves running.
	IgnoreFuncs []string
	// SkipFDs turns the descriptor check off.
	SkipFDs bool
}

// Snapshot is the state of the process at one moment.
type Snapshot struct {
	goroutines map[uint64]bool
	fds        map[int]string // descriptor → link target; nil when /proc is unavailable
}

// Take returns a snapshot of the process's goroutines and file descriptors. It
// first opens and closes a loopback listener so that descriptors the runtime
// opens once (the network poller's epoll and event descriptors) are already in
// the snapshot.
func Take() Snapshot {
	warmNetpoll()
	s := Snapshot{goroutines: make(map[uint64]bool)}
	for _, g := range goroutines() {
		s.goroutines[g.id] = true
	}
	s.fds = openFDs()
	return s
}

func warmNetpoll() {
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
}

// Leak lists what remained after a check's deadline.
type Leak struct {
	Goroutines []string // stacks of goroutines started since the snapshot
	FDs        []string // "fd N → target" for descriptors opened since the snapshot
}

func (l *Leak) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "leakcheck: %d goroutine(s) and %d file descriptor(s) left behind", len(l.Goroutines), len(l.FDs))
	for _, fd := range l.FDs {
		b.WriteString("\n  ")
		b.WriteString(fd)
	}
	const maxStacks = 20
	for i, g := range l.Goroutines {
		if i == maxStacks {
			fmt.Fprintf(&b, "\n… and %d more goroutine(s)", len(l.Goroutines)-maxStacks)
			break
		}
		b.WriteString("\n\n")
		b.WriteString(g)
	}
	return b.String()
}

// Check waits until every goroutine started since s has ended and every
// descriptor opened since s is closed, or the timeout passes; it returns nil or
// a *Leak listing what remains. Descriptors count as leaked only when more are
// open than at the snapshot (a descriptor number may be reused for something
// else), and then the new ones are listed.
func (s Snapshot) Check(o Options) error {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		leak := s.leaks(o)
		if leak == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return leak
		}
		time.Sleep(delay)
		if delay < 100*time.Millisecond {
			delay *= 2
		}
		runtime.GC() // lets finalizers close descriptors nothing references any more
	}
}

func (s Snapshot) leaks(o Options) *Leak {
	var l Leak
	for _, g := range goroutines() {
		if s.goroutines[g.id] || g.ignored(o.IgnoreFuncs) {
			continue
		}
		l.Goroutines = append(l.Goroutines, g.stack)
	}
	if !o.SkipFDs && s.fds != nil {
		now := openFDs()
		if len(now) > len(s.fds) {
			var fds []int
			for fd, target := range now {
				if old, ok := s.fds[fd]; !ok || old != target {
					fds = append(fds, fd)
				}
			}
			sort.Ints(fds)
			for _, fd := range fds {
				l.FDs = append(l.FDs, fmt.Sprintf("fd %d → %s", fd, now[fd]))
			}
			if len(l.FDs) == 0 {
				l.FDs = append(l.FDs, fmt.Sprintf("%d descriptors open, %d at the snapshot", len(now), len(s.fds)))
			}
		}
	}
	if len(l.Goroutines) == 0 && len(l.FDs) == 0 {
		return nil
	}
	return &l
}

// Verify takes a snapshot now and, when the test ends (after the cleanups
// registered later have run), fails the test if goroutines or descriptors
// remain.
func Verify(t testing.TB, opts ...Options) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s := Take()
	t.Cleanup(func() {
		if err := s.Check(o); err != nil {
			t.Error(err)
		}
	})
}

// CountFDs returns the number of open file descriptors of the process, or -1
// when /proc/self/fd cannot be read. It lists the directory only (no link
// targets), so it is cheap enough to sample under load.
func CountFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1 // the directory's own descriptor
}

// openFDs returns the process's descriptors with their link targets, or nil
// when /proc/self/fd is unavailable. The descriptor of the directory being read
// is left out.
func openFDs() map[int]string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil
	}
	self := int(d.Fd())
	out := make(map[int]string, len(names))
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd == self {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			continue // closed while reading
		}
		out[fd] = target
	}
	return out
}

type goroutine struct {
	id    uint64
	stack string
}

func (g goroutine) ignored(extra []string) bool {
	for _, f := range ignoredFuncs {
		if strings.Contains(g.stack, f) {
			return true
		}
	}
	for _, f := range extra {
		if strings.Contains(g.stack, f) {
			return true
		}
	}
	return false
}

// goroutines returns every goroutine of the process except the caller's.
func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	self := currentID()
	var out []goroutine
	for _, block := range bytes.Split(buf, []byte("\n\n")) {
		g, ok := parseGoroutine(string(block))
		if !ok || g.id == self {
			continue
		}
		out = append(out, g)
	}
	return out
}

// parseGoroutine reads "goroutine 18 [chan receive]:\n…".
func parseGoroutine(block string) (goroutine, bool) {
	rest, ok := strings.CutPrefix(block, "goroutine ")
	if !ok {
		return goroutine{}, false
	}
	end := strings.IndexByte(rest, ' ')
	if end < 0 {
		return goroutine{}, false
	}
	id, err := strconv.ParseUint(rest[:end], 10, 64)
	if err != nil {
		return goroutine{}, false
	}
	return goroutine{id: id, stack: block}, true
}

func currentID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	g, _ := parseGoroutine(string(buf[:n]))
	return g.id
}
