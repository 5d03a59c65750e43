package main

import (
	"os"
	"testing"

	"github.com/amtkit/amtkit/internal/testenv"
)

// TestMain lets a test run the command itself (testenv.RunMain).
func TestMain(m *testing.M) {
	testenv.MainIfAsked(main)
	os.Exit(m.Run())
}

// "hello-listener 0.0.0.0:16995" (the -addr forgotten) listened on the default address instead.
// Arguments that are not flags are refused with exit status 2.
func TestStrayArgumentsRefused(t *testing.T) {
	testenv.StrayArgumentsRefused(t, []string{"-demo", "-addr", "127.0.0.1:0", "x"})
}
