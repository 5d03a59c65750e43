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

// "setupbin -create psk -n 20 setup.bin" (the -o forgotten) wrote nothing and exited 0.
// Arguments that are not flags are refused with exit status 2.
func TestStrayArgumentsRefused(t *testing.T) {
	testenv.StrayArgumentsRefused(t, []string{"setup.bin"}, []string{"-create", "psk", "-n", "1", "setup.bin"})
}
