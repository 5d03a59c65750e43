//go:build unix

package simfleet

import (
	"syscall"
	"time"
)

// ProcessCPU returns the user + system CPU time of this process so far (zero
// where the platform cannot tell).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFDLimit lifts the soft file-descriptor limit to the hard one: every
// device holds three listening sockets.
func raiseFDLimit() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}
