//go:build !unix

package provisioning_test

import "time"

// processCPU is not available here: benchmarks report no CPU-time metric.
func processCPU() (time.Duration, bool) { return 0, false }
