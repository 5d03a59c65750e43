//go:build !unix

package simfleet

import "time"

// ProcessCPU returns zero: the platform's process CPU time is not read here.
func ProcessCPU() time.Duration { return 0 }

func raiseFDLimit() {}
