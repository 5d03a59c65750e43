//go:build !unix

package provisioning_test

// raiseFDLimit does nothing where there is no RLIMIT_NOFILE (Windows): the
// load test's connection count is what the platform allows.
func raiseFDLimit(need uint64) error { return nil }
