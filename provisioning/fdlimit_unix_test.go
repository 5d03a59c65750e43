//go:build unix

package provisioning_test

import (
	"fmt"
	"syscall"
)

// raiseFDLimit makes sure the soft RLIMIT_NOFILE is at least need, raising
// the hard limit too where the process may (root).
func raiseFDLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	want := lim
	want.Cur = need
	if want.Max < need {
		want.Max = need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE is %d (hard %d) and cannot be raised to %d: %w", lim.Cur, lim.Max, need, err)
	}
	return nil
}
